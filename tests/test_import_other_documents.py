"""A document written for the tests in the published format, with what the shared ones lack:
ages inside each indication, a gene-level biomarker ("ALK-positive"), renewal requirements
"Same as above", renewal limits that differ, an attestation naming a topic beside liver tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from priorauth import Engine
from priorauth.importer import import_document
from priorauth.importer.review import lint

DOC = Path(__file__).parent / "documents" / "5.99.201-alecensa.md"


@pytest.fixture(scope="module")
def result() -> Any:
    return import_document(DOC)


def test_imports_with_nothing_unplaced(result: Any) -> None:
    assert result.unplaced == []
    assert [f for f in lint(result.policy) if f.level == "error"] == []


def test_ages_inside_each_indication_are_typed(result: Any) -> None:
    ages = [c for c in result.criteria if c.condition_type == "age"]
    assert [c.id for c in ages if c.id.startswith("initial.")] == [
        "initial.nsclc.age",
        "initial.adjuvant_treatment_following_tumor.age",
    ]


def test_gene_level_biomarker_and_adjuvant_setting_are_typed(result: Any) -> None:
    kinds = {c.text: c.condition_type for c in result.criteria if c.id.startswith("initial.")}
    assert kinds["ALK-positive as detected by an FDA-approved test"] == "biomarker"
    assert kinds["Tumor is ALK-positive as detected by an FDA-approved test"] == "biomarker"
    assert kinds["Adjuvant treatment following tumor resection"] == "setting"
    assert kinds["Tumors 4 cm or greater or node positive"] == "question"


def test_attestation_key_names_every_topic(result: Any) -> None:
    keys = {c.id for c in result.criteria if c.condition_type == "attestation"}
    assert "initial.liver_function_and_creatine_phosphokinase_monitoring" in keys


def test_renewal_same_as_above_and_its_own_limits(result: Any) -> None:
    p = result.policy
    initial_texts = [n.text for n in p.requirements.initial.walk()]
    renewal_texts = [n.text for n in p.requirements.renewal.walk()]
    assert renewal_texts[1:] == initial_texts[1:]
    assert (p.limits.initial.duration.months, p.limits.renewal.duration.months) == (12, 6)
    q = p.limits.initial.quantity
    assert q is not None and (q.amount, q.unit, q.per_days) == (240, "capsules", 30)


def _request(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "kind": "initial",
        "date_of_service": "2026-10-05",
        "member": {"id": "A-1", "birth_date": "1970-01-01"},
        "medication": {"name": "Alecensa", "strength_mg": 150, "quantity": 240, "days_supply": 30},
        "diagnoses": [{"code": "C34.90", "histology": "adenocarcinoma", "extent": "metastatic"}],
        "biomarkers": [{"gene": "ALK", "result": "positive", "fda_approved": True}],
        "prior_therapies": [],
        "concurrent_therapies": [],
        "attestations": {
            "liver_function_monitoring": True,
            "creatine_phosphokinase_monitoring": True,
        },
    }
    request.update(changes)
    return request


@pytest.mark.parametrize(
    ("changes", "decision", "basis"),
    [
        ({}, "approved", None),
        ({"member": {"id": "A-1", "birth_date": "2010-01-01"}}, "denied", "criteria_not_met"),
        ({"biomarkers": [{"gene": "ALK", "result": "negative"}]}, "denied", "criteria_not_met"),
        ({"diagnoses": [{"code": "C43.9", "extent": "metastatic"}]}, "denied", "investigational"),
        ({"attestations": {"liver_function_monitoring": True}}, "pended", None),
    ],
)
def test_requests_decided_against_the_imported_file(
    result: Any, changes: dict[str, Any], decision: str, basis: str | None
) -> None:
    det = Engine(policies=[result.policy]).evaluate(_request(**changes))
    assert (det.decision, det.denial_basis) == (decision, basis)


PLAIN = Path(__file__).parent / "documents" / "5.99.301-tukysa.txt"


def test_plain_text_without_markup_imports() -> None:
    """Headings, bullets and page headers as a PDF's text gives them: no Markdown at all."""
    r = import_document(PLAIN)
    p = r.policy
    assert r.unplaced == []
    assert (p.number, p.title, p.drug.generic) == ("5.99.301", "Tukysa", "tucatinib")
    assert [n.text for n in p.requirements.initial.walk() if n.indication] == [
        "Locally advanced or metastatic breast cancer",
        "Metastatic colorectal cancer (mCRC)",
    ]
    typed = {c.text: c.condition_type for c in r.criteria}
    assert typed["HER2-positive"] == "biomarker"
    assert typed["Used in combination with trastuzumab and capecitabine"] == "concurrent_therapy"
    assert p.pre_pa_allowance == "Quantity 120 tablets per 30 days"
    q = p.limits.initial.quantity
    assert q is not None and (q.amount, q.unit, q.per_days) == (4, "tablets", 1)
    assert (p.limits.initial.duration.months, p.limits.renewal.duration.months) == (6, 12)
    assert p.limits.renewal.quantity == q
    assert [h.date for h in p.history] == ["2020-05", "2023-01"]
