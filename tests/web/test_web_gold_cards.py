"""The gold-card pages through the test client: who sees them, and a rescission's errors."""

from __future__ import annotations

import json

from web_support import ROOT, csrf_of


def card_of_five_approvals(client_for, clock) -> str:
    api = client_for()
    body = json.loads((ROOT / "examples" / "nsclc-initial-approve.json").read_text())
    for i in range(5):
        body["member"]["id"] = f"GC-PAGE-{i}"
        r = api.post("/cases", json=body, headers={"Authorization": "Bearer demo-submitter-key"})
        assert r.status_code == 201, r.text
    clock.advance(days=1)
    cards = api.get("/gold-cards", headers={"Authorization": "Bearer demo-reviewer-key"})
    return f"/ui/gold-cards/{cards.json()[0]['id']}"


def test_submitters_neither_see_nor_open_the_gold_cards(client_for) -> None:
    submitter = client_for("demo-submitter-key")
    assert 'href="/ui/gold-cards"' not in submitter.get("/ui/cases").text
    assert submitter.get("/ui/gold-cards").status_code == 403
    assert 'href="/ui/gold-cards"' in client_for("demo-reviewer-key").get("/ui/queue").text


def test_a_rescission_needs_a_reason_and_the_pages_form(client_for, clock) -> None:
    url = card_of_five_approvals(client_for, clock)
    reviewer = client_for("demo-reviewer-key")
    page = reviewer.get(url)
    assert "Rescind the gold card" in page.text
    r = reviewer.post(url + "/rescind", data={"csrf": csrf_of(page.text), "reason": " "})
    assert r.status_code == 422 and "reason: say why the card is rescinded" in r.text
    r = reviewer.post(url + "/rescind", data={"reason": "no form"})
    assert r.status_code == 403
    assert 'status">active' in reviewer.get(url).text


def test_an_admin_sees_the_card_but_has_no_rescind_button(client_for, clock) -> None:
    url = card_of_five_approvals(client_for, clock)
    page = client_for("demo-admin-key").get(url)
    assert page.status_code == 200 and "5 of 5 requests approved" in page.text
    assert "Rescind the gold card" not in page.text
