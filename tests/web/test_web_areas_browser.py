"""The workbench's facts of every therapeutic area, in a real browser (Debian's Chromium): the
submitter gives the member's sex, observations with units and dates (adding and removing rows),
the diagnosis' severity, the drugs tried before with their dates, days and doses, and the
strength as written with its form; the case page shows them all. A pend that asks for a BMI is
answered with the value, its unit and date, and the letter names the BMI the approval rests on.
axe-core checks each page."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from area_policies import write_policies
from playwright.sync_api import expect
from test_web_browser import ARGS, CHROMIUM, SHOTS, Site
from web_support import FakeClock, pdf_text, serve

from priorauth.server import create_app
from priorauth.service.config import Settings

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium is not installed (apt-get install chromium)"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    clock = FakeClock()
    folder = tmp_path_factory.mktemp("web-areas")
    settings = Settings(
        database_url=f"sqlite:///{folder}/pa.db",
        demo_keys=True,
        policies=write_policies(folder / "policies"),
    )
    app = create_app(settings, clock=clock)
    with serve(app) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            site = Site(base, browser, app, clock)
            site.shots = 50  # after the other browser tests' screenshots
            yield site
        finally:
            browser.close()
            app.state.service.db.engine.dispose()


def _fill_request(page: object, member: str) -> None:
    page.get_by_label("Date of service").fill("2026-06-15")  # type: ignore[attr-defined]
    page.get_by_label("Member id").fill(member)  # type: ignore[attr-defined]
    page.get_by_label("Member's date of birth").fill("1961-03-09")  # type: ignore[attr-defined]
    page.get_by_label("Quantity (tablets)").fill("240")  # type: ignore[attr-defined]


def test_observations_severity_and_trials_go_in_and_show_with_units_and_dates(
    site: Site,
) -> None:
    page = site.sign_in("demo-submitter-key")
    page.goto(site.base + "/ui/submit?drug=Lumakras")
    _fill_request(page, "EX-0801")
    page.get_by_label("Member's sex").select_option("male")
    page.get_by_label("Amount per unit, as written").fill("120 mg")
    page.get_by_label("Form the quantity counts").select_option("tablet")
    page.get_by_label("ICD-10-CM code").fill("C34.31")
    page.get_by_label("Severity").select_option("severe")
    page.get_by_label("Observation 1", exact=True).fill("BMI")
    page.get_by_label("Value 1", exact=True).fill("31.2")
    page.get_by_label("Unit 1", exact=True).fill("kg/m2")
    page.get_by_label("Date measured 1", exact=True).fill("2026-06-01")

    # Two rows more, the values given so far kept; then the middle one removed.
    page.get_by_role("button", name="Add an observation").click()
    expect(page.get_by_label("Observation 2", exact=True)).to_be_visible()
    expect(page.get_by_label("Value 1", exact=True)).to_have_value("31.2")
    page.get_by_label("Observation 2", exact=True).fill("body weight")
    page.get_by_label("Value 2", exact=True).fill("201")
    page.get_by_label("Unit 2", exact=True).fill("lb")
    page.get_by_role("button", name="Add an observation").click()
    page.get_by_label("Observation 3", exact=True).fill("2986-8")
    page.get_by_label("Value 3", exact=True).fill("250")
    page.get_by_label("Unit 3", exact=True).fill("ng/dL")
    page.get_by_label("Date measured 3", exact=True).fill("2026-05-04T08:10")
    page.get_by_role("button", name="Remove observation 2").click()
    expect(page.get_by_label("Observation 3", exact=True)).to_have_count(0)
    expect(page.get_by_label("Observation 2", exact=True)).to_have_value("2986-8")
    expect(page.get_by_label("Date measured 2", exact=True)).to_have_value("2026-05-04T08:10")

    page.get_by_label("Drug tried 1", exact=True).fill("metformin")
    page.get_by_label("Outcome 1", exact=True).select_option("failure")
    page.get_by_label("Started 1", exact=True).fill("2026-01-05")
    page.get_by_label("Stopped 1", exact=True).fill("2026-03-30")
    page.get_by_label("Days tried 1", exact=True).fill("84")
    page.get_by_label("Daily dose (mg) 1", exact=True).fill("2000")
    site.check(page, "areas-submit-form")
    page.get_by_role("button", name="Submit the request").click()
    expect(page.get_by_text("The request is submitted.")).to_be_visible()

    summary = page.locator(".summary")
    expect(summary).to_contain_text("sex male")
    expect(summary).to_contain_text("Lumakras 120 mg, 240 tablets per 30 days")
    expect(summary).to_contain_text("C34.31 (severe)")
    rows = page.locator("table.observations tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("BMI")
    expect(rows.nth(0)).to_contain_text("31.2 kg/m2")
    expect(rows.nth(0)).to_contain_text("2026-06-01")
    expect(rows.nth(1)).to_contain_text("total testosterone")
    expect(rows.nth(1)).to_contain_text("LOINC 2986-8")
    expect(rows.nth(1)).to_contain_text("250 ng/dL")
    expect(rows.nth(1)).to_contain_text("2026-05-04 08:10")
    trial = page.locator("table.trials tbody tr td")
    expect(trial).to_have_text(
        ["metformin", "failure", "2026-01-05", "2026-03-30", "84", "2000 mg"]
    )
    site.check(page, "areas-case")


def test_a_unit_that_does_not_convert_is_shown_at_its_row(site: Site) -> None:
    page = site.sign_in("demo-submitter-key")
    page.goto(site.base + "/ui/submit?drug=Lumakras")
    _fill_request(page, "EX-0802")
    page.get_by_label("Observation 1", exact=True).fill("BMI")
    page.get_by_label("Value 1", exact=True).fill("31")
    page.get_by_label("Unit 1", exact=True).fill("furlongs")
    page.get_by_role("button", name="Submit the request").click()
    error = page.locator("#observations\\[0\\]\\.unit-error")
    expect(error).to_contain_text("does not convert")
    expect(page.get_by_role("alert")).to_contain_text("Observation 1: unit")
    # Nothing typed is lost.
    expect(page.get_by_label("Member id")).to_have_value("EX-0802")
    site.check(page, "areas-submit-unit-error")


def test_enter_in_a_field_submits_the_request_not_a_row_button(site: Site) -> None:
    page = site.sign_in("demo-submitter-key")
    page.goto(site.base + "/ui/submit?drug=Lumakras")
    _fill_request(page, "EX-0803")
    page.get_by_label("Member id").press("Enter")
    expect(page.get_by_text("The request is submitted.")).to_be_visible()


def test_a_pend_for_a_bmi_is_answered_with_the_value_and_the_letter_names_it(
    site: Site,
) -> None:
    request = {
        "kind": "initial",
        "date_of_service": "2026-06-15",
        "member": {"id": "EX-0810", "birth_date": "1979-04-02", "sex": "female"},
        "medication": {
            "name": "Wegovy",
            "strength_mg": 2.4,
            "quantity": 4,
            "days_supply": 28,
            "strength": "2.4 mg/0.75 mL",
            "form": "pen",
        },
        "diagnoses": [{"code": "E66.811"}],
    }
    case = site.api("POST", "/cases", "demo-submitter-key", json=request)
    assert case["status"] == "pended"
    page = site.sign_in("demo-submitter-key")
    page.goto(f"{site.base}/ui/cases/{case['id']}")
    question = page.locator("fieldset.question").filter(has_text="BMI")
    expect(question).to_contain_text("Give the BMI and the date it was measured")
    expect(question.get_by_label("BMI: unit")).to_have_value("kg/m2")
    question.get_by_label("BMI: value").fill("32.4")
    question.get_by_label("BMI: date measured").fill("2026-06-01")
    site.check(page, "areas-pend-asks-bmi")
    page.get_by_role("button", name="Send the answers").click()
    expect(page.get_by_text("Your answers were recorded")).to_be_visible()
    expect(page.locator(".summary .status")).to_have_text("approved")
    bmi = page.locator("table.observations tbody tr").filter(has_text="BMI")
    expect(bmi).to_contain_text("32.4 kg/m2")
    expect(bmi).to_contain_text("yes: initial.bmi_30_or_27")
    site.check(page, "areas-approved-on-bmi")

    href = page.get_by_role("link", name=re.compile("decision letter")).get_attribute("href")
    letter = pdf_text(page.request.get(site.base + str(href)).body())
    assert "Results and measurements this decision relied on" in letter
    assert "32.4 kg/m2, measured 2026-06-01" in letter
