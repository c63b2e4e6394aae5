"""Observations and BMI decided by the compiled path's leaves (the latest value, values on
several days, morning values, BMI given, computed or read from a Z68 code) against the explaining
evaluator, on drawn lists: values around each threshold in several units, dates inside, at the
edge of and outside each window, with and without a time of day, before and after noon, or
none at all."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from test_conditions_areas import TABLE, engines

from priorauth.request import parse_request

CONDITIONS: list[dict[str, Any]] = [
    c for c in TABLE["conditions"].values() if c["type"] in ("observation", "bmi")
] + [
    # shapes the table's cases leave out: windows on several values, morning or not
    {"type": "observation", "observation": "total testosterone", "op": "<", "value": 300,
     "unit": "ng/dL", "count": 2, "within_days": 90},
    {"type": "observation", "observation": "total testosterone", "op": "<", "value": 300,
     "unit": "ng/dL", "count": 2, "morning": True, "within_days": 90},
    {"type": "observation", "observation": "LDL-C", "op": ">=", "value": 70, "unit": "mg/dL",
     "morning": True, "within_days": 365},
    {"type": "bmi", "min": 30, "min_with_comorbidity": 27, "within_days": 365,
     "comorbidities": ["type_2_diabetes", "hypertension"]},
]  # fmt: skip
SERVICE = "2026-05-04"  # TABLE's request's date of service

# (code, name, unit, values) as requests write them: each around the thresholds of CONDITIONS
SPELLINGS = [
    (None, "LDL-C", "mg/dL", [55.0, 69.9, 70.0, 140.0]),
    ("13457-7", None, "mmol/L", [1.5, 1.81, 1.82, 3.0]),
    (None, "blood eosinophils", "cells/uL", [149.0, 150.0, 300.0]),
    (None, "HbA1c", "%", [6.9, 7.0, 10.0, 10.1]),
    (None, "total testosterone", "ng/dL", [250.0, 299.0, 300.0, 320.0]),
    ("2986-8", None, "nmol/L", [8.0, 10.4, 10.5, 12.0]),
    (None, "migraine days per month", "/month", [4.0, 8.0, 16.0]),
    (None, "BMI", "kg/m2", [26.9, 27.0, 29.9, 30.0, 35.0]),
    (None, "body weight", "kg", [70.0, 88.0, 95.0]),
    ("29463-7", None, "lb", [190.0, 210.0]),
    (None, "height", "cm", [160.0, 175.0]),
    ("8302-2", None, "in", [63.0, 69.0]),
]
DAYS = ["2026-05-04", "2026-05-05", "2026-02-03", "2026-02-04", "2025-05-04", "2025-05-05",
        "2024-01-01", "2026-04-20", "2026-04-27"]  # fmt: skip
TIMES = [None, "T07:30", "T11:59", "T12:00", "T15:00", "T08:00+05:00", "T23:00-07:00", "T07:30Z"]


@st.composite
def observation(draw: st.DrawFn) -> dict[str, Any]:
    code, name, unit, values = draw(st.sampled_from(SPELLINGS))
    o: dict[str, Any] = {"value": draw(st.sampled_from(values)), "unit": unit}
    if code is not None:
        o["code"] = code
    if name is not None:
        o["name"] = name
    day = draw(st.sampled_from([None, *DAYS]))
    if day is not None:
        time = draw(st.sampled_from(TIMES))
        o["date"] = day + (time or "")
    return o


Z68 = ["Z68.25", "Z68.27", "Z68.30", "Z68.41", "E11.9", "I10", "E78.5", "G47.33", "E66.9"]


@settings(max_examples=600, deadline=None)
@given(
    st.sampled_from(CONDITIONS),
    st.none() | st.lists(observation(), max_size=5),
    st.none() | st.lists(st.sampled_from(Z68), max_size=3, unique=True),
)
def test_leaves_agree_with_the_explaining_evaluator(
    condition: dict[str, Any], observations: list[dict[str, Any]] | None, codes: list[str] | None
) -> None:
    request: dict[str, Any] = json.loads(json.dumps(TABLE["request"]))
    assert request["date_of_service"] == SERVICE
    if observations is not None:
        request["observations"] = observations
    if codes is not None:
        request["diagnoses"] = [{"code": c} for c in codes]
    fast, slow = engines(json.dumps(condition, sort_keys=True))
    expected = slow.evaluate(request).decision
    assert fast.evaluate(request).decision == expected  # the fast validator's Structs
    assert fast.evaluate_model(parse_request(request)).decision == expected  # pydantic's model
