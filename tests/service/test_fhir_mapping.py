"""The mapping from FHIR resources to the request contract, one reading per case: what each
kind of resource says, and that what the chart does not say stays unknown."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fhir_cases import CASES, pas_bundle

from priorauth import Engine
from priorauth.fhir.mapping import Chart, annotate_trace, to_request
from priorauth.fhir.outcome import FhirError

ENGINE = Engine()
LOINC = "http://loinc.org"


def chart_of(bundle: dict[str, Any]) -> Chart:
    chart = Chart()
    chart.add_bundle(bundle, "Bundle")
    return chart


def mapped(bundle: dict[str, Any], **kw: Any) -> dict[str, Any]:
    chart = chart_of(bundle)
    order = chart.resolve("MedicationRequest/order-1")
    assert order is not None
    out = to_request(chart, order, ENGINE, **kw)
    return out.request.model_dump(mode="json", exclude_none=True)


def edit(rtype: str, change: Any, c: dict[str, Any] | None = None) -> dict[str, Any]:
    """The approvable bundle with `change(resource)` applied to each resource of a type."""
    bundle = pas_bundle(c or CASES["approve"])
    for e in bundle["entry"]:
        if e["resource"]["resourceType"] == rtype:
            change(e["resource"])
    return bundle


def add(bundle: dict[str, Any], *resources: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(bundle)
    out["entry"] += [{"resource": r} for r in resources]
    return out


def test_the_approvable_chart_reads_as_the_contract_says() -> None:
    req = mapped(pas_bundle(CASES["approve"]))
    assert req["member"] == {"id": "M-2001", "birth_date": "1958-07-21"}
    assert req["medication"] == {
        "name": "sotorasib 320 MG Oral Tablet",
        "strength_mg": 320,
        "quantity": 90,
        "days_supply": 30,
        "strength": "320 mg",
        "form": "tablet",
    }
    assert req["prescriber"] == {"npi": "1245319599", "name": "Ann Oncologist"}
    assert req["diagnoses"] == [
        {"code": "C34.11", "histology": "adenocarcinoma", "extent": "metastatic"}
    ]
    assert req["biomarkers"] == [
        {
            "gene": "KRAS",
            "alteration": "p.Gly12Cys",
            "result": "positive",
            "test": "therascreen KRAS RGQ PCR Kit",
        }
    ]
    assert req["prior_therapies"] == [{"drug": "carboplatin"}, {"drug": "pemetrexed"}]
    assert "concurrent_therapies" not in req  # no active therapy in the chart: unknown


def test_what_the_chart_does_not_say_stays_unknown() -> None:
    bundle = pas_bundle(CASES["approve"])
    bare = copy.deepcopy(bundle)
    bare["entry"] = [
        e
        for e in bare["entry"]
        if e["resource"]["resourceType"]
        not in ("Condition", "Observation", "MedicationStatement", "QuestionnaireResponse")
    ]
    req = mapped(bare)
    for field in ("diagnoses", "biomarkers", "prior_therapies", "concurrent_therapies", "answers"):
        assert field not in req
    assert ENGINE.evaluate(req).decision == "pended"


@pytest.mark.parametrize(
    ("label", "change", "expected"),
    [
        (
            "stage in SNOMED CT",
            lambda r: r.update(
                stage=[
                    {
                        "summary": {
                            "coding": [{"system": "http://snomed.info/sct", "code": "128462008"}]
                        }
                    }
                ]
            ),
            "metastatic",
        ),
        (
            "locally advanced in words",
            lambda r: r.update(stage=[{"summary": {"text": "locally advanced, unresectable"}}]),
            "locally_advanced",
        ),
        (
            "non-metastatic is not metastatic",
            lambda r: r.update(stage=[{"summary": {"text": "non-metastatic"}}]),
            None,
        ),
        ("no stage", lambda r: r.pop("stage"), None),
    ],
)
def test_the_extent_of_a_condition(label: str, change: Any, expected: str | None) -> None:
    req = mapped(edit("Condition", change))
    assert req["diagnoses"][0].get("extent") == expected


def test_a_secondary_site_code_among_the_conditions_gives_the_extent_to_the_engine() -> None:
    bundle = edit("Condition", lambda r: r.pop("stage"))
    bundle = add(
        bundle,
        {
            "resourceType": "Condition",
            "id": "dx-mets",
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C78.00"}]},
            "subject": {"reference": "Patient/pat-1"},
        },
    )
    req = mapped(bundle)
    assert [d["code"] for d in req["diagnoses"]] == ["C34.11", "C78.00"]
    assert ENGINE.evaluate(req).decision == "approved"


def test_resolved_and_refuted_conditions_are_not_diagnoses() -> None:
    def resolve(r: dict[str, Any]) -> None:
        r["clinicalStatus"]["coding"][0]["code"] = "resolved"

    assert "diagnoses" not in mapped(edit("Condition", resolve))


def test_histology_from_a_morphology_evidence_code() -> None:
    def change(r: dict[str, Any]) -> None:
        r["code"]["text"] = "Malignant neoplasm of upper lobe, right bronchus or lung"
        r["evidence"] = [{"code": [{"text": "Squamous cell carcinoma, NOS"}]}]

    assert mapped(edit("Condition", change))["diagnoses"][0]["histology"] == "squamous_cell"


@pytest.mark.parametrize(
    ("label", "change", "expected"),
    [
        (
            "absent",
            lambda r: r["valueCodeableConcept"]["coding"][0].update(code="LA9634-2"),
            "negative",
        ),
        (
            "neither present nor absent",
            lambda r: r.update(valueCodeableConcept={"text": "x"}),
            None,
        ),
        ("entered in error", lambda r: r.update(status="entered-in-error"), None),
    ],
)
def test_the_result_of_a_variant_observation(label: str, change: Any, expected: str | None) -> None:
    req = mapped(edit("Observation", change))
    assert (req["biomarkers"][0]["result"] if "biomarkers" in req else None) == expected


def test_a_dna_change_and_the_test_from_the_diagnostic_report() -> None:
    def change(r: dict[str, Any]) -> None:
        r.pop("method")
        r["component"][1] = {
            "code": {"coding": [{"system": LOINC, "code": "48004-6"}]},
            "valueCodeableConcept": {"text": "c.34G>T"},
        }

    bundle = add(
        edit("Observation", change),
        {
            "resourceType": "DiagnosticReport",
            "id": "rep-1",
            "status": "final",
            "code": {"text": "Guardant360 CDx"},
            "result": [{"reference": "Observation/kras-1"}],
        },
    )
    b = mapped(bundle)["biomarkers"][0]
    assert (b["alteration"], b["test"]) == ("c.34G>T", "Guardant360 CDx")
    assert ENGINE.evaluate(mapped(bundle)).decision == "approved"


def test_strength_from_a_medication_resource_and_days_from_the_dose() -> None:
    def change(r: dict[str, Any]) -> None:
        r.pop("medicationCodeableConcept")
        r["medicationReference"] = {"reference": "Medication/med-1"}
        r["dispenseRequest"].pop("expectedSupplyDuration")
        r["dosageInstruction"] = [
            {
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 960, "unit": "mg"}}],
            }
        ]

    bundle = add(
        edit("MedicationRequest", change),
        {
            "resourceType": "Medication",
            "id": "med-1",
            "code": {"text": "Lumakras"},
            "ingredient": [
                {
                    "itemCodeableConcept": {"text": "sotorasib"},
                    "strength": {
                        "numerator": {"value": 240, "unit": "mg"},
                        "denominator": {"value": 1, "unit": "tablet"},
                    },
                }
            ],
        },
    )
    med = mapped(bundle)["medication"]
    # 960 mg a day of 240 mg tablets is 4 a day: 90 tablets last 22.5 days, rounded to 22.
    assert (med["name"], med["strength_mg"], med["quantity"]) == ("Lumakras", 240, 90)
    assert med["days_supply"] == 22


def test_therapies_prior_concurrent_and_procedures() -> None:
    bundle = add(
        pas_bundle(CASES["approve"]),
        {
            "resourceType": "Procedure",
            "id": "rt-1",
            "status": "completed",
            "code": {"text": "radiation therapy"},
            "subject": {"reference": "Patient/pat-1"},
            "performedPeriod": {"start": "2025-01-01", "end": "2025-02-01"},
        },
        {
            "resourceType": "MedicationAdministration",
            "id": "adm-1",
            "status": "in-progress",
            "medicationCodeableConcept": {"text": "panitumumab"},
            "subject": {"reference": "Patient/pat-1"},
            "effectivePeriod": {"start": "2026-06-01"},
        },
        {
            "resourceType": "MedicationStatement",
            "id": "other-patient",
            "status": "completed",
            "medicationCodeableConcept": {"text": "docetaxel"},
            "subject": {"reference": "Patient/someone-else"},
        },
    )
    req = mapped(bundle)
    assert {"drug": "radiation therapy"} in req["prior_therapies"]
    assert {"drug": "docetaxel"} not in req["prior_therapies"]
    assert req["concurrent_therapies"] == [{"drug": "panitumumab"}]


def test_answers_only_from_our_question_ids() -> None:
    qr = {
        "resourceType": "QuestionnaireResponse",
        "id": "qr-other",
        "status": "completed",
        "item": [
            {"linkId": "3.1", "answer": [{"valueBoolean": True}]},
            {"linkId": "initial.age", "answer": [{"valueCoding": {"code": "LA33-6"}}]},
        ],
    }
    req = mapped(add(pas_bundle(CASES["pend"]), qr))
    assert req["answers"] == {"initial.age": True}


def test_a_bad_icd10_code_names_the_condition() -> None:
    def change(r: dict[str, Any]) -> None:
        r["code"]["coding"][0]["code"] = "lung"

    bundle = edit("Condition", change)
    with pytest.raises(FhirError) as err:
        mapped(bundle)
    where = next(
        i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "Condition"
    )
    assert err.value.expression == f"Bundle.entry[{where}].resource"
    assert "diagnoses[0].code" in err.value.diagnostics


def test_the_trace_carries_the_resources() -> None:
    chart = chart_of(pas_bundle(CASES["approve"]))
    order = chart.resolve("MedicationRequest/order-1")
    assert order is not None
    m = to_request(chart, order, ENGINE)
    det = ENGINE.evaluate_model(m.request)
    import dataclasses

    trace = annotate_trace(dataclasses.asdict(det.trace), m.sources)
    found = []

    def walk(n: dict[str, Any]) -> None:
        found.extend((n["id"], f.get("fhir_source")) for f in n["facts"])
        for c in n["children"]:
            walk(c)

    walk(trace)
    assert ("initial.nsclc.kras_g12c", "Observation/kras-1") in found
    assert ("initial.age", "Patient/pat-1") in found
