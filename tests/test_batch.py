"""``priorauth evaluate --batch``: streamed NDJSON, trace on request, several processes, order
and line numbers kept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson

from priorauth import Engine

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*-*.json"))
PRIORAUTH = str(Path(sys.executable).with_name("priorauth"))


def _batch_file(tmp_path: Path, copies: int) -> tuple[Path, list[bytes]]:
    """Every example ``copies`` times, with a bad line and a blank line now and then."""
    lines: list[bytes] = []
    requests = [orjson.dumps(json.loads(p.read_text())) for p in EXAMPLES]
    for i in range(copies):
        lines += requests
        if i % 97 == 0:
            lines += [b'{"kind": "initial"}', b""]
    f = tmp_path / "batch.ndjson"
    f.write_bytes(b"\n".join(lines) + b"\n")
    return f, lines


def _run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [PRIORAUTH, "evaluate", *args], input=stdin, capture_output=True, check=False
    )


def test_batch_matches_the_api_line_by_line_and_in_order(tmp_path: Path) -> None:
    f, lines = _batch_file(tmp_path, 500)  # more lines than one chunk
    one = _run("--batch", str(f))
    two = _run("--batch", str(f), "--jobs", "2")
    assert one.returncode == two.returncode == 2  # some lines were refused
    assert one.stdout == two.stdout
    rows = [orjson.loads(x) for x in one.stdout.splitlines()]
    engine = Engine()
    wanted = [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
    assert len(rows) == len(wanted)
    for row, (n, line) in zip(rows, wanted, strict=True):
        if "error" in row:
            assert row == {"line": n, "error": "date_of_service: Field required"}
            continue
        assert "trace" not in row
        assert row == engine.evaluate_json(line).model_dump("json", {"trace"})
    assert one.stderr.decode().count("Field required") == sum("error" in r for r in rows)


def test_batch_trace_only_when_asked(tmp_path: Path) -> None:
    f, lines = _batch_file(tmp_path, 1)
    done = _run("--batch", str(f), "--trace", "--jobs", "2")
    rows = [orjson.loads(x) for x in done.stdout.splitlines()]
    engine = Engine()
    good = [line for line in lines if line.strip() and b'"member"' in line]
    decided = [r for r in rows if "decision" in r]
    assert [r["trace"]["id"] for r in decided] == [
        engine.evaluate_json(line).trace.id for line in good
    ]
    assert decided == [engine.evaluate_json(line).model_dump("json") for line in good]


def test_batch_reads_stdin() -> None:
    request = EXAMPLES[0].read_bytes().replace(b"\n", b"")
    done = _run("--batch", "-", stdin=request + b"\n" + request + b"\n")
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == 2


def test_batch_of_a_missing_file_is_one_line_error(tmp_path: Path) -> None:
    done = _run("--batch", str(tmp_path / "nope.ndjson"))
    assert done.returncode == 2
    assert done.stderr.decode().strip() == f"error: {tmp_path / 'nope.ndjson'}: no such file"


def test_a_reader_that_stops_early_ends_the_batch_quietly(tmp_path: Path) -> None:
    f, _ = _batch_file(tmp_path, 300)
    proc = subprocess.Popen(
        [PRIORAUTH, "evaluate", "--batch", str(f)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(100)
    proc.stdout.close()  # as `| head -c 100` does
    err = proc.stderr.read().decode()
    assert proc.wait() in (1, 2)
    assert "Traceback" not in err


def test_an_output_that_cannot_be_written_is_one_line_error(tmp_path: Path) -> None:
    f, _ = _batch_file(tmp_path, 300)
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [PRIORAUTH, "evaluate", "--batch", str(f)], stdout=full, stderr=subprocess.PIPE
        )
    assert done.returncode == 2
    assert done.stderr.decode().splitlines()[-1] == (
        "error: cannot write the output (No space left on device)"
    )
