"""What the workbench tests share: a clock under the test's control, the service in a real
HTTP server (uvicorn in a thread, one per test module), sign-in for the test client, and the
text of a PDF."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import live_server
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pypdf import PdfReader

from priorauth.server import create_app
from priorauth.service.config import Settings

ROOT = Path(__file__).resolve().parents[2]
START = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


class FakeClock:
    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            return self.now

    def advance(self, **delta: float) -> None:
        with self._lock:
            self.now += dt.timedelta(**delta)


def make_app(db_url: str, clock: FakeClock) -> FastAPI:
    return create_app(Settings(database_url=db_url, demo_keys=True), clock=clock)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(client: TestClient, key: str) -> None:
    r = client.get("/ui/login")
    r = client.post("/ui/login", data={"csrf": csrf_of(r.text), "key": key, "next": "/ui/"})
    assert r.status_code == 303, r.text


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    return re.sub(r"\s+", " ", text)


@contextlib.contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """The app on a real HTTP server on loopback; its base URL while the block runs."""
    with live_server.serve(app, log_level="warning") as port:
        yield f"http://127.0.0.1:{port}"


def form_data(page_html: str, **fields: Any) -> dict[str, Any]:
    return {"csrf": csrf_of(page_html), **fields}
