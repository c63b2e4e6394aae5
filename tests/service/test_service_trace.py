"""The trace of a case's determination is rebuilt on demand, not stored."""

from __future__ import annotations

from typing import Any

from service_support import OTHER_CLINIC, SUBMITTER, example


def test_trace_of_a_pended_case_shows_what_is_unknown(client: Any) -> None:
    r = client.post("/cases", json=example("nsclc-initial-pend"), headers=SUBMITTER)
    case = r.json()
    assert "trace" not in case["determination"]
    t = client.get(f"/cases/{case['id']}/trace", headers=SUBMITTER)
    assert t.status_code == 200
    tree = t.json()
    assert (tree["id"], tree["status"]) == ("initial", "unknown")
    kras = tree["children"][1]["children"][0]["children"][1]
    assert (kras["id"], kras["status"]) == ("initial.nsclc.kras_g12c", "unknown")
    assert kras["facts"][0]["source"] == "biomarkers"


def test_trace_of_another_organizations_case_is_not_found(client: Any) -> None:

    r = client.post("/cases", json=example("nsclc-initial-pend"), headers=SUBMITTER)
    t = client.get(f"/cases/{r.json()['id']}/trace", headers=OTHER_CLINIC)
    assert t.status_code == 404
