"""The service's one text rule and its refusals before a route runs, on the FHIR API: answered
as OperationOutcomes, and nothing stored. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from fhir_cases import CASES, pas_bundle
from service_support import REVIEWER, SUBMITTER
from test_fhir_pas import outcome_of

FHIR = {**SUBMITTER, "Content-Type": "application/fhir+json"}


def _with_histology(text: str) -> str:
    bundle = pas_bundle(CASES["approve"])
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Condition":
            entry["resource"]["code"]["text"] = text
            break
    # json.dumps writes a lone surrogate as the escape a client would send.
    return json.dumps(bundle)


@pytest.mark.parametrize("bad", ["x\udfff", "s\ud800", "nul\x00here", "bell\x07"])
def test_text_a_database_cannot_keep_is_refused_and_nothing_is_stored(
    client: TestClient, bad: str
) -> None:
    issue = outcome_of(
        client.post("/fhir/Claim/$submit", content=_with_histology(bad), headers=FHIR), 422
    )
    assert "contains" in issue["diagnostics"]
    assert client.get("/cases", headers=REVIEWER).json() == []


def test_a_duplicate_key_is_refused(client: TestClient) -> None:
    body = '{"resourceType": "Bundle", "type": "collection", "type": "transaction"}'
    issue = outcome_of(client.post("/fhir/Claim/$submit", content=body, headers=FHIR), 422)
    assert "appears twice" in issue["diagnostics"]


def test_a_nul_in_the_url_is_an_operationoutcome_of(client: TestClient) -> None:
    issue = outcome_of(client.get("/fhir/Claim/abc%00def", headers=FHIR), 400)
    assert "NUL" in issue["diagnostics"]


def test_a_body_over_the_service_limit_is_an_operationoutcome_of(client: TestClient) -> None:
    body = b'{"resourceType": "Bundle", "entry": [' + b'{"x": 1},' * 200_000 + b'{"x": 1}]}'
    issue = outcome_of(client.post("/fhir/Claim/$submit", content=body, headers=FHIR), 413)
    assert issue["code"] == "too-costly"
