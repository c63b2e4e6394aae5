"""What the service writes to its log: one access line per request, and one line per failure,
neither carrying request text or patient data.

Paths are logged as their route template (`/members/{member_id}/authorizations`), never with the
identifiers in them, and without the query string; a failure is logged as its exception class,
the database's error code, the frames' locations, the route and the request's id, never its
message: an exception's message is request text (a validation error quotes the value, a database
error carries the SQL statement and its parameters: a member id, the whole request). Every
response carries its request's id in `X-Request-ID`, so a client's report finds the log line.

`configure` also makes any traceback that reaches a handler (ours or uvicorn's) print as the
exception's class and frames only: a `log.exception` added later cannot leak a message."""

from __future__ import annotations

import logging
import secrets
import sys
import time
import traceback
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from priorauth.service.problems import problem_for

access_log = logging.getLogger("priorauth.access")
error_log = logging.getLogger("priorauth.service")


REQUEST_ID = "X-Request-ID"


def route_of(scope: Scope) -> str:
    """The route template of the request (the mount's prefix included), never its path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not path:
        return "(no route)"
    return str(scope.get("root_path", "") or "") + str(path)


def request_id(scope: Scope) -> str:
    state = scope.get("state") or {}
    return str(state.get("request_id", "-"))


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


def log_failure(
    scope: Scope, exc: BaseException, logger: logging.Logger | None = None, what: str = "failed"
) -> None:
    """The one error line of an unexpected failure: method, route template, request id,
    exception class and where; never the message, the path's values or the body."""
    (logger or error_log).error(
        "%s %s %s [request %s]: %s",
        scope.get("method"),
        route_of(scope),
        what,
        request_id(scope),
        failure_line(exc),
    )


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
            log_failure(scope, exc)
            if not started:
                response = problem_for(
                    scope, 500, "Internal error", "the service failed on this request; it is logged"
                )
                await response(scope, receive, send)


class AccessLog:
    """Gives each request its id (`X-Request-ID` on the response, and in every line logged about
    it); one line per request: method, route template, status, milliseconds, who (the key's
    name, once authenticated), the request's id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = rid
        header = (REQUEST_ID.lower().encode(), rid.encode())
        if not access_log.isEnabledFor(logging.INFO):

            async def with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", ()), header]
                await send(message)

            await self.app(scope, receive, with_id)
            return
        began = time.perf_counter()
        status = 0

        async def tracked(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        finally:
            who = getattr(scope.get("state", {}).get("principal"), "name", "-")
            ms = (time.perf_counter() - began) * 1000
            access_log.info(
                '%s %s %s %.1fms "%s" [request %s]',
                scope.get("method"),
                route_of(scope),
                status,
                ms,
                who,
                rid,
            )


class NoMessages(logging.Filter):
    """A record's traceback as its exception's class and frames only (`failure_line`), for
    handlers this module does not write the lines of (uvicorn's, a library's `log.exception`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()}: {failure_line(record.exc_info[1])}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def configure(access: bool) -> None:
    """Service logs to stderr (what `priorauth serve` runs); access lines when asked; every
    traceback, ours and the server's, without its message."""
    logger = logging.getLogger("priorauth")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.INFO)
    access_log.setLevel(logging.INFO if access else logging.WARNING)
    # uvicorn's own access line carries the path and the query string: ours stands for it.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    for name in ("priorauth", "uvicorn", "uvicorn.error", "uvicorn.access", ""):
        for each in logging.getLogger(name).handlers:
            if not any(isinstance(f, NoMessages) for f in each.filters):
                each.addFilter(NoMessages())
