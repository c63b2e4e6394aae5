"""One settings object, read from PRIORAUTH_* environment variables and checked at start-up:
a bad value is one line naming the variable (`load_settings`), never a traceback."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from priorauth.errors import PriorAuthError
from priorauth.policy.load import builtin_policies, load_policy
from priorauth.policy.model import Policy
from priorauth.service.inbound import Limits

PREFIX = "PRIORAUTH_"
PLAN = r"^[a-z0-9][a-z0-9_.-]*$"  # as the request's and the policy's `plan`
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
    plan_name: str = Field(
        default="The health plan",
        min_length=1,
        max_length=200,
        description="the plan's name at the head of decision letters",
    )
    default_plan: str = Field(
        default="fep",
        pattern=PLAN,
        description="the plan of a request that names none and whose organization has none",
    )
    org_plans: str = Field(
        default="",
        description="each submitting organization's plan: org=plan, comma-separated",
    )
    policies: str = Field(
        default="",
        description="more policy files (YAML), or folders of them, beside the built-in ones: "
        "paths separated by ':'",
    )

    @field_validator("org_plans")
    @classmethod
    def _org_plans(cls, v: str) -> str:
        for pair in filter(None, (p.strip() for p in v.split(","))):
            org, sep, plan = pair.partition("=")
            if not sep or not org.strip() or not re.fullmatch(PLAN, plan.strip()):
                raise ValueError(
                    f"{pair!r} is not org=plan (a plan is lower-case letters, digits, '.', '_' "
                    "or '-', e.g. demo-clinic=fep)"
                )
        return v

    @property
    def plan_of_org(self) -> dict[str, str]:
        """Organization -> its plan (PRIORAUTH_ORG_PLANS)."""
        out: dict[str, str] = {}
        for pair in filter(None, (p.strip() for p in self.org_plans.split(","))):
            org, _, plan = pair.partition("=")
            out[org.strip()] = plan.strip()
        return out

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
        settings = Settings()
    except ValidationError as exc:
        raise SettingsError(_message(exc)) from None
    load_policies(settings)  # a bad policy file is one line too, before anything is served
    return settings


def load_policies(settings: Settings) -> list[Policy]:
    """The built-in policies and those PRIORAUTH_POLICIES names, or SettingsError."""
    found: list[Policy] = list(builtin_policies())
    for part in filter(None, (p.strip() for p in settings.policies.split(":"))):
        path = Path(part)
        if path.is_dir():
            files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        elif path.is_file():
            files = [path]
        else:
            raise SettingsError(f"{PREFIX}POLICIES: {part}: no such file or folder")
        try:
            found.extend(load_policy(f) for f in files)
        except PriorAuthError as exc:
            raise SettingsError(f"{PREFIX}POLICIES: {exc}") from None
    return found


@cache
def get_settings() -> Settings:
    return load_settings()
