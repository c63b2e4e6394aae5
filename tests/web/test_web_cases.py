"""The workflow through the workbench's forms: submit, pend and answer, review with cited
criteria, a concurrent decision shown as a message, appeal to a different reviewer, withdraw;
and the decision letters read back from the PDF."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from fastapi.testclient import TestClient
from web_support import ROOT, csrf_of, pdf_text

FORM = {
    "medication.name": "Lumakras",
    "kind": "initial",
    "urgency": "standard",
    "date_of_service": "2026-06-15",
    "member.id": "W-0001",
    "member.birth_date": "1962-09-14",
    "prescriber.name": "Dr. Ada Lovelace",
    "prescriber.npi": "1234567893",
    "medication.strength_mg": "120",
    "medication.quantity": "240",
    "medication.days_supply": "30",
}
MELANOMA = {
    **FORM,
    "diagnoses[0].code": "C43.9",
    "diagnoses[0].histology": "melanoma",
    "diagnoses[0].extent": "metastatic",
    "biomarkers[0].gene": "KRAS",
    "biomarkers[0].alteration": "G12C",
    "prior_therapies": "nivolumab",
    "attestations.liver_function_monitoring": "yes",
}
NSCLC_PEND = {
    **FORM,
    "member.id": "W-0002",
    "diagnoses[0].code": "C34.31",
    "diagnoses[0].histology": "squamous_cell",
    "diagnoses[0].extent": "locally_advanced",
    "prior_therapies": "cisplatin\ngemcitabine",
    "concurrent_therapies": "none",
}


def submit(c: TestClient, fields: dict[str, str]) -> str:
    page = c.get("/ui/submit?drug=Lumakras")
    r = c.post("/ui/submit", data={"csrf": csrf_of(page.text), **fields})
    assert r.status_code == 303, re.findall(r"field-error[^>]*>([^<]*)", r.text)
    found = re.match(r"/ui/cases/([0-9a-f-]+)\?done=submitted", r.headers["location"])
    assert found
    return found.group(1)


def post(c: TestClient, case_id: str, path: str, **fields: Any) -> Any:
    page = c.get(f"/ui/cases/{case_id}")
    return c.post(f"/ui/cases/{case_id}/{path}", data={"csrf": csrf_of(page.text), **fields})


def api_case(c: TestClient, case_id: str) -> dict[str, Any]:
    r = c.get(f"/cases/{case_id}", headers={"Authorization": "Bearer demo-admin-key"})
    out: dict[str, Any] = r.json()
    return out


def test_the_form_submits_a_request_built_from_its_fields(client_for) -> None:
    c = client_for("demo-submitter-key")
    case_id = submit(c, NSCLC_PEND)
    case = api_case(client_for(), case_id)
    assert case["status"] == "pended"
    assert case["org"] == "demo-clinic"
    assert case["determination"]["requested_daily_dose_mg"] == 960
    assert [q["id"] for q in case["questions"]] == [
        "initial.nsclc.kras_g12c",
        "initial.liver_function_monitoring",
    ]
    page = c.get(f"/ui/cases/{case_id}?done=submitted").text
    assert "The request is submitted." in page
    assert "Prescriber agrees to monitor AST, ALT" in page  # the policy's wording beside it


def test_the_form_offers_the_drugs_strengths_and_attestations(client_for) -> None:
    page = client_for("demo-submitter-key").get("/ui/submit?drug=Lumakras").text
    assert re.findall(r'<option value="(\d+)"', page)[:3] == ["120", "240", "320"]
    assert 'name="attestations.liver_function_monitoring"' in page


def test_errors_are_shown_next_to_their_field(client_for) -> None:
    c = client_for("demo-submitter-key")
    page = c.get("/ui/submit?drug=Lumakras")
    cases = {
        "diagnoses[0].code": ("XX", "not an ICD-10-CM code"),
        "member.birth_date": ("1962-02-30", "is not a date (expected YYYY-MM-DD)"),
        "medication.strength_mg": ("100", "100 mg is not a strength of Lumakras"),
        "medication.quantity": ("many", "is not a number"),
        "date_of_service": ("", "required"),
    }
    for field, (value, message) in cases.items():
        r = c.post("/ui/submit", data={"csrf": csrf_of(page.text), **MELANOMA, field: value})
        assert r.status_code == 422, field
        error = re.search(rf'id="{re.escape(field)}-error">([^<]*)<', r.text)
        assert error, field
        assert message in error.group(1).replace("&#39;", "'"), (field, error.group(1))
        assert f'id="{field}"' in r.text and 'aria-invalid="true"' in r.text
    listed = api_case_count(client_for())
    assert listed == 0  # nothing half-written


def api_case_count(c: TestClient) -> int:
    return len(c.get("/cases", headers={"Authorization": "Bearer demo-admin-key"}).json())


def test_answering_a_pend_gives_the_new_determination(client_for) -> None:
    c = client_for("demo-submitter-key")
    case_id = submit(c, NSCLC_PEND)
    r = post(
        c,
        case_id,
        "answers",
        **{"q:initial.nsclc.kras_g12c": "yes", "q:initial.liver_function_monitoring": "yes"},
    )
    assert r.status_code == 303
    page = c.get(r.headers["location"]).text
    assert "Your answers were recorded" in page
    assert "2026-06-15 to 2027-06-14" in page
    assert api_case(client_for(), case_id)["status"] == "approved"


def test_a_pend_needs_at_least_one_answer(client_for) -> None:
    c = client_for("demo-submitter-key")
    case_id = submit(c, NSCLC_PEND)
    r = post(c, case_id, "answers")
    assert r.status_code == 422
    assert "Answer at least one question" in r.text


def test_confirming_a_denial_cites_the_chosen_criteria(client_for) -> None:
    case_id = submit(client_for("demo-submitter-key"), MELANOMA)
    reviewer = client_for("demo-reviewer-key")
    page = reviewer.get(f"/ui/cases/{case_id}").text
    assert "Metastatic colorectal cancer (mCRC)" in page  # the checklist in the policy's words
    assert "from diagnoses" in page  # where the deciding fact came from
    r = post(
        reviewer,
        case_id,
        "review",
        action="confirm_denial",
        cite="initial.nsclc.diagnosis",
        note="Melanoma is not a covered indication.",
    )
    assert r.status_code == 303
    case = api_case(client_for(), case_id)
    assert case["status"] == "denied"
    assert case["decision_reason"] == (
        "Melanoma is not a covered indication.\nCriteria cited: initial.nsclc.diagnosis"
    )


def test_a_decision_someone_else_made_first_is_a_clear_message(client_for) -> None:
    case_id = submit(client_for("demo-submitter-key"), MELANOMA)
    a, b = client_for("demo-reviewer-key"), client_for("demo-reviewer2-key")
    page_a, page_b = a.get(f"/ui/cases/{case_id}"), b.get(f"/ui/cases/{case_id}")
    r = a.post(
        f"/ui/cases/{case_id}/review",
        data={"csrf": csrf_of(page_a.text), "action": "confirm_denial", "note": "not covered"},
    )
    assert r.status_code == 303
    late = b.post(
        f"/ui/cases/{case_id}/review",
        data={"csrf": csrf_of(page_b.text), "action": "overturn", "note": "looks fine"},
    )
    assert late.status_code == 409
    assert "Your action was not recorded" in late.text
    assert "is denied, not awaiting review" in late.text
    assert 'role="alert"' in late.text
    assert api_case(client_for(), case_id)["status"] == "denied"


def test_an_appeal_goes_to_a_different_reviewer(client_for) -> None:
    submitter = client_for("demo-submitter-key")
    case_id = submit(submitter, MELANOMA)
    a = client_for("demo-reviewer-key")
    post(a, case_id, "review", action="confirm_denial", note="not covered")
    assert post(submitter, case_id, "appeal", reason="").status_code == 422
    r = post(submitter, case_id, "appeal", reason="New pathology report attached.")
    assert r.status_code == 303
    page = a.get(f"/ui/cases/{case_id}").text
    assert "a different pharmacist decides its appeal" in page
    forced = post(a, case_id, "appeal-decision", action="overturn", note="I changed my mind")
    assert forced.status_code == 403
    b = client_for("demo-reviewer2-key")
    r = post(b, case_id, "appeal-decision", action="overturn", note="The report shows NSCLC.")
    assert r.status_code == 303
    case = api_case(client_for(), case_id)
    assert (case["status"], case["decided_by"], case["appealed"]) == (
        "approved",
        "Pharmacist B",
        True,
    )
    page = b.get(f"/ui/cases/{case_id}").text
    assert "2026-06-15 to 2027-06-14, at most 960 mg per day" in page  # the authorization


def test_withdrawing_an_open_request(client_for) -> None:
    c = client_for("demo-submitter-key")
    case_id = submit(c, NSCLC_PEND)
    r = post(c, case_id, "withdraw", reason="Patient changed plans")
    assert r.status_code == 303
    assert api_case(client_for(), case_id)["status"] == "withdrawn"
    assert post(c, case_id, "withdraw").status_code == 409


# --- letters ---------------------------------------------------------------------------------


def test_a_denial_letter_gives_each_reason_in_the_policys_words(client_for) -> None:
    case_id = submit(client_for("demo-submitter-key"), MELANOMA)
    reviewer = client_for("demo-reviewer-key")
    post(reviewer, case_id, "review", action="confirm_denial", note="Melanoma is not covered.")
    r = reviewer.get(f"/ui/cases/{case_id}/letter.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = pdf_text(r.content)
    for part in (
        "Prior authorization decision",
        "W-0001",  # the member
        "Dr. Ada Lovelace (NPI 1234567893)",  # the prescriber
        "Lumakras 120",  # the drug
        "Denied",
        "Lumakras may be considered investigational for all other indications.",
        "Locally advanced or metastatic non-small cell lung cancer (NSCLC)",  # what is covered
        "Metastatic colorectal cancer (mCRC)",
        "Melanoma is not covered.",
        "What would be needed: A diagnosis the policy covers",
        "appeal this decision",
        "within 180 days",
        "Deadline: 2026-11-28",  # decided 2026-06-01, plus 180 days
        "5.21.177 Lumakras, version effective 2026-04-01",
    ):
        assert part in text, part


def test_an_approval_letter_gives_the_period_and_quantity(client_for) -> None:
    c = client_for("demo-submitter-key")
    body = json.loads((ROOT / "examples" / "nsclc-initial-partial.json").read_text())
    created = (
        client_for()
        .post("/cases", json=body, headers={"Authorization": "Bearer demo-submitter-key"})
        .json()
    )
    text = pdf_text(c.get(f"/ui/cases/{created['id']}/letter.pdf").content)
    assert "Partially approved" in text
    assert "authorized from 2026-06-15 to 2027-06-14" in text
    assert "at most 960 mg per day" in text
    assert "Quantity limit:" in text
    assert "Why the quantity was reduced" in text
    assert "Quantity 960 mg per day" in text  # the policy's wording of the limit
    assert "within 180 days" in text  # the reduction can be appealed


def test_the_letter_in_the_json_api_and_only_for_decided_cases(client_for) -> None:
    api = client_for()
    pend = api.post(
        "/cases",
        json=json.loads((ROOT / "examples" / "nsclc-initial-pend.json").read_text()),
        headers={"Authorization": "Bearer demo-submitter-key"},
    ).json()
    r = api.get(
        f"/cases/{pend['id']}/letter.pdf", headers={"Authorization": "Bearer demo-submitter-key"}
    )
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert api.get(f"/cases/{pend['id']}/letter.pdf").status_code == 401
    approved = api.post(
        "/cases",
        json=json.loads((ROOT / "examples" / "nsclc-initial-approve.json").read_text()),
        headers={"Authorization": "Bearer demo-submitter-key"},
    ).json()
    other = api.get(
        f"/cases/{approved['id']}/letter.pdf",
        headers={"Authorization": "Bearer demo-other-clinic-key"},
    )
    assert other.status_code == 404
    ok = api.get(
        f"/cases/{approved['id']}/letter.pdf",
        headers={"Authorization": "Bearer demo-submitter-key"},
    )
    assert ok.status_code == 200
    assert "Approved" in pdf_text(ok.content)


def test_what_a_request_says_is_shown_as_text_never_as_markup(client_for) -> None:
    body = json.loads((ROOT / "examples" / "investigational-deny.json").read_text())
    body["member"]["id"] = "<script>alert(1)</script>"
    created = (
        client_for()
        .post("/cases", json=body, headers={"Authorization": "Bearer demo-submitter-key"})
        .json()
    )
    r = client_for("demo-reviewer-key").get(f"/ui/cases/{created['id']}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert "<script>alert(1)" not in r.text
    assert "script-src 'none'" in r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"


def test_the_queue_pages_twenty_at_a_time_most_urgent_first(client_for, clock) -> None:
    api = client_for()
    body = json.loads((ROOT / "examples" / "investigational-deny.json").read_text())
    for i in range(25):
        body["member"]["id"] = f"Q-{i:03d}"
        body["urgency"] = "expedited" if i == 24 else "standard"
        r = api.post("/cases", json=body, headers={"Authorization": "Bearer demo-submitter-key"})
        assert r.status_code == 201
        clock.advance(minutes=1)
    reviewer = client_for("demo-reviewer-key")
    first = reviewer.get("/ui/queue").text
    members = re.findall(r"<td>(Q-\d{3})</td>", first)
    assert len(members) == 20
    assert members[:3] == ["Q-024", "Q-000", "Q-001"]  # the expedited one is due first
    assert "25 cases waiting" in first
    following = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', first)
    assert following is not None
    second_page = reviewer.get(html.unescape(following.group(1))).text
    second = re.findall(r"<td>(Q-\d{3})</td>", second_page)
    assert second == [f"Q-{i:03d}" for i in range(19, 24)]
    assert 'rel="next"' not in second_page  # the last page
    assert '<a href="/ui/queue">First page</a>' in second_page
    only = re.findall(r"<td>(Q-\d{3})</td>", reviewer.get("/ui/queue?status=in_appeal").text)
    assert only == []


def test_a_full_approval_letter_has_no_appeal_section(client_for) -> None:
    body = json.loads((ROOT / "examples" / "nsclc-initial-approve.json").read_text())
    created = (
        client_for()
        .post("/cases", json=body, headers={"Authorization": "Bearer demo-submitter-key"})
        .json()
    )
    c = client_for("demo-submitter-key")
    text = pdf_text(c.get(f"/ui/cases/{created['id']}/letter.pdf").content)
    assert "Approved" in text and "authorized from 2026-06-15 to 2027-06-14" in text
    assert "appeal rights" not in text.lower()


def test_a_letter_after_an_upheld_appeal_offers_external_review(client_for, clock) -> None:
    submitter = client_for("demo-submitter-key")
    case_id = submit(submitter, MELANOMA)
    post(client_for("demo-reviewer-key"), case_id, "review", action="confirm_denial", note="no")
    post(submitter, case_id, "appeal", reason="Please look again.")
    clock.advance(days=3)
    b = client_for("demo-reviewer2-key")
    post(b, case_id, "appeal-decision", action="uphold", note="Melanoma is still not covered.")
    text = pdf_text(submitter.get(f"/ui/cases/{case_id}/letter.pdf").content)
    assert "Denied (decision on appeal)" in text
    assert "external review" in text
    assert "Deadline: 2026-10-04" in text  # decided 2026-06-04, plus 4 months
