"""Importing the founding document gives a policy that decides exactly as the hand-curated one:
a differential test over generated requests, every field of the determination compared."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shared_folder import SEED_DOC, shared
from test_properties import full_request, removable_parts

from priorauth import Engine, RequestError, load_policy
from priorauth.importer import import_document

ROOT = Path(__file__).resolve().parents[1]
SEED = shared(SEED_DOC)
CURATED = ROOT / "src/priorauth/policy/builtin/5.21.177-lumakras-2026-04-01.yaml"

CURATED_ENGINE = Engine(policies=[load_policy(CURATED)])
IMPORTED_ENGINE = Engine(policies=[import_document(SEED).policy])


def _comparable(det: Any) -> dict[str, Any]:
    d = det.model_dump(mode="json")
    d["reasons"] = sorted(d["reasons"], key=lambda r: r["id"])
    return d


def _drop(request: dict[str, Any], path: tuple[Any, ...]) -> None:
    node: Any = request
    for key in path[:-1]:
        try:
            node = node[key]
        except (KeyError, IndexError):
            return  # already removed with its parent
    if isinstance(node, dict):
        node.pop(path[-1], None)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=full_request(), data=st.data())
def test_imported_seed_decides_like_the_curated_policy(
    request: dict[str, Any], data: st.DataObject
) -> None:
    parts = removable_parts(request)
    for part in data.draw(st.lists(st.sampled_from(parts), max_size=3, unique_by=str)):
        for path in part:
            _drop(request, path)
    try:
        want = _comparable(CURATED_ENGINE.evaluate(copy.deepcopy(request)))
    except RequestError as exc:
        with pytest.raises(RequestError) as got:
            IMPORTED_ENGINE.evaluate(request)
        assert str(got.value) == str(exc)
        return
    assert _comparable(IMPORTED_ENGINE.evaluate(request)) == want


def test_imported_seed_equals_the_curated_policy_file() -> None:
    imported = import_document(SEED).policy.model_dump(mode="json", exclude={"curation_notes"})
    curated = load_policy(CURATED).model_dump(mode="json", exclude={"curation_notes"})

    def strip_sources(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip_sources(v) for k, v in node.items() if k != "source"}
        if isinstance(node, list):
            return [strip_sources(v) for v in node]
        return node

    assert strip_sources(imported) == strip_sources(curated)
