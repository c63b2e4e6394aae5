"""Every error answer of every adapter, from a real server, read off the socket: its
Content-Length is the bytes sent, its status the one the refusal calls for, its body the
adapter's error document (problem+json, OperationOutcome, the CDS Hooks error, OAuth 2.0, an HTML
page). The routes come from app.routes: a route added later is walked with nothing to add."""

from __future__ import annotations

import secrets

from fastapi import FastAPI
from http_walk import (
    SUBMITTER_KEY,
    adapter_of,
    check_answer,
    check_shape,
    exchange,
    probes,
    route_table,
    sign_in,
)
from live_server import serve

AUTH = {"Authorization": f"Bearer {SUBMITTER_KEY}"}


def test_every_error_answer_is_complete_and_in_its_adapters_shape(app: FastAPI) -> None:
    mark = f"PATIENTMARK-{secrets.token_hex(4)}"
    with serve(app, log_level="warning") as port:
        walked = probes(app, mark, AUTH, sign_in(port, "demo-reviewer-key"))
        failures = []
        for probe in walked:
            answer = exchange(
                port,
                probe.method,
                probe.target,
                probe.headers,
                probe.body,
                probe.declare,
                probe.source,
            )
            try:
                check_answer(probe, answer)
            except AssertionError as exc:
                failures.append(str(exc).split("\n")[0])
    assert not failures, f"{len(failures)} of {len(walked)} answers wrong:\n" + "\n".join(failures)
    # The walk reached every adapter, and every kind of refusal.
    assert {adapter_of(t) for _, t in route_table(app)} == {"api", "fhir", "cds", "oauth", "web"}
    assert {p.kind for p in walked} >= {
        "no key",
        "unknown key",
        "unknown id",
        "wrong method",
        "wrong media type",
        "malformed JSON",
        "body too large",
        "NUL in the URL",
    }


def test_a_cds_hooks_call_without_a_key_sends_the_bytes_it_declares(app: FastAPI) -> None:
    with serve(app, log_level="warning") as port:
        answer = exchange(
            port,
            "POST",
            "/cds-services/priorauth-order-sign",
            {"Content-Type": "application/json"},
            b'{"hook": "order-sign", "hookInstance": "x", "context": {}}',
        )
    assert answer.status == 401
    assert answer.declared == len(answer.body)
    assert answer.json()["expression"] == ["Authorization"]
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_cds_hooks_refusals_before_the_route_are_cds_errors(app: FastAPI) -> None:
    """A body over the limit, a NUL in the URL, a method the path does not take, an unknown
    path: refused before any hook runs, and still answered as CDS Hooks answers."""
    limit = app.state.limits.max_body_bytes
    with serve(app, log_level="warning") as port:
        answers = {
            413: exchange(
                port,
                "POST",
                "/cds-services/priorauth-order-sign",
                {**AUTH, "Content-Type": "application/json"},
                b"{",
                declare=limit + 1,
            ),
            400: exchange(port, "POST", "/cds-services/x%00", AUTH, b"{}"),
            405: exchange(port, "GET", "/cds-services/priorauth-order-sign", AUTH),
            404: exchange(port, "GET", "/cds-services/a/b", AUTH),
        }
    for status, answer in answers.items():
        assert answer.status == status, (status, answer.body)
        assert answer.declared == len(answer.body)
        check_shape("cds", answer, f"CDS Hooks {status}")
    assert "limit" in answers[413].json()["error"]
    assert answers[405].headers["allow"] == "OPTIONS, POST"


def test_options_lists_every_method_of_the_path(app: FastAPI) -> None:
    with serve(app, log_level="warning") as port:
        cases = exchange(port, "OPTIONS", "/cases")
        refused = exchange(port, "DELETE", "/cases", AUTH)
        subscription = exchange(port, "OPTIONS", "/fhir/Subscription/abc")
        nothing = exchange(port, "OPTIONS", "/no/such/path")
    assert cases.status == 204 and cases.headers["allow"] == "GET, OPTIONS, POST"
    assert refused.status == 405 and refused.headers["allow"] == "GET, OPTIONS, POST"
    assert subscription.headers["allow"] == "DELETE, GET, OPTIONS"
    assert nothing.status == 404
