"""The methods a path takes, as HTTP states them: `OPTIONS` answers 204 with every method of the
path in `Allow`, and a 405 lists them all too.

Starlette answers a method a path does not take with the `Allow` of the first route it matched
(`OPTIONS /cases` said `Allow: POST`, although `GET /cases` lists the cases): a client, or the
OpenAPI document's reader, was told the path takes less than it does. The methods come from the
application's routes themselves, mounted applications (the workbench) included, so a route added
later is listed with nothing to do. Plain ASGI: Starlette's BaseHTTPMiddleware would cost every
request a task group."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

try:  # FastAPI 0.165 keeps an included router as one entry of app.routes
    from fastapi.routing import iter_route_contexts
except ImportError:  # earlier versions list every route flat

    def iter_route_contexts(routes: Iterable[Any]) -> Iterator[Any]:  # type: ignore[misc]
        yield from routes


def routes_of(routes: Iterable[BaseRoute]) -> Iterator[Any]:
    """Every route, with its full path (`.path`), `.methods` and `.matches(scope)`, included
    routers' routes among them; a mounted application stays one entry (its `.routes`)."""
    yield from iter_route_contexts(list(routes))


def methods_of(routes: Iterable[BaseRoute], scope: Scope) -> set[str]:
    """Every method the routes (and the routes of mounted applications) take on the scope's
    path."""
    found: set[str] = set()
    for route in routes_of(routes):
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        if isinstance(getattr(route, "original_route", route), Mount):
            found |= methods_of(route.routes, {**scope, **child})
        else:
            found |= set(getattr(route, "methods", None) or ())
    return found


def allow_header(methods: set[str]) -> bytes:
    return ", ".join(sorted(methods | {"OPTIONS"})).encode()


class AllowedMethods:
    """204 with `Allow` for `OPTIONS` on a path some route takes (a path none takes goes on to
    its 404); the full `Allow` on any 405."""

    def __init__(self, app: ASGIApp, router: Any) -> None:
        self.app = app
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The routers write into the scope as they match (a mount's root_path): match on the
        # request as it came.
        asked = {k: scope.get(k, "") for k in ("type", "path", "root_path", "method")}
        if scope.get("method") == "OPTIONS":
            methods = methods_of(self.router.routes, asked)
            if methods and "OPTIONS" not in methods:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 204,
                        "headers": [(b"allow", allow_header(methods))],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return

        async def full_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                methods = methods_of(self.router.routes, asked)
                if methods:
                    headers = [(k, v) for k, v in message.get("headers", ()) if k != b"allow"]
                    message["headers"] = [*headers, (b"allow", allow_header(methods))]
            await send(message)

        await self.app(scope, receive, full_allow)
