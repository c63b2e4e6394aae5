"""Start-up and operations as a new user meets them: bad settings and unreachable databases are
one line and nothing is served; keys are revoked from the command line; a 500 does not break
the client's keep-alive connection (a real uvicorn server)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_support import assert_problem, bearer
from typer.testing import CliRunner

from priorauth.cli import app as cli
from priorauth.server import create_app
from priorauth.service.config import Settings

runner = CliRunner()


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args), env={"COLUMNS": "200", "NO_COLOR": "1", **env})
    return result.exit_code, result.stdout, result.stderr


BAD_SETTINGS = {
    "not a URL": ({"PRIORAUTH_DATABASE_URL": "foo"}, "PRIORAUTH_DATABASE_URL"),
    "unsupported database": ({"PRIORAUTH_DATABASE_URL": "mysql://u@h/db"}, "mysql"),
    "unreachable PostgreSQL": (
        {"PRIORAUTH_DATABASE_URL": "postgresql+psycopg://u:s3cret@127.0.0.1:1/db"},
        "Connection refused",
    ),
    "SQLite folder that cannot be made": (
        {"PRIORAUTH_DATABASE_URL": "sqlite:////proc/no/such/pa.db"},
        "database sqlite:////proc/no/such/pa.db",
    ),
    "pend expiry": ({"PRIORAUTH_PEND_EXPIRY": "foo"}, "PRIORAUTH_PEND_EXPIRY"),
    "negative standard days": ({"PRIORAUTH_STANDARD_DAYS": "-1"}, "PRIORAUTH_STANDARD_DAYS"),
    "fractional hours": ({"PRIORAUTH_EXPEDITED_HOURS": "0.001"}, "PRIORAUTH_EXPEDITED_HOURS"),
    "zero hours": ({"PRIORAUTH_EXPEDITED_HOURS": "0"}, "PRIORAUTH_EXPEDITED_HOURS"),
    "body limit": ({"PRIORAUTH_MAX_BODY_BYTES": "lots"}, "PRIORAUTH_MAX_BODY_BYTES"),
}
COMMANDS = {
    "serve": ["serve", "--port", "1"],
    "db upgrade": ["db", "upgrade"],
    "keys create": ["keys", "create", "--role", "admin"],
    "keys list": ["keys", "list"],
    "keys revoke": ["keys", "revoke", "1"],
}


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
@pytest.mark.parametrize("env,named", BAD_SETTINGS.values(), ids=BAD_SETTINGS.keys())
def test_a_bad_setting_is_one_line_and_nothing_is_served(
    tmp_path: Path, env: dict[str, str], named: str, command: list[str]
) -> None:
    env = {"PRIORAUTH_DATABASE_URL": f"sqlite:///{tmp_path}/pa.db", **env}
    code, out, err = run(env, *command)
    assert code == 2, (out, err)
    assert "serving on" not in out
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert named in lines[0]
    assert "s3cret" not in err


def test_postgresql_without_a_driver_name_uses_the_installed_driver() -> None:
    settings = Settings(database_url="postgresql://u:p@localhost/db")
    assert settings.database_url.startswith("postgresql+psycopg://")


# --- keys from the command line -------------------------------------------------------------


def test_keys_are_created_listed_and_revoked(tmp_path: Path) -> None:
    env = {"PRIORAUTH_DATABASE_URL": f"sqlite:///{tmp_path}/pa.db"}
    code, key, err = run(env, "keys", "create", "--role", "reviewer", "--name", "Pharmacist C")
    assert code == 0, err
    key = key.strip()
    application = create_app(
        Settings(database_url=env["PRIORAUTH_DATABASE_URL"], key_cache_seconds=0)
    )
    try:
        with TestClient(application, raise_server_exceptions=False) as client:
            assert client.get("/queue", headers=bearer(key)).status_code == 200
            code, out, err = run(env, "keys", "revoke", "Pharmacist C")
            assert code == 0, err
            assert "revoked key 1 (Pharmacist C, reviewer)" in out
            doc = assert_problem(client.get("/queue", headers=bearer(key)), 401)
            assert "revoked" in doc["detail"]
    finally:
        application.state.service.db.engine.dispose()
    code, out, _ = run(env, "keys", "list")
    assert code == 0
    row = next(line for line in out.splitlines() if "Pharmacist C" in line)
    assert row.count(":") == 2  # created and revoked times both shown
    assert key not in out
    code, _, err = run(env, "keys", "revoke", "nobody")
    assert code == 2 and err.startswith("error: no key 'nobody'")


# --- a 500 keeps the connection usable (a real server) --------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(params=["h11", "httptools"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[int, FastAPI]]:
    """The app on a real uvicorn server (both of its HTTP implementations), with a route that
    fails."""
    application = create_app(Settings(database_url=f"sqlite:///{tmp_path}/pa.db", demo_keys=True))

    @application.get("/fails", include_in_schema=False)
    def fails() -> Any:
        raise RuntimeError("a bug")

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            application, host="127.0.0.1", port=port, log_level="critical", http=request.param
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield port, application
    finally:
        server.should_exit = True
        thread.join(10)
        application.state.service.db.engine.dispose()


def test_after_a_500_the_next_request_on_the_connection_succeeds(
    served: tuple[int, FastAPI],
) -> None:
    port, _ = served
    conn = HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/fails")
        r = conn.getresponse()
        body = json.loads(r.read())
        assert r.status == 500 and body["title"] == "Internal error"
        assert r.getheader("content-type") == "application/problem+json"
        conn.request("GET", "/health")  # the same connection
        r = conn.getresponse()
        assert r.status == 200, r.read()
        assert json.loads(r.read())["status"] == "ok"
    finally:
        conn.close()


def test_serve_on_a_port_in_use_is_one_line_and_serves_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"PRIORAUTH_DATABASE_URL": f"sqlite:///{tmp_path}/pa.db"}
        code, out, err = run(env, "serve", "--port", str(port))
    assert code == 2
    assert "serving on" not in out
    assert err.strip() == f"error: cannot serve on 127.0.0.1:{port}: Address already in use"
