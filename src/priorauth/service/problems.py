"""RFC 9457 problem documents, and a JSON response that cannot fail to encode."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from fastapi.responses import JSONResponse
from starlette.responses import Response
from starlette.types import Scope

from priorauth.service.errors import printable

PROBLEM = "application/problem+json"


class SafeJSONResponse(JSONResponse):
    """JSON as Starlette writes it; text that UTF-8 cannot carry (an unpaired surrogate stored
    before the text rule existed) is written as a JSON escape instead of failing the request."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode()


def problem(
    status: int,
    title: str,
    detail: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> SafeJSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    body["detail"] = detail
    if field:
        body["field"] = field
    body.update(extra)
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="priorauth"'
    return SafeJSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers or None)


DATE_TYPES = (
    "date_type",
    "date_parsing",
    "date_from_datetime_parsing",
    "date_from_datetime_inexact",
)


def field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return printable(out) or "body"


def validation_errors(errors: list[Any]) -> list[dict[str, str]]:
    """Pydantic's errors as {"field", "detail"}, in the service's words."""
    out = []
    for err in errors:
        field = field_name(tuple(err.get("loc", ())))
        kind = err.get("type", "")
        msg = "unknown field" if kind == "extra_forbidden" else str(err.get("msg", "invalid"))
        msg = printable(msg.removeprefix("Value error, "))
        if kind in DATE_TYPES:
            msg += " (expected a date as YYYY-MM-DD)"
        if field == "body" and ": " in msg:  # a model-level rule naming its own field
            field, msg = msg.split(": ", 1)
        out.append({"field": field, "detail": f"{field}: {msg}"})
    return out


def invalid_response(errors: list[dict[str, str]]) -> JSONResponse:
    """422 naming the first field in `field` and `detail`, and every problem in `errors`."""
    first = errors[0]
    detail = first["detail"]
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more in errors)"
    return problem(422, "Unprocessable request", detail, first["field"], errors=errors)


# An adapter whose clients expect another error format (the FHIR API: OperationOutcome) registers
# a renderer for its path prefix in `app.state.error_renderers`; the middleware that refuses a
# request before any route runs (body size, NUL in the URL, an unexpected failure) answers in it.
ErrorRenderer = Callable[[int, str], Response]


def problem_for(
    scope: Scope, status: int, title: str, detail: str, field: str | None = None
) -> Response:
    """The error document for this request: the adapter's format for its paths, else RFC 9457."""
    state = getattr(scope.get("app"), "state", None)
    renderers: dict[str, ErrorRenderer] = getattr(state, "error_renderers", None) or {}
    path = scope.get("path", "")
    for prefix, render in renderers.items():
        if path == prefix or path.startswith(prefix + "/"):
            return render(status, detail)
    return problem(status, title, detail, field)
