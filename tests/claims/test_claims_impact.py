"""Policy impact: past cases decided under the version in force then and under a new one (a
policy with a changed age and a removed indication: examples/policies/lumakras-draft-2027.yaml)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from priorauth import load_policy
from priorauth.claims.impact import CaseInput, analyse, cases_from_ndjson
from priorauth.cli import app

ROOT = Path(__file__).resolve().parents[2]
DRAFT = ROOT / "examples" / "policies" / "lumakras-draft-2027.yaml"
runner = CliRunner()


def example(name: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "examples" / f"{name}.json").read_text())
    for key, value in changes.items():
        if key == "birth_date":
            data["member"] = {**data["member"], "birth_date": value}
        else:
            data[key] = value
    return data


@pytest.fixture(scope="module")
def history() -> list[CaseInput]:
    return [
        # NSCLC, approved, 19 years old on the date of service: the new age criterion denies.
        CaseInput("young-nsclc", example("nsclc-initial-approve", birth_date="2007-01-01")),
        # NSCLC, approved, an adult of 60: unchanged.
        CaseInput("adult-nsclc", example("nsclc-initial-approve")),
        # mCRC, approved: the indication is gone, so the new version denies it as investigational.
        CaseInput("crc", example("crc-initial-approve")),
        # Melanoma was investigational before and still is.
        CaseInput("melanoma", example("investigational-deny")),
        # Another drug's policy is not this policy's business.
        CaseInput("krazati", example("krazati-crc-initial-approve")),
        # Before the first Lumakras version: nothing was in force then.
        CaseInput("too-early", example("nsclc-initial-approve", date_of_service="2026-01-15")),
        CaseInput("broken", {"kind": "initial"}),
    ]


def test_flips_name_the_criteria_and_the_cases(history: list[CaseInput]) -> None:
    impact = analyse(load_policy(DRAFT), history)
    changes = {c.case_id: (c.before, c.after, c.criteria) for c in impact.changes}
    assert changes == {
        "young-nsclc": ("approved", "denied (criteria_not_met)", ["initial.age"]),
        "crc": ("approved", "denied (investigational)", ["initial.mcrc"]),
    }
    assert impact.flips == {
        ("approved", "denied (criteria_not_met)"): 1,
        ("approved", "denied (investigational)"): 1,
    }
    assert (impact.decided, impact.unchanged) == (4, 2)
    assert (impact.other_drug, impact.no_version_then, len(impact.errors)) == (1, 1, 1)
    assert impact.errors[0][0] == "broken"


def test_an_unchanged_policy_changes_nothing(history: list[CaseInput]) -> None:
    same = ROOT / "src/priorauth/policy/builtin/5.21.177-lumakras-2026-04-01.yaml"
    impact = analyse(load_policy(same), history)
    assert impact.changes == [] and impact.decided == 4


def test_ndjson_cases_bare_or_with_ids() -> None:
    text = "\n".join(
        [
            json.dumps({"id": "A-1", "request": {"kind": "initial"}}),
            "",
            json.dumps({"kind": "renewal"}),
            "{not json",
        ]
    )
    got = list(cases_from_ndjson(text))
    assert [c.case_id for c in got] == ["A-1", "line 3", "line 4"]
    assert "not JSON" in got[2].request["__error__"]


def test_the_command_writes_ndjson_and_a_report(history: list[CaseInput], tmp_path: Path) -> None:
    cases = tmp_path / "cases.ndjson"
    cases.write_text(
        "".join(json.dumps({"id": c.case_id, "request": c.request}) + "\n" for c in history)
    )
    out, report = tmp_path / "impact.ndjson", tmp_path / "impact.html"
    result = runner.invoke(
        app,
        [
            "policy",
            "impact",
            str(DRAFT),
            "--cases",
            str(cases),
            "--out",
            str(out),
            "--report",
            str(report),
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(x["case"], x["from"], x["to"], x["criteria"]) for x in lines] == [
        ("young-nsclc", "approved", "denied (criteria_not_met)", ["initial.age"]),
        ("crc", "approved", "denied (investigational)", ["initial.mcrc"]),
    ]
    assert "2 changed" in result.output and "initial.mcrc (1)" in result.output
    html = report.read_text()
    assert "<svg" in html and "young-nsclc" in html and "https://" not in html


def test_cases_from_the_service_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from priorauth.server import create_app
    from priorauth.service.config import Settings, get_settings

    url = f"sqlite:///{tmp_path / 'service.db'}"
    with TestClient(create_app(Settings(database_url=url, demo_keys=True))) as client:
        for name in ("crc-initial-approve", "nsclc-initial-approve"):
            answer = client.post(
                "/cases", json=example(name), headers={"Authorization": "Bearer demo-submitter-key"}
            )
            assert answer.status_code in (200, 201), answer.text
    monkeypatch.setenv("PRIORAUTH_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        result = runner.invoke(
            app, ["policy", "impact", str(DRAFT), "--cases", "db"], env={"COLUMNS": "200"}
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    assert [(x["from"], x["to"]) for x in lines] == [("approved", "denied (investigational)")]
