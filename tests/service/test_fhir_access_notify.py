"""Subscriptions (rest-hook notifications with retries, to a receiver on loopback), SMART
Backend Services tokens and `priorauth clients register`, the audit of FHIR calls, and
generated bundles that must never give a 5xx."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir_cases import CASES, Loopback, pas_bundle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import RSAKey
from service_support import REVIEWER, SUBMITTER, FakeClock
from sqlalchemy import select
from test_fhir_pas import claim_response, davinci, review_code, submit
from typer.testing import CliRunner

from priorauth.cli import app as cli
from priorauth.fhir.access import register_client
from priorauth.fhir.models import FhirAudit
from priorauth.service.config import get_settings

FHIR = {**SUBMITTER, "Content-Type": "application/fhir+json"}
TOKEN_URL = "http://testserver/oauth/token"


@pytest.fixture
def receiver() -> Iterator[Loopback]:
    server = Loopback(fail_first=1)
    yield server
    server.close()


def subscribe(client: TestClient, endpoint: str, content: str = "full-resource") -> str:
    sub = json.loads(
        davinci(
            "inferno_davinci-pas-test-kit__spec_fixtures__PAS_Subscription_example_v221_good.json"
        ).read_text()
    )
    sub["channel"]["endpoint"] = endpoint
    sub["channel"]["_payload"]["extension"][0]["valueCode"] = content
    sub["channel"]["header"] = ["X-Receiver-Secret: s3cret"]
    r = client.post("/fhir/Subscription", json=sub, headers=FHIR)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "requested"
    return str(r.json()["id"])


def kind(message: dict[str, Any]) -> str:
    params = message["entry"][0]["resource"]["parameter"]
    return str(next(p["valueCode"] for p in params if p["name"] == "type"))


def wait_for(receiver: Loopback, count: int, seconds: float = 15) -> list[dict[str, Any]]:
    """The first `count` event notifications (after the handshake)."""
    end = time.monotonic() + seconds

    def events() -> list[dict[str, Any]]:
        return [m for m in receiver.received if kind(m) == "event-notification"]

    while time.monotonic() < end and len(events()) < count:
        time.sleep(0.05)
    assert len(events()) >= count, receiver.requests
    assert kind(receiver.received[0]) == "handshake"
    return events()


def focus_review_code(notification: dict[str, Any]) -> str:
    Bundle.model_validate(notification)
    assert notification["type"] == "history"
    status = notification["entry"][0]["resource"]
    assert status["resourceType"] == "Parameters"
    return review_code(notification["entry"][1]["resource"])


def test_a_recommended_denial_confirmed_by_a_pharmacist_is_notified_with_retries(
    client: TestClient, receiver: Loopback
) -> None:
    sub_id = subscribe(client, f"{receiver.url}/hook")
    bundle = pas_bundle(CASES["deny_criteria"])
    assert review_code(claim_response(submit(client, bundle))) == "A4"
    first = wait_for(receiver, 1)
    # The first POST (the handshake) failed (500) and was retried.
    assert [m for m, _, _ in receiver.requests].count("POST") >= 3
    assert client.get(f"/fhir/Subscription/{sub_id}", headers=SUBMITTER).json()["status"] == (
        "active"
    )
    assert focus_review_code(first[0]) == "A4"
    assert receiver.requests[-1][2]["X-Receiver-Secret"] == "s3cret"
    case_id = client.get("/cases", headers=SUBMITTER).json()[0]["id"]
    r = client.post(
        f"/cases/{case_id}/review",
        json={"action": "confirm_denial", "reason": "KRAS G12C absent on the test"},
        headers=REVIEWER,
    )
    assert r.status_code == 200
    second = wait_for(receiver, 2)
    assert focus_review_code(second[1]) == "A3"
    # The count is recorded once the receiver has answered: it may lag the delivery a little.
    end = time.monotonic() + 10
    while True:
        status = client.get(f"/fhir/Subscription/{sub_id}/$status", headers=SUBMITTER)
        assert status.status_code == 200
        params = status.json()["entry"][0]["resource"]["parameter"]
        counted = {"name": "events-since-subscription-start", "valueString": "2"} in params
        if counted or time.monotonic() > end:
            break
        time.sleep(0.05)
    assert counted, params
    assert {"name": "status", "valueCode": "active"} in params
    assert client.delete(f"/fhir/Subscription/{sub_id}", headers=SUBMITTER).status_code == 204
    assert client.get(f"/fhir/Subscription/{sub_id}", headers=SUBMITTER).json()["status"] == "off"


def test_id_only_notifications_carry_the_reference_not_the_resource(
    client: TestClient, receiver: Loopback
) -> None:
    receiver.fail_first = 0
    subscribe(client, f"{receiver.url}/hook", "id-only")
    claim_response(submit(client, pas_bundle(CASES["pend"])))
    [note] = wait_for(receiver, 1)
    Bundle.model_validate(note)
    assert "resource" not in note["entry"][1]
    assert note["entry"][1]["fullUrl"].startswith("ClaimResponse/")


def test_another_organization_hears_nothing(client: TestClient, receiver: Loopback) -> None:
    receiver.fail_first = 0
    other = {
        "Authorization": "Bearer demo-other-clinic-key",
        "Content-Type": "application/fhir+json",
    }
    sub = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "PA updates",
        "criteria": "http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic",
        "channel": {
            "type": "rest-hook",
            "endpoint": f"{receiver.url}/other",
            "payload": "application/fhir+json",
        },
    }
    assert client.post("/fhir/Subscription", json=sub, headers=other).status_code == 201
    end = time.monotonic() + 10
    while not receiver.received and time.monotonic() < end:
        time.sleep(0.05)
    claim_response(submit(client, pas_bundle(CASES["pend"])))
    time.sleep(1.5)  # several delivery rounds
    assert [kind(m) for m in receiver.received] == ["handshake"]


def test_a_subscription_on_another_topic_is_refused(client: TestClient) -> None:
    sub = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "x",
        "criteria": "Patient?name=x",
        "channel": {"type": "rest-hook", "endpoint": "http://127.0.0.1:9/"},
    }
    r = client.post("/fhir/Subscription", json=sub, headers=FHIR)
    assert r.status_code == 422
    assert r.json()["issue"][0]["expression"] == ["Subscription.criteria"]


# --- SMART Backend Services ------------------------------------------------------------------


@pytest.fixture
def key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS384"})


def jwks(key: RSAKey) -> dict[str, Any]:
    return {"keys": [key.as_dict(private=False)]}


def assertion(key: RSAKey, client_id: str, now: float, **changes: Any) -> str:
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "exp": int(now) + 240,
        "jti": str(uuid.uuid4()),
        **changes,
    }
    return jwt.encode(
        {"alg": "RS384", "kid": "k1", "typ": "JWT"}, claims, key, algorithms=["RS384"]
    )


def token_form(signed: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "scope": "system/Claim.write",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": signed,
    }


def test_a_backend_client_trades_a_signed_assertion_for_a_token_and_submits(
    client: TestClient, key: RSAKey, clock: FakeClock
) -> None:
    service = client.app.state.service  # type: ignore[attr-defined]
    cid = register_client(service.db, "EHR backend", "submitter", "demo-clinic", jwks(key))
    signed = assertion(key, cid, clock().timestamp())
    r = client.post("/oauth/token", data=token_form(signed))
    assert r.status_code == 200, r.text
    tok = r.json()
    assert tok["token_type"] == "bearer" and tok["expires_in"] == 300
    headers = {
        "Authorization": f"Bearer {tok['access_token']}",
        "Content-Type": "application/fhir+json",
    }
    cr = claim_response(submit(client, pas_bundle(CASES["approve"]), headers))
    assert review_code(cr) == "A1"
    # The demo clinic's API key sees the case: the client acts for the same organization.
    assert len(client.get("/cases", headers=SUBMITTER).json()) == 1
    # The case's events name the client; calls that touch no case are in fhir_audit.
    case_id = client.get("/cases", headers=SUBMITTER).json()[0]["id"]
    events = client.get(f"/cases/{case_id}/history", headers=SUBMITTER).json()
    assert events[0]["actor"] == f"EHR backend (client {cid})"
    client.get("/fhir/Subscription/none", headers=headers)
    with service.db.reading() as s:
        actors = {a.actor for a in s.scalars(select(FhirAudit)).all()}
    assert f"EHR backend (client {cid})" in actors
    # An assertion is good once; a token lives five minutes.
    again = client.post("/oauth/token", data=token_form(signed))
    assert again.status_code == 400 and again.json()["error"] == "invalid_client"
    clock.advance(minutes=6)
    late = submit(client, pas_bundle(CASES["approve"]), headers)
    assert late.status_code == 401


@pytest.mark.parametrize(
    ("label", "changes", "error"),
    [
        ("wrong audience", {"aud": "http://elsewhere/token"}, "invalid_client"),
        ("expired", {"exp": 1_000}, "invalid_client"),
        ("no jti", {"jti": None}, "invalid_client"),
        ("unknown client", {"iss": "client_nobody", "sub": "client_nobody"}, "invalid_client"),
    ],
)
def test_bad_assertions_are_refused(
    client: TestClient,
    key: RSAKey,
    clock: FakeClock,
    label: str,
    changes: dict[str, Any],
    error: str,
) -> None:
    service = client.app.state.service  # type: ignore[attr-defined]
    cid = register_client(service.db, "EHR", "submitter", "demo-clinic", jwks(key))
    claims = {k: v for k, v in changes.items() if v is not None}
    signed = assertion(key, cid, clock().timestamp(), **claims)
    if "jti" in changes and changes["jti"] is None:
        payload = {"iss": cid, "sub": cid, "aud": TOKEN_URL, "exp": int(clock().timestamp()) + 60}
        signed = jwt.encode({"alg": "RS384", "kid": "k1"}, payload, key, algorithms=["RS384"])
    r = client.post("/oauth/token", data=token_form(signed))
    assert r.status_code == 400 and r.json()["error"] == error, r.text


def test_an_assertion_signed_by_another_key_is_refused(
    client: TestClient, key: RSAKey, clock: FakeClock
) -> None:
    service = client.app.state.service  # type: ignore[attr-defined]
    cid = register_client(service.db, "EHR", "submitter", "demo-clinic", jwks(key))
    thief = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    r = client.post("/oauth/token", data=token_form(assertion(thief, cid, clock().timestamp())))
    assert r.status_code == 400 and "signature" in r.json()["error_description"]


def test_clients_register_prints_a_client_id(
    tmp_path: Path, key: RSAKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ehr.jwks.json"
    path.write_text(json.dumps(jwks(key)))
    monkeypatch.setenv("PRIORAUTH_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    get_settings.cache_clear()
    try:
        args = [
            "clients",
            "register",
            "--jwks",
            str(path),
            "--role",
            "submitter",
            "--org",
            "demo-clinic",
        ]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert result.output.strip().startswith("client_")
        private = tmp_path / "private.json"
        private.write_text(json.dumps({"keys": [key.as_dict(private=True)]}))
        result = CliRunner().invoke(cli, [*args[:2], "--jwks", str(private), *args[4:]])
        assert result.exit_code == 2 and "private key" in result.output
    finally:
        get_settings.cache_clear()


# --- generated bundles -------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


GOOD = pas_bundle(CASES["approve"])
PATHS = [p for p in _paths(GOOD) if p]


@st.composite
def damaged_bundles(draw: st.DrawFn) -> Any:
    bundle = copy.deepcopy(GOOD)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        node: Any = bundle
        try:
            for part in path[:-1]:
                node = node[part]
            if draw(st.booleans()):
                node[path[-1]] = draw(JSON)
            elif isinstance(node, dict):
                node.pop(path[-1], None)
        except (KeyError, IndexError, TypeError):
            continue
    return bundle


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=damaged_bundles() | JSON)
def test_generated_bundles_never_give_a_5xx(client: TestClient, body: Any) -> None:
    r = client.post("/fhir/Claim/$submit", content=json.dumps(body), headers=FHIR)
    assert r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=JSON,
    where=st.sampled_from(
        [
            "/cds-services/priorauth-order-sign",
            "/cds-services/priorauth-order-dispatch",
            "/fhir/Questionnaire/$questionnaire-package",
            "/fhir/Questionnaire/$next-question",
            "/fhir/Claim/$inquire",
            "/fhir/Subscription",
        ]
    ),
)
def test_generated_bodies_on_the_other_endpoints_never_give_a_5xx(
    client: TestClient, body: Any, where: str
) -> None:
    r = client.post(where, content=json.dumps(body), headers=FHIR)
    assert r.status_code < 500, r.text
