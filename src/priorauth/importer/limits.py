"""The limits sections: quantity (per day, per N days, per strength), duration, pre-PA allowance."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from priorauth.importer.document import Line

_QTY = re.compile(
    r"(?P<amount>\d[\d,]*(?:\.\d+)?)\s*(?P<unit>mg|milligrams?|tablets?|capsules?|caps?|tabs?)\s*"
    r"(?:per|/|every|a|each)\s*(?:(?P<days>\d+)\s*)?(?P<span>days?|weeks?|months?)",
    re.I,
)
_STRENGTH_ROW = re.compile(
    r"^\|?\s*(?P<strength>\d+(?:\.\d+)?)\s*mg\s*(?:tablets?|capsules?)?\s*\|?\s*(?P<rest>.+?)\s*\|?\s*$",
    re.I,
)
_DURATION = re.compile(r"(?P<n>\d+)\s*(?P<unit>months?|weeks?|years?|days?)", re.I)
_UNITS = {
    "mg": "mg",
    "milligram": "mg",
    "tablet": "tablets",
    "tab": "tablets",
    "capsule": "capsules",
    "cap": "capsules",
}


@dataclass
class ParsedLimits:
    quantity: dict[str, Any] | None = None
    quantity_by_strength: list[dict[str, Any]] = field(default_factory=list)
    duration: dict[str, Any] | None = None
    same_as_above: bool = False
    quantity_same: bool = False
    text: str | None = None
    placed: list[Line] = field(default_factory=list)
    unplaced: list[Line] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def quantity(text: str) -> dict[str, Any] | None:
    m = _QTY.search(text)
    if not m:
        return None
    unit = _UNITS[m.group("unit").lower().rstrip("s")]
    days = int(m.group("days") or 1)
    span = m.group("span").lower()
    if span.startswith("week"):
        days *= 7
    elif span.startswith("month"):
        days *= 30
    return {
        "amount": float(m.group("amount").replace(",", "")),
        "unit": unit,
        "per_days": days,
        "text": text.strip(),
    }


def duration(text: str) -> dict[str, Any] | None:
    m = _DURATION.search(text)
    if not m:
        return None
    n = int(m.group("n"))
    unit = m.group("unit").lower()
    months = n * 12 if unit.startswith("year") else n if unit.startswith("month") else None
    if months is None:
        return None
    return {"months": months, "text": text.strip()}


def parse_limits(lines: list[Line]) -> ParsedLimits:
    out = ParsedLimits()
    in_quantity = False
    for line in lines:
        text = line.text.strip()
        if not text:
            continue
        low = text.lower()
        if re.fullmatch(r"same as above\.?", low):
            out.same_as_above = True
            out.text = text.rstrip(".")
            out.placed.append(line)
            continue
        if low.startswith("quantity"):
            body = text[len("quantity") :].strip(" :")
            in_quantity = True
            if not body:
                out.placed.append(line)
                continue
            if re.fullmatch(r"same as above\.?", body, re.I):
                out.quantity_same = True
                out.placed.append(line)
                continue
            q = quantity(body)
            if q is None:
                out.warnings.append(f"{line.where}: a quantity limit without a unit: {body!r}")
                out.unplaced.append(line)
            else:
                out.quantity = q
                out.placed.append(line)
            continue
        if low.startswith("duration"):
            in_quantity = False
            body = text[len("duration") :].strip(" :")
            d = duration(body)
            if d is None:
                out.warnings.append(f"{line.where}: a duration without a unit: {body!r}")
                out.unplaced.append(line)
            else:
                out.duration = d
                out.placed.append(line)
            continue
        if in_quantity:
            if re.fullmatch(r"\|?[\s|:-]+\|?", text) or re.search(r"strength", low):
                out.placed.append(line)  # table rule or header row
                continue
            row = _STRENGTH_ROW.match(text)
            q = quantity(row.group("rest")) if row else None
            if row and q:
                q["strength_mg"] = float(row.group("strength"))
                said = _QTY.search(row.group("rest"))
                q["text"] = f"{row.group('strength')} mg: {said.group(0) if said else q['text']}"
                out.quantity_by_strength.append(q)
                out.placed.append(line)
                continue
        out.unplaced.append(line)
    return out
