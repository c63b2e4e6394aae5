"""Table-driven policy cases: tests/cases/*.yaml, plus the examples/ directory.

Case file format (every file may hold `bases:` and/or `cases:`; bases are shared by all files):

    bases:
      name: {full request}
    cases:
      - name: behaviour_being_checked      # unique, used as the pytest id
        base: name                         # one of the bases
        patch: {...}                       # deep-merged into a copy of the base:
                                           #   dicts merge key by key, other values replace,
                                           #   a key set to null is deleted (list -> absent)
        expect:                            # any of:
          decision: approved|partially_approved|denied|pended
          decision_in: [decisions]         # any of these (where the policy allows several)
          denial_basis: investigational|criteria_not_met|null
          approval_basis: criteria_met|continuity_of_care|null
          authorization: null | {start, end, max_daily_dose_mg}   (only given keys compared)
          requested_daily_dose_mg: 960
          missing: [ids]                   # exact set of missing question ids
          reasons_include: [ids]           # ids that must appear among the reasons
          reason_text_includes: [texts]    # each a part of some reason's text
          raises: RequestError|PriorAuthError
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

HERE = Path(__file__).resolve().parent
CASES_DIR = HERE / "cases"
EXAMPLES_DIR = HERE.parent / "examples"

DECISIONS = {"approved", "partially_approved", "denied", "pended"}
EXPECT_KEYS = {
    "decision",
    "decision_in",
    "denial_basis",
    "authorization",
    "requested_daily_dose_mg",
    "missing",
    "reasons_include",
    "reason_text_includes",
    "approval_basis",
    "raises",
}
# Per drug (brand or generic, lower case): policy number, effective date, and the quantity
# limit in mg/day for each strength.
POLICIES: dict[str, tuple[str, str, dict[float, float]]] = {
    "lumakras": ("5.21.177", "2026-04-01", {120: 960, 240: 960, 320: 960}),
    "krazati": ("5.99.101", "2026-07-01", {200: 1200}),  # 180 tablets / 30 days
    "tagrisso": ("5.99.102", "2026-01-01", {40: 40, 80: 80}),  # 30 tablets / 30 days
}
POLICIES["sotorasib"] = POLICIES["lumakras"]
POLICIES["adagrasib"] = POLICIES["krazati"]
POLICIES["osimertinib"] = POLICIES["tagrisso"]


def deep_merge(base: Any, patch: Any) -> Any:
    """Return base with patch merged in; None in a patch mapping deletes that key."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_cases() -> list[Any]:
    bases: dict[str, dict[str, Any]] = {}
    raw_cases: list[tuple[str, dict[str, Any]]] = []
    files = sorted(CASES_DIR.glob("*.yaml")) + sorted(CASES_DIR.glob("*.yml"))
    for path in files:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for name, request in (doc.get("bases") or {}).items():
            if name in bases:
                raise ValueError(f"{path.name}: base {name!r} defined twice")
            bases[name] = request
        raw_cases.extend((path.name, case) for case in doc.get("cases") or [])

    params = []
    seen: set[str] = set()
    for file_name, case in raw_cases:
        name = case["name"]
        if name in seen:
            raise ValueError(f"{file_name}: case name {name!r} used twice")
        seen.add(name)
        if case["base"] not in bases:
            raise ValueError(f"{file_name}: case {name!r} names unknown base {case['base']!r}")
        unknown = set(case.get("expect", {})) - EXPECT_KEYS
        if unknown:
            raise ValueError(f"{file_name}: case {name!r} has unknown expect keys {unknown}")
        request = deep_merge(bases[case["base"]], case.get("patch") or {})
        params.append(pytest.param(request, case.get("expect") or {}, id=name))
    return params


CASES = load_cases()


def check_invariants(d: dict[str, Any], request: dict[str, Any]) -> None:
    """What every determination must satisfy, whatever the case."""
    assert d["decision"] in DECISIONS
    med = request["medication"]
    number, effective, limits = POLICIES[med["name"].lower()]
    max_daily_dose_mg = limits[med["strength_mg"]]
    assert str(d["policy"]["number"]) == number
    assert str(d["policy"]["effective_date"]) == effective
    dose = med["strength_mg"] * med["quantity"] / med["days_supply"]
    assert d["requested_daily_dose_mg"] == pytest.approx(dose, abs=5e-4)
    for reason in d["reasons"]:
        assert reason["status"] in {"met", "not_met", "unknown"}, reason
    if d["decision"] in {"approved", "partially_approved"}:
        auth = d["authorization"]
        assert auth is not None
        assert auth["start"] == request["date_of_service"]
        assert auth["max_daily_dose_mg"] == max_daily_dose_mg
        assert d["denial_basis"] is None
        assert d["approval_basis"] in {"criteria_met", "continuity_of_care"}
        assert d["missing"] == []
        assert (d["decision"] == "partially_approved") == (dose > max_daily_dose_mg)
    elif d["decision"] == "denied":
        assert d["authorization"] is None
        assert d["approval_basis"] is None
        assert d["denial_basis"] in {"investigational", "criteria_not_met"}
        assert d["missing"] == []
    else:  # pended
        assert d["authorization"] is None
        assert d["approval_basis"] is None
        assert d["denial_basis"] is None
        assert d["missing"], "a pend must say what it needs"
        for item in d["missing"]:
            assert item["id"] and item["text"] and item["criterion_text"], item


def check_expectations(d: dict[str, Any], expect: dict[str, Any]) -> None:
    got_summary = {
        "decision": d["decision"],
        "denial_basis": d["denial_basis"],
        "missing": sorted(m["id"] for m in d["missing"]),
        "reasons": [(r["id"], r["status"]) for r in d["reasons"]],
        "authorization": d["authorization"],
    }
    ctx = json.dumps(got_summary, indent=1, default=str)
    if "decision" in expect:
        assert d["decision"] == expect["decision"], ctx
    if "decision_in" in expect:
        assert d["decision"] in expect["decision_in"], ctx
    if "denial_basis" in expect:
        assert d["denial_basis"] == expect["denial_basis"], ctx
    if "approval_basis" in expect:
        assert d["approval_basis"] == expect["approval_basis"], ctx
    if "requested_daily_dose_mg" in expect:
        assert d["requested_daily_dose_mg"] == pytest.approx(expect["requested_daily_dose_mg"])
    if "authorization" in expect:
        want = expect["authorization"]
        if want is None:
            assert d["authorization"] is None, ctx
        else:
            assert d["authorization"] is not None, ctx
            for key, value in want.items():
                got = d["authorization"][key]
                if isinstance(value, (int, float)):
                    assert got == pytest.approx(value), (key, ctx)
                else:
                    assert str(got) == str(value), (key, ctx)
    if "missing" in expect:
        got_missing = [m["id"] for m in d["missing"]]
        assert len(got_missing) == len(set(got_missing)), f"duplicate missing ids: {ctx}"
        assert set(got_missing) == set(expect["missing"]), ctx
    if "reasons_include" in expect:
        ids = {r["id"] for r in d["reasons"]}
        absent = set(expect["reasons_include"]) - ids
        assert not absent, f"reasons lack {sorted(absent)}: {ctx}"
    for part in expect.get("reason_text_includes", []):
        texts = [r["text"] for r in d["reasons"]]
        assert any(part in t for t in texts), f"no reason says {part!r}: {texts}"


@pytest.mark.parametrize(("request_dict", "expect"), CASES)
def test_policy_case(engine: Any, request_dict: dict[str, Any], expect: dict[str, Any]) -> None:
    from priorauth import errors

    if "raises" in expect:
        exc_type = getattr(errors, expect["raises"])
        with pytest.raises(exc_type):
            engine.evaluate(request_dict)
        return
    d = engine.evaluate(request_dict).model_dump(mode="json")
    check_invariants(d, request_dict)
    check_expectations(d, expect)


def test_enough_cases() -> None:
    assert len(CASES) >= 70


def test_request_error_is_a_priorauth_error() -> None:
    from priorauth import errors

    assert issubclass(errors.RequestError, errors.PriorAuthError)


def load_examples() -> list[Any]:
    expected = json.loads((EXAMPLES_DIR / "expected.json").read_text(encoding="utf-8"))
    return [pytest.param(name, want, id=name) for name, want in sorted(expected.items())]


@pytest.mark.parametrize(("file_name", "expect"), load_examples())
def test_example(engine: Any, file_name: str, expect: dict[str, Any]) -> None:
    request = json.loads((EXAMPLES_DIR / file_name).read_text(encoding="utf-8"))
    d = engine.evaluate(request).model_dump(mode="json")
    check_invariants(d, request)
    check_expectations(d, expect)


def test_example_pend_asks_only_kras_and_liver(engine: Any) -> None:
    """examples/README.md: the NSCLC pend asks for the KRAS G12C result and the
    liver-monitoring attestation, and nothing about colorectal criteria."""
    request = json.loads((EXAMPLES_DIR / "nsclc-initial-pend.json").read_text(encoding="utf-8"))
    d = engine.evaluate(request).model_dump(mode="json")
    assert {m["id"] for m in d["missing"]} == {
        "initial.nsclc.kras_g12c",
        "initial.liver_function_monitoring",
    }


def test_example_partial_requested_dose(engine: Any) -> None:
    request = json.loads((EXAMPLES_DIR / "nsclc-initial-partial.json").read_text(encoding="utf-8"))
    d = engine.evaluate(request).model_dump(mode="json")
    assert d["requested_daily_dose_mg"] == pytest.approx(1280)
