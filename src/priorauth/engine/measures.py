"""Conditions on measurements and on the member: observations (labs, vital signs, scores,
counts), BMI, sex, age in years or months within bounds, and dose limits per week or per kg.

Each follows the rule of the rest of the engine: what the request does not settle is unknown (a
question), never a guess. A value outside the time window asked for, a morning value without a
time, a BMI without a measurement: unknown, and the pend asks for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from dateutil.relativedelta import relativedelta

from priorauth.engine.facts import Fact, Facts
from priorauth.engine.logic import Status
from priorauth.engine.observed import Obs
from priorauth.policy.model import (
    AgeCondition,
    BmiCondition,
    DoseLimitCondition,
    ObservationCondition,
    SexCondition,
)
from priorauth.policy.observations import ObservationKind, ObservationTable, load_observations
from priorauth.policy.tables import Knowledge, bmi_range, norm_code
from priorauth.policy.units import factor

Notes = list[Fact] | None
Evaluator = Callable[[Facts, Notes], Status]

# "In the morning": measured before noon (testosterone is drawn between 7 and 10 a.m.; policies
# say "morning" and no more).
NOON = dt.time(12, 0)


def _compare(op: str, low: float, high: float | None) -> Callable[[float], bool]:
    if op == ">=":
        return lambda v: v >= low
    if op == ">":
        return lambda v: v > low
    if op == "<=":
        return lambda v: v <= low
    if op == "<":
        return lambda v: v < low
    assert high is not None
    return lambda v: low <= v <= high


def _in_window(o: Obs, service: dt.date, days: int | None) -> Status:
    """Measured within ``days`` days up to the date of service (both ends included)."""
    if days is None:
        return o.day is None or o.day <= service
    if o.day is None:
        return None
    return service - dt.timedelta(days=days) <= o.day <= service


def _shown(kind: ObservationKind, value: float) -> str:
    return f"{round(value, 3):g} {kind.unit}".strip()


def comparison(c: ObservationCondition, table: ObservationTable) -> Callable[[float], bool]:
    """The criterion's comparison on a value in the observation's unit (the criterion's own
    unit converted once; a change in percent has no unit)."""
    key = table.key_of(c.observation)
    if key is None:
        raise ValueError(f"observation: {c.observation!r} is not in the observations table")
    kind = table.kind(key)
    scale = 1.0
    if c.unit is not None and c.change != "percent":
        got = factor(c.unit, kind.unit, kind.molar_mass)
        if got is None:
            raise ValueError(f"unit: {c.unit!r} does not convert to {kind.unit} ({kind.name})")
        scale = got
    return _compare(c.op, c.value * scale, None if c.upper is None else c.upper * scale)


def observation(c: ObservationCondition) -> Evaluator:
    table = load_observations()
    test = comparison(c, table)
    key = table.key_of(c.observation)
    kind = table.kind(key or "")
    days, count, morning, change = c.within_days, c.count, c.morning, c.change

    def observation(f: Facts, notes: Notes) -> Status:
        obs = f.observations
        if obs is None:
            if notes is not None:
                notes.append(Fact(kind.name, "not given", "observations"))
            return None
        service = f.request.date_of_service
        mine = [o for o in obs if o.key == key]
        if notes is not None:
            for o in mine:
                when = o.at.isoformat(timespec="minutes") if o.at else o.day or "date not given"
                notes.append(
                    Fact(kind.name, f"{_shown(kind, o.value)} on {when}", f"observations[{o.pos}]")
                )
            if not mine:
                notes.append(Fact(kind.name, "not among the observations", "observations"))
        if change is not None:
            return _change(mine, service, days, test, change)
        # Values that count, and values that might (no date for a window, no time for morning).
        sure: list[Obs] = []
        maybe: list[Obs] = []
        for o in mine:
            inside = _in_window(o, service, days)
            if morning and inside is not False:
                inside = None if o.at is None else (inside if o.at.time() < NOON else False)
            if inside:
                sure.append(o)
            elif inside is None:
                maybe.append(o)
        if count == 1:
            dated = [o for o in sure if o.day is not None]
            if dated:
                return test(max(dated, key=lambda o: (o.day, o.at or dt.datetime.min)).value)
            if sure and not maybe:
                verdicts = {test(o.value) for o in sure}
                return verdicts.pop() if len(verdicts) == 1 else None
            return None
        met_days = {o.day for o in sure if o.day is not None and test(o.value)}
        if len(met_days) >= count:
            return True
        if maybe or any(o.day is None for o in sure):
            return None
        # Enough days measured and too few of them meet it: settled. Fewer days measured than
        # asked for: the values still missing are the question.
        return False if len({o.day for o in sure}) >= count else None

    return observation


def _change(
    mine: list[Obs], service: dt.date, days: int | None, test: Callable[[float], bool], how: str
) -> Status:
    """The change from the earliest dated value (the baseline) to the latest, which must fall
    in the window when one is asked for."""
    dated = sorted(
        (o for o in mine if o.day is not None and o.day <= service),
        key=lambda o: (o.day, o.at or dt.datetime.min),
    )
    if len(dated) < 2:
        return None
    first, last = dated[0], dated[-1]
    if not _in_window(last, service, days):
        return None
    if how == "absolute":
        return test(last.value - first.value)
    if first.value == 0:
        return None
    return test((last.value - first.value) / first.value * 100)


def bmi(c: BmiCondition, kb: Knowledge) -> Evaluator:
    weight, height, bmi_key = "body_weight", "body_height", "bmi"
    alt = c.min_with_comorbidity
    families: set[str] = set()
    prefixes: list[str] = []
    for key in c.comorbidities:
        disease = kb.diseases[key]
        families |= disease.families
        prefixes += disease.prefixes
    lowest = c.min if alt is None else min(c.min, alt)
    days = c.within_days

    def value(f: Facts, notes: Notes) -> tuple[float | None, float | None]:
        """The BMI, or the range a Z68 code gives it."""
        obs = f.observations or []
        service = f.request.date_of_service

        def latest(key: str, window: int | None) -> Obs | None:
            found = [o for o in obs if o.key == key and _in_window(o, service, window)]
            dated = [o for o in found if o.day is not None]
            pool = dated or found
            return max(pool, key=lambda o: o.day or dt.date.min) if pool else None

        given = latest(bmi_key, days)
        if given is not None:
            if notes is not None:
                notes.append(
                    Fact(
                        "BMI",
                        f"{round(given.value, 1):g} kg/m2 on {given.day or 'date not given'}",
                        f"observations[{given.pos}]",
                    )
                )
            return given.value, given.value
        w, h = latest(weight, days), latest(height, None)
        if w is not None and h is not None and h.value > 0:
            computed = w.value / (h.value / 100) ** 2
            if notes is not None:
                notes.append(
                    Fact(
                        "BMI (from weight and height)",
                        round(computed, 1),
                        f"observations[{w.pos}], observations[{h.pos}]",
                    )
                )
            return computed, computed
        for d in f.request.diagnoses or ():
            got = bmi_range(d.code)
            if got is not None:
                if notes is not None:
                    notes.append(
                        Fact("BMI (from the code)", f"{got[0]:g} or more", "diagnoses[].code")
                    )
                return got
        if notes is not None:
            notes.append(Fact("BMI", "not given (nor weight and height)", "observations"))
        return None, None

    def comorbid(f: Facts, notes: Notes) -> Status:
        dxs = f.diagnoses
        if dxs is None:
            if notes is not None:
                notes.append(Fact("weight-related comorbidity", "diagnoses not given", "diagnoses"))
            return None
        for d in dxs:
            if d.family in families or (prefixes and norm_code(d.code).startswith(tuple(prefixes))):
                if notes is not None:
                    notes.append(
                        Fact("weight-related comorbidity", d.code, f"diagnoses[{d.pos}].code")
                    )
                return True
        if notes is not None:
            notes.append(
                Fact("weight-related comorbidity", "none among the diagnoses", "diagnoses")
            )
        return False

    def bmi(f: Facts, notes: Notes) -> Status:
        low, high = value(f, notes)
        if low is None or high is None:
            return None
        if low >= c.min:
            return True
        if high < lowest:
            return False
        if alt is None or low < alt:
            return None  # a Z68 range across the threshold
        has = comorbid(f, notes)
        if has is False and high >= c.min:
            return None  # a Z68 range that may still reach ``min``
        return has

    return bmi


def sex(c: SexCondition) -> Evaluator:
    wanted = frozenset(c.sexes)

    def sex(f: Facts, notes: Notes) -> Status:
        given = f.request.member.sex
        if notes is not None:
            notes.append(Fact("sex", given or "not given", "member.sex"))
        if given is None or given == "unknown":
            return None
        return given in wanted

    return sex


def age_in_months(birth: dt.date, on: dt.date) -> int:
    """Completed months, as relativedelta counts them."""
    d = relativedelta(on, birth)
    return d.years * 12 + d.months


def age(c: AgeCondition) -> Evaluator:
    def age(f: Facts, notes: Notes) -> Status:
        r = f.request
        years = f.age_years
        months = age_in_months(r.member.birth_date, r.date_of_service)
        if notes is not None:
            notes.append(Fact("age_years", years, "member.birth_date, date_of_service"))
            if c.min_months is not None or c.max_months is not None:
                notes.append(Fact("age_months", months, "member.birth_date, date_of_service"))
        ok = years >= c.min_years
        if c.max_years is not None:
            ok = ok and years <= c.max_years
        if c.min_months is not None:
            ok = ok and months >= c.min_months
        if c.max_months is not None:
            ok = ok and months <= c.max_months
        return ok

    return age


def dose_limit(c: DoseLimitCondition) -> Evaluator:
    per_kg = c.max_mg_per_kg_per_day is not None or c.max_mg_per_kg_per_week is not None

    def dose_limit(f: Facts, notes: Notes) -> Status:
        m = f.request.medication
        daily = m.strength_mg * m.quantity / m.days_supply
        if notes is not None:
            notes.append(Fact("requested mg per day", round(daily, 3), "medication"))
        verdict: Status = True
        if c.max_mg_per_day is not None and daily > c.max_mg_per_day + 1e-9:
            return False
        if c.max_mg_per_week is not None and daily * 7 > c.max_mg_per_week + 1e-9:
            return False
        if per_kg:
            weights = [o for o in f.observations or () if o.key == "body_weight"]
            if not weights:
                if notes is not None:
                    notes.append(Fact("body weight", "not given", "observations"))
                return None
            w = max(weights, key=lambda o: o.day or dt.date.min)
            if notes is not None:
                notes.append(
                    Fact("body weight", f"{round(w.value, 1):g} kg", f"observations[{w.pos}]")
                )
            if w.value <= 0:
                return None
            per_day = daily / w.value
            if c.max_mg_per_kg_per_day is not None and per_day > c.max_mg_per_kg_per_day + 1e-9:
                verdict = False
            if c.max_mg_per_kg_per_week is not None and per_day * 7 > (
                c.max_mg_per_kg_per_week + 1e-9
            ):
                verdict = False
        return verdict

    return dose_limit
