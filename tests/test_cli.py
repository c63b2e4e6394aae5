"""The command line as a user meets it: exit codes, one-line errors, JSON output, batches."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from priorauth.cli import app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).parent / "golden"
runner = CliRunner()


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=stdin, env={"COLUMNS": "100", "NO_COLOR": "1"})
    return result.exit_code, result.stdout, result.stderr


def example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text())


def test_evaluate_json_prints_the_determination() -> None:
    code, out, _ = run("evaluate", str(EXAMPLES / "nsclc-initial-approve.json"), "--json")
    assert code == 0
    det = json.loads(out)
    assert det["decision"] == "approved"
    assert det["authorization"]["end"] == "2027-06-14"
    assert det["trace"]["id"] == "initial"


def test_evaluate_reads_stdin() -> None:
    raw = (EXAMPLES / "nsclc-initial-pend.json").read_text()
    code, out, _ = run("evaluate", "-", "--json", stdin=raw)
    assert code == 0
    assert [q["id"] for q in json.loads(out)["missing"]] == [
        "initial.nsclc.kras_g12c",
        "initial.liver_function_monitoring",
    ]


def test_json_without_trace() -> None:
    code, out, _ = run(
        "evaluate", str(EXAMPLES / "crc-initial-approve.json"), "--json", "--no-trace"
    )
    assert code == 0
    assert "trace" not in json.loads(out)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"member": {"id": "M1", "birth_date": "1960-02-30"}}, "member.birth_date"),
        ({"colour": "blue"}, "colour: unknown field"),
        ({"kind": "refill"}, "kind:"),
        (
            {
                "medication": {
                    "name": "Lumakras",
                    "strength_mg": 100,
                    "quantity": 1,
                    "days_supply": 1,
                }
            },
            "medication.strength_mg: 100 mg is not a strength of Lumakras",
        ),
        (
            {
                "medication": {
                    "name": "aspirin",
                    "strength_mg": 81,
                    "quantity": 30,
                    "days_supply": 30,
                }
            },
            "medication.name: no policy covers 'aspirin'",
        ),
        ({"date_of_service": "2026-03-31"}, "date_of_service: no version of policy 5.21.177"),
        ({"diagnoses": [{"code": "lung"}]}, "diagnoses[0].code: not an ICD-10-CM code"),
        ({"answers": {"initial.nonsense": True}}, "answers.initial.nonsense: not a question"),
        ({"member": {"id": "M1", "birth_date": "2030-01-01"}}, "member.birth_date: is after"),
    ],
)
def test_bad_request_is_one_line_naming_the_field(
    tmp_path: Path, patch: dict, message: str
) -> None:
    req = example("nsclc-initial-approve.json") | patch
    f = tmp_path / "req.json"
    f.write_text(json.dumps(req))
    code, out, err = run("evaluate", str(f), "--json")
    assert code == 2
    assert out == ""
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "request: not valid JSON"), ("{", "not valid JSON"), ("[1, 2]", "request: must be")],
)
def test_malformed_json_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "req.json"
    f.write_text(content)
    code, _, err = run("evaluate", str(f))
    assert code == 2
    assert message in err


def test_missing_file_is_a_clear_error() -> None:
    code, _, err = run("evaluate", "no/such/file.json")
    assert code == 2
    assert "no/such/file.json: no such file" in err


def test_batch_reports_bad_lines_and_goes_on(tmp_path: Path) -> None:
    good = json.dumps(example("nsclc-initial-approve.json"))
    lines = [good, "{not json", "", json.dumps(example("investigational-deny.json"))]
    f = tmp_path / "batch.ndjson"
    f.write_text("\n".join(lines) + "\n")
    code, out, err = run("evaluate", "--batch", str(f), "--no-trace")
    rows = [json.loads(x) for x in out.splitlines()]
    assert code == 2
    assert rows[0]["decision"] == "approved"
    assert rows[1]["line"] == 2 and "not valid JSON" in rows[1]["error"]
    assert rows[2]["decision"] == "denied"
    assert "line 2:" in err


def test_policy_list_shows_lumakras() -> None:
    code, out, _ = run("policy", "list")
    assert code == 0
    assert "5.21.177" in out and "Lumakras" in out and "2026-04-01" in out


def test_policy_show_by_generic_name() -> None:
    code, out, _ = run("policy", "show", "sotorasib")
    assert code == 0
    assert "Used in combination with Vectibix (panitumumab)" in out
    assert "960 mg per day" in out
    assert "NO disease progression or unacceptable toxicity" in out


def test_questions_json_lists_ids_text_and_wording() -> None:
    code, out, _ = run("questions", "Lumakras", "--renewal", "--json")
    qs = json.loads(out)
    assert code == 0
    assert [q["id"] for q in qs] == [
        "renewal.age",
        "renewal.nsclc",
        "renewal.mcrc",
        "renewal.no_progression",
        "renewal.liver_function_monitoring",
    ]
    assert qs[3]["criterion_text"] == "NO disease progression or unacceptable toxicity"


def test_questions_for_unknown_drug_is_exit_2() -> None:
    code, _, err = run("questions", "aspirin")
    assert code == 2 and "no policy covers 'aspirin'" in err


@pytest.mark.parametrize("which", ["request", "determination"])
def test_schema_is_json_schema(which: str) -> None:
    code, out, _ = run("schema", which)
    doc = json.loads(out)
    assert code == 0
    assert doc["type"] == "object"
    assert "properties" in doc


def test_request_schema_rejects_unknown_fields() -> None:
    _, out, _ = run("schema", "request")
    assert json.loads(out)["additionalProperties"] is False


def test_schema_of_something_else_is_exit_2() -> None:
    code, _, err = run("schema", "policy")
    assert code == 2 and "expected 'request' or 'determination'" in err


@pytest.mark.parametrize(
    "name", sorted(p.name for p in EXAMPLES.glob("*-*.json")), ids=lambda n: n.removesuffix(".json")
)
def test_checklist_matches_golden(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Golden files for the human view; refresh with UPDATE_GOLDEN=1 after a deliberate change."""
    monkeypatch.chdir(ROOT)
    code, out, _ = run("evaluate", f"examples/{name}")
    assert code == 0
    # A denial's appeal deadline is counted from today: the golden file holds a placeholder.
    out = out.replace((dt.date.today() + dt.timedelta(days=180)).isoformat(), "YYYY-MM-DD")
    golden = GOLDEN / name.replace(".json", ".txt")
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(out)
    assert out == golden.read_text()


def test_installed_command_never_prints_a_traceback(tmp_path: Path) -> None:
    f = tmp_path / "req.json"
    f.write_text('{"kind": "initial"}')
    exe = Path(sys.executable).parent / "priorauth"
    proc = subprocess.run([str(exe), "evaluate", str(f)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: date_of_service: Field required")
    assert "Traceback" not in proc.stderr


def test_several_files_go_on_after_a_bad_one_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "initial"}')
    files = [
        str(EXAMPLES / "nsclc-initial-approve.json"),
        str(bad),
        str(tmp_path / "missing.json"),
        str(EXAMPLES / "investigational-deny.json"),
    ]
    code, out, err = run("evaluate", *files)
    assert code == 2
    assert "nsclc-initial-approve.json" in out and "investigational-deny.json" in out
    assert err.splitlines() == [
        f"error: {bad}: date_of_service: Field required",
        f"error: {tmp_path / 'missing.json'}: no such file",
    ]
    code, out, err = run("evaluate", *files, "--json")
    assert code == 2
    assert [d["decision"] for d in json.loads(out)] == ["approved", "denied"]
