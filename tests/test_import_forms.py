"""Drugs, dates and limits as plans write them (tests/cases/import_forms.yaml): each form read to
what a careful reader takes from it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from priorauth.cli import app
from priorauth.importer import import_document, import_text
from priorauth.importer.dates import effective_date, parse_date
from priorauth.importer.document import Line
from priorauth.importer.drugs import chosen_drug
from priorauth.importer.limits import dose_cap, parse_quantity_lines, phase_durations, quantity
from priorauth.importer.report import render_markdown
from priorauth.policy.load import load_policy
from priorauth.policy.tables import load_knowledge

CASES: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parent / "cases" / "import_forms.yaml").read_text(encoding="utf-8")
)
KB = load_knowledge()


def _lines(texts: list[str]) -> list[Line]:
    return [Line(t, 1, i + 1) for i, t in enumerate(texts)]


@pytest.mark.parametrize("case", CASES["drugs"], ids=lambda c: c["lines"][0][:40])
def test_a_drug_is_read_as_the_plan_writes_it(case: dict[str, Any]) -> None:
    first, _ = chosen_drug(_lines(case["lines"]), KB)
    assert first is not None
    assert [first.brand, first.generic] == case["read"]


@pytest.mark.parametrize("case", CASES["classes"], ids=lambda c: c["lines"][0])
def test_a_class_document_names_every_drug_and_imports_one(case: dict[str, Any]) -> None:
    first, every = chosen_drug(_lines(case["lines"]), KB)
    assert first is not None and first.brand == case["imported"]
    assert [n.brand for n in every] == case["named"]


@pytest.mark.parametrize(("text", "day"), CASES["dates"], ids=lambda x: str(x))
def test_every_common_date_form_is_read(text: str, day: dt.date) -> None:
    assert parse_date(text) == day


@pytest.mark.parametrize(("lines", "day"), CASES["effective"], ids=lambda x: str(x)[:50])
def test_the_effective_date_and_never_a_review_or_revision_date(
    lines: list[str], day: dt.date | None
) -> None:
    assert effective_date(lines)[0] == day


@pytest.mark.parametrize(("text", "months"), CASES["durations"], ids=lambda x: str(x)[:50])
def test_durations_are_read_per_phase(text: str, months: dict[str, int]) -> None:
    assert phase_durations(text) == months


@pytest.mark.parametrize(("text", "want"), CASES["quantities"], ids=lambda x: str(x))
def test_a_quantity_in_any_dispensing_unit_is_a_limit(text: str, want: list[Any]) -> None:
    q = quantity(text)
    assert q is not None
    assert [q["amount"], q["unit"], q["per_days"]] == want


@pytest.mark.parametrize("case", CASES["tables"], ids=lambda c: c["lines"][1][:30])
def test_a_quantity_table_is_read_per_strength(case: dict[str, Any]) -> None:
    single, rows, unread = parse_quantity_lines(_lines(case["lines"]), "tablets")
    assert unread == [] and single is None
    got = [[r["strength_mg"], r["amount"], r["unit"], r["per_days"]] for r in rows]
    assert got == case["rows"]


@pytest.mark.parametrize(("text", "want"), CASES["caps"], ids=lambda x: str(x)[:40])
def test_a_dose_cap_becomes_a_limit(text: str, want: list[Any] | None) -> None:
    cap = dose_cap(text)
    if want is None:
        assert cap is None
        return
    assert cap is not None
    assert cap["amount"] == pytest.approx(want[0])
    assert [cap["unit"], cap["per_days"]] == want[1:]


# --- whole documents ----------------------------------------------------------------------

UNDATED = """Examplib (adagrasib) - Prior Authorization Guideline

Criteria
Prior Authorization (Initial Authorization)
Length of Approval: 6 Month(s)
1. Diagnosis of non-small cell lung cancer (NSCLC)

Prior Authorization (Reauthorization)
Length of Approval: 12 Month(s)
1. Patient does not show evidence of progressive disease while on therapy
"""


NOT_STATED = "effective date: not stated in the document; set it with --effective-date"
REFUSED = "effective_date: not stated in the document; set it with --effective-date or in the file"


def _flat(text: str) -> str:
    return " ".join(text.split())  # the terminal wraps long lines


def test_a_missing_date_is_the_first_warning_and_a_missing_number_is_derived() -> None:
    r = import_text(UNDATED, "undated.txt")
    assert r.warnings[0] == NOT_STATED
    assert r.effective_date is None
    assert render_markdown(r).split("\n- ")[1] == f"WARNING: {NOT_STATED}"
    assert "Effective not stated" in render_markdown(r)
    assert r.policy.number == "examplib"
    assert any("no policy number in the document" in w for w in r.warnings)


def test_an_undated_import_writes_no_date_and_its_file_does_not_load(tmp_path: Path) -> None:
    doc = tmp_path / "undated.txt"
    doc.write_text(UNDATED, encoding="utf-8")
    out, report = tmp_path / "p.yaml", tmp_path / "r.md"
    res = CliRunner().invoke(
        app, ["policy", "import", str(doc), "-o", str(out), "--report", str(report)]
    )
    assert res.exit_code == 0, res.output
    assert _flat(res.output).startswith(f"- WARNING: {NOT_STATED}")
    text = out.read_text()
    assert "\neffective_date: null\n" in text
    assert dt.date.today().isoformat() not in text  # never the import day
    assert "1900" not in text  # nor the placeholder the policy carries in memory
    findings = [line for line in report.read_text().splitlines() if line.startswith("- ")]
    assert findings[0] == f"- WARNING: {NOT_STATED}"
    # Every reader of policy files refuses it with one line naming the file and the field.
    request = Path(__file__).parents[1] / "examples" / "nsclc-initial-approve.json"
    for args in (["policy", "lint", str(out)], ["evaluate", "--policy", str(out), str(request)]):
        refused = CliRunner().invoke(app, args)
        assert refused.exit_code == 2
        assert _flat(refused.output) == f"error: {out}: {REFUSED}"
    # To stdout, the file itself says so first.
    res = CliRunner().invoke(app, ["policy", "import", str(doc)])
    assert res.stdout.splitlines()[0] == f"# {NOT_STATED}"


def test_a_date_set_in_the_file_of_an_undated_import_loads(tmp_path: Path) -> None:
    doc = tmp_path / "undated.txt"
    doc.write_text(UNDATED, encoding="utf-8")
    out = tmp_path / "p.yaml"
    assert CliRunner().invoke(app, ["policy", "import", str(doc), "-o", str(out)]).exit_code == 0
    out.write_text(out.read_text().replace("effective_date: null", "effective_date: 2026-11-01"))
    p = load_policy(out)
    # The original and last review dates the document does not state either follow it.
    assert (p.effective_date, p.original_policy_date, p.last_review_date) == (
        dt.date(2026, 11, 1),
        dt.date(2026, 11, 1),
        dt.date(2026, 11, 1),
    )


def test_effective_date_on_import_sets_it(tmp_path: Path) -> None:
    doc = tmp_path / "undated.txt"
    doc.write_text(UNDATED, encoding="utf-8")
    r = import_document(doc, effective_date=dt.date(2026, 4, 1))
    assert r.policy.effective_date == r.effective_date == dt.date(2026, 4, 1)
    assert not any(w.startswith("effective date") for w in r.warnings)
    assert "WARNING" not in render_markdown(r)
    out = tmp_path / "p.yaml"
    res = CliRunner().invoke(
        app, ["policy", "import", str(doc), "-o", str(out), "--effective-date", "2026-04-01"]
    )
    assert res.exit_code == 0, res.output
    assert "effective_date: '2026-04-01'" in out.read_text()
    assert load_policy(out).effective_date == dt.date(2026, 4, 1)
    assert CliRunner().invoke(app, ["policy", "lint", str(out)]).exit_code == 0
    bad = CliRunner().invoke(app, ["policy", "import", str(doc), "--effective-date", "04/01/2026"])
    assert bad.exit_code == 2
    assert "--effective-date: '04/01/2026' is not a date (YYYY-MM-DD)" in bad.output


def test_a_date_as_plans_write_it_is_the_policys_effective_date() -> None:
    r = import_text(UNDATED.replace("\n\n", "\nEffective Date: 10.01.26\n\n", 1), "dated.txt")
    assert r.policy.effective_date == r.effective_date == dt.date(2026, 10, 1)
    assert not any(w.startswith("effective date") for w in r.warnings)


def test_an_fep_document_without_a_date_imports_with_the_warning_first() -> None:
    text = (Path(__file__).parent / "corpus" / "fep-piqray.txt").read_text(encoding="utf-8")
    text = text.replace("Effective Date: June 1, 2026", "").replace(
        " and is effective on June 1, 2026", ""
    )
    r = import_text(text, "fep-undated.txt")
    assert r.warnings[0] == NOT_STATED
    assert "\neffective_date: null\n" in r.policy_yaml()


CLASS_PAGE = """GLP-1 receptor agonists
Preferred
Byetta
Nonpreferred
Ozempic
Trulicity
Approval criteria for nonpreferred drugs
Prior Authorization (Initial Authorization)
Length of Approval: 12 Month(s)
1. Patient must have a diagnosis of type 2 diabetes mellitus
"""


def test_a_class_document_imports_the_first_drug_and_names_the_others() -> None:
    r = import_text(CLASS_PAGE, "class.txt")
    assert r.policy.drug.brand == "Byetta"
    said = next(w for w in r.warnings if w.startswith("a document for several drugs"))
    for name in ("Byetta", "Ozempic", "Trulicity"):
        assert name in said


DURATIONS = """Examplib (adagrasib) - Prior Authorization Guideline
Effective Date: 01/01/2026

Criteria
Prior Authorization (Initial Authorization)
1. Diagnosis of non-small cell lung cancer (NSCLC)

Prior Authorization (Reauthorization)
1. Patient does not show evidence of progressive disease while on therapy

Approval duration
Initial: 6 months; Continuation: 12 months
"""


def test_renewal_duration_is_not_taken_from_the_initial_one() -> None:
    r = import_text(DURATIONS, "durations.txt")
    assert r.policy.limits.initial.duration.months == 6
    assert r.policy.limits.renewal.duration.months == 12


def test_effective_date_on_import_keeps_what_the_import_found(tmp_path: Path) -> None:
    doc = tmp_path / "unread.txt"
    doc.write_text(
        "Otezla (apremilast) Prior Authorization Criteria\n\nInitial Authorization\n"
        "Note: the criteria are kept by the plan's clinical team.\n"
        "Approval duration: 12 months\n",
        encoding="utf-8",
    )
    r = import_document(doc, effective_date=dt.date(2026, 5, 1))
    assert r.unread and "initial criteria" in r.sections
    # A date given on import does not let a criteria section that was not read through.
    res = CliRunner().invoke(app, ["policy", "import", str(doc), "--effective-date", "2026-05-01"])
    assert res.exit_code == 2
    assert "--allow-unread imports it anyway" in _flat(res.output)
