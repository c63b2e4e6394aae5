"""Policies and metrics pages through the test client: what they show and their errors."""

from __future__ import annotations

import json
import re

from web_support import ROOT


def test_the_metrics_page_and_its_csv_count_the_period(client_for, clock) -> None:
    api = client_for()
    for name in ("nsclc-initial-approve", "nsclc-initial-partial"):
        body = json.loads((ROOT / "examples" / f"{name}.json").read_text())
        api.post("/cases", json=body, headers={"Authorization": "Bearer demo-submitter-key"})
    reviewer = client_for("demo-reviewer-key")
    page = reviewer.get("/ui/metrics?from=2026-06-01&to=2026-06-01")
    assert page.status_code == 200
    received = re.search(r"<th scope=\"row\">Received</th><td>(\d+)</td>", page.text)
    assert received and received.group(1) == "2"
    assert page.text.count('<svg xmlns="http://www.w3.org/2000/svg" role="img"') == 3
    csv = reviewer.get("/ui/metrics.csv?from=2026-06-01&to=2026-06-01")
    assert csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    assert csv.text.splitlines()[1].startswith("2026-06-01,2026-06-01,standard,2,2,2,0,0,100.0")
    before = reviewer.get("/ui/metrics.csv?from=2026-05-01&to=2026-05-31").text.splitlines()[1]
    assert before.startswith("2026-05-01,2026-05-31,standard,0,0")


def test_a_bad_period_is_a_clear_error(client_for) -> None:
    reviewer = client_for("demo-reviewer-key")
    r = reviewer.get("/ui/metrics?from=2026-13-01")
    assert r.status_code == 422 and "is not a date (expected YYYY-MM-DD)" in r.text
    r = reviewer.get("/ui/metrics?from=2026-07-01&to=2026-06-01")
    assert r.status_code == 422 and "from: after to" in r.text


def test_submitters_do_not_see_the_metrics(client_for) -> None:
    assert client_for("demo-submitter-key").get("/ui/metrics").status_code == 403


def test_a_policy_page_shows_its_tree_limits_and_questions(client_for) -> None:
    page = client_for("demo-submitter-key").get("/ui/policies/5.21.177@2026-04-01").text
    assert "Patient must have ONE of the following" in page
    assert "960 mg per day" in page and "12 months" in page
    assert "initial.liver_function_monitoring" in page
    assert "2025-01: Per PI update" in page


def test_an_unknown_policy_version_is_not_found(client_for) -> None:
    r = client_for("demo-submitter-key").get("/ui/policies/9.99@2020-01-01")
    assert r.status_code == 404 and "no policy version 9.99@2020-01-01" in r.text


def test_the_difference_between_two_versions(client_for) -> None:
    c = client_for("demo-submitter-key")
    page = c.get("/ui/policy-diff?old=5.99.101@2026-07-01&new=5.21.177@2026-04-01").text
    assert "Criteria added" in page and "Criteria removed" in page
    assert "180 tablets per 30 days" in page and "960 mg per day" in page
    same = c.get("/ui/policy-diff?old=5.21.177@2026-04-01&new=5.21.177@2026-04-01").text
    assert "No differences in criteria, limits or metadata." in same
