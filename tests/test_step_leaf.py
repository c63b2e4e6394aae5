"""Step therapy decided by the compiled path's leaf (which stops at the first trial that settles
the commonest shape) against the explaining evaluator, on drawn trial lists: every shape of
criterion (plain, with a length, a dose, a dose-defined class, two from different classes), every
outcome, lengths and doses at and around their thresholds, given or not, drugs recognised or not.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from test_conditions_areas import TABLE, engines

from priorauth.engine.steps import StepRule
from priorauth.policy.model import StepTherapyCondition
from priorauth.policy.tables import load_knowledge
from priorauth.request import parse_request, read_dict

KB = load_knowledge()

CONDITIONS: list[dict[str, Any]] = [
    c for c in TABLE["conditions"].values() if c["type"] == "step_therapy"
] + yaml.safe_load(
    """
- {type: step_therapy, drugs: [metformin], outcomes: [failure, intolerance]}
- {type: step_therapy, drugs: [beta_blocker, anticonvulsant], outcomes: [failure], min_count: 2}
- {type: step_therapy, drugs: [high_intensity_statin, ezetimibe], outcomes: [failure], min_count: 2,
   min_days: 56}
- {type: step_therapy, drugs: [statin], outcomes: [intolerance, contraindication]}
- {type: step_therapy, drugs: [tcs_medium_or_higher, tacrolimus], outcomes: [failure],
   min_days: 28, min_daily_dose_mg: 1}
"""
)
DRUGS = [
    "propranolol", "metoprolol", "Topamax", "topiramate", "amitriptyline", "venlafaxine",
    "Lipitor", "atorvastatin", "rosuvastatin", "Crestor", "simvastatin", "ezetimibe", "Elocon",
    "hydrocortisone cream", "tacrolimus", "metformin", "candesartan", "zzzmigrazol", "aspirin",
]  # fmt: skip

trial = st.fixed_dictionaries(
    {
        "drug": st.sampled_from(DRUGS),
        "outcome": st.sampled_from(["failure", "intolerance", "contraindication"]),
    },
    optional={
        "days": st.sampled_from([0, 10, 27, 28, 55, 56, 90]),
        "daily_dose_mg": st.sampled_from([0.5, 1, 10, 20, 40, 80, 1000, 1500]),
        "start": st.just("2026-01-01"),
        "end": st.sampled_from(["2026-01-20", "2026-02-24", "2026-02-25", "2026-04-01"]),
    },
)


def _request(trials: list[dict[str, Any]] | None) -> dict[str, Any]:
    request: dict[str, Any] = json.loads(json.dumps(TABLE["request"]))
    if trials is not None:
        request["step_therapy"] = trials
    return request


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(CONDITIONS), st.none() | st.lists(trial, max_size=4))
def test_leaf_agrees_with_the_explaining_evaluator(
    condition: dict[str, Any], trials: list[dict[str, Any]] | None
) -> None:
    request = read_dict(_request(trials))
    rule = StepRule(StepTherapyCondition.model_validate(condition), KB)
    expected = None if request.step_therapy is None else rule.status(request.step_therapy)
    assert rule.leaf()(request) == expected
    fast, slow = engines(json.dumps(condition, sort_keys=True))
    data = _request(trials)
    expected = slow.evaluate(data).decision
    assert fast.evaluate(data).decision == expected  # the fast validator's Structs
    assert fast.evaluate_model(parse_request(data)).decision == expected  # pydantic's model
