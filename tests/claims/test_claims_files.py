"""The review as a user meets it on the command line: files in and out, bad files and bad rows,
the summary, the report, and the service's database as the source of authorizations."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

pytest.importorskip("duckdb", reason="needs the claims extra: pip install 'priorauth[claims]'")
pytest.importorskip("pyarrow", reason="needs the claims extra: pip install 'priorauth[claims]'")

import duckdb

from priorauth.claims.review_sql import AUTH_COLUMNS, CLAIM_COLUMNS
from priorauth.cli import app

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GOOD = [
    "g1",
    "m1",
    "2026-06-01",
    "Lumakras",
    "320",
    "120",
    "30",
    "1234567890",
    "1987654321",
    "28000",
]


def write(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def auths(tmp_path: Path) -> Path:
    return write(
        tmp_path / "auths.csv",
        list(AUTH_COLUMNS),
        [["m1", "sotorasib", "2026-01-01", "2026-12-31", "960"]],
    )


def review(*args: str) -> Any:
    return runner.invoke(app, ["claims", "review", *args], env={"COLUMNS": "200"})


def test_missing_columns_are_one_error_naming_them(tmp_path: Path, auths: Path) -> None:
    claims = write(tmp_path / "claims.csv", list(CLAIM_COLUMNS[:6]), [GOOD[:6]])
    result = review(str(claims), "--authorizations", str(auths))
    assert result.exit_code == 2
    assert "missing required columns days_supply, prescriber_npi, pharmacy_npi, paid_amount" in (
        result.output
    )
    assert "Traceback" not in result.output


def test_bad_rows_go_to_the_rejects_file_with_their_row_numbers(
    tmp_path: Path, auths: Path
) -> None:
    rows = [
        GOOD,
        ["b1", "m1", "2026-02-30", *GOOD[3:]],
        ["b2", "m1", "06/01/2026", *GOOD[3:]],
        [*GOOD[:6], "0", *GOOD[7:]],
        [*GOOD[:6], "-30", *GOOD[7:]],
        ["b5", "m1", "2026-06-01", "Lumakras", "abc", "120", "30", "1", "2", "28000"],
        ["g2", "m1", "2026-06-02", *GOOD[3:]],
    ]
    claims = write(tmp_path / "claims.csv", list(CLAIM_COLUMNS), rows)
    out = tmp_path / "findings.csv"
    result = review(str(claims), "--authorizations", str(auths), "--out", str(out))
    assert result.exit_code == 0, result.output
    with (tmp_path / "findings.rejects.csv").open() as f:
        rejects = [(r["row_number"], r["problem"]) for r in csv.DictReader(f)]
    assert rejects == [
        ("2", "fill_date: not a date (YYYY-MM-DD): 2026-02-30"),
        ("3", "fill_date: not a date (YYYY-MM-DD): 06/01/2026"),
        ("4", "days_supply: not a positive number: 0"),
        ("5", "days_supply: not a positive number: -30"),
        ("6", "strength_mg: not a positive number: abc"),
    ]
    with out.open() as f:
        assert [r["claim_id"] for r in csv.DictReader(f)] == ["g1", "g2"]
    assert "5 claims and 0 authorizations could not be read" in result.output


def test_extra_columns_are_kept_in_the_findings(tmp_path: Path, auths: Path) -> None:
    claims = write(
        tmp_path / "claims.csv",
        [*CLAIM_COLUMNS, "plan", "detail"],
        [[*GOOD, "FEP Basic", "theirs"]],
    )
    out = tmp_path / "findings.parquet"
    assert review(str(claims), "--authorizations", str(auths), "--out", str(out)).exit_code == 0
    row = duckdb.sql(f"SELECT * FROM '{out}'").fetchall()[0]
    columns = [c[0] for c in duckdb.sql(f"DESCRIBE SELECT * FROM '{out}'").fetchall()]
    assert columns[:5] == ["claim_id", "finding", "dollars_at_risk", "policy", "detail"]
    got = dict(zip(columns, row, strict=True))
    assert (got["plan"], got["claim_detail"], got["finding"]) == (
        "FEP Basic",
        "theirs",
        "over_daily_dose",
    )
    assert str(got["dollars_at_risk"]) == "7000.00"


@pytest.mark.parametrize(
    ("name", "problem"),
    [("claims.xlsx", "expected a .csv or .parquet file"), ("absent.csv", "no such file")],
)
def test_unreadable_inputs_are_one_line(
    tmp_path: Path, auths: Path, name: str, problem: str
) -> None:
    path = tmp_path / name
    if name.endswith("xlsx"):
        path.write_text("x")
    result = review(str(path), "--authorizations", str(auths))
    assert result.exit_code == 2 and problem in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_file_that_is_not_parquet_is_refused(tmp_path: Path, auths: Path) -> None:
    fake = tmp_path / "claims.parquet"
    fake.write_text("claim_id,member_id\n1,2\n")
    result = review(str(fake), "--authorizations", str(auths))
    assert result.exit_code == 2 and "cannot read" in result.output
    assert "Traceback" not in result.output


def test_a_header_only_file_reviews_nothing(tmp_path: Path, auths: Path) -> None:
    claims = write(tmp_path / "claims.csv", list(CLAIM_COLUMNS), [])
    result = review(str(claims), "--authorizations", str(auths), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["claims_read"], summary["flagged"]) == (0, 0)


def test_summary_and_report(tmp_path: Path, auths: Path) -> None:
    claims = write(
        tmp_path / "claims.csv",
        list(CLAIM_COLUMNS),
        [
            GOOD,
            [
                "n1",
                "m9",
                "2026-06-01",
                "sotorasib",
                "120",
                "240",
                "30",
                "1234567890",
                "1987654321",
                "21000",
            ],
        ],
    )
    report = tmp_path / "claims.html"
    result = review(str(claims), "--authorizations", str(auths), "--report", str(report))
    assert result.exit_code == 0, result.output
    assert "over_daily_dose" in result.output and "$7,000.00" in result.output
    assert "$28,000.00" in result.output  # 7,000 + 21,000 flagged
    html = report.read_text()
    assert "<svg" in html and "http://" not in html and "https://" not in html
    assert "Findings by month of fill" in html and "Top pharmacies" in html
    # The rules applied quote the policy.
    assert "This policy statement applies to clinical review performed for pre-service" in html
    assert "960 mg per day" in html


def test_authorizations_from_the_service_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from priorauth.server import create_app
    from priorauth.service.config import Settings, get_settings

    url = f"sqlite:///{tmp_path / 'service.db'}"
    with TestClient(create_app(Settings(database_url=url, demo_keys=True))) as client:
        req = json.loads((EXAMPLES / "nsclc-initial-approve.json").read_text())
        answer = client.post(
            "/cases", json=req, headers={"Authorization": "Bearer demo-submitter-key"}
        )
        assert answer.status_code in (200, 201), answer.text
    member, dos = req["member"]["id"], req["date_of_service"]
    claims = write(
        tmp_path / "claims.csv",
        list(CLAIM_COLUMNS),
        [
            ["in", member, dos, "Lumakras", "320", "90", "30", "1", "2", "21000"],
            ["before", member, "2026-04-02", "Lumakras", "320", "90", "30", "1", "2", "21000"],
        ],
    )
    monkeypatch.setenv("PRIORAUTH_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        out = tmp_path / "f.csv"
        result = review(str(claims), "--authorizations", "db", "--out", str(out))
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    with out.open() as f:
        assert [(r["claim_id"], r["finding"]) for r in csv.DictReader(f)] == [
            ("before", "no_authorization")
        ]


def test_a_database_without_the_service_tables_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, auths: Path
) -> None:
    from priorauth.service.config import get_settings

    claims = write(tmp_path / "claims.csv", list(CLAIM_COLUMNS), [GOOD])
    monkeypatch.setenv("PRIORAUTH_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    try:
        result = review(str(claims), "--authorizations", "db")
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2 and "priorauth db upgrade" in result.output
