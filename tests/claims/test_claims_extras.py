"""The claims review's libraries are extras (`priorauth[claims]`, `priorauth[spark]`): without
them a claims command says in one line how to install them, and everything else still works.

Each case runs the real command in a fresh interpreter where the libraries cannot be imported
(``sys.modules[name] = None``, what Python does for a module it has been told is absent)."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import priorauth

ROOT = Path(__file__).resolve().parents[2]
EXTRAS = ("duckdb", "pyarrow", "pyspark")

RUN_WITHOUT = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
sys.argv = ["priorauth", *sys.argv[2:]]
from priorauth.cli import app
app(prog_name="priorauth")
"""


def priorauth_without(
    missing: tuple[str, ...], *args: str, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT, ",".join(missing), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_spark_engine_without_pyspark_says_how_to_install_it(tmp_path: Path) -> None:
    claims = tmp_path / "claims.csv"
    claims.write_text("claim_id\n")
    line = one_error_line(
        priorauth_without(
            ("pyspark",),
            "claims",
            "review",
            str(claims),
            "--authorizations",
            str(claims),
            "--engine",
            "spark",
        )
    )
    assert line.startswith("error: claims review --engine spark needs pyspark"), line
    assert "pip install 'priorauth[spark]'" in line, line


@pytest.mark.parametrize(
    "command",
    [
        ["claims", "review", "claims.csv", "--authorizations", "auths.csv"],
        ["claims", "synth", "--n", "10", "--out", "data"],
    ],
    ids=["review", "synth"],
)
def test_claims_commands_without_duckdb_and_arrow_say_how_to_install_them(
    command: list[str], tmp_path: Path
) -> None:
    line = one_error_line(priorauth_without(EXTRAS, *command, cwd=tmp_path))
    assert "needs duckdb and pyarrow" in line, line
    assert "pip install 'priorauth[claims]'" in line, line
    assert not (tmp_path / "data").exists()


def test_policy_impact_needs_no_extra(tmp_path: Path) -> None:
    """A policy author's tool: decides past cases twice, and writes its report, on the base
    install."""
    request = json.loads((ROOT / "examples" / "crc-initial-approve.json").read_text())
    cases = tmp_path / "cases.ndjson"
    cases.write_text(json.dumps({"id": "crc", "request": request}) + "\n")
    report = tmp_path / "impact.html"
    result = priorauth_without(
        EXTRAS,
        "policy",
        "impact",
        str(ROOT / "examples/policies/lumakras-draft-2027.yaml"),
        "--cases",
        str(cases),
        "--out",
        str(tmp_path / "impact.ndjson"),
        "--report",
        str(report),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "impact.ndjson").read_text())["case"] == "crc"
    assert "<svg" in report.read_text()


def test_everything_but_the_claims_review_imports_without_the_extras() -> None:
    """What `make run` serves (the service, the workbench, FHIR), the engine and every other
    command load on the base install: no module outside the claims review's engines imports
    DuckDB, Arrow or Spark."""
    names = [m.name for m in pkgutil.walk_packages(priorauth.__path__, "priorauth.")]
    needs_extras = {
        "priorauth.claims.console",
        "priorauth.claims.duckdb_review",
        "priorauth.claims.outcome",
        "priorauth.claims.spark",
        "priorauth.claims.synth",
    }
    script = (
        "import importlib, sys\n"
        f"for name in {EXTRAS!r}:\n"
        "    sys.modules[name] = None\n"
        "failed = []\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError as exc:\n"
        "        failed.append(f'{name}: {exc}')\n"
        "print('\\n'.join(failed))\n"
    )
    base = [n for n in names if n not in needs_extras]
    control = "priorauth.claims.duckdb_review"  # does need them: the extras are really absent
    result = subprocess.run(
        [sys.executable, "-c", script, *base, control],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == [control], result.stdout
