"""Gold cards through the JSON API: earned by a prescriber's approvals, honored on the next
request for the drug, listed for reviewers, rescinded as an audited action, ended by time."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from service_support import (
    ADMIN,
    REVIEWER,
    REVIEWER2,
    SUBMITTER,
    FakeClock,
    assert_problem,
    confirm_denial,
    example,
    submit,
)

NPI = "1245319599"
OTHER_NPI = "1987654321"


def request(name: str, member: str, npi: str | None = NPI) -> dict[str, Any]:
    body = example(name)
    body["member"]["id"] = member
    if npi is None:
        body.pop("prescriber", None)
    else:
        body["prescriber"] = {"npi": npi, "name": "Dr. Example"}
    return body


def approvals(client: TestClient, n: int, npi: str = NPI, start: int = 0) -> None:
    for i in range(start, start + n):
        case = submit(client, request("nsclc-initial-approve", f"GC-{npi[-3:]}-{i}", npi))
        assert case["status"] == "approved"


def denial(client: TestClient, member: str, npi: str = NPI) -> dict[str, Any]:
    """An investigational request from the prescriber, its recommended denial confirmed."""
    return confirm_denial(client, submit(client, request("investigational-deny", member, npi)))


def cards(client: TestClient, **params: str) -> list[dict[str, Any]]:
    r = client.get("/gold-cards", params=params, headers=REVIEWER)
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()
    return out


def test_five_approvals_earn_a_card_from_the_next_day_for_six_months(
    client: TestClient, clock: FakeClock
) -> None:
    approvals(client, 5)  # decided 2026-06-01
    assert cards(client) == []  # evaluated as of 2026-06-01: that day's decisions not yet in
    clock.advance(days=1)
    [card] = cards(client)
    assert {k: card[k] for k in ("npi", "drug", "decided", "approved", "approval_rate")} == {
        "npi": NPI,
        "drug": "Lumakras",
        "decided": 5,
        "approved": 5,
        "approval_rate": 1.0,
    }
    assert (card["from"], card["until"]) == ("2026-06-02", "2026-12-01")


def test_four_approvals_earn_no_card(client: TestClient, clock: FakeClock) -> None:
    approvals(client, 4)
    clock.advance(days=1)
    assert cards(client) == []
    case = submit(client, request("investigational-deny", "GC-4"))
    assert case["status"] == "in_review"


def test_a_holders_request_is_approved_at_once_on_the_card(
    client: TestClient, clock: FakeClock
) -> None:
    approvals(client, 5)
    clock.advance(days=1)
    # Melanoma: the criteria would deny it; the card approves it.
    case = submit(client, request("investigational-deny", "GC-HOLDER"))
    det = case["determination"]
    assert case["status"] == "approved"
    assert det["approval_basis"] == "gold_card"
    assert det["denial_basis"] is None and det["missing"] == []
    assert (det["authorization"]["start"], det["authorization"]["end"]) == (
        "2026-06-15",
        "2027-06-14",
    )
    assert det["authorization"]["max_daily_dose_mg"] == 960
    [reason] = det["reasons"]
    assert "gold card" in reason["text"] and NPI in reason["text"]
    assert "post-service review" in reason["text"]
    # What the criteria said stays on the case, and the authorization is on file.
    assert case["engine_determination"]["decision"] == "denied"
    r = client.get("/members/GC-HOLDER/authorizations", headers=SUBMITTER)
    assert [a["end"] for a in r.json()] == ["2027-06-14"]
    assert case["id"] not in [c["id"] for c in client.get("/queue", headers=REVIEWER).json()]


def test_a_holders_request_above_the_limit_is_cut_to_the_policys_limit(
    client: TestClient, clock: FakeClock
) -> None:
    approvals(client, 5)
    clock.advance(days=1)
    body = request("nsclc-initial-partial", "GC-PARTIAL")
    case = submit(client, body)
    assert case["status"] == "partially_approved"
    assert case["determination"]["approval_basis"] == "gold_card"
    assert case["determination"]["authorization"]["max_daily_dose_mg"] == 960


def test_the_card_is_for_that_prescriber_and_that_drug_only(
    client: TestClient, clock: FakeClock
) -> None:
    approvals(client, 5)
    clock.advance(days=1)
    other = submit(client, request("investigational-deny", "GC-OTHER", OTHER_NPI))
    assert other["status"] == "in_review"
    krazati = submit(client, request("krazati-crc-initial-approve", "GC-KRAZATI"))
    assert krazati["determination"]["approval_basis"] != "gold_card"
    no_npi = submit(client, request("investigational-deny", "GC-NONPI", None))
    assert no_npi["status"] == "in_review"


def test_an_overturned_appeal_counts_as_approved(client: TestClient, clock: FakeClock) -> None:
    approvals(client, 4)
    denied = denial(client, "GC-APPEAL")
    r = client.post(
        f"/cases/{denied['id']}/appeal", json={"reason": "new results"}, headers=SUBMITTER
    )
    assert r.status_code == 200, r.text
    clock.advance(days=1)
    assert cards(client) == []  # the denial is under appeal: 4 final decisions
    r = client.post(
        f"/cases/{denied['id']}/appeal-decision",
        json={"action": "overturn", "reason": "meets criteria on appeal"},
        headers=REVIEWER2,
    )
    assert r.status_code == 200, r.text
    clock.advance(days=1)
    [card] = cards(client)
    assert (card["decided"], card["approved"]) == (5, 5)


def test_nine_of_ten_approved_earn_a_card(client: TestClient, clock: FakeClock) -> None:
    approvals(client, 8)
    denial(client, "GC-D1")
    approvals(client, 1, start=100)
    clock.advance(days=1)
    [card] = cards(client)
    assert (card["decided"], card["approved"], card["approval_rate"]) == (10, 9, 0.9)


def test_an_expired_card_is_no_longer_honored(client: TestClient, clock: FakeClock) -> None:
    approvals(client, 5)
    clock.advance(days=1)
    [card] = cards(client)
    clock.advance(days=183)  # 2026-12-02: the day after the card's last
    assert cards(client) == []
    assert cards(client, as_of=card["until"])[0]["id"] == card["id"]
    case = submit(client, request("investigational-deny", "GC-LATE"))
    assert case["status"] == "in_review"


def test_reviewers_and_admins_list_cards_submitters_are_refused(client: TestClient) -> None:
    assert client.get("/gold-cards", headers=ADMIN).status_code == 200
    assert_problem(client.get("/gold-cards", headers=SUBMITTER), 403)
    assert_problem(
        client.get("/gold-cards", params={"as_of": "2026-13-01"}, headers=ADMIN), 422, "as_of"
    )
    assert_problem(client.get("/gold-cards", params={"as_of": "0"}, headers=ADMIN), 422, "as_of")


def test_a_reviewer_rescinds_a_card_and_the_trail_says_who_and_why(
    client: TestClient, clock: FakeClock
) -> None:
    approvals(client, 5)
    clock.advance(days=1)
    [card] = cards(client)
    url = f"/gold-cards/{card['id']}/rescind"
    assert_problem(client.post(url, json={"reason": "x"}, headers=SUBMITTER), 403)
    assert_problem(client.post(url, json={"reason": "x"}, headers=ADMIN), 403)
    assert_problem(client.post(url, json={"reason": ""}, headers=REVIEWER), 422, "reason")
    r = client.post(
        url, json={"reason": "2 of 5 sampled claims met the criteria"}, headers=REVIEWER
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "rescinded"
    assert_problem(client.post(url, json={"reason": "again"}, headers=REVIEWER), 409)
    history = client.get(f"/gold-cards/{card['id']}", headers=REVIEWER).json()["history"]
    assert [(e["action"], e["actor"]) for e in history] == [
        ("granted", "system"),
        ("rescinded", "Pharmacist A"),
    ]
    assert history[1]["reason"] == "2 of 5 sampled claims met the criteria"
    assert cards(client) == []
    case = submit(client, request("investigational-deny", "GC-AFTER"))
    assert case["status"] == "in_review"
    # The next day's evaluation does not give the card back before its period would have ended.
    clock.advance(days=1)
    assert cards(client) == []
    assert submit(client, request("investigational-deny", "GC-NEXT"))["status"] == "in_review"


def test_an_unknown_card_is_not_found(client: TestClient) -> None:
    assert_problem(client.get("/gold-cards/999", headers=REVIEWER), 404)
    assert_problem(
        client.post("/gold-cards/999/rescind", json={"reason": "x"}, headers=REVIEWER), 404
    )


def test_a_holders_pas_claim_is_approved_on_the_card(client: TestClient, clock: FakeClock) -> None:
    from fhir_cases import CASES, pas_bundle
    from test_fhir_pas import FHIR, claim_response, review_code

    approvals(client, 5)  # the PAS examples' prescriber, NPI 1245319599
    clock.advance(days=1)
    bundle = pas_bundle(CASES["investigational"])
    r = client.post("/fhir/Claim/$submit", json=bundle, headers=FHIR)
    cr = claim_response(r)
    assert review_code(cr) == "A1"
    assert cr["preAuthPeriod"] == {"start": "2026-06-15", "end": "2027-06-14"}
    assert any("gold card" in n["text"] for n in cr.get("processNote", []))
    case = client.get(f"/cases/{cr['preAuthRef']}", headers=SUBMITTER).json()
    assert case["determination"]["approval_basis"] == "gold_card"
