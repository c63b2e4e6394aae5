"""A denial on the command line explained as the service explains it to the member and the
prescriber: each unmet criterion in the policy's words, what would meet it, and the appeal steps
with their deadline counted from the day the command runs. One golden file per kind of denial
the engine gives; refresh with UPDATE_GOLDEN=1 after a deliberate change."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
from shared_folder import shared
from typer.testing import CliRunner

from priorauth.cli import app
from priorauth.engine.engine import Engine
from priorauth.service import explain as service_explain

GOLDEN = Path(__file__).parent / "golden" / "denials"
# The deadline moves with the day the test runs: the golden files hold this in its place.
DEADLINE = "YYYY-MM-DD"
runner = CliRunner()


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(shared(f"examples/{name}").read_text())
    return data


def no_prior_therapy() -> dict[str, Any]:
    """An NSCLC request that meets every criterion but the prior systemic therapy."""
    return {**example("nsclc-initial-approve.json"), "prior_therapies": []}


def progressed() -> dict[str, Any]:
    """A renewal whose disease progressed: the renewal criteria are not met."""
    ok = example("nsclc-renewal-approve.json")
    return {**ok, "disease_status": {"progression": True, "unacceptable_toxicity": False}}


DENIALS = {
    "investigational": lambda: example("investigational-deny.json"),
    "criteria-not-met": no_prior_therapy,
    "renewal-criteria-not-met": progressed,
}


def evaluate(request: dict[str, Any], *options: str) -> str:
    result = runner.invoke(
        app,
        ["evaluate", "-", *options],
        input=json.dumps(request),
        env={"COLUMNS": "100", "NO_COLOR": "1"},
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def deadline() -> str:
    return (dt.date.today() + dt.timedelta(days=180)).isoformat()


@pytest.mark.parametrize("kind", sorted(DENIALS))
def test_a_denial_says_what_would_meet_each_criterion_and_how_to_appeal(kind: str) -> None:
    out = evaluate(DENIALS[kind]())
    assert f"Appeal by {deadline()}" in out
    shown = out.replace(deadline(), DEADLINE)
    golden = GOLDEN / f"{kind}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(shown)
    assert shown == golden.read_text()


@pytest.mark.parametrize("kind", sorted(DENIALS))
def test_json_carries_the_explanation_the_service_stores(kind: str) -> None:
    request = DENIALS[kind]()
    det = json.loads(evaluate(request, "--json"))
    assert det["decision"] == "denied"
    stored = service_explain.explanation(
        Engine(), det, "denied", False, None, "engine", dt.date.today()
    )
    assert det["explanation"] == stored
    assert det["explanation"]["appeal"]["deadline"] == deadline()
    assert det["explanation"]["unmet"], "a denial names at least one unmet criterion"


def test_the_unmet_criteria_are_in_the_policys_words() -> None:
    told = json.loads(evaluate(progressed(), "--json"))["explanation"]["unmet"]
    assert told == [
        {
            "id": "renewal.no_progression",
            "text": "NO disease progression or unacceptable toxicity",
            "needed": "Records showing that this is met: NO disease progression or unacceptable "
            "toxicity. Give the disease status.",
        }
    ]
    [investigational] = json.loads(evaluate(example("investigational-deny.json"), "--json"))[
        "explanation"
    ]["unmet"]
    assert investigational["text"].startswith("Lumakras may be considered investigational")
    assert "Metastatic colorectal cancer (mCRC)" in investigational["needed"]


def test_only_a_denial_is_explained() -> None:
    approved = json.loads(evaluate(example("nsclc-initial-approve.json"), "--json"))
    assert approved["decision"] == "approved" and "explanation" not in approved
    assert "Appeal" not in evaluate(example("nsclc-initial-pend.json"))


def test_several_files_explain_each_denial(tmp_path: Path) -> None:
    files = []
    for name, request in [("ok", example("nsclc-initial-approve.json")), ("no", progressed())]:
        files.append(tmp_path / f"{name}.json")
        files[-1].write_text(json.dumps(request))
    result = runner.invoke(app, ["evaluate", *map(str, files), "--json", "--no-trace"])
    approved, denied = json.loads(result.stdout)
    assert "explanation" not in approved
    assert [u["id"] for u in denied["explanation"]["unmet"]] == ["renewal.no_progression"]
    shown = runner.invoke(app, ["evaluate", *map(str, files)], env={"COLUMNS": "100"}).stdout
    assert shown.count("Appeal by") == 1 and "To meet it:" in shown
