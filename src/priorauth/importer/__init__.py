"""Published policy documents to executable policies: clean the text, read its structure, map
each criterion to the vocabulary (or a question), and report where every line went."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from priorauth.errors import DocumentError
from priorauth.importer.document import Document, clean, read_text, unwrap
from priorauth.importer.metadata import with_effective_date
from priorauth.importer.read import read
from priorauth.importer.result import ImportResult, Placement, Unplaced
from priorauth.importer.sections import is_heading
from priorauth.policy.tables import Knowledge, load_knowledge


def build(
    doc: Document,
    kb: Knowledge | None = None,
    plan: str | None = None,
    line_of_business: str | None = None,
) -> ImportResult:
    """A cleaned document to a policy, by the one reader of every layout (read.py)."""
    return read(doc, kb or load_knowledge(), plan, line_of_business)


def import_text(
    text: str,
    source: str = "document",
    wrapped: bool = False,
    plan: str | None = None,
    line_of_business: str | None = None,
) -> ImportResult:
    """``wrapped``: the text comes from a PDF, whose long lines are wrapped at the page width.
    ``plan``: the plan whose policy this is (e.g. fep); ``line_of_business``: which of several
    durations to take when the document gives one per line of business."""
    if not text.strip():
        raise DocumentError(source, "empty: no text in it")
    doc = clean(text, source)
    if wrapped:
        doc.lines = unwrap(doc.lines, is_heading)
    return build(doc, plan=plan, line_of_business=line_of_business)


def import_document(
    path: str | Path,
    plan: str | None = None,
    line_of_business: str | None = None,
    effective_date: dt.date | None = None,
) -> ImportResult:
    """``effective_date``: the date the policy takes effect, when the document does not say it
    (or says it wrongly)."""
    p = Path(path)
    if p.is_dir():
        raise DocumentError(str(p), "a directory, not a document")
    text = read_text(p)
    result = import_text(text, str(p), "\f" in text, plan, line_of_business)
    return with_effective_date(result, effective_date) if effective_date else result


__all__ = [
    "DocumentError",
    "ImportResult",
    "Placement",
    "Unplaced",
    "build",
    "import_document",
    "import_text",
]
