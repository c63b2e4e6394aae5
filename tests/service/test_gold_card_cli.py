"""Gold cards on the command line, on the service's database: `goldcard evaluate`, `list` and
`rescind`, and the post-service sample of `claims gold-cards`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_support import REVIEWER, FakeClock, submit
from test_gold_cards import NPI, approvals, request
from typer.testing import CliRunner

from priorauth.cli import app as cli
from priorauth.service.config import get_settings

runner = CliRunner()


@pytest.fixture
def on_db(app_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The commands read the database the test's application uses."""
    monkeypatch.setenv("PRIORAUTH_DATABASE_URL", app_db_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(cli, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == code, result.output
    return result.output


def run_json(*args: str) -> Any:
    return json.loads(run(*args, "--json"))


def test_evaluate_as_of_a_day_grants_once(client: TestClient, on_db: None) -> None:
    approvals(client, 5)  # decided 2026-06-01
    assert run_json("goldcard", "evaluate", "--as-of", "2026-06-01") == []
    [card] = run_json("goldcard", "evaluate", "--as-of", "2026-06-02")
    assert (card["npi"], card["drug"], card["decided"], card["approved"]) == (NPI, "Lumakras", 5, 5)
    assert (card["from"], card["until"]) == ("2026-06-02", "2026-12-01")
    assert run_json("goldcard", "evaluate", "--as-of", "2026-06-02") == []
    assert [c["id"] for c in run_json("goldcard", "list", "--as-of", "2026-06-02")] == [card["id"]]
    assert run_json("goldcard", "list", "--as-of", "2026-12-02") == []
    table = run("goldcard", "list", "--as-of", "2026-12-01")
    assert NPI in table and "2026-12-01" in table


def test_a_bad_day_is_one_line_naming_the_option(on_db: None) -> None:
    out = run("goldcard", "evaluate", "--as-of", "2026-02-30", code=2)
    assert out.strip() == "error: --as-of: '2026-02-30' is not a date (expected YYYY-MM-DD)"


def test_rescind_from_the_command_line_is_in_the_cards_trail(
    client: TestClient, on_db: None
) -> None:
    approvals(client, 5)
    [card] = run_json("goldcard", "evaluate", "--as-of", "2026-06-02")
    reason = "1 of 5 sampled claims met the criteria"
    out = run("goldcard", "rescind", str(card["id"]), "--reason", reason, "--by", "Pharmacist A")
    assert f"rescinded gold card {card['id']}" in out
    history = client.get(f"/gold-cards/{card['id']}", headers=REVIEWER).json()["history"]
    assert (history[-1]["action"], history[-1]["actor"], history[-1]["reason"]) == (
        "rescinded",
        "Pharmacist A",
        reason,
    )
    again = run("goldcard", "rescind", str(card["id"]), "--reason", "x", "--by", "B", code=2)
    assert "rescinded already" in again


def holder_requests(client: TestClient, clock: FakeClock, meeting: int, not_meeting: int) -> None:
    """A card from 2026-06-02, and requests approved under it that day: `meeting` meet the
    criteria, `not_meeting` (melanoma) do not."""
    approvals(client, 5)
    clock.advance(days=1)
    for i in range(meeting):
        case = submit(client, request("nsclc-initial-approve", f"GC-MEET-{i}"))
        assert case["determination"]["approval_basis"] == "gold_card"
    for i in range(not_meeting):
        case = submit(client, request("investigational-deny", f"GC-MISS-{i}"))
        assert case["determination"]["approval_basis"] == "gold_card"


SAMPLE = ("claims", "gold-cards", "--from", "2026-06-01", "--to", "2026-06-30")


def test_a_sample_under_90_percent_meeting_the_criteria_reports_the_card_to_rescind(
    client: TestClient, clock: FakeClock, on_db: None
) -> None:
    holder_requests(client, clock, meeting=4, not_meeting=4)
    [result] = run_json(*SAMPLE, "--seed", "7", "--sample-size", "5")
    assert (result["claims"], result["sampled"], result["verdict"]) == (8, 5, "rescind")
    assert result["met"] == 5 - len(result["not_met"]) and result["met"] < 5
    # Reproducible: the same seed draws the same sample; another seed, another draw.
    assert run_json(*SAMPLE, "--seed", "7", "--sample-size", "5") == [result]
    samples = {
        tuple(run_json(*SAMPLE, "--seed", str(s), "--sample-size", "5")[0]["sample"])
        for s in range(8)
    }
    assert len(samples) > 1


def test_a_sample_all_meeting_the_criteria_keeps_the_card(
    client: TestClient, clock: FakeClock, on_db: None
) -> None:
    holder_requests(client, clock, meeting=6, not_meeting=0)
    [result] = run_json(*SAMPLE)
    assert (result["claims"], result["sampled"], result["met"], result["verdict"]) == (
        6,
        6,
        6,
        "keep",
    )
    assert "keep" in run(*SAMPLE)


def test_fewer_than_five_claims_are_too_few_to_judge(
    client: TestClient, clock: FakeClock, on_db: None
) -> None:
    holder_requests(client, clock, meeting=0, not_meeting=4)
    [result] = run_json(*SAMPLE)
    assert (result["claims"], result["sampled"], result["verdict"]) == (4, 0, "too few claims")


def test_a_sample_size_outside_5_to_20_is_refused(on_db: None) -> None:
    out = run(*SAMPLE, "--sample-size", "21", code=2)
    assert out.strip() == "error: --sample-size: 21 is not from 5 to 20"
    out = run("claims", "gold-cards", "--from", "2026-07-01", "--to", "2026-06-01", code=2)
    assert "--from" in out
