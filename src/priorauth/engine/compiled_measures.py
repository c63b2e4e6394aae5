"""The compiled path's leaves for observations, BMI and dose limits: the explaining evaluators'
rules (engine/measures.py), read straight from the validated request.

Observations are rarely the same twice (a value and a date), so these leaves remember nothing
per list; they remember per distinct spelling instead: the kind and unit factor of each
(code, name, unit) written, and the day of each date text. The shapes a workload seldom uses
(several values, morning values, a change from baseline, a BMI read from a Z68 code) go to the
explaining evaluator, so that each rule has one implementation to keep exact; the differential
cases (tests/conditions/areas.yaml) decide every case both ways.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from priorauth.engine.facts import Facts
from priorauth.engine.logic import Status
from priorauth.engine.measures import Evaluator, comparison
from priorauth.engine.observed import read_kind
from priorauth.policy.model import BmiCondition, DoseLimitCondition, ObservationCondition
from priorauth.policy.observations import load_observations
from priorauth.policy.tables import Knowledge, norm_code
from priorauth.request import observed_on

FastLeaf = Callable[[Any], Status]
_MIN_TIME = dt.datetime.min
_SPELLINGS = 65536


class _Readings:
    """(code, name, unit) -> (kind, factor); date text -> (day, date-time or None). Shared by
    every leaf of an engine: the spellings are the same whichever criterion reads them."""

    def __init__(self) -> None:
        self.kinds: dict[tuple[Any, Any, Any], tuple[str | None, float]] = {}
        self.days: dict[Any, tuple[dt.date | None, dt.datetime | None]] = {None: (None, None)}

    def kind(self, o: Any) -> tuple[str | None, float]:
        spelled = (o.code, o.name, o.unit)
        got = self.kinds.get(spelled)
        if got is None:
            got = read_kind(o.code, o.name, o.unit)
            if len(self.kinds) >= _SPELLINGS:
                self.kinds.clear()
            self.kinds[spelled] = got
        return got

    def day(self, written: Any) -> tuple[dt.date | None, dt.datetime | None]:
        got = self.days.get(written) if type(written) is str or written is None else None
        if got is None:
            when = observed_on(written)
            got = (when.date(), when) if isinstance(when, dt.datetime) else (when, None)
            if type(written) is str:
                if len(self.days) >= _SPELLINGS:
                    self.days.clear()
                    self.days[None] = (None, None)
                self.days[written] = got
        return got


READINGS = _Readings()


def simple_observation(c: ObservationCondition) -> bool:
    return c.count == 1 and not c.morning and c.change is None


def observation_leaf(c: ObservationCondition) -> FastLeaf:
    """The latest value that counts decides, as measures.observation with count 1."""
    table = load_observations()
    key = table.key_of(c.observation)
    test = comparison(c, table)
    days = c.within_days
    span = dt.timedelta(days=days) if days is not None else None
    kind_of = READINGS.kind
    kinds = READINGS.kinds
    day_of = READINGS.day
    day_texts = READINGS.days

    def observation(r: Any) -> Status:
        obs = r.observations
        if obs is None:
            return None
        service = r.date_of_service
        first = None if span is None else service - span
        best: tuple[dt.date, dt.datetime] | None = None
        best_value = 0.0
        undated: list[float] = []
        maybe = False
        for o in obs:
            k = kinds.get((o.code, o.name, o.unit)) or kind_of(o)
            if k[0] != key:
                continue
            day, at = day_texts.get(o.date) or day_of(o.date)
            if day is None:
                if first is None:
                    undated.append(o.value * k[1])
                else:
                    maybe = True
                continue
            if day > service or (first is not None and day < first):
                continue
            order = (day, at or _MIN_TIME)
            if best is None or order > best:
                best, best_value = order, o.value * k[1]
        if best is not None:
            return test(best_value)
        if undated and not maybe:
            verdicts = {test(v) for v in undated}
            return verdicts.pop() if len(verdicts) == 1 else None
        return None

    return observation


def bmi_leaf(c: BmiCondition, kb: Knowledge, slow: Evaluator) -> FastLeaf:
    """A BMI given, or computed from weight and height, decided here; a BMI only a Z68 code
    gives goes to the explaining evaluator."""
    families: set[str] = set()
    prefixes: list[str] = []
    for key in c.comorbidities:
        disease = kb.diseases[key]
        families |= disease.families
        prefixes += disease.prefixes
    starts = tuple(prefixes)
    alt = c.min_with_comorbidity
    lowest = c.min if alt is None else min(c.min, alt)
    days = c.within_days
    span = dt.timedelta(days=days) if days is not None else None
    kind_of = READINGS.kind
    kinds = READINGS.kinds
    day_of = READINGS.day
    day_texts = READINGS.days

    def bmi(r: Any) -> Status:
        obs = r.observations or ()
        service = r.date_of_service
        first = None if span is None else service - span
        # The latest of each (by day, the first of a day), as measures.bmi picks them.
        found: dict[str, tuple[float, dt.date]] = {}
        undated: dict[str, float] = {}
        for o in obs:
            k = kinds.get((o.code, o.name, o.unit)) or kind_of(o)
            key = k[0]
            if key != "bmi" and key != "body_weight" and key != "body_height":
                continue
            day = (day_texts.get(o.date) or day_of(o.date))[0]
            window = first if key != "body_height" else None
            if day is None:
                if window is None and key not in undated:
                    undated[key] = o.value * k[1]
                continue
            if day > service or (window is not None and day < window):
                continue
            have = found.get(key)
            if have is None or day > have[1]:
                found[key] = (o.value * k[1], day)
        value: float | None = None
        if "bmi" in found:
            value = found["bmi"][0]
        elif "bmi" in undated:
            value = undated["bmi"]
        else:
            w = found["body_weight"][0] if "body_weight" in found else undated.get("body_weight")
            h = found["body_height"][0] if "body_height" in found else undated.get("body_height")
            if w is not None and h is not None and h > 0:
                value = w / (h / 100) ** 2
        if value is None:
            return slow(Facts(r, kb), None)  # a Z68 code, or nothing: the explaining path says
        if value >= c.min:
            return True
        if value < lowest:
            return False
        if alt is None:
            return None
        dxs = r.diagnoses
        if dxs is None:
            return None
        for d in dxs:
            code = norm_code(d.code)
            if code[:3] in families or (starts and code.startswith(starts)):
                return True
        return False

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
