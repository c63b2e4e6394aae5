"""What every HTTP adapter of the case service shares: the service and the caller as FastAPI
dependencies, the NUL check on URLs, and error documents. The adapters (the JSON API, FHIR,
CDS Hooks, the workbench) import this module; it imports none of them. The application itself is
put together in priorauth.server."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from priorauth.service.auth import Principal
from priorauth.service.errors import ServiceError, Unauthorized, printable
from priorauth.service.problems import (
    invalid_response,
    problem,
    problem_for,
    validation_errors,
)
from priorauth.service.workflow import Service

__all__ = ["RefuseNul", "current_principal", "get_service", "install_errors"]


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


def install_errors(app: FastAPI) -> None:
    """Every error a route raises, as a problem document naming the field."""

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
