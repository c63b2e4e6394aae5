"""The compiled path's leaves for observations, BMI and dose limits: the explaining evaluators'
rules (engine/measures.py), read straight from the validated request.

Observations are rarely the same twice (a value and a date), so these leaves remember nothing
per list; they remember per distinct spelling instead: the kind and unit factor of each
(code, name, unit) written, and the day of each date text. The commonest shapes have a leaf of
their own (the latest value; values on several days; BMI given, computed or read from a Z68
code); a change from baseline goes to the explaining evaluator, so that its rule has one
implementation to keep exact. The hot leaves take what they read as default arguments (see
engine/codegen.py). tests/test_observation_leaf.py holds every leaf to the explaining path on
drawn lists, and the differential cases (tests/conditions/areas.yaml) decide every case both
ways.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from priorauth.engine.facts import Facts
from priorauth.engine.logic import Status
from priorauth.engine.measures import NOON, Evaluator, comparison
from priorauth.engine.observed import read_kind
from priorauth.policy.model import BmiCondition, DoseLimitCondition, ObservationCondition
from priorauth.policy.observations import load_observations
from priorauth.policy.tables import Knowledge, bmi_range, norm_code
from priorauth.request import observed_on

FastLeaf = Callable[[Any], Status]
_MIN_TIME = dt.datetime.min
_SPELLINGS = 65536


When = tuple[dt.date | None, dt.datetime | None, bool | None]


class _Readings:
    """(code, name, unit) -> (kind, factor); date text -> when (day, date-time). Shared by
    every leaf of an engine: the spellings are the same whichever criterion reads them."""

    def __init__(self) -> None:
        self.kinds: dict[tuple[Any, Any, Any], tuple[str | None, float]] = {}
        # date text -> (day, date-time or None, measured before noon: None without a time);
        # text keys only, which Python's dicts store and look up on a faster path
        self.days: dict[str, When] = {}

    def kind(self, o: Any) -> tuple[str | None, float]:
        spelled = (o.code, o.name, o.unit)
        got = self.kinds.get(spelled)
        if got is None:
            got = read_kind(o.code, o.name, o.unit)
            if len(self.kinds) >= _SPELLINGS:
                self.kinds.clear()
            self.kinds[spelled] = got
        return got

    def day(self, written: Any) -> When:
        if written is None:
            return _UNDATED
        got = self.days.get(written) if type(written) is str else None
        if got is None:
            when = observed_on(written)
            if isinstance(when, dt.datetime):
                got = (when.date(), when, when.time() < NOON)
            else:
                got = (when, None, None)
            if type(written) is str:
                if len(self.days) >= _SPELLINGS:
                    self.days.clear()
                self.days[written] = got
        return got


_UNDATED: When = (None, None, None)
READINGS = _Readings()


def simple_observation(c: ObservationCondition) -> bool:
    """Every shape but a change from baseline (which needs every value, in order)."""
    return c.change is None


def observation_leaf(c: ObservationCondition) -> FastLeaf:
    """As measures.observation: the values that surely count (in the window, before noon when
    a morning value is asked for) and those that might (no date for a window, no time for a
    morning); the latest that counts decides, or, for ``count`` values, as many days that meet
    the comparison (_count_leaf). This function's own leaf reads one morning value."""
    table = load_observations()
    key = table.key_of(c.observation)
    test = comparison(c, table)
    days = c.within_days
    span = dt.timedelta(days=days) if days is not None else None
    if c.count > 1:
        return _count_leaf(key, test, span, c.count, c.morning)
    if not c.morning:
        return _latest_leaf(key, test, span)

    def morning_value(
        r: Any,
        kinds: dict[tuple[Any, Any, Any], tuple[str | None, float]] = READINGS.kinds,
        kind_of: Callable[[Any], tuple[str | None, float]] = READINGS.kind,
        day_texts: dict[str, When] = READINGS.days,
        day_of: Callable[[Any], When] = READINGS.day,
    ) -> Status:
        obs = r.observations
        if obs is None:
            return None
        service = r.date_of_service
        first = None if span is None else service - span
        best: tuple[dt.date, dt.datetime] | None = None
        best_value = 0.0
        for o in obs:
            k = kinds.get((o.code, o.name, o.unit)) or kind_of(o)
            if k[0] != key:
                continue
            day, at, before_noon = day_texts.get(o.date) or day_of(o.date)
            # A value without a date or a time of day might be a morning value in the window:
            # it decides nothing, and without a value that surely counts the status is unknown.
            if (
                day is None
                or before_noon is None
                or not before_noon
                or day > service
                or (first is not None and day < first)
            ):
                continue
            order = (day, at or _MIN_TIME)
            if best is None or order > best:
                best, best_value = order, o.value * k[1]
        return None if best is None else test(best_value)

    return morning_value


def _count_leaf(
    key: str | None,
    test: Callable[[float], bool],
    span: dt.timedelta | None,
    count: int,
    morning: bool,
) -> FastLeaf:
    """observation_leaf for ``count`` values on as many days ("two morning values below 300
    ng/dL on separate days"), building its sets of days only when a value counts. A value
    without a date, or without a time when a morning one is asked for, might count: it leaves
    the criterion unknown unless enough days surely meet it."""

    def counted(
        r: Any,
        kinds: dict[tuple[Any, Any, Any], tuple[str | None, float]] = READINGS.kinds,
        kind_of: Callable[[Any], tuple[str | None, float]] = READINGS.kind,
        day_texts: dict[str, When] = READINGS.days,
        day_of: Callable[[Any], When] = READINGS.day,
        key: str | None = key,
        test: Callable[[float], bool] = test,
        span: dt.timedelta | None = span,
    ) -> Status:
        obs = r.observations
        if obs is None:
            return None
        service = r.date_of_service
        first = None if span is None else service - span
        met: set[dt.date] | None = None
        measured: set[dt.date] | None = None
        maybe = False
        for o in obs:
            k = kinds.get((o.code, o.name, o.unit)) or kind_of(o)
            if k[0] != key:
                continue
            day, _, before_noon = day_texts.get(o.date) or day_of(o.date)
            if day is None:
                maybe = True
                continue
            if day > service or (first is not None and day < first):
                continue
            if morning:
                if before_noon is None:
                    maybe = True
                    continue
                if not before_noon:
                    continue
            if measured is None:
                measured = {day}
            else:
                measured.add(day)
            if test(o.value * k[1]):
                if met is None:
                    met = {day}
                else:
                    met.add(day)
        if met is not None and len(met) >= count:
            return True
        if maybe:
            return None
        return False if measured is not None and len(measured) >= count else None

    return counted


def _latest_leaf(
    key: str | None, test: Callable[[float], bool], span: dt.timedelta | None
) -> FastLeaf:
    """observation_leaf for one value at any time of day (the commonest shape: "LDL-C >= 70
    within 90 days"): each request's call allocates nothing but a list for values without a
    date, and only when one is given and no window is asked for."""

    def latest(
        r: Any,
        kinds: dict[tuple[Any, Any, Any], tuple[str | None, float]] = READINGS.kinds,
        kind_of: Callable[[Any], tuple[str | None, float]] = READINGS.kind,
        day_texts: dict[str, When] = READINGS.days,
        day_of: Callable[[Any], When] = READINGS.day,
        key: str | None = key,
        test: Callable[[float], bool] = test,
        span: dt.timedelta | None = span,
    ) -> Status:
        obs = r.observations
        if obs is None:
            return None
        service = r.date_of_service
        first = None if span is None else service - span
        best_day: dt.date | None = None
        best_at = _MIN_TIME
        best_value = 0.0
        undated: list[float] | None = None  # values that count and have no date
        maybe = False
        for o in obs:
            k = kinds.get((o.code, o.name, o.unit)) or kind_of(o)
            if k[0] != key:
                continue
            day, at, _ = day_texts.get(o.date) or day_of(o.date)
            if day is None:
                if first is not None:
                    maybe = True  # no date: perhaps inside the window
                elif undated is None:
                    undated = [o.value * k[1]]
                else:
                    undated.append(o.value * k[1])
                continue
            if day > service or (first is not None and day < first):
                continue
            # the latest by day, then by time (a date alone before any time of that day)
            if (
                best_day is None
                or day > best_day
                or (day == best_day and (at or _MIN_TIME) > best_at)
            ):
                best_day, best_at, best_value = day, at or _MIN_TIME, o.value * k[1]
        if best_day is not None:
            return test(best_value)
        if undated and not maybe:
            verdicts = {test(v) for v in undated}
            return verdicts.pop() if len(verdicts) == 1 else None
        return None

    return latest


_RANGES: dict[str, tuple[float, float] | None] = {}
# The keys of the observations table that a BMI is read or computed from.
_BMI, _WEIGHT, _HEIGHT = (
    load_observations().kinds[k].key for k in ("bmi", "body_weight", "body_height")
)


def _bmi_range(code: str) -> tuple[float, float] | None:
    """tables.bmi_range, remembered per code as written (a few dozen Z68 codes exist)."""
    if code in _RANGES:
        return _RANGES[code]
    got = bmi_range(code)
    if len(_RANGES) < _SPELLINGS:
        _RANGES[code] = got
    return got


def bmi_leaf(c: BmiCondition, kb: Knowledge) -> FastLeaf:
    """As measures.bmi: a BMI given, else computed from weight and height, else the range of a
    Z68 code."""
    families: set[str] = set()
    prefixes: list[str] = []
    for key in c.comorbidities:
        disease = kb.diseases[key]
        families |= disease.families
        prefixes += disease.prefixes
    starts = tuple(prefixes)
    alt = c.min_with_comorbidity
    minimum = c.min
    lowest = minimum if alt is None else min(minimum, alt)
    days = c.within_days
    span = dt.timedelta(days=days) if days is not None else None
    # code as written -> whether it names a comorbidity: normalizing a code is four calls, and
    # a workload writes a few hundred codes at most
    comorbid: dict[str, bool] = {}

    def comorbid_code(written: str) -> bool:
        code = norm_code(written)
        got = code[:3] in families or (bool(starts) and code.startswith(starts))
        if len(comorbid) >= _SPELLINGS:
            comorbid.clear()
        comorbid[written] = got
        return got

    # What the leaf reads, bound as default arguments: locals of its frame, read without a
    # lookup in a cell or a namespace (the leaf runs once a request; see engine/codegen.py).
    def bmi(
        r: Any,
        kinds: dict[tuple[Any, Any, Any], tuple[str | None, float]] = READINGS.kinds,
        kind_of: Callable[[Any], tuple[str | None, float]] = READINGS.kind,
        day_texts: dict[str, When] = READINGS.days,
        day_of: Callable[[Any], When] = READINGS.day,
        _BMI: str = _BMI,
        _WEIGHT: str = _WEIGHT,
        _HEIGHT: str = _HEIGHT,
        span: dt.timedelta | None = span,
        comorbid: dict[str, bool] = comorbid,
    ) -> Status:
        obs = r.observations or ()
        service = r.date_of_service
        first = None if span is None else service - span
        # The latest of each (by day, the first of a day), as measures.bmi picks them; a
        # value without a date only when none has one. Heights have no window.
        value = weight = height = None
        value_day = weight_day = height_day = None
        for o in obs:
            k = kinds.get((o.code, o.name, o.unit)) or kind_of(o)
            key = k[0]
            if key == _BMI:
                day = (day_texts.get(o.date) or day_of(o.date))[0]
                if day is None:
                    if first is None and value is None:
                        value = o.value * k[1]
                elif (
                    day <= service
                    and (first is None or day >= first)
                    and (value_day is None or day > value_day)
                ):
                    value, value_day = o.value * k[1], day
            elif key == _WEIGHT:
                day = (day_texts.get(o.date) or day_of(o.date))[0]
                if day is None:
                    if first is None and weight is None:
                        weight = o.value * k[1]
                elif (
                    day <= service
                    and (first is None or day >= first)
                    and (weight_day is None or day > weight_day)
                ):
                    weight, weight_day = o.value * k[1], day
            elif key == _HEIGHT:
                day = (day_texts.get(o.date) or day_of(o.date))[0]
                if day is None:
                    if height is None:
                        height = o.value * k[1]
                elif day <= service and (height_day is None or day > height_day):
                    height, height_day = o.value * k[1], day
        if value is None and weight is not None and height is not None and height > 0:
            value = weight / (height / 100) ** 2
        dxs = r.diagnoses
        if value is not None:
            low = high = value
        else:
            for d in dxs or ():
                got = _bmi_range(d.code)
                if got is not None:
                    low, high = got
                    break
            else:
                return None
        if low >= minimum:
            return True
        if high < lowest:
            return False
        if alt is None or low < alt:
            return None
        if dxs is None:
            return None
        for d in dxs:
            written = d.code
            listed = comorbid.get(written)
            if listed is None:
                listed = comorbid_code(written)
            if listed:
                return True
        return None if high >= minimum else False

    return bmi


def dose_limit_leaf(c: DoseLimitCondition, kb: Knowledge, slow: Evaluator) -> FastLeaf:
    """Limits per day or week decided here; per kg of body weight, by the explaining path."""
    if c.max_mg_per_kg_per_day is not None or c.max_mg_per_kg_per_week is not None:

        def per_kg(r: Any) -> Status:
            return slow(Facts(r, kb), None)

        return per_kg
    day_cap = c.max_mg_per_day
    week_cap = c.max_mg_per_week

    def dose_limit(r: Any) -> Status:
        m = r.medication
        daily = m.strength_mg * m.quantity / m.days_supply
        if day_cap is not None and daily > day_cap + 1e-9:
            return False
        return not (week_cap is not None and daily * 7 > week_cap + 1e-9)

    return dose_limit
