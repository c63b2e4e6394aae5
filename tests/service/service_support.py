"""What the service tests share: demo keys, a controllable clock, example requests, the
fresh-database helper and assertions on problem documents."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PG_ENV = "PRIORAUTH_TEST_POSTGRES_URL"
START = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


SUBMITTER = bearer("demo-submitter-key")  # org demo-clinic
OTHER_CLINIC = bearer("demo-other-clinic-key")  # org other-clinic
REVIEWER = bearer("demo-reviewer-key")  # "Pharmacist A"
REVIEWER2 = bearer("demo-reviewer2-key")  # "Pharmacist B"
ADMIN = bearer("demo-admin-key")


def example(name: str) -> dict[str, Any]:
    """An example request from examples/, by its name without .json."""
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return data


class FakeClock:
    """The service's clock, under the test's control: always an aware UTC datetime."""

    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            return self.now

    def advance(self, **delta: float) -> dt.datetime:
        with self._lock:
            self.now += dt.timedelta(**delta)
            return self.now

    def set(self, now: dt.datetime) -> None:
        with self._lock:
            self.now = now


# --- databases ------------------------------------------------------------------------------


def postgres_admin_url() -> str:
    return os.environ.get(PG_ENV, "").strip()


def skip_without_postgres() -> None:
    if not postgres_admin_url():
        pytest.skip(
            f"PostgreSQL not configured: set {PG_ENV} "
            "(e.g. `make test`, or $(scripts/postgres-for-tests.sh)) to run the PostgreSQL half"
        )


@contextlib.contextmanager
def fresh_postgres_database(prefix: str = "pa_test") -> Iterator[str]:
    """CREATE DATABASE with a unique name through the admin URL (AUTOCOMMIT); its URL while
    the block runs; dropped afterwards, whatever the test left connected to it."""
    admin_url = make_url(postgres_admin_url())
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin_url.set(database=name).render_as_string(hide_password=False)
        finally:
            _drop(admin, name)
    finally:
        admin.dispose()


def _drop(admin: Any, name: str) -> None:
    """DROP DATABASE ... WITH (FORCE) (PostgreSQL 13+ ends the connections a test may still
    hold). It can still be refused for a moment while a session of another role (autovacuum, a
    person's psql) is connected: try again, and leave the database behind with a warning rather
    than fail a test that passed."""
    import time
    import warnings

    from sqlalchemy.exc import DBAPIError

    for attempt in range(5):
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except DBAPIError as exc:
            if attempt == 4:
                warnings.warn(f"test database {name} left behind: {exc.orig}", stacklevel=2)
                return
            time.sleep(0.5 * (attempt + 1))


# --- helpers the tests share ---------------------------------------------------------------


def submit(
    client: TestClient,
    name_or_body: str | dict[str, Any],
    headers: dict[str, str] = SUBMITTER,
    expect: int | None = 201,
    **extra_headers: str,
) -> dict[str, Any]:
    body = example(name_or_body) if isinstance(name_or_body, str) else name_or_body
    r = client.post("/cases", json=body, headers={**headers, **extra_headers})
    if expect is not None:
        assert r.status_code == expect, r.text
    out: dict[str, Any] = r.json()
    return out


def denied_case(client: TestClient, reviewer: dict[str, str] = REVIEWER) -> dict[str, Any]:
    """The investigational example, its recommended denial confirmed by `reviewer`."""
    return confirm_denial(client, submit(client, "investigational-deny"), reviewer)


def confirm_denial(
    client: TestClient, case: dict[str, Any], reviewer: dict[str, str] = REVIEWER
) -> dict[str, Any]:
    """A case's recommended denial (of melanoma, which no built-in policy lists) confirmed."""
    r = client.post(
        f"/cases/{case['id']}/review",
        json={"action": "confirm_denial", "reason": "melanoma is not a listed indication"},
        headers=reviewer,
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def assert_problem(r: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem document with this status (and naming this field)."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    doc: dict[str, Any] = r.json()
    assert doc["status"] == status
    assert doc["title"] and doc["detail"]
    assert "type" in doc
    if field is not None:
        assert doc.get("field") == field, doc
        if status == 422:  # the message names the field too
            assert field.lower() in doc["detail"].lower(), doc
    return doc
