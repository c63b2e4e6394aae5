"""FHIR charts of every therapeutic area read into the request contract: Patient.gender,
Observations (vital signs and labs, with units and dates), Condition.severity, step-therapy
trials from MedicationStatements, the strength and form of the drug ordered, and observations
answered in a DTR QuestionnaireResponse. A bad Observation is an OperationOutcome naming the
element. Runs on SQLite and PostgreSQL where an application is involved."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir_area_charts import (
    asthma_eosinophils,
    checked,
    entry_index,
    glp1_weight,
    morning_testosterone,
    observation,
    quantity,
    with_changed,
)
from fhir_cases import CASES, pas_bundle
from service_support import SUBMITTER

from priorauth import Engine
from priorauth.fhir.mapping import Chart, to_request
from priorauth.fhir.outcome import FhirError
from priorauth.fhir.pas import parse_bundle
from priorauth.service.auth import Principal

ENGINE = Engine()
FHIR = {**SUBMITTER, "Content-Type": "application/fhir+json"}


def service_principal() -> Principal:
    return Principal(name="test reader", role="admin", org=None)


def mapped(bundle: dict[str, Any]) -> dict[str, Any]:
    """The request a PAS Bundle's order means, as the contract validated it."""
    chart = Chart()
    chart.add_bundle(parse_bundle(bundle), "Bundle")
    order = chart.resolve("MedicationRequest/order-1")
    assert order is not None
    out = to_request(chart, order, ENGINE)
    return out.request.model_dump(mode="json", exclude_none=True)


def mapping_error(bundle: dict[str, Any]) -> FhirError:
    chart = Chart()
    chart.add_bundle(bundle, "Bundle")
    order = chart.resolve("MedicationRequest/order-1")
    assert order is not None
    with pytest.raises(FhirError) as caught:
        to_request(chart, order, ENGINE)
    return caught.value


def test_a_weight_chart_gives_sex_bmi_and_weight_with_units_and_dates() -> None:
    req = mapped(glp1_weight())
    assert req["member"]["sex"] == "female"
    assert req["observations"] == [
        {
            "code": "39156-5",
            "name": "Body mass index (BMI) [Ratio]",
            "value": 32.4,
            "unit": "kg/m2",
            "date": "2026-06-01",
        },
        {
            "code": "29463-7",
            "name": "Body weight",
            "value": 201.0,
            "unit": "lb",
            "date": "2026-06-01",
        },
    ]


def test_a_stopped_medication_is_a_step_therapy_trial_with_its_dates_days_and_dose() -> None:
    req = mapped(glp1_weight())
    assert req["step_therapy"] == [
        {
            "drug": "metformin",
            "outcome": "failure",
            "start": "2026-01-05",
            "end": "2026-03-30",
            "days": 84,
            "daily_dose_mg": 2000.0,
        }
    ]


def test_the_pen_ordered_keeps_its_strength_as_written_and_its_form() -> None:
    med = mapped(glp1_weight())["medication"]
    assert med["strength"] == "2.4 mg/0.75 mL"
    assert med["form"] == "pen"
    assert med["quantity"] == 4


def test_an_asthma_chart_gives_severity_and_eosinophils_with_the_time_measured() -> None:
    req = mapped(asthma_eosinophils())
    assert req["diagnoses"][0]["severity"] == "severe"
    [eos] = req["observations"]
    assert eos["code"] == "26449-9"
    assert (eos["value"], eos["unit"]) == (0.45, "10*3/uL")
    assert str(eos["date"]).startswith("2026-05-20T10:30")


def test_two_morning_testosterone_values_keep_their_units_and_times_of_day() -> None:
    req = mapped(morning_testosterone())
    assert req["member"]["sex"] == "male"
    values = [(o["value"], o["unit"], str(o["date"])[:16]) for o in req["observations"]]
    assert values == [
        (212.0, "ng/dL", "2026-05-04T08:10"),
        (7.9, "nmol/L", "2026-05-18T07:45"),
    ]
    assert req["medication"]["form"] == "vial"


def test_severity_words_that_name_two_severities_leave_it_unknown() -> None:
    def moderate_to_severe(res: dict[str, Any]) -> None:
        res["severity"] = {"text": "Moderate to severe"}

    req = mapped(with_changed(asthma_eosinophils(), "dx-1", moderate_to_severe))
    assert "severity" not in req["diagnoses"][0]


def test_a_value_the_chart_says_is_absent_stays_unknown() -> None:
    def absent(res: dict[str, Any]) -> None:
        del res["valueQuantity"]
        res["dataAbsentReason"] = {"text": "Patient refused"}

    req = mapped(with_changed(asthma_eosinophils(), "eos-1", absent))
    assert "observations" not in req


def test_a_result_entered_in_error_is_not_a_fact() -> None:
    def in_error(res: dict[str, Any]) -> None:
        res["status"] = "entered-in-error"

    req = mapped(with_changed(glp1_weight(), "bmi-1", in_error))
    assert [o["code"] for o in req["observations"]] == ["29463-7"]


def test_an_observation_of_another_patient_is_not_this_members() -> None:
    def elsewhere(res: dict[str, Any]) -> None:
        res["subject"] = {"reference": "Patient/someone-else"}

    req = mapped(with_changed(glp1_weight(), "bmi-1", elsewhere))
    assert [o["code"] for o in req["observations"]] == ["29463-7"]


def test_an_observation_without_its_value_names_the_element() -> None:
    bundle = glp1_weight()

    def no_value(res: dict[str, Any]) -> None:
        del res["valueQuantity"]["value"]

    err = mapping_error(with_changed(bundle, "bmi-1", no_value))
    at = entry_index(bundle, "bmi-1")
    assert err.expression == f"Bundle.entry[{at}].resource.valueQuantity.value"
    assert "Observation/bmi-1" in err.diagnostics


def test_a_dtr_answer_with_a_quantity_and_a_date_is_an_observation() -> None:
    bundle = glp1_weight()
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["id"] != "bmi-1"]
    response = checked(
        {
            "resourceType": "QuestionnaireResponse",
            "id": "qr-obs",
            "status": "completed",
            "subject": {"reference": "Patient/pat-1"},
            "item": [
                {
                    "linkId": "observation.39156-5",
                    "text": "BMI",
                    "item": [
                        {
                            "linkId": "observation.39156-5.value",
                            "text": "BMI",
                            "answer": [{"valueQuantity": quantity(31.0, "kg/m2")}],
                        },
                        {
                            "linkId": "observation.39156-5.date",
                            "text": "Date measured",
                            "answer": [{"valueDate": "2026-06-02"}],
                        },
                    ],
                }
            ],
        }
    )
    bundle["entry"].append({"fullUrl": "urn:uuid:qr-obs", "resource": response})
    req = mapped(bundle)
    assert {
        "code": "39156-5",
        "name": "BMI",
        "value": 31.0,
        "unit": "kg/m2",
        "date": "2026-06-02",
    } in req["observations"]


# --- through PAS $submit ---------------------------------------------------------------------


def _with_observation(obs: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The approvable Lumakras Bundle with one more Observation, and its entry's index."""
    bundle = pas_bundle(CASES["approve"])
    bundle["entry"].append(
        {"fullUrl": f"http://example.org/fhir/Observation/{obs['id']}", "resource": obs}
    )
    return bundle, len(bundle["entry"]) - 1


def _outcome(r: Any) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    body = r.json()
    OperationOutcome.model_validate(body)
    issue: dict[str, Any] = body["issue"][0]
    return issue


def test_pas_refuses_an_observation_without_value_naming_the_element(client: TestClient) -> None:
    obs = observation("bmi-9", "39156-5", "BMI", {"unit": "kg/m2", "code": "kg/m2"}, "2026-06-01")
    bundle, at = _with_observation(obs)
    r = client.post("/fhir/Claim/$submit", content=json.dumps(bundle), headers=FHIR)
    issue = _outcome(r)
    assert issue["expression"] == [f"Bundle.entry[{at}].resource.valueQuantity.value"]


def test_pas_refuses_a_unit_that_cannot_convert_naming_the_element(client: TestClient) -> None:
    obs = observation(
        "bmi-9",
        "39156-5",
        "BMI",
        {"value": 31, "unit": "furlongs", "code": "[fur_us]"},
        "2026-06-01",
    )
    bundle, at = _with_observation(obs)
    r = client.post("/fhir/Claim/$submit", content=json.dumps(bundle), headers=FHIR)
    issue = _outcome(r)
    assert issue["expression"] == [f"Bundle.entry[{at}].resource.valueQuantity.unit"]
    assert "observations[0].unit" in issue["diagnostics"]


def test_a_new_observation_for_a_pended_claim_is_added_to_its_case(client: TestClient) -> None:
    r = client.post(
        "/fhir/Claim/$submit", content=json.dumps(pas_bundle(CASES["pend"])), headers=FHIR
    )
    assert r.status_code == 200, r.text
    [case] = client.get("/cases", headers=SUBMITTER).json()
    again = pas_bundle(CASES["pend"])
    bmi = observation("bmi-2", "39156-5", "BMI", quantity(27.5, "kg/m2"), "2026-06-10")
    again["entry"].append({"fullUrl": "http://example.org/fhir/Observation/bmi-2", "resource": bmi})
    r = client.post("/fhir/Claim/$submit", content=json.dumps(again), headers=FHIR)
    assert r.status_code == 200, r.text
    events = client.get(f"/cases/{case['id']}/history", headers=SUBMITTER).json()
    added = [e for e in events if e["action"] == "information_added"]
    assert [e["detail"]["fields"] for e in added] == [["observations"]]
    # What the case page and the letter show: the observation on file with the case.
    service = client.app.state.service  # type: ignore[attr-defined]
    stored = service.get(service_principal(), case["id"]).request
    assert stored["observations"] == [
        {"code": "39156-5", "name": "BMI", "value": 27.5, "unit": "kg/m2", "date": "2026-06-10"}
    ]


def test_the_unit_of_a_dose_names_the_form_when_nothing_else_does() -> None:
    def plain(res: dict[str, Any]) -> None:
        res["medicationCodeableConcept"] = {"text": "mepolizumab 100 MG/ML"}
        res["dispenseRequest"]["quantity"] = {"value": 1}

    med = mapped(with_changed(asthma_eosinophils(), "order-1", plain))["medication"]
    assert med["form"] == "pen"
    assert med["strength"] == "100 mg/mL"
