"""One settings object, read from PRIORAUTH_* environment variables and checked at start-up:
a bad value is one line naming the variable (`load_settings`), never a traceback."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from priorauth.service.inbound import Limits

PREFIX = "PRIORAUTH_"
DRIVERS = ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg")


class SettingsError(ValueError):
    """A setting that cannot be used: one line naming the variable and the problem."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/priorauth.db",
        description="SQLAlchemy URL; postgresql+psycopg://user:pass@host/db for PostgreSQL",
    )
    expedited_hours: int = Field(
        default=72, ge=1, le=24 * 366, description="decision clock for expedited requests"
    )
    standard_days: int = Field(
        default=7, ge=1, le=366, description="decision clock for standard requests"
    )
    pend_expiry: Literal["deny", "keep"] = Field(
        default="deny",
        description="what happens to a pend unanswered by its deadline: deny, or keep",
    )
    demo_keys: bool = Field(
        default=False, description="create the documented demo API keys at start-up"
    )
    max_body_bytes: int = Field(
        default=Limits.max_body_bytes, ge=1024, description="largest request body (413 above)"
    )
    max_array_items: int = Field(
        default=Limits.max_array_items, ge=1, description="most items in any JSON array"
    )
    max_text_chars: int = Field(
        default=Limits.max_text_chars, ge=64, description="longest text value in a body"
    )
    access_log: bool = Field(default=True, description="one log line per request")
    key_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="how long a worker trusts a key it looked up; a revocation takes effect "
        "within this time (0: look the key up on every request)",
    )
    auth_failures_per_minute: int = Field(
        default=20, ge=0, description="unknown API keys one client may send a minute (0: any)"
    )

    @field_validator("database_url")
    @classmethod
    def _url(cls, v: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(v)
        except ArgumentError:
            raise ValueError(
                "not a database URL (expected sqlite:///path/to.db or "
                "postgresql+psycopg://user:password@host:5432/db)"
            ) from None
        if url.drivername not in DRIVERS:
            raise ValueError(
                f"database {url.drivername!r} is not supported (sqlite, or postgresql+psycopg)"
            )
        if url.drivername == "postgresql":  # the driver this package installs
            return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return v

    @property
    def limits(self) -> Limits:
        return Limits(
            max_body_bytes=self.max_body_bytes,
            max_array_items=self.max_array_items,
            max_text_chars=self.max_text_chars,
        )


def _message(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    name = PREFIX + str(err["loc"][0]).upper() if err["loc"] else "settings"
    msg = str(err["msg"]).removeprefix("Value error, ")
    given = err.get("input")
    shown = f" (got {given!r})" if isinstance(given, str) and "URL" not in name else ""
    return f"{name}: {msg}{shown}"


def load_settings() -> Settings:
    """The settings from the environment, or SettingsError naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(_message(exc)) from None


@cache
def get_settings() -> Settings:
    return load_settings()
