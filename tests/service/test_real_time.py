"""The real-time report through the JSON API: approvals answered at submission with no pend
and no person, by drug and organization, the target, the pend drivers; and in the CMS-0057-F
CSV export."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_support import (
    ADMIN,
    OTHER_CLINIC,
    REVIEWER,
    SUBMITTER,
    FakeClock,
    assert_problem,
    submit,
)

DAY = {"from": "2026-06-01", "to": "2026-06-01"}
KRAS = "initial.nsclc.kras_g12c"
LIVER = "initial.liver_function_monitoring"


def post(client: TestClient, url: str, body: dict[str, Any], who: dict[str, str]) -> None:
    r = client.post(url, json=body, headers=who)
    assert r.status_code == 200, r.text


@pytest.fixture
def mixed(client: TestClient, clock: FakeClock) -> TestClient:
    """Received on 2026-06-01. demo-clinic: Lumakras approved at once; Lumakras pended, then
    answered and approved; a recommended denial a pharmacist overturns; Krazati approved at
    once. other-clinic: Lumakras approved at once; Lumakras pended, never answered."""
    submit(client, "nsclc-initial-approve")
    pend = submit(client, "nsclc-initial-pend")
    overturned = submit(client, "investigational-deny")
    submit(client, "krazati-crc-initial-approve")
    submit(client, "nsclc-initial-approve", OTHER_CLINIC)
    submit(client, "nsclc-initial-pend", OTHER_CLINIC)
    clock.advance(hours=2)
    answers = {"answers": {KRAS: True}, "attestations": {"liver_function_monitoring": True}}
    post(client, f"/cases/{pend['id']}/information", answers, SUBMITTER)
    review = {"action": "overturn", "reason": "compendia support"}
    post(client, f"/cases/{overturned['id']}/review", review, REVIEWER)
    return client


def report(client: TestClient, params: dict[str, str] = DAY) -> dict[str, Any]:
    r = client.get("/metrics/real-time", params=params, headers=REVIEWER)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_real_time_counts_approvals_answered_at_submission(mixed: TestClient) -> None:
    m = report(mixed)
    assert (m["from"], m["to"]) == ("2026-06-01", "2026-06-01")
    assert (m["approvals"], m["real_time"], m["share"]) == (5, 3, 0.6)
    assert m["target"] == 0.8 and m["meets_target"] is False


def test_real_time_by_drug_and_by_organization(mixed: TestClient) -> None:
    m = report(mixed)
    assert m["by_drug"] == [
        {"drug": "Krazati", "approvals": 1, "real_time": 1, "share": 1.0},
        {"drug": "Lumakras", "approvals": 4, "real_time": 2, "share": 0.5},
    ]
    assert m["by_organization"] == [
        {"org": "demo-clinic", "approvals": 4, "real_time": 2, "share": 0.5},
        {"org": "other-clinic", "approvals": 1, "real_time": 1, "share": 1.0},
    ]


def test_pend_drivers_are_the_questions_that_pended_the_most_requests(mixed: TestClient) -> None:
    drivers = report(mixed)["pend_drivers"]
    assert [(d["id"], d["count"]) for d in drivers] == [(LIVER, 2), (KRAS, 2)]
    kras = drivers[1]["text"]
    assert "KRAS G12C" in kras and "FDA-approved test" in kras


def test_an_empty_period_has_no_share_and_no_error(mixed: TestClient) -> None:
    m = report(mixed, {"from": "2026-06-02", "to": "2026-06-30"})
    assert (m["approvals"], m["real_time"], m["share"], m["meets_target"]) == (0, 0, None, None)
    assert m["by_drug"] == [] and m["pend_drivers"] == []


def test_bad_periods_are_refused_naming_the_parameter(client: TestClient) -> None:
    url = "/metrics/real-time"
    assert_problem(client.get(url, params={**DAY, "from": "June"}, headers=ADMIN), 422, "from")
    assert_problem(client.get(url, params={**DAY, "to": "2026-02-30"}, headers=ADMIN), 422, "to")
    assert_problem(client.get(url, params={**DAY, "from": "0"}, headers=ADMIN), 422, "from")
    assert_problem(client.get(url, params={"to": "2026-06-01"}, headers=ADMIN), 422, "from")
    later = {"from": "2026-07-01", "to": "2026-06-01"}
    assert_problem(client.get(url, params=later, headers=ADMIN), 422, "from")


def test_submitters_cannot_read_the_report(client: TestClient) -> None:
    assert_problem(client.get("/metrics/real-time", params=DAY, headers=SUBMITTER), 403)


def test_the_cms_export_carries_the_real_time_figures(mixed: TestClient) -> None:
    r = mixed.get("/metrics/prior-authorization", params={**DAY, "format": "csv"}, headers=REVIEWER)
    rows = {row["urgency"]: row for row in csv.DictReader(io.StringIO(r.text))}
    assert rows["standard"]["approved"] == "5"
    assert rows["standard"]["approved_real_time"] == "3"
    assert rows["standard"]["percent_of_approvals_real_time"] == "60.0"
