"""DTR (questionnaire package, adaptive next-question) and CRD (CDS Hooks) on the shared
Da Vinci payloads and on Lumakras charts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from fhir_cases import CASES, Loopback, case, pas_bundle, resources
from service_support import SUBMITTER
from shared_folder import shared
from test_fhir_pas import claim_response, review_code, submit

FHIR = {**SUBMITTER, "Content-Type": "application/fhir+json"}
CRD_EXT = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
LUMAKRAS_QUESTIONS = {
    "initial.age",
    "initial.nsclc.diagnosis",
    "initial.nsclc.kras_g12c",
    "initial.nsclc.prior_systemic_therapy",
    "initial.nsclc.single_agent",
    "initial.mcrc.diagnosis",
    "initial.mcrc.kras_g12c",
    "initial.mcrc.prior_chemotherapy",
    "initial.mcrc.with_panitumumab",
    "initial.liver_function_monitoring",
}


def davinci(name: str) -> dict[str, Any]:
    """A public Da Vinci example payload from ../shared/research/davinci."""
    data: dict[str, Any] = json.loads(shared(f"research/davinci/{name}").read_text())
    return data


def by_type(c: dict[str, Any], rtype: str) -> dict[str, Any]:
    return next(r for r in resources(c) if r["resourceType"] == rtype)


# --- DTR -------------------------------------------------------------------------------------


def package(client: TestClient, params: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/fhir/Questionnaire/$questionnaire-package", json=params, headers=FHIR)
    assert r.status_code == 200, r.text
    Parameters.model_validate(r.json())
    out: dict[str, Any] = r.json()
    return out


def test_questionnaire_package_for_the_test_kit_input_says_no_questionnaire_is_needed(
    client: TestClient,
) -> None:
    out = package(
        client,
        davinci(
            "inferno_davinci-dtr-test-kit__spec_fixtures__questionnaire_package_"
            "input_params_conformant.json"
        ),
    )
    names = [p["name"] for p in out["parameter"]]
    assert names == ["operationOutcome"]
    assert "ServiceRequest" in out["parameter"][0]["resource"]["issue"][0]["diagnostics"]


def test_questionnaire_package_is_generated_from_the_policy_and_prefilled_from_the_chart(
    client: TestClient,
) -> None:
    c = CASES["pend"]
    params = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "coverage", "resource": by_type(c, "Coverage")},
            {"name": "order", "resource": by_type(c, "MedicationRequest")},
            {"name": "patient", "resource": by_type(c, "Patient")},
            {"name": "condition", "resource": by_type(c, "Condition")},
        ],
    }
    out = package(client, params)
    bundle = out["parameter"][0]["resource"]
    q = bundle["entry"][0]["resource"]
    assert q["resourceType"] == "Questionnaire"
    items = {i["linkId"]: i for i in q["item"] if i["type"] == "boolean"}
    assert set(items) == LUMAKRAS_QUESTIONS
    kras = items["initial.nsclc.kras_g12c"]["text"]
    assert "Presence of KRAS G12C mutation as determined by an FDA-approved test" in kras
    # The chart settles the age and the diagnosis; not the KRAS result: the package's
    # QuestionnaireResponse carries what the form's expressions read from it.
    qr = bundle["entry"][1]["resource"]
    QuestionnaireResponse.model_validate(qr)
    answers = {i["linkId"]: i["answer"] for i in qr["item"] if "answer" in i}
    assert answers["initial.age"] == [{"valueBoolean": True}]
    assert answers["initial.nsclc.diagnosis"] == [{"valueBoolean": True}]
    assert "initial.nsclc.kras_g12c" not in answers
    r = client.get(f"/fhir/Questionnaire/{q['id']}", headers=SUBMITTER)
    assert r.status_code == 200 and r.json()["id"] == q["id"]
    # A DTR client works the age out itself (SDC initialExpression).
    age = next(i for i in r.json()["item"] if i["linkId"] == "initial.age")
    [ext] = age["extension"]
    assert ext["valueExpression"] == {
        "language": "text/fhirpath",
        "expression": "%patient.birthDate <= today() - 18 years",
    }


def test_next_question_on_a_foreign_form_is_a_clear_operation_outcome(client: TestClient) -> None:
    params = davinci(
        "inferno_davinci-dtr-test-kit__spec_fixtures__next_question_initial_input_params_"
        "conformant.json"
    )
    r = client.post("/fhir/Questionnaire/$next-question", json=params, headers=FHIR)
    assert r.status_code == 422
    issue = r.json()["issue"][0]
    assert issue["expression"] == ["Parameters.parameter[0].resource.questionnaire"]


def test_a_pend_is_answered_one_question_at_a_time_and_then_approved(client: TestClient) -> None:
    c = CASES["pend"]
    assert review_code(claim_response(submit(client, pas_bundle(c)))) == "A4"
    case_id = client.get("/cases", headers=SUBMITTER).json()[0]["id"]
    qr: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "status": "in-progress",
        "questionnaire": f"http://testserver/fhir/Questionnaire/case-{case_id}",
    }
    asked = []
    for _ in range(10):
        params = {
            "resourceType": "Parameters",
            "parameter": [{"name": "questionnaire-response", "resource": qr}],
        }
        r = client.post("/fhir/Questionnaire/$next-question", json=params, headers=FHIR)
        assert r.status_code == 200, r.text
        qr = r.json()
        QuestionnaireResponse.model_validate(qr)
        if qr["status"] == "completed":
            break
        questions = qr["contained"][0]["item"]
        new = questions[-1]["linkId"]
        assert new not in asked
        asked.append(new)
        qr.setdefault("item", []).append({"linkId": new, "answer": [{"valueBoolean": True}]})
    assert qr["status"] == "completed"
    assert asked == [
        "initial.nsclc.kras_g12c",
        "initial.nsclc.single_agent",
        "initial.liver_function_monitoring",
    ]
    # The completed response goes back with the Claim: the pend becomes A1.
    qr["id"] = "qr-adaptive"
    cr = claim_response(submit(client, pas_bundle(c, extra=[qr])))
    assert review_code(cr) == "A1"


# --- CRD -------------------------------------------------------------------------------------


def hook(client: TestClient, service: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(f"/cds-services/{service}", json=body, headers=SUBMITTER)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    for action in out.get("systemActions", []):
        res = action["resource"]
        get_fhir_model_class(res["resourceType"]).model_validate(res)
    return out


def coverage_info(action: dict[str, Any]) -> dict[str, Any]:
    ext = next(e for e in action["resource"]["extension"] if e["url"] == CRD_EXT)
    return {
        e["url"]: next(v for k, v in e.items() if k.startswith("value")) for e in ext["extension"]
    }


def test_discovery_lists_the_order_hooks_with_prefetch(client: TestClient) -> None:
    services = client.get("/cds-services").json()["services"]
    assert {s["hook"] for s in services} == {"order-select", "order-sign", "order-dispatch"}
    assert all(s["prefetch"]["patient"] == "Patient/{{context.patientId}}" for s in services)


def test_the_crd_order_sign_example_gets_coverage_information(client: TestClient) -> None:
    out = hook(
        client,
        "priorauth-order-sign",
        davinci("HL7_davinci-crd__input_resources__CRDServiceRequest.order-sign.json"),
    )
    assert len(out["systemActions"]) == 2
    for action in out["systemActions"]:
        info = coverage_info(action)
        assert info["pa-needed"] == "no-auth" and info["coverage-assertion-id"]


def test_the_test_kit_order_sign_request_gets_a_card_for_its_malformed_order(
    client: TestClient,
) -> None:
    out = hook(
        client,
        "priorauth-order-sign",
        davinci("inferno_davinci-crd-test-kit__spec_fixtures__order_sign_hook_request.json"),
    )
    # Both orders break R4: the NutritionOrder has no intent, the MedicationRequest's
    # doseAndRate is an object, not a list. Each gets a card naming the element.
    details = [c["detail"] for c in out["cards"] if c["indicator"] == "warning"]
    assert len(details) == 2
    assert "intent" in details[0] and "doseAndRate" in details[1]
    assert "systemActions" not in out


def test_the_order_dispatch_example_without_a_reachable_ehr_is_answered(
    client: TestClient,
) -> None:
    body = davinci(
        "HL7_davinci-crd__input_resources__CRDServiceRequest2.order-dispatch-medication.json"
    )
    body["fhirServer"] = "http://127.0.0.1:9/fhir"  # nothing listens: no outside network
    del body["extension"]  # the example turns coverage information off
    out = hook(client, "priorauth-order-dispatch", body)
    assert "systemActions" not in out
    assert any("could not be read" in c["detail"] for c in out["cards"])


def _sign_request(c: dict[str, Any], prefetch: bool = True) -> dict[str, Any]:
    chart = resources(c)
    order = next(r for r in chart if r["resourceType"] == "MedicationRequest")
    order = {**order, "status": "draft"}
    body: dict[str, Any] = {
        "hookInstance": "b5b1c1e6-1111-4a0b-9d3e-000000000001",
        "hook": "order-sign",
        "context": {
            "userId": "Practitioner/dr-1",
            "patientId": "pat-1",
            "draftOrders": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": order}],
            },
        },
    }
    if prefetch:
        others = [r for r in chart if r["resourceType"] != "MedicationRequest"]
        body["prefetch"] = {
            "patient": next(r for r in others if r["resourceType"] == "Patient"),
            "coverage": {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": r} for r in others if r["resourceType"] == "Coverage"],
            },
            "conditions": {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": r} for r in others if r["resourceType"] == "Condition"],
            },
            "observations": {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": r} for r in others if r["resourceType"] == "Observation"],
            },
            "medicationStatements": {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [
                    {"resource": r}
                    for r in others
                    if r["resourceType"] in ("MedicationStatement", "QuestionnaireResponse")
                ],
            },
            "procedures": {"resourceType": "Bundle", "type": "searchset"},
            "vitalSigns": {"resourceType": "Bundle", "type": "searchset"},
        }
    return body


@pytest.mark.parametrize(
    ("name", "covered", "pa_needed"),
    [
        ("approve", "covered", "satisfied"),
        ("pend", "covered", "auth-needed"),
        ("partial", "covered", "auth-needed"),
        ("investigational", "not-covered", None),
        ("deny_criteria", "covered", "auth-needed"),
    ],
)
def test_lumakras_order_sign_answers_from_the_chart(
    client: TestClient, name: str, covered: str, pa_needed: str | None
) -> None:
    out = hook(client, "priorauth-order-sign", _sign_request(CASES[name]))
    [action] = out["systemActions"]
    info = coverage_info(action)
    assert (info["covered"], info.get("pa-needed")) == (covered, pa_needed)
    if name == "pend":
        assert info["questionnaire"].endswith("/fhir/Questionnaire/pa-5.21.177-2026-04-01-initial")
        assert "KRAS G12C" in out["cards"][0]["detail"]
    if name == "investigational":
        assert "Investigational" in info["reason"]["text"]


@pytest.fixture
def ehr() -> Iterator[Loopback]:
    c = case()
    chart = resources(c)

    def bundle(*types: str) -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": r} for r in chart if r["resourceType"] in types],
        }

    server = Loopback(
        {
            "/fhir/Patient/pat-1": next(r for r in chart if r["resourceType"] == "Patient"),
            "/fhir/Coverage?patient=pat-1&status=active": bundle("Coverage"),
            "/fhir/Condition?patient=pat-1": bundle("Condition"),
            "/fhir/Observation?patient=pat-1&category=laboratory": bundle("Observation"),
            "/fhir/Observation?patient=pat-1&category=vital-signs": bundle(),
            "/fhir/MedicationStatement?patient=pat-1": bundle(
                "MedicationStatement", "QuestionnaireResponse"
            ),
            "/fhir/Procedure?patient=pat-1": bundle("Procedure"),
        }
    )
    yield server
    server.close()


def test_what_prefetch_lacks_is_fetched_from_the_ehr_with_its_token(
    client: TestClient, ehr: Loopback
) -> None:
    body = _sign_request(CASES["approve"], prefetch=False)
    body["fhirServer"] = f"{ehr.url}/fhir"
    body["fhirAuthorization"] = {
        "access_token": "ehr-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "user/*.read",
        "subject": "x",
    }
    out = hook(client, "priorauth-order-sign", body)
    assert coverage_info(out["systemActions"][0])["pa-needed"] == "satisfied"
    assert all(h.get("Authorization") == "Bearer ehr-token" for _, _, h in ehr.requests)


def test_a_hook_without_context_is_a_clear_error(client: TestClient) -> None:
    r = client.post(
        "/cds-services/priorauth-order-sign",
        json={"hook": "order-sign", "hookInstance": "x"},
        headers=SUBMITTER,
    )
    assert r.status_code == 422
    assert r.json()["expression"] == ["context"]


def test_a_crd_coverage_assertion_stands_in_for_the_chart_in_pas(client: TestClient) -> None:
    c = CASES["approve"]
    out = hook(client, "priorauth-order-sign", _sign_request(c))
    [action] = out["systemActions"]
    assert coverage_info(action)["pa-needed"] == "satisfied"
    signed = {**action["resource"], "status": "active"}
    thin = pas_bundle(c)
    thin["entry"] = [
        e
        for e in thin["entry"]
        if e["resource"]["resourceType"]
        not in ("Condition", "Observation", "MedicationStatement", "QuestionnaireResponse")
    ]
    without = json.loads(json.dumps(thin))
    for e in thin["entry"]:
        if e["resource"]["resourceType"] == "MedicationRequest":
            e["resource"] = signed
    cr = claim_response(submit(client, thin))
    assert review_code(cr) == "A1"
    assert any("Coverage assertion" in n["text"] for n in cr["processNote"])
    # The same thin Bundle without the assertion is reviewed on what it carries: a pend.
    without["entry"][0]["resource"]["identifier"][0]["value"] = "LUM-THIN"
    assert review_code(claim_response(submit(client, without))) == "A4"


def test_order_select_answers_the_selected_order(client: TestClient) -> None:
    body = _sign_request(CASES["investigational"])
    body["hook"] = "order-select"
    body["context"]["selections"] = ["MedicationRequest/order-1"]
    out = hook(client, "priorauth-order-select", body)
    [action] = out["systemActions"]
    assert coverage_info(action)["covered"] == "not-covered"
    wrong = client.post(
        "/cds-services/priorauth-order-select",
        json=_sign_request(CASES["approve"]),
        headers=SUBMITTER,
    )
    assert wrong.status_code == 422 and wrong.json()["expression"] == ["hook"]
