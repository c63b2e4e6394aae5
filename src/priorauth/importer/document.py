"""A published policy document as clean, numbered lines: page headers and footers removed,
markup stripped, sentences split by a page break joined again."""

from __future__ import annotations

import logging
import re
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
