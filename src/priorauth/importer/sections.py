"""The sections stage: a document's lines to its sections, found by their names in any layout.

What every layout has: the initial criteria, the renewal criteria, limits (durations, quantity),
and other sections (description, references, history...). FEP's headings ("Prior-Approval
Requirements", "Prior-Approval Limits", ...) are one layout's names; the layouts other plans
publish (FORMATS.md: PBM guidelines, committee pages, Blue plan restricted-product criteria,
managed-care clinical policies, national carrier programs, protocol pages) are found by theirs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from priorauth.importer.document import FOOTER, Document, Line

# --- FEP's layout -------------------------------------------------------------------------

# Headings of the format, normalized (see heading_key); a section runs to the next one.
KNOWN = {
    "description",
    "background",
    "regulatory status",
    "related policies",
    "related policy",
    "policy",
    "prior-approval requirements",
    "prior-approval renewal requirements",
    "diagnoses",
    "diagnosis",
    "policy guidelines",
    "pre-pa allowance",
    "prior-approval limits",
    "prior-approval renewal limits",
    "rationale",
    "summary",
    "references",
    "policy history",
    "keywords",
}


SUBHEADINGS = {"diagnoses", "diagnosis"}


def heading_key(text: str) -> str:
    t = text.strip().strip("#").strip().rstrip(":").lower()
    t = re.sub(r"[\u2013\u2014]", "-", t)
    t = re.sub(r"\s*-\s*", "-", t)
    return re.sub(r"\s+", " ", t)


@dataclass
class Section:
    key: str
    heading: Line | None
    lines: list[Line] = field(default_factory=list)

    @property
    def content(self) -> list[Line]:
        return [line for line in self.lines if line.text.strip()]


def is_heading(text: str) -> bool:
    """A line that is one of FEP's section headings (a wrapped line never runs into one)."""
    return heading_key(text) in KNOWN


def split_sections(doc: Document) -> dict[str, Section]:
    """Sections by normalized heading; text before the first heading is ``front``."""
    sections: dict[str, Section] = {"front": Section("front", None)}
    current = sections["front"]
    for line in doc.lines:
        key = heading_key(line.text) if line.text else ""
        if key in KNOWN and key not in SUBHEADINGS and (line.heading or len(line.text) < 60):
            current = Section(key, line)
            if key not in sections:
                sections[key] = current
            continue
        current.lines.append(line)
    return sections


# --- other plans' layouts -----------------------------------------------------------------

_MARK = re.compile(r"^(?:#+\s*)?(?:(?:section|part)\s+)?(?:\d{1,2}|[IVX]{1,4}|[A-H])[.)]\s+", re.I)


INITIAL = re.compile(
    r"(?:prior authorization\s*\(initial (?:authorization|approval)\)|initial (?:authorization|"
    r"approval|therapy|request|coverage)(?: criteria)?|initial approval criteria|criteria for"
    r" (?:initial )?approval(?: of restricted products?(?:\s*\(s\))?)?|coverage criteria(?: for"
    r" initial (?:authorization|approval))?|approval criteria|criteria for coverage|initial"
    r" authorization criteria|new starts?|criteria for initial therapy|prior authorization"
    r" criteria|initial criteria|criteria for (?:an? )?initial (?:\d+[- ]days? )?trial)"
    # A class document's blocks per drug status ("... for nonpreferred drugs").
    r"(?: for (?:the )?(?:non-?preferred|preferred)(?: drugs?| agents?| products?)?)?",
    re.I,
)


# Headings a plan writes with its own or the drug's name first: "<Plan> Approved Indications
# and Usage Guidelines", "<Drug> Approval Criteria".
INITIAL_NAMED = re.compile(
    r"[^:]{0,80}?\b(?:approved indications and usage guidelines|approval criteria)", re.I
)


# A lead line that opens the criteria without a heading and says how they combine: it stays in
# the block as the group's header ("All of the following must be met ...:").
LEAD = re.compile(
    r"(?:patients? must meet (?:all of )?the following(?: criteria)?\b.*|all of the following"
    r" (?:must|are to) be met\b.*|(?:the )?following criteria must be met\b.*):\s*",
    re.I,
)


RENEWAL = re.compile(
    r"(?:prior authorization\s*\(re-?authorization\)|re-?authorization(?: criteria)?|continued"
    r" (?:therapy|approval|use|authorization)(?: criteria)?|continuation of therapy(?: criteria)?"
    r"|renewal(?: criteria| requests?| authorization)?|recertification(?: criteria)?|"
    # "Reauthorization of GH therapy in children": the phase, then what it is of
    r"re-?authorization (?:of|for) (?![^:]*\b(?:is|are|will|may|must|requires?)\b)[^:.;]{1,60}|"
    r"re-?authorization requests?|subsequent authorization|criteria for continued (?:coverage|"
    r"therapy|approval|use))",
    re.I,
)


_DURATION_HEAD = (
    r"(?:length of approval|duration of approval|approval duration|coverage duration|"
    r"authorization duration|approval period|duration of authorization|authorization period|"
    r"approval(?=\s*(?::|$)))"
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
    r"additional clinical rules|dosing|general information|coverage is not authorized for|"
    r"(?:this )?medication is not approvable for the following condition(?:\s*\(s\)|s)?)",
    re.I,
)


_PROSE = re.compile(
    r"\b(?:medically necessary|covered|approved|authorized)\b.*\bwhen\b.*\bfollowing\b.*:\s*$",
    re.I,
)


_RENEWAL_WORDS = re.compile(r"\b(?:continu\w*|renewal|reauthoriz\w*|re-authoriz\w*)\b", re.I)


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
    if INITIAL_NAMED.fullmatch(h):
        # "Renewal approval criteria" names the renewal block the way "Initial approval
        # criteria" names the first one.
        return ("renewal" if _RENEWAL_WORDS.search(h) else "initial", None)
    m = DURATION.fullmatch(h)
    if m:
        return ("duration", m.group("v").strip() or None)
    m = QUANTITY.fullmatch(h)
    if m:
        return ("quantity", m.group("v"))
    if SKIP.fullmatch(h):
        return ("skip", None)
    return None


@dataclass
class Blocks:
    phases: dict[str, tuple[Line | None, list[Line]]] = field(default_factory=dict)
    durations: dict[str, list[tuple[Line, str]]] = field(default_factory=dict)  # kind -> said
    quantity: list[Line] = field(default_factory=list)
    sections: dict[str, list[Line]] = field(default_factory=dict)  # skipped sections by name
    front: list[Line] = field(default_factory=list)
    unplaced: list[Line] = field(default_factory=list)


_TRIAL = re.compile(r"\b(\d+)[- ]days? trial\b", re.I)


def _opens_approval(text: str, below: list[Line]) -> bool:
    """A bare "Prior Authorization" heading is a criteria block only where the layout shows it
    is one: its length of approval stated right below it."""
    if heading_text(text).lower() != "prior authorization":
        return False
    return any(DURATION.match(heading_text(x.text)) for x in below if x.text.strip())


def phase_is_renewal(phase: str | None) -> bool:
    return bool(phase and phase.startswith("renewal"))


def find_blocks(lines: list[Line]) -> Blocks:
    b = Blocks()
    skip_heads: dict[str, Line] = {}
    state: tuple[str, str] = ("front", "")
    current: list[Line] | None = None
    for i, line in enumerate(lines):
        text = line.text.strip()
        if not text or FOOTER.fullmatch(text):
            continue
        head = classify(line)
        if head is None and _opens_approval(text, lines[i + 1 : i + 3]):
            head = ("initial", None)
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
                trial = _TRIAL.search(text)
                if trial:  # "Criteria for initial 90-day trial": the heading says how long
                    b.durations.setdefault(kind.split("#")[0], []).append(
                        (line, f"{trial.group(1)} days")
                    )
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
            skip_heads.setdefault(state[1], line)
            current = None
            continue
        issued = ISSUED.fullmatch(text)
        if issued:
            where = phase.split("#")[0] if phase else "all"
            b.durations.setdefault(where, []).append((line, issued.group("v")))
            continue
        lead = state[0] != "phase" and LEAD.fullmatch(text) is not None
        opens = _PROSE.search(text) is not None and (
            state[0] != "phase" or (_RENEWAL_WORDS.search(text) and not phase_is_renewal(phase))
        )
        if lead or opens:
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
    _indications_as_criteria(b, skip_heads)
    return b


_JOINED = re.compile(r"(?:\s(?:AND|OR)|^(?:[-*\u2022]\s*)?(?:AND|OR))\s*$")


def _indications_as_criteria(b: Blocks, heads: dict[str, Line]) -> None:
    """A page with no initial criteria heading that keeps its criteria under "Indications for
    Prior Authorization": that section is the initial criteria when its items are joined by
    AND/OR, which a list of indications alone never is."""
    if any(k.startswith("initial") for k in b.phases):
        return
    name = "indications for prior authorization"
    lines = b.sections.get(name) or []
    if sum(bool(_JOINED.search(x.text.strip())) for x in lines) < 2:
        return
    b.phases["initial"] = (heads.get(name), b.sections.pop(name))
