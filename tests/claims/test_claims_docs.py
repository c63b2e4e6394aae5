"""docs/cli.md and docs/claims.md stay true to the claims commands' options."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from priorauth.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.mark.parametrize(
    "command", [["claims", "review"], ["claims", "synth"], ["policy", "impact"]]
)
@pytest.mark.parametrize("doc", ["docs/cli.md", "docs/claims.md"])
def test_every_claims_option_is_documented(command: list[str], doc: str) -> None:
    help_text = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).output
    documented = (ROOT / doc).read_text()
    options = set(re.findall(r"(--[a-z][a-z-]+)", help_text)) - {"--help"}
    assert options
    for option in options:
        assert option in documented, f"{' '.join(command)} {option} is not in {doc}"
