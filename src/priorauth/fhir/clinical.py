"""The facts of every therapeutic area, read from FHIR: the patient's sex, measurements and lab
results (Observation), a condition's severity, how long and at what dose a drug was tried before
(MedicationStatement), and the strength and form of the drug ordered.

Each reader returns request-contract values (dicts) and where in the client's resources each value
came from, so that a value the contract refuses (a unit that does not convert) is reported at the
element that holds it (`Bundle.entry[4].resource.valueQuantity.unit`), not at the resource.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from priorauth.fhir.outcome import FhirError
from priorauth.policy.observations import load_observations

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"

SEXES = frozenset({"female", "male", "other", "unknown"})

# Condition.severity (FHIR's condition-severity value set, SNOMED CT).
SNOMED_SEVERITY = {"255604002": "mild", "6736007": "moderate", "24484000": "severe"}
_SEVERITY_WORDS = re.compile(r"\b(mild|moderate|severe)\b")

# Results not (yet, or any more) to be relied on: no value of theirs is a fact.
_NOT_RESULTED = frozenset({"registered", "preliminary", "cancelled", "entered-in-error", "unknown"})

# UCUM's bracketed customary units as people write them; other UCUM codes ("kg/m2", "mg/dL",
# "10*3/uL", "%") are written the same way in both.
_UCUM_WORDS = {
    "[lb_av]": "lb",
    "[in_i]": "in",
    "[ft_i]": "ft",
    "[oz_av]": "oz",
    "[iU]/L": "IU/L",
    "[IU]/L": "IU/L",
    "[iU]/mL": "IU/mL",
    "[IU]/mL": "IU/mL",
    "/mo": "/month",
    "d/mo": "/month",
    "{days}/mo": "/month",
    "/(4.w)": "/month",
}

# Why a drug was stopped (MedicationStatement.statusReason), in the words EHRs and SNOMED CT's
# drug-therapy-status concepts use ("Drug not taken - side-effects", "Treatment not
# tolerated", "Medication ineffective").
_OUTCOME_WORDS = (
    (re.compile(r"contraindicat"), "contraindication"),
    (re.compile(r"side[- ]?effect|intoleran|not tolerated|adverse|allerg|toxicit"), "intolerance"),
    (
        re.compile(r"ineffective|not effective|inadequate|no (clinical )?response|failure|failed"),
        "failure",
    ),
)

# Dose forms as RxNorm names them (and Medication.form's SNOMED CT displays), to the contract's
# forms; the first that matches wins, so the specific devices come before the general words.
_FORM_WORDS = (
    (re.compile(r"auto[- ]?injector"), "autoinjector"),
    (re.compile(r"pen[- ]?injector|\bpens?\b|injection pen"), "pen"),
    (re.compile(r"syringe"), "syringe"),
    (re.compile(r"cartridge"), "cartridge"),
    (
        re.compile(r"\bvials?\b|injectable solution|injection solution|injectable suspension"),
        "vial",
    ),
    (re.compile(r"actuat|\bpuffs?\b|\bsprays?\b"), "actuation"),
    (re.compile(r"inhaler|inhalation"), "inhaler"),
    (re.compile(r"transdermal|\bpatch"), "patch"),
    (re.compile(r"capsule|\{capsule\}|\bcaps?\b"), "capsule"),
    (re.compile(r"tablet|\{tbl\}|\btabs?\b"), "tablet"),
    (re.compile(r"\bpackets?\b|sachet"), "packet"),
    (re.compile(r"\btubes?\b"), "tube"),
    (re.compile(r"\bkits?\b"), "kit"),
)
# The dispensed quantity's UCUM unit when it counts volume or mass, not devices.
_QUANTITY_UNITS = {"ml": "mL", "g": "gram"}
_STRENGTH = re.compile(
    r"(\d+(?:\.\d+)?)\s*(mg|mcg|g|unt|units?|iu)\b\s*(?:/\s*(\d+(?:\.\d+)?)?\s*(ml|actuat\w*))?",
    re.IGNORECASE,
)
_UNIT_WORDS = {
    "unt": "units",
    "unit": "units",
    "units": "units",
    "iu": "units",
    "actuat": "actuation",
}
_PER_DAY = {"h": 24, "d": 1, "wk": 1 / 7, "mo": 1 / 30}


@dataclass
class Found:
    """A request value and where its parts are in the client's resources."""

    value: dict[str, Any]
    source: str
    """`Type/id` of the resource it came from."""
    elements: dict[str, str]
    """The value's own fields (`unit`) -> the FHIRPath of the element that gave each."""


def _codings(concept: Any) -> list[dict[str, Any]]:
    return list((concept or {}).get("coding") or []) if isinstance(concept, dict) else []


def _words(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    parts = [str(concept.get("text") or "")]
    parts += [str(c.get("display") or "") for c in _codings(concept)]
    return " ".join(p for p in parts if p).lower()


# --- the patient -----------------------------------------------------------------------------


def member_sex(patient: dict[str, Any]) -> str | None:
    """Patient.gender (FHIR's administrative gender): the contract's values are the same four."""
    gender = patient.get("gender")
    return str(gender) if gender in SEXES else None


def severity(condition: dict[str, Any]) -> str | None:
    """Condition.severity: its SNOMED CT code, else the words of its text."""
    concept = condition.get("severity")
    for c in _codings(concept):
        if c.get("system") == SNOMED and c.get("code") in SNOMED_SEVERITY:
            return SNOMED_SEVERITY[str(c["code"])]
    words = set(_SEVERITY_WORDS.findall(_words(concept)))
    # "Moderate to severe" names two: the chart does not settle which, so it stays unknown.
    return words.pop() if len(words) == 1 else None


# --- observations ----------------------------------------------------------------------------


def loinc_code(concept: Any) -> str | None:
    for c in _codings(concept):
        if c.get("system") == LOINC and c.get("code"):
            return str(c["code"])
    return None


def observation_name(concept: Any) -> str:
    """The observation's words: its text, else its LOINC display, else any display."""
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"]).strip()
    displays = [c for c in _codings(concept) if c.get("display")]
    loinc = [c for c in displays if c.get("system") == LOINC]
    return str((loinc or displays or [{"display": ""}])[0]["display"]).strip()


def unit_of(quantity: dict[str, Any]) -> str | None:
    """The unit as the contract reads it: the UCUM code when the quantity is coded in UCUM
    (bracketed customary units in their everyday spelling), else the human-readable unit."""
    code = quantity.get("code")
    if code and quantity.get("system") in (UCUM, None):
        return _UCUM_WORDS.get(str(code), str(code))
    unit = quantity.get("unit")
    return str(unit).strip() if unit else (str(code) if code else None)


def when_measured(res: dict[str, Any], path: str) -> tuple[str | None, str | None]:
    """(the date or date-time the value holds for, the element that says it). A date-time keeps
    its time of day as written: a criterion may ask for a morning value."""
    period = res.get("effectivePeriod")
    candidates = [
        ("effectiveDateTime", res.get("effectiveDateTime")),
        ("effectiveInstant", res.get("effectiveInstant")),
        ("effectivePeriod.end", period.get("end") if isinstance(period, dict) else None),
        ("effectivePeriod.start", period.get("start") if isinstance(period, dict) else None),
        ("issued", res.get("issued")),
    ]
    for element, text in candidates:
        if isinstance(text, str) and len(text) >= 10:
            return (text if "T" in text else text[:10]), f"{path}.{element}"
    return None, None


def value_parts(
    part: dict[str, Any], path: str
) -> tuple[float | None, str | None, dict[str, str]] | None:
    """(value, unit, elements) of a numeric value[x], or None when the part has no value[x]."""
    q = part.get("valueQuantity")
    if isinstance(q, dict):
        elements = {"value": f"{path}.valueQuantity.value", "unit": f"{path}.valueQuantity.unit"}
        value = q.get("value")
        return (float(value) if value is not None else None), unit_of(q), elements
    if "valueInteger" in part:
        return float(part["valueInteger"]), None, {"value": f"{path}.valueInteger"}
    return None


def observations_of(entry_key: str, res: dict[str, Any], path: str) -> Iterator[Found]:
    """The numeric results of an Observation (itself, and each LOINC-coded component): code,
    name, value, unit, date. An Observation whose status says it is not a result, or whose
    value the chart says is absent (dataAbsentReason), gives nothing: it stays unknown."""
    if res.get("status") in _NOT_RESULTED:
        return
    date, date_at = when_measured(res, path)
    parts = [(res, path)] + [
        (c, f"{path}.component[{i}]")
        for i, c in enumerate(res.get("component") or [])
        if isinstance(c, dict)
    ]
    for part, at in parts:
        if part.get("dataAbsentReason"):
            continue
        named = known_observation(loinc_code(part.get("code")), observation_name(part.get("code")))
        if named is None:
            continue
        code, name = named
        read = value_parts(part, at)
        if read is None:
            continue
        value, unit, elements = read
        if value is None:
            raise FhirError(
                f"{entry_key}: the Observation's valueQuantity has no value (send the value, or "
                "a dataAbsentReason when there is none)",
                elements["value"],
                code="required",
            )
        out: dict[str, Any] = {"value": value}
        if code:
            out["code"] = code
        if name:
            out["name"] = name
        if unit:
            out["unit"] = unit
        if date:
            out["date"] = date
            elements["date"] = str(date_at)
        elements.setdefault("code", f"{at}.code")
        elements.setdefault("name", f"{at}.code")
        yield Found(out, entry_key, elements)


def known_observation(code: str | None, name: str) -> tuple[str | None, str] | None:
    """(code, name) of an observation the knowledge tables know, by its LOINC code or its name;
    None for any other (a chart holds many results no criterion asks about, some in units no
    table reads: they are not sent). A name that the tables give to another observation than
    the code's is the EHR's wording, not a second fact: the code decides."""
    table = load_observations()
    by_code = table.find(code, None) if code else None
    by_name = table.find(None, name) if name else None
    if by_code is None and by_name is None:
        return None
    if by_code is not None and by_name is not None and by_name.key != by_code.key:
        return code, by_code.name
    return code, name or (by_code.name if by_code else "")


def has_numeric_value(res: dict[str, Any]) -> bool:
    """Whether an Observation (or a component) carries a number: a measurement, not a finding."""
    parts = [res, *(c for c in res.get("component") or [] if isinstance(c, dict))]
    return any("valueQuantity" in p or "valueInteger" in p for p in parts)


# --- the drugs -------------------------------------------------------------------------------


def _day(text: Any) -> dt.date | None:
    if not isinstance(text, str) or len(text) < 10:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def stop_outcome(res: dict[str, Any]) -> str | None:
    """How a trial ended, from the statement's reason for stopping (statusReason)."""
    reasons = res.get("statusReason") or []
    words = " ".join(_words(r) for r in reasons if isinstance(r, dict))
    for pattern, outcome in _OUTCOME_WORDS:
        if pattern.search(words):
            return outcome
    return None


def daily_dose_mg(res: dict[str, Any]) -> float | None:
    """mg a day from the first dosage with a dose in mg (dose x frequency per period)."""
    for dosage in res.get("dosage") or res.get("dosageInstruction") or []:
        repeat = (dosage.get("timing") or {}).get("repeat") or {}
        per_day = _PER_DAY.get(str(repeat.get("periodUnit") or "d"))
        for rate in dosage.get("doseAndRate") or []:
            dose = rate.get("doseQuantity") or {}
            unit = str(dose.get("code") or dose.get("unit") or "").lower()
            if dose.get("value") is None or unit != "mg" or per_day is None:
                continue
            freq = float(repeat.get("frequency") or 1)
            period = float(repeat.get("period") or 1)
            return round(float(dose["value"]) * freq / period * per_day, 4)
    return None


def trial_of(entry_key: str, res: dict[str, Any], drug: str, path: str) -> Found:
    """A drug taken before as a step-therapy trial: its dates, days and daily dose, and how it
    ended when the statement says why it was stopped."""
    out: dict[str, Any] = {"drug": drug}
    elements: dict[str, str] = {}
    outcome = stop_outcome(res)
    if outcome:
        out["outcome"] = outcome
        elements["outcome"] = f"{path}.statusReason"
    period = res.get("effectivePeriod")
    if not isinstance(period, dict):
        period = {}
    start, end = _day(period.get("start")), _day(period.get("end"))
    if start:
        out["start"] = start.isoformat()
        elements["start"] = f"{path}.effectivePeriod.start"
    if end:
        out["end"] = end.isoformat()
        elements["end"] = f"{path}.effectivePeriod.end"
    if start and end and end >= start:
        out["days"] = (end - start).days
        elements["days"] = f"{path}.effectivePeriod"
    dose = daily_dose_mg(res)
    if dose:
        out["daily_dose_mg"] = dose
        elements["daily_dose_mg"] = f"{path}.dosage"
    return Found(out, entry_key, elements)


def _unit_word(unit: str) -> str:
    low = unit.lower()
    if low.startswith("actuat"):
        return "actuation"
    return _UNIT_WORDS.get(low, "mL" if low == "ml" else low)


def _number(value: float) -> str:
    return f"{value:g}"


def strength_text(concept: dict[str, Any], medication: dict[str, Any] | None) -> str | None:
    """The strength as people write it ("2.4 mg/0.75 mL", "100 units/mL"): a Medication's
    ingredient strength (a Ratio), else the first strength in the drug's words."""
    for ing in (medication or {}).get("ingredient") or []:
        s = ing.get("strength") or {}
        num, den = s.get("numerator") or {}, s.get("denominator") or {}
        if num.get("value") is None:
            continue
        unit = str(num.get("unit") or num.get("code") or "mg")
        text = f"{_number(float(num['value']))} {_unit_word(unit)}"
        den_unit = str(den.get("unit") or den.get("code") or "")
        if den_unit and den_unit.lower() not in ("1", "{tbl}", "tablet", "capsule"):
            amount = float(den.get("value") or 1)
            text += "/" + ("" if amount == 1 else f"{_number(amount)} ") + _unit_word(den_unit)
        return text
    for text in [concept.get("text", "")] + [c.get("display", "") for c in _codings(concept)]:
        m = _STRENGTH.search(str(text or ""))
        if m:
            said = f"{m.group(1)} {_unit_word(m.group(2))}"
            if m.group(4):
                said += "/" + (f"{m.group(3)} " if m.group(3) else "") + _unit_word(m.group(4))
            return said
    return None


def dose_form(
    concept: dict[str, Any], medication: dict[str, Any] | None, order: dict[str, Any]
) -> str | None:
    """The form the quantity counts (tablet, pen, vial, actuation, mL...): the unit of the
    dispensed quantity when it names one (it is what the quantity counts), else the Medication's
    form, else the words of the drug's name, else the unit of a dose."""
    quantity = (order.get("dispenseRequest") or {}).get("quantity") or {}
    unit = str(quantity.get("code") or quantity.get("unit") or "").strip()
    if unit.lower() in _QUANTITY_UNITS:
        return _QUANTITY_UNITS[unit.lower()]
    texts = [str(quantity.get("unit") or "").lower()]
    texts += [_words((medication or {}).get("form")), _words(concept)]
    # Last, the unit of a dose ("1 pen every 4 weeks").
    texts += [
        str((rate.get("doseQuantity") or {}).get("unit") or "").lower()
        for dosage in order.get("dosageInstruction") or []
        for rate in dosage.get("doseAndRate") or []
    ]
    for text in texts:
        for pattern, form in _FORM_WORDS:
            if text and pattern.search(text):
                return form
    return None
