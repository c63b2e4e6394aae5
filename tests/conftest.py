"""Shared fixtures for the priorauth test suite."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def engine():  # type: ignore[no-untyped-def]
    """One engine with the built-in policies, shared by every test of the session."""
    from priorauth import Engine

    return Engine()
