"""A group whose document does not say ALL or ONE (``ambiguous``): decided only where both
readings agree, pended where they differ, on the compiled and the explaining path alike."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from priorauth import Engine
from priorauth.engine.logic import k_and, k_or, k_unanimous
from priorauth.policy.load import builtin_policies
from priorauth.policy.model import Criterion, Policy

TV = st.sampled_from([True, False, None])


@settings(max_examples=300, deadline=None)
@given(st.lists(TV, min_size=1, max_size=8))
def test_an_ambiguous_group_never_contradicts_either_reading(xs: list[bool | None]) -> None:
    got = k_unanimous(xs)
    as_all, as_one = k_and(xs), k_or(xs)
    if got is not None:
        assert got is as_all and got is as_one  # decided only where both readings agree
    else:
        assert not (as_all is as_one and as_all is not None)  # and pends only where they don't


# A patient of 50: "T" is an item met (age >= 18), "F" one not met (age >= 80), "U" one the
# facts cannot settle (a question), "A"/"N" a question answered yes/no.
_ITEM = st.sampled_from(["T", "F", "U", "A", "N"])


def _policy(items: list[str]) -> tuple[Policy, dict[str, bool]]:
    base = next(p for p in builtin_policies() if p.drug.generic == "sotorasib")
    kids: list[dict[str, Any]] = []
    answers: dict[str, bool] = {}
    for i, item in enumerate(items):
        cid = f"initial.unsure.item_{i}"
        if item in "TF":
            cond: dict[str, Any] = {"type": "age", "min_years": 18 if item == "T" else 80}
        else:
            cond = {"type": "question"}
            if item != "U":
                answers[cid] = item == "A"
        kids.append({"id": cid, "text": f"Item {i}", "condition": cond})
    root = Criterion.model_validate(
        {
            "id": "initial",
            "text": "Initial",
            "all": [
                {
                    "id": "initial.adult",
                    "text": "Age 18 or older",
                    "condition": {"type": "age", "min_years": 18},
                },
                {"id": "initial.unsure", "text": "The items, not said how", "ambiguous": kids},
            ],
        }
    )
    reqs = base.requirements.model_copy(update={"initial": root})
    return base.model_copy(update={"requirements": reqs}), answers


_REQUEST: dict[str, Any] = {
    "kind": "initial",
    "date_of_service": "2026-05-04",
    "member": {"id": "M1", "birth_date": "1976-01-01"},
    "medication": {"name": "Lumakras", "strength_mg": 320, "quantity": 90, "days_supply": 30},
    "diagnoses": [{"code": "C34.90", "extent": "metastatic"}],
}


@settings(max_examples=60, deadline=None)
@given(st.lists(_ITEM, min_size=1, max_size=5), st.booleans())
def test_the_engine_decides_an_ambiguous_group_only_where_both_readings_agree(
    items: list[str], compiled: bool
) -> None:
    policy, answers = _policy(items)
    body = {**_REQUEST, **({"answers": answers} if answers else {})}
    det = Engine(policies=[policy], compiled=compiled).evaluate(body)
    met = {"T", "A"}
    if all(i in met for i in items):
        assert det.decision == "approved"
    elif all(i in {"F", "N"} for i in items):
        assert det.decision == "denied"
    else:
        assert det.decision == "pended", (items, det.decision)
        unknown = [f"initial.unsure.item_{n}" for n, i in enumerate(items) if i == "U"]
        assert [q.id for q in det.missing] == (unknown or ["initial.unsure"])
    group = det.trace.children[1]  # type: ignore[union-attr]
    assert (group.id, group.kind) == ("initial.unsure", "ambiguous")


@pytest.mark.parametrize("compiled", [True, False])
def test_the_reviewers_answer_for_the_group_decides_it(compiled: bool) -> None:
    policy, _ = _policy(["T", "F"])
    engine = Engine(policies=[policy], compiled=compiled)
    det = engine.evaluate(_REQUEST)
    assert det.decision == "pended"
    assert "Item 0" in det.missing[0].text or "not said how" in det.missing[0].text
    assert "initial.unsure" in [q.id for q in engine.questions(policy)]  # what a pend can ask
    yes = engine.evaluate({**_REQUEST, "answers": {"initial.unsure": True}})
    no = engine.evaluate({**_REQUEST, "answers": {"initial.unsure": False}})
    assert (yes.decision, no.decision) == ("approved", "denied")


def test_a_group_of_two_shapes_is_refused_naming_the_rule() -> None:
    leaf = {"id": "a.b", "text": "B", "condition": {"type": "question"}}
    with pytest.raises(ValueError, match="exactly one of all, any, ambiguous or condition"):
        Criterion.model_validate({"id": "a", "text": "A", "any": [leaf], "ambiguous": [leaf]})
