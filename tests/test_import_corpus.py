"""The importer on documents of our own in every layout FORMATS.md describes (and the FEP one,
and PDF text flattened to one paragraph), written from FDA labels for these tests: each
``tests/corpus/NAME.yaml`` says, as read by hand, what every criterion is, the limits, and how
requests must be decided against the imported policy. The held-out set
(``tests/corpus/held_out``) was written after the readers and is held to the same rules.

A criterion typed to a wrong meaning fails the test; a criterion left as a question where the
expectation says it could be typed only lowers the typed share (``make import-measure``).
"""

from __future__ import annotations

import copy
import functools
import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from priorauth import Engine
from priorauth.importer import import_document, import_text
from priorauth.importer.measure import area_table, documents, score, table

CORPUS = Path(__file__).parent / "corpus"
# areas/: therapeutic areas other than oncology (weight, asthma, migraine, lipids, hormones...)
SETS = [CORPUS, CORPUS / "held_out", CORPUS / "areas", CORPUS / "held_out" / "areas"]
DOCS = [(d, e) for folder in SETS for d, e in documents(folder)]
IDS = [str(d.relative_to(CORPUS).with_suffix("")) for d, _ in DOCS]


@functools.cache
def _exp(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@functools.cache
def _imported(doc: Path) -> Any:
    return import_document(doc, plan=_exp(doc.with_suffix(".yaml")).get("plan"))


@pytest.mark.parametrize(("doc", "exp_path"), DOCS, ids=IDS)
def test_imports_with_no_criterion_typed_wrong(doc: Path, exp_path: Path) -> None:
    exp = _exp(exp_path)
    r = _imported(doc)
    s = score(doc, exp, r)
    assert s.wrong == [], "\n".join(s.wrong)
    assert s.missing == [], f"expected criteria the import did not produce: {s.missing}"
    assert [(u.line, u.text) for u in r.unplaced] == [tuple(u) for u in exp.get("unplaced", [])], (
        "unplaced lines"
    )
    p = r.policy
    assert (p.drug.brand, p.drug.generic) == (exp["drug"]["brand"], exp["drug"]["generic"])
    assert p.plan == exp.get("plan")


@pytest.mark.parametrize(("doc", "exp_path"), DOCS, ids=IDS)
def test_limits(doc: Path, exp_path: Path) -> None:
    lim = _exp(exp_path).get("limits", {})
    p = _imported(doc).policy
    if "initial_months" in lim:
        assert p.limits.initial.duration.months == lim["initial_months"]
    if "renewal_months" in lim:
        assert p.limits.renewal.duration.months == lim["renewal_months"]
    if "by_strength" in lim:
        got = {q.strength_mg: q.amount for q in p.limits.initial.quantity_by_strength}
        assert got == {float(k): float(v) for k, v in lim["by_strength"].items()}
    if "quantity_mg_per_day" in lim:
        q = p.limits.initial.quantity
        assert (
            q is not None and q.unit == "mg" and q.amount / q.per_days == lim["quantity_mg_per_day"]
        )


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    out.update(copy.deepcopy(patch))
    return out


CASES = [
    (doc, exp_path, i)
    for doc, exp_path in DOCS
    for i, _ in enumerate(_exp(exp_path).get("requests", {}).get("cases", []))
]


@pytest.mark.parametrize(
    ("doc", "exp_path", "i"),
    CASES,
    ids=[
        f"{d.stem}-{_exp(e)['requests']['cases'][i]['name'].replace(' ', '_')}" for d, e, i in CASES
    ],
)
def test_requests_decided_against_the_imported_policy(doc: Path, exp_path: Path, i: int) -> None:
    exp = _exp(exp_path)
    req = exp["requests"]
    case = req["cases"][i]
    body = _merge(req["base"], case["patch"])
    if exp.get("plan"):
        body.setdefault("plan", exp["plan"])  # the member's plan, whose policy this is
    det = Engine(policies=[_imported(doc).policy]).evaluate(body)
    assert det.policy.plan == exp.get("plan", "fep")
    # the explanation too: reasons, questions and the trace of every criterion type
    assert det.reasons and det.trace is not None
    assert all(q.text for q in det.missing)
    got = (det.decision, det.denial_basis)
    assert got == (case["decision"], case.get("basis")), (
        case["name"],
        [(r.id, r.status) for r in det.reasons],
        [q.id for q in det.missing],
    )
    if "asks" in case:  # a pend names what it needs ("Give the BMI and the date ...")
        asked = [q.text for q in det.missing]
        assert any(case["asks"].lower() in q.lower() for q in asked), asked


def _pdf(text: str) -> bytes:
    """The document as a PDF, one text line per line (what a plan's PDF gives pypdf)."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=letter)
    width, height = letter
    y = height - 54
    for raw in text.splitlines():
        # wrap long lines at the page width, as a PDF does
        words, line = raw.replace("\t", "    ").split(" "), ""
        pieces = []
        for w in words:
            trial = f"{line} {w}" if line else w
            if stringWidth(trial, "Helvetica", 9) > width - 100 and line:
                pieces.append(line)
                line = w
            else:
                line = trial
        pieces.append(line)
        for piece in pieces:
            if y < 54:
                c.showPage()
                y = height - 54
            c.setFont("Helvetica", 9)
            c.drawString(50, y, piece.replace("\u2022", "-").replace("\u25aa", "-"))
            y -= 12
    c.save()
    return buf.getvalue()


PDF_DOCS = [(d, e) for d, e in DOCS if d.suffix != ".pdf"]


@pytest.mark.parametrize(("doc", "exp_path"), PDF_DOCS, ids=[d.stem for d, _ in PDF_DOCS])
def test_a_real_pdf_of_the_document_reads_the_same(
    doc: Path, exp_path: Path, tmp_path: Path
) -> None:
    exp = _exp(exp_path)
    pdf = tmp_path / f"{doc.stem}.pdf"
    pdf.write_bytes(_pdf(doc.read_text(encoding="utf-8")))
    r = import_document(pdf, plan=exp.get("plan"))
    s = score(pdf, exp, r)
    assert s.wrong == [], "\n".join(s.wrong)
    text_typed = sorted(
        (c.condition_type, " ".join(c.text.split())) for c in _imported(doc).criteria
    )
    pdf_typed = sorted((c.condition_type, " ".join(c.text.split())) for c in r.criteria)
    assert pdf_typed == text_typed


def test_an_unrecognised_layout_still_imports_and_reports_its_lines() -> None:
    text = (
        "Zelboraf (vemurafenib) coverage\n"
        "Effective Date: March 1, 2026\n"
        "Member eligibility is reviewed by the pharmacy team.\n"
        "Approval requires BRAF V600E testing and a melanoma diagnosis.\n"
    )
    r = import_text(text, "unknown.txt")
    assert [u.line for u in r.unplaced] == [3, 4]  # the drug and the date were read
    assert r.policy.drug.generic == "vemurafenib"
    (leaf,) = [n for n in r.policy.requirements.initial.walk() if n.condition is not None]
    assert leaf.condition.type == "question"
    det = Engine(policies=[r.policy]).evaluate(
        {
            "kind": "initial",
            "date_of_service": "2026-04-01",
            "member": {"id": "X", "birth_date": "1970-01-01"},
            "medication": {
                "name": "Zelboraf",
                "strength_mg": 240,
                "quantity": 240,
                "days_supply": 30,
            },
        }
    )
    assert det.decision == "pended"


def test_measure_prints_every_layout_with_nothing_typed_wrong() -> None:
    scores = [score(d, _exp(e), _imported(d)) for d, e in DOCS if d.parent == CORPUS]
    out = table(scores)
    layouts = {s.layout for s in scores}
    assert len(layouts) >= 7, layouts
    assert len(scores) >= 24
    assert out.splitlines()[-1].endswith("| 0 |"), out


def test_measure_splits_oncology_from_the_other_areas() -> None:
    scores = [score(d, _exp(e), _imported(d)) for d, e in DOCS]
    rows = {r.split(" | ")[0].strip("| "): r for r in area_table(scores).splitlines()}
    assert {"oncology", "non-oncology", "migraine", "weight management", "all"} <= set(rows)
    non_onc = [s for s in scores if s.area != "oncology"]
    assert len({s.area for s in non_onc}) >= 6
    assert rows["non-oncology"].split(" | ")[1] == str(len(non_onc))
