"""The review's rules on hand-built claims: every rule and boundary (review_cases.yaml beside
this file), the pre-PA allowance, and policies that do not apply after service."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("duckdb", reason="needs the claims extra: pip install 'priorauth[claims]'")
pytest.importorskip("pyarrow", reason="needs the claims extra: pip install 'priorauth[claims]'")

from priorauth import Engine
from priorauth.claims.duckdb_review import review
from priorauth.claims.review_sql import AUTH_COLUMNS, CLAIM_COLUMNS
from priorauth.policy.load import builtin_policy_files, policy_from_data

HERE = Path(__file__).parent
CASES = yaml.safe_load((HERE / "review_cases.yaml").read_text())["cases"]
BASE_CLAIM: dict[str, Any] = {
    "claim_id": "c1",
    "member_id": "m1",
    "fill_date": "2026-06-01",
    "drug_name": "Lumakras",
    "strength_mg": 320,
    "quantity": 90,
    "days_supply": 30,
    "prescriber_npi": "1234567890",
    "pharmacy_npi": "1987654321",
    "paid_amount": "21000.00",
}
BASE_AUTH: dict[str, Any] = {"member_id": "m1", "drug_name": "Lumakras"}


def write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        for row in rows:
            w.writerow({k: "" if v is None else v for k, v in row.items()})
    return path


def run(
    tmp_path: Path,
    claims: list[dict[str, Any]],
    auths: list[dict[str, Any]],
    engine: Engine,
) -> Any:
    c = write_csv(tmp_path / "claims.csv", CLAIM_COLUMNS, claims)
    a = write_csv(tmp_path / "auths.csv", AUTH_COLUMNS, auths)
    return review(c, a, engine)


def findings(result: Any) -> list[tuple[Any, ...]]:
    return result.con.execute(
        "SELECT claim_id, finding, cents, detail FROM findings ORDER BY _row"
    ).fetchall()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_review_case(case: dict[str, Any], tmp_path: Path, engine: Engine) -> None:
    claim = {**BASE_CLAIM, **(case.get("claim") or {})}
    auths = [{**BASE_AUTH, **a} for a in case["authorizations"]]
    result = run(tmp_path, [claim], auths, engine)
    assert result.claims_rejected == 0 and result.auths_rejected == 0
    assert result.claims_reviewed == (1 if case.get("reviewed", True) else 0)
    got = findings(result)
    expect = case["expect"]
    if expect is None:
        assert got == []
        return
    assert len(got) == 1
    _, finding, cents, detail = got[0]
    assert finding == expect["finding"]
    assert cents == round(expect["dollars"] * 100)
    assert expect.get("detail", "") in detail


def _lumakras(**changes: Any) -> Any:
    name, text = next((n, t) for n, t in builtin_policy_files() if "lumakras" in n)
    data = yaml.safe_load(text)
    data.update(changes)
    return policy_from_data(data, name)


def test_fills_within_the_pre_pa_allowance_need_no_authorization(tmp_path: Path) -> None:
    policy = _lumakras(
        pre_pa_allowance="Quantity 8 tablets per 1 day",
        pre_pa_allowance_text="Quantity 8 tablets per 1 day",
    )
    within = {**BASE_CLAIM, "claim_id": "in", "strength_mg": 120, "quantity": 240}
    above = {**BASE_CLAIM, "claim_id": "above", "strength_mg": 120, "quantity": 270}
    result = run(tmp_path, [within, above], [], Engine(policies=[policy]))
    got = findings(result)
    assert [(c, f) for c, f, _, _ in got] == [("above", "no_authorization")]
    assert "pre-PA allowance: Quantity 8 tablets per 1 day" in got[0][3]


def test_an_allowance_without_a_quantity_is_reviewed_as_none_with_a_warning(
    tmp_path: Path,
) -> None:
    policy = _lumakras(pre_pa_allowance="One fill", pre_pa_allowance_text="One fill")
    result = run(tmp_path, [BASE_CLAIM], [], Engine(policies=[policy]))
    assert [f for _, f, _, _ in findings(result)] == ["no_authorization"]
    assert any("gives no quantity" in w for w in result.warnings)


def test_a_policy_for_pre_service_review_only_does_not_review_claims(tmp_path: Path) -> None:
    policy = _lumakras(applies_to=["pre_service"])
    result = run(tmp_path, [BASE_CLAIM], [], Engine(policies=[policy]))
    assert result.claims_reviewed == 0 and findings(result) == []


def test_the_version_in_force_on_the_fill_date_is_the_one_quoted(tmp_path: Path) -> None:
    old = _lumakras()
    new = _lumakras(effective_date=dt.date(2026, 9, 1))
    early = {**BASE_CLAIM, "claim_id": "early", "fill_date": "2026-08-31"}
    late = {**BASE_CLAIM, "claim_id": "late", "fill_date": "2026-09-01"}
    result = run(tmp_path, [early, late], [], Engine(policies=[old, new]))
    policies = dict(result.con.execute("SELECT claim_id, policy FROM findings").fetchall())
    assert policies == {
        "early": "5.21.177 Lumakras (effective 2026-04-01)",
        "late": "5.21.177 Lumakras (effective 2026-09-01)",
    }
