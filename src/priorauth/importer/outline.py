"""Criterion lists as plans publish them, to trees: numbered, lettered and roman items, bullets
of any glyph ("-", "•", "o", "▪"), indentation, trailing connectors ("; AND", ", OR"),
connectors on lines of their own ("AND", "-or-"), and group headers ("One of the following:",
"Both of the following:", "(must meet all)", "(must meet one)", "must meet 1 or 2").

This stage only builds the outline; how each group's items combine is decided from it by the
logic stage (logic.py), which never guesses a grouping the document does not show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from priorauth.importer.document import Line

_MARKERS = [
    ("num", re.compile(r"^(\d{1,2})[.)]\s+(.*)$")),
    ("pnum", re.compile(r"^\((\d{1,2})\)\s+(.*)$")),
    ("roman", re.compile(r"^((?:i|ii|iii|iv|v|vi|vii|viii|ix|x|xi|xii))[.)]\s+(.*)$")),
    ("ROMAN", re.compile(r"^((?:I|II|III|IV|V|VI|VII|VIII|IX|X))[.)]\s+(.*)$")),
    ("lower", re.compile(r"^([a-z])[.)]\s+(.*)$")),
    ("plower", re.compile(r"^\(([a-z])\)\s+(.*)$")),
    ("upper", re.compile(r"^([A-Z])[.)]\s+(.*)$")),
    (
        "bullet",
        re.compile(r"^([-*\u2022\u25aa\u25e6\u25cf\u25a0\uf0b7\u2023\u2043o\u00a7\u2013])\s+(.*)$"),
    ),
]
# A connector on a line of its own, bare ("AND", "-or-") or bulleted ("• AND").
_ALONE = re.compile(r"^(?:[*\u2022\u25aa\u25e6\u25cf\uf0b7]\s*)?-?\s*(AND|OR|and|or)\s*-?$")
_TRAILING = re.compile(r"(?:[;,]\s*|\s+)(AND|OR)\s*$|;\s*(and|or)\s*$|\s+-(and|or)-\s*$")
_MUST = re.compile(
    r"\(\s*must meet (all|one|any|both|at least one|\d+(?:\s*(?:or|,)\s*\d+)*)\s*\)", re.I
)
_HEADER_ANY = re.compile(
    r"\b(?:one|any|at least one|either) of the following\b|\bmust meet (?:one|any|at least one)\b"
    r"|\bmust meet \d+ or \d+\b",
    re.I,
)
_HEADER_ALL = re.compile(
    r"\b(?:all|both|each) of the following\b|\bthe following (?:are|is) met\b|\bmust meet all\b",
    re.I,
)


# Words a criterion sentence opens with: such a line stays a criterion even when it ends in a
# colon and heads items of its own ("Diagnosis of NSCLC:").
_SENTENCE = re.compile(
    r"^(?:diagnosis|patient|member|tumor|disease|prescribed|used|documentation|age|the\b|has\b|"
    r"is\b|presence|history|trial|failure|no\b|not\b)",
    re.I,
)


@dataclass
class Node:
    """An item of the list: its own words (without marker and connector) and the items under it."""

    text: str
    line: Line | None
    style: str = "plain"
    indent: int = 0
    children: list[Node] = field(default_factory=list)
    joins: list[str] = field(default_factory=list)  # connector before each child after the first
    header: str | None = None  # "all" / "any" when the item's words say how its children combine
    label: bool = False  # a header only ("One of the following:"), not a criterion itself
    marker: str = ""  # "a", "iv", "3": the item's own marker
    how: str | None = None  # "all" / "any" / "ambiguous": set by the logic stage
    flat: bool = False  # a header whose items are written level with it (see _flat_item)


def _header_of(text: str) -> tuple[str | None, str, bool]:
    """(combine, text without the header marker, whether the text is only a header)."""
    combine = None
    m = _MUST.search(text)
    if m:
        word = m.group(1).lower()
        combine = "all" if word in ("all", "both") else "any"
        text = (text[: m.start()] + text[m.end() :]).strip()
    if _HEADER_ANY.search(text):
        combine = "any"
    elif _HEADER_ALL.search(text):
        combine = combine or "all"
    bare = text.rstrip(":").strip()
    only = bool(
        re.fullmatch(
            r"(?:(?:and|or)\s+)?(?:patient must (?:have|meet)\s+)?(?:(?:one|any|all|both|each|at"
            r" least one|either) of the following(?: criteria| conditions)?(?: (?:are|is) met)?"
            r"|the following(?: criteria)?)\s*(?:\(.*\))?",
            bare,
            re.I,
        )
    ) or (combine is not None and not bare)
    if only and combine is None and re.search(r"\bthe following\b", bare, re.I):
        combine = "all"  # "Patient must have the following:": every item below
    return combine, bare if bare else text, only


def _marker(text: str, prev_letters: dict[str, str]) -> tuple[str, str, str]:
    """(style, body) of a line; ``plain`` when it carries no marker."""
    for style, rx in _MARKERS:
        m = rx.match(text)
        if not m:
            continue
        before = {"i": "h", "v": "u", "x": "w"}
        if style == "roman" and prev_letters.get("lower") == before.get(m.group(1)):
            continue  # "i." after "h.": a letter, not a roman numeral
        if (
            style == "ROMAN"
            and prev_letters.get("upper") == before.get(m.group(1).lower(), "?").upper()
        ):
            continue
        if style == "bullet" and m.group(1) == "o" and not m.group(2)[:1].isupper():
            continue  # "o" as a bullet only before a capital ("o Diagnosis of ...")
        kind = f"bullet{m.group(1)}" if style == "bullet" else style
        return kind, m.group(2).strip(), m.group(1)
    return "plain", text, ""


def _flat_item(body: str, pending: str | None) -> bool:
    """An item of a header's list written level with the header: a short value ("Locally
    advanced", "Hepatologist") with no connector before it. A longer line is a criterion of its
    own again, so a header never swallows the criteria after its list."""
    words = body.split()
    return pending is None and 0 < len(words) <= 4 and not body.rstrip().endswith((":", "."))


def parse_outline(lines: list[Line], warnings: list[str]) -> tuple[Node, list[Line]]:
    """The tree of a block of criterion lines under a root, and the lines it placed."""
    root = Node("", None, style="root", indent=-1)
    stack: list[Node] = [root]
    placed: list[Line] = []
    pending: str | None = None
    last: Node | None = None
    for line in lines:
        raw = line.text.replace("\t", "    ")
        text = raw.strip()
        if not text:
            continue
        if re.fullmatch(r"(?:[IVX]{1,4}|[A-Ha-h]|\d{1,2})[.)]", text):
            placed.append(line)  # a marker left alone when its heading was split off
            continue
        alone = _ALONE.match(text)
        if alone:
            pending = alone.group(1).lower()
            placed.append(line)
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        nested = re.match(r"^[-*\u2022]\s+(\u2013\s+.*)$", text)
        if nested:
            # "- <en dash> item": a page that flattened its list kept the inner dash: one level
            # down
            text, indent = nested.group(1), indent + 2
        # "- a. Presence of ...": a bullet before a marker is the marker's
        text = re.sub(r"^[-*\u2022]\s+(?=(?:[a-z]|[ivx]{1,4}|\d{1,2})[.)]\s)", "", text)
        lead = re.match(r"^(AND|OR)\s+\S", text)
        if lead and pending is None:
            pending = lead.group(1).lower()  # "AND ONE of the following:": joined by AND
        letters = {n.style: n.marker for n in stack[1:] if n.style in ("lower", "upper")}
        style, body, mark = _marker(text, letters)
        trailing = None
        t = _TRAILING.search(body)
        if t:
            trailing = (t.group(1) or t.group(2) or t.group(3)).lower()
            body = body[: t.start()].rstrip(" ;,")
        body = body.rstrip(" ;")  # (a comma may be a wrapped list's, kept for the next line)
        if style == "plain" and last is not None and body[:1].islower():
            sep = " "
            if last.label and not last.children and last.header is None:
                # "For adjuvant therapy:" then "patient has ...": the colon was mid-sentence
                last.label = False
                sep = ": " if last.line and last.line.text.rstrip().endswith(":") else " "
            last.text = f"{last.text}{sep}{body}"  # the rest of a wrapped item
            pending = trailing
            placed.append(line)
            continue
        combine, bare, only = _header_of(body)
        # A line ending in a colon or carrying "(must meet ...)" heads the items under it.
        # A longer line ending in a colon stays a criterion too: a header is never allowed to
        # swallow a criterion's words.
        colon = body.rstrip().endswith(":") and (
            (len(bare.split()) <= 6 and not _SENTENCE.match(bare))
            or re.search(r"\bfollowing\b", bare, re.I) is not None
        )
        only = only or colon or _MUST.search(body) is not None
        node = Node(bare, line, style, indent, header=combine, label=only, marker=mark)
        # Where it goes: a sibling of the last item of the same style at this indentation, or a
        # child of the item above.
        while len(stack) > 1:
            top = stack[-1]
            if top.indent > indent:
                stack.pop()
                continue
            if top.indent == indent and top.style == style:
                if (
                    style != "plain"
                    and top.label
                    and top.header
                    and not only
                    and (not top.children or top.flat)
                    and _flat_item(body, pending)
                ):
                    top.flat = True  # "- Disease is one of the following:" "- Metastatic"
                    break
                if (
                    style == "plain"
                    and top.label
                    and top.header
                    and not only
                    and pending != {"any": "and", "all": "or"}[top.header]
                ):
                    break  # unmarked lines under "One of the following:": its items
                stack.pop()
                above = stack[-1]
                if (
                    above.flat
                    and above.indent == indent
                    and above.style == style
                    and not _flat_item(body, pending)
                ):
                    continue  # a criterion again after the short items: the header is done
                if style == "plain" and (
                    only
                    or (
                        above.label
                        and above.header
                        and above.style == "plain"
                        and above.indent == indent
                        and pending == {"any": "and", "all": "or"}[above.header]
                    )
                ):
                    # a new header, or a line joined by AND after a ONE-of's items: not under
                    # the header above either
                    continue
                break
            if top.indent == indent and any(
                n.style == style and n.indent == indent for n in stack[1:]
            ):
                stack.pop()
                continue
            if top.indent == indent and style == "plain" and top.style != "plain":
                # an unmarked line level with marked items: a new header at that level
                stack.pop()
                continue
            break
        parent = stack[-1]
        if parent.children:
            parent.joins.append(pending or "")
        parent.children.append(node)
        stack.append(node)
        pending = trailing
        last = node
        placed.append(line)
    return root, placed


# Lines inside a criteria list that are not criteria: what each is, for the report.
_NOT_CRITERIA = [
    ("a connector", re.compile(r"^(?:[-*\u2022\u25aa\u25e6o]\s*)?(?:and|or|and/or)[.:;]?$", re.I)),
    (
        "a duration",
        re.compile(
            r"^(?:(?:initial|renewal|continued|re-?)\s*)?(?:approval|authori[sz]ation|approve|"
            r"authori[sz]e|coverage|duration)\w*\b[^.]{0,40}?\b\d+\s*(?:months?|weeks?|days?|"
            r"years?)\b",
            re.I,
        ),
    ),
    (
        "dosing or administration",
        re.compile(
            r"^(?:(?:recommended |usual )?(?:dosing|dosage|doses?|administration|administer)\w*"
            r"(?:\s+and\s+administration)?\s*[:\-\u2013]|(?:it |the drug )?is (?:administered|given"
            r"|taken) (?:as|at|orally|subcutaneously|intravenously|once|twice|every))",
            re.I,
        ),
    ),
    # "Limited to a 30 day supply per fill": how much is dispensed, not whether it is covered
    ("a supply limit", re.compile(r"^limited to (?:an? )?\d+[- ]days?'? supply\b", re.I)),
    # a dose per kilogram per period, or "A weekly dosage of ...": the dosing table's rows
    (
        "dosing or administration",
        re.compile(
            r"^(?:an? (?:weekly|daily) dos(?:e|age) of\b|[^.]{0,60}?\d\s*mg/kg\s*(?:/|per\s+)"
            r"(?:wk|week|day|d)\b)",
            re.I,
        ),
    ),
    ("a note", re.compile(r"^(?:notes?|nb|please note|\*+)\s*[:.\-\u2013]", re.I)),
    # a whole line in parentheses is an aside to the line above
    ("a note", re.compile(r"^\([^()]*\)\.?$")),
    (
        "a reference",
        # ("Refer to the off-label use policy" stays: an alternative that another policy decides)
        re.compile(r"^(?:references?\s*:|see (?:appendix|section|below|above)\b)", re.I),
    ),
]


def not_a_criterion(text: str) -> str | None:
    """What a line of a criteria list is when it is not a criterion (a connector, a duration,
    a dosing line, a note, a reference), else None."""
    t = text.strip()
    for what, rx in _NOT_CRITERIA:
        if rx.match(t):
            return what
    return None
