"""One settings object, read from PRIORAUTH_* environment variables."""

from __future__ import annotations

from functools import cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRIORAUTH_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/priorauth.db",
        description="SQLAlchemy URL; postgresql+psycopg://user:pass@host/db for PostgreSQL",
    )
    expedited_hours: int = Field(default=72, description="decision clock for expedited requests")
    standard_days: int = Field(default=7, description="decision clock for standard requests")
    pend_expiry: str = Field(
        default="deny",
        description="what happens to a pend unanswered by its deadline: deny, or keep",
    )
    demo_keys: bool = Field(
        default=False, description="create the documented demo API keys at start-up"
    )


@cache
def get_settings() -> Settings:
    return Settings()
