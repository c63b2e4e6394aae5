"""Migrations: an empty database to head, a schema equal to the models, and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, make_url, text

from priorauth.schema import metadata as all_tables
from priorauth.service.db import make_engine
from priorauth.service.migrate import alembic_config, upgrade

TABLES = {"api_keys", "cases", "events", "authorizations"}


@pytest.fixture
def sa_engine(db_url: str) -> Iterator[Engine]:
    e = make_engine(db_url)
    yield e
    e.dispose()


def head(url: str) -> str:
    revision = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert revision
    return revision


def current(sa_engine: Engine) -> str | None:
    with sa_engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_empty_database_is_brought_to_head(sa_engine: Engine, db_url: str) -> None:
    assert inspect(sa_engine).get_table_names() == []
    upgrade(sa_engine)
    assert set(inspect(sa_engine).get_table_names()) >= TABLES
    assert current(sa_engine) == head(db_url)


def test_migrated_schema_equals_the_models(sa_engine: Engine) -> None:
    upgrade(sa_engine)
    with sa_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, all_tables)
    assert diff == []


def test_upgrade_twice_changes_nothing(sa_engine: Engine, db_url: str) -> None:
    upgrade(sa_engine)
    with sa_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO api_keys (key_hash, prefix, role, org, name, created_at) "
                "VALUES ('h', 'p', 'admin', NULL, 'kept', CURRENT_TIMESTAMP)"
            )
        )
    upgrade(sa_engine)
    assert current(sa_engine) == head(db_url)
    with sa_engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM api_keys")).scalars().all() == ["kept"]


def test_cli_db_upgrade_works_twice(sa_engine: Engine, db_url: str) -> None:
    cli = Path(sys.executable).parent / "priorauth"
    env = {**os.environ, "PRIORAUTH_DATABASE_URL": db_url}
    for _ in range(2):
        done = subprocess.run(
            [str(cli), "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "latest migration" in done.stdout
    assert current(sa_engine) == head(db_url)
    assert set(inspect(sa_engine).get_table_names()) >= TABLES


def test_cli_db_upgrade_does_not_print_the_database_password(db_url: str) -> None:
    url = make_url(db_url)
    if not url.password:
        pytest.skip("this database URL carries no password")
    cli = Path(sys.executable).parent / "priorauth"
    env = {**os.environ, "PRIORAUTH_DATABASE_URL": db_url}
    done = subprocess.run(
        [str(cli), "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f":{url.password}@" not in done.stdout + done.stderr


def test_service_start_up_migrates_an_empty_database(sa_engine: Engine, db_url: str) -> None:
    from priorauth.server import create_app
    from priorauth.service.config import Settings

    app = create_app(Settings(database_url=db_url, demo_keys=True))
    app.state.service.db.engine.dispose()
    assert current(sa_engine) == head(db_url)
    with sa_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM api_keys")).scalar_one() == 5
