"""The importer reads the PDF itself as well as the text converted from it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from reportlab.lib.pagesizes import letter
from reportlab.pdfgen import canvas
from shared_folder import SEED_DOC, shared

from priorauth.importer import DocumentError, import_document
from priorauth.importer.document import strip_markup


def render_pdf(text: str, path: Path, wrap: int | None = None) -> None:
    """Lay the document out on letter pages as a PDF would: page headers where the text has
    them, one drawn line per text line (wrapped at ``wrap`` characters when given)."""
    pdf = canvas.Canvas(str(path), pagesize=letter)
    y = 750
    for raw in text.splitlines():
        line = strip_markup(raw).replace("\t", "    ")
        if line.strip() == "---":
            continue
        if re.match(r"^\s*Section:", line) and y < 700:
            pdf.showPage()
            y = 750
        body = line.lstrip("#").strip() if line.startswith("#") else line
        pieces = [body]
        if wrap and len(body) > wrap and not body.lstrip().startswith(("Section:", "Subsection:")):
            pieces, rest = [], body
            while len(rest) > wrap:
                cut = rest.rfind(" ", 0, wrap)
                cut = cut if cut > 0 else wrap
                pieces.append(rest[:cut])
                rest = rest[cut + 1 :]
            pieces.append(rest)
        for piece in pieces:
            pdf.setFont("Helvetica", 7)
            pdf.drawString(30, y, piece)
            y -= 9
            if y < 40:
                pdf.showPage()
                y = 750
    pdf.save()


def _comparable(policy: Any) -> Any:
    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "source"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(policy.model_dump(mode="json", exclude={"curation_notes"}))


@pytest.mark.parametrize("wrap", [None, 90])
def test_pdf_of_the_seed_imports_like_its_text(tmp_path: Path, wrap: int | None) -> None:
    seed = shared(SEED_DOC)
    pdf = tmp_path / "lumakras.pdf"
    render_pdf(seed.read_text(), pdf, wrap)
    from_pdf = import_document(pdf)
    assert from_pdf.unplaced == []
    assert _comparable(from_pdf.policy) == _comparable(import_document(seed).policy)


def test_a_pdf_that_is_not_a_pdf(tmp_path: Path) -> None:
    fake = tmp_path / "policy.pdf"
    fake.write_bytes(b"this is not a PDF at all")
    with pytest.raises(DocumentError, match="not a PDF"):
        import_document(fake)


def test_a_damaged_pdf(tmp_path: Path) -> None:
    broken = tmp_path / "policy.pdf"
    broken.write_bytes(b"%PDF-1.4\n" + b"\x00garbage" * 50)
    with pytest.raises(DocumentError):
        import_document(broken)
