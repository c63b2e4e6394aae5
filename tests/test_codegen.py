"""codegen.bound_source: what a generated function reads becomes a default argument, and the
function decides as before."""

from __future__ import annotations

from typing import Any

import pytest

from priorauth.engine.codegen import bound_source

SOURCE = """def decide(r):
    if len(r) > LIMIT:
        return table.get(r, 'long')
    return table.get(r, 'short')
"""


def test_globals_and_builtins_read_become_defaults() -> None:
    env: dict[str, Any] = {"LIMIT": 2, "table": {"ab": "known"}}
    source = bound_source(SOURCE, env, "decide", "<test>")
    assert source.splitlines()[0] == "def decide(r, len=len, LIMIT=LIMIT, table=table):"
    exec(compile(source, "<test>", "exec"), env)
    assert [env["decide"](x) for x in ("ab", "abc", "x")] == ["known", "long", "short"]
    assert env["decide"].__code__.co_names.count("LIMIT") == 0  # read as a local


def test_a_function_reading_no_global_is_left_as_it_is() -> None:
    source = "def decide(r):\n    return r\n"
    assert bound_source(source, {}, "decide", "<test>") == source


@pytest.mark.parametrize(
    "source",
    [
        "def decide(r) -> int:\n    return LIMIT\n",  # an annotation on the header
        "# def decide(x):\ndef decide(\n    r,\n):\n    return LIMIT\n",  # a header on lines
    ],
)
def test_a_header_it_cannot_rewrite_is_refused(source: str) -> None:
    with pytest.raises(ValueError, match="header"):
        bound_source(source, {"LIMIT": 1}, "decide", "<test>")
