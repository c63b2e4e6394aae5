"""The knowledge tables against the whole ICD-10-CM code set, and the new tables' contents."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
import yaml

from priorauth.policy.tables import DIAGNOSIS_FILES, is_icd10cm_code, load_knowledge

KNOWLEDGE = resources.files("priorauth.policy") / "knowledge"

KB = load_knowledge()


def test_every_code_the_tables_name_is_an_icd10cm_code() -> None:
    """Each code or range end a table names (a range such as C00-C76 also spans numbers that
    are no category, which no diagnosis can carry)."""
    named: set[str] = set(KB.families) | set(KB.extent_codes)
    for name in DIAGNOSIS_FILES:
        data = yaml.safe_load((KNOWLEDGE / name).read_text(encoding="utf-8"))
        for d in data["diseases"].values():
            for spec in d["families"]:
                named.update(spec.split("-"))
    bad = sorted(c for c in named if not is_icd10cm_code(c))
    assert bad == []


def test_descriptions_come_from_the_code_set() -> None:
    assert (
        KB.describe("C34.90")
        == "Malignant neoplasm of unspecified part of unspecified bronchus or lung"
    )
    assert KB.describe("L400") == "Psoriasis vulgaris"
    assert KB.describe("Z99.999") == "Z99.999"  # not a code: shown as written


@pytest.mark.parametrize(
    ("written", "generic", "cls"),
    [
        ("Tabrecta", "capmatinib", "met_inhibitor"),
        ("Xalkori", "crizotinib", "met_inhibitor"),
        ("Ibrance", "palbociclib", "cdk46_inhibitor"),
        ("Lynparza", "olaparib", "parp_inhibitor"),
        ("Humira", "adalimumab", "tnf_inhibitor"),
        ("Rinvoq", "upadacitinib", "jak_inhibitor"),
        ("Tagrisso", "osimertinib", "kinase_inhibitor"),
    ],
)
def test_drugs_and_classes(written: str, generic: str, cls: str) -> None:
    info = KB.drug_info(written)
    assert info is not None and info.generics == (generic,) and cls in info.classes


def test_immunology_drugs_are_not_anticancer_therapy() -> None:
    info = KB.drug_info("Cosentyx")
    assert info is not None and not info.systemic_anticancer


def test_specialties_count_as_what_they_are() -> None:
    assert KB.specialty("Hematologist/Oncologist") == {
        "hematology_oncology",
        "oncology",
        "hematology",
    }
    assert KB.specialty("a dermatologist") == {"dermatology"}
    assert KB.specialty("astrologer") is None


@pytest.mark.parametrize(
    ("gene", "written", "canonical"),
    [
        ("RET", "KIF5B-RET fusion", "FUSION"),
        ("ALK", "rearrangement", "FUSION"),
        ("MET", "exon 14 skipping", "EXON14SKIPPING"),
        ("FLT3", "ITD", "ITD"),
        ("BRAF", "p.Val600Glu", "V600E"),
        ("HER2", "amplification", "AMPLIFICATION"),
    ],
)
def test_alterations_read(gene: str, written: str, canonical: str) -> None:
    assert KB.alteration(gene, written) == canonical


@pytest.mark.parametrize(
    ("markers", "decision"),
    [
        ([{"gene": "ER", "result": "positive"}], "met"),
        ([{"gene": "PR", "result": "positive"}], "met"),
        ([{"gene": "ER", "result": "negative"}], "unknown"),  # PR not given
        ([{"gene": "ER", "result": "negative"}, {"gene": "PR", "result": "negative"}], "not_met"),
        ([{"gene": "HR", "result": "negative"}, {"gene": "PR", "result": "positive"}], "not_met"),
    ],
)
def test_hormone_receptor_positive_from_er_or_pr(
    markers: list[dict[str, str]], decision: str
) -> None:
    """HR-positive is ER- or PR-positive; the HR result itself, when given, decides."""
    from pathlib import Path

    from priorauth import Engine
    from priorauth.importer import import_document

    doc = Path(__file__).parent / "corpus" / "b-ibrance.txt"
    engine = Engine(policies=[import_document(doc).policy])
    det = engine.evaluate(
        {
            "kind": "initial",
            "date_of_service": "2026-03-15",
            "member": {"id": "B-1", "birth_date": "1958-08-08"},
            "medication": {
                "name": "Ibrance",
                "strength_mg": 125,
                "quantity": 21,
                "days_supply": 28,
            },
            "diagnoses": [{"code": "C50.911", "extent": "metastatic"}],
            "biomarkers": [*markers, {"gene": "HER2", "result": "negative"}],
            "prior_therapies": [],
            "concurrent_therapies": [{"drug": "letrozole"}],
        }
    )

    # The document lists its criteria with no header or connector (an ambiguous group): the
    # HR criterion's own status is what this checks, the decision follows both readings.
    def walk(node: Any) -> list[Any]:
        return [node, *(n for c in node.children for n in walk(c))]

    (hr,) = [n for n in walk(det.trace) if n.id.endswith(".hr")]
    assert hr.status == decision
    assert det.decision == {"met": "approved", "unknown": "pended", "not_met": "pended"}[decision]
