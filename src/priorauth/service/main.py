"""The application uvicorn serves, built from the PRIORAUTH_* environment."""

from __future__ import annotations

from fastapi import FastAPI

from priorauth.service.app import create_app


def app() -> FastAPI:
    return create_app()
