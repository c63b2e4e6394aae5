"""The lines stage: a published policy document as clean, numbered lines: page headers and
footers removed, markup stripped, sentences split by a page break joined again, lines a PDF
wrapped at the page width joined, a paragraph a PDF flattened split again at its items."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from priorauth.errors import DocumentError

_TAG = re.compile(r"</?(?:b|i|u|em|strong|span|br|p)\b[^>]*>", re.I)
_SUP = re.compile(r"</?sup>", re.I)
_HEADER_CELL = re.compile(
    r"\b(Section|Subsection|Subject|Effective Date|Original Policy Date|Page)\s*:"
)
_PAGE = re.compile(r"Page\s*:?\s*(\d+)\s+of\s+(\d+)", re.I)
_NUMBER_LINE = re.compile(r"^#*\s*(\d+\.\d+\.\d+)\s*$")
_RULE = re.compile(r"^\s*(?:-{3,}|_{3,}|\*{3,})\s*$")
_ENDS_SENTENCE = re.compile(r"[.:;!?)\]]\s*$")


@dataclass
class Line:
    """One line of the document's text, with where it stands in the source."""

    text: str
    page: int
    number: int
    heading: bool = False
    joined: list[int] = field(default_factory=list)  # source lines merged into this one

    @property
    def where(self) -> str:
        return f"page {self.page}, line {self.number}"


@dataclass
class Document:
    source: str
    lines: list[Line]
    header: dict[str, str]
    pages: int


def read_text(path: Path) -> str:
    """The document's text: a text or Markdown file as is, a PDF's extracted text."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(str(path), f"cannot read ({exc.strerror or exc})") from None
    if path.suffix.lower() == ".pdf" or data[:5] == b"%PDF-":
        return _pdf_text(path, data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise DocumentError(str(path), "not UTF-8 text (nor a PDF)") from None


def _pdf_text(path: Path, data: bytes) -> str:
    if not data.startswith(b"%PDF-"):
        raise DocumentError(str(path), "not a PDF (it does not start with %PDF-)")
    from io import BytesIO

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    log = logging.getLogger("pypdf")
    was = log.level
    log.setLevel(logging.CRITICAL)  # its warnings would print beside our one-line error
    try:
        reader = PdfReader(BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, OSError, IndexError, TypeError) as exc:
        raise DocumentError(str(path), f"a damaged PDF ({exc})") from None
    finally:
        log.setLevel(was)
    # A form feed marks each page break, as the page headers do in converted text.
    return "\n\f\n".join(pages)


def strip_markup(text: str) -> str:
    text = _SUP.sub("", _TAG.sub("", text))
    text = text.replace("**", "").replace("__", "")
    text = re.sub(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])", r"\1", text)
    return text.replace("\u00a0", " ").rstrip()


def clean(text: str, source: str) -> Document:
    """Numbered lines without page furniture; the first page header's fields kept."""
    header: dict[str, str] = {}
    out: list[Line] = []
    page = 1
    pages = 1
    broke = False  # a page header or break came since the last content line
    for number, raw in enumerate(text.splitlines(), start=1):
        if "\f" in raw:
            page += 1
            pages = max(pages, page)
            broke = True
            raw = raw.replace("\f", "")
        plain = strip_markup(raw)
        stripped = plain.strip()
        if len(_HEADER_CELL.findall(stripped)) >= 2 and len(stripped) < 240:
            # The page header repeats two or more of its cells on a line; one cell alone
            # ("Effective Date: 7/1/2026") is another layout's own line, kept as text.
            _read_header(stripped, header)
            m = _PAGE.search(stripped)
            if m:
                page = int(m.group(1))
                pages = max(pages, int(m.group(2)))
            broke = True
            continue
        if _RULE.match(stripped) or _NUMBER_LINE.match(stripped):
            if _NUMBER_LINE.match(stripped):
                header.setdefault("number", _NUMBER_LINE.match(stripped).group(1))  # type: ignore[union-attr]
                broke = True
            continue
        if not stripped:
            out.append(Line("", page, number))
            continue
        heading = stripped.startswith("#")
        body = stripped.lstrip("#").strip() if heading else plain
        if broke and out and _continues(body):
            previous = _last_content(out)
            if previous is not None:
                previous.text = f"{previous.text.rstrip()} {body.strip()}"
                previous.joined.append(number)
                broke = False
                continue
        broke = False
        out.append(Line(body, page, number, heading))
    if not any(line.text for line in out):
        raise DocumentError(source, "empty: no text in it")
    return Document(source, out, header, pages)


def _continues(body: str) -> bool:
    first = body.strip()[:1]
    return bool(first) and first.islower()


def _last_content(lines: list[Line]) -> Line | None:
    for line in reversed(lines):
        if line.text:
            return None if _ENDS_SENTENCE.search(line.text) or line.heading else line
    return None


_LABELS = r"(?:Original Policy Date|Effective Date|Subsection|Section|Subject|Page)"
_CELL = re.compile(rf"\b({_LABELS})\s*:\s*(.*?)(?=\s*\b{_LABELS}\s*:|$)")


def _read_header(line: str, header: dict[str, str]) -> None:
    for label, value in _CELL.findall(line):
        value = value.strip()
        if value:
            header.setdefault(label.lower().replace(" ", "_"), value)


# --- PDF text: wrapped lines joined, a flattened paragraph split again ------------------------


_STARTS_BLOCK = re.compile(
    r"^\s*(?:[-*\u2022]\s|\d+[.)]\s|[a-z][.)]\s|\||#|[A-Z][A-Za-z -]{2,30}:"
    r"|(?:January|February|March|April|May|June|July|August|September|October|November|December)"
    r"\s+\d{4}\b)"
)


def unwrap(lines: list[Line], is_heading: Callable[[str], bool]) -> list[Line]:
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
            and not is_heading(line.text)
        ):
            prev.text = f"{prev.text.rstrip()} {line.text.strip()}"
            prev.joined.append(line.number)
            continue
        out.append(line)
    return out


FOOTER = re.compile(
    r"\bpage \d+ of \d+\b|©\s*\d{4}[^.]*?(?:reserved\.?|$)|\bconfidential and proprietary\b",
    re.I,
)


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
        text = FOOTER.sub(" ", line.text)
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
