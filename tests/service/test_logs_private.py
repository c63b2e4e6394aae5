"""The service's log holds no request text (issue 25): `priorauth serve` in its own process, its
stderr captured, every error path of every adapter walked with a marked value in ids, names,
free text, headers and bodies, and then the same marked requests sent while the database fails
(the driver's error message quotes the SQL statement and its values): the mark is in no line."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from http_walk import SUBMITTER_KEY, exchange, probes, sign_in
from live_server import free_port
from service_support import example
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from priorauth.service import logs

AUTH = {"Authorization": f"Bearer {SUBMITTER_KEY}"}
FHIR_EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "fhir"


@contextlib.contextmanager
def served(db_url: str, log: Path) -> Iterator[int]:
    """`priorauth serve` as an operator runs it (access log on), stderr into `log`."""
    port = free_port()
    env = {
        **os.environ,
        "PRIORAUTH_DATABASE_URL": db_url,
        "PRIORAUTH_DEMO_KEYS": "1",
        "PRIORAUTH_ACCESS_LOG": "true",
    }
    command = [sys.executable, "-c", "from priorauth.cli import app; app()", "serve"]
    with log.open("wb") as err:
        server = subprocess.Popen([*command, "--port", str(port)], env=env, stdout=err, stderr=err)
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                        break
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
            yield port
        finally:
            server.terminate()
            server.wait(timeout=30)


@contextlib.contextmanager
def cases_table_gone(db_url: str) -> Iterator[None]:
    """The cases table renamed away, so that every read and write of a case fails in the
    database driver, whose message quotes the statement and its values."""
    engine = create_engine(db_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE cases RENAME TO cases_away"))
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE cases_away RENAME TO cases"))
        engine.dispose()


def _marked_request(mark: str) -> dict[str, Any]:
    request = example("nsclc-initial-approve")
    request["member"]["id"] = mark
    request["prescriber"] = {"npi": "1245319599", "name": mark}
    return request


def _marked_bundle(mark: str) -> dict[str, Any]:
    bundle: dict[str, Any] = json.loads((FHIR_EXAMPLES / "pas-approve.json").read_text())
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] in ("Patient", "Claim"):
            resource["identifier"] = [{"system": "urn:test", "value": mark}]
        if resource["resourceType"] == "Patient":
            resource["name"] = [{"family": mark, "given": [mark]}]
    return bundle


def _failing_calls(port: int, mark: str, session: dict[str, str]) -> list[int]:
    """Marked requests that reach the database while it fails: the statuses."""
    fhir = {**AUTH, "Content-Type": "application/fhir+json"}
    calls = [
        ("POST", "/cases", {**AUTH, "Content-Type": "application/json"}, _marked_request(mark)),
        ("GET", f"/cases/{mark}", AUTH, None),
        ("POST", "/fhir/Claim/$submit", fhir, _marked_bundle(mark)),
        ("GET", f"/fhir/ClaimResponse/{mark}", AUTH, None),
        ("GET", f"/ui/cases/{mark}", session, None),
    ]
    statuses = []
    for method, target, headers, body in calls:
        raw = json.dumps(body).encode() if body is not None else b""
        statuses.append(exchange(port, method, target, headers, raw).status)
    return statuses


def test_the_log_holds_no_request_text(app: FastAPI, app_db_url: str, tmp_path: Path) -> None:
    mark = f"PATIENTMARK-{secrets.token_hex(4)}"
    log = tmp_path / "server.log"
    with served(app_db_url, log) as port:
        session = sign_in(port, "demo-reviewer-key")
        walked = probes(app, mark, AUTH, session)
        for probe in walked:
            exchange(
                port,
                probe.method,
                probe.target,
                probe.headers,
                probe.body,
                probe.declare,
                probe.source,
            )
        with cases_table_gone(app_db_url):
            failed = _failing_calls(port, mark, session)
    lines = log.read_text(errors="replace").splitlines()
    leaked = [line[:300] for line in lines if mark in line]
    assert not leaked, f"{len(leaked)} log lines carry request text:\n" + "\n".join(leaked[:20])
    # Not a silent log: the walk was logged, and each failure left its line, with the request's id.
    assert sum(" /cases/{case_id} " in line for line in lines) >= 5
    assert all(status == 500 for status in failed), failed
    errors = [line for line in lines if " failed [request " in line]
    assert len(errors) >= len(failed), "\n".join(lines[-40:])
    assert all(re.search(r"\[request [0-9a-f]{16}\]", line) for line in errors)


def test_a_traceback_logged_by_any_code_carries_no_message() -> None:
    """`configure` (what `priorauth serve` runs) holds every handler to the rule: a
    `log.exception` written later prints the exception's class and frames, not its message."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("priorauth")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    logger.addHandler(handler)
    try:
        logs.configure(access=False)
        try:
            raise ValueError("medication.name: PATIENTMARK-traceback is not a drug")
        except ValueError:
            logging.getLogger("priorauth.somewhere").exception("could not decide")
    finally:
        logger.handlers[:], logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])
    written = stream.getvalue()
    assert "could not decide: builtins.ValueError at test_logs_private.py:" in written
    assert "PATIENTMARK" not in written
