"""What the service lets in: body size, JSON shape and one rule for every piece of text.

One place for every router (JSON API, FHIR, web UI):

- `BodySizeLimit` (ASGI middleware, the whole app): a body larger than `Limits.max_body_bytes`
  is refused with 413 before it is read into memory.
- `json_body` (a FastAPI dependency): the body must be JSON (`application/json` or any
  `application/*+json`, or no Content-Type at all; else 415); it is parsed once with duplicate
  keys refused, and every array, object and string in it is held to the limits and to the text
  rule. A router whose bodies are
  JSON adds `dependencies=[Depends(json_body)]`; the parsed value is then `request.state.json`.
- `check_text` (a function): the text rule, for values that come another way (form fields,
  query parameters).

The text rule: valid Unicode (no unpaired UTF-16 surrogate, which JSON's `\\udfff` escapes can
carry and no database or encoder can store), no control characters but tab, line feed and
carriage return (a NUL is refused by PostgreSQL, kept by SQLite: both must answer the same), and
no longer than `Limits.max_text_chars`. Text is refused, never silently changed: it may be
clinical."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from priorauth.service.errors import BAD_CHAR as _BAD_CHAR
from priorauth.service.errors import Invalid, TooLarge, UnsupportedMediaType, printable


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1_000_000
    max_array_items: int = 200
    max_object_keys: int = 200
    max_text_chars: int = 10_000
    max_depth: int = 20


def _describe(ch: str) -> str:
    if "\ud800" <= ch <= "\udfff":
        return f"an unpaired UTF-16 surrogate (U+{ord(ch):04X}), which is not valid Unicode"
    return f"a control character (U+{ord(ch):04X})"


def check_text(value: str, field: str, limits: Limits | None = None) -> str:
    """The text rule (see the module's doc); returns the value, or raises Invalid naming the
    field."""
    limits = limits or Limits()
    bad = _BAD_CHAR.search(value)
    if bad:
        raise Invalid(f"{field}: contains {_describe(bad.group())}", field)
    if len(value) > limits.max_text_chars:
        raise Invalid(f"{field}: longer than {limits.max_text_chars} characters", field)
    return value


def _join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def check_json(value: Any, limits: Limits, field: str = "", depth: int = 0) -> None:
    """Every string (keys too), array and object of a parsed JSON value, against the limits
    and the text rule; raises Invalid naming the first offending field."""
    if isinstance(value, str):
        check_text(value, field or "body", limits)
    elif isinstance(value, dict):
        if depth >= limits.max_depth:
            raise Invalid(f"{field or 'body'}: nested deeper than {limits.max_depth}", field)
        if len(value) > limits.max_object_keys:
            raise Invalid(
                f"{field or 'body'}: more than {limits.max_object_keys} members", field or "body"
            )
        for key, item in value.items():
            bad = _BAD_CHAR.search(key)
            if bad:
                where = field or "body"
                raise Invalid(f"{where}: a key contains {_describe(bad.group())}", where)
            if len(key) > limits.max_text_chars:
                raise Invalid(f"{field or 'body'}: a key is too long", field or "body")
            check_json(item, limits, _join(field, key), depth + 1)
    elif isinstance(value, list):
        if depth >= limits.max_depth:
            raise Invalid(f"{field or 'body'}: nested deeper than {limits.max_depth}", field)
        if len(value) > limits.max_array_items:
            raise Invalid(
                f"{field or 'body'}: more than {limits.max_array_items} items", field or "body"
            )
        for i, item in enumerate(value):
            check_json(item, limits, f"{field}[{i}]", depth + 1)


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: bytes, limits: Limits) -> Any:
    """JSON text to a value, with duplicate keys, NaN and Infinity refused, then checked."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(f"request: not UTF-8 (byte {exc.start})", "request") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_constant)
    except _Duplicate as exc:
        key = printable(str(exc))
        raise Invalid(f"request: the key {key!r} appears twice in one object", key) from None
    except RecursionError:
        raise Invalid(f"request: nested deeper than {limits.max_depth}", "request") from None
    except ValueError as exc:
        raise Invalid(f"request: not valid JSON ({printable(str(exc))})", "request") from None
    check_json(value, limits)
    return value


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


_QUERY_NAMES: dict[int, frozenset[str]] = {}


def _query_names(route: Any) -> frozenset[str]:
    names = _QUERY_NAMES.get(id(route))
    if names is None:
        found: set[str] = set()
        todo = [route.dependant]
        while todo:  # the route's own parameters and its dependencies'
            dependant = todo.pop()
            found.update(p.alias for p in dependant.query_params)
            todo.extend(dependant.dependencies)
        names = frozenset(found)
        _QUERY_NAMES[id(route)] = names
    return names


async def known_query(request: Request) -> None:
    """The dependency that refuses a query parameter the call does not take, or one given twice:
    a misspelt filter (`?stauts=pended`) would otherwise be ignored and the answer look like a
    match, and of two values one would be silently dropped. Values are held to the text rule."""
    route = request.scope.get("route")
    if route is None or not hasattr(route, "dependant") or not request.query_params:
        return
    allowed = _query_names(route)
    given = request.query_params.multi_items()
    for name, value in given:
        check_text(value, printable(name) or "query", limits_of(request))
    for name in request.query_params:
        if sum(1 for k, _ in given if k == name) > 1:  # none of ours takes a list
            shown = printable(name)
            raise Invalid(f"{shown}: given more than once", shown)
        if name not in allowed:
            shown = printable(name) or "(empty)"
            expected = ", ".join(sorted(allowed)) or "none"
            raise Invalid(
                f"{shown}: not a query parameter of this call (it takes: {expected})", shown
            )


def limits_of(request: Request) -> Limits:
    limits: Limits = getattr(request.app.state, "limits", None) or Limits()
    return limits


async def json_body(request: Request) -> Any:
    """The dependency for routers whose bodies are JSON: 415 for another media type; the
    parsed, checked body in `request.state.json` (None when there is no body)."""
    if request.method in ("GET", "HEAD", "DELETE", "OPTIONS"):
        return None
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    # No Content-Type at all is taken as JSON (what FastAPI does); another type is refused.
    if content_type and not is_json(content_type):
        shown = printable(content_type.split(";", 1)[0].strip()) or "none"
        raise UnsupportedMediaType(
            f"Content-Type: {shown}; send the body as application/json", "Content-Type"
        )
    if not raw.strip():
        request.state.json = None
        return None
    value = parse_json(raw, limits_of(request))
    request.state.json = value
    return value


class BodySizeLimit:
    """413 for a body larger than the limit, before the application sees it: at once when
    Content-Length says so; a body sent without one (chunked) is read up to the limit, and
    refused as soon as it passes it, so nothing larger is ever held in memory.
    Plain ASGI: Starlette's BaseHTTPMiddleware would cost every request a task group."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max = max_body_bytes

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, size: str) -> None:
        from priorauth.service.problems import problem_for

        detail = f"body: {size}; the limit is {self.max} bytes"
        await problem_for(scope, 413, TooLarge.title, detail, "body")(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = None
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                length = value
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared > self.max:
                await self._refuse(scope, receive, send, f"{declared} bytes")
                return
            await self.app(scope, receive, send)
            return
        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max:
                await self._refuse(scope, receive, send, f"more than {self.max} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
