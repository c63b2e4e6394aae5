"""The OpenAPI document is complete (every $ref resolves, every error documented as a problem
document, realistic examples that the service accepts) and /docs works offline."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from service_support import SUBMITTER

PROBLEM = "application/problem+json"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def test_every_ref_resolves(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    refs = _refs(doc)
    assert "#/components/schemas/PARequest" in refs
    for ref in refs:
        assert _resolve(doc, ref) is not None, ref
    assert "$defs" not in str(doc)


def test_every_error_is_documented_as_a_problem_document(client: TestClient) -> None:
    """On the JSON API; the FHIR, CDS Hooks and token routes document their own protocols'
    error documents (test_openapi_adapters.py)."""
    doc = client.get("/openapi.json").json()
    adapters = ("/fhir", "/cds-services", "/oauth")
    for path, item in doc["paths"].items():
        if path.startswith(adapters):
            continue
        for method, op in item.items():
            responses = op["responses"]
            expected = {"400", "422", "500"}
            if path != "/health":
                expected |= {"401", "403", "429"}
                assert op["security"] == [{"bearer": []}]
            if method == "post":
                expected |= {"409", "413", "415"}
            if "{case_id}" in path:
                expected.add("404")
            assert expected <= set(responses), (method, path, sorted(responses))
            for code in expected:
                assert PROBLEM in responses[code]["content"], (method, path, code)


def test_the_submit_examples_are_accepted_as_documented(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    media = doc["paths"]["/cases"]["post"]["requestBody"]["content"]["application/json"]
    decisions = {}
    for name, example in media["examples"].items():
        r = client.post("/cases", json=example["value"], headers=SUBMITTER)
        assert r.status_code == 201, (name, r.text)
        decisions[name] = r.json()["status"]
    assert decisions == {
        "approved": "approved",
        "pended": "pended",
        "partial": "partially_approved",
        "investigational": "in_review",
        "renewal": "approved",
    }


def test_the_request_schema_carries_the_limits(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    diagnoses = schemas["PARequest"]["properties"]["diagnoses"]["anyOf"][0]
    assert diagnoses["maxItems"] == 200


def test_swagger_ui_is_served_from_the_package(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert not re.search(r"(src|href)=['\"]https?://", page.text), page.text
    for asset in re.findall(r"(?:src|href)=['\"](/docs/assets/[^'\"]+)", page.text):
        r = client.get(asset)
        assert r.status_code == 200 and len(r.content) > 100, asset
    assert "swagger-ui-bundle.js" in page.text
