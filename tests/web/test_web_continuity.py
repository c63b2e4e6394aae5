"""Continuity of care through the workbench: the submit form takes another payer's
authorization, and the case page shows it with the approval's basis."""

from __future__ import annotations

import re

from test_web_cases import NSCLC_PEND, api_case, submit
from web_support import csrf_of, pdf_text

PRIOR = {
    "prior_authorization.payer": "aetna-commercial",
    "prior_authorization.number": "AET-2026-004417",
    "prior_authorization.drug": "sotorasib",
    "prior_authorization.start": "2026-01-12",
    "prior_authorization.end": "2026-07-11",
}


def test_the_form_sends_another_payers_authorization_and_the_page_shows_the_basis(
    client_for,
) -> None:
    c = client_for("demo-submitter-key")
    case_id = submit(c, {**NSCLC_PEND, **PRIOR})
    case = api_case(client_for(), case_id)
    assert case["status"] == "approved"
    assert case["determination"]["approval_basis"] == "continuity_of_care"
    page = c.get(f"/ui/cases/{case_id}").text
    assert "<dt>Approval basis</dt><dd>continuity of care</dd>" in page
    assert "AET-2026-004417 from aetna-commercial for sotorasib, 2026-01-12 to 2026-07-11" in page
    assert "2026-06-15 to 2026-09-12" in page  # the 90-day transition


def test_a_partly_filled_prior_authorization_names_the_missing_field(client_for) -> None:
    c = client_for("demo-submitter-key")
    page = c.get("/ui/submit?drug=Lumakras")
    fields = {**NSCLC_PEND, **PRIOR, "prior_authorization.number": ""}
    r = c.post("/ui/submit", data={"csrf": csrf_of(page.text), **fields})
    assert r.status_code == 422
    error = re.search(r'id="prior_authorization.number-error">([^<]*)<', r.text)
    assert error and "required" in error.group(1)


def test_an_authorization_ending_before_it_starts_is_shown_at_its_field(client_for) -> None:
    c = client_for("demo-submitter-key")
    page = c.get("/ui/submit?drug=Lumakras")
    fields = {**NSCLC_PEND, **PRIOR, "prior_authorization.start": "2026-08-01"}
    r = c.post("/ui/submit", data={"csrf": csrf_of(page.text), **fields})
    assert r.status_code == 422
    error = re.search(r'id="prior_authorization.start-error">([^<]*)<', r.text)
    assert error and "is after prior_authorization.end" in error.group(1)


def test_the_letter_of_a_continuity_approval_gives_the_transition(client_for) -> None:
    c = client_for("demo-submitter-key")
    case_id = submit(c, {**NSCLC_PEND, **PRIOR})
    text = pdf_text(c.get(f"/ui/cases/{case_id}/letter.pdf").content)
    assert "authorized from 2026-06-15 to 2026-09-12" in text
    assert "Duration: 90 days." in text
    assert "Continuity of care: Prior authorization AET-2026-004417 from aetna-commercial" in text
