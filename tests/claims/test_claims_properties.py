"""The SQL review against a small, obviously right reference written in Python, on generated
claims and authorizations around every boundary (start, end, the day after, the dose limit)."""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("duckdb", reason="needs the claims extra: pip install 'priorauth[claims]'")
pytest.importorskip("pyarrow", reason="needs the claims extra: pip install 'priorauth[claims]'")

from priorauth import Engine
from priorauth.claims.duckdb_review import review
from priorauth.claims.review_sql import AUTH_COLUMNS, CLAIM_COLUMNS

BASE = dt.date(2026, 6, 1)
POLICY_LIMIT = 960.0  # Lumakras: 960 mg per day
NAMES = ["Lumakras", "sotorasib", "LUMAKRAS"]

auth = st.fixed_dictionaries(
    {
        "member": st.sampled_from(["m1", "m2"]),
        "drug": st.sampled_from([*NAMES, "Krazati"]),
        "start": st.integers(-400, 60),
        "days": st.integers(0, 400),
        "max": st.sampled_from([None, 480.0, 960.0, 1280.0]),
    }
)
claim = st.fixed_dictionaries(
    {
        "member": st.sampled_from(["m1", "m2"]),
        "drug": st.sampled_from(NAMES),
        "day": st.integers(-60, 60),
        "strength": st.sampled_from([120.0, 240.0, 320.0]),
        "quantity": st.integers(1, 400),
        "days_supply": st.sampled_from([7, 14, 28, 30, 90]),
        "paid": st.integers(1, 3_000_000).map(lambda c: c / 100),
    }
)


def reference(c: dict[str, Any], auths: list[dict[str, Any]]) -> tuple[str, int] | None:
    fill = BASE + dt.timedelta(days=c["day"])
    mine = [a for a in auths if a["member"] == c["member"] and a["drug"] != "Krazati"]
    in_force = [a for a in mine if a["start_date"] <= fill <= a["end_date"]]
    if not in_force:
        ended = any(a["end_date"] < fill for a in mine)
        return (
            "expired_authorization" if ended else "no_authorization",
            math.floor(c["paid"] * 100 + 0.5),
        )
    limit = max(POLICY_LIMIT if a["max"] is None else a["max"] for a in in_force)
    dose = c["strength"] * c["quantity"] / c["days_supply"]
    if dose > limit * (1 + 1e-9):
        return "over_daily_dose", math.floor(c["paid"] * (dose - limit) / dose * 100 + 0.5)
    return None


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(auths=st.lists(auth, max_size=4), claims=st.lists(claim, min_size=1, max_size=30))
def test_the_sql_review_agrees_with_the_reference(
    auths: list[dict[str, Any]], claims: list[dict[str, Any]], tmp_path: Path, engine: Engine
) -> None:
    for a in auths:
        a["start_date"] = BASE + dt.timedelta(days=a["start"])
        a["end_date"] = a["start_date"] + dt.timedelta(days=a["days"])
    cpath, apath = tmp_path / "c.csv", tmp_path / "a.csv"
    with cpath.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CLAIM_COLUMNS)
        for i, c in enumerate(claims):
            w.writerow(
                [
                    f"c{i}",
                    c["member"],
                    BASE + dt.timedelta(days=c["day"]),
                    c["drug"],
                    c["strength"],
                    c["quantity"],
                    c["days_supply"],
                    "1",
                    "2",
                    c["paid"],
                ]
            )
    with apath.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(AUTH_COLUMNS)
        for a in auths:
            w.writerow(
                [
                    a["member"],
                    a["drug"],
                    a["start_date"],
                    a["end_date"],
                    "" if a["max"] is None else a["max"],
                ]
            )
    result = review(cpath, apath, engine)
    got = {
        cid: (f, cents)
        for cid, f, cents in result.con.execute(
            "SELECT claim_id, finding, cents FROM findings"
        ).fetchall()
    }
    expected = {f"c{i}": r for i, c in enumerate(claims) if (r := reference(c, auths))}
    assert got == expected
