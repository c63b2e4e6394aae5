"""What a document limits: quantity (per day, per N days, per strength, a dose cap among the
criteria) and the approval duration (per phase, per line of business); for FEP's limits sections
and for the layouts of other plans."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from priorauth.errors import DocumentError
from priorauth.importer.document import Line
from priorauth.importer.layouts import Blocks
from priorauth.importer.result import Unplaced
from priorauth.importer.structure import Section
from priorauth.policy.tables import Knowledge

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


# --- FEP's limits sections ----------------------------------------------------------------


def fep_limits(
    sections: dict[str, Section],
    meta: dict[str, Any],
    kb: Knowledge,
    warnings: list[str],
    unplaced: list[Unplaced],
    src: str,
) -> dict[str, Any]:
    initial_sec = sections.get("prior-approval limits")
    if initial_sec is None:
        raise DocumentError(
            src, "no 'Prior-Approval Limits' section: the quantity and duration are unknown"
        )
    initial = parse_limits(initial_sec.content)
    _collect(initial, "Prior-Approval Limits", warnings, unplaced)
    if initial.duration is None:
        raise DocumentError(src, "the 'Prior-Approval Limits' section gives no duration")
    renewal_sec = sections.get("prior-approval renewal limits")
    if renewal_sec is None:
        warnings.append("no 'Prior-Approval Renewal Limits' section: the initial limits apply")
        renewal = ParsedLimits(same_as_above=True, text="Same as above")
    else:
        renewal = parse_limits(renewal_sec.content)
        _collect(renewal, "Prior-Approval Renewal Limits", warnings, unplaced)
    first = _limits_data(initial)
    second = dict(first) if renewal.same_as_above else _limits_data(renewal, first)
    if renewal.same_as_above:
        second["text"] = renewal.text or "Same as above"
    if not meta["drug"]["strengths_mg"] and first["quantity_by_strength"]:
        meta["drug"]["strengths_mg"] = [q["strength_mg"] for q in first["quantity_by_strength"]]
    return {"initial": first, "renewal": second}


def _limits_data(parsed: ParsedLimits, fallback: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "quantity": parsed.quantity,
        "quantity_by_strength": parsed.quantity_by_strength,
        "duration": parsed.duration,
    }
    if fallback is not None:
        if parsed.quantity_same or (parsed.quantity is None and not parsed.quantity_by_strength):
            out["quantity"] = fallback["quantity"]
            out["quantity_by_strength"] = fallback["quantity_by_strength"]
        if parsed.duration is None:
            out["duration"] = fallback["duration"]
        if parsed.quantity_same:
            out["text"] = "Quantity: Same as above"
    return out


def _collect(
    parsed: ParsedLimits, where: str, warnings: list[str], unplaced: list[Unplaced]
) -> None:
    warnings.extend(parsed.warnings)
    for line in parsed.unplaced:
        unplaced.append(Unplaced(line.text.strip(), line.page, line.number, where))


# --- other plans' layouts -----------------------------------------------------------------

_LOB = re.compile(
    r"\b(medicaid|commercial|medicare|marketplace|health insurance marketplace|hims|chip|exchange)"
    r"\b\s*[-\u2013\u2014:]?\s*",
    re.I,
)


def months_of(text: str) -> int | None:
    m = re.search(
        r"(\d+)\s*(months?|month\(s\)|years?|year\(s\)|days?|day\(s\)|weeks?)", text, re.I
    )
    if not m:
        return None
    n, unit = int(m.group(1)), m.group(2).lower()
    if unit.startswith("month"):
        return n
    if unit.startswith("year"):
        return 12 * n
    if unit.startswith("week"):
        return max(1, round(n / 4.345))
    return max(1, round(n / 30.42))


def choose_duration(
    said: list[tuple[Line, str]], line_of_business: str | None, warnings: list[str]
) -> dict[str, Any] | None:
    """The duration a phase is approved for; per line of business when the document gives
    several ("Medicaid - 6 months; Commercial - 12 months")."""
    for line, text in said:
        parts = [p for p in _LOB.split(text) if p and p.strip(" ;,")]
        by_lob: dict[str, str] = {}
        i = 0
        while i < len(parts) - 1:
            if _LOB.fullmatch(parts[i].strip() + " "):
                by_lob[parts[i].strip().lower()] = parts[i + 1].strip(" ;,")
                i += 2
            else:
                i += 1
        if by_lob:
            want = (line_of_business or "").lower()
            if want in by_lob:
                chosen = by_lob[want]
            else:
                chosen = min(by_lob.values(), key=lambda v: months_of(v) or 10**6)
                if len({months_of(v) for v in by_lob.values()}) > 1:
                    warnings.append(
                        f"{line.where}: the approval duration differs by line of business ("
                        + ", ".join(f"{k}: {v}" for k, v in by_lob.items())
                        + f"); the shortest ({chosen}) was taken: import with --line-of-business"
                        " to choose"
                    )
            months = months_of(chosen)
            if months:
                return {"months": months, "text": text.strip()}
        months = months_of(text)
        if months:
            return {"months": months, "text": text.strip()}
    return None


_ROW_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*mg\b", re.I)


_ROW_QTY = re.compile(
    r"(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>tablets?|capsules?|tabs?|caps?|mg)?\s*(?:per|/|a|each)"
    r"\s*(?:(?P<days>\d+)\s*)?(?P<span>days?|weeks?|months?)",
    re.I,
)


_UNIT = {
    "tablet": "tablets",
    "tab": "tablets",
    "capsule": "capsules",
    "cap": "capsules",
    "mg": "mg",
}


def parse_quantity_lines(
    lines: list[Line], form: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[Line]]:
    """A quantity table (per strength) or a single limit; the lines not read."""
    single = None
    rows: list[dict[str, Any]] = []
    unread: list[Line] = []
    for line in lines:
        text = line.text.strip().strip("|").strip()
        if not text or re.fullmatch(r"[\s|:-]+", text):
            continue
        if re.search(
            r"\b(?:strength|quantity|product|drug|medication|limit)\b", text, re.I
        ) and not (_ROW_QTY.search(text)):
            continue  # a table's header row
        q = _ROW_QTY.search(text)
        if q is None:
            unread.append(line)
            continue
        if q.group("unit") is None and re.search(
            r"\b(?:syringes?|pens?|vials?|injectors?|autoinjectors?|ml|kits?|packs?|patches|"
            r"inhalers?)\b",
            text,
            re.I,
        ):
            unread.append(line)  # a unit the limits cannot hold
            continue
        before = text[: q.start()]
        strengths = _ROW_STRENGTH.findall(before)
        unit_word = (q.group("unit") or "").lower().rstrip("s")
        unit = _UNIT.get(unit_word) or ("capsules" if "capsule" in text.lower() else form)
        days = int(q.group("days") or 1)
        span = q.group("span").lower()
        days *= 7 if span.startswith("week") else 30 if span.startswith("month") else 1
        entry = {
            "amount": float(q.group("amount")),
            "unit": unit,
            "per_days": days,
            "text": text,
        }
        if strengths and unit != "mg":
            entry["strength_mg"] = float(strengths[-1])
            rows.append(entry)
        else:
            single = entry
    return single, rows, unread


_CAP = re.compile(
    r"^(?:(?:the )?(?:requested|prescribed) )?(?:dose|dosage|dosing)(?: of [\w -]+?)?"
    r" (?:does not exceed|will not exceed|is not more than|is no more than|is less than or equal"
    r" to|is at or below|of no more than|not to exceed|<=|is limited to)"
    r" (?P<amount>\d[\d,]*(?:\.\d+)?)\s*mg(?:\s*\([^)]*\))?"
    r"\s*(?P<per>once daily|once a day|per day|daily|a day|/day|each day|twice daily|twice a day"
    r"|per (?P<days>\d+) days|every (?P<every>\d+) (?P<span>days|weeks))$",
    re.I,
)


def dose_cap(text: str) -> dict[str, Any] | None:
    """A dose cap written as a criterion ("Requested dose does not exceed 960 mg (eight 120 mg
    tablets) once daily"): the quantity limit it amounts to."""
    m = _CAP.match(re.sub(r"\s+", " ", text.strip().rstrip(".;")))
    if not m:
        return None
    amount = float(m.group("amount").replace(",", ""))
    per = m.group("per").lower()
    days = 1
    if per.startswith("twice"):
        amount *= 2
    elif m.group("days"):
        days = int(m.group("days"))
    elif m.group("every"):
        days = int(m.group("every")) * (7 if m.group("span").startswith("week") else 1)
    return {"amount": amount, "unit": "mg", "per_days": days, "text": text.strip().rstrip(".;")}


def layout_limits(
    blocks: Blocks,
    caps: list[tuple[dict[str, Any], Line]],
    meta: dict[str, Any],
    line_of_business: str | None,
    warnings: list[str],
    unplaced: list[Unplaced],
) -> dict[str, Any]:
    form = "capsules" if meta["drug"]["form"] == "capsule" else "tablets"
    single, rows, unread = parse_quantity_lines(blocks.quantity, form)
    for line in unread:
        unplaced.append(Unplaced(line.text.strip(), line.page, line.number, "quantity"))
    if single is None and not rows and caps:
        single = caps[0][0]
    if caps and (single is not None or rows) and single is not caps[0][0]:
        warnings.append(
            f"{caps[0][1].where}: a dose cap among the criteria ({caps[0][0]['text']!r}) beside a"
            " quantity table: the table is the limit"
        )
    if single is None and not rows:
        warnings.append("no quantity limit found: none is applied")
    if rows and not meta["drug"]["strengths_mg"]:
        meta["drug"]["strengths_mg"] = sorted({r["strength_mg"] for r in rows})
    out: dict[str, Any] = {}
    for kind in ("initial", "renewal"):
        said = blocks.durations.get(kind) or blocks.durations.get("all") or []
        duration = choose_duration(said, line_of_business, warnings)
        if duration is None and kind == "renewal":
            duration = out["initial"]["duration"]
        if duration is None:
            warnings.append(f"no approval duration for {kind} requests: 12 months assumed")
            duration = {"months": 12, "text": "12 months (no duration in the document)"}
        out[kind] = {"quantity": single, "quantity_by_strength": rows, "duration": duration}
    return out
