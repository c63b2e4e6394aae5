"""Every kind of denial explained: the letter (read back from the PDF) and the determination in
the JSON API name each unmet criterion in the policy's words, what would meet it, and the appeal
steps with their deadline. The clock starts at 2026-06-01 09:00 UTC."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from web_support import ROOT, FakeClock, pdf_text

SUBMITTER = {"Authorization": "Bearer demo-submitter-key"}
REVIEWER = {"Authorization": "Bearer demo-reviewer-key"}
REVIEWER2 = {"Authorization": "Bearer demo-reviewer2-key"}
# Decided 2026-06-01: 180 days for an appeal, 4 months for an external review.
APPEAL_DEADLINE = "2026-11-28"
EXTERNAL_REVIEW_DEADLINE = "2026-10-01"


def example(name: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((ROOT / "examples" / f"{name}.json").read_text())
    body.update(changes)
    return body


def submitted(api: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    r = api.post("/cases", json=body, headers=SUBMITTER)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def confirmed(api: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    """The engine's recommended denial, confirmed by a pharmacist who cites nothing (every
    unmet criterion is then a reason)."""
    case = submitted(api, body)
    assert case["status"] == "in_review", case["determination"]["reasons"]
    r = api.post(
        f"/cases/{case['id']}/review",
        json={"action": "confirm_denial", "reason": "The records do not meet the policy."},
        headers=REVIEWER,
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def investigational(api: TestClient, clock: FakeClock) -> dict[str, Any]:
    return confirmed(api, example("investigational-deny"))


def criteria_not_met(api: TestClient, clock: FakeClock) -> dict[str, Any]:
    body = example("nsclc-initial-approve")
    body["biomarkers"][0]["result"] = "negative"
    return confirmed(api, body)


def renewal_criteria_not_met(api: TestClient, clock: FakeClock) -> dict[str, Any]:
    assert submitted(api, example("nsclc-initial-approve"))["status"] == "approved"
    renewal = example("nsclc-renewal-approve", date_of_service="2026-06-01")
    renewal["disease_status"] = {"progression": True, "unacceptable_toxicity": False}
    return confirmed(api, renewal)


def pend_unanswered_in_time(api: TestClient, clock: FakeClock) -> dict[str, Any]:
    case = submitted(api, example("nsclc-initial-pend"))
    clock.advance(days=8)  # past the standard decision clock of 7 days
    out: dict[str, Any] = api.get(f"/cases/{case['id']}", headers=SUBMITTER).json()
    return out


def appeal_upheld(api: TestClient, clock: FakeClock) -> dict[str, Any]:
    case = investigational(api, clock)
    r = api.post(
        f"/cases/{case['id']}/appeal",
        json={"reason": "The tumor board recommends it."},
        headers=SUBMITTER,
    )
    assert r.status_code == 200, r.text
    r = api.post(
        f"/cases/{case['id']}/appeal-decision",
        json={"action": "uphold", "reason": "Melanoma is not a covered indication."},
        headers=REVIEWER2,
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


# kind -> (how the case is made, texts the letter must hold: the unmet criteria in the policy's
# words, what would meet them, the appeal steps, the deadline)
KINDS: dict[str, tuple[Callable[[TestClient, FakeClock], dict[str, Any]], list[str]]] = {
    "investigational": (
        investigational,
        [
            "Lumakras may be considered investigational for all other indications.",
            "What would be needed: A diagnosis the policy covers: Locally advanced or metastatic "
            "non-small cell lung cancer (NSCLC); Metastatic colorectal cancer (mCRC)",
            "within 180 days",
            "A pharmacist other than the one who made this decision will review it.",
            "expedited appeal: it is decided within 72 hours",
            f"Deadline: {APPEAL_DEADLINE}.",
        ],
    ),
    "criteria_not_met": (
        criteria_not_met,
        [
            "Presence of KRAS G12C mutation as determined by an FDA-approved test",
            "What would be needed: Records showing that this is met: Presence of KRAS G12C "
            "mutation as determined by an FDA-approved test. Give the gene, the alteration, "
            "the result and the test used.",
            "within 180 days",
            f"Deadline: {APPEAL_DEADLINE}.",
        ],
    ),
    "renewal_criteria_not_met": (
        renewal_criteria_not_met,
        [
            "What would be needed: Records showing that this is met:",
            "Give the disease status.",
            "within 180 days",
            f"Deadline: {APPEAL_DEADLINE}.",
        ],
    ),
    "pend_unanswered_in_time": (
        pend_unanswered_in_time,
        [
            "Presence of KRAS G12C mutation as determined by an FDA-approved test",
            "What would be needed: An answer to this question, with the records that support "
            "it: Does this hold: Presence of KRAS G12C mutation",
            "Prescriber agrees to monitor AST, ALT, alkaline phosphatase, and total bilirubin",
            "within 180 days",
            "Deadline: 2026-12-06.",  # decided by the system on 2026-06-09
        ],
    ),
    "appeal_upheld": (
        appeal_upheld,
        [
            "(decision on appeal)",
            "Lumakras may be considered investigational for all other indications.",
            "This is the decision on your appeal.",
            "external review by an independent review organization within 4 months",
            f"Deadline: {EXTERNAL_REVIEW_DEADLINE}.",
        ],
    ),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_denial_letter_explains_the_unmet_criteria_and_the_appeal(
    client_for: Callable[..., TestClient], clock: FakeClock, kind: str
) -> None:
    make, parts = KINDS[kind]
    api = client_for()
    case = make(api, clock)
    assert case["status"] == "denied"
    r = api.get(f"/cases/{case['id']}/letter.pdf", headers=SUBMITTER)
    assert r.status_code == 200, r.text
    text = pdf_text(r.content)
    assert "Denied" in text
    for part in parts:
        assert part in text, (part, text)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_denial_determination_keeps_the_same_explanation(
    client_for: Callable[..., TestClient], clock: FakeClock, kind: str
) -> None:
    make, _ = KINDS[kind]
    api = client_for()
    case = make(api, clock)
    told = case["determination"]["explanation"]
    assert told["unmet"], told
    for item in told["unmet"]:
        assert item["text"] and item["needed"], item
    assert told["appeal"]["steps"]
    assert told["appeal"]["deadline"] in {APPEAL_DEADLINE, EXTERNAL_REVIEW_DEADLINE, "2026-12-06"}
    if kind == "renewal_criteria_not_met":
        assert case["determination"]["policy"]["requirements"] == "renewal"
        assert {i["id"] for i in told["unmet"]} == {"renewal.no_progression"}
