"""What an attacker and a new user found (issue 7), each as a test on SQLite and PostgreSQL:
text that breaks a case, unaudited reads, NUL characters, size limits, media types, duplicate
keys, API keys (names, throttling, revocation), overturned determinations, filters, validation
errors, logs."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_support import (
    ADMIN,
    OTHER_CLINIC,
    REVIEWER,
    REVIEWER2,
    SUBMITTER,
    assert_problem,
    bearer,
    denied_case,
    example,
    submit,
)
from sqlalchemy import text

from priorauth.server import create_app
from priorauth.service.auth import create_key, revoke_key
from priorauth.service.config import Settings
from priorauth.service.models import Event

JSON = {"Content-Type": "application/json"}


def post_json(client: TestClient, url: str, raw: bytes, headers: dict[str, str]) -> Any:
    return client.post(url, content=raw, headers={**headers, **JSON})


def pended(client: TestClient) -> str:
    case_id: str = submit(client, "nsclc-initial-pend")["id"]
    return case_id


# --- 1. text that no encoder can carry never gets in ----------------------------------------


def test_lone_surrogate_in_a_withdrawal_reason_is_refused_and_the_case_stays_readable(
    client: TestClient,
) -> None:
    case_id = pended(client)
    r = post_json(client, f"/cases/{case_id}/withdraw", b'{"reason": "x\\udfff"}', SUBMITTER)
    doc = assert_problem(r, 422, "reason")
    assert "surrogate" in doc["detail"]
    assert client.get(f"/cases/{case_id}/history", headers=SUBMITTER).status_code == 200
    assert client.get(f"/cases/{case_id}", headers=SUBMITTER).json()["status"] == "pended"


def test_lone_surrogate_in_information_is_refused_and_the_trace_stays_readable(
    client: TestClient,
) -> None:
    case_id = pended(client)
    raw = b'{"diagnoses": [{"code": "C34.11", "histology": "s\\udc00"}]}'
    r = post_json(client, f"/cases/{case_id}/information", raw, SUBMITTER)
    assert_problem(r, 422, "diagnoses[0].histology")
    assert client.get(f"/cases/{case_id}/trace", headers=SUBMITTER).status_code == 200


def test_lone_surrogate_as_an_answer_key_is_a_422_not_a_500(client: TestClient) -> None:
    case_id = pended(client)
    r = post_json(
        client, f"/cases/{case_id}/information", b'{"answers": {"\\ud800": true}}', SUBMITTER
    )
    doc = assert_problem(r, 422, "answers")
    assert "\\ud800" not in json.dumps(doc, ensure_ascii=False) or "U+D800" in doc["detail"]


def test_text_stored_before_the_rule_is_still_served(client: TestClient, app: FastAPI) -> None:
    """A surrogate already in the database (written before the rule) does not make the case
    unreadable: the response writes it as a JSON escape."""
    case_id = pended(client)
    with app.state.service.db.session() as s:
        s.add(
            Event(
                case_id=case_id,
                at=dt.datetime.now(dt.UTC),
                actor="old",
                role="submitter",
                action="withdrawn",
                detail={"reason": "x\udfff"},
            )
        )
    r = client.get(f"/cases/{case_id}/history", headers=SUBMITTER)
    assert r.status_code == 200
    assert [e["detail"]["reason"] for e in r.json() if e["actor"] == "old"] == ["x\udfff"]


# --- 3. one rule for every free-text field, on both databases ------------------------------

FREE_TEXT = {
    "review reason": ("review", {"action": "confirm_denial", "reason": "no\u0000basis"}, "reason"),
    "appeal reason": ("appeal", {"reason": "new\u0000biopsy"}, "reason"),
    "withdrawal reason": ("withdraw", {"reason": "changed\u0000plan"}, "reason"),
    "histology": (
        "information",
        {"diagnoses": [{"code": "C34.11", "histology": "adeno\u0000carcinoma"}]},
        "diagnoses[0].histology",
    ),
    "escape character": ("withdraw", {"reason": "changed \u001b[31mplan"}, "reason"),
}


@pytest.mark.parametrize("action,body,field", FREE_TEXT.values(), ids=FREE_TEXT.keys())
def test_control_characters_in_free_text_are_refused_alike_on_both_databases(
    client: TestClient, action: str, body: dict[str, Any], field: str
) -> None:
    if action == "review":
        case_id, who = submit(client, "investigational-deny")["id"], REVIEWER
    elif action == "appeal":
        case_id, who = denied_case(client)["id"], SUBMITTER
    else:
        case_id, who = pended(client), SUBMITTER
    r = client.post(f"/cases/{case_id}/{action}", json=body, headers=who)
    doc = assert_problem(r, 422, field)
    assert "control character" in doc["detail"]
    history = client.get(f"/cases/{case_id}/history", headers=REVIEWER).json()
    assert all(
        e["action"] == "read" or e["action"] in ("submitted", "evaluated", "confirm_denial")
        for e in history
    )


def test_nul_in_a_submitted_request_is_refused(client: TestClient) -> None:
    body = example("nsclc-initial-approve")
    body["diagnoses"][0]["histology"] = "adeno\u0000"
    assert_problem(
        client.post("/cases", json=body, headers=SUBMITTER), 422, "diagnoses[0].histology"
    )


def test_tab_and_newline_in_a_reason_are_kept(client: TestClient) -> None:
    case_id = submit(client, "investigational-deny")["id"]
    reason = "line one\n\tline two"
    r = client.post(
        f"/cases/{case_id}/review",
        json={"action": "confirm_denial", "reason": reason},
        headers=REVIEWER,
    )
    assert r.status_code == 200, r.text
    assert r.json()["decision_reason"] == reason


# --- 2. every read of a case is audited -----------------------------------------------------


def _reads(client: TestClient, case_id: str) -> list[dict[str, Any]]:
    events = client.get(f"/cases/{case_id}/history", headers=ADMIN).json()
    return [e for e in events if e["action"] == "read" and e["actor"] == "Pharmacist A"]


@pytest.mark.parametrize(
    "path,what",
    [
        ("/cases/{id}", "case"),
        ("/cases/{id}/trace", "trace"),
        ("/cases/{id}/history", "history"),
        ("/cases?limit=10", "case list"),
        ("/members/{member}/authorizations", "member authorizations"),
        ("/authorizations/expiring?within_days=400", "expiring authorizations"),
        ("/queue", "queue"),
    ],
)
def test_every_read_by_a_person_is_an_event_in_the_history(
    client: TestClient, path: str, what: str
) -> None:
    approved = submit(client, "nsclc-initial-approve")
    in_review = submit(client, "investigational-deny")
    case = in_review if what == "queue" else approved
    url = path.format(id=case["id"], member=case["member_id"])
    assert client.get(url, headers=REVIEWER).status_code == 200
    reads = _reads(client, case["id"])
    assert [r["detail"]["what"] for r in reads] == [what]
    assert reads[0]["role"] == "reviewer"


def test_a_read_of_another_organizations_list_audits_nothing_of_it(client: TestClient) -> None:
    case = submit(client, "nsclc-initial-approve")
    assert client.get("/cases", headers=OTHER_CLINIC).json() == []
    assert all(
        e["role"] != "submitter" or e["action"] != "read"
        for e in client.get(f"/cases/{case['id']}/history", headers=ADMIN).json()
    )


# --- 5. limits ------------------------------------------------------------------------------


@pytest.fixture
def small_client(app_db_url: str, clock: Any) -> Any:
    settings = Settings(
        database_url=app_db_url,
        demo_keys=True,
        max_body_bytes=4096,
        max_array_items=5,
        max_text_chars=100,
    )
    application = create_app(settings, clock=clock)
    with TestClient(application, raise_server_exceptions=False) as c:
        yield c
    application.state.service.db.engine.dispose()


def test_a_body_over_the_limit_is_413_before_it_is_read(small_client: TestClient) -> None:
    body = example("nsclc-initial-approve")
    body["prescriber"]["name"] = "x" * 5000
    r = small_client.post("/cases", json=body, headers=SUBMITTER)
    assert_problem(r, 413, "body")


def test_a_streamed_body_over_the_limit_is_413(small_client: TestClient) -> None:
    def chunks() -> Any:
        for _ in range(10):
            yield b" " * 1000

    r = small_client.post("/cases", content=chunks(), headers={**SUBMITTER, **JSON})
    assert_problem(r, 413, "body")


def test_the_default_body_limit_refuses_100_mb(client: TestClient) -> None:
    r = client.post("/cases", content=b"{" + b" " * 2_000_000 + b"}", headers={**SUBMITTER, **JSON})
    assert_problem(r, 413)


def test_an_array_over_the_limit_is_named(small_client: TestClient) -> None:
    body = example("nsclc-initial-approve")
    body["prior_therapies"] = [{"drug": "carboplatin"}] * 6
    doc = assert_problem(
        small_client.post("/cases", json=body, headers=SUBMITTER), 422, "prior_therapies"
    )
    assert "more than 5 items" in doc["detail"]


def test_a_text_over_the_limit_is_named(small_client: TestClient) -> None:
    case = small_client.post("/cases", json=example("investigational-deny"), headers=SUBMITTER)
    r = small_client.post(
        f"/cases/{case.json()['id']}/review",
        json={"action": "confirm_denial", "reason": "y" * 101},
        headers=REVIEWER,
    )
    doc = assert_problem(r, 422, "reason")
    assert "longer than 100 characters" in doc["detail"]


def test_default_limits_bound_arrays(client: TestClient) -> None:
    body = example("nsclc-initial-approve")
    body["diagnoses"] = body["diagnoses"] * 100_000
    assert client.post("/cases", json=body, headers=SUBMITTER).status_code in (413, 422)
    body["diagnoses"] = body["diagnoses"][:201]
    assert_problem(client.post("/cases", json=body, headers=SUBMITTER), 422, "diagnoses")


# --- 9. media types, duplicate keys, filters, every error ---------------------------------


@pytest.mark.parametrize(
    "content_type,raw",
    [
        ("text/plain", b'{"kind": "initial"}'),
        ("application/x-www-form-urlencoded", b"kind=initial"),
        ("application/xml", b"<request kind='initial'/>"),
        ("multipart/form-data; boundary=x", b"--x--"),
    ],
)
def test_a_body_that_is_not_json_is_415(client: TestClient, content_type: str, raw: bytes) -> None:
    r = client.post("/cases", content=raw, headers={**SUBMITTER, "Content-Type": content_type})
    assert_problem(r, 415, "Content-Type")
    case_id = submit(client, "investigational-deny")["id"]
    r = client.post(
        f"/cases/{case_id}/review", content=raw, headers={**REVIEWER, "Content-Type": content_type}
    )
    assert_problem(r, 415, "Content-Type")


def test_json_with_a_charset_and_problem_json_types_are_accepted(client: TestClient) -> None:
    raw = json.dumps(example("nsclc-initial-approve")).encode()
    r = client.post(
        "/cases",
        content=raw,
        headers={**SUBMITTER, "Content-Type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 201, r.text


def test_a_duplicate_key_is_refused_not_silently_the_last(client: TestClient) -> None:
    text = json.dumps(example("nsclc-initial-approve"))
    raw = text.replace('"kind": "initial"', '"kind": "renewal", "kind": "initial"').encode()
    assert raw != text.encode()
    doc = assert_problem(post_json(client, "/cases", raw, SUBMITTER), 422, "kind")
    assert "twice" in doc["detail"]
    case_id = submit(client, "investigational-deny")["id"]
    raw = b'{"action": "overturn", "action": "confirm_denial", "reason": "r"}'
    assert_problem(post_json(client, f"/cases/{case_id}/review", raw, REVIEWER), 422, "action")


def test_an_unknown_status_filter_is_a_422_naming_the_values(client: TestClient) -> None:
    doc = assert_problem(client.get("/cases?status=foo", headers=REVIEWER), 422, "status")
    assert "pended" in doc["detail"]


def test_every_validation_error_is_reported(client: TestClient) -> None:
    body = example("nsclc-initial-approve")
    body["date_of_service"] = "15/06/2026"
    body["member"]["birth_date"] = "yesterday"
    body["medication"]["quantity"] = "ninety"
    doc = assert_problem(
        client.post("/cases", json=body, headers=SUBMITTER), 422, "date_of_service"
    )
    fields = [e["field"] for e in doc["errors"]]
    assert fields == ["date_of_service", "member.birth_date", "medication.quantity"]
    assert "YYYY-MM-DD" in doc["detail"]
    assert "and 2 more" in doc["detail"]


def test_a_bad_date_says_the_expected_format(client: TestClient) -> None:
    body = example("nsclc-initial-approve")
    body["date_of_service"] = "2026-02-30"
    doc = assert_problem(
        client.post("/cases", json=body, headers=SUBMITTER), 422, "date_of_service"
    )
    assert "YYYY-MM-DD" in doc["detail"]
    doc = assert_problem(
        client.get("/metrics/prior-authorization?from=June&to=2026-07-01", headers=ADMIN),
        422,
        "from",
    )
    assert "YYYY-MM-DD" in doc["detail"]


# --- 9. API keys ----------------------------------------------------------------------------


def test_an_unnamed_key_shows_no_part_of_itself(client: TestClient, app: FastAPI) -> None:
    with app.state.service.db.session() as s:
        key = create_key(s, "reviewer", None, None)
    case_id = submit(client, "investigational-deny")["id"]
    r = client.post(
        f"/cases/{case_id}/review",
        json={"action": "confirm_denial", "reason": "not listed"},
        headers=bearer(key),
    )
    assert r.status_code == 200, r.text
    decided_by = r.json()["decided_by"]
    assert decided_by.startswith("reviewer key ")
    assert key[:8] not in decided_by and key[3:8] not in decided_by


def test_unknown_keys_are_throttled_per_client(client: TestClient) -> None:
    for n in range(20):
        assert_problem(client.get("/cases", headers=bearer(f"guess-{n}")), 401)
    r = client.get("/cases", headers=bearer("guess-21"))
    assert_problem(r, 429)
    assert int(r.headers["Retry-After"]) >= 1
    # A key this worker has not seen yet is refused too while the window lasts, so the
    # guesser cannot tell good keys from bad ones by the status.
    assert client.get("/cases", headers=REVIEWER).status_code == 429


@pytest.mark.parametrize("cache", [0.0, 0.3])
def test_a_revoked_key_is_refused_by_every_worker_within_the_key_cache_time(
    db_url: str, clock: Any, cache: float
) -> None:
    settings = Settings(database_url=db_url, demo_keys=True, key_cache_seconds=cache)
    workers = [create_app(settings, clock=clock) for _ in range(2)]
    try:
        clients = [TestClient(w, raise_server_exceptions=False) for w in workers]
        for c in clients:
            assert c.get("/cases", headers=REVIEWER2).status_code == 200
        with workers[0].state.service.db.session() as s:
            revoke_key(s, "Pharmacist B")
        time.sleep(cache)
        for c in clients:
            doc = assert_problem(c.get("/cases", headers=REVIEWER2), 401)
            assert "revoked" in doc["detail"]
            assert c.get("/cases", headers=REVIEWER).status_code == 200
    finally:
        for w in workers:
            w.state.service.db.engine.dispose()


# --- 9. an overturned case's determination says approved ------------------------------------


def test_an_overturned_denial_reads_approved_with_its_authorization(client: TestClient) -> None:
    case_id = submit(client, "investigational-deny")["id"]
    r = client.post(
        f"/cases/{case_id}/review",
        json={"action": "overturn", "reason": "off-label use supported"},
        headers=REVIEWER,
    )
    case = r.json()
    assert case["status"] == "approved"
    det = case["determination"]
    assert det["decision"] == "approved" and det["denial_basis"] is None
    assert det["authorization"]["start"] == case["determination"]["authorization"]["start"]
    auths = client.get(f"/members/{case['member_id']}/authorizations", headers=REVIEWER).json()
    assert det["authorization"]["end"] == auths[0]["end"]
    assert case["engine_determination"]["decision"] == "denied"
    assert client.get(f"/cases/{case_id}", headers=SUBMITTER).json()["determination"] == det


def test_an_overturned_appeal_reads_approved(client: TestClient) -> None:
    case_id = denied_case(client)["id"]
    client.post(f"/cases/{case_id}/appeal", json={"reason": "new biopsy"}, headers=SUBMITTER)
    r = client.post(
        f"/cases/{case_id}/appeal-decision",
        json={"action": "overturn", "reason": "NSCLC after all"},
        headers=REVIEWER2,
    )
    assert r.json()["determination"]["decision"] == "approved"
    assert r.json()["determination"]["authorization"] is not None


def test_an_expired_pend_reads_denied(client: TestClient, clock: Any) -> None:
    case_id = pended(client)
    clock.advance(days=8)
    case = client.get(f"/cases/{case_id}", headers=SUBMITTER).json()
    assert case["status"] == "denied"
    assert case["determination"]["decision"] == "denied"
    assert case["engine_determination"]["decision"] == "pended"


# --- 7. logs carry neither SQL nor patient data ---------------------------------------------


def test_a_database_failure_is_logged_without_sql_or_patient_data(
    client: TestClient, app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    body = copy.deepcopy(example("nsclc-initial-approve"))
    body["member"]["id"] = "PATIENT-4711"
    with app.state.service.db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE events RENAME TO events_gone"))
    try:
        with caplog.at_level(logging.INFO, logger="priorauth"):
            r = client.post("/cases", json=body, headers=SUBMITTER)
        assert_problem(r, 500)
        logged = "\n".join(
            rec.getMessage() + (str(rec.exc_info) if rec.exc_info else "") for rec in caplog.records
        )
        assert "POST /cases failed" in logged
        for secret in ("PATIENT-4711", "INSERT", "[SQL:", "parameters", "1958"):
            assert secret not in logged, logged
    finally:
        with app.state.service.db.engine.begin() as conn:
            conn.execute(text("ALTER TABLE events_gone RENAME TO events"))
    # Nothing half-written: the case insert was rolled back with the event's.
    assert client.get("/cases", headers=REVIEWER).json() == []


def test_the_access_log_has_one_line_per_request_without_identifiers(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    case = submit(client, "nsclc-initial-approve")
    with caplog.at_level(logging.INFO, logger="priorauth.access"):
        client.get(f"/members/{case['member_id']}/authorizations", headers=REVIEWER)
    lines = [r.getMessage() for r in caplog.records if r.name == "priorauth.access"]
    assert len(lines) == 1
    assert lines[0].startswith("GET /members/{member_id}/authorizations 200 ")
    assert '"Pharmacist A"' in lines[0]
    assert case["member_id"] not in lines[0]


# --- 8. /health checks the database ---------------------------------------------------------


def test_health_is_503_when_the_database_is_gone(client: TestClient, app: FastAPI) -> None:
    assert client.get("/health").status_code == 200
    with app.state.service.db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE alembic_version RENAME TO alembic_gone"))
    try:
        assert_problem(client.get("/health"), 503)
    finally:
        with app.state.service.db.engine.begin() as conn:
            conn.execute(text("ALTER TABLE alembic_gone RENAME TO alembic_version"))


@pytest.mark.parametrize(
    "field,value",
    [("date_of_service", 1781481600), ("member.birth_date", 0), ("member.birth_date", True)],
)
def test_a_date_given_as_a_number_is_refused_not_read_as_a_timestamp(
    client: TestClient, field: str, value: Any
) -> None:
    body = example("nsclc-initial-approve")
    holder, _, leaf = field.rpartition(".")
    (body[holder] if holder else body)[leaf] = value
    doc = assert_problem(client.post("/cases", json=body, headers=SUBMITTER), 422, field)
    assert "YYYY-MM-DD" in doc["detail"]


def test_a_misspelt_query_parameter_is_named_not_ignored(client: TestClient) -> None:
    submit(client, "nsclc-initial-approve")
    doc = assert_problem(client.get("/cases?stauts=pended", headers=REVIEWER), 422, "stauts")
    assert "status" in doc["detail"]
    assert_problem(client.get("/cases?=x", headers=REVIEWER), 422)
    doc = assert_problem(
        client.get("/cases?status=pended&status=approved", headers=REVIEWER), 422, "status"
    )
    assert "more than once" in doc["detail"]


def test_query_values_are_held_to_the_text_rule(client: TestClient) -> None:
    doc = assert_problem(client.get("/cases?member_id=EX%1B1", headers=REVIEWER), 422, "member_id")
    assert "control character" in doc["detail"]
