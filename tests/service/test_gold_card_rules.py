"""The gold-card rule as a table (gold_card_rules.yaml): counts, rates and the window's days at
their edges, and the card's last day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from priorauth.service.goldcard import FinalDecision, held_until, tally

CASES = yaml.safe_load((Path(__file__).parent / "gold_card_rules.yaml").read_text())


def decisions(rows: list[list[Any]]) -> list[FinalDecision]:
    out = []
    for day, approved, denied in rows:
        out += [FinalDecision("1245319599", "Lumakras", day, True)] * approved
        out += [FinalDecision("1245319599", "Lumakras", day, False)] * denied
    return out


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_gold_card_rule(case: dict[str, Any]) -> None:
    tallies = tally(decisions(case["decisions"]), case["as_of"])
    assert any(t.qualifies for t in tallies) is case["card"]
    if "until" in case:
        assert held_until(case["as_of"]) == case["until"]


def test_each_drug_is_counted_on_its_own() -> None:
    rows = [FinalDecision("1245319599", "Lumakras", dt.date(2026, 3, 1), True)] * 3
    rows += [FinalDecision("1245319599", "Krazati", dt.date(2026, 3, 1), True)] * 2
    assert not any(t.qualifies for t in tally(rows, dt.date(2026, 7, 1)))
