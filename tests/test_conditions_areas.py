"""The condition types of issue 21 (observations, BMI, sex, ages in months and ranges, step
therapy with durations, doses and classes, class exclusions, severity, dose limits) at their
edges: tests/conditions/areas.yaml, each case decided through the compiled path (from a dict
and from a pydantic model) and through the explaining path, which must agree."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_policy_cases import deep_merge

from priorauth import Engine
from priorauth.policy.load import policy_from_data
from priorauth.request import parse_request

TABLE = yaml.safe_load((Path(__file__).parent / "conditions" / "areas.yaml").read_text())
DECISION = {"met": "approved", "not_met": "denied", "unknown": "pended"}

POLICY: dict[str, Any] = {
    "number": "9.21.001",
    "title": "Wegovy (test)",
    "section": "Prescription Drugs",
    "subsection": "Weight management",
    "drug": {"brand": "Wegovy", "generic": "semaglutide", "strengths_mg": [2.4], "form": "pen"},
    "effective_date": "2026-01-01",
    "original_policy_date": "2026-01-01",
    "last_review_date": "2026-01-01",
    "applies_to": ["pre_service"],
    "applicability_text": "Pre-service review.",
    "medically_necessary_text": "May be medically necessary when the criterion is met.",
    "investigational_text": "Investigational otherwise.",
    "limits": {
        kind: {"duration": {"months": 12, "text": "12 months"}} for kind in ("initial", "renewal")
    },
    "pre_pa_allowance": None,
    "pre_pa_allowance_text": "None",
}


@cache
def engines(condition_json: str) -> tuple[Engine, Engine]:
    data = copy.deepcopy(POLICY)
    data["requirements"] = {
        "initial": {
            "id": "initial",
            "text": "Prior-Approval Requirements",
            "all": [
                {
                    "id": "initial.criterion",
                    "text": "The criterion under test",
                    "condition": json.loads(condition_json),
                }
            ],
        },
        "renewal": {"id": "renewal", "text": "Renewal", "condition": {"type": "question"}},
    }
    policy = policy_from_data(data, "test policy")
    return Engine([policy]), Engine([policy], compiled=False)


def _cases() -> list[Any]:
    out = []
    for case in TABLE["cases"]:
        cond = case["condition"]
        condition = TABLE["conditions"][cond] if isinstance(cond, str) else cond
        request = deep_merge(TABLE["request"], case.get("patch") or {})
        out.append(pytest.param(condition, request, case, id=case["name"]))
    return out


@pytest.mark.parametrize(("condition", "request_data", "case"), _cases())
def test_condition_case(condition: dict[str, Any], request_data: dict[str, Any], case: Any) -> None:
    fast, slow = engines(json.dumps(condition, sort_keys=True))
    expected = DECISION[case["expect"]]
    by_dict = fast.evaluate(request_data)
    by_model = fast.evaluate_model(parse_request(request_data))
    explained = slow.evaluate(request_data)
    assert [by_dict.decision, by_model.decision, explained.decision] == [expected] * 3
    if "basis" in case:
        bases = [by_dict.denial_basis, by_model.denial_basis, explained.denial_basis]
        assert bases == [case["basis"]] * 3
    node = explained.trace.children[0]
    assert node.status == case["expect"]
    if "question" in case:
        (question,) = by_dict.missing
        assert case["question"] in question.text


def test_every_named_condition_is_used() -> None:
    used = {c["condition"] for c in TABLE["cases"] if isinstance(c["condition"], str)}
    assert used == set(TABLE["conditions"])
