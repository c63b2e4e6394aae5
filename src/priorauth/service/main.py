"""The application uvicorn serves, built from the PRIORAUTH_* environment."""

from __future__ import annotations

from fastapi import FastAPI

from priorauth.service import logs
from priorauth.service.app import create_app
from priorauth.service.config import get_settings


def app() -> FastAPI:
    settings = get_settings()
    logs.configure(access=settings.access_log)
    return create_app(settings)
