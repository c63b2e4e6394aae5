"""`make import-measure-real`: one row per document of a folder, with the drug and the date read
checked against a reader's own reading, and on-label requests that the import denied named.

The folder `tests/real_measure/` holds documents of our own words (the real plans' documents
the measure is for are not ours to commit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from priorauth.importer.measure_real import main, measure

FOLDER = Path(__file__).parent / "real_measure"


@pytest.fixture(scope="module")
def rows():
    return {r.name: r for r in measure(FOLDER)}


def test_every_document_gets_a_row_and_a_page_without_criteria_says_why(rows):
    assert sorted(rows) == ["01-krazati.txt", "02-tabrecta.txt", "03-newsletter.txt"]
    refused = rows["03-newsletter.txt"]
    assert not refused.imported
    assert refused.status.startswith("refused:") and "not a drug policy" in refused.status


def test_a_row_shows_the_drug_the_date_and_the_counts_read(rows):
    r = rows["01-krazati.txt"]
    assert r.imported
    assert r.drug == "Krazati (adagrasib)"
    assert r.effective == "2026-07-01"
    assert (r.criteria, r.typed, r.unplaced) == (4, 4, 0)
    assert r.sections == "initial+renewal"
    assert r.checks == {"drug": True, "date": True, "number": True, "durations": True}


def test_a_reading_that_differs_from_the_import_is_named(rows):
    r = rows["02-tabrecta.txt"]
    assert r.checks["date"] is False
    assert "effective date read 2026-03-01, expected 2026-01-01" in r.misreads
    # No number in the document: the import warns, as the reading expects.
    assert r.checks["number"] is True


def test_a_denied_request_is_named_and_fails_the_run(rows, capsys):
    r = rows["01-krazati.txt"]
    assert r.requests == 2
    assert len(r.denied) == 1 and r.denied[0].startswith("melanoma: denied (investigational)")
    assert main([str(FOLDER)]) == 1
    out = capsys.readouterr().out
    assert "| 01-krazati.txt | imported | initial+renewal | 4 | 4 | 0 | 0 |" in out
    assert "documents 3, imported 2" in out
    assert "on-label requests denied 1/2" in out


def test_a_folder_that_is_not_one_is_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.strip().endswith("nowhere: not a folder")
    assert main([str(tmp_path)]) == 2
    assert "no documents" in capsys.readouterr().err
