"""FEP's requirement lists (to be read by the outline stage)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from priorauth.importer.document import Line
from priorauth.importer.sections import SUBHEADINGS, Section, heading_key

__all__ = ["Section", "parse_requirements"]


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
