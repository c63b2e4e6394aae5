"""The compiled path decides exactly as the explaining path, and the fast validator accepts and
refuses exactly as pydantic, with the same words.

The generator is bench/differential.py's (``make differential`` runs it on a million seeded
requests); here hypothesis drives it, and every table case and example is compared as well.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import sys
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import differential
from test_policy_cases import CASES, EXAMPLES_DIR

from priorauth import Engine
from priorauth.errors import PriorAuthError, RequestError
from priorauth.policy.model import Criterion
from priorauth.request import FastRequest, Request, parse_request, read_request

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def engines() -> tuple[Any, Any]:
    return differential._engines_once()


@SETTINGS
@given(st.randoms(use_true_random=False), st.booleans())
def test_compiled_decides_as_the_explaining_path(rng: random.Random, as_json: bool) -> None:
    fast, slow = engines()
    request = differential.make_request(rng, bad=0.2)
    assert differential.compare(fast, slow, request, as_json) is None


@pytest.mark.parametrize(("request_dict", "expect"), CASES)
def test_every_table_case_agrees(request_dict: dict[str, Any], expect: dict[str, Any]) -> None:
    fast, slow = engines()
    assert differential.compare(fast, slow, request_dict, as_json=False) is None
    assert differential.compare(fast, slow, request_dict, as_json=True) is None


def test_every_example_agrees() -> None:
    fast, slow = engines()
    for path in sorted(EXAMPLES_DIR.glob("*-*.json")):
        request = orjson.loads(path.read_bytes())
        assert differential.compare(fast, slow, request, as_json=False) is None, path.name


def test_the_differential_catches_a_wrong_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    """A compiled path that decides differently is reported (the comparison can fail)."""
    fast, slow = engines()
    request = orjson.loads((EXAMPLES_DIR / "nsclc-initial-approve.json").read_bytes())
    version = fast._version(parse_request(request))
    monkeypatch.setattr(version, "fast_initial", version.fast_renewal)
    assert differential.compare(fast, slow, request, as_json=False) is not None


def test_criteria_nested_deeper_than_python_blocks_are_decided_by_the_explaining_path() -> None:
    """A plan nested 25 groups deep cannot be one generated function (Python nests 20 blocks):
    the engine still builds, and decides exactly as with the shallow plan."""
    shallow = Engine()
    lumakras = next(p for p in shallow.policies if p.drug.brand == "Lumakras")
    node = lumakras.requirements.initial
    for k in range(25):
        node = Criterion(id=f"initial.wrap{k}", text=f"wrapper {k}", all=[node])
    deep_policy = lumakras.model_copy(
        update={"requirements": lumakras.requirements.model_copy(update={"initial": node})}
    )
    deep = Engine(policies=[deep_policy])
    decider = deep.decider(deep_policy, "initial")
    assert decider.decide_fast == decider.decide_explaining

    def outcome(engine: Engine, request: dict[str, Any]) -> Any:
        try:
            d = engine.evaluate(request)
        except PriorAuthError as exc:
            return str(exc)
        return (d.decision, d.denial_basis, d.authorization, [q.id for q in d.missing])

    checked = 0
    for case in CASES:
        request = case.values[0]
        medication = request.get("medication") or {}
        if medication.get("name") != "Lumakras" or request.get("kind") != "initial":
            continue
        assert outcome(shallow, request) == outcome(deep, request), case.id
        checked += 1
    assert checked >= 10


# ------------------------------------------------------------------ the validator alone


def _plain(value: Any) -> Any:
    """Both models as plain data, for comparison (the Structs' tuples are the models' lists)."""
    if isinstance(value, Request):
        return _plain(value.model_dump())
    if isinstance(value, msgspec.Struct):
        return _plain(msgspec.structs.asdict(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _outcome(fn: Any, data: Any) -> Any:
    try:
        return _plain(fn(data))
    except RequestError as exc:
        return str(exc)


@SETTINGS
@given(st.randoms(use_true_random=False), st.booleans())
def test_fast_validator_accepts_and_refuses_as_pydantic(rng: random.Random, as_json: bool) -> None:
    request = differential.make_request(rng, bad=0.5)
    data: Any = orjson.dumps(request) if as_json else request
    assert _outcome(read_request, data) == _outcome(parse_request, data)


WRONG: list[tuple[str, Any]] = [
    ("kind", 1),
    ("urgency", "urgent"),
    ("date_of_service", "2026-13-01"),
    ("date_of_service", "2026-05-04T00:00:00"),
    ("member", {"id": "", "birth_date": "1960-01-01"}),
    ("member", {"id": "M1", "birth_date": "1960-01-01", "x": 1}),
    ("prescriber", {"npi": "123456789 "}),
    ("diagnoses", [{"code": "C34.90", "extent": "spread"}]),
    ("diagnoses", [{"code": "  c3490  "}]),
    ("diagnoses", {"code": "C34.90"}),
    ("biomarkers", [{"gene": "KRAS", "result": "detected"}]),
    ("biomarkers", [{"gene": "KRAS", "result": "positive", "fda_approved": 1}]),
    ("prior_therapies", [{"drug": ""}]),
    ("prior_therapies", [{"drug": "x", "months": "3"}]),
    ("attestations", {"liver_function_monitoring": None}),
    ("disease_status", {"progression": "no"}),
    ("answers", {"initial.age": 1}),
    ("medication", {"name": "Lumakras", "strength_mg": 120, "quantity": 1e7, "days_supply": 30}),
    ("medication", {"name": "Lumakras", "strength_mg": 120, "quantity": 240, "days_supply": 367}),
]


@pytest.mark.parametrize(("field", "value"), WRONG)
def test_wrong_fields_are_worded_as_before(field: str, value: Any) -> None:
    request = orjson.loads((EXAMPLES_DIR / "nsclc-initial-approve.json").read_bytes())
    request[field] = value
    for data in (request, orjson.dumps(request)):
        assert _outcome(read_request, data) == _outcome(parse_request, data)


def test_fast_validator_gives_structs_and_pydantic_words_the_error() -> None:
    request = orjson.loads((EXAMPLES_DIR / "nsclc-initial-approve.json").read_bytes())
    assert isinstance(read_request(request), FastRequest)
    assert isinstance(read_request(orjson.dumps(request)), FastRequest)
    request["medication"]["quantity"] = "240"
    with pytest.raises(RequestError) as caught:
        read_request(request)
    assert caught.value.field == "medication.quantity"
    assert read_request(
        parse_request(
            orjson.dumps(
                request
                | {
                    "medication": {
                        "name": "Lumakras",
                        "strength_mg": 120,
                        "quantity": 240,
                        "days_supply": 30,
                    }
                }
            )
        )
    )


def test_spaces_around_a_code_are_accepted_as_before() -> None:
    request = orjson.loads((EXAMPLES_DIR / "nsclc-initial-approve.json").read_bytes())
    request["diagnoses"][0]["code"] = " C34.90 "
    got = read_request(request)
    assert got.diagnoses is not None and got.diagnoses[0].code == "C34.90"
    assert got.date_of_service == dt.date.fromisoformat(request["date_of_service"])


# ------------------------------------------------------------------ the fast path's edges


def _example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads((EXAMPLES_DIR / name).read_bytes())
    return loaded


def test_a_struct_built_by_hand_with_lists_is_decided_as_a_validated_one() -> None:
    """Lists where the validator gives tuples cannot key a memo: decided all the same."""
    validated = read_request(_example("nsclc-initial-approve.json"))
    assert isinstance(validated, FastRequest) and validated.diagnoses is not None
    by_hand = msgspec.structs.replace(validated, diagnoses=list(validated.diagnoses))
    got, want = Engine().evaluate_model(by_hand), Engine().evaluate_model(validated)
    assert (got.decision, got.authorization) == (want.decision, want.authorization)


def test_a_subclass_overriding_evaluate_model_is_called() -> None:
    calls: list[Any] = []

    class Counting(Engine):
        def evaluate_model(self, request: Any) -> Any:
            calls.append(request)
            return super().evaluate_model(request)

    det = Counting().evaluate(_example("nsclc-initial-approve.json"))
    assert det.decision == "approved" and len(calls) == 1


def test_determinations_are_equal_only_to_themselves() -> None:
    engine = Engine()
    request = _example("nsclc-initial-approve.json")
    a, b = engine.evaluate(request), engine.evaluate(request)
    assert a == a and a != b and len({a, b}) == 2
    assert a.authorization == b.authorization  # the grant itself is a value


def test_requests_naming_the_default_plan_and_none_share_one_choice() -> None:
    engine = Engine()
    request = _example("nsclc-initial-approve.json")
    named = engine.evaluate({**request, "plan": engine.default_plan})
    assert engine._default_choosers  # filled by the named request too
    plain = engine.evaluate(request)
    assert (named.decision, named.policy) == (plain.decision, plain.policy)


@pytest.mark.parametrize(
    ("strength", "listed"),
    [
        (120, True),
        (120.0, True),
        (240.0, True),
        (320, True),
        (120.0000001, False),
        (119.9, False),
        (160, False),
        (1e6, False),
    ],
)
def test_only_a_listed_strength_is_decided(strength: float, listed: bool) -> None:
    request = _example("nsclc-initial-approve.json")
    request["medication"] = {**request["medication"], "strength_mg": strength}
    for engine in (Engine(), Engine(compiled=False)):
        for sent in (request, orjson.dumps(request)):
            if listed:
                assert engine.evaluate(sent).decision in {"approved", "partially_approved"}
            else:
                with pytest.raises(RequestError, match="is not a strength of Lumakras"):
                    engine.evaluate(sent)
