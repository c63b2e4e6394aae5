"""The README and docs stay true to the code: their commands run, their options exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from shared_folder import shared
from typer.testing import CliRunner

from priorauth.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def _console_commands(text: str) -> list[str]:
    blocks = re.findall(r"```console\n(.*?)```", text, flags=re.S)
    return [
        line.split("#")[0].strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip().startswith((".venv/bin/priorauth ", "priorauth "))
    ]


README_COMMANDS = _console_commands((ROOT / "README.md").read_text())


@pytest.mark.parametrize("command", README_COMMANDS)
def test_readme_commands_run(command: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(ROOT)
    args = shlex.split(command)[1:]
    for arg in args:  # a document from the shared folder, which a lone clone does not have
        if arg.startswith("../shared/"):
            shared(arg.removeprefix("../shared/"))
    for i, arg in enumerate(args[:-1]):  # files the command writes go to a scratch folder
        if arg in ("-o", "--output", "--report"):
            args[i + 1] = str(tmp_path / Path(args[i + 1]).name)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output


def test_readme_shows_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert "make run" in text and "make test" in text


@pytest.mark.parametrize(
    "command",
    [
        ["evaluate"],
        ["policy", "show"],
        ["policy", "list"],
        ["policy", "import"],
        ["policy", "lint"],
        ["policy", "diff"],
        ["questions"],
        ["schema"],
        ["serve"],
        ["db", "upgrade"],
        ["keys", "create"],
        ["keys", "list"],
        ["keys", "revoke"],
        ["users", "create"],
        ["clients", "register"],
        ["goldcard", "evaluate"],
        ["goldcard", "list"],
        ["goldcard", "rescind"],
        ["claims", "gold-cards"],
        ["metrics", "real-time"],
        ["metrics", "prior-authorization"],
    ],
)
def test_every_option_is_documented(command: list[str]) -> None:
    help_text = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).output
    documented = (ROOT / "docs/cli.md").read_text()
    options = set(re.findall(r"(--[a-z][a-z-]+)", help_text)) - {"--help"}
    for option in options:
        assert option in documented, f"{' '.join(command)} {option} is not in docs/cli.md"


def test_the_readme_checklist_sample_is_what_the_command_prints(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    readme = (ROOT / "README.md").read_text()
    sample = re.search(r"```\n(╭─ examples/nsclc-initial-pend\.json.*?)```", readme, flags=re.S)
    assert sample, "the README's checklist sample is gone"
    printed = runner.invoke(
        app, ["evaluate", "examples/nsclc-initial-pend.json"], env={"COLUMNS": "80"}
    ).output.splitlines()
    for line in sample.group(1).splitlines():
        if "..." not in line:
            assert line in printed, line
