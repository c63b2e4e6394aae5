"""The /ui application: templates, static files, sign-in sessions, CSRF, error pages."""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from priorauth.service.auth import Principal
from priorauth.service.errors import ServiceError
from priorauth.service.inbound import check_text
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
    access_log.info("%s %s %s (%s)", request.method, request.url.path, who.name, who.role)
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


def create_web_app(service: Service) -> FastAPI:
    web = FastAPI(title="priorauth workbench", docs_url=None, redoc_url=None, openapi_url=None)
    web.state.service = service
    web.state.limits = service.settings.limits
    from priorauth.web.signin import Throttle

    web.state.throttle = Throttle()
    web.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @web.exception_handler(SignInNeeded)
    async def _sign_in(request: Request, _: SignInNeeded) -> Response:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        if request.method != "GET":
            target = "/ui/"
        return redirect(f"/ui/login?next={quote(target, safe='')}")

    @web.exception_handler(BadForm)
    async def _bad_form(request: Request, _: BadForm) -> Response:
        return page(
            request,
            "error.html",
            {
                "title": "This form has expired",
                "detail": "The form was not sent from this session's page (or the session "
                "changed). Go back, reload the page and send it again.",
            },
            status=403,
        )

    @web.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> Response:
        return page(request, "error.html", {"title": exc.title, "detail": exc.detail}, exc.status)

    @web.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        title = "Page not found" if exc.status_code == 404 else str(exc.detail)
        detail = "There is no such page." if exc.status_code == 404 else str(exc.detail)
        return page(request, "error.html", {"title": title, "detail": detail}, exc.status_code)

    @web.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
        detail = f"{where}: {err.get('msg', 'invalid')}"
        return page(request, "error.html", {"title": "Bad address", "detail": detail}, 422)

    @web.exception_handler(Exception)
    async def _unexpected(request: Request, _: Exception) -> Response:
        logging.getLogger("priorauth.web").exception("unexpected error")
        return page(
            request,
            "error.html",
            {"title": "Something failed", "detail": "The page failed; the error is logged."},
            500,
        )

    from priorauth.web import cases, letters, metrics, policies, signin, submit

    for module in (signin, cases, submit, policies, metrics, letters):
        web.include_router(module.router)
    return web


def mount(app: FastAPI, service: Service) -> None:
    """The workbench under /ui, the letter in the JSON API, and / leading to the workbench."""
    from priorauth.web.letters import api_router

    app.mount("/ui", create_web_app(service))
    app.include_router(api_router)

    @app.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)


__all__ = ["mount", "page", "posted", "redirect", "run_in_threadpool", "visitor"]
