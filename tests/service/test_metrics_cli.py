"""The service's reports on the command line: `priorauth metrics real-time` and
`priorauth metrics prior-authorization`, on a database whose cases were made through the
service, print what the JSON API answers."""

from __future__ import annotations

import csv
import io
import json

from fastapi.testclient import TestClient
from service_support import REVIEWER
from test_gold_card_cli import on_db as on_db  # the commands read the application's database
from test_gold_card_cli import run
from test_real_time import DAY, KRAS, LIVER
from test_real_time import mixed as mixed  # the day's cases: 5 approvals, 3 in real time

PERIOD = ("--from", "2026-06-01", "--to", "2026-06-01")


def test_json_is_the_api_document(mixed: TestClient, on_db: None) -> None:
    printed = json.loads(run("metrics", "real-time", *PERIOD, "--json"))
    answered = mixed.get("/metrics/real-time", params=DAY, headers=REVIEWER).json()
    assert printed == answered
    assert (printed["approvals"], printed["real_time"], printed["share"]) == (5, 3, 0.6)


def test_the_table_shows_the_share_against_the_target_and_the_pend_drivers(
    mixed: TestClient, on_db: None
) -> None:
    shown = run("metrics", "real-time", *PERIOD)
    assert "3 of 5 approvals (60%), target 80%: below" in shown
    lines = shown.splitlines()
    assert any("Krazati" in line and "100%" in line for line in lines)
    assert any("Lumakras" in line and " 4 " in line and "50%" in line for line in lines)
    assert any("other-clinic" in line and "100%" in line for line in lines)
    assert any(LIVER in line and " 2 " in line for line in lines)
    assert any(KRAS in line and "KRAS G12C" in line for line in lines)


def test_an_empty_period_says_so(mixed: TestClient, on_db: None) -> None:
    shown = run("metrics", "real-time", "--from", "2026-06-02", "--to", "2026-06-30")
    assert "0 of 0 approvals (-), target 80%: no approvals" in shown


def test_bad_periods_are_one_line_naming_the_option(on_db: None) -> None:
    for args, message in [
        (("--from", "June", "--to", "2026-06-01"), "--from: 'June' is not a date"),
        (("--from", "2026-06-01", "--to", "2026-02-30"), "--to: '2026-02-30' is not a date"),
        (("--from", "2026-07-01", "--to", "2026-06-01"), "--from: 2026-07-01 is after --to"),
    ]:
        for command in ("real-time", "prior-authorization"):
            out = run("metrics", command, *args, code=2)
            assert out.startswith(f"error: {message}") and len(out.strip().splitlines()) == 1


def test_the_cms_figures_are_the_api_document_and_its_csv(mixed: TestClient, on_db: None) -> None:
    printed = json.loads(run("metrics", "prior-authorization", *PERIOD))
    url = "/metrics/prior-authorization"
    assert printed == mixed.get(url, params=DAY, headers=REVIEWER).json()
    assert printed["standard"]["approved_real_time"] == 3
    table = run("metrics", "prior-authorization", *PERIOD, "--csv")
    answered = mixed.get(url, params={**DAY, "format": "csv"}, headers=REVIEWER).text
    # The same CSV (RFC 4180's CRLF line ends: the test runner reads them as \n).
    assert table == answered.replace("\r\n", "\n")
    rows = {r["urgency"]: r for r in csv.DictReader(io.StringIO(table))}
    assert rows["standard"]["percent_of_approvals_real_time"] == "60.0"
