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


def test_the_typed_share_is_given_for_oncology_and_the_other_areas(tmp_path, capsys):
    for name in ("01-krazati.txt", "01-krazati.requests.yaml", "02-tabrecta.txt"):
        (tmp_path / name).write_text((FOLDER / name).read_text(encoding="utf-8"))
    (tmp_path / "MANIFEST.tsv").write_text(
        "file\tpublisher\tarea\n01-krazati.txt\tExample\toncology\n02-tabrecta.txt\tExample\tlipids\n"
    )
    by_name = {r.name: r for r in measure(tmp_path)}
    assert by_name["02-tabrecta.txt"].area == "lipids"
    main([str(tmp_path)])
    krazati, tabrecta = by_name["01-krazati.txt"], by_name["02-tabrecta.txt"]
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("typed share"))
    assert f"oncology {krazati.typed} of {krazati.criteria}" in line
    assert f"non-oncology {tabrecta.typed} of {tabrecta.criteria}" in line


def test_without_a_manifest_no_share_per_area_is_printed(capsys):
    main([str(FOLDER)])
    assert "typed share:" not in capsys.readouterr().out
