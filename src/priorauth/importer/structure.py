"""The document's structure: sections by their headings, and the requirement lists as trees of
items (ONE of / ALL of groups, numbered items, lettered sub-items)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from priorauth.importer.document import Document, Line

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


_STARTS_BLOCK = re.compile(
    r"^\s*(?:[-*\u2022]\s|\d+[.)]\s|[a-z][.)]\s|\||#|[A-Z][A-Za-z -]{2,30}:"
    r"|(?:January|February|March|April|May|June|July|August|September|October|November|December)"
    r"\s+\d{4}\b)"
)


def unwrap(lines: list[Line]) -> list[Line]:
    """Join the lines a PDF wrapped: a line that fills the width runs on into the next one,
    unless the next one starts a list item, a heading or a table row."""
    lengths = sorted(len(line.text) for line in lines if line.text)
    if not lengths:
        return lines
    full = 0.75 * lengths[int(0.95 * (len(lengths) - 1))]
    out: list[Line] = []
    for line in lines:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.text
            and line.text
            and not prev.heading
            and len(prev.text.split("\n")[-1]) >= full
            and not prev.text.rstrip().endswith((".", ":", ";"))
            and not _STARTS_BLOCK.match(line.text)
            and heading_key(line.text) not in KNOWN
        ):
            prev.text = f"{prev.text.rstrip()} {line.text.strip()}"
            prev.joined.append(line.number)
            continue
        out.append(line)
    return out


@dataclass
class Section:
    key: str
    heading: Line | None
    lines: list[Line] = field(default_factory=list)

    @property
    def content(self) -> list[Line]:
        return [line for line in self.lines if line.text.strip()]


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


# --- requirement lists ---------------------------------------------------------------------


@dataclass
class Item:
    """A line of a requirement list and the lines under it."""

    text: str
    line: Line
    children: list[Item] = field(default_factory=list)


@dataclass
class Group:
    """A run of items under 'Patient must have ONE of the following', 'AND ALL of ...', ..."""

    text: str
    line: Line | None
    combine: str  # "all" or "any"
    items: list[Item] = field(default_factory=list)


@dataclass
class Requirements:
    age: Item | None
    groups: list[Group]
    same_as_above: Line | None
    unplaced: list[Line]
    placed: list[Line]


_GROUP = re.compile(
    r"^(?:(?:AND|OR)\s+)?(?:patient must (?:have|meet)\s+)?(?:(ONE|ALL|ANY|BOTH)\s+of\s+)?"
    r"the following\b",
    re.I,
)
_NUMBERED = re.compile(r"^(\d+)[.)]\s+(.*)$")
_LETTERED = re.compile(r"^(?:[-*\u2022]\s*)?([a-z])[.)]\s+(.*)$")
_ROMAN = re.compile(r"^(?:[-*\u2022]\s*)?((?:i|ii|iii|iv|v|vi|vii|viii|ix|x))[.)]\s+(.*)$")
_BULLET = re.compile(r"^[-*\u2022]\s+(.*)$")
_AGE = re.compile(r"^Age\s+(.+)$", re.I)


def _indent(line: Line) -> int:
    return len(line.text) - len(line.text.lstrip(" \t"))


def parse_requirements(section: Section) -> Requirements:
    age: Item | None = None
    groups: list[Group] = []
    unplaced: list[Line] = []
    placed: list[Line] = []
    same: Line | None = None
    current: Group | None = None
    last_top: Item | None = None
    last_sub: Item | None = None
    for line in section.content:
        text = line.text.strip()
        if heading_key(text) in SUBHEADINGS:
            placed.append(line)
            continue
        if re.fullmatch(r"same as above\.?", text, re.I):
            same = line
            placed.append(line)
            continue
        m = _AGE.match(text)
        if m and re.search(r"\d", m.group(1)) and current is None:
            age = Item(m.group(1).strip(), line)
            placed.append(line)
            continue
        g = _GROUP.match(text)
        if g:
            word = (g.group(1) or "ALL").upper()
            current = Group(
                text.rstrip(":").strip(), line, "any" if word in ("ONE", "ANY") else "all"
            )
            groups.append(current)
            last_top = last_sub = None
            placed.append(line)
            continue
        if text[:1].islower() and not _LETTERED.match(text) and not _ROMAN.match(text):
            # A line wrapped in the PDF: the rest of the item above.
            target = last_sub or last_top
            if target is not None:
                target.text = f"{target.text} {text}"
                placed.append(line)
                continue
        indent = _indent(line)
        numbered = _NUMBERED.match(text)
        lettered = _LETTERED.match(text)
        roman = _ROMAN.match(text)
        bullet = _BULLET.match(text)
        if current is None:
            unplaced.append(line)
            continue
        if roman and last_sub is not None and (indent >= 4 or not lettered):
            last_sub.children.append(Item(roman.group(2).strip(), line))
        elif numbered and indent < 2:
            last_top = Item(numbered.group(2).strip(), line)
            last_sub = None
            current.items.append(last_top)
        elif (lettered or (bullet and indent >= 2)) and last_top is not None:
            body = lettered.group(2) if lettered else bullet.group(1)  # type: ignore[union-attr]
            last_sub = Item(body.strip(), line)
            last_top.children.append(last_sub)
        elif bullet:
            last_top = Item(bullet.group(1).strip(), line)
            last_sub = None
            current.items.append(last_top)
        else:
            # A plain line in a group: a criterion of its own ("Non-small cell lung cancer").
            last_top = Item(text, line)
            last_sub = None
            current.items.append(last_top)
        placed.append(line)
    return Requirements(age, groups, same, unplaced, placed)
