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

# Every dispensing unit a limit can be counted in (model.QuantityUnit), as documents write it.
_UNIT_WORDS = (
    r"mg|milligrams?|mcg|micrograms?|tablets?|tabs?|capsules?|caps?|ml|milliliters?|"
    r"(?:prefilled )?pens?|auto-?injectors?|(?:prefilled )?syringes?|vials?|units?|iu|"
    r"(?:pump |nasal )?actuations?|sprays?|puffs?"
)
_QTY = re.compile(
    rf"(?P<amount>\d[\d,]*(?:\.\d+)?)\s*(?P<unit>{_UNIT_WORDS})\s*"
    r"(?:per|/|every|a|each)\s*(?:(?P<days>\d+)\s*)?(?P<span>days?|weeks?|months?)",
    re.I,
)
_STRENGTH_ROW = re.compile(
    r"^\|?\s*(?P<strength>\d+(?:\.\d+)?)\s*mg\s*(?:tablets?|capsules?)?\s*\|?\s*(?P<rest>.+?)\s*\|?\s*$",
    re.I,
)
_DURATION = re.compile(r"(?P<n>\d+)\s*(?P<unit>months?|weeks?|years?|days?)", re.I)


def unit_of(word: str) -> tuple[str, float]:
    """A unit as written to the model's unit, and the factor to it (mcg are thousandths of a
    mg; a spray or a puff is one actuation)."""
    w = re.sub(r"^(?:prefilled|pump|nasal)\s+", "", word.lower()).rstrip("s")
    if w in ("mg", "milligram"):
        return "mg", 1.0
    if w in ("mcg", "microgram"):
        return "mg", 0.001
    table = {
        "tablet": "tablets",
        "tab": "tablets",
        "capsule": "capsules",
        "cap": "capsules",
        "ml": "mL",
        "milliliter": "mL",
        "pen": "pens",
        "autoinjector": "pens",
        "auto-injector": "pens",
        "syringe": "syringes",
        "vial": "vials",
        "unit": "units",
        "iu": "units",
        "actuation": "actuations",
        "spray": "actuations",
        "puff": "actuations",
    }
    return table[w], 1.0


def _days(n: str | None, span: str) -> int:
    days = int(n or 1)
    span = span.lower()
    if span.startswith("week"):
        return days * 7
    if span.startswith("month"):
        return days * 30
    return days


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
    unit, factor = unit_of(m.group("unit"))
    return {
        "amount": float(m.group("amount").replace(",", "")) * factor,
        "unit": unit,
        "per_days": _days(m.group("days"), m.group("span")),
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
        r"(\d+)[\s-]*(months?|month\(s\)|years?|year\(s\)|days?|day\(s\)|weeks?)", text, re.I
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


# A phase named beside its duration: "Initial: 7 months; Continuation: 12 months", "6 months
# initial, 1 year continuation", "initial 6 months, reauth 1 year", "First time approval: 6
# months", "Initial approvals will be for 6 months (subsequent approvals for 1 year)".
_INITIAL = r"initial(?:ly)?|first[- ]time|new start|new therapy"
_RENEWAL = (
    r"renewals?|reauth(?:orization)?s?|re-authorization|continuation|continued therapy|"
    r"continued approval|subsequent|recertification"
)
_SPAN = r"\d+[\s-]*(?:months?|month\(s\)|years?|year\(s\)|weeks?|week\(s\)|days?|day\(s\))|one year"
_PHASE_FIRST = re.compile(
    rf"\b(?P<phase>{_INITIAL}|{_RENEWAL})\b"
    r"(?:\s+(?:approvals?|authorizations?|therapy|duration|period|requests?))?\s*[:\-\u2013]?\s*"
    r"(?:(?:is|are|will be|may be)\s+)?(?:(?:approved\s+)?(?:for|limited to|granted for|up to)\s+)?"
    r"(?:(?:the duration of|a period of|a maximum of)\s+)?"
    rf"(?P<span>{_SPAN})",
    re.I,
)
_SPAN_FIRST = re.compile(
    rf"(?P<span>{_SPAN})\s*(?:for\s+)?(?P<phase>{_INITIAL}|{_RENEWAL})\b", re.I
)


def _months_said(span: str) -> int | None:
    return 12 if span.lower() == "one year" else months_of(span)


def phase_durations(text: str) -> dict[str, int]:
    """The duration of each phase a text names ({"initial": 6, "renewal": 12}); empty when it
    names none."""
    out: dict[str, int] = {}
    for pattern in (_PHASE_FIRST, _SPAN_FIRST):
        for m in pattern.finditer(text):
            kind = "initial" if re.match(_INITIAL, m.group("phase"), re.I) else "renewal"
            months = _months_said(m.group("span"))
            if months and kind not in out:
                out[kind] = months
    return out


# A duration written as a sentence among the criteria or in a section of its own ("Initial
# approval is for 6 months", "Approvals will be for one year", "Approval: One year").
_STATEMENT = re.compile(
    rf"^\W*(?:(?:{_INITIAL}|{_RENEWAL})\s+)?(?:approvals?|authorizations?|coverage)"
    rf"(?:\s+(?:duration|period|length))?\b[\w ]{{0,30}}?(?:\bis|\bare|\bwill be|:|-)\s*"
    rf"(?:for|limited to|granted for|up to)?[\w ]{{0,25}}?(?:{_SPAN})\b",
    re.I,
)


def duration_statement(text: str) -> dict[str, int] | None:
    """The durations a line states, by phase ("all" when it names none), or None when the line
    is not a duration."""
    t = text.strip()
    by_phase = phase_durations(t)
    if by_phase:
        return by_phase
    if not _STATEMENT.match(t):
        return None
    m = re.search(_SPAN, t, re.I)
    months = _months_said(m.group(0)) if m else None
    return {"all": months} if months else None


def choose_duration(
    said: list[tuple[Line, str]],
    line_of_business: str | None,
    warnings: list[str],
    kind: str = "initial",
) -> dict[str, Any] | None:
    """The duration ``kind`` requests are approved for: the one given for that phase by name,
    else per line of business when the document gives several ("Medicaid - 6 months;
    Commercial - 12 months"), else the first given."""
    for _, text in said:
        months = phase_durations(text).get(kind)
        if months:
            return {"months": months, "text": text.strip()}
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
        if phase_durations(text):
            continue  # another phase's duration
        months = months_of(text)
        if months:
            return {"months": months, "text": text.strip()}
    return None


# --- quantity tables and dose caps (other plans' layouts) ---------------------------------

_ROW_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*mg\b", re.I)
_ROW_QTY = re.compile(
    rf"(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>{_UNIT_WORDS})?\s*(?:per|/|a|each|every)"
    r"\s*(?:(?P<days>\d+)\s*)?(?P<span>days?|weeks?|months?)",
    re.I,
)
# An amount in a count unit standing alone in a row ("120 mg tablet | 8 tablets", "4 pens"):
# its period is the table's ("Quantity per Day", "per 30 days").
_ROW_COUNT = re.compile(
    r"(?<![\d.])(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>tablets?|tabs?|capsules?|caps?|ml|"
    r"(?:prefilled )?pens?|(?:prefilled )?syringes?|vials?|units?|actuations?)\b",
    re.I,
)
# A table's header that gives the period of its rows ("Quantity per Day (unless specified)",
# glued to the column before it as pages are copied: "MedicationQuantity per Day").
_TABLE_PERIOD = re.compile(
    r"(?:quantity|limit)s?\b[^|]{0,20}?\bper\s+(?:(?P<days>\d+)\s*)?(?P<span>days?|weeks?|"
    r"months?)",
    re.I,
)


def _count_row(text: str, period: tuple[str | None, str] | None) -> dict[str, Any] | None:
    if period is None:
        return None
    # the amount after the product's own strength and form ("120 mg tablet8 tablets")
    strength = _ROW_STRENGTH.search(text)
    rest = text[strength.end() :] if strength else text
    rest = re.sub(r"^\s*(?:tablets?|capsules?)(?=\d)", " ", rest, flags=re.I)
    counts = list(_ROW_COUNT.finditer(rest))
    if not counts:
        return None
    m = counts[-1]
    unit, factor = unit_of(m.group("unit"))
    return {
        "amount": float(m.group("amount")) * factor,
        "unit": unit,
        "per_days": _days(*period),
        "text": text,
    }


def parse_quantity_lines(
    lines: list[Line], form: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[Line]]:
    """A quantity table (per strength) or a single limit, in any dispensing unit; the lines not
    read."""
    single = None
    rows: list[dict[str, Any]] = []
    unread: list[Line] = []
    period: tuple[str | None, str] | None = None
    held: Line | None = None  # a row's product, its quantity on the next line
    for line in lines:
        text = line.text.strip().strip("|").strip()
        if held is not None:
            if _ROW_COUNT.fullmatch(text):
                text = f"{held.text.strip().strip('|').strip()} | {text}"
            else:
                unread.append(held)
            held = None
        if not text or re.fullmatch(r"[\s|:-]+", text):
            continue
        head = _TABLE_PERIOD.search(text)
        if head and not _ROW_QTY.search(text):
            period = (head.group("days"), head.group("span"))
            continue  # a table's header row that gives the period
        if re.search(
            r"\b(?:strength|quantity|product|drug|medication|limit)\b", text, re.I
        ) and not (_ROW_QTY.search(text)):
            continue  # a table's header row
        q = _ROW_QTY.search(text)
        if q is None:
            entry = _count_row(text, period)
            if entry is None:
                if period is not None and _ROW_STRENGTH.search(text):
                    held = line
                else:
                    unread.append(line)
                continue
        else:
            if q.group("unit"):
                unit, factor = unit_of(q.group("unit"))
            else:
                # "Cosentyx 300 mg/2 mL syringe | 1 per 28 days": the row's product is the unit.
                named = re.findall(
                    r"\b(tablets?|capsules?|(?:prefilled )?pens?|auto-?injectors?|"
                    r"(?:prefilled )?syringes?|vials?)\b",
                    text,
                    re.I,
                )
                unit, factor = unit_of(named[-1]) if named else (form, 1.0)
            entry = {
                "amount": float(q.group("amount")) * factor,
                "unit": unit,
                "per_days": _days(q.group("days"), q.group("span")),
                "text": text,
            }
        strengths = _ROW_STRENGTH.findall(text[: q.start()] if q else text)
        if strengths and entry["unit"] != "mg":
            entry["strength_mg"] = float(strengths[0] if q is None else strengths[-1])
            rows.append(entry)
        else:
            single = entry
    if held is not None:
        unread.append(held)
    return single, rows, unread


_CAP_VERB = (
    r"does not exceed|do not exceed|will not exceed|not to exceed|is not more than|is no more "
    r"than|no more than|of no more than|is less than or equal to|is at or below|<=|\u2264|"
    r"is limited to|limited to|up to|a maximum of|maximum of|max(?:imum)?:?"
)
_CAP_PERIOD = (
    r"(?P<per>once daily|once a day|per day|daily|a day|/day|each day|twice daily|twice a day|"
    r"once weekly|weekly|per week|a week|/week|every week|once a week|per month|monthly|"
    r"per (?P<days>\d+) days|every (?P<every>\d+) (?P<span>days|weeks))"
)
_CAP = re.compile(
    r"^(?:(?:the )?(?:requested |prescribed )?(?:[\w-]+ )?(?:dose|dosage|dosing|quantity|use)"
    r"(?: of [\w -]+?)? )?"
    rf"(?:{_CAP_VERB})\s+(?P<amount>\d[\d,]*(?:\.\d+)?)\s*(?P<unit>{_UNIT_WORDS})"
    r"(?:\s*\([^)]*\))?(?:\s+(?:orally|by mouth|subcutaneously|intravenously|"
    r"(?:administered|given|taken|inhaled)(?: once)?|in divided doses))?"
    rf"\s*{_CAP_PERIOD}$",
    re.I,
)


def dose_cap(text: str) -> dict[str, Any] | None:
    """A dose cap written as a criterion or a limit ("Requested dose does not exceed 960 mg
    (eight 120 mg tablets) orally once daily", "Not to exceed 2.4 mg once weekly", "Up to 4
    pump actuations per day"): the quantity limit it amounts to."""
    m = _CAP.match(re.sub(r"\s+", " ", text.strip().rstrip(".;")))
    if not m:
        return None
    unit, factor = unit_of(m.group("unit"))
    amount = float(m.group("amount").replace(",", "")) * factor
    per = m.group("per").lower()
    days = 1
    if per.startswith("twice"):
        amount *= 2
    elif "week" in per and not m.group("every"):
        days = 7
    elif "month" in per:
        days = 30
    elif m.group("days"):
        days = int(m.group("days"))
    elif m.group("every"):
        days = int(m.group("every")) * (7 if m.group("span").startswith("week") else 1)
    return {"amount": amount, "unit": unit, "per_days": days, "text": text.strip().rstrip(".;")}


def _stated_durations(blocks: Blocks) -> list[tuple[Line, str]]:
    """Durations written as sentences outside a duration section: among the criteria, in the
    front matter, in a section of their own ("Approval: One year")."""
    out = []
    pool = [*blocks.front, *(ln for _, ls in blocks.phases.values() for ln in ls)]
    for key, ls in blocks.sections.items():
        if re.search(r"approval|duration|authorization", key):
            pool += ls
        else:
            pool += [ln for ln in ls if duration_statement(ln.text)]
    for line in pool:
        if duration_statement(line.text):
            out.append((line, line.text.strip().lstrip("-\u2022*").strip()))
    return out


def _durations_for(
    blocks: Blocks, kind: str, line_of_business: str | None, warnings: list[str]
) -> dict[str, Any] | None:
    said = blocks.durations.get(kind) or []
    every = [x for ls in blocks.durations.values() for x in ls]
    stated = _stated_durations(blocks)
    # The phase named beside its duration first, wherever it is written.
    for _, text in every + stated:
        named = phase_durations(text).get(kind)
        if named:
            return {"months": named, "text": text.strip()}
    # "Initial: 7 months; Continuation: 12 months" read with "Initial" as its label: the
    # duration the text starts with is this phase's.
    for _, text in said:
        lead = re.match(rf"\s*({_SPAN})", text, re.I)
        if lead and phase_durations(text) and (months := _months_said(lead.group(1))):
            return {"months": months, "text": text.strip()}
    found = choose_duration(
        said or blocks.durations.get("all") or [], line_of_business, warnings, kind
    )
    if found is not None:
        return found
    general = [(ln, t) for ln, t in stated if not phase_durations(t)]
    if not general and kind == "initial":
        # A duration given once, after the last block ("Approval duration: 36 months"), is every
        # phase's.
        general = [(ln, t) for ln, t in every if not phase_durations(t)]
    spans = sorted({m for _, t in general if (m := months_of(t) or _months_said(t))})
    if not spans:
        return None
    if len(spans) > 1:
        warnings.append(
            f"several approval durations apply to {kind} requests ("
            + ", ".join(f"{m} months" for m in spans)
            + f"): the shortest ({spans[0]} months) was taken; check which applies"
        )
    text = next(t for _, t in general if (months_of(t) or _months_said(t)) == spans[0])
    return {"months": spans[0], "text": text}


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
        duration = _durations_for(blocks, kind, line_of_business, warnings)
        if duration is None and kind == "renewal":
            duration = out["initial"]["duration"]
        if duration is None:
            warnings.append(f"no approval duration for {kind} requests: 12 months assumed")
            duration = {"months": 12, "text": "12 months (no duration in the document)"}
        out[kind] = {"quantity": single, "quantity_by_strength": rows, "duration": duration}
    return out
