"""Simultaneous requests on one application: retries with one Idempotency-Key make one case,
nothing is lost, and two reviewers deciding one case cannot both win."""

from __future__ import annotations

import contextlib
import random
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_support import REVIEWER, REVIEWER2, SUBMITTER, example

KEYS = 10
RETRIES = 4
UNKEYED = 20
THREADS = 8


class Clients:
    """One TestClient per thread, all on the one application."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.local = threading.local()
        self.all: list[TestClient] = []
        self.lock = threading.Lock()

    def get(self) -> tuple[TestClient, bool]:
        """This thread's client, and whether it was just made (the thread's first request)."""
        client = getattr(self.local, "client", None)
        if client is not None:
            return client, False
        client = TestClient(self.app, raise_server_exceptions=False)
        client.__enter__()
        self.local.client = client
        with self.lock:
            self.all.append(client)
        return client, True

    def close(self) -> None:
        for client in self.all:
            client.__exit__(None, None, None)


def body_for(member: str) -> dict[str, Any]:
    body = example("nsclc-initial-approve")
    body["member"]["id"] = member
    return body


def test_concurrent_retries_make_one_case_per_key_and_lose_nothing(app: FastAPI) -> None:
    jobs: list[tuple[str | None, str]] = [
        (f"key-{k}", f"K-{k}") for k in range(KEYS) for _ in range(RETRIES)
    ]
    jobs += [(None, f"N-{n}") for n in range(UNKEYED)]
    random.Random(7).shuffle(jobs)
    clients = Clients(app)
    start = threading.Barrier(THREADS)

    def send(job: tuple[str | None, str]) -> tuple[str | None, str, int, str]:
        key, member = job
        client, first = clients.get()
        if first:  # every thread's first request starts together
            with contextlib.suppress(threading.BrokenBarrierError):
                start.wait(timeout=5)
        headers = {**SUBMITTER, **({"Idempotency-Key": key} if key else {})}
        r = client.post("/cases", json=body_for(member), headers=headers)
        return key, member, r.status_code, r.json().get("id", r.text)

    try:
        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(send, jobs))
    finally:
        clients.close()

    assert all(status in (200, 201) for *_, status, _ in results), [
        r for r in results if r[2] not in (200, 201)
    ]
    by_key: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for key, _, status, case_id in results:
        if key is not None:
            by_key[key].append((status, case_id))
    assert len(by_key) == KEYS
    for key, answers in by_key.items():
        assert len({case_id for _, case_id in answers}) == 1, (key, answers)
        assert sorted(status for status, _ in answers) == [200] * (RETRIES - 1) + [201], key
    unkeyed = [(status, case_id) for key, _, status, case_id in results if key is None]
    assert [status for status, _ in unkeyed] == [201] * UNKEYED
    assert len({case_id for _, case_id in unkeyed}) == UNKEYED

    with TestClient(app) as client:
        cases = client.get("/cases", params={"limit": 500}, headers=REVIEWER).json()
        assert len(cases) == KEYS + UNKEYED
        assert {c["member_id"] for c in cases} == {m for _, m in jobs}
        expected_ids = {a[0][1] for a in by_key.values()} | {case_id for _, case_id in unkeyed}
        assert {c["id"] for c in cases} == expected_ids
        authorizations = [
            a
            for c in cases
            for a in client.get(
                f"/members/{c['member_id']}/authorizations", headers=REVIEWER
            ).json()
        ]
        assert len(authorizations) == KEYS + UNKEYED


def test_two_reviewers_deciding_one_case_at_once_one_wins_the_other_gets_409(
    app: FastAPI,
) -> None:
    with TestClient(app) as setup:
        cases = [
            setup.post("/cases", json=example("investigational-deny"), headers=SUBMITTER).json()
            for _ in range(5)
        ]
    reviewers = [
        (REVIEWER, {"action": "confirm_denial", "reason": "not a listed indication"}),
        (REVIEWER2, {"action": "overturn", "reason": "compendia support"}),
    ]
    clients = [TestClient(app, raise_server_exceptions=False) for _ in reviewers]
    for c in clients:
        c.__enter__()
    try:
        for case in cases:
            barrier = threading.Barrier(len(reviewers))

            def decide(i: int, case_id: str = case["id"], barrier: Any = barrier) -> Any:
                who, body = reviewers[i]
                barrier.wait(timeout=10)
                return clients[i].post(f"/cases/{case_id}/review", json=body, headers=who)

            with ThreadPoolExecutor(len(reviewers)) as pool:
                responses = list(pool.map(decide, range(len(reviewers))))
            statuses = sorted(r.status_code for r in responses)
            assert statuses == [200, 409], [r.text for r in responses]
            winner = next(r.json() for r in responses if r.status_code == 200)
            loser = next(r for r in responses if r.status_code == 409)
            assert loser.headers["content-type"].startswith("application/problem+json")
            now = clients[0].get(f"/cases/{case['id']}", headers=REVIEWER).json()
            assert now["status"] == winner["status"]
            assert now["decided_by"] == winner["decided_by"]
            history = clients[0].get(f"/cases/{case['id']}/history", headers=REVIEWER).json()
            decisions = [e for e in history if e["action"] in ("confirm_denial", "overturn")]
            assert len(decisions) == 1
            auths = clients[0].get("/members/EX-0005/authorizations", headers=REVIEWER).json()
            assert len([a for a in auths if a["case_id"] == case["id"]]) == (
                1 if winner["status"] == "approved" else 0
            )
    finally:
        for c in clients:
            c.__exit__(None, None, None)
