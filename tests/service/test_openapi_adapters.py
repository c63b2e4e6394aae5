"""The OpenAPI document describes every route a client can call, the FHIR, CDS Hooks and token
routes among them, with the media types and error documents they really answer with, and states
the rules the server holds requests to (schemathesis checks the rest: test_service_fuzz.py)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from http_walk import route_table
from service_support import ADMIN, SUBMITTER, submit

# Pages and the document itself, not API operations.
NOT_OPERATIONS = {"/", "/docs", "/openapi.json"}


def _document(client: TestClient) -> dict[str, Any]:
    doc: dict[str, Any] = client.get("/openapi.json").json()
    return doc


def test_every_route_but_the_pages_is_in_the_document(app: FastAPI, client: TestClient) -> None:
    paths = _document(client)["paths"]
    missing = [
        f"{method} {path}"
        for method, path in route_table(app)
        if not path.startswith("/ui") and path not in NOT_OPERATIONS
        if method.lower() not in paths.get(re.sub(r":\w+}", "}", path), {})
    ]
    assert missing == []
    assert "/fhir/Claim/$submit" in paths and "/cds-services/{service_id}" in paths


def test_fhir_operations_take_fhir_json_and_answer_operation_outcomes(client: TestClient) -> None:
    paths = _document(client)["paths"]
    submit_op = paths["/fhir/Claim/$submit"]["post"]
    assert "application/fhir+json" in submit_op["requestBody"]["content"]
    for path, item in paths.items():
        for method, operation in item.items():
            errors = {c: r for c, r in operation["responses"].items() if c[0] in "45"}
            expected = {
                "/fhir": ("application/fhir+json", "OperationOutcome"),
                "/cds-services": ("application/json", "CdsHooksError"),
                "/oauth": ("application/json", "OAuthError"),
            }.get("/" + path.split("/")[1], ("application/problem+json", "Problem"))
            assert errors, f"{method} {path}: no error responses"
            for code, response in errors.items():
                media, schema = expected
                assert list(response["content"]) == [media], (method, path, code)
                ref = response["content"][media]["schema"]["$ref"]
                assert ref.endswith("/" + schema), (method, path, code)


def test_public_adapter_routes_ask_for_no_key(client: TestClient) -> None:
    paths = _document(client)["paths"]
    for path in ("/fhir/metadata", "/cds-services"):
        assert paths[path]["get"]["security"] == []
    assert paths["/oauth/token"]["post"]["security"] == []
    assert paths["/fhir/Claim/$submit"]["post"]["security"] == [{"bearer": []}]


def test_the_document_states_the_text_rule_and_what_information_takes(
    client: TestClient,
) -> None:
    doc = _document(client)
    reason = doc["components"]["schemas"]["ReviewBody"]["properties"]["reason"]
    assert re.fullmatch(reason["pattern"], "NSCLC confirmed\tby pathology")
    assert not re.fullmatch(reason["pattern"], "a NUL \x00 inside")
    info = doc["paths"]["/cases/{case_id}/information"]["post"]["requestBody"]
    schema = info["content"]["application/json"]["schema"]
    assert schema["minProperties"] == 1 and schema["additionalProperties"] is False
    assert "answers" in schema["properties"]
    attestations = doc["components"]["schemas"]["PARequest"]["properties"]["attestations"]
    keys = next(o for o in attestations["anyOf"] if o.get("type") == "object")["propertyNames"]
    assert not re.fullmatch(keys["pattern"], "liver\x10")


def test_a_period_whose_start_is_after_its_end_is_empty(client: TestClient) -> None:
    submit(client, "nsclc-initial-approve")
    r = client.get("/metrics/prior-authorization?from=2026-12-31&to=2026-01-01", headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["standard"]["received"] == 0
    r = client.get("/metrics/prior-authorization?from=2026-01-01&to=9999-12-31", headers=ADMIN)
    assert r.status_code == 200 and r.json()["standard"]["received"] == 1
    assert client.get("/cases", headers=SUBMITTER).status_code == 200
