"""DTR from the package's Questionnaire: SDC prepopulation (FHIRPath initialExpressions generated
from the policy and the knowledge tables, evaluated on the resources the client sends), the
adaptive form that starts before any case exists, and orders no policy covers."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from fhir_cases import CASES, case, pas_bundle, resources
from service_support import SUBMITTER
from test_fhir_pas import claim_response, review_code, submit

from priorauth.fhir import adaptive, dtr, forms, prepopulate
from priorauth.fhir.mapping import Chart

FHIR = {**SUBMITTER, "Content-Type": "application/fhir+json"}
FORM = "pa-5.21.177-2026-04-01-initial"
INITIAL = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-initialExpression"
ASPIRIN = {
    "resourceType": "MedicationRequest",
    "id": "order-aspirin",
    "status": "active",
    "intent": "order",
    "medicationCodeableConcept": {
        "coding": [
            {
                "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                "code": "243670",
                "display": "aspirin 81 MG Oral Tablet",
            }
        ],
        "text": "aspirin 81 MG Oral Tablet",
    },
    "subject": {"reference": "Patient/pat-1"},
    "authoredOn": "2026-06-15",
}


def chart_of(c: dict[str, Any]) -> list[dict[str, Any]]:
    """The patient's chart without the answers a provider gave (no QuestionnaireResponse)."""
    return [r for r in resources(c) if r["resourceType"] != "QuestionnaireResponse"]


def package_params(chart: list[dict[str, Any]]) -> dict[str, Any]:
    def name(r: dict[str, Any]) -> str:
        return {"Coverage": "coverage", "MedicationRequest": "order"}.get(
            r["resourceType"], "context"
        )

    return {
        "resourceType": "Parameters",
        "parameter": [{"name": name(r), "resource": r} for r in chart],
    }


def answers_of(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        if "answer" in item:
            out[item["linkId"]] = item["answer"]
        out.update(answers_of(item.get("item") or []))
    return out


def leaves(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        out += leaves(item.get("item") or []) if item["type"] == "group" else [item]
    return out


def form(client: TestClient) -> dict[str, Any]:
    r = client.get(f"/fhir/Questionnaire/{FORM}", headers=SUBMITTER)
    assert r.status_code == 200, r.text
    q: dict[str, Any] = r.json()
    Questionnaire.model_validate(q)
    return q


def test_the_package_questionnaire_carries_initial_expressions_over_sdc_launch_contexts(
    client: TestClient,
) -> None:
    q = form(client)
    expressions = {
        i["linkId"]: e["valueExpression"]
        for i in leaves(q["item"])
        for e in i.get("extension", [])
        if e["url"] == INITIAL
    }
    assert all(e["language"] == "text/fhirpath" for e in expressions.values())
    # Every question the chart can answer, and the chart group; never an attestation.
    assert {
        "initial.age",
        "initial.nsclc.diagnosis",
        "initial.nsclc.kras_g12c",
        "initial.nsclc.prior_systemic_therapy",
        "initial.mcrc.prior_chemotherapy",
        "initial.mcrc.with_panitumumab",
        "chart.birth_date",
        "chart.diagnoses",
        "chart.prior_therapies",
        "chart.kras.result",
        "chart.medication",
        "chart.quantity",
    } <= set(expressions)
    assert "initial.liver_function_monitoring" not in expressions
    # The codes come from the knowledge tables: NSCLC is ICD-10-CM C34, colorectal C18-C20.
    assert "C34" in expressions["initial.nsclc.diagnosis"]["expression"]
    assert "C18|C19|C20" in expressions["initial.mcrc.diagnosis"]["expression"]
    assert "vectibix" in expressions["initial.mcrc.with_panitumumab"]["expression"]
    # SDC: no item has both an initial value and an initialExpression.
    assert not any("initial" in i for i in leaves(q["item"]))
    contexts = [e for e in q["extension"] if e["url"].endswith("launchContext")]
    names = [next(x["valueCoding"]["code"] for x in e["extension"]) for e in contexts]
    assert names == ["patient", "order"]
    variables = {
        e["valueExpression"]["name"]: e["valueExpression"]
        for e in q["extension"]
        if e["url"] == "http://hl7.org/fhir/StructureDefinition/variable"
    }
    assert variables["conditions"]["language"] == "application/x-fhir-query"
    assert {"observations", "medicationStatements", "priorTherapies"} <= set(variables)


def test_the_expressions_fill_the_right_items_from_a_patient_bundle(client: TestClient) -> None:
    q = form(client)
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in chart_of(CASES["approve"])],
    }
    Bundle.model_validate(bundle)
    chart = Chart()
    chart.add_bundle(bundle, "Bundle")
    order = chart.first("MedicationRequest")
    env = prepopulate.environment(chart, order, chart.first("Patient"))
    got = prepopulate.prefill(q, env)
    assert got["chart.birth_date"] == [{"valueDate": "1958-07-21"}]
    assert got["chart.diagnoses"] == [
        {"valueCoding": {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C34.11"}}
    ]
    assert got["chart.prior_therapies"] == [
        {"valueString": "carboplatin"},
        {"valueString": "pemetrexed"},
    ]
    assert got["chart.kras.result"][0]["valueCoding"]["code"] == "LA9633-4"
    assert got["chart.kras.alteration"] == [{"valueString": "p.Gly12Cys"}]
    assert got["chart.medication"] == [{"valueString": "sotorasib 320 MG Oral Tablet"}]
    assert got["chart.quantity"] == [{"valueDecimal": 90}]
    assert got["chart.days_supply"] == [{"valueInteger": 30}]
    for question in (
        "initial.age",
        "initial.nsclc.diagnosis",
        "initial.nsclc.kras_g12c",
        "initial.nsclc.prior_systemic_therapy",
    ):
        assert got[question] == [{"valueBoolean": True}], question
    # What the chart cannot say stays for the provider: no active therapy to judge "single
    # agent" by, no attestation; colorectal criteria are not met by a lung cancer.
    for question in (
        "initial.nsclc.single_agent",
        "initial.liver_function_monitoring",
        "initial.mcrc.diagnosis",
        "initial.mcrc.prior_chemotherapy",
    ):
        assert question not in got, question
    response = {
        "resourceType": "QuestionnaireResponse",
        "status": "in-progress",
        "questionnaire": q["url"],
        "item": forms.response_items(q["item"], got),
    }
    QuestionnaireResponse.model_validate(response)


def test_a_variant_reported_absent_answers_the_biomarker_question_no(client: TestClient) -> None:
    q = form(client)
    chart = Chart()
    for r in chart_of(CASES["deny_criteria"]):
        chart.add(r, r["resourceType"])
    env = prepopulate.environment(chart, chart.first("MedicationRequest"), chart.first("Patient"))
    got = prepopulate.prefill(q, env)
    assert got["initial.nsclc.kras_g12c"] == [{"valueBoolean": False}]


def test_a_colorectal_chart_answers_the_colorectal_criteria(client: TestClient) -> None:
    q = form(client)
    chart = Chart()
    for r in chart_of(CASES["crc"]):
        chart.add(r, r["resourceType"])
    env = prepopulate.environment(chart, chart.first("MedicationRequest"), chart.first("Patient"))
    got = prepopulate.prefill(q, env)
    for question in (
        "initial.mcrc.diagnosis",
        "initial.mcrc.kras_g12c",
        "initial.mcrc.prior_chemotherapy",
        "initial.mcrc.with_panitumumab",
    ):
        assert got[question] == [{"valueBoolean": True}], question
    assert "initial.nsclc.diagnosis" not in got


def next_step(client: TestClient, qr: dict[str, Any], *extra: dict[str, Any]) -> dict[str, Any]:
    params = {
        "resourceType": "Parameters",
        "parameter": [{"name": "questionnaire-response", "resource": qr}]
        + [{"name": "context", "resource": r} for r in extra],
    }
    r = client.post("/fhir/Questionnaire/$next-question", json=params, headers=FHIR)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    QuestionnaireResponse.model_validate(out)
    return out


def adaptive_run(client: TestClient, qr: dict[str, Any], *extra: dict[str, Any]) -> list[str]:
    """Answer yes to each question asked until the response is completed; the questions asked."""
    asked: list[str] = []
    for _ in range(15):
        qr = next_step(client, qr, *extra)
        if qr["status"] == "completed":
            break
        answered = answers_of(qr.get("item") or [])
        contained = qr["contained"][0]
        new = [i["linkId"] for i in leaves(contained["item"]) if i["linkId"] not in answered]
        assert len(new) == 1, new
        assert new[0] not in asked
        asked.append(new[0])
        qr.setdefault("item", []).append({"linkId": new[0], "answer": [{"valueBoolean": True}]})
    assert qr["status"] == "completed"
    adaptive_run.last = qr  # type: ignore[attr-defined]
    return asked


def test_the_adaptive_form_starts_from_the_package_and_reaches_approval(
    client: TestClient,
) -> None:
    c = case(claim_id="LUM-DTR-1", answers={})
    chart = chart_of(c)
    r = client.post(
        "/fhir/Questionnaire/$questionnaire-package", json=package_params(chart), headers=FHIR
    )
    assert r.status_code == 200, r.text
    package = r.json()["parameter"][0]["resource"]
    q = package["entry"][0]["resource"]
    start = package["entry"][1]["resource"]  # the package's prefilled response
    start["contained"] = [r for r in chart if r["resourceType"] != "Coverage"]
    asked = adaptive_run(client, start)
    # Only what the chart could not settle, in the policy's order.
    assert asked == ["initial.nsclc.single_agent", "initial.liver_function_monitoring"]
    assert len(asked) < len(leaves(q["item"]))
    done = adaptive_run.last  # type: ignore[attr-defined]
    answers = answers_of(done["item"])
    assert answers["initial.nsclc.kras_g12c"] == [{"valueBoolean": True}]
    assert answers["chart.birth_date"] == [{"valueDate": "1958-07-21"}]
    # The completed response goes with the Claim: approved (A1), no case existed before.
    done["id"] = "qr-dtr"
    done.pop("contained")
    done["questionnaire"] = q["url"]
    assert review_code(claim_response(submit(client, pas_bundle(c, extra=[done])))) == "A1"


def test_the_package_form_contained_whole_starts_the_adaptive_form(client: TestClient) -> None:
    q = form(client)
    chart = chart_of(CASES["approve"])
    qr = {
        "resourceType": "QuestionnaireResponse",
        "status": "in-progress",
        "questionnaire": f"#{q['id']}",
        "contained": [q, *chart],
    }
    asked = adaptive_run(client, qr)
    assert asked == ["initial.nsclc.single_agent", "initial.liver_function_monitoring"]


def test_the_adaptive_form_without_a_chart_asks_the_policy_in_order(client: TestClient) -> None:
    qr = {
        "resourceType": "QuestionnaireResponse",
        "status": "in-progress",
        "questionnaire": f"http://testserver/fhir/Questionnaire/{FORM}",
    }
    asked = adaptive_run(client, qr)
    assert asked == [
        "initial.age",
        "initial.nsclc.diagnosis",
        "initial.nsclc.kras_g12c",
        "initial.nsclc.prior_systemic_therapy",
        "initial.nsclc.single_agent",
        "initial.liver_function_monitoring",
    ]


def test_next_question_from_an_order_alone_uses_its_policy(client: TestClient) -> None:
    chart = chart_of(CASES["approve"])
    qr = {
        "resourceType": "QuestionnaireResponse",
        "status": "in-progress",
        "questionnaire": "#shell",
        "contained": [
            {
                "resourceType": "Questionnaire",
                "id": "shell",
                "status": "active",
                "extension": [adaptive.ADAPTIVE],
            }
        ],
    }
    asked = adaptive_run(client, qr, *chart)
    assert asked == ["initial.nsclc.single_agent", "initial.liver_function_monitoring"]


def test_a_drug_without_a_policy_gets_no_questionnaire(client: TestClient) -> None:
    c = CASES["approve"]
    chart = [ASPIRIN if r["resourceType"] == "MedicationRequest" else r for r in chart_of(c)]
    r = client.post(
        "/fhir/Questionnaire/$questionnaire-package", json=package_params(chart), headers=FHIR
    )
    assert r.status_code == 200, r.text
    out = r.json()
    Parameters.model_validate(out)
    [param] = out["parameter"]
    assert param["name"] == "operationOutcome"
    OperationOutcome.model_validate(param["resource"])
    [issue] = param["resource"]["issue"]
    assert (issue["severity"], issue["code"]) == ("information", "not-found")
    assert "aspirin 81 MG Oral Tablet" in issue["diagnostics"]
    assert "243670" in issue["diagnostics"]
    order_at = next(i for i, r in enumerate(chart) if r["resourceType"] == "MedicationRequest")
    assert issue["expression"] == [
        f"Parameters.parameter[{order_at}].resource.medicationCodeableConcept"
    ]


def test_next_question_for_a_drug_without_a_policy_is_a_clear_operation_outcome(
    client: TestClient,
) -> None:
    qr = {
        "resourceType": "QuestionnaireResponse",
        "status": "in-progress",
        "questionnaire": "#shell",
        "contained": [
            {"resourceType": "Questionnaire", "id": "shell", "status": "active"},
            ASPIRIN,
        ],
    }
    params = {
        "resourceType": "Parameters",
        "parameter": [{"name": "questionnaire-response", "resource": qr}],
    }
    r = client.post("/fhir/Questionnaire/$next-question", content=json.dumps(params), headers=FHIR)
    assert r.status_code == 422
    OperationOutcome.model_validate(r.json())
    [issue] = r.json()["issue"]
    assert (issue["severity"], issue["code"]) == ("error", "not-found")
    assert "aspirin 81 MG Oral Tablet" in issue["diagnostics"]
    assert issue["expression"] == [
        "Parameters.parameter[0].resource.contained[1].medicationCodeableConcept"
    ]


def test_next_question_on_a_policy_form_that_does_not_exist_is_not_found(
    client: TestClient,
) -> None:
    qr = {
        "resourceType": "QuestionnaireResponse",
        "status": "in-progress",
        "questionnaire": "http://testserver/fhir/Questionnaire/pa-9.99.999-2026-01-01-initial",
    }
    params = {
        "resourceType": "Parameters",
        "parameter": [{"name": "questionnaire-response", "resource": qr}],
    }
    r = client.post("/fhir/Questionnaire/$next-question", json=params, headers=FHIR)
    assert r.status_code == 404
    assert r.json()["issue"][0]["code"] == "not-found"


def test_warm_prepares_every_form_without_leaving_a_trace(app: Any, client: TestClient) -> None:
    dtr.warm(app.state.service)
    # Nothing a user sees: no case, and the forms it built are the ones served.
    assert client.get("/cases", headers=SUBMITTER).json() == []
    assert form(client)["id"] == FORM


def test_crd_on_an_order_no_policy_covers_says_no_auth(client: TestClient) -> None:
    chart = chart_of(CASES["approve"])
    body = {
        "hookInstance": "b5b1c1e6-1111-4a0b-9d3e-000000000025",
        "hook": "order-sign",
        "context": {
            "userId": "Practitioner/dr-1",
            "patientId": "pat-1",
            "draftOrders": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": {**ASPIRIN, "status": "draft"}}],
            },
        },
        "prefetch": {
            "patient": next(r for r in chart if r["resourceType"] == "Patient"),
            "coverage": {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": r} for r in chart if r["resourceType"] == "Coverage"],
            },
        },
    }
    r = client.post("/cds-services/priorauth-order-sign", json=body, headers=SUBMITTER)
    assert r.status_code == 200, r.text
    [action] = r.json()["systemActions"]
    [info] = [
        e for e in action["resource"]["extension"] if e["url"].endswith("coverage-information")
    ]
    values = {e["url"]: e.get("valueCode") for e in info["extension"]}
    assert values["pa-needed"] == "no-auth"
