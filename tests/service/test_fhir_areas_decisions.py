"""Policies of three areas decided on FHIR charts end to end: PAS `$submit` on a GLP-1 chart with
a BMI, an asthma chart with blood eosinophils, a testosterone chart with two morning values and
the member's sex; what is missing pends naming the observation; DTR asks for the observations the
criteria compare, prefilled from the chart, and its answers decide. The policies are
tests/area_policies.py's, built from the condition types' own test table. Runs on SQLite
and PostgreSQL."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from area_policies import write_policies
from fastapi import FastAPI
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.parameters import Parameters
from fhir_area_charts import (
    asthma_eosinophils,
    entry_index,
    glp1_weight,
    morning_testosterone,
    with_changed,
)
from service_support import SUBMITTER, FakeClock

from priorauth.server import create_app
from priorauth.service.config import Settings

FHIR = {**SUBMITTER, "Content-Type": "application/fhir+json"}


@pytest.fixture
def areas_client(app_db_url: str, clock: FakeClock, tmp_path: Path) -> Iterator[TestClient]:
    policies = write_policies(tmp_path / "policies")
    settings = Settings(database_url=app_db_url, demo_keys=True, policies=policies)
    app: FastAPI = create_app(settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.service.db.engine.dispose()


def submit(client: TestClient, bundle: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/fhir/Claim/$submit", content=json.dumps(bundle), headers=FHIR)
    assert r.status_code == 200, r.text
    Bundle.model_validate(r.json())
    cr: dict[str, Any] = r.json()["entry"][0]["resource"]
    return cr


def review_code(cr: dict[str, Any]) -> str:
    action = cr["item"][0]["adjudication"][0]["extension"][0]
    code = next(e for e in action["extension"] if e["url"].endswith("reviewActionCode"))
    return str(code["valueCodeableConcept"]["coding"][0]["code"])


def notes(cr: dict[str, Any]) -> str:
    return "\n".join(n["text"] for n in cr.get("processNote") or [])


def trace_sources(client: TestClient) -> set[str]:
    [case] = client.get("/cases", headers=SUBMITTER).json()
    trace = client.get(f"/fhir/Claim/{case['id']}/$trace", headers=SUBMITTER).json()
    found: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        for fact in node.get("facts") or []:
            found.update(s for s in str(fact.get("fhir_source", "")).split(", ") if s)
        for child in node.get("children") or []:
            walk(child)

    walk(trace)
    return found


def test_a_glp1_chart_with_a_bmi_of_32_is_approved_on_its_bmi(areas_client: TestClient) -> None:
    cr = submit(areas_client, glp1_weight())
    assert review_code(cr) == "A1", notes(cr)
    assert "Observation/bmi-1" in trace_sources(areas_client)


def test_a_glp1_chart_without_any_measurement_pends_asking_for_the_bmi(
    areas_client: TestClient,
) -> None:
    bundle = glp1_weight()
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Observation"]
    cr = submit(areas_client, bundle)
    assert review_code(cr) == "A4"
    assert "Give the BMI and the date it was measured" in notes(cr)


def test_an_asthma_chart_with_450_eosinophils_is_approved(areas_client: TestClient) -> None:
    cr = submit(areas_client, asthma_eosinophils())
    assert review_code(cr) == "A1", notes(cr)
    assert "Observation/eos-1" in trace_sources(areas_client)


def test_two_low_morning_testosterone_values_of_a_man_are_approved(
    areas_client: TestClient,
) -> None:
    cr = submit(areas_client, morning_testosterone())
    assert review_code(cr) == "A1", notes(cr)
    assert {"Patient/pat-1", "Observation/tt-1", "Observation/tt-2"} <= trace_sources(areas_client)


def test_an_afternoon_testosterone_value_does_not_count(areas_client: TestClient) -> None:
    def afternoon(res: dict[str, Any]) -> None:
        res["effectiveDateTime"] = "2026-05-18T15:30:00-05:00"

    cr = submit(areas_client, with_changed(morning_testosterone(), "tt-2", afternoon))
    assert review_code(cr) == "A4"
    assert "total testosterone value and the date and time it was measured" in notes(cr)


def test_the_same_chart_for_a_woman_is_a_recommended_denial(areas_client: TestClient) -> None:
    def woman(res: dict[str, Any]) -> None:
        res["gender"] = "female"

    cr = submit(areas_client, with_changed(morning_testosterone(), "pat-1", woman))
    assert review_code(cr) == "A4"  # a pharmacist confirms a denial first
    [case] = areas_client.get("/cases", headers=SUBMITTER).json()
    assert case["status"] == "in_review"


# --- DTR -------------------------------------------------------------------------------------


def _package(client: TestClient, bundle: dict[str, Any]) -> dict[str, Any]:
    """$questionnaire-package for the chart's order, with the chart as context."""
    chart = [e["resource"] for e in bundle["entry"][1:]]
    order = next(r for r in chart if r["resourceType"] == "MedicationRequest")
    coverage = next(r for r in chart if r["resourceType"] == "Coverage")
    params = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "coverage", "resource": coverage},
            {"name": "order", "resource": order},
            *({"name": "context", "resource": r} for r in chart if r is not order),
        ],
    }
    r = client.post("/fhir/Questionnaire/$questionnaire-package", json=params, headers=FHIR)
    assert r.status_code == 200, r.text
    Parameters.model_validate(r.json())
    out: dict[str, Any] = r.json()["parameter"][0]["resource"]
    return out


def _items(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        out[item["linkId"]] = item
        out.update(_items(item.get("item") or []))
    return out


def test_dtr_asks_for_the_bmi_prefilled_from_the_chart(areas_client: TestClient) -> None:
    package = _package(areas_client, glp1_weight())
    form = package["entry"][0]["resource"]
    asked = _items(form["item"])
    assert asked["observation.39156-5.value"]["type"] == "quantity"
    assert asked["observation.39156-5.date"]["type"] == "dateTime"
    # The BMI may be worked out from the weight and height: they are asked too.
    assert {"observation.29463-7", "observation.8302-2"} <= set(asked)
    response = _items(package["entry"][1]["resource"]["item"])
    value = response["observation.39156-5.value"]["answer"][0]["valueQuantity"]
    assert (value["value"], value["code"]) == (32.4, "kg/m2")
    assert response["observation.39156-5.date"]["answer"] == [{"valueDateTime": "2026-06-01"}]
    chart = response["observation.29463-7.chart"]["answer"]
    assert chart == [{"valueString": "201.0 lb on 2026-06-01"}]


def test_a_dtr_response_with_the_bmi_decides_a_chart_without_one(
    areas_client: TestClient,
) -> None:
    full = glp1_weight()
    package = _package(areas_client, full)
    response = package["entry"][1]["resource"]
    response["status"] = "completed"
    response["id"] = "qr-1"
    bundle = copy.deepcopy(full)
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Observation"]
    bundle["entry"].append({"fullUrl": "urn:uuid:qr-1", "resource": response})
    cr = submit(areas_client, bundle)
    assert review_code(cr) == "A1", notes(cr)
    assert "QuestionnaireResponse/qr-1" in trace_sources(areas_client)


def test_a_dtr_answer_in_a_unit_that_does_not_convert_names_the_answer(
    areas_client: TestClient,
) -> None:
    full = glp1_weight()
    response = _package(areas_client, full)["entry"][1]["resource"]
    response["id"] = "qr-1"
    for group in response["item"]:
        for item in group.get("item") or []:
            if item["linkId"] == "observation.39156-5.value":
                item["answer"][0]["valueQuantity"] = {"value": 32, "unit": "furlongs"}
    bundle = copy.deepcopy(full)
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Observation"]
    bundle["entry"].append({"fullUrl": "urn:uuid:qr-1", "resource": response})
    r = areas_client.post("/fhir/Claim/$submit", content=json.dumps(bundle), headers=FHIR)
    assert r.status_code == 422, r.text
    [expression] = r.json()["issue"][0]["expression"]
    assert expression.startswith(f"Bundle.entry[{len(bundle['entry']) - 1}].resource.item[")
    assert expression.endswith(".answer[0].valueQuantity.unit")
    assert entry_index(full, "bmi-1") > 0


def _next(client: TestClient, qr: dict[str, Any]) -> dict[str, Any]:
    params = {
        "resourceType": "Parameters",
        "parameter": [{"name": "questionnaire-response", "resource": qr}],
    }
    r = client.post("/fhir/Questionnaire/$next-question", json=params, headers=FHIR)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_the_adaptive_form_asks_for_the_bmi_and_completes_once_it_is_given(
    areas_client: TestClient,
) -> None:
    full = glp1_weight()
    chart = [
        e["resource"] for e in full["entry"][1:] if e["resource"]["resourceType"] != "Observation"
    ]
    qr: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "status": "in-progress",
        "questionnaire": "http://testserver/fhir/Questionnaire/pa-9.21.101-2026-01-01-initial",
        "contained": chart,
    }
    step = _next(areas_client, qr)
    assert step["status"] == "in-progress"
    shown = set(_items(step["contained"][0]["item"]))
    assert {"observation.39156-5.value", "observation.39156-5.date"} <= shown
    step["item"] = [
        *(step.get("item") or []),
        {
            "linkId": "observation.39156-5",
            "item": [
                {
                    "linkId": "observation.39156-5.value",
                    "answer": [{"valueQuantity": {"value": 31, "unit": "kg/m2"}}],
                },
                {"linkId": "observation.39156-5.date", "answer": [{"valueDate": "2026-06-01"}]},
            ],
        },
    ]
    done = _next(areas_client, step)
    assert done["status"] == "completed"
