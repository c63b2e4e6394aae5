"""Units as people write them on lab reports and labels, read and converted by pint.

pint knows the SI and customary units; what it does not know is how clinicians write them
("kg/m2", "10*3/uL", "cells/uL", "%", "/month", "mcg", "units/mL"). ``unit_text`` rewrites those
spellings into pint's grammar, and everything else is pint's. Conversions between a mass and an
amount of substance (mg/dL and mmol/L) need the molar mass of what was measured, which is
knowledge (``knowledge/observations.yaml``), passed in by the caller.

A conversion factor depends only on the two units and the molar mass, so each distinct triple is
worked out by pint once and then applied as a multiplication: pint on every request would cost
more than the rest of a decision.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import Any, Literal, get_args

# Spellings of lab reports -> pint's grammar, applied in order.
_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"µ|μ"), "u"),
    (re.compile(r"\bmcg\b"), "ug"),
    (
        re.compile(r"\b(?:cells?|count|events?|score|points?|days?(?=\s*/))\b\s*", re.IGNORECASE),
        "",
    ),
    # Clinical labs write U and IU alike (ALT in U/L or IU/L; IgE in kU/L = IU/mL).
    (re.compile(r"\b(?:units|unit)\b"), "IU"),
    (re.compile(r"\b([kmu]?)U\b"), r"\1IU"),
    (re.compile(r"%"), "percent"),
    (re.compile(r"\bx\s*10\s*[\^*]\s*(\d+)", re.IGNORECASE), r"1e\1"),
    (re.compile(r"\b10\s*[\^*]{1,2}\s*(\d+)"), r"1e\1"),
    (re.compile(r"(?<![0-9]e)(?<=[A-Za-z])([23])\b"), r"**\1"),  # m2, m3; not 1e3
    (re.compile(r"/\s*1\.73\s*m\*\*2"), "/(1.73*m**2)"),  # eGFR per body surface
    (re.compile(r"\bper\b", re.IGNORECASE), "/"),
    (re.compile(r"\s*/\s*"), "/"),
)
_PLAIN = re.compile(r"^[A-Za-z0-9.*/()\s^+-]*$")
UNIT_LIMIT = 40


def unit_text(written: str) -> str:
    """A unit as written, in pint's grammar (``10*3/uL`` -> ``1e3/uL``, ``kg/m2`` ->
    ``kg/m**2``, ``/month`` -> ``1/month``)."""
    text = written.strip()
    for pattern, repl in _REWRITES:
        text = pattern.sub(repl, text)
    text = text.strip()
    if text.startswith("/"):
        text = "1" + text
    return text or "dimensionless"


@cache
def registry() -> Any:
    """pint's registry, built on first use (about a tenth of a second), with the international
    unit, which pint lacks: its own dimension, since an IU of one substance is no mass."""
    import pint

    ureg: Any = pint.UnitRegistry()
    ureg.define("international_unit = [international_unit] = IU")
    return ureg


@lru_cache(maxsize=4096)
def parse_unit(written: str) -> Any | None:
    """The unit as a pint quantity (a factor times a unit: ``10*3/uL`` is 1000 / microliter),
    or None when it cannot be read."""
    if len(written) > UNIT_LIMIT:
        return None
    text = unit_text(written)
    if not _PLAIN.match(text):
        return None
    ureg = registry()
    try:
        q = ureg.parse_expression(text)
    except Exception:  # pint raises several kinds for a bad unit (undefined, syntax, tokens)
        return None
    if not hasattr(q, "units"):  # a bare number ("1000")
        return ureg.Quantity(float(q), "dimensionless")
    return q


@lru_cache(maxsize=4096)
def factor(written: str, target: str, molar_mass: float | None = None) -> float | None:
    """What a value in ``written`` is multiplied by to be in ``target``; None when the units do
    not convert (with the molar mass in g/mol, mass and substance concentrations convert)."""
    source = parse_unit(written)
    goal = parse_unit(target)
    if source is None or goal is None:
        return None
    ureg = registry()
    candidates = [source]
    if molar_mass:
        mm = ureg.Quantity(molar_mass, "g/mol")
        candidates += [source / mm, source * mm]
    for q in candidates:
        try:
            return float((q / goal).to("dimensionless").magnitude)
        except Exception:  # pint's DimensionalityError: try the next reading
            continue
    return None


def convert(value: float, written: str, target: str, molar_mass: float | None = None) -> float:
    """``value`` in ``written`` expressed in ``target``; ValueError when they do not convert."""
    f = factor(written, target, molar_mass)
    if f is None:
        raise ValueError(f"{written!r} does not convert to {target!r}")
    return value * f


_STRENGTH = re.compile(
    r"^\s*(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>[A-Za-zµμ%]+)"
    r"(?:\s*(?:/|per)\s*(?P<per_amount>\d+(?:\.\d+)?)?\s*(?P<per_unit>[A-Za-z]+))?\s*$",
    re.IGNORECASE,
)


@lru_cache(maxsize=4096)
def strength_mg(written: str) -> float | bool:
    """A strength as a label writes it ("300 mg/2 mL", "2.4 mg/0.75 mL", "20.25 mg per
    actuation", "100 units/mL"): its amount in mg when it is a mass, True when it reads but is not
    a mass (units), False when it cannot be read."""
    m = _STRENGTH.match(written)
    if m is None:
        return False
    unit = m.group("unit")
    per = m.group("per_unit")
    if parse_unit(unit) is None:
        return False
    if per is not None and parse_unit(per) is None and per.lower() not in _FORM_WORDS:
        return False
    f = factor(unit, "mg")
    return float(m.group("amount")) * f if f is not None else True


# What ``medication.quantity`` counts.
Form = Literal[
    "tablet",
    "capsule",
    "pen",
    "syringe",
    "autoinjector",
    "vial",
    "cartridge",
    "actuation",
    "inhaler",
    "patch",
    "packet",
    "tube",
    "kit",
    "mL",
    "gram",
    "dose",
]
FORMS: tuple[str, ...] = get_args(Form)
_FORM_WORDS = frozenset(f.lower() for f in FORMS) | {"actuations", "spray", "puff", "dose", "each"}
