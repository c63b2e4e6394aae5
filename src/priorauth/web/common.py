"""What every workbench page shares: templates, sign-in sessions, CSRF, forms, the page and
its security headers."""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from priorauth.service.auth import Principal
from priorauth.service.inbound import check_text
from priorauth.service.logs import route_of
from priorauth.service.users import SESSION_HOURS, session_principal
from priorauth.service.workflow import Service

HERE = Path(__file__).parent
COOKIE = "priorauth_session"
LOGIN_CSRF_COOKIE = "priorauth_signin"
templates = Jinja2Templates(directory=str(HERE / "templates"))
# 120.0 from JSON reads as 120: numbers in the pages and letters as people write them.
templates.env.filters["num"] = lambda v: f"{v:g}" if isinstance(v, int | float) else v


def shown(value: Any) -> str:
    """A policy value as a person reads it: a limit by its wording, lists joined, no braces."""
    if value is None:
        return "none"
    if isinstance(value, dict):
        if value.get("text"):
            return str(value["text"])
        return "; ".join(f"{k.replace('_', ' ')}: {shown(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(shown(v) for v in value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


templates.env.filters["shown"] = shown
access_log = logging.getLogger("priorauth.web.access")
SECURITY_HEADERS = {
    "Cache-Control": "no-store",  # patient data stays out of shared caches
    # No script at all, no framing (clickjacking), nothing from other sites. Inline styles
    # are allowed for the checklist's indentation and the charts.
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class SignInNeeded(Exception):
    """No live session: the page answers with the sign-in form."""


class BadForm(Exception):
    """A form without the right CSRF token: not sent from our own page."""


@dataclass(frozen=True)
class Visitor:
    who: Principal
    csrf: str


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def real_now() -> dt.datetime:
    # Sessions expire on the wall clock, whatever clock the workflow runs on.
    return dt.datetime.now(dt.UTC)


def visitor(request: Request) -> Visitor:
    """Who is signed in (looked up again on every page), or SignInNeeded."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInNeeded
    with service_of(request).db.reading() as s:
        found = session_principal(s, token, real_now())
    if found is None:
        raise SignInNeeded
    who, csrf = found
    access_log.info("%s %s %s (%s)", request.method, route_of(request.scope), who.name, who.role)
    return Visitor(who, csrf)


async def posted(request: Request, csrf: str) -> dict[str, Any]:
    """The form's fields (lists where a name repeats), after checking its CSRF token."""
    form = await request.form()
    sent = str(form.get("csrf", ""))
    if not sent or not hmac.compare_digest(sent.encode(), csrf.encode()):
        raise BadForm
    # The service's one text rule and limits, as for a JSON body (service/inbound.py).
    limits = request.app.state.limits
    out: dict[str, Any] = {}
    for key in form:
        values = [check_text(str(v), key, limits) for v in form.getlist(key)]
        out[key] = values if len(values) > 1 else values[0]
    return out


def values_of(form: dict[str, Any], key: str) -> list[str]:
    v = form.get(key, [])
    return v if isinstance(v, list) else [v]


def page(
    request: Request,
    template: str,
    context: dict[str, Any],
    status: int = 200,
    v: Visitor | None = None,
) -> HTMLResponse:
    ctx = {"who": v.who if v else None, "csrf": v.csrf if v else "", **context}
    response = templates.TemplateResponse(request, template, ctx, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
        max_age=SESSION_HOURS * 3600,
    )


def login_csrf(request: Request) -> str:
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
