"""The case workflow over HTTP: the example requests, pends and their answers, reviews,
appeals, withdrawals, expiry of pends, decision clocks, renewals and the audit trail."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from service_support import (
    ADMIN,
    OTHER_CLINIC,
    REVIEWER,
    REVIEWER2,
    START,
    SUBMITTER,
    FakeClock,
    assert_problem,
    denied_case,
    example,
    submit,
)

PEND_ANSWERS = {
    "answers": {"initial.nsclc.kras_g12c": True},
    "attestations": {"liver_function_monitoring": True},
}


def review(client: TestClient, case_id: str, action: str, who: dict[str, str] = REVIEWER) -> Any:
    return client.post(
        f"/cases/{case_id}/review",
        json={"action": action, "reason": "pharmacist's reading"},
        headers=who,
    )


def appeal(client: TestClient, case_id: str, who: dict[str, str] = SUBMITTER) -> Any:
    return client.post(
        f"/cases/{case_id}/appeal", json={"reason": "new evidence attached"}, headers=who
    )


def decide_appeal(client: TestClient, case_id: str, action: str, who: dict[str, str]) -> Any:
    return client.post(
        f"/cases/{case_id}/appeal-decision",
        json={"action": action, "reason": "second pharmacist's reading"},
        headers=who,
    )


def authorizations(client: TestClient, member_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/members/{member_id}/authorizations", headers=REVIEWER)
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()
    return out


def history(client: TestClient, case_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/cases/{case_id}/history", headers=REVIEWER)
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()
    return out


def queue_ids(client: TestClient) -> list[str]:
    r = client.get("/queue", headers=REVIEWER)
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()]


def expedited(name: str) -> dict[str, Any]:
    body = example(name)
    body["urgency"] = "expedited"
    return body


# --- the example requests ------------------------------------------------------------------


def test_approvable_request_is_approved_with_an_authorization_on_file(client: TestClient) -> None:
    r = client.post("/cases", json=example("nsclc-initial-approve"), headers=SUBMITTER)
    assert r.status_code == 201, r.text
    case = r.json()
    assert r.headers["location"] == f"/cases/{case['id']}"
    assert case["status"] == "approved"
    assert case["decided_by"] == "engine"
    assert case["determination"]["decision"] == "approved"
    [auth] = authorizations(client, "EX-0001")
    assert auth["case_id"] == case["id"]
    assert (auth["start"], auth["end"], auth["max_daily_dose_mg"]) == (
        "2026-06-15",
        "2027-06-14",
        960,
    )


def test_pended_request_asks_exactly_the_two_questions(client: TestClient) -> None:
    case = submit(client, "nsclc-initial-pend")
    assert case["status"] == "pended"
    assert [q["id"] for q in case["questions"]] == [
        "initial.nsclc.kras_g12c",
        "initial.liver_function_monitoring",
    ]
    assert authorizations(client, "EX-0003") == []


def test_answering_a_pend_approves_it(client: TestClient) -> None:
    case = submit(client, "nsclc-initial-pend")
    r = client.post(f"/cases/{case['id']}/information", json=PEND_ANSWERS, headers=SUBMITTER)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
    assert r.json()["questions"] == []
    assert [a["case_id"] for a in authorizations(client, "EX-0003")] == [case["id"]]
    actions = [(e["action"], e["from_status"], e["to_status"]) for e in history(client, case["id"])]
    assert ("information_added", "pended", "pended") in actions
    assert ("re-evaluated", "pended", "approved") in actions


def test_partly_answering_a_pend_keeps_it_pended_with_the_open_question(
    client: TestClient,
) -> None:
    case = submit(client, "nsclc-initial-pend")
    r = client.post(
        f"/cases/{case['id']}/information",
        json={"attestations": {"liver_function_monitoring": True}},
        headers=SUBMITTER,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pended"
    assert [q["id"] for q in r.json()["questions"]] == ["initial.nsclc.kras_g12c"]


def test_investigational_request_waits_in_the_queue_with_a_recommended_denial(
    client: TestClient,
) -> None:
    case = submit(client, "investigational-deny")
    assert case["status"] == "in_review"
    assert case["recommendation"] == "deny"
    assert case["determination"]["denial_basis"] == "investigational"
    assert case["decided_at"] is None
    r = client.get("/queue", headers=REVIEWER)
    assert r.status_code == 200
    [queued] = r.json()
    assert queued["id"] == case["id"]
    assert queued["recommendation"] == "deny"


def test_over_the_limit_request_is_partially_approved_at_the_limit(client: TestClient) -> None:
    case = submit(client, "nsclc-initial-partial")
    assert case["status"] == "partially_approved"
    [auth] = authorizations(client, "EX-0004")
    assert auth["max_daily_dose_mg"] == 960


def test_approved_request_does_not_enter_the_queue(client: TestClient) -> None:
    submit(client, "nsclc-initial-approve")
    submit(client, "nsclc-initial-pend")
    assert queue_ids(client) == []


# --- review ----------------------------------------------------------------------------------


def test_reviewer_confirms_a_recommended_denial(client: TestClient) -> None:
    case = submit(client, "investigational-deny")
    r = client.post(
        f"/cases/{case['id']}/review",
        json={"action": "confirm_denial", "reason": "melanoma is not a listed indication"},
        headers=REVIEWER,
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["status"] == "denied"
    assert out["decided_by"] == "Pharmacist A"
    assert out["decision_reason"] == "melanoma is not a listed indication"
    assert out["recommendation"] is None
    assert authorizations(client, "EX-0005") == []
    assert queue_ids(client) == []


def test_reviewer_overturns_a_recommended_denial_and_an_authorization_is_recorded(
    client: TestClient,
) -> None:
    case = submit(client, "investigational-deny")
    r = review(client, case["id"], "overturn")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
    assert r.json()["decided_by"] == "Pharmacist A"
    [auth] = authorizations(client, "EX-0005")
    assert auth["case_id"] == case["id"]
    assert auth["start"] == "2026-06-15"


def test_submitter_cannot_review(client: TestClient) -> None:
    case = submit(client, "investigational-deny")
    assert_problem(review(client, case["id"], "confirm_denial", SUBMITTER), 403)
    assert_problem(review(client, case["id"], "confirm_denial", ADMIN), 403)


def test_second_reviewer_finds_the_case_no_longer_in_review(client: TestClient) -> None:
    case = submit(client, "investigational-deny")
    assert review(client, case["id"], "confirm_denial").status_code == 200
    assert_problem(review(client, case["id"], "overturn", REVIEWER2), 409)
    r = client.get(f"/cases/{case['id']}", headers=REVIEWER)
    assert r.json()["status"] == "denied"


def test_review_of_an_approved_case_is_a_conflict(client: TestClient) -> None:
    case = submit(client, "nsclc-initial-approve")
    assert_problem(review(client, case["id"], "confirm_denial"), 409)


def test_review_needs_a_reason(client: TestClient) -> None:
    case = submit(client, "investigational-deny")
    r = client.post(
        f"/cases/{case['id']}/review",
        json={"action": "confirm_denial", "reason": ""},
        headers=REVIEWER,
    )
    assert_problem(r, 422, "reason")


def test_review_with_an_unknown_action_names_the_field(client: TestClient) -> None:
    case = submit(client, "investigational-deny")
    assert_problem(review(client, case["id"], "approve"), 422, "action")


# --- appeal ----------------------------------------------------------------------------------


def test_submitter_appeals_a_denial(client: TestClient) -> None:
    case = denied_case(client)
    r = appeal(client, case["id"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_appeal"
    assert r.json()["appealed"] is True
    assert queue_ids(client) == [case["id"]]


def test_reviewer_who_denied_cannot_decide_the_appeal(client: TestClient) -> None:
    case = denied_case(client, REVIEWER)
    assert appeal(client, case["id"]).status_code == 200
    assert_problem(decide_appeal(client, case["id"], "overturn", REVIEWER), 403)
    r = client.get(f"/cases/{case['id']}", headers=REVIEWER2)
    assert r.json()["status"] == "in_appeal"


def test_another_reviewer_upholds_the_appeal(client: TestClient) -> None:
    case = denied_case(client, REVIEWER)
    appeal(client, case["id"])
    r = decide_appeal(client, case["id"], "uphold", REVIEWER2)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "denied"
    assert r.json()["decided_by"] == "Pharmacist B"
    assert authorizations(client, "EX-0005") == []


def test_another_reviewer_overturns_the_appeal_and_it_counts_as_approved_after_appeal(
    client: TestClient,
) -> None:
    case = denied_case(client, REVIEWER)
    appeal(client, case["id"])
    r = decide_appeal(client, case["id"], "overturn", REVIEWER2)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
    assert [a["case_id"] for a in authorizations(client, "EX-0005")] == [case["id"]]
    m = client.get(
        "/metrics/prior-authorization",
        params={"from": "2026-06-01", "to": "2026-06-01"},
        headers=ADMIN,
    ).json()
    assert m["standard"]["approved_after_appeal"] == 1
    assert m["standard"]["percent_approved_after_appeal"] == 100.0


def test_a_denial_is_appealed_only_once(client: TestClient) -> None:
    case = denied_case(client, REVIEWER)
    appeal(client, case["id"])
    decide_appeal(client, case["id"], "uphold", REVIEWER2)
    assert_problem(appeal(client, case["id"]), 409)


def test_only_a_denial_can_be_appealed(client: TestClient) -> None:
    case = submit(client, "investigational-deny")
    assert_problem(appeal(client, case["id"]), 409)


def test_reviewer_cannot_appeal(client: TestClient) -> None:
    case = denied_case(client)
    assert_problem(appeal(client, case["id"], REVIEWER2), 403)


def test_appeal_decision_on_a_case_not_in_appeal_is_a_conflict(client: TestClient) -> None:
    case = denied_case(client, REVIEWER)
    assert_problem(decide_appeal(client, case["id"], "overturn", REVIEWER2), 409)


# --- withdrawal and information ------------------------------------------------------------


def test_submitter_withdraws_a_pended_case(client: TestClient) -> None:
    case = submit(client, "nsclc-initial-pend")
    r = client.post(
        f"/cases/{case['id']}/withdraw", json={"reason": "patient moved"}, headers=SUBMITTER
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "withdrawn"
    last = history(client, case["id"])[-1]
    assert (last["action"], last["from_status"], last["to_status"]) == (
        "withdrawn",
        "pended",
        "withdrawn",
    )
    assert last["detail"]["reason"] == "patient moved"


def test_withdrawing_without_a_body_is_accepted(client: TestClient) -> None:
    case = submit(client, "investigational-deny")
    r = client.post(f"/cases/{case['id']}/withdraw", headers=SUBMITTER)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "withdrawn"
    assert queue_ids(client) == []


def test_a_decided_case_cannot_be_withdrawn(client: TestClient) -> None:
    case = submit(client, "nsclc-initial-approve")
    assert_problem(client.post(f"/cases/{case['id']}/withdraw", headers=SUBMITTER), 409)


def test_information_for_a_case_that_is_not_pended_is_a_conflict(client: TestClient) -> None:
    case = submit(client, "investigational-deny")
    r = client.post(f"/cases/{case['id']}/information", json=PEND_ANSWERS, headers=SUBMITTER)
    assert_problem(r, 409)


def test_information_with_an_unknown_field_is_refused_naming_it(client: TestClient) -> None:
    case = submit(client, "nsclc-initial-pend")
    r = client.post(
        f"/cases/{case['id']}/information",
        json={"answers": {"initial.nsclc.kras_g12c": True}, "lab_results": {"alt": 30}},
        headers=SUBMITTER,
    )
    assert_problem(r, 422, "lab_results")
    assert client.get(f"/cases/{case['id']}", headers=SUBMITTER).json()["status"] == "pended"


def test_information_with_an_unknown_answer_id_is_refused_naming_it(client: TestClient) -> None:
    case = submit(client, "nsclc-initial-pend")
    r = client.post(
        f"/cases/{case['id']}/information",
        json={"answers": {"initial.nope": True}},
        headers=SUBMITTER,
    )
    assert_problem(r, 422, "answers.initial.nope")


def test_empty_information_is_refused(client: TestClient) -> None:
    case = submit(client, "nsclc-initial-pend")
    r = client.post(f"/cases/{case['id']}/information", json={}, headers=SUBMITTER)
    assert_problem(r, 422)


# --- pend expiry and decision clocks ---------------------------------------------------------


def test_standard_pend_is_denied_by_the_system_seven_days_after_receipt(
    client: TestClient, clock: FakeClock
) -> None:
    case = submit(client, "nsclc-initial-pend")
    assert case["due_by"] == (START + dt.timedelta(days=7)).isoformat()
    clock.advance(days=7)  # at due_by: not yet past it
    client.get("/queue", headers=REVIEWER)
    assert client.get(f"/cases/{case['id']}", headers=SUBMITTER).json()["status"] == "pended"
    clock.advance(seconds=1)
    client.get("/queue", headers=REVIEWER)
    out = client.get(f"/cases/{case['id']}", headers=SUBMITTER).json()
    assert out["status"] == "denied"
    assert out["decided_by"] == "system"
    assert out["hours_to_decision"] == round(7 * 24 + 1 / 3600, 3)
    expired = [e for e in history(client, case["id"]) if e["action"] == "expired"]
    assert len(expired) == 1
    assert (expired[0]["actor"], expired[0]["from_status"], expired[0]["to_status"]) == (
        "system",
        "pended",
        "denied",
    )


def test_expedited_pend_is_denied_by_the_system_72_hours_after_receipt(
    client: TestClient, clock: FakeClock
) -> None:
    case = submit(client, expedited("nsclc-initial-pend"))
    assert case["due_by"] == (START + dt.timedelta(hours=72)).isoformat()
    clock.advance(hours=71, minutes=59)
    client.get("/queue", headers=REVIEWER)
    assert client.get(f"/cases/{case['id']}", headers=SUBMITTER).json()["status"] == "pended"
    clock.advance(minutes=2)
    client.get("/queue", headers=REVIEWER)
    out = client.get(f"/cases/{case['id']}", headers=SUBMITTER).json()
    assert (out["status"], out["decided_by"]) == ("denied", "system")


def test_an_expired_pend_no_longer_takes_information(client: TestClient, clock: FakeClock) -> None:
    case = submit(client, "nsclc-initial-pend")
    clock.advance(days=8)
    client.get("/queue", headers=REVIEWER)
    r = client.post(f"/cases/{case['id']}/information", json=PEND_ANSWERS, headers=SUBMITTER)
    assert_problem(r, 409)


def test_due_by_is_seven_days_for_standard_and_72_hours_for_expedited(
    client: TestClient, clock: FakeClock
) -> None:
    clock.advance(hours=5)
    received = START + dt.timedelta(hours=5)
    standard = submit(client, "investigational-deny")
    fast = submit(client, expedited("investigational-deny"))
    assert standard["received_at"] == received.isoformat()
    assert standard["due_by"] == (received + dt.timedelta(days=7)).isoformat()
    assert fast["urgency"] == "expedited"
    assert fast["due_by"] == (received + dt.timedelta(hours=72)).isoformat()


def test_queue_is_ordered_by_due_by(client: TestClient, clock: FakeClock) -> None:
    first = submit(client, "investigational-deny")  # due START + 7 days
    clock.advance(days=1)
    second = submit(client, "investigational-deny")  # due START + 8 days
    fast = submit(client, expedited("investigational-deny"))  # due START + 4 days
    assert queue_ids(client) == [fast["id"], first["id"], second["id"]]
    dues = [c["due_by"] for c in client.get("/queue", headers=ADMIN).json()]
    assert dues == sorted(dues)


def test_case_in_review_is_overdue_once_the_clock_passes_due_by(
    client: TestClient, clock: FakeClock
) -> None:
    case = submit(client, "investigational-deny")
    assert case["overdue"] is False
    clock.advance(days=7)
    assert client.get(f"/cases/{case['id']}", headers=REVIEWER).json()["overdue"] is False
    clock.advance(seconds=1)
    assert client.get(f"/cases/{case['id']}", headers=REVIEWER).json()["overdue"] is True
    [queued] = client.get("/queue", headers=REVIEWER).json()
    assert queued["overdue"] is True


def test_a_decided_case_is_never_overdue(client: TestClient, clock: FakeClock) -> None:
    case = submit(client, "nsclc-initial-approve")
    clock.advance(days=30)
    assert client.get(f"/cases/{case['id']}", headers=SUBMITTER).json()["overdue"] is False


def test_hours_to_decision_is_recorded_for_a_reviewed_case(
    client: TestClient, clock: FakeClock
) -> None:
    case = submit(client, "investigational-deny")
    assert case["hours_to_decision"] is None
    clock.advance(hours=30, minutes=30)
    r = review(client, case["id"], "confirm_denial")
    assert r.json()["hours_to_decision"] == 30.5
    assert r.json()["decided_at"] == (START + dt.timedelta(hours=30, minutes=30)).isoformat()


def test_engine_decision_takes_zero_hours(client: TestClient) -> None:
    case = submit(client, "nsclc-initial-approve")
    assert case["hours_to_decision"] == 0.0
    assert case["decided_at"] == START.isoformat()


# --- renewals and expiring authorizations --------------------------------------------------


def test_renewal_with_an_authorization_on_file_is_held_to_the_renewal_requirements(
    client: TestClient,
) -> None:
    submit(client, "nsclc-initial-approve")
    [previous] = authorizations(client, "EX-0001")
    case = submit(client, "nsclc-renewal-approve")
    assert case["kind"] == "renewal"
    assert case["previous_authorization_id"] == previous["id"]
    assert case["determination"]["policy"]["requirements"] == "renewal"
    assert case["status"] == "approved"
    assert case["notes"] == []
    ends = [a["end"] for a in authorizations(client, "EX-0001")]
    assert ends == ["2028-06-09", "2027-06-14"]


def test_renewal_without_an_authorization_on_file_is_held_to_the_initial_requirements(
    client: TestClient,
) -> None:
    case = submit(client, "nsclc-renewal-approve")
    assert case["previous_authorization_id"] is None
    assert case["determination"]["policy"]["requirements"] == "initial"
    assert any("evaluated against the initial requirements" in n for n in case["notes"])
    assert case["status"] != "approved"


def test_expiring_lists_authorizations_ending_within_the_window(
    client: TestClient, clock: FakeClock
) -> None:
    case = submit(client, "nsclc-initial-approve")  # 2026-06-15 .. 2027-06-14
    clock.set(dt.datetime(2027, 6, 1, 12, tzinfo=dt.UTC))

    def expiring(days: int, who: dict[str, str] = REVIEWER) -> list[str]:
        r = client.get("/authorizations/expiring", params={"within_days": days}, headers=who)
        assert r.status_code == 200, r.text
        return [a["case_id"] for a in r.json()]

    assert expiring(12) == []
    assert expiring(13) == [case["id"]]
    assert expiring(30) == [case["id"]]
    assert expiring(30, SUBMITTER) == [case["id"]]
    assert expiring(30, OTHER_CLINIC) == []
    clock.set(dt.datetime(2027, 6, 15, 12, tzinfo=dt.UTC))  # ended yesterday
    assert expiring(30) == []


# --- the audit trail -----------------------------------------------------------------------


def test_history_records_submission_evaluation_reads_and_review(
    client: TestClient, clock: FakeClock
) -> None:
    case = submit(client, "investigational-deny")
    clock.advance(hours=1)
    client.get(f"/cases/{case['id']}", headers=REVIEWER)
    clock.advance(hours=1)
    review(client, case["id"], "confirm_denial")
    events = history(client, case["id"])
    assert [(e["action"], e["from_status"], e["to_status"]) for e in events] == [
        ("submitted", None, "received"),
        ("evaluated", None, "in_review"),
        ("read", "in_review", "in_review"),
        ("confirm_denial", "in_review", "denied"),
    ]
    read = events[2]
    assert (read["actor"], read["role"]) == ("Pharmacist A", "reviewer")
    assert read["at"] == (START + dt.timedelta(hours=1)).isoformat()
    assert events[0]["actor"] == "Demo Oncology Clinic"
    assert events[1]["detail"]["denial_basis"] == "investigational"
    assert events[3]["detail"]["reason"] == "pharmacist's reading"


def test_history_records_the_appeal_and_its_decision(client: TestClient) -> None:
    case = denied_case(client, REVIEWER)
    appeal(client, case["id"])
    decide_appeal(client, case["id"], "overturn", REVIEWER2)
    tail = [(e["action"], e["actor"], e["to_status"]) for e in history(client, case["id"])][-2:]
    assert tail == [
        ("appealed", "Demo Oncology Clinic", "in_appeal"),
        ("appeal_overturn", "Pharmacist B", "approved"),
    ]


def test_submitter_sees_the_history_of_its_own_case(client: TestClient) -> None:
    case = submit(client, "nsclc-initial-approve")
    r = client.get(f"/cases/{case['id']}/history", headers=SUBMITTER)
    assert r.status_code == 200
    assert [e["action"] for e in r.json()] == ["submitted", "evaluated"]
