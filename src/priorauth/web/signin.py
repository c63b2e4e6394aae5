"""Signing in (an API key, or a username and password), signing out, and the home page."""

from __future__ import annotations

import hmac
import threading
import time
from collections import deque
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from priorauth.service.auth import DEMO_KEYS
from priorauth.service.users import check_password, close_session, key_hash_for, open_session
from priorauth.web.common import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    Visitor,
    login_csrf,
    page,
    posted,
    real_now,
    redirect,
    service_of,
    set_session_cookie,
    visitor,
)

router = APIRouter()
Signed = Annotated[Visitor, Depends(visitor)]
FAILURES_ALLOWED, FAILURE_WINDOW_S = 10, 600


class Throttle:
    """Failed sign-ins per client address, in this process: past the allowance within the
    window, sign-ins from that address are refused until the oldest failure ages out. Slows
    password guessing; Argon2 already makes each guess cost tens of milliseconds."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        seen = self._failures.setdefault(client, deque())
        while seen and seen[0] < now - FAILURE_WINDOW_S:
            seen.popleft()
        return seen

    def wait_s(self, client: str) -> int:
        now = time.monotonic()
        with self._lock:
            seen = self._recent(client, now)
            if len(seen) < FAILURES_ALLOWED:
                return 0
            return int(seen[0] + FAILURE_WINDOW_S - now) + 1

    def failed(self, client: str) -> None:
        with self._lock:
            if len(self._failures) > 10_000:  # bounded memory under a spray of addresses
                self._failures.clear()
            self._recent(client, time.monotonic()).append(time.monotonic())


def _safe_next(target: str | None) -> str:
    # Only our own pages: never an absolute URL another site could use to bounce people on.
    if target and target.startswith("/ui/") and not target.startswith("//"):
        return target
    return "/ui/"


def _login_page(request: Request, next_: str, error: str = "", status: int = 200) -> Response:
    token = login_csrf(request)
    response = page(
        request,
        "login.html",
        {
            "title": "Sign in",
            "next": _safe_next(next_),
            "login_csrf": token,
            "error": error,
            # make run's documented demo keys, shown only while the service creates them
            "demo_keys": DEMO_KEYS if service_of(request).settings.demo_keys else {},
        },
        status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/ui/",
    )
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/ui/") -> Response:
    return _login_page(request, next)


@router.post("/login")
def login(
    request: Request,
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/ui/",
    key: Annotated[str, Form()] = "",
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf.encode(), expected.encode()):
        return _login_page(request, next, "The sign-in form expired; please try again.", 403)
    client = request.client.host if request.client else "?"
    throttle: Throttle = request.app.state.throttle
    wait = throttle.wait_s(client)
    if wait:
        message = f"Too many failed sign-ins from this address: try again in {wait // 60 + 1} min."
        return _login_page(request, next, message, 429)
    service = service_of(request)
    now = real_now()
    with service.db.session() as s:
        if key.strip():
            key_hash = key_hash_for(s, key.strip())
            if key_hash is None:
                throttle.failed(client)
                return _login_page(request, next, "That API key is not known.", 401)
            token, _ = open_session(s, now, key_hash=key_hash)
        elif username.strip():
            user = check_password(s, username, password)
            if user is None:
                throttle.failed(client)
                return _login_page(request, next, "Wrong username or password.", 401)
            token, _ = open_session(s, now, user_id=user.id)
        else:
            return _login_page(request, next, "Give an API key, or a username and password.", 422)
    response = redirect(_safe_next(next))
    set_session_cookie(request, response, token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/ui/")
    return response


@router.post("/logout")
async def logout(request: Request, v: Signed) -> Response:
    await posted(request, v.csrf)
    await run_in_threadpool(_close, request, request.cookies.get(COOKIE, ""))
    response = redirect("/ui/login")
    response.delete_cookie(COOKIE, path="/")
    return response


def _close(request: Request, token: str) -> None:
    with service_of(request).db.session() as s:
        close_session(s, token)


@router.get("/")
def home(v: Signed) -> Response:
    if v.who.role == "reviewer":
        return redirect("/ui/queue")
    return redirect("/ui/cases")
