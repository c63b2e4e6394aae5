"""DuckDB and Spark give identical findings, rejects and counts: side by side on synthetic claims
and on a hand-built file with bad rows and extra columns (a few Spark runs: a JVM costs seconds).

`make test` uses 20,000 synthetic claims; `make bench-claims` compares the engines on 1M."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

pytest.importorskip("pyspark", reason="needs the spark extra: pip install 'priorauth[spark]'")
pytest.importorskip("duckdb", reason="needs the spark extra: pip install 'priorauth[spark]'")

from priorauth.claims.review_sql import AUTH_COLUMNS, CLAIM_COLUMNS
from priorauth.cli import app

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs java")
runner = CliRunner()


def cli(*args: str) -> Any:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result


def both(claims: Path, auths: Path, out: Path) -> dict[str, dict[str, Any]]:
    summaries = {}
    for engine in ("duckdb", "spark"):
        result = cli(
            "claims",
            "review",
            str(claims),
            "--authorizations",
            str(auths),
            "--out",
            str(out / f"{engine}.csv"),
            "--engine",
            engine,
            "--json",
        )
        summary = json.loads(result.stdout)
        summary.pop("seconds")
        summary.pop("engine")
        summaries[engine] = summary
    return summaries


def test_spark_and_duckdb_agree_on_synthetic_claims(tmp_path: Path) -> None:
    cli("claims", "synth", "--n", "20000", "--out", str(tmp_path))
    s = both(tmp_path / "claims.parquet", tmp_path / "authorizations.parquet", tmp_path)
    assert s["duckdb"] == s["spark"]
    assert s["duckdb"]["flagged"] > 1000
    assert all(v["claims"] > 0 for v in s["duckdb"]["by_finding"].values())
    duck, spark = (tmp_path / "duckdb.csv").read_bytes(), (tmp_path / "spark.csv").read_bytes()
    assert duck.count(b"\n") == s["duckdb"]["flagged"] + 1
    assert duck == spark


def test_spark_and_duckdb_agree_on_bad_rows_and_extra_columns(tmp_path: Path) -> None:
    claims = tmp_path / "claims.csv"
    good = ["m1", "2026-06-01", "LUMAKRAS", "320", "120", "30", "1234567890", "1987654321"]
    with claims.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*CLAIM_COLUMNS, "plan"])
        w.writerow(["a", *good, "28000.10", "x"])
        w.writerow(["b", "m1", "not a date", *good[2:], "1", "y"])
        w.writerow(["c", *good[:5], "0", *good[6:], "1", "z"])
        w.writerow(["d", "m2", "2026-07-01", "sotorasib", "120", "241", "30", "1", "2", "3.33", ""])
        w.writerow(["e", "m1", "2027-01-01", "Lumakras", "240", "4", "1", "1", "2", "99.99", "w"])
    auths = tmp_path / "auths.csv"
    with auths.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(AUTH_COLUMNS)
        w.writerow(["m1", "Lumakras", "2026-01-01", "2026-12-31", "960"])
        w.writerow(["m2", "Lumakras", "2026-01-01", "2026-06-30", ""])
        w.writerow(["m3", "Lumakras", "someday", "2026-06-30", ""])
    s = both(claims, auths, tmp_path)
    assert s["duckdb"] == s["spark"]
    assert s["duckdb"]["flagged"] == 3
    for name in ("duckdb.csv", "duckdb.rejects.csv"):
        other = name.replace("duckdb", "spark")
        assert (tmp_path / name).read_bytes() == (tmp_path / other).read_bytes(), name
