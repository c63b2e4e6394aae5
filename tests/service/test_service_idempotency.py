"""Idempotency-Key: a retried submission returns the case it made, never a second one."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from service_support import OTHER_CLINIC, REVIEWER, SUBMITTER, assert_problem, example


def post(client: TestClient, body: object, key: str, who: dict[str, str] = SUBMITTER):  # type: ignore[no-untyped-def]
    return client.post("/cases", json=body, headers={**who, "Idempotency-Key": key})


def test_retry_with_the_same_key_and_body_returns_the_same_case_with_200(
    client: TestClient,
) -> None:
    first = post(client, example("nsclc-initial-approve"), "retry-1")
    second = post(client, example("nsclc-initial-approve"), "retry-1")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["location"] == f"/cases/{first.json()['id']}"
    assert len(client.get("/cases", headers=REVIEWER).json()) == 1
    assert len(client.get("/members/EX-0001/authorizations", headers=REVIEWER).json()) == 1


def test_retry_of_the_same_request_written_differently_returns_the_same_case(
    client: TestClient,
) -> None:
    body = example("nsclc-initial-approve")
    first = post(client, body, "retry-2")
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=4)
    second = client.post(
        "/cases", content=reordered, headers={**SUBMITTER, "Idempotency-Key": "retry-2"}
    )
    assert second.status_code == 200, second.text
    assert second.json()["id"] == first.json()["id"]


def test_same_key_with_a_different_body_is_a_conflict(client: TestClient) -> None:
    assert post(client, example("nsclc-initial-approve"), "k-1").status_code == 201
    r = post(client, example("nsclc-initial-partial"), "k-1")
    assert_problem(r, 409, "Idempotency-Key")
    assert len(client.get("/cases", headers=REVIEWER).json()) == 1


def test_different_organizations_may_use_the_same_key(client: TestClient) -> None:
    mine = post(client, example("nsclc-initial-approve"), "shared-key")
    theirs = post(client, example("nsclc-initial-approve"), "shared-key", OTHER_CLINIC)
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    assert theirs.json()["org"] == "other-clinic"


def test_submissions_without_a_key_are_separate_cases(client: TestClient) -> None:
    a = client.post("/cases", json=example("nsclc-initial-approve"), headers=SUBMITTER)
    b = client.post("/cases", json=example("nsclc-initial-approve"), headers=SUBMITTER)
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]


def test_key_longer_than_128_characters_is_refused(client: TestClient) -> None:
    r = post(client, example("nsclc-initial-approve"), "k" * 129)
    assert_problem(r, 422, "idempotency-key")


def test_retry_returns_the_case_as_it_is_now(client: TestClient) -> None:
    first = post(client, example("investigational-deny"), "later")
    client.post(
        f"/cases/{first.json()['id']}/review",
        json={"action": "confirm_denial", "reason": "not listed"},
        headers=REVIEWER,
    )
    again = post(client, example("investigational-deny"), "later")
    assert again.status_code == 200
    assert again.json()["status"] == "denied"


def test_empty_key_is_not_a_key_shared_by_unrelated_submissions(client: TestClient) -> None:
    first = post(client, example("nsclc-initial-approve"), "")
    assert first.status_code in (201, 422), first.text
    second = post(client, example("nsclc-initial-partial"), "")
    # Refused as no key (422), or taken as no key at all (201): never a conflict with a
    # different request that happened to send an empty header too.
    assert second.status_code in (201, 422), second.text
