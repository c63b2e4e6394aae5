"""The /ui application: the workbench's pages, static files, sign-in, error pages; and its
mount on the service's application (with the decision letters of the JSON API)."""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from priorauth.service.errors import ServiceError
from priorauth.service.workflow import Service
from priorauth.web import cases, goldcards, letters, metrics, policies, signin, submit
from priorauth.web.common import (
    HERE,
    SECURITY_HEADERS,
    BadForm,
    SignInNeeded,
    page,
    redirect,
    templates,
)


def create_web_app(service: Service) -> FastAPI:
    web = FastAPI(title="priorauth workbench", docs_url=None, redoc_url=None, openapi_url=None)
    web.state.service = service
    web.state.limits = service.settings.limits
    web.state.throttle = signin.Throttle()
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
        # Logged once, without its message, by the service's catch-all (service/logs.py), to
        # which Starlette raises it again once this page is sent.
        return page(
            request,
            "error.html",
            {"title": "Something failed", "detail": "The page failed; the error is logged."},
            500,
        )

    for module in (signin, cases, submit, policies, metrics, goldcards, letters):
        web.include_router(module.router)
    return web


def refusal_page(status: int, detail: str) -> HTMLResponse:
    """The page of a refusal made before any workbench page runs (a body over the limit, a NUL
    in the URL): no request to render with, no one signed in."""
    html = templates.get_template("error.html").render(
        title=HTTPStatus(status).phrase, detail=detail, who=None, csrf=""
    )
    return HTMLResponse(html, status, headers=SECURITY_HEADERS)


def mount(app: FastAPI, service: Service) -> None:
    """The workbench under /ui, the letter in the JSON API, and / leading to the workbench."""
    app.mount("/ui", create_web_app(service))
    app.state.error_renderers = {**getattr(app.state, "error_renderers", {}), "/ui": refusal_page}
    app.include_router(letters.api_router)

    @app.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)


__all__ = ["create_web_app", "mount"]
