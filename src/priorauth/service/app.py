"""The FastAPI application: settings, database, engine, error documents, authentication.

Middleware, outermost first: the access log, the catch-all for unexpected errors (a 500 problem
document; the connection stays usable), the NUL check on URLs, the body-size limit. A router
added later (FHIR, web UI) gets all four; JSON routers add `Depends(json_body)` (inbound.py) for
the media type, the JSON limits and the text rule."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from priorauth.engine.engine import Engine
from priorauth.service.auth import Principal, ensure_demo_keys
from priorauth.service.config import Settings, get_settings, load_policies
from priorauth.service.db import Database
from priorauth.service.errors import ServiceError, Unauthorized
from priorauth.service.inbound import BodySizeLimit, printable
from priorauth.service.logs import AccessLog, CatchAll
from priorauth.service.migrate import upgrade
from priorauth.service.problems import (
    PROBLEM,
    SafeJSONResponse,
    invalid_response,
    problem,
    problem_for,
    validation_errors,
)
from priorauth.service.workflow import Clock, Service

__all__ = ["PROBLEM", "create_app", "current_principal", "get_service", "problem"]


class RefuseNul:
    """A NUL in a path or query value is never a real identifier, and databases refuse it.
    Plain ASGI: Starlette's BaseHTTPMiddleware would cost every request a task group."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b"").lower()
        ):
            response = problem_for(scope, 400, "Bad request", "the URL contains a NUL character")
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
    engine = Engine(load_policies(settings), default_plan=settings.default_plan)
    service = Service(db, engine, settings, clock)

    app = FastAPI(
        title="priorauth",
        version="0.1.0",
        description="Prior-authorization cases decided against drug policies kept as data.",
        default_response_class=SafeJSONResponse,
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service
    app.state.limits = settings.limits

    # Added innermost first.
    app.add_middleware(BodySizeLimit, max_body_bytes=settings.limits.max_body_bytes)
    app.add_middleware(RefuseNul)
    app.add_middleware(CatchAll)
    app.add_middleware(AccessLog)

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        headers = getattr(exc, "headers", None)
        errors = getattr(exc, "errors", None)
        if errors and len(errors) > 1:
            return invalid_response(errors)
        return problem(exc.status, exc.title, printable(exc.detail), exc.field, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return invalid_response(validation_errors(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), str(exc.detail), headers=exc.headers)

    from priorauth.service.openapi import install as install_openapi
    from priorauth.service.routes import router

    app.include_router(router)
    from priorauth.web import mount  # the workbench under /ui, and the decision letters

    mount(app, service)
    from priorauth.fhir.routes import mount as mount_fhir

    mount_fhir(app)  # the FHIR (Da Vinci PAS, DTR), CDS Hooks (CRD) and SMART token routes
    install_openapi(app)
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
    client = request.client.host if request.client else "-"
    who = service.principal(key.strip(), client)
    request.state.principal = who
    return who
