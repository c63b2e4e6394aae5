"""A real `priorauth serve` process and fresh databases, for the crash test and the load
benchmark (scripts/reliability.py, bench/api/run.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PRIORAUTH = ROOT / ".venv" / "bin" / "priorauth"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Server:
    """`priorauth serve` in its own session (process group), so a signal reaches every worker."""

    def __init__(
        self,
        database_url: str,
        workers: int,
        log: Path,
        extra_env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.database_url, self.workers, self.log = database_url, workers, log
        self.extra_env = extra_env or {}
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0, healthy_checks: int = 1) -> None:
        """Start and wait for /health (``healthy_checks`` answers in a row, so that several
        workers have time to come up)."""
        env = {
            **os.environ,
            **self.extra_env,
            "PRIORAUTH_DATABASE_URL": self.database_url,
            "PRIORAUTH_DEMO_KEYS": "1",
        }
        cmd = [
            str(PRIORAUTH),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        with self.log.open("ab") as out:
            out.write(f"\n=== {' '.join(cmd)} at {time.strftime('%H:%M:%S')}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        healthy = 0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}); see {self.log}")
            try:
                if httpx.get(f"{self.base}/health", timeout=1.0).status_code == 200:
                    healthy += 1
                    if healthy >= healthy_checks:
                        if healthy_checks > 1:
                            time.sleep(0.5 * self.workers)
                        return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"server not healthy after {timeout:.0f} s; see {self.log}")

    def kill(self) -> None:
        """SIGKILL to the whole process group: no shutdown handlers, no flushes."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        # Workers are in the same group; wait until the port is free for a restart.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _group_alive(self.proc.pid):
            time.sleep(0.05)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            self.kill()
        self.proc = None


def postgres_url() -> str | None:
    """The test PostgreSQL URL: from the environment, or scripts/postgres-for-tests.sh."""
    url = os.environ.get("PRIORAUTH_TEST_POSTGRES_URL", "").strip()
    if url:
        return url
    script = ROOT / "scripts" / "postgres-for-tests.sh"
    try:
        done = subprocess.run([str(script)], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def fresh_postgres(base_url: str, name: str) -> str:
    """Drop and create database `name` next to the one `base_url` names; its SQLAlchemy URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)
