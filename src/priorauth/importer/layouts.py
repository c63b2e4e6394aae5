"""Documents in the layouts other plans publish (FORMATS.md: PBM guidelines, committee pages,
Blue plan restricted-product criteria, managed-care clinical policies, national carrier
programs, protocol pages, PDF text flattened to one paragraph): found by their own section
names, read into the same policy model as the FEP format.

A layout the reader does not recognise still imports: what it read is kept, every line it
could not place is reported with its line number, and a policy with no criteria it could read
asks one question (the document's criteria, for a pharmacist) rather than deciding anything.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from priorauth.importer.document import Line
from priorauth.importer.mapping import Context, disease_of
from priorauth.importer.outline import Node
from priorauth.policy.tables import Knowledge, norm

_MARK = re.compile(r"^(?:#+\s*)?(?:(?:section|part)\s+)?(?:\d{1,2}|[IVX]{1,4}|[A-H])[.)]\s+", re.I)
INITIAL = re.compile(
    r"(?:prior authorization\s*\(initial (?:authorization|approval)\)|initial (?:authorization|"
    r"approval|therapy|request|coverage)(?: criteria)?|initial approval criteria|criteria for"
    r" (?:initial )?approval(?: of restricted products?(?:\s*\(s\))?)?|coverage criteria(?: for"
    r" initial (?:authorization|approval))?|approval criteria|criteria for coverage|initial"
    r" authorization criteria|new starts?|criteria for initial therapy|prior authorization"
    r" criteria)",
    re.I,
)
RENEWAL = re.compile(
    r"(?:prior authorization\s*\(re-?authorization\)|re-?authorization(?: criteria)?|continued"
    r" (?:therapy|approval|use|authorization)(?: criteria)?|continuation of therapy(?: criteria)?"
    r"|renewal(?: criteria| requests?| authorization)?|recertification(?: criteria)?|"
    r"re-?authorization requests?|subsequent authorization)",
    re.I,
)
_DURATION_HEAD = (
    r"(?:length of approval|duration of approval|approval duration|coverage duration|"
    r"authorization duration|approval period|duration of authorization|authorization period)"
)
DURATION = re.compile(_DURATION_HEAD + r"\s*:?\s*(?P<v>.*)", re.I)
ISSUED = re.compile(
    r"(?:authorization|approval) (?:will|may) be (?:issued|granted|approved) for (?:up to )?"
    r"(?P<v>\d+\s*(?:months?|month\(s\)|years?|days?|weeks?)).*",
    re.I,
)
QUANTITY = re.compile(
    r"(?:quantity limitations?|quantity limits?|dosing limits?|quantity level limits?|"
    r"quantity limit)(?:\s*:\s*(?P<v>.+))?",
    re.I,
)
SKIP = re.compile(
    r"(?:references?|revision history|review history|p\s*&\s*t revisions|p\s*&\s*t approval"
    r" dates?|background|description|fda[- ]approved (?:use|uses|indications?(?:\s*\(s\))?)|"
    r"indications for prior authorization|indications?|appendi(?:x|ces)(?: [a-z])?(?:\s*[:.-].*)?"
    r"|coding implications|additional information|authorization is not covered for the following"
    r"|diagnoses/indications for which coverage is not authorized|(?:experimental/)?"
    r"investigational|not medically necessary|notes?|dosage and administration|product"
    r" availability|restricted products?(?:\s*\(s\))?|policy/criteria|criteria|clinical policy\b.*"
    r"|dosing information|table of alternatives|(?:therapeutic )?alternatives|contraindications?"
    r"(?:/boxed warnings)?|boxed warnings?|quantity limit exception criteria|exclusions?|"
    r"limitations of use|summary|rationale|policy history|keywords|benefit application|state"
    r" mandates?|disclaimer|definitions|related polic(?:y|ies)|policy|protocol|medical policy|"
    r"coverage rationale|applicable codes|documentation (?:requirements|history)|program"
    r" summary|objective|purpose|scope|(?:additional )?clinical rules|other information|"
    r"additional clinical rules)",
    re.I,
)
_PROSE = re.compile(
    r"\b(?:medically necessary|covered|approved|authorized)\b.*\bwhen\b.*\bfollowing\b.*:\s*$",
    re.I,
)
_RENEWAL_WORDS = re.compile(r"\b(?:continu\w*|renewal|reauthoriz\w*|re-authoriz\w*)\b", re.I)
_FOOTER = re.compile(
    r"\bpage \d+ of \d+\b|©\s*\d{4}[^.]*?(?:reserved\.?|$)|\bconfidential and proprietary\b",
    re.I,
)
_DATE_WORDS = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.?"
)
_MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for m in names
}
_LOB = re.compile(
    r"\b(medicaid|commercial|medicare|marketplace|health insurance marketplace|hims|chip|exchange)"
    r"\b\s*[-\u2013\u2014:]?\s*",
    re.I,
)


def heading_text(text: str) -> str:
    t = _MARK.sub("", text.strip()).strip().strip("#*").strip()
    return re.sub(r"\s+", " ", t).rstrip(":").strip()


def classify(line: Line) -> tuple[str, str | None] | None:
    """What a heading line opens: ("initial"|"renewal"|"duration"|"quantity"|"skip", value)."""
    text = line.text.strip()
    if not text or len(text) > 110:
        return None
    h = heading_text(text)
    if INITIAL.fullmatch(h):
        return ("initial", None)
    if RENEWAL.fullmatch(h):
        return ("renewal", None)
    m = DURATION.fullmatch(h)
    if m:
        return ("duration", m.group("v").strip() or None)
    m = QUANTITY.fullmatch(h)
    if m:
        return ("quantity", m.group("v"))
    if SKIP.fullmatch(h):
        return ("skip", None)
    return None


# --- flattened PDF text --------------------------------------------------------------------

_GLYPH_RUN = re.compile(r"\s+(?=(?:[\u2022\u25aa\u25e6\u25cf\u25a0\uf0b7\u00a7]|o|-)\s+[A-Z(])")
_ITEM_START = re.compile(
    r"(?<=[.;:)a-z0-9])\s+(?=(?:\d{1,2}|[a-h]|[ivx]{1,4}|[A-H]|[IVX]{1,4})[.)]\s+[A-Z(])"
)
_LABEL_START = re.compile(
    r"(?<![\u2022\u25aa\u25e6\u00a7o-])\s+(?=[A-Z][\w/-]*(?:\s+(?:[a-z][\w/-]*|\([A-Za-z]+\)))"
    r"{0,5}:\s+(?:[\u2022\u25aa\u25e6\u00a7o-]|\d{1,2}[.)])\s)"
)
_CONNECTOR = re.compile(
    r"(?<=[.;:,a-z)])\s+(?=(?:AND|OR)\s+(?:[\u2022\u25aa\u25e6o]|\d|[a-z][.)]|[A-Z]))"
)


def looks_flattened(lines: list[Line]) -> bool:
    """Criteria run together in one long paragraph, as a PDF text extractor gives them."""
    content = [line for line in lines if line.text.strip()]
    longest = max((len(line.text) for line in content), default=0)
    return longest > 600 or (len(content) <= 6 and longest > 300)


def reflow(lines: list[Line]) -> list[Line]:
    """Split a flattened paragraph where its bullets, numbered items, connectors and headings
    begin; page footers that landed mid-sentence are removed."""
    heads = sorted(
        {
            *_HEAD_WORDS,
        },
        key=len,
        reverse=True,
    )
    head_rx = re.compile(r"\s+(?=(?:" + "|".join(re.escape(h) for h in heads) + r")(?::|\s|$))")
    out: list[Line] = []
    for line in lines:
        text = _FOOTER.sub(" ", line.text)
        if len(text) < 200:
            out.append(Line(text, line.page, line.number, line.heading, line.joined))
            continue
        text = re.sub(r"\s+", " ", text)
        for rx in (_GLYPH_RUN, _ITEM_START, _CONNECTOR, head_rx, _LABEL_START):
            text = rx.sub("\n", text)
        text = _after_heads(text, heads)
        # "AND" / "OR" that begin a piece stand on their own line.
        text = re.sub(r"(?m)^(AND|OR)\s+", r"\1\n", text)
        for piece in text.split("\n"):
            piece = piece.strip()
            if piece:
                out.append(Line(piece, line.page, line.number, False, line.joined))
    return out


def _after_heads(text: str, heads: list[str]) -> str:
    """A heading joined to the first criterion ("Coverage Criteria Breast cancer: ..."): split
    after it, unless the words that follow make a longer heading."""
    lowered = [h.lower() for h in heads]

    def cut(m: re.Match[str]) -> str:
        head, nxt = m.group(1), m.group(2)
        if any(h.startswith(f"{head} {nxt}".lower()) for h in lowered):
            return m.group(0)
        return f"{head}\n{nxt}"

    for h in heads:
        text = re.sub(rf"(?m)^({re.escape(h)}):?\s+(?=[A-Z\u2022\u25aa(])(\S+)", cut, text)
    return text


# Section names as they appear inside a flattened paragraph (case as documents write them).
_HEAD_WORDS = [
    "Prior Authorization (Initial Authorization)",
    "Prior Authorization (Reauthorization)",
    "Initial Authorization",
    "Initial Approval Criteria",
    "Reauthorization Criteria",
    "Reauthorization",
    "Continued Therapy",
    "Coverage Criteria",
    "Criteria for Approval of Restricted Product(s)",
    "Criteria for Approval",
    "Length of Approval",
    "Duration of Approval",
    "Approval duration",
    "Coverage Duration",
    "Quantity Limitations",
    "Quantity Limit Exception Criteria",
    "Indications for Prior Authorization",
    "References",
    "Revision History",
    "Review History",
    "P & T Revisions",
    "Background",
    "Additional Information",
]


# --- blocks -------------------------------------------------------------------------------


@dataclass
class Blocks:
    phases: dict[str, tuple[Line | None, list[Line]]] = field(default_factory=dict)
    durations: dict[str, list[tuple[Line, str]]] = field(default_factory=dict)  # kind -> said
    quantity: list[Line] = field(default_factory=list)
    sections: dict[str, list[Line]] = field(default_factory=dict)  # skipped sections by name
    front: list[Line] = field(default_factory=list)
    unplaced: list[Line] = field(default_factory=list)


def phase_is_renewal(phase: str | None) -> bool:
    return bool(phase and phase.startswith("renewal"))


def find_blocks(lines: list[Line]) -> Blocks:
    b = Blocks()
    state: tuple[str, str] = ("front", "")
    current: list[Line] | None = None
    for line in lines:
        text = line.text.strip()
        if not text or _FOOTER.fullmatch(text):
            continue
        head = classify(line)
        phase = state[1] if state[0] == "phase" else None
        if head is not None:
            kind, value = head
            if kind in ("initial", "renewal"):
                prose = b.phases.get(kind)
                if prose is not None and prose[0] is None and len(prose[1]) == 1:
                    # "... medically necessary when the following criteria are met:" opening
                    # the criteria section: the headed block below is the criteria.
                    b.front.extend(prose[1])
                    del b.phases[kind]
                if kind in b.phases and b.phases[kind][1]:
                    kind = f"{kind}#{len(b.phases)}"  # a second block of one phase
                current = []
                b.phases[kind] = (line, current)
                state = ("phase", kind)
                continue
            if kind == "duration":
                where = phase.split("#")[0] if phase else "all"
                if value:
                    b.durations.setdefault(where, []).append((line, value))
                    if phase is None:
                        state = ("duration", "all")
                else:
                    state = ("duration", where)
                continue
            if kind == "quantity":
                if value:
                    b.quantity.append(Line(value, line.page, line.number))
                state = ("quantity", "")
                continue
            state = ("skip", heading_text(text).lower())
            b.sections.setdefault(state[1], [])
            current = None
            continue
        issued = ISSUED.fullmatch(text)
        if issued:
            where = phase.split("#")[0] if phase else "all"
            b.durations.setdefault(where, []).append((line, issued.group("v")))
            continue
        if _PROSE.search(text) and (
            state[0] != "phase" or (_RENEWAL_WORDS.search(text) and not phase_is_renewal(phase))
        ):
            kind = "renewal" if _RENEWAL_WORDS.search(text) else "initial"
            if kind in b.phases:
                kind = f"{kind}#{len(b.phases)}"
            current = [line]
            b.phases[kind] = (None, current)
            state = ("phase", kind)
            continue
        if state[0] == "phase" and current is not None:
            current.append(line)
        elif state[0] == "duration":
            m = re.fullmatch(
                r"(initial|reauthorization|renewal|continued therapy)\s*:?\s*(.+)", text, re.I
            )
            if m:
                where = "initial" if m.group(1).lower() == "initial" else "renewal"
                b.durations.setdefault(where, []).append((line, m.group(2)))
            elif re.search(r"\d+\s*(?:months?|years?|days?|weeks?)", text, re.I):
                b.durations.setdefault(state[1], []).append((line, text))
            else:
                b.unplaced.append(line)
        elif state[0] == "quantity":
            b.quantity.append(line)
        elif state[0] == "skip":
            b.sections[state[1]].append(line)
        else:
            b.front.append(line)
    return b


# --- limits -------------------------------------------------------------------------------


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


# --- metadata ------------------------------------------------------------------------------


def parse_any_date(text: str) -> dt.date | None:
    m = re.search(rf"\b({_DATE_WORDS})\s+(\d{{1,2}}),?\s+(\d{{4}})\b", text, re.I)
    if m:
        return _safe(int(m.group(3)), _MONTHS[m.group(1).lower().rstrip(".")], int(m.group(2)))
    m = re.search(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4})\b", text)
    if m:
        return _safe(int(m.group(3)), int(m.group(1)), int(m.group(2)))
    m = re.search(r"\b(\d{4})-(\d{2})-(\d{2})\b", text)
    if m:
        return _safe(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = re.search(rf"\b({_DATE_WORDS})\s+(\d{{4}})\b", text, re.I)
    if m:
        return _safe(int(m.group(2)), _MONTHS[m.group(1).lower().rstrip(".")], 1)
    m = re.search(r"\b(\d{1,2})/(\d{4})\b", text)
    if m:
        return _safe(int(m.group(2)), int(m.group(1)), 1)
    return None


def _safe(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def drug_names(lines: list[Line], kb: Knowledge) -> tuple[str, str] | None:
    """(brand, generic) from "Brand (generic)" or "Generic (Brand)" near the top."""
    pair = re.compile(r"\b([A-Za-z][\w-]*(?:\s[A-Za-z][\w-]*){0,2})\s*\(([A-Za-z][\w\s/-]*?)\)")
    for line in lines[:40]:
        for m in pair.finditer(line.text):
            a, b = m.group(1).strip(), m.group(2).strip()
            b = re.sub(r"-[a-z]{4}$", "", b)  # a biologic's suffix: risankizumab-rzaa
            # the last words before the parenthesis ("Clinical Policy: Sotorasib (Lumakras)")
            for n in range(len(a.split()), 0, -1):
                cand = " ".join(a.split()[-n:])
                ga, gb = kb.drug_aliases.get(norm(cand)), kb.drug_aliases.get(norm(b))
                if ga and ga == gb:
                    if norm(cand) == ga:
                        return b, cand.lower()
                    return cand, b.lower()
    for line in lines[:40]:
        for m in pair.finditer(line.text):
            a, b = m.group(1).strip().split()[-1], m.group(2).strip()
            if a[:1].isupper() and b[:1].islower() and len(b) > 3:
                return a, b
    return None


def number_of(text: str) -> str | None:
    m = re.search(
        r"\b(?:guideline|program|policy|protocol|reference|document|criteria)\s*(?:number|no\.?|#|"
        r"id)\s*:?[ \t]*([A-Za-z0-9][\w.\-/]*(?:[ ][A-Z][ ][\w.\-]+)?)",
        text,
        re.I,
    )
    return m.group(1).strip() if m else None


def history(lines: list[Line]) -> list[dict[str, str]]:
    out = []
    for line in lines:
        text = line.text.strip().strip("|").strip()
        date = parse_any_date(text[:30])
        if date is None:
            continue
        rest = re.sub(
            rf"^.*?(?:{_DATE_WORDS}\s+\d{{1,2}},?\s+\d{{4}}|\d{{1,2}}/\d{{1,2}}/\d{{4}}|\d{{4}}-\d\d-\d\d"
            rf"|{_DATE_WORDS}\s+\d{{4}}|\d{{1,2}}/\d{{4}})\s*[:|\-\u2013]?\s*",
            "",
            text,
            count=1,
            flags=re.I,
        )
        out.append({"date": f"{date.year}-{date.month:02d}", "action": rest.strip(" |") or text})
    return out


def disease_named(node: Node, ctx: Context) -> str | None:
    return disease_of(node.text, ctx) if node.text else None
