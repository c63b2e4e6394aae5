"""Before the service starts (and before `db upgrade`, `keys ...`): the settings are checked,
the database is reached and brought to the latest migration. Anything wrong is one line naming
the variable or the database (its password hidden), never a traceback, and nothing is served."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from priorauth.service.auth import ensure_demo_keys
from priorauth.service.config import Settings, SettingsError, load_settings
from priorauth.service.db import Database
from priorauth.service.migrate import upgrade


class StartupError(RuntimeError):
    """The database cannot be used: one line."""


def database_problem(db: Database, exc: BaseException) -> str:
    shown = db.engine.url.render_as_string(hide_password=True)
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    password = db.engine.url.password
    if password:
        first = first.replace(str(password), "***")
    return f"database {shown}: {first}"


def open_database(settings: Settings, demo_keys: bool | None = None) -> Database:
    """The database, reached and migrated (and with the demo keys when asked), or
    StartupError."""
    try:
        db = Database(settings.database_url)
    except OSError as exc:  # the SQLite file's folder cannot be made
        shown = make_url(settings.database_url).render_as_string(hide_password=True)
        raise StartupError(f"database {shown}: {exc.strerror or exc} ({exc.filename})") from None
    try:
        upgrade(db.engine)
        if settings.demo_keys if demo_keys is None else demo_keys:
            with db.session() as s:
                ensure_demo_keys(s)
    except (SQLAlchemyError, OSError) as exc:
        db.engine.dispose()
        raise StartupError(database_problem(db, exc)) from None
    return db


def prepare() -> Settings:
    """The checked settings, the database ready; SettingsError or StartupError otherwise."""
    settings = load_settings()
    open_database(settings).engine.dispose()
    return settings


__all__ = ["SettingsError", "StartupError", "open_database", "prepare"]
