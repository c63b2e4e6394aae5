"""Documents in the layouts other plans publish (FORMATS.md: PBM guidelines, committee pages,
Blue plan restricted-product criteria, managed-care clinical policies, national carrier
programs, protocol pages, PDF text flattened to one paragraph): found by their own section
names, read into the same policy model as the FEP format.

A layout the reader does not recognise still imports: what it read is kept, every line it
could not place is reported with its line number, and a policy with no criteria it could read
asks one question (the document's criteria, for a pharmacist) rather than deciding anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from priorauth.importer.document import Line
from priorauth.importer.mapping import Context, disease_of
from priorauth.importer.outline import Node

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


# --- metadata ------------------------------------------------------------------------------


def disease_named(node: Node, ctx: Context) -> str | None:
    return disease_of(node.text, ctx) if node.text else None
