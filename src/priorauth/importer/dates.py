"""Dates as plans write them, and which of a document's dates is its effective date.

Forms read: 2026-10-01, October 1, 2026 (and Oct. 1, 2026), 10/01/2026, 10-01-2026, 10.01.2026,
10.01.26, 10/01/26, October 2026, 10/2026; after an "Effective" label also 10/26 (month and
year). A date labelled as a review, a revision, an origin or a history entry is never the
effective date."""

from __future__ import annotations

import datetime as dt
import re

_MONTH_WORDS = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.?"
)
_MONTHS = {
    name: i
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
    for name in names
}


def _safe(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def _year(text: str) -> int:
    # Two-digit years are this century's: policies are no older than the drugs they cover.
    y = int(text)
    return y + 2000 if y < 100 else y


def _month(word: str) -> int:
    return _MONTHS[word.lower().rstrip(".")]


_FORMS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"), "ymd"),
    (re.compile(rf"\b({_MONTH_WORDS})\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I), "Mdy"),
    (re.compile(rf"\b(\d{{1,2}})\s+({_MONTH_WORDS})\s+(\d{{4}})\b", re.I), "dMy"),
    (re.compile(r"\b(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})\b"), "mdy"),
    (re.compile(rf"\b({_MONTH_WORDS})\s+(\d{{4}})\b", re.I), "My"),
    (re.compile(r"\b(\d{1,2})[/.-](\d{4})\b"), "my"),
]
_MONTH_YEAR_SHORT = re.compile(r"^\s*(\d{1,2})[/.-](\d{2})\b(?![/.-]\d)")


def parse_date(text: str, labelled: bool = False) -> dt.date | None:
    """The first date written in ``text``, in any of the forms above; a month without a day is
    its first day. ``labelled``: the text follows an "Effective" label, where "08/16" is a month
    and a year."""
    best: tuple[int, dt.date] | None = None
    for pattern, form in _FORMS:
        m = pattern.search(text)
        if not m:
            continue
        g = m.groups()
        if form == "ymd":
            d = _safe(int(g[0]), int(g[1]), int(g[2]))
        elif form == "Mdy":
            d = _safe(int(g[2]), _month(g[0]), int(g[1]))
        elif form == "dMy":
            d = _safe(int(g[2]), _month(g[1]), int(g[0]))
        elif form == "mdy":
            d = _safe(_year(g[2]), int(g[0]), int(g[1]))
        elif form == "My":
            d = _safe(int(g[1]), _month(g[0]), 1)
        else:
            d = _safe(int(g[1]), int(g[0]), 1)
        if d is not None and (best is None or m.start() < best[0]):
            best = (m.start(), d)
    if best is None and labelled:
        m = _MONTH_YEAR_SHORT.match(text)
        if m:
            d = _safe(_year(m.group(2)), int(m.group(1)), 1)
            return d
    return best[1] if best else None


# "Effective Date: ...", "Effective: ...", "Version Date: ...", "Date Effective ..."; not the
# original effective date, which is a history entry.
_LABEL = re.compile(
    r"(?<!original )(?<!original policy )\b(?:(?:policy |criteria )?effective(?: date)?|"
    r"date effective|version date)\b\s*(?:[:\-\u2013]|\bon\b|\bas of\b)?\s*",
    re.I,
)
# Where the value after a label ends: the next label of the header.
_NEXT_LABEL = re.compile(
    r"\b(?:last|next|original|line of business|review|revis|reference|policy|page|"
    r"date of origin|approval)",
    re.I,
)
# A line that is a date and nothing else ("January 2019" under a class page's title).
_DATE_LINE = re.compile(
    rf"^\s*(?:{_MONTH_WORDS}\s+(?:\d{{1,2}},?\s+)?\d{{4}}|\d{{1,2}}/\d{{1,2}}/\d{{2,4}})\s*$",
    re.I,
)


def effective_date(lines: list[str]) -> tuple[dt.date | None, str]:
    """The document's effective date, and how it was found ("" when by its label; else a note
    for the reviewer); None when the document does not state one."""
    for i, text in enumerate(lines):
        for m in _LABEL.finditer(text):
            value = text[m.end() :]
            cut = _NEXT_LABEL.search(value)
            value = value[: cut.start()] if cut else value
            if not value.strip() and i + 1 < len(lines):
                value = lines[i + 1]  # the label on a line of its own, the date below it
            d = parse_date(value[:40], labelled=True)
            if d is not None:
                return d, ""
    for text in lines[:15]:
        if _DATE_LINE.match(text):
            d = parse_date(text)
            if d is not None:
                return d, f"the only date in the title lines ({text.strip()!r}) was taken for it"
    return None, ""
