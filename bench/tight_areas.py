"""The three policies of bench/areas/policies.yaml hand-written as tightly as we can: the bar
for the mixed workload of bench/bench_areas.py.

What a careful programmer writes for these three policies, for speed, on a request validated by
the engine's fast validator (msgspec Structs; observation dates are their text): three-valued
logic inlined, each group stopped at its first settling criterion, units and dates read through
dicts keyed by the spellings seen (the conversion factors and molar masses written in), plain
date arithmetic, nothing built but the answer (decision, denial basis, authorization as start,
end and daily mg). It knows only the workload's vocabulary and explains nothing.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

ONE_DAY = timedelta(days=1)
YEAR = timedelta(days=365)
LDL_WINDOW = timedelta(days=90)
NOON = time(12, 0)

# (code, name, unit) as the workload writes them -> (what, factor to the policy's unit)
SPELLINGS: dict[tuple[Any, Any, Any], tuple[str, float]] = {
    (None, "BMI", "kg/m2"): ("bmi", 1.0),
    (None, "body mass index", "kg/m2"): ("bmi", 1.0),
    (None, "body weight", "kg"): ("weight", 1.0),
    (None, "height", "cm"): ("height", 1.0),
    ("29463-7", None, "lb"): ("weight", 0.45359237),
    ("8302-2", None, "in"): ("height", 2.54),
    (None, "LDL-C", "mg/dL"): ("ldl", 1.0),
    (None, "LDL cholesterol", "mg/dL"): ("ldl", 1.0),
    ("13457-7", None, "mmol/L"): ("ldl", 38.665),  # cholesterol, 386.65 g/mol
    (None, "HDL-C", "mg/dL"): ("hdl", 1.0),
    (None, "total testosterone", "ng/dL"): ("t", 1.0),
    ("2986-8", None, "nmol/L"): ("t", 28.842),  # testosterone, 288.42 g/mol
}
_days: dict[str, tuple[date, datetime | None]] = {}


def _when(text: str) -> tuple[date, datetime | None]:
    got = _days.get(text)
    if got is None:
        if len(text) == 10:
            got = (date.fromisoformat(text), None)
        else:
            at = datetime.fromisoformat(text)
            got = (at.date(), at)
        _days[text] = got
    return got


OBESITY_COMORBID = ("E11", "I10", "I11", "I12", "I13", "I14", "I15", "I16", "E78", "G4733")
Z68 = {  # the workload's BMI codes: (lowest, highest) BMI they state
    "Z68.25": (25.0, 25.99),
    "Z68.27": (27.0, 27.99),
    "Z68.29": (29.0, 29.99),
    "Z68.30": (30.0, 30.99),
    "Z68.35": (35.0, 35.99),
    "Z68.41": (40.0, 44.99),
}
GLP1 = frozenset({"Mounjaro", "Trulicity", "Ozempic", "Victoza", "Zepbound"})
SEMAGLUTIDE = frozenset({"Wegovy", "Ozempic", "semaglutide"})
KNOWN_OTHER = frozenset({"metformin", "lisinopril", "ezetimibe", "Zetia", "aspirin"})
ASCVD = ("I20", "I21", "I22", "I23", "I24", "I25", "I63", "I70", "I739")
FH = ("E7801",)
HIGH_STATIN = {"atorvastatin": 40, "Lipitor": 40, "rosuvastatin": 20, "Crestor": 20}
STATINS = frozenset({*HIGH_STATIN, "simvastatin"})
PCSK9 = frozenset({"Praluent"})
HYPOGONADISM = ("E291", "E230", "E895")
TESTOSTERONE = frozenset({"AndroGel"})
KNOWN_T = frozenset({"metformin", "Xyosted"})


def _age(b: date, dos: date) -> int:
    day = 28 if b.month == 2 and b.day == 29 and not calendar.isleap(dos.year) else b.day
    return dos.year - b.year - ((dos.month, dos.day) < (b.month, day))


_codes: dict[str, str] = {}


def _code(d: Any) -> str:
    """The code without its dot, upper-cased, once per spelling seen."""
    written = d.code
    got = _codes.get(written)
    if got is None:
        got = _codes[written] = written.replace(".", "").upper()
    return got


def _none_of(therapies: Sequence[Any] | None, banned: frozenset[str], known: frozenset[str]) -> Any:
    if therapies is None:
        return None
    unknown = False
    for t in therapies:
        name = t.drug
        if name in banned:
            return False
        if name not in known:
            unknown = True
    return None if unknown else True


def _bmi_value(req: Any, dos: date, window: bool) -> tuple[float, float] | None:
    first = dos - YEAR if window else None
    latest: dict[str, tuple[float, date]] = {}
    for o in req.observations or ():
        what, f = SPELLINGS[(o.code, o.name, o.unit)]
        if what == "hdl" or what == "ldl" or what == "t":
            continue
        day = _when(o.date)[0] if o.date is not None else None
        if day is None:
            if (first is None or what == "height") and what not in latest:
                latest[what] = (o.value * f, date.min)
            continue
        if day > dos or (first is not None and what != "height" and day < first):
            continue
        have = latest.get(what)
        if have is None or day > have[1]:
            latest[what] = (o.value * f, day)
    if "bmi" in latest:
        v = latest["bmi"][0]
        return (v, v)
    if "weight" in latest and "height" in latest and latest["height"][0] > 0:
        v = latest["weight"][0] / (latest["height"][0] / 100) ** 2
        return (v, v)
    for d in req.diagnoses or ():
        got = Z68.get(d.code)
        if got is not None:
            return got
    return None


def _bmi(req: Any, dos: date, adult: bool) -> bool | None:
    got = _bmi_value(req, dos, adult)
    if got is None:
        return None
    low, high = got
    if low >= 30:
        return True
    if not adult:
        return False if high < 30 else None
    if high < 27:
        return False
    if low < 27:
        return None
    dxs = req.diagnoses
    if dxs is None:
        return None
    for d in dxs:
        if (_codes.get(d.code) or _code(d)).startswith(OBESITY_COMORBID):
            return True
    return None if high >= 30 else False


def _wegovy(req: Any, dos: date, age: int) -> bool | None:
    unknown = False
    if age >= 18:
        pop = _bmi(req, dos, True)
    elif age >= 12:
        pop = _bmi(req, dos, False)
    else:
        return False
    if pop is False:
        return False
    unknown = pop is None
    s = _none_of(req.concurrent_therapies, GLP1, KNOWN_OTHER | SEMAGLUTIDE)
    if s is False:
        return False
    unknown = unknown or s is None
    m = req.medication
    if m.strength_mg * m.quantity / m.days_supply * 7 > 2.4 + 1e-9:
        return False
    return None if unknown else True


def _repatha_dx(dxs: Sequence[Any] | None) -> tuple[bool | None, bool | None]:
    if dxs is None:
        return None, None
    ascvd = fh = False
    for d in dxs:
        code = _codes.get(d.code) or _code(d)
        if code.startswith(ASCVD):
            ascvd = True
        elif code.startswith(FH):
            fh = True
    return ascvd, fh


def _ldl(obs: Sequence[Any] | None, dos: date) -> bool | None:
    if obs is None:
        return None
    first = dos - LDL_WINDOW
    best: tuple[date, datetime] | None = None
    value = 0.0
    for o in obs:
        what, f = SPELLINGS[(o.code, o.name, o.unit)]
        if what != "ldl":
            continue
        day, at = _when(o.date)
        if day > dos or day < first:
            continue
        order = (day, at or datetime.min)
        if best is None or order > best:
            best, value = order, o.value * f
    return None if best is None else value >= 70


def _statin(trials: Sequence[Any] | None) -> bool | None:
    if trials is None:
        return None
    maybe = False
    for t in trials:
        name = t.drug
        if name not in STATINS:
            if t.outcome in ("failure", "intolerance"):
                maybe = True  # not a drug this rule knows: it might be one
            continue
        least = HIGH_STATIN.get(name)
        if least is None or t.outcome not in ("failure", "intolerance"):
            continue
        long_enough: bool | None = True
        if t.outcome == "failure":
            days = t.days
            if days is None and t.start is not None and t.end is not None:
                days = (t.end - t.start).days + 1
            if days is None:
                long_enough = None
            elif days < 56:
                continue
        dose = t.daily_dose_mg
        if dose is None:
            maybe = True
        elif dose >= least:
            if long_enough:
                return True
            maybe = True
    return None if maybe else False


def _repatha(req: Any, dos: date, age: int) -> tuple[bool | None, bool]:
    """The status, and whether a denial is investigational (no listed diagnosis)."""
    ascvd, fh = _repatha_dx(req.diagnoses)
    investigational = ascvd is False and fh is False
    if age < 18:
        return False, investigational
    ind = True if ascvd or fh else (None if ascvd is None or fh is None else False)
    if ind is False:
        return False, investigational
    unknown = ind is None
    for s in (
        _ldl(req.observations, dos),
        _statin(req.step_therapy),
        _none_of(req.concurrent_therapies, PCSK9, KNOWN_OTHER | {"Repatha"}),
    ):
        if s is False:
            return False, investigational
        unknown = unknown or s is None
    return (None if unknown else True), investigational


def _low_t(obs: Sequence[Any] | None, dos: date) -> bool | None:
    if obs is None:
        return None
    met: set[date] = set()
    measured: set[date] = set()
    maybe = False
    for o in obs:
        what, f = SPELLINGS[(o.code, o.name, o.unit)]
        if what != "t":
            continue
        day, at = _when(o.date)
        if day > dos:
            continue
        if at is None:
            maybe = True
            continue
        if at.time() >= NOON:
            continue
        measured.add(day)
        if o.value * f < 300:
            met.add(day)
    if len(met) >= 2:
        return True
    if maybe:
        return None
    return False if len(measured) >= 2 else None


def _xyosted(req: Any, dos: date, age: int) -> tuple[bool | None, bool]:
    dxs = req.diagnoses
    dx = None if dxs is None else any(_code(d).startswith(HYPOGONADISM) for d in dxs)
    sex = req.member.sex
    s: bool | None = None if sex is None or sex == "unknown" else sex == "male"
    if s is False or age < 18 or dx is False:
        return False, dx is False
    unknown = s is None or dx is None
    for st in (
        _low_t(req.observations, dos),
        _none_of(req.concurrent_therapies, TESTOSTERONE, KNOWN_T),
    ):
        if st is False:
            return False, False
        unknown = unknown or st is None
    return (None if unknown else True), False


def _end(start: date, months: int) -> date:
    y, m = divmod(start.month - 1 + months, 12)
    year, month = start.year + y, m + 1
    last = calendar.monthrange(year, month)[1]
    if start.day <= last:
        return date(year, month, start.day) - ONE_DAY
    return date(year, month, last)


def decide(req: Any) -> tuple[str, str | None, tuple[date, date, float] | None]:
    dos = req.date_of_service
    name = req.medication.name
    investigational = False
    if req.kind == "renewal":
        ds = req.disease_status
        status = None if ds is None else ds.clinical_response
        months = 12
    else:
        age = _age(req.member.birth_date, dos)
        if name == "Wegovy":
            status = _wegovy(req, dos, age)
            months = 6
        elif name == "Repatha":
            status, investigational = _repatha(req, dos, age)
            months = 12
        else:
            status, investigational = _xyosted(req, dos, age)
            months = 6
    if status is None:
        return ("pended", None, None)
    if status is False:
        return ("denied", "investigational" if investigational else "criteria_not_met", None)
    m = req.medication
    daily = m.strength_mg * m.quantity / m.days_supply
    shown = int(daily) if float(daily).is_integer() else round(daily, 3)
    return ("approved", None, (dos, _end(dos, months), shown))
