"""The version in force on the date of service, among many versions of one policy."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from priorauth import Engine, NoPolicyError
from priorauth.policy.load import builtin_policies
from priorauth.request import parse_request

EXAMPLE = json.loads(
    (Path(__file__).resolve().parents[1] / "examples/nsclc-initial-approve.json").read_text()
)
FIRST = dt.date(2018, 1, 1)


def _hundred_versions() -> Engine:
    lumakras = next(p for p in builtin_policies() if p.drug.brand == "Lumakras")
    versions = [
        lumakras.model_copy(update={"effective_date": FIRST + dt.timedelta(days=30 * k)})
        for k in range(100)
    ]
    return Engine(policies=versions)


ENGINE = _hundred_versions()


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=FIRST - dt.timedelta(days=40), max_value=dt.date(2030, 12, 31)))
def test_the_latest_version_in_force_is_chosen(day: dt.date) -> None:
    request = {**EXAMPLE, "date_of_service": day.isoformat()}
    request["member"] = {**EXAMPLE["member"], "birth_date": "1960-03-15"}
    in_force = [p for p in ENGINE.policies if p.effective_date <= day]
    if not in_force:
        with pytest.raises(NoPolicyError) as caught:
            ENGINE.evaluate(request)
        assert str(caught.value) == (
            f"date_of_service: no version of policy 5.21.177 (Lumakras) is in force on {day}; "
            f"the earliest takes effect on {FIRST}"
        )
        return
    det = ENGINE.evaluate(request)
    assert det.policy.effective_date == in_force[-1].effective_date
    assert ENGINE.policy_for(parse_request(request)).effective_date == det.policy.effective_date
