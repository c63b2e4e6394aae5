"""The readers of criterion wording on table cases (``tests/wording/*.yaml``): each wording
becomes exactly the condition written beside it, or stays a question (``condition: null``) when
something in it is more than the condition can hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from priorauth.importer.mapping import Context, map_criterion
from priorauth.policy.model import Criterion
from priorauth.policy.tables import load_knowledge

FILES = sorted((Path(__file__).parent / "wording").glob("*.yaml"))
CASES = [
    (yaml.safe_load(f.read_text(encoding="utf-8")), case)
    for f in FILES
    for case in yaml.safe_load(f.read_text(encoding="utf-8"))["cases"]
]


@pytest.mark.parametrize(("table", "case"), CASES, ids=[c["text"][:60] for _, c in CASES])
def test_wording_becomes_its_condition(table: dict[str, Any], case: dict[str, Any]) -> None:
    ctx = Context(load_knowledge(), frozenset(table.get("own", [])))
    got = map_criterion(case["text"], ctx).condition
    want = case["condition"]
    if want is None:
        assert got is None, got
        return
    assert got is not None
    # defaults the policy model fills in are not written in the table
    node = Criterion(id="c", text=case["text"], condition=got)
    full = Criterion(id="c", text=case["text"], condition=want)
    assert node == full, (got, want)
