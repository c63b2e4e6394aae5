"""Fixtures for the workbench tests: the application on a fresh SQLite database, a test client
signed in as a given demo key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from web_support import FakeClock, make_app, sign_in


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(tmp_path: Path, clock: FakeClock) -> Iterator[FastAPI]:
    application = make_app(f"sqlite:///{tmp_path}/pa.db", clock)
    yield application
    application.state.service.db.engine.dispose()


@pytest.fixture
def client_for(app: FastAPI) -> Iterator[Callable[[str | None], TestClient]]:
    """A new test client (its own cookies), signed in with the given demo key (or not)."""
    clients: list[TestClient] = []

    def make(key: str | None = None, base_url: str = "http://testserver") -> TestClient:
        c = TestClient(app, follow_redirects=False, base_url=base_url)
        c.__enter__()
        clients.append(c)
        if key:
            sign_in(c, key)
        return c

    yield make  # type: ignore[misc]
    for c in clients:
        c.__exit__(None, None, None)
