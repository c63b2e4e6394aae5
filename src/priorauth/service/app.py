"""The FastAPI application: settings, database, engine, error documents, authentication."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from priorauth.engine.engine import Engine
from priorauth.service.auth import Principal, ensure_demo_keys
from priorauth.service.config import Settings, get_settings
from priorauth.service.db import Database
from priorauth.service.errors import ServiceError, Unauthorized
from priorauth.service.migrate import upgrade
from priorauth.service.workflow import Clock, Service

log = logging.getLogger("priorauth.service")
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if field:
        body["field"] = field
    headers = {"WWW-Authenticate": 'Bearer realm="priorauth"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "body"


class RefuseNul:
    """A NUL in a path or query value is never a real identifier, and databases refuse it.
    Plain ASGI: Starlette's BaseHTTPMiddleware would cost every request a task group."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b"").lower()
        ):
            response = problem(400, "Bad request", "the URL contains a NUL character")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(
    settings: Settings | None = None, clock: Clock | None = None, migrate: bool = True
) -> FastAPI:
    settings = settings or get_settings()
    db = Database(settings.database_url)
    if migrate:
        upgrade(db.engine)
    if settings.demo_keys:
        with db.session() as s:
            ensure_demo_keys(s)
    service = Service(db, Engine(), settings, clock)

    app = FastAPI(
        title="priorauth",
        version="0.1.0",
        description="Prior-authorization cases decided against drug policies kept as data.",
    )
    app.state.service = service

    app.add_middleware(RefuseNul)

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return problem(exc.status, exc.title, exc.detail, exc.field)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0]
        field = _loc(tuple(err.get("loc", ())))
        msg = "unknown field" if err.get("type") == "extra_forbidden" else err.get("msg", "invalid")
        return problem(422, "Unprocessable request", f"{field}: {msg}", field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return problem(500, "Internal error", "the service failed on this request; it is logged")

    from priorauth.service.routes import router

    app.include_router(router)
    from priorauth.fhir.routes import mount as mount_fhir

    mount_fhir(app)  # the FHIR (Da Vinci PAS, DTR), CDS Hooks (CRD) and SMART token routes
    return app


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def current_principal(
    request: Request, service: Annotated[Service, Depends(get_service)]
) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("send the API key as 'Authorization: Bearer KEY'", "Authorization")
    return service.principal(key.strip())
