"""PAS on Bundles beyond the Lumakras paths: an item whose drug no policy covers (an ordinary
answer, NA, beside the items that are decided) and the Bundle rules the FHIR models do not
check (each fullUrl its own, every reference resolving inside the Bundle). SQLite and
PostgreSQL."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir_cases import CASES, PAS, pas_bundle
from service_support import SUBMITTER

FHIR = {**SUBMITTER, "Content-Type": "application/fhir+json"}
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ASPIRIN = {
    "coding": [{"system": RXNORM, "code": "243670", "display": "aspirin 81 MG Oral Tablet"}],
    "text": "aspirin 81 MG Oral Tablet",
}


def post(client: TestClient, operation: str, bundle: Any) -> Any:
    return client.post(f"/fhir/Claim/${operation}", content=json.dumps(bundle), headers=FHIR)


def claim_response(r: Any) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body = r.json()
    Bundle.model_validate(body)
    cr: dict[str, Any] = body["entry"][0]["resource"]
    ClaimResponse.model_validate(cr)
    return cr


def review_codes(cr: dict[str, Any]) -> dict[int, str]:
    out = {}
    for item in cr["item"]:
        action = item["adjudication"][0]["extension"][0]
        code = next(e for e in action["extension"] if e["url"].endswith("reviewActionCode"))
        out[item["itemSequence"]] = code["valueCodeableConcept"]["coding"][0]["code"]
    return out


def outcome_of(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    body = r.json()
    OperationOutcome.model_validate(body)
    issue: dict[str, Any] = body["issue"][0]
    return issue


def _aspirin_order() -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "order-2",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": ASPIRIN,
        "subject": {"reference": "Patient/pat-1"},
        "authoredOn": "2026-06-15",
        "dispenseRequest": {"quantity": {"value": 30, "unit": "tablet"}},
    }


def only_aspirin(claim_id: str = "ASA-1") -> dict[str, Any]:
    """The approvable chart, but the one order is for aspirin."""
    bundle = pas_bundle({**CASES["approve"], "claim_id": claim_id})
    for e in bundle["entry"]:
        if e["resource"]["resourceType"] == "MedicationRequest":
            e["resource"]["medicationCodeableConcept"] = copy.deepcopy(ASPIRIN)
    bundle["entry"][0]["resource"]["item"][0]["productOrService"] = copy.deepcopy(ASPIRIN)
    return bundle


def sotorasib_and_aspirin(claim_id: str = "MIX-1") -> dict[str, Any]:
    """One Claim, two items: sotorasib (approvable) and aspirin (no policy)."""
    bundle = pas_bundle({**CASES["approve"], "claim_id": claim_id})
    order = _aspirin_order()
    bundle["entry"].append(
        {"fullUrl": "http://example.org/fhir/MedicationRequest/order-2", "resource": order}
    )
    bundle["entry"][0]["resource"]["item"].append(
        {
            "sequence": 2,
            "extension": [
                {
                    "url": f"{PAS}/extension-requestedService",
                    "valueReference": {"reference": "MedicationRequest/order-2"},
                }
            ],
            "productOrService": copy.deepcopy(ASPIRIN),
            "servicedDate": "2026-06-15",
        }
    )
    return bundle


# --- a drug without a policy ----------------------------------------------------------------


def test_a_drug_no_policy_covers_needs_no_authorization(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        cr = claim_response(post(client, "submit", only_aspirin()))
    assert review_codes(cr) == {1: "NA"}
    assert cr["outcome"] == "complete"
    assert "preAuthRef" not in cr
    notes = " ".join(n["text"] for n in cr["processNote"])
    assert "aspirin 81 MG Oral Tablet" in notes and "no authorization" in notes
    assert client.get("/cases", headers=SUBMITTER).json() == []  # nothing to decide
    assert not [r for r in caplog.records if r.exc_info], "no traceback in the log"


def test_the_other_items_of_the_claim_are_decided_as_usual(client: TestClient) -> None:
    cr = claim_response(post(client, "submit", sotorasib_and_aspirin()))
    assert review_codes(cr) == {1: "A1", 2: "NA"}
    cases = client.get("/cases", headers=SUBMITTER).json()
    assert len(cases) == 1
    assert cr["preAuthRef"] == cases[0]["id"]


def test_inquire_answers_the_drug_without_a_policy_as_at_submission(client: TestClient) -> None:
    bundle = sotorasib_and_aspirin("MIX-2")
    claim_response(post(client, "submit", bundle))
    cr = claim_response(post(client, "inquire", bundle))
    assert review_codes(cr) == {1: "A1", 2: "NA"}
    # A Claim of aspirin alone was never a case, and still has its answer.
    alone = only_aspirin("ASA-2")
    claim_response(post(client, "submit", alone))
    assert review_codes(claim_response(post(client, "inquire", alone))) == {1: "NA"}


def test_inquire_of_a_claim_never_submitted_is_still_not_found(client: TestClient) -> None:
    issue = outcome_of(post(client, "inquire", pas_bundle(CASES["approve"])), 404)
    assert issue["code"] == "not-found"


# --- Bundle rules ---------------------------------------------------------------------------


def test_a_repeated_full_url_is_refused_naming_the_entry(client: TestClient) -> None:
    bundle = pas_bundle(CASES["approve"])
    bundle["entry"][3]["fullUrl"] = bundle["entry"][1]["fullUrl"]
    issue = outcome_of(post(client, "submit", bundle), 422)
    assert issue["expression"] == ["Bundle.entry[3].fullUrl"]
    assert "entry[1]" in issue["diagnostics"] and "bdl-7" in issue["diagnostics"]
    assert client.get("/cases", headers=SUBMITTER).json() == []
    assert outcome_of(post(client, "inquire", bundle), 422)["expression"] == [
        "Bundle.entry[3].fullUrl"
    ]


def test_the_same_full_url_in_two_versions_is_allowed(client: TestClient) -> None:
    bundle = pas_bundle(CASES["approve"])
    i = next(
        i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "Practitioner"
    )
    older = copy.deepcopy(bundle["entry"][i])
    older["resource"]["meta"] = {"versionId": "1"}
    bundle["entry"][i]["resource"]["meta"] = {"versionId": "2"}
    bundle["entry"].append(older)
    assert review_codes(claim_response(post(client, "submit", bundle))) == {1: "A1"}


@pytest.mark.parametrize(
    ("rtype", "field", "where"),
    [
        ("Coverage", "payor", "payor[0]"),
        ("Observation", "subject", "subject"),
        ("MedicationRequest", "requester", "requester"),
    ],
)
def test_a_reference_to_nothing_in_the_bundle_is_refused_naming_it(
    client: TestClient, rtype: str, field: str, where: str
) -> None:
    bundle = pas_bundle(CASES["approve"])
    i, res = next(
        (i, e["resource"])
        for i, e in enumerate(bundle["entry"])
        if e["resource"]["resourceType"] == rtype
    )
    missing = {"reference": "Organization/nowhere"}
    res[field] = [missing] if isinstance(res[field], list) else missing
    issue = outcome_of(post(client, "submit", bundle), 422)
    assert issue["expression"] == [f"Bundle.entry[{i}].resource.{where}"]
    assert "Organization/nowhere" in issue["diagnostics"]
    assert client.get("/cases", headers=SUBMITTER).json() == []


def test_a_contained_reference_resolves_in_its_resource(client: TestClient) -> None:
    bundle = pas_bundle(CASES["approve"])
    order = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "MedicationRequest"
    )
    order["contained"] = [{"resourceType": "Organization", "id": "pharmacy", "name": "Pharmacy"}]
    order["dispenseRequest"]["performer"] = {"reference": "#pharmacy"}
    assert review_codes(claim_response(post(client, "submit", bundle))) == {1: "A1"}
    order["dispenseRequest"]["performer"] = {"reference": "#elsewhere"}
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = "LUM-CONTAINED"
    issue = outcome_of(post(client, "submit", bundle), 422)
    assert issue["expression"][0].endswith("resource.dispenseRequest.performer")
