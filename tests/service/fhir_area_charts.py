"""Charts of three therapeutic areas as PAS request Bundles, each resource checked by its
fhir.resources R4B model as it is written:

- `glp1_weight`: semaglutide 2.4 mg/0.75 mL pens for weight management; a woman with a BMI of
  32.4 kg/m2 (US Core BMI), her weight in pounds (US Core body weight), metformin stopped for an
  inadequate response after twelve weeks.
- `asthma_eosinophils`: mepolizumab 100 mg/mL for severe eosinophilic asthma (Condition.severity
  in SNOMED CT); blood eosinophils of 0.45 10*3/uL (450 cells/uL).
- `morning_testosterone`: testosterone cypionate 200 mg/mL vials for a man with hypogonadism;
  two total testosterone values, both taken in the morning on separate days.
"""

from __future__ import annotations

import copy
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir_cases import pas_claim

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SUBJECT = {"reference": "Patient/pat-1"}
VITAL_SIGNS = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "vital-signs",
        }
    ]
}
LABORATORY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "laboratory",
        }
    ]
}


def checked(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource as its FHIR R4B model reads and writes it (a mistake in a test chart fails
    here, not later in the service)."""
    model = get_fhir_model_class(resource["resourceType"])
    out: dict[str, Any] = model.model_validate(resource).model_dump(mode="json", exclude_none=True)
    return out


def patient(gender: str, birth: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "pat-1",
        "gender": gender,
        "birthDate": birth,
        "name": [{"family": "Example", "given": ["Sam"]}],
    }


def quantity(value: float, code: str, unit: str | None = None) -> dict[str, Any]:
    return {"value": value, "unit": unit or code, "system": UCUM, "code": code}


def observation(
    oid: str,
    loinc: str,
    display: str,
    value: dict[str, Any] | None,
    when: str,
    category: dict[str, Any] = LABORATORY,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [category],
        "code": {"coding": [{"system": LOINC, "code": loinc, "display": display}]},
        "subject": SUBJECT,
        "effectiveDateTime": when,
    }
    if value is not None:
        out["valueQuantity"] = value
    return out


def condition(
    cid: str, code: str, text: str, severity: tuple[str, str] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {"coding": [{"system": ICD10, "code": code}], "text": text},
        "subject": SUBJECT,
    }
    if severity is not None:
        out["severity"] = {
            "coding": [{"system": SNOMED, "code": severity[0], "display": severity[1]}]
        }
    return out


def order(
    medication: dict[str, Any],
    dose: dict[str, Any],
    timing: dict[str, Any],
    dispensed: dict[str, Any],
    days: int,
    authored: str,
) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "order-1",
        "status": "active",
        "intent": "order",
        **medication,
        "subject": SUBJECT,
        "authoredOn": authored,
        "requester": {"reference": "Practitioner/dr-1"},
        "dosageInstruction": [
            {"timing": {"repeat": timing}, "doseAndRate": [{"doseQuantity": dose}]}
        ],
        "dispenseRequest": {
            "quantity": dispensed,
            "expectedSupplyDuration": {"value": days, "unit": "days", "system": UCUM, "code": "d"},
        },
    }


def _common(member: str) -> list[dict[str, Any]]:
    return [
        {
            "resourceType": "Coverage",
            "id": "cov-1",
            "status": "active",
            "subscriberId": member,
            "beneficiary": SUBJECT,
            "payor": [{"reference": "Organization/payer-1"}],
        },
        {"resourceType": "Organization", "id": "payer-1", "name": "Example Health Plan"},
        {"resourceType": "Organization", "id": "clinic-1", "name": "Demo Clinic"},
        {
            "resourceType": "Practitioner",
            "id": "dr-1",
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1245319599"}],
            "name": [{"text": "Dana Prescriber"}],
        },
    ]


def bundle(claim_id: str, service_date: str, chart: list[dict[str, Any]]) -> dict[str, Any]:
    """A PAS request Bundle: the Claim for the chart's order, then the chart."""
    claim = pas_claim(claim_id, service_date, "drug ordered")
    entries = [claim, *chart]
    return checked(
        {
            "resourceType": "Bundle",
            "id": f"pas-{claim_id}",
            "type": "collection",
            "timestamp": f"{service_date}T09:00:00Z",
            "entry": [
                {
                    "fullUrl": f"http://example.org/fhir/{r['resourceType']}/{r['id']}",
                    "resource": checked(r),
                }
                for r in entries
            ],
        }
    )


def glp1_weight(claim_id: str = "GLP-0001") -> dict[str, Any]:
    chart = [
        patient("female", "1979-04-02"),
        *_common("M-3001"),
        {
            "resourceType": "Medication",
            "id": "med-1",
            "code": {"text": "semaglutide 2.4 MG/0.75 ML Auto-Injector"},
            "form": {"text": "Auto-Injector"},
            "ingredient": [
                {
                    "itemCodeableConcept": {"text": "semaglutide"},
                    "strength": {
                        "numerator": quantity(2.4, "mg"),
                        "denominator": quantity(0.75, "mL"),
                    },
                }
            ],
        },
        order(
            {"medicationReference": {"reference": "Medication/med-1"}},
            {"value": 2.4, "unit": "mg", "system": UCUM, "code": "mg"},
            {"frequency": 1, "period": 1, "periodUnit": "wk"},
            {"value": 4, "unit": "pen"},
            28,
            "2026-06-15",
        ),
        condition("dx-1", "E66.811", "Obesity, class 1"),
        condition("dx-2", "I10", "Essential hypertension"),
        observation(
            "bmi-1",
            "39156-5",
            "Body mass index (BMI) [Ratio]",
            quantity(32.4, "kg/m2"),
            "2026-06-01",
            VITAL_SIGNS,
        ),
        observation(
            "weight-1",
            "29463-7",
            "Body weight",
            quantity(201.0, "[lb_av]", "lb"),
            "2026-06-01",
            VITAL_SIGNS,
        ),
        {
            "resourceType": "MedicationStatement",
            "id": "prior-1",
            "status": "stopped",
            "statusReason": [{"text": "Inadequate response"}],
            "medicationCodeableConcept": {"text": "metformin"},
            "subject": SUBJECT,
            "effectivePeriod": {"start": "2026-01-05", "end": "2026-03-30"},
            "dosage": [
                {
                    "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                    "doseAndRate": [{"doseQuantity": {"value": 1000, "unit": "mg", "code": "mg"}}],
                }
            ],
        },
    ]
    return bundle(claim_id, "2026-06-15", chart)


def asthma_eosinophils(claim_id: str = "AST-0001") -> dict[str, Any]:
    chart = [
        patient("male", "1990-11-20"),
        *_common("M-3002"),
        order(
            {"medicationCodeableConcept": {"text": "mepolizumab 100 MG/ML Auto-Injector"}},
            {"value": 1, "unit": "pen"},
            {"frequency": 1, "period": 4, "periodUnit": "wk"},
            {"value": 1, "unit": "pen"},
            28,
            "2026-06-15",
        ),
        condition("dx-1", "J45.50", "Severe persistent asthma", ("24484000", "Severe")),
        observation(
            "eos-1",
            "26449-9",
            "Eosinophils [#/volume] in Blood",
            quantity(0.45, "10*3/uL"),
            "2026-05-20T10:30:00-05:00",
        ),
    ]
    return bundle(claim_id, "2026-06-15", chart)


def morning_testosterone(claim_id: str = "TST-0001") -> dict[str, Any]:
    chart = [
        patient("male", "1968-02-14"),
        *_common("M-3003"),
        order(
            {
                "medicationCodeableConcept": {
                    # RxNorm's branded drug name: the brand names the policy.
                    "text": "testosterone cypionate 200 MG/ML Injectable Solution "
                    "[Depo-Testosterone]"
                }
            },
            {"value": 100, "unit": "mg", "system": UCUM, "code": "mg"},
            {"frequency": 1, "period": 1, "periodUnit": "wk"},
            {"value": 2, "unit": "vial"},
            28,
            "2026-06-15",
        ),
        condition("dx-1", "E29.1", "Testicular hypofunction"),
        observation(
            "tt-1",
            "2986-8",
            "Testosterone [Mass/volume] in Serum or Plasma",
            quantity(212, "ng/dL"),
            "2026-05-04T08:10:00-05:00",
        ),
        observation(
            "tt-2",
            "2986-8",
            "Testosterone [Mass/volume] in Serum or Plasma",
            quantity(7.9, "nmol/L"),
            "2026-05-18T07:45:00-05:00",
        ),
    ]
    return bundle(claim_id, "2026-06-15", chart)


def with_changed(b: dict[str, Any], rid: str, change: Any) -> dict[str, Any]:
    """The Bundle with `change(resource)` applied to the resource of id `rid` (unchecked: a test
    may make it wrong on purpose)."""
    out = copy.deepcopy(b)
    for e in out["entry"]:
        if e["resource"]["id"] == rid:
            change(e["resource"])
    return out


def entry_index(b: dict[str, Any], rid: str) -> int:
    return next(i for i, e in enumerate(b["entry"]) if e["resource"]["id"] == rid)
