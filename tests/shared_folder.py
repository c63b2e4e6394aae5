"""The shared folder beside the repository (``../shared``: the founding policy document, other
plans' documents, Da Vinci example payloads), which only the project's own machines have.

A clone on its own must still pass ``make test``: a test that reads a file from there asks for it
through ``shared()``, which skips the test (or, called at module level, the module) and names
what is missing, rather than failing or breaking collection.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

# The founding policy document, as text.
SEED_DOC = "seed/000_24fb1b736f1c81db.txt"


def shared(relative: str) -> Path:
    """``../shared/<relative>``, or the test skipped when its part of the shared folder (``seed``,
    ``policies``, ``research``...) is not there. A file missing from a folder that is there is
    not skipped: the test fails on it, as it should."""
    part = SHARED / Path(relative).parts[0]
    if not part.is_dir():
        pytest.skip(
            f"needs ../shared/{relative}, and there is no {part} beside this clone",
            allow_module_level=True,
        )
    return SHARED / relative
