"""scripts/reliability.py: passes on the real server (SQLite), and fails when an acknowledged
case goes missing or a retry makes a second case (the check can fail)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "reliability.py"


def _load() -> Any:
    spec = importlib.util.spec_from_file_location("reliability_script", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


reliability = _load()
needs_server = pytest.mark.skipif(
    not reliability.PRIORAUTH.exists(), reason="needs .venv/bin/priorauth"
)


@needs_server
def test_passes_on_sqlite(capsys: pytest.CaptureFixture[str]) -> None:
    assert reliability.main(["--database", "sqlite", "--requests", "60", "--threads", "4"]) == 0
    out = capsys.readouterr().out
    assert "[PASS] sqlite" in out
    assert "cases on file / requests        60 / 60" in out


@needs_server
def test_fails_on_lost_ack_and_duplicate(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_retry = reliability.retry_all

    def tampered(server: Any, items: list[Any], threads: int) -> None:
        acked = [i for i in items if i.first == "acked"]
        acked[0].first_case = "00000000-0000-0000-0000-000000000000"  # an ack with no case
        acked[1].key += "-other"  # a retry under a new key: a second case for the member
        real_retry(server, items, threads)

    monkeypatch.setattr(reliability, "retry_all", tampered)
    assert reliability.main(["--database", "sqlite", "--requests", "40", "--threads", "4"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] sqlite" in out
    assert "is missing" in out
    assert "2 cases on file" in out
