"""What the service writes to its log: one access line per request, and one line per failure,
neither carrying patient data.

Paths are logged as their route template (`/members/{member_id}/authorizations`), never with the
identifiers in them, and without the query string; a failure is logged as its exception class,
the database's error code and where it happened, never its message: a database error's message
carries the SQL statement and its parameters (a member id, the whole request)."""

from __future__ import annotations

import logging
import sys
import time
import traceback
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from priorauth.service.problems import problem_for

access_log = logging.getLogger("priorauth.access")
error_log = logging.getLogger("priorauth.service")


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "(no route)"


def failure_line(exc: BaseException) -> str:
    """The exception's class (and the database driver's, with its SQLSTATE), and the last
    frames of where it happened; never the message."""
    kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
    orig = getattr(exc, "orig", None)
    if isinstance(orig, BaseException):
        kind += f" from {type(orig).__module__}.{type(orig).__qualname__}"
        code = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
        if code:
            kind += f" [{code}]"
    frames = traceback.extract_tb(exc.__traceback__)
    # Ours say where it happened; the innermost says what failed.
    ours = [f for f in frames if "/priorauth/" in Path(f.filename).as_posix()][-4:]
    shown = [*ours, frames[-1]] if frames and (not ours or ours[-1] is not frames[-1]) else ours
    where = " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(shown))
    return f"{kind} at {where}"


class CatchAll:
    """Any exception a route lets through becomes a 500 problem document here, logged as one
    line. Handled here rather than by Starlette's ServerErrorMiddleware, which re-raises it to
    the server: uvicorn then closes the keep-alive connection and the client's next request on
    it fails."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            error_log.error(
                "%s %s failed: %s", scope.get("method"), route_of(scope), failure_line(exc)
            )
            if not started:
                response = problem_for(
                    scope, 500, "Internal error", "the service failed on this request; it is logged"
                )
                await response(scope, receive, send)


class AccessLog:
    """One line per request: method, route template, status, milliseconds, who (the key's
    name, once authenticated)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not access_log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 0

        async def tracked(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        finally:
            who = getattr(scope.get("state", {}).get("principal"), "name", "-")
            ms = (time.perf_counter() - began) * 1000
            access_log.info(
                '%s %s %s %.1fms "%s"', scope.get("method"), route_of(scope), status, ms, who
            )


def configure(access: bool) -> None:
    """Service logs to stderr (what `priorauth serve` runs); access lines when asked."""
    logger = logging.getLogger("priorauth")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.INFO)
    access_log.setLevel(logging.INFO if access else logging.WARNING)
