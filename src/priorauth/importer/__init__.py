"""Published policy documents to executable policies: clean the text, read its structure, map
each criterion to the vocabulary (or a question), and report where every line went."""

from __future__ import annotations

from pathlib import Path

from priorauth.errors import DocumentError
from priorauth.importer.build import ImportResult, Placement, Unplaced, build
from priorauth.importer.document import clean, read_text


def import_text(text: str, source: str = "document") -> ImportResult:
    if not text.strip():
        raise DocumentError(source, "empty: no text in it")
    return build(clean(text, source))


def import_document(path: str | Path) -> ImportResult:
    p = Path(path)
    if p.is_dir():
        raise DocumentError(str(p), "a directory, not a document")
    return import_text(read_text(p), str(p))


__all__ = [
    "DocumentError",
    "ImportResult",
    "Placement",
    "Unplaced",
    "import_document",
    "import_text",
]
