"""The workbench in a real browser (Debian's Chromium, driven by Playwright): the day of each
role, by clicking and typing as a person would. axe-core checks every page opened (no serious
or critical violation); a screenshot of each page goes to var/screenshots/ (not committed)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from web_support import ROOT, FakeClock, make_app, pdf_text, serve

from priorauth.service.users import create_user

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SHOTS = ROOT / "var" / "screenshots"
# Without the networking switches Chromium calls home at start and the closed network here
# refuses it, many times over.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium is not installed (apt-get install chromium)"
)


class Site:
    """The running service, the browser, and what the day's steps hand to each other."""

    def __init__(self, base: str, browser: Any, app: Any, clock: FakeClock) -> None:
        self.base, self.browser, self.app, self.clock = base, browser, app, clock
        self.shots = 0
        self.cases: dict[str, str] = {}

    def api(self, method: str, path: str, key: str, **kw: Any) -> Any:
        r = httpx.request(
            method, self.base + path, headers={"Authorization": f"Bearer {key}"}, **kw
        )
        assert r.status_code < 400, r.text
        return r.json()

    def sign_in(self, key: str) -> Any:
        # The pages forbid every script (CSP); the test browser lets axe-core in all the same.
        context = self.browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(self.base + "/ui/")
        assert "/ui/login" in page.url
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in with the key").click()
        page.wait_for_load_state()
        return page

    def check(self, page: Any, name: str) -> None:
        """axe-core on the page as it is now, then a screenshot."""
        page.wait_for_load_state()
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(n["target"][0] for n in v["nodes"][:3])
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert not bad, f"{name}: " + "; ".join(bad)
        self.shots += 1
        page.screenshot(path=str(SHOTS / f"{self.shots:02d}-{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from playwright.sync_api import sync_playwright

    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    clock = FakeClock()
    app = make_app(f"sqlite:///{tmp_path_factory.mktemp('web')}/pa.db", clock)
    with serve(app) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield Site(base, browser, app, clock)
        finally:
            browser.close()
            app.state.service.db.engine.dispose()


def example(name: str, member: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((ROOT / "examples" / f"{name}.json").read_text())
    body["member"]["id"] = member
    body.update(changes)
    return body


def test_a_submitters_day(site: Site) -> None:
    page = site.sign_in("demo-submitter-key")
    assert page.url.endswith("/ui/cases")
    site.check(page, "submitter-cases-empty")
    page.get_by_role("link", name="Submit a request").click()
    site.check(page, "submit-choose-drug")
    page.get_by_role("link", name=re.compile("^Lumakras")).click()
    page.get_by_label("Date of service").fill("2026-06-15")
    page.get_by_label("Member id").fill("EX-0003")
    page.get_by_label("Member's date of birth").fill("1949-12-30")
    page.get_by_label("Prescriber's name").fill("Dr. Grace Hopper")
    page.get_by_label("Strength").select_option("120")
    page.get_by_label("Quantity (tablets)").fill("240")
    page.get_by_label("ICD-10-CM code").fill("C34.31")
    page.get_by_label("Histology").fill("squamous_cell")
    page.get_by_label("Extent").select_option("locally_advanced")
    page.get_by_label("Prior therapies").fill("cisplatin\ngemcitabine")
    page.get_by_label("Used together with").fill("none")
    site.check(page, "submit-form")
    page.get_by_role("button", name="Submit the request").click()
    expect(page.get_by_text("The request is submitted.")).to_be_visible()
    expect(page.locator(".summary .status")).to_have_text("pended: questions open")
    site.check(page, "case-pended")
    questions = page.locator("fieldset.question")
    expect(questions).to_have_count(2)
    questions.nth(0).get_by_label("Yes").check()
    questions.nth(1).get_by_label("Yes").check()
    page.get_by_role("button", name="Send the answers").click()
    expect(page.get_by_text("Your answers were recorded")).to_be_visible()
    expect(page.locator(".summary .status")).to_have_text("approved")
    expect(page.get_by_text("2026-06-15 to 2027-06-14")).to_be_visible()
    site.check(page, "case-approved-after-answers")

    # A request for a diagnosis the policy does not cover: a recommended denial.
    page.goto(site.base + "/ui/submit?drug=Lumakras")
    page.get_by_label("Date of service").fill("2026-06-15")
    page.get_by_label("Member id").fill("EX-0005")
    page.get_by_label("Member's date of birth").fill("1962-09-14")
    page.get_by_label("Quantity (tablets)").fill("240")
    page.get_by_label("ICD-10-CM code").fill("C43.9")
    page.get_by_label("Gene 1").fill("KRAS")
    page.get_by_label("Alteration 1").fill("G12C")
    page.get_by_label("Prior therapies").fill("nivolumab")
    page.get_by_label(re.compile("^Prescriber agrees to monitor AST, ALT")).check()
    # First a mistake, shown next to its field.
    page.get_by_label("Member's date of birth").fill("2030-01-01")
    page.get_by_role("button", name="Submit the request").click()
    error = page.locator("#member\\.birth_date-error")
    assert "after date_of_service" in error.inner_text()
    site.check(page, "submit-form-error")
    page.get_by_label("Member's date of birth").fill("1962-09-14")
    page.get_by_role("button", name="Submit the request").click()
    expect(page.locator(".summary .status")).to_have_text("recommended denial: in review")
    site.cases["denial"] = page.url.split("/ui/cases/")[1].split("?")[0]


def test_a_reviewers_day(site: Site) -> None:
    # More work in the queue: an expedited case, another clinic's, one soon overdue.
    site.api(
        "POST",
        "/cases",
        "demo-other-clinic-key",
        json=example("investigational-deny", "OC-0101", urgency="expedited"),
    )
    site.clock.advance(days=8)
    site.api(
        "POST", "/cases", "demo-submitter-key", json=example("investigational-deny", "EX-0207")
    )
    page = site.sign_in("demo-reviewer-key")
    assert page.url.endswith("/ui/queue")
    expect(page.locator("tbody tr")).to_have_count(3)
    expect(page.locator("tr.overdue")).to_have_count(2)  # the expedited one and the first one
    assert "overdue by" in page.locator("tr.overdue").first.inner_text()
    site.check(page, "reviewer-queue")
    page.get_by_label("Organization").select_option("other-clinic")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    site.check(page, "reviewer-queue-filtered")

    page.goto(f"{site.base}/ui/cases/{site.cases['denial']}")
    checklist = page.locator("ul.checklist")
    assert "Metastatic colorectal cancer (mCRC)" in checklist.inner_text()
    assert "from diagnoses" in checklist.inner_text()
    site.check(page, "reviewer-case")
    page.get_by_label("Reason for the denial").fill("Melanoma is not a listed indication.")
    page.get_by_role("button", name="Confirm the denial").click()
    expect(page.get_by_text("The denial is confirmed")).to_be_visible()
    site.check(page, "case-denied")
    href = page.get_by_role("link", name=re.compile("decision letter")).get_attribute("href")
    letter = page.request.get(site.base + str(href))
    assert letter.headers["content-type"] == "application/pdf"
    text = pdf_text(letter.body())
    assert "Denied" in text and "Lumakras may be considered investigational" in text
    assert "Deadline:" in text


def test_a_reviewer_sees_a_concurrent_decision_as_a_message(site: Site) -> None:
    case = site.api(
        "POST", "/cases", "demo-submitter-key", json=example("investigational-deny", "EX-0300")
    )
    a, b = site.sign_in("demo-reviewer-key"), site.sign_in("demo-reviewer2-key")
    for p in (a, b):
        p.goto(f"{site.base}/ui/cases/{case['id']}")
    a.get_by_label("Reason for the denial").fill("Not covered.")
    a.get_by_role("button", name="Confirm the denial").click()
    b.get_by_label("Reason for approving").fill("Covered after all.")
    b.get_by_role("button", name="Overturn and approve").click()
    alert = b.get_by_role("alert")
    assert "Your action was not recorded" in alert.inner_text()
    expect(b.locator(".summary .status")).to_have_text("denied")
    site.check(b, "concurrent-decision-message")


def test_the_submitter_appeals(site: Site) -> None:
    page = site.sign_in("demo-submitter-key")
    page.get_by_role("link", name=site.cases["denial"][:8]).click()
    page.get_by_label("Why the denial should be overturned").fill(
        "Pathology review: the primary is lung (NSCLC)."
    )
    page.get_by_role("button", name="Appeal the denial").click()
    expect(page.get_by_text("The appeal is filed")).to_be_visible()
    expect(page.locator(".summary .status")).to_have_text("in appeal")
    site.check(page, "case-in-appeal")


def test_the_appeal_is_decided_by_the_other_reviewer(site: Site) -> None:
    case_url = f"{site.base}/ui/cases/{site.cases['denial']}"
    first = site.sign_in("demo-reviewer-key")
    first.goto(case_url)
    expect(first.get_by_text("a different pharmacist decides its appeal")).to_be_visible()
    assert first.get_by_role("button", name="Record the appeal decision").count() == 0
    second = site.sign_in("demo-reviewer2-key")
    second.get_by_label("Status").select_option("in_appeal")
    second.get_by_role("button", name="Filter").click()
    second.get_by_role("link", name=site.cases["denial"][:8]).click()
    second.get_by_label("Overturn the denial: approve").check()
    second.get_by_label("Reason").fill("Pathology confirms NSCLC with KRAS G12C.")
    second.get_by_role("button", name="Record the appeal decision").click()
    expect(second.get_by_text("The appeal is granted")).to_be_visible()
    expect(second.locator(".summary .status")).to_have_text("approved")
    site.check(second, "case-approved-on-appeal")


def test_the_metrics_move(site: Site) -> None:
    page = site.sign_in("demo-reviewer-key")
    page.get_by_role("link", name="Metrics").click()
    page.get_by_label("From").fill("2026-06-01")
    page.get_by_label("To (inclusive)").fill("2026-06-30")
    page.get_by_role("button", name="Show").click()
    row = page.locator("tr", has=page.locator("th", has_text="Approved after appeal")).first
    expect(row.locator("td").first).to_have_text("1")  # standard requests
    expect(page.locator("svg[role=img]")).to_have_count(3)
    site.check(page, "metrics")
    page.get_by_role("link", name="Cases").click()
    expect(page.locator("tbody tr")).to_have_count(5)  # every case of the day
    site.check(page, "cases-all")
    page.goto(site.base + "/ui/cases/no-such-case")
    expect(page.get_by_role("alert")).to_contain_text("no case no-such-case")
    site.check(page, "not-found")
    page.goto(site.base + "/ui/metrics?from=2026-06-01&to=2026-06-30")
    csv_href = page.get_by_role("link", name="Download CSV").get_attribute("href")
    csv = page.request.get(site.base + str(csv_href)).text()
    assert csv.splitlines()[0].startswith("from,to,urgency,received")
    assert csv.splitlines()[1].startswith("2026-06-01,2026-06-30,standard,")


def test_policies_and_their_differences(site: Site) -> None:
    page = site.sign_in("demo-submitter-key")
    page.get_by_role("link", name="Policies").click()
    site.check(page, "policies")
    page.get_by_role("link", name="5.21.177").click()
    expect(page.get_by_text("Prescriber agrees to monitor AST, ALT").first).to_be_visible()
    site.check(page, "policy")
    page.goto(site.base + "/ui/policy-diff")
    page.get_by_label("Older version").select_option("5.99.101@2026-07-01")
    page.get_by_label("Newer version").select_option("5.21.177@2026-04-01")
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("heading", name="Criteria added")).to_be_visible()
    site.check(page, "policy-diff")


def test_keyboard_alone_signs_in_and_opens_a_case(site: Site) -> None:
    page = site.browser.new_context(bypass_csp=True).new_page()
    page.goto(site.base + "/ui/login")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "key":
            break
    assert page.evaluate("document.activeElement.id") == "key"
    page.keyboard.type("demo-reviewer2-key")
    page.keyboard.press("Enter")
    page.wait_for_url("**/ui/queue")
    site.check(page, "login-by-keyboard-then-queue")
    for _ in range(30):
        page.keyboard.press("Tab")
        if "/ui/cases/" in (page.evaluate("document.activeElement.getAttribute('href')") or ""):
            break
    page.keyboard.press("Enter")
    page.wait_for_url("**/ui/cases/*")


def test_a_password_user_signs_in_and_out(site: Site) -> None:
    with site.app.state.service.db.session() as s:
        create_user(s, "rita", "a password for rita", "reviewer", None, "Rita R., PharmD")
    page = site.browser.new_context(bypass_csp=True).new_page()
    page.goto(site.base + "/ui/login")
    site.check(page, "login")
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password", exact=True).fill("a password for rita")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_text("Rita R., PharmD · reviewer")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    assert "/ui/login" in page.url
    page.goto(site.base + "/ui/queue")
    assert "/ui/login" in page.url


def test_a_gold_card_is_earned_honored_on_the_form_and_rescinded(site: Site) -> None:
    npi = "1730000001"
    for i in range(5):
        body = example("nsclc-initial-approve", f"GC-WEB-{i}")
        body["prescriber"] = {"npi": npi, "name": "Dr. Gold"}
        assert site.api("POST", "/cases", "demo-submitter-key", json=body)["status"] == "approved"
    site.clock.advance(days=1)  # the next day's evaluation grants the card

    page = site.sign_in("demo-submitter-key")
    page.goto(site.base + "/ui/submit?drug=Lumakras")
    page.get_by_label("Date of service").fill("2026-07-01")
    page.get_by_label("Member id").fill("GC-WEB-HOLDER")
    page.get_by_label("Member's date of birth").fill("1962-09-14")
    page.get_by_label("Prescriber's NPI").fill(npi)
    page.get_by_label("Quantity (tablets)").fill("240")
    page.get_by_label("ICD-10-CM code").fill("C43.9")  # melanoma: the criteria would deny it
    page.get_by_role("button", name="Submit the request").click()
    expect(page.locator(".summary .status")).to_have_text("approved")
    expect(page.get_by_text(f"prescriber NPI {npi} is exempt").first).to_be_visible()
    site.check(page, "case-gold-card")

    page = site.sign_in("demo-reviewer-key")
    page.get_by_role("link", name="Gold cards").click()
    row = page.locator("tbody tr", has_text=npi)
    expect(row).to_contain_text("Lumakras")
    expect(row).to_contain_text("100.0%")
    site.check(page, "gold-cards")
    row.get_by_role("link").click()
    expect(page.locator("table")).to_contain_text("granted")
    site.check(page, "gold-card")
    page.get_by_label("Reason for rescinding").fill("2 of 5 sampled claims met the criteria.")
    page.get_by_role("button", name="Rescind the gold card").click()
    expect(page.get_by_text("The gold card is rescinded.")).to_be_visible()
    expect(page.locator("tbody tr", has_text=npi)).to_have_count(0)
    history = site.api("GET", "/gold-cards", "demo-admin-key", params={"as_of": "2026-01-01"})
    assert history == []


def test_the_real_time_panel_shows_the_share_and_the_pend_drivers(site: Site) -> None:
    page = site.sign_in("demo-admin-key")
    page.goto(site.base + "/ui/metrics?from=2026-06-01&to=2026-12-31")
    panel = page.locator("section", has=page.get_by_role("heading", name="Real-time approvals"))
    expect(panel.locator(".real-time-share")).to_contain_text("answered at submission")
    expect(panel.locator(".real-time-share")).to_contain_text("the target is 80%")
    expect(panel.locator("table.pend-drivers")).to_contain_text("KRAS G12C")
    site.check(page, "metrics-real-time")
