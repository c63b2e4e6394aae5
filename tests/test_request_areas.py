"""The request contract of issue 21 (member.sex, observations[], diagnoses[].severity, step
therapy's days, dose and dates, medication.strength and form): what it accepts, the error that
names the field for what it refuses (the same from a dict, JSON text and the pydantic model),
and the laws of unit conversion and date windows."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from priorauth import Engine, RequestError
from priorauth.engine.measures import _in_window
from priorauth.engine.observed import Obs
from priorauth.policy.observations import load_observations
from priorauth.policy.units import convert, factor
from priorauth.request import parse_request, read_dict, read_json

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

BASE: dict[str, Any] = {
    "kind": "initial",
    "date_of_service": "2026-05-04",
    "member": {"id": "M-21", "birth_date": "1971-02-03", "sex": "female"},
    "medication": {
        "name": "Lumakras",
        "strength_mg": 120,
        "quantity": 240,
        "days_supply": 30,
        "strength": "120 mg",
        "form": "tablet",
    },
    "diagnoses": [{"code": "L20.9", "severity": "moderate"}],
    "step_therapy": [
        {
            "drug": "atorvastatin",
            "outcome": "failure",
            "days": 60,
            "daily_dose_mg": 40,
            "start": "2026-01-01",
            "end": "2026-03-01",
        }
    ],
    "observations": [
        {"name": "BMI", "value": 31.2, "unit": "kg/m2", "date": "2026-04-20"},
        {"code": "2986-8", "value": 10.1, "unit": "nmol/L", "date": "2026-04-02T08:15"},
        {"name": "EASI", "value": 21},
        {"code": "99999-9", "value": 3, "unit": "mg/L"},
    ],
}


def with_change(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node: Any = body
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return body


READERS = {
    "dict": read_dict,
    "json": lambda d: read_json(json.dumps(d)),
    "model": parse_request,
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_every_new_field_is_accepted_by_both_validators(reader: str) -> None:
    r = READERS[reader](copy.deepcopy(BASE))
    assert r.member.sex == "female"
    assert r.diagnoses is not None and r.diagnoses[0].severity == "moderate"
    assert r.step_therapy is not None and r.step_therapy[0].days == 60
    assert r.medication.form == "tablet"
    assert r.observations is not None and len(r.observations) == 4


def test_the_new_facts_change_nothing_for_a_policy_that_does_not_ask_for_them() -> None:
    engine = Engine()
    body = json.loads((EXAMPLES / "nsclc-initial-approve.json").read_text())
    before = engine.evaluate(body)
    body["member"]["sex"] = "male"
    body["medication"].update(strength="120 mg", form="tablet")
    body["observations"] = copy.deepcopy(BASE["observations"])
    body["step_therapy"] = copy.deepcopy(BASE["step_therapy"])
    after = engine.evaluate(body)
    assert (after.decision, after.authorization) == (before.decision, before.authorization)
    assert before.decision == "approved"


BAD = [
    ("member.sex", "f", "member.sex", "'female', 'male', 'other' or 'unknown'"),
    ("diagnoses.0.severity", "very", "diagnoses[0].severity", "'mild', 'moderate' or 'severe'"),
    ("medication.strength", "lots", "medication.strength", "cannot read 'lots' as a strength"),
    ("medication.form", "bottle", "medication.form", "'tablet'"),
    ("step_therapy.0.end", "2025-12-31", "step_therapy[0].end", "is before start (2026-01-01)"),
    ("step_therapy.0.days", -1, "step_therapy[0].days", "greater than or equal to 0"),
    (
        "observations.0",
        {"name": "foo", "value": 1},
        "observations[0].name",
        "'foo' is not an observation the tables know",
    ),
    (
        "observations.0",
        {"name": "LDL-C", "value": 3, "unit": "kg"},
        "observations[0].unit",
        "'kg' does not convert to mg/dL (LDL-C)",
    ),
    (
        "observations.1",
        {"name": "BMI", "value": 31},
        "observations[1].unit",
        "required for BMI (e.g. kg/m2)",
    ),
    (
        "observations.0",
        {"code": "39156-5", "name": "LDL-C", "value": 31, "unit": "kg/m2"},
        "observations[0].name",
        "LDL-C is not what LOINC 39156-5 reports (BMI)",
    ),
    (
        "observations.0",
        {"code": "BMI", "value": 31},
        "observations[0].code",
        "",
    ),
    (
        "observations.3",
        {"code": "12345-6", "value": 3, "unit": "furlongs per fortnight per zz"},
        "observations[3].unit",
        "cannot read",
    ),
    (
        "observations.0",
        {"name": "BMI", "value": 31, "unit": "kg/m2", "date": "2026-13-01"},
        "observations[0].date",
        "expected a date (YYYY-MM-DD) or a date-time",
    ),
    ("observations.0", {"name": "BMI", "unit": "kg/m2"}, "observations[0].value", "required"),
    (
        "observations.0",
        {"name": "BMI", "value": "31", "unit": "kg/m2"},
        "observations[0].value",
        "number",
    ),
    ("observations.0", {"value": 31, "unit": "kg/m2"}, "observations[0].code", "LOINC code or"),
]


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize(("path", "value", "field", "words"), BAD, ids=[b[2] for b in BAD])
def test_a_bad_value_is_an_error_naming_the_field(
    reader: str, path: str, value: Any, field: str, words: str
) -> None:
    with pytest.raises(RequestError) as err:
        READERS[reader](with_change(path, value))
    assert err.value.field == field
    assert words in err.value.problem


def test_a_bad_unit_is_a_one_line_error_on_the_command_line(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from priorauth.cli import app

    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(with_change("observations.0", {"name": "A1c", "value": 7, "unit": "kg"}))
    )
    result = CliRunner().invoke(app, ["evaluate", str(path)])
    assert result.exit_code == 2
    assert "observations[0].unit: 'kg' does not convert to % (HbA1c)" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


# --- laws --------------------------------------------------------------------------------------

MASS_UNITS = ["mg/dL", "mg/L", "g/L", "ug/mL", "ng/dL", "ng/mL", "pg/mL"]
SUBSTANCE_UNITS = ["mmol/L", "umol/L", "nmol/L", "pmol/L"]
values = st.floats(min_value=1e-3, max_value=1e5, allow_nan=False, allow_infinity=False)


@given(
    value=values,
    source=st.sampled_from(MASS_UNITS + SUBSTANCE_UNITS),
    target=st.sampled_from(MASS_UNITS + SUBSTANCE_UNITS),
    kind=st.sampled_from(["ldl_c", "glucose", "total_testosterone", "triglycerides"]),
)
def test_a_conversion_there_and_back_gives_the_value(
    value: float, source: str, target: str, kind: str
) -> None:
    mm = load_observations().kind(kind).molar_mass
    there = convert(value, source, target, mm)
    assert convert(there, target, source, mm) == pytest.approx(value, rel=1e-9)


@given(value=values, unit=st.sampled_from(["mg/dL", "mmol/L", "g/L", "umol/L"]))
def test_conversion_keeps_order(value: float, unit: str) -> None:
    """A larger value stays larger in any unit: thresholds compare alike in every unit."""
    mm = load_observations().kind("ldl_c").molar_mass
    assert convert(value * 1.01, unit, "mg/dL", mm) > convert(value, unit, "mg/dL", mm)


def test_the_molar_masses_give_the_clinical_factors() -> None:
    table = load_observations()
    assert factor("mmol/L", "mg/dL", table.kind("ldl_c").molar_mass) == pytest.approx(38.665)
    assert factor("mmol/L", "mg/dL", table.kind("glucose").molar_mass) == pytest.approx(18.016)
    assert factor("nmol/L", "ng/dL", table.kind("total_testosterone").molar_mass) == (
        pytest.approx(28.842)
    )
    assert factor("10*3/uL", "cells/uL") == pytest.approx(1000)
    assert factor("lb", "kg") == pytest.approx(0.45359237)


service_days = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 1, 1))


@given(service=service_days, days=st.integers(0, 3650), back=st.integers(-30, 4000))
def test_a_window_holds_exactly_the_last_n_days(service: dt.date, days: int, back: int) -> None:
    day = service - dt.timedelta(days=back)
    inside = _in_window(Obs(0, "bmi", 30.0, day, None), service, days)
    assert inside == (0 <= back <= days)


@given(service=service_days, days=st.integers(0, 3650))
def test_a_window_without_a_date_is_unknown(service: dt.date, days: int) -> None:
    assert _in_window(Obs(0, "bmi", 30.0, None, None), service, days) is None
