"""Errors are RFC 9457 problem documents naming the field, and never a 5xx."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_support import ADMIN, REVIEWER, SUBMITTER, assert_problem, example, submit

APPROVE = example("nsclc-initial-approve")


def changed(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    body = copy.deepcopy(APPROVE)
    change(body)
    return body


def post_raw(client: TestClient, content: bytes) -> Any:
    return client.post(
        "/cases", content=content, headers={**SUBMITTER, "Content-Type": "application/json"}
    )


# --- the problem document names the field ---------------------------------------------------


def test_malformed_json_is_a_problem_naming_the_request(client: TestClient) -> None:
    doc = assert_problem(post_raw(client, b'{"kind": "initial",'), 422, "request")
    assert "JSON" in doc["detail"]


def test_empty_body_is_a_problem_naming_the_body(client: TestClient) -> None:
    assert_problem(post_raw(client, b""), 422, "body")
    assert_problem(post_raw(client, b"  \n"), 422, "body")


def test_json_that_is_not_an_object_is_refused(client: TestClient) -> None:
    for raw in (b"[]", b"null", b"42", b'"text"'):
        assert_problem(post_raw(client, raw), 422, "request")


def test_unknown_top_level_field_is_named(client: TestClient) -> None:
    r = client.post("/cases", json=changed(lambda b: b.update(priority="high")), headers=SUBMITTER)
    doc = assert_problem(r, 422, "priority")
    assert "unknown field" in doc["detail"]


def test_unknown_nested_field_is_named_with_its_path(client: TestClient) -> None:
    body = changed(lambda b: b["diagnoses"][0].update(stage="IV"))
    assert_problem(client.post("/cases", json=body, headers=SUBMITTER), 422, "diagnoses[0].stage")


def test_bad_date_is_named(client: TestClient) -> None:
    body = changed(lambda b: b.update(date_of_service="2026-02-30"))
    assert_problem(client.post("/cases", json=body, headers=SUBMITTER), 422, "date_of_service")


def test_birth_after_service_is_named(client: TestClient) -> None:
    body = changed(lambda b: b["member"].update(birth_date="2030-01-01"))
    assert_problem(client.post("/cases", json=body, headers=SUBMITTER), 422, "member.birth_date")


def test_unknown_drug_is_named(client: TestClient) -> None:
    body = changed(lambda b: b["medication"].update(name="Notadrug"))
    doc = assert_problem(
        client.post("/cases", json=body, headers=SUBMITTER), 422, "medication.name"
    )
    assert "Notadrug" in doc["detail"]


def test_number_written_as_a_string_is_named(client: TestClient) -> None:
    body = changed(lambda b: b["medication"].update(quantity="90"))
    assert_problem(client.post("/cases", json=body, headers=SUBMITTER), 422, "medication.quantity")


def test_strength_the_drug_does_not_come_in_is_named(client: TestClient) -> None:
    body = changed(lambda b: b["medication"].update(strength_mg=100))
    r = client.post("/cases", json=body, headers=SUBMITTER)
    assert_problem(r, 422, "medication.strength_mg")


def test_attestation_the_policy_does_not_ask_for_is_named(client: TestClient) -> None:
    body = changed(lambda b: b.update(attestations={"liver_monitorng": True}))
    r = client.post("/cases", json=body, headers=SUBMITTER)
    doc = assert_problem(r, 422, "attestations.liver_monitorng")
    assert "liver_function_monitoring" in doc["detail"]


@pytest.mark.parametrize(
    "path,field",
    [
        ("/authorizations/expiring?within_days=soon", "within_days"),
        ("/authorizations/expiring?within_days=-1", "within_days"),
        ("/cases?limit=0", "limit"),
        ("/metrics/prior-authorization?from=2026-01-01&to=June", "to"),
        ("/metrics/prior-authorization?to=2026-01-31", "from"),
        ("/metrics/prior-authorization?from=2026-01-01&to=2026-01-31&format=xml", "format"),
    ],
)
def test_bad_query_parameter_is_named(client: TestClient, path: str, field: str) -> None:
    assert_problem(client.get(path, headers=ADMIN), 422, field)


def test_unknown_case_is_a_404_problem(client: TestClient) -> None:
    assert_problem(client.get("/cases/no-such-case", headers=REVIEWER), 404)


def test_unknown_route_is_a_404_problem(client: TestClient) -> None:
    assert_problem(client.get("/nowhere", headers=REVIEWER), 404)


def test_wrong_method_is_a_405_problem(client: TestClient) -> None:
    assert_problem(client.delete("/cases", headers=REVIEWER), 405)


def test_review_body_that_is_not_json_is_a_422_problem(client: TestClient) -> None:
    case = submit(client, "investigational-deny")
    r = client.post(
        f"/cases/{case['id']}/review",
        content=b"{oops",
        headers={**REVIEWER, "Content-Type": "application/json"},
    )
    assert_problem(r, 422)


# --- never a 5xx --------------------------------------------------------------------------

BAD_SUBMISSIONS: dict[str, bytes] = {
    "truncated json": b'{"kind": "initial", "member": {',
    "not utf-8": b'{"kind": "\xff\xfe"}',
    "lone surrogate": b'{"kind": "\\ud800"}',
    "deeply nested": b"[" * 5000 + b"]" * 5000,
    "huge number": json.dumps(APPROVE).replace('"quantity": 90', '"quantity": 1e400').encode(),
    "NaN": json.dumps(APPROVE).replace('"quantity": 90', '"quantity": NaN').encode(),
    "quantity near float max": json.dumps(
        changed(lambda b: b["medication"].update(quantity=1e308))
    ).encode(),
    "days supply huge int": json.dumps(
        changed(lambda b: b["medication"].update(days_supply=10**40))
    ).encode(),
    "negative quantity": json.dumps(
        changed(lambda b: b["medication"].update(quantity=-90))
    ).encode(),
    "date of service in year 9999": json.dumps(
        changed(lambda b: b.update(date_of_service="9999-12-31"))
    ).encode(),
    "date of service in year 1": json.dumps(
        changed(lambda b: b.update(date_of_service="0001-01-01"))
    ).encode(),
    "member id of 65 characters": json.dumps(
        changed(lambda b: b["member"].update(id="M" * 65))
    ).encode(),
    "member id with a NUL": json.dumps(
        changed(lambda b: b["member"].update(id="M-1\u00002"))
    ).encode(),
    "prescriber name with a NUL": json.dumps(
        changed(lambda b: b["prescriber"].update(name="Dr\u0000X"))
    ).encode(),
    "diagnoses as a string": json.dumps(changed(lambda b: b.update(diagnoses="C34.11"))).encode(),
    "biomarker null": json.dumps(changed(lambda b: b.update(biomarkers=[None]))).encode(),
    "answers not a mapping": json.dumps(changed(lambda b: b.update(answers=[True]))).encode(),
    "10k diagnoses": json.dumps(
        changed(lambda b: b.update(diagnoses=b["diagnoses"] * 10_000))
    ).encode(),
}


@pytest.mark.parametrize("raw", BAD_SUBMISSIONS.values(), ids=BAD_SUBMISSIONS.keys())
def test_bad_submission_is_never_a_server_error(client: TestClient, raw: bytes) -> None:
    r = post_raw(client, raw)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert_problem(r, r.status_code)


BAD_READS = {
    "case id with a NUL": "/cases/a%00b",
    "history of a case id with a NUL": "/cases/a%00b/history",
    "member id with a NUL": "/members/a%00b/authorizations",
    "very long case id": "/cases/" + "x" * 5000,
    "cases filtered by a NUL status": "/cases?status=%00",
    "limit beyond the maximum": "/cases?limit=100000",
    "expiring within a huge window": "/authorizations/expiring?within_days=99999999999999999999",
    "metrics up to the last date": "/metrics/prior-authorization?from=2026-01-01&to=9999-12-31",
    "metrics from after to": "/metrics/prior-authorization?from=2026-12-31&to=2026-01-01",
    "metrics with a datetime": "/metrics/prior-authorization?from=2026-01-01T00:00&to=2026-02-01",
}


@pytest.mark.parametrize("path", BAD_READS.values(), ids=BAD_READS.keys())
def test_bad_read_is_never_a_server_error(client: TestClient, path: str) -> None:
    r = client.get(path, headers=ADMIN)
    assert r.status_code < 500, r.text


def test_bad_information_is_never_a_server_error(client: TestClient) -> None:
    case = submit(client, "nsclc-initial-pend")
    url = f"/cases/{case['id']}/information"
    for body in (
        {"answers": {"initial.nsclc.kras_g12c": "yes"}},
        {"diagnoses": [{"code": "C34.31", "extent": "everywhere"}]},
        {"biomarkers": "KRAS"},
        {"attestations": [1]},
        {"disease_status": {"progression": 1}},
    ):
        r = client.post(url, json=body, headers=SUBMITTER)
        assert r.status_code < 500, (body, r.text)
        assert_problem(r, 422)


# --- random bodies ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [*APPROVE, "member.id", "member.birth_date", "medication.quantity", "medication.name"]


@st.composite
def json_ish_bodies(draw: st.DrawFn) -> bytes:
    """Random JSON, the example with one field replaced by random JSON, or cut-off text."""
    kind = draw(st.sampled_from(["random", "mutated", "truncated"]))
    if kind == "random":
        return json.dumps(draw(json_values)).encode()
    body = copy.deepcopy(APPROVE)
    field = draw(st.sampled_from(FIELDS))
    target, _, leaf = field.rpartition(".")
    holder = body[target] if target else body
    holder[leaf] = draw(json_values)
    text = json.dumps(body)
    if kind == "truncated":
        text = text[: draw(st.integers(0, len(text) - 1))]
    return text.encode()


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=json_ish_bodies())
def test_random_json_ish_submissions_are_never_a_server_error(
    client: TestClient, raw: bytes
) -> None:
    r = post_raw(client, raw)
    assert r.status_code < 500, (raw, r.text)
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json")
