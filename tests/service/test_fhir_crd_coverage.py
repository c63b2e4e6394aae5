"""CRD answers as an EHR reads them: every coverage-information extension keeps every rule of the
CRD profile (crd_coverage_information.yaml, one row per constraint key), a drug no policy covers
is an ordinary answer on every hook, and the discovery document and cards have the CDS Hooks 2.0
shape."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class
from fhir_cases import CASES, Loopback, case, resources
from fhirpathpy import evaluate
from service_support import SUBMITTER
from shared_folder import shared
from sqlalchemy import text

HERE = Path(__file__).resolve().parent
RULES: dict[str, list[dict[str, str]]] = yaml.safe_load(
    (HERE / "crd_coverage_information.yaml").read_text()
)
CRD_EXT = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ASPIRIN = "aspirin 81 MG Oral Tablet"
SERVICES = {
    "order-select": "priorauth-order-select",
    "order-sign": "priorauth-order-sign",
    "order-dispatch": "priorauth-order-dispatch",
}


def chart(c: dict[str, Any]) -> list[dict[str, Any]]:
    """The patient's chart without the order."""
    return [r for r in resources(c) if r["resourceType"] != "MedicationRequest"]


def lumakras(c: dict[str, Any]) -> dict[str, Any]:
    order = next(r for r in resources(c) if r["resourceType"] == "MedicationRequest")
    return {**order, "status": "draft"}


def drug_order(concept: dict[str, Any]) -> dict[str, Any]:
    order = lumakras(case())
    order.update(id="order-2", medicationCodeableConcept=concept)
    order["dispenseRequest"] = {"quantity": {"value": 90, "unit": "tablet"}}
    return order


def searchset(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in items],
    }


def hook_request(
    hook: str, order: dict[str, Any], chart_resources: list[dict[str, Any]]
) -> dict[str, Any]:
    """A CDS Hooks request for one order, with the chart as prefetch (dispatch: the order too)."""
    ref = f"{order['resourceType']}/{order['id']}"
    context: dict[str, Any] = {"userId": "Practitioner/dr-1", "patientId": "pat-1"}
    prefetch: dict[str, Any] = {
        "patient": next((r for r in chart_resources if r["resourceType"] == "Patient"), None),
        "coverage": searchset([r for r in chart_resources if r["resourceType"] == "Coverage"]),
        "conditions": searchset([r for r in chart_resources if r["resourceType"] == "Condition"]),
        "observations": searchset(
            [r for r in chart_resources if r["resourceType"] == "Observation"]
        ),
        "medicationStatements": searchset(
            [
                r
                for r in chart_resources
                if r["resourceType"] in ("MedicationStatement", "QuestionnaireResponse")
            ]
        ),
        "procedures": searchset([]),
        "vitalSigns": searchset([]),
        "practitioners": searchset(
            [r for r in chart_resources if r["resourceType"] in ("Practitioner", "Organization")]
        ),
    }
    if hook == "order-dispatch":
        context.update(dispatchedOrders=[ref], performer="Organization/clinic-1")
        prefetch["medicationRequests"] = searchset([order])
    else:
        context["draftOrders"] = searchset([order]) | {"type": "collection"}
        if hook == "order-select":
            context["selections"] = [ref]
    return {
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "hook": hook,
        "context": context,
        "prefetch": prefetch,
    }


def call(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(f"/cds-services/{SERVICES[body['hook']]}", json=body, headers=SUBMITTER)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    for action in out.get("systemActions", []):
        res = action["resource"]
        get_fhir_model_class(res["resourceType"]).model_validate(res)
    return out


def broken_rules(out: dict[str, Any]) -> list[str]:
    """Every rule row that some systemAction or coverage-information extension breaks."""
    broken = []
    for i, action in enumerate(out.get("systemActions", [])):
        for row in RULES["action"]:
            if evaluate(action, row["fhirpath"]) != [True]:
                broken.append(f"systemActions[{i}]: {row['key']}: {row['says']}")
        for ext in action["resource"].get("extension", []):
            if ext["url"] != CRD_EXT:
                continue
            for row in RULES["extension"]:
                if evaluate(ext, row["fhirpath"]) != [True]:
                    broken.append(f"systemActions[{i}] extension: {row['key']}: {row['says']}")
    return broken


def info(out: dict[str, Any]) -> dict[str, Any]:
    """The one coverage-information of the one systemAction, as {sub-extension: value}."""
    [action] = out["systemActions"]
    [ext] = [e for e in action["resource"]["extension"] if e["url"] == CRD_EXT]
    return {
        p["url"]: next(v for k, v in p.items() if k.startswith("value")) for p in ext["extension"]
    }


def no_empty_json(value: Any, path: str = "") -> list[str]:
    """CDS Hooks 2.0: no null, "", [] or {} anywhere (the cards array may be empty)."""
    if value is None or value in ("", [], {}):
        return [] if path == ".cards" else [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in no_empty_json(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in no_empty_json(v, f"{path}[{i}]")]
    return []


def cancelled_coverage() -> list[dict[str, Any]]:
    out = copy.deepcopy(chart(CASES["approve"]))
    next(r for r in out if r["resourceType"] == "Coverage")["status"] = "cancelled"
    return out


ORDERS: dict[str, tuple[dict[str, Any], list[dict[str, Any]], str, str | None]] = {
    # name: (order, chart, covered, pa-needed)
    "on-label, the chart meets the policy": (
        lumakras(CASES["approve"]),
        chart(CASES["approve"]),
        "covered",
        "satisfied",
    ),
    "on-label, the KRAS result missing": (
        lumakras(CASES["pend"]),
        chart(CASES["pend"]),
        "covered",
        "auth-needed",
    ),
    "over the quantity limit": (
        lumakras(CASES["partial"]),
        chart(CASES["partial"]),
        "covered",
        "auth-needed",
    ),
    "KRAS G12C absent": (
        lumakras(CASES["deny_criteria"]),
        chart(CASES["deny_criteria"]),
        "covered",
        "auth-needed",
    ),
    "off-label: melanoma, investigational": (
        lumakras(CASES["investigational"]),
        chart(CASES["investigational"]),
        "not-covered",
        None,
    ),
    "a drug no policy covers, by RxNorm code": (
        drug_order({"coding": [{"system": RXNORM, "code": "243670", "display": ASPIRIN}]}),
        chart(case()),
        "covered",
        "no-auth",
    ),
    "a drug no policy covers, by text alone": (
        drug_order({"text": ASPIRIN}),
        chart(case()),
        "covered",
        "no-auth",
    ),
    "a drug named only by a code": (
        drug_order({"coding": [{"system": RXNORM, "code": "243670"}]}),
        chart(case()),
        "indeterminate",
        "indeterminate",
    ),
    "a Lumakras order under a cancelled Coverage": (
        lumakras(CASES["approve"]),
        cancelled_coverage(),
        "not-covered",
        None,
    ),
}


@pytest.mark.parametrize("name", list(ORDERS))
def test_every_coverage_information_keeps_every_crd_rule(client: TestClient, name: str) -> None:
    order, chart_resources, covered, pa_needed = ORDERS[name]
    out = call(client, hook_request("order-sign", order, chart_resources))
    assert broken_rules(out) == []
    got = info(out)
    assert (got["covered"], got.get("pa-needed")) == (covered, pa_needed)
    assert got["coverage"] == {"reference": "Coverage/cov-1"}
    assert got["reason"]["text"]
    assert no_empty_json(out) == []


def test_the_crd_example_service_requests_keep_every_crd_rule(client: TestClient) -> None:
    name = "HL7_davinci-crd__input_resources__CRDServiceRequest.order-sign.json"
    body = json.loads(shared(f"research/davinci/{name}").read_text())
    out = call(client, body)
    assert len(out["systemActions"]) == 2
    assert broken_rules(out) == []


def test_a_broken_rule_is_named_with_its_wording() -> None:
    # The checker itself: the answer main gave for an investigational order before this fix.
    ext = {
        "url": CRD_EXT,
        "extension": [
            {"url": "covered", "valueCode": "not-covered"},
            {"url": "pa-needed", "valueCode": "no-auth"},
            {"url": "reason", "valueCodeableConcept": {"text": "Investigational"}},
            {"url": "coverage", "valueReference": {"reference": "Coverage/cov-1"}},
            {"url": "date", "valueDate": "2026-06-15"},
            {"url": "coverage-assertion-id", "valueString": "a-1"},
        ],
    }
    action = {
        "type": "update",
        "description": "coverage information",
        "resource": {"resourceType": "MedicationRequest", "extension": [ext]},
    }
    assert broken_rules({"systemActions": [action]}) == [
        "systemActions[0] extension: crd-ci-q2: When the order is not covered, pa-needed is "
        'absent (no "no-auth" on a refusal).'
    ]


@pytest.mark.parametrize("hook", list(SERVICES))
@pytest.mark.parametrize(
    "concept",
    [
        {"coding": [{"system": RXNORM, "code": "243670", "display": ASPIRIN}]},
        {"text": ASPIRIN},
    ],
    ids=["by-code", "by-text"],
)
def test_a_drug_no_policy_covers_needs_no_prior_authorization(
    client: TestClient, hook: str, concept: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        out = call(client, hook_request(hook, drug_order(concept), chart(case())))
    got = info(out)
    assert (got["covered"], got["pa-needed"]) == ("covered", "no-auth")
    assert "No prior-authorization policy" in got["reason"]["text"]
    assert ASPIRIN in got["reason"]["text"]
    assert broken_rules(out) == []
    assert out["cards"] == []  # nothing to read: the order goes ahead
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_order_without_any_coverage_gets_a_card_instead(client: TestClient) -> None:
    no_coverage = [r for r in chart(case()) if r["resourceType"] != "Coverage"]
    body = hook_request("order-sign", drug_order({"text": ASPIRIN}), no_coverage)
    out = call(client, body)
    # The extension must name the Coverage it is about: without one, none is sent.
    assert "systemActions" not in out
    [card] = out["cards"]
    assert card["summary"].startswith("No coverage found for this patient")


def test_a_later_hook_replaces_the_earlier_coverage_information(client: TestClient) -> None:
    body = hook_request("order-sign", drug_order({"text": ASPIRIN}), chart(case()))
    [action] = call(client, body)["systemActions"]
    order = {**action["resource"], "status": "active"}
    out = call(client, hook_request("order-dispatch", order, chart(case())))
    [dispatched] = out["systemActions"]
    exts = [e for e in dispatched["resource"]["extension"] if e["url"] == CRD_EXT]
    assert len(exts) == 1
    assert {k: v for k, v in dispatched["resource"].items() if k != "extension"} == {
        k: v for k, v in order.items() if k != "extension"
    }


def test_the_discovery_document_has_the_cds_hooks_and_crd_shape(client: TestClient) -> None:
    r = client.get("/cds-services")
    assert r.status_code == 200
    services = r.json()["services"]
    assert no_empty_json(services) == []
    for s in services:
        assert {"hook", "id", "description"} <= set(s)
        assert all(isinstance(v, str) for v in s["prefetch"].values())
        assert s["extension"]["davinci-crd.version"] == ["2.2"]
        [option] = s["extension"]["davinci-crd.configuration-options"]
        assert {"code", "type", "name", "description", "default"} <= set(option)


def test_cards_have_the_cds_hooks_shape_and_a_crd_topic(client: TestClient) -> None:
    out = call(client, hook_request("order-sign", lumakras(CASES["pend"]), chart(CASES["pend"])))
    [card] = out["cards"]
    assert card["indicator"] in ("info", "warning", "critical")
    assert 0 < len(card["summary"]) < 140
    assert card["source"]["label"] == "Example Health Plan"  # the payer, as the patient knows it
    assert card["source"]["topic"]["system"] == (
        "http://terminology.hl7.org/CodeSystem/cdshooks-card-type"
    )
    assert card["source"]["topic"]["code"] == "coverage-info"
    assert all(link["type"] in ("absolute", "smart") for link in card["links"])
    assert no_empty_json(out) == []


def test_an_ehr_that_turns_coverage_information_off_gets_none(client: TestClient) -> None:
    body = hook_request("order-sign", lumakras(CASES["pend"]), chart(CASES["pend"]))
    body["extension"] = {"davinci-crd.configuration": {"coverage-info": False, "max-cards": 5}}
    assert call(client, body) == {"cards": []}


def test_a_failure_while_deciding_is_an_indeterminate_answer_not_a_500(
    app: FastAPI, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    # A real failure: the table the approval is recorded in is gone for the call.
    engine = app.state.service.db.engine
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE coverage_assertions RENAME TO coverage_assertions_away"))
    try:
        with caplog.at_level(logging.ERROR):
            out = call(
                client,
                hook_request("order-sign", lumakras(CASES["approve"]), chart(CASES["approve"])),
            )
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE coverage_assertions_away RENAME TO coverage_assertions"))
    got = info(out)
    assert (got["covered"], got["pa-needed"]) == ("indeterminate", "indeterminate")
    assert got["reason"]["coding"][0]["code"] == "technical"
    assert broken_rules(out) == []
    assert any(r.exc_info for r in caplog.records if r.name == "priorauth.fhir.crd")


def test_a_prefetch_key_sent_as_null_is_not_asked_for_again(client: TestClient) -> None:
    ehr = Loopback(
        {
            "/fhir/Coverage?patient=pat-1&status=active": searchset(
                [r for r in chart(case()) if r["resourceType"] == "Coverage"]
            )
        }
    )
    try:
        body = hook_request("order-sign", drug_order({"text": ASPIRIN}), chart(case()))
        body["prefetch"]["coverage"] = None  # CDS Hooks: the EHR has no such data
        body["fhirServer"] = f"{ehr.url}/fhir"
        out = call(client, body)
    finally:
        ehr.close()
    assert ehr.requests == []
    assert "systemActions" not in out
    assert out["cards"][0]["summary"].startswith("No coverage found")


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"draftOrders": {"resourceType": "Bundle", "entry": "x"}}, "context.draftOrders.entry"),
        ({"draftOrders": {"resourceType": "Bundle", "entry": [1]}}, "context.draftOrders.entry[0]"),
    ],
)
def test_a_malformed_draft_orders_bundle_is_a_clear_error(
    client: TestClient, change: dict[str, Any], where: str
) -> None:
    body = hook_request("order-sign", drug_order({"text": ASPIRIN}), chart(case()))
    body["context"].update(change)
    r = client.post("/cds-services/priorauth-order-sign", json=body, headers=SUBMITTER)
    assert r.status_code == 422
    assert where in str(r.json()["expression"])


def test_a_prefetch_value_that_is_no_bundle_is_left_out(client: TestClient) -> None:
    body = hook_request("order-sign", drug_order({"text": ASPIRIN}), chart(case()))
    body["prefetch"]["conditions"] = {"resourceType": "Bundle", "entry": ["x", 2]}
    assert info(call(client, body))["pa-needed"] == "no-auth"
