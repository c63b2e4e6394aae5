"""Continuity of care through the service: another payer's authorization sent with the JSON
API, in a PAS Claim's supportingInfo or in a Claim in a CRD hook's prefetch is honored for 90
days and recorded as an authorization; every approval says its basis. Runs on SQLite and
PostgreSQL."""

from __future__ import annotations

import copy
import json
from typing import Any

from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir_cases import CASES, pas_bundle
from service_support import REVIEWER, SUBMITTER, assert_problem, example, submit
from test_fhir_dtr_crd import _sign_request, coverage_info, hook

FHIR = {**SUBMITTER, "Content-Type": "application/fhir+json"}
ANOTHER_PAYER = {
    "payer": "aetna-commercial",
    "number": "AET-2026-004417",
    "drug": "sotorasib",
    "start": "2026-01-12",
    "end": "2026-07-11",
}


def test_a_pend_with_another_payers_authorization_is_approved_for_90_days(
    client: TestClient,
) -> None:
    body = {**example("nsclc-initial-pend"), "prior_authorization": ANOTHER_PAYER}
    case = submit(client, body)
    assert case["status"] == "approved"
    det = case["determination"]
    assert det["approval_basis"] == "continuity_of_care"
    assert det["authorization"]["start"] == "2026-06-15"
    assert det["authorization"]["end"] == "2026-09-12"
    assert "AET-2026-004417" in det["reasons"][0]["text"]
    member = body["member"]["id"]
    auths = client.get(f"/members/{member}/authorizations", headers=SUBMITTER).json()
    assert [(a["start"], a["end"]) for a in auths] == [("2026-06-15", "2026-09-12")]


def test_an_expired_authorization_leaves_the_pend_and_says_why(client: TestClient) -> None:
    expired = {**ANOTHER_PAYER, "end": "2026-06-14"}
    case = submit(client, {**example("nsclc-initial-pend"), "prior_authorization": expired})
    assert case["status"] == "pended"
    assert case["determination"]["approval_basis"] is None
    texts = [r["text"] for r in case["determination"]["reasons"]]
    assert any("expired on 2026-06-14" in t for t in texts), texts


def test_an_authorization_starting_after_it_ends_is_refused_naming_the_field(
    client: TestClient,
) -> None:
    backwards = {**ANOTHER_PAYER, "start": "2026-08-01"}
    r = client.post(
        "/cases",
        json={**example("nsclc-initial-pend"), "prior_authorization": backwards},
        headers=SUBMITTER,
    )
    assert_problem(r, 422, "prior_authorization.start")


def test_approvals_say_their_basis_and_a_pharmacists_overturn_is_criteria_met(
    client: TestClient,
) -> None:
    assert submit(client, "nsclc-initial-approve")["determination"]["approval_basis"] == (
        "criteria_met"
    )
    denied = submit(client, "investigational-deny")
    assert denied["determination"]["approval_basis"] is None
    r = client.post(
        f"/cases/{denied['id']}/review",
        json={"action": "overturn", "reason": "off-label use supported by the tumor board"},
        headers=REVIEWER,
    )
    assert r.status_code == 200, r.text
    assert r.json()["determination"]["approval_basis"] == "criteria_met"


def _prior_authorization_info(**changes: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "sequence": 1,
        "category": {
            "coding": [
                {"system": "urn:priorauth:supporting-info", "code": "prior-authorization"},
                {
                    "system": "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASSupportingInfoType",
                    "code": "additionalInformation",
                },
            ]
        },
        "code": {"text": "Lumakras"},
        "timingPeriod": {"start": "2026-01-12", "end": "2026-07-11"},
        "valueReference": {
            "type": "ClaimResponse",
            "identifier": {
                "value": "AET-2026-004417",
                "assigner": {"display": "aetna-commercial"},
            },
        },
    }
    info.update(changes)
    return info


def _with_info(bundle: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(bundle)
    out["entry"][0]["resource"]["supportingInfo"] = [info]
    return out


def test_pas_reads_the_authorization_from_the_claims_supporting_info(
    client: TestClient,
) -> None:
    bundle = _with_info(pas_bundle(CASES["pend"]), _prior_authorization_info())
    r = client.post("/fhir/Claim/$submit", content=json.dumps(bundle), headers=FHIR)
    assert r.status_code == 200, r.text
    Bundle.model_validate(r.json())
    cr = r.json()["entry"][0]["resource"]
    ClaimResponse.model_validate(cr)
    assert cr["preAuthPeriod"] == {"start": "2026-06-15", "end": "2026-09-12"}
    notes = [n["text"] for n in cr["processNote"]]
    assert "Approval basis: continuity_of_care (continuity of care)" in notes
    assert any("AET-2026-004417 from aetna-commercial" in n for n in notes), notes
    case = client.get("/cases", headers=SUBMITTER).json()[0]
    assert case["determination"]["approval_basis"] == "continuity_of_care"


def test_pas_names_the_supporting_info_element_a_prior_authorization_lacks(
    client: TestClient,
) -> None:
    info = _prior_authorization_info()
    del info["valueReference"]["identifier"]["assigner"]
    bundle = _with_info(pas_bundle(CASES["pend"]), info)
    r = client.post("/fhir/Claim/$submit", content=json.dumps(bundle), headers=FHIR)
    assert r.status_code == 422, r.text
    issue = OperationOutcome.model_validate(r.json()).issue[0]
    assert issue.expression == [
        "Bundle.entry[0].resource.supportingInfo[0].valueReference.identifier.assigner"
    ]


def test_crd_reads_the_authorization_from_a_claim_in_prefetch(client: TestClient) -> None:
    body = _sign_request(CASES["pend"])
    claim = copy.deepcopy(pas_bundle(CASES["pend"])["entry"][0]["resource"])
    claim["supportingInfo"] = [_prior_authorization_info()]
    body["prefetch"]["priorAuthorization"] = claim
    out = hook(client, "priorauth-order-sign", body)
    [action] = out["systemActions"]
    info = coverage_info(action)
    assert (info["covered"], info["pa-needed"]) == ("covered", "satisfied")
    assert "honored" in out["cards"][0]["summary"]
    assert "AET-2026-004417" in out["cards"][0]["detail"]
