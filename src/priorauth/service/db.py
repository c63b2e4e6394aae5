"""Database engine and sessions; SQLite gets the pragmas a service needs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Executable, Row, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # hide_parameters: a database error's message would otherwise carry the values (a
        # member id, the whole request) into whatever logs it.
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):  # type: ignore[no-untyped-def]
            conn.isolation_level = None  # transactions begin where _begin says
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # an acknowledged case survives a crash
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):  # type: ignore[no-untyped-def]
            # A writer takes the write lock at the start (no upgrade deadlocks between
            # writers); a reader does not wait for it.
            read = conn.get_execution_options().get("priorauth_read")
            conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")

        return engine
    # As many connections as the server has threads: overflow connections opened and closed
    # per request were the service's bottleneck under load.
    return create_engine(
        url,
        pool_size=40,
        max_overflow=0,
        pool_recycle=1800,
        hide_parameters=True,
        connect_args={"connect_timeout": 5},
    )


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        reader = self.engine.execution_options(priorauth_read=True)
        self.read_sessions = sessionmaker(reader, expire_on_commit=False)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        # One statement, no transaction around it: one round trip on PostgreSQL.
        autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._autocommit = reader if self.is_sqlite else autocommit

    def one(self, statement: Executable) -> Row[Any] | None:
        """The first row of one read-only statement, outside any transaction."""
        with self._autocommit.connect() as conn:
            return conn.execute(statement).first()

    def ping(self) -> None:
        """Raises unless the database answers a query on its own schema (a database that was
        dropped, or a SQLite file deleted and recreated empty, does not)."""
        with self._autocommit.connect() as conn:
            conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on any error."""
        with self.sessions() as s, s.begin():
            yield s

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A transaction that only reads (on SQLite it does not take the write lock)."""
        with self.read_sessions() as s, s.begin():
            yield s
