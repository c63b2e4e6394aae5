"""Fixtures for the service tests: every API test runs on SQLite and, when
PRIORAUTH_TEST_POSTGRES_URL names a server, on PostgreSQL too, each test on a clean database.

- `db_url`: an empty database of the test's own (SQLite file, or a new PostgreSQL database).
- `app_db_url`: a clean, migrated database for an application: a new SQLite file per test; on
  PostgreSQL, one database per test module (CREATE DATABASE costs ~0.2 s), emptied of every
  case, event and authorization before each test, so tests stay isolated in any order.
- `clock`, `app`, `client`: the application on that database with the demo keys and a FakeClock.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_support import FakeClock, fresh_postgres_database, skip_without_postgres
from sqlalchemy import text

from priorauth.server import create_app
from priorauth.service.auth import ensure_demo_keys
from priorauth.service.config import Settings
from priorauth.service.db import Database
from priorauth.service.migrate import upgrade

DATABASES = ["sqlite", "postgresql"]
# Every table but api_keys (the demo keys stay) and alembic_version.
CASE_TABLES = ("listing_cases", "listings", "events", "authorizations", "cases")
GOLD_CARD_TABLES = ("gold_card_events", "gold_card_approvals", "gold_card_runs", "gold_cards")
# The FHIR adapter's tables (fhir_claims goes with cases, by CASCADE).
FHIR_TABLES = (
    "fhir_subscriptions",
    "fhir_audit",
    "coverage_assertions",
    "oauth_tokens",
    "oauth_assertion_jtis",
    "oauth_clients",
)


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of the test's own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/pa.db"
        return
    skip_without_postgres()
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def postgres_module_database() -> Iterator[str]:
    """A PostgreSQL database for one test module, migrated, with the demo keys."""
    skip_without_postgres()
    with fresh_postgres_database("pa_module") as url:
        db = Database(url)
        upgrade(db.engine)
        with db.session() as s:
            ensure_demo_keys(s)
        db.engine.dispose()
        yield url


@pytest.fixture(params=DATABASES)
def app_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A clean database for one test's application."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/pa.db"
    skip_without_postgres()
    url: str = request.getfixturevalue("postgres_module_database")
    db = Database(url)
    try:
        with db.engine.begin() as conn:
            tables = ", ".join(CASE_TABLES + GOLD_CARD_TABLES + FHIR_TABLES)
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        db.engine.dispose()
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(app_db_url: str, clock: FakeClock) -> Iterator[FastAPI]:
    application = create_app(Settings(database_url=app_db_url, demo_keys=True), clock=clock)
    yield application
    application.state.service.db.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
