"""The public-reporting figures: percent approved, denied and approved after appeal, and the
average and median hours to decision, per urgency; as JSON and as CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_support import ADMIN, REVIEWER, REVIEWER2, SUBMITTER, FakeClock, example, submit

WINDOW = {"from": "2026-06-01", "to": "2026-06-01"}


def expedited(name: str) -> dict[str, Any]:
    body = example(name)
    body["urgency"] = "expedited"
    return body


def act(client: TestClient, case_id: str, what: str, body: dict[str, str], who: Any) -> None:
    r = client.post(f"/cases/{case_id}/{what}", json=body, headers=who)
    assert r.status_code == 200, r.text


@pytest.fixture
def decided(client: TestClient, clock: FakeClock) -> TestClient:
    """Received on 2026-06-01 at 09:00.
    standard: approved by the engine (0 h); denied by a reviewer (10 h); denied (10 h),
    appealed and overturned (30 h); one pend never answered (undecided); one withdrawn.
    expedited: approved by the engine (0 h); denied by a reviewer (10 h)."""
    submit(client, "nsclc-initial-approve")
    denied = submit(client, "investigational-deny")
    appealed = submit(client, "investigational-deny")
    submit(client, "nsclc-initial-pend")
    withdrawn = submit(client, "investigational-deny")
    submit(client, expedited("nsclc-initial-approve"))
    fast_denied = submit(client, expedited("investigational-deny"))
    act(client, withdrawn["id"], "withdraw", {"reason": "duplicate"}, SUBMITTER)
    clock.advance(hours=10)
    confirm = {"action": "confirm_denial", "reason": "not a listed indication"}
    for case in (denied, appealed, fast_denied):
        act(client, case["id"], "review", confirm, REVIEWER)
    act(client, appealed["id"], "appeal", {"reason": "please reconsider"}, SUBMITTER)
    clock.advance(hours=20)
    act(
        client,
        appealed["id"],
        "appeal-decision",
        {"action": "overturn", "reason": "compendia support"},
        REVIEWER2,
    )
    return client


def test_metrics_per_urgency_as_json(decided: TestClient) -> None:
    r = decided.get("/metrics/prior-authorization", params=WINDOW, headers=REVIEWER)
    assert r.status_code == 200, r.text
    m = r.json()
    assert m["standard"] == {
        "received": 5,
        "decided": 3,
        "approved": 2,
        "denied": 1,
        "approved_after_appeal": 1,
        "percent_approved": 66.67,
        "percent_denied": 33.33,
        "percent_approved_after_appeal": 33.33,
        "approved_real_time": 1,  # the appeal's approval came from people
        "percent_of_approvals_real_time": 50.0,
        "average_hours_to_decision": 13.333,
        "median_hours_to_decision": 10.0,
    }
    assert m["expedited"] == {
        "received": 2,
        "decided": 2,
        "approved": 1,
        "denied": 1,
        "approved_after_appeal": 0,
        "percent_approved": 50.0,
        "percent_denied": 50.0,
        "percent_approved_after_appeal": 0.0,
        "approved_real_time": 1,
        "percent_of_approvals_real_time": 100.0,
        "average_hours_to_decision": 5.0,
        "median_hours_to_decision": 5.0,
    }


def test_metrics_as_csv_carry_the_same_figures(decided: TestClient) -> None:
    as_json = decided.get("/metrics/prior-authorization", params=WINDOW, headers=ADMIN).json()
    r = decided.get(
        "/metrics/prior-authorization", params={**WINDOW, "format": "csv"}, headers=ADMIN
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["urgency"] for row in rows] == ["standard", "expedited"]
    for row in rows:
        figures = as_json[row["urgency"]]
        assert set(row) == {"urgency", *figures}
        for key, value in figures.items():
            assert row[key] == ("" if value is None else str(value)), key


def test_metrics_count_only_requests_received_in_the_window(decided: TestClient) -> None:
    later = {"from": "2026-06-02", "to": "2026-06-30"}
    m = decided.get("/metrics/prior-authorization", params=later, headers=REVIEWER).json()
    for urgency in ("standard", "expedited"):
        assert m[urgency]["received"] == 0
        assert m[urgency]["percent_approved"] is None
        assert m[urgency]["median_hours_to_decision"] is None
    earlier = {"from": "2026-05-01", "to": "2026-05-31"}
    m = decided.get("/metrics/prior-authorization", params=earlier, headers=REVIEWER).json()
    assert m["standard"]["received"] == 0


def test_metrics_of_an_empty_service_are_empty_not_errors(client: TestClient) -> None:
    r = client.get(
        "/metrics/prior-authorization", params={**WINDOW, "format": "csv"}, headers=REVIEWER
    )
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(row["urgency"], row["received"], row["percent_approved"]) for row in rows] == [
        ("standard", "0", ""),
        ("expedited", "0", ""),
    ]
