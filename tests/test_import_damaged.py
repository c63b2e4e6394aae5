"""The importer on files that are not policies, cannot be read, or lack a section.

Each gives a DocumentError whose message names the file and the problem (for a missing section:
a DocumentError or a warning naming the section); never any other exception. The CLI turns the
error into one ``error: ...`` line on stderr, exit status 2, and writes no output file.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shared_folder import SEED_DOC, shared


def seed_lines() -> list[str]:
    return shared(SEED_DOC).read_text(encoding="utf-8").split("\n")


def find(lines: list[str], pattern: str, start: int = 0) -> int:
    rx = re.compile(pattern)
    for n in range(start, len(lines)):
        if rx.search(lines[n]):
            return n
    raise AssertionError(f"the seed has no line matching {pattern!r}")


def cut(lines: list[str], start_pattern: str, end_pattern: str) -> str:
    """The document without the lines from the one matching ``start_pattern`` up to (not
    including) the one matching ``end_pattern``."""
    a = find(lines, start_pattern)
    b = find(lines, end_pattern, a + 1)
    return "\n".join(lines[:a] + lines[b:])


RENEWAL_REQ = r"^## Prior .{0,3}Approval \*Renewal\* Requirements"
INITIAL_REQ = r"^## Prior-Approval Requirements"
INITIAL_LIMITS = r"^#### Prior - Approval Limits"
RENEWAL_LIMITS = r"^#### Prior .{0,3}Approval \*Renewal\* Limits"


def import_errors() -> tuple[type[BaseException], Any, Any]:
    from priorauth.importer import DocumentError, import_document, import_text

    return DocumentError, import_document, import_text


def expect_document_error(path: Path, problem_words: tuple[str, ...]) -> str:
    """import_document(path) raises DocumentError naming the file and one of the words."""
    DocumentError, import_document, _ = import_errors()
    from priorauth.errors import PriorAuthError

    assert issubclass(DocumentError, PriorAuthError)
    with pytest.raises(DocumentError) as info:
        import_document(path)
    msg = str(info.value)
    assert path.name in msg, f"the message does not name the file {path.name}: {msg!r}"
    assert any(w in msg.lower() for w in problem_words), (
        f"the message names none of {problem_words}: {msg!r}"
    )
    return msg


# --- files that are not policies -------------------------------------------------------------

NOT_POLICY = ("polic", "not an fep", "not a drug", "no policy", "unrecognised", "unrecognized")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


BAD_FILES: dict[str, tuple[Callable[[Path], Path], tuple[str, ...]]] = {
    "empty": (lambda d: _write(d / "empty.txt", b""), ("empty", "no text")),
    "whitespace": (
        lambda d: _write(d / "blank.md", b"  \n\n\t\n   \n"),
        ("empty", "blank", "no text", "whitespace"),
    ),
    "hello": (lambda d: _write(d / "hello.txt", b"hello world\n"), NOT_POLICY),
    "json": (
        lambda d: _write(
            d / "policy.json",
            json.dumps({"number": "5.21.177", "title": "Lumakras", "drug": "sotorasib"}).encode(),
        ),
        (*NOT_POLICY, "json", "file type", "unsupported", "extension"),
    ),
    "not_utf8": (
        lambda d: _write(d / "binary.txt", b"\xff\xfe\xfa\x00\x80\x81 policy \xc3\x28\xa0\xa1"),
        ("utf-8", "utf8", "decode", "encoding", "read", "binary", "text", *NOT_POLICY),
    ),
    "pdf_not_pdf": (
        lambda d: _write(d / "policy.pdf", b"This is plain text saved with a .pdf name.\n"),
        ("pdf",),
    ),
    "pdf_truncated": (
        lambda d: _write(d / "truncated.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<"),
        ("pdf", "read", "damaged", "corrupt", "truncated", "text"),
    ),
    "missing": (lambda d: d / "no-such-policy.txt", ("no such", "not found", "exist", "read")),
    "directory": (
        lambda d: (d / "a-folder.md").mkdir() or d / "a-folder.md",
        ("director", "folder", "not a file", "read"),
    ),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_file_is_a_document_error(name: str, tmp_path: Path) -> None:
    make, words = BAD_FILES[name]
    expect_document_error(make(tmp_path), words)


@pytest.mark.parametrize(
    ("text", "words"),
    [("", ("empty", "no text")), ("\n \n\t", ("empty", "blank", "no text", "whitespace"))],
)
def test_import_text_of_nothing(text: str, words: tuple[str, ...]) -> None:
    DocumentError, _, import_text = import_errors()
    with pytest.raises(DocumentError) as info:
        import_text(text, source="nothing.md")
    msg = str(info.value)
    assert "nothing.md" in msg
    assert any(w in msg.lower() for w in words), msg


def test_policy_in_another_encoding_never_crashes(tmp_path: Path) -> None:
    """The seed saved as cp1252 (its en dashes and ® are not UTF-8): refused as unreadable, or
    read; nothing else."""
    DocumentError, import_document, _ = import_errors()
    path = tmp_path / "lumakras-cp1252.txt"
    path.write_bytes("\n".join(seed_lines()).encode("cp1252"))
    try:
        result = import_document(path)
    except DocumentError as exc:
        assert path.name in str(exc)
    else:
        assert result.policy.number == "5.21.177"


# --- documents missing a section -------------------------------------------------------------


def section_reported(path: Path, ok: Callable[[str], bool], what: str) -> None:
    """A DocumentError naming the file and the section, or a warning naming the section."""
    DocumentError, import_document, _ = import_errors()
    try:
        result = import_document(path)
    except DocumentError as exc:
        msg = str(exc)
        assert path.name in msg, f"the message does not name the file: {msg!r}"
        assert ok(msg.lower()), f"the message does not name the missing {what}: {msg!r}"
        return
    assert any(ok(w.lower()) for w in result.warnings), (
        f"imported without a word on the missing {what}; warnings: {result.warnings!r}"
    )


def test_renewal_requirements_deleted(tmp_path: Path) -> None:
    path = tmp_path / "lumakras-no-renewal.txt"
    path.write_text(cut(seed_lines(), RENEWAL_REQ, r"^### Policy Guidelines"), encoding="utf-8")
    assert "Renewal* Requirements" not in path.read_text(encoding="utf-8")
    section_reported(path, lambda m: "renewal" in m, "renewal requirements")


def test_limits_deleted(tmp_path: Path) -> None:
    path = tmp_path / "lumakras-no-limits.txt"
    path.write_text(cut(seed_lines(), INITIAL_LIMITS, r"^### Rationale"), encoding="utf-8")
    assert "Quantity" not in path.read_text(encoding="utf-8")
    section_reported(path, lambda m: "limit" in m, "limits")


def test_initial_limits_deleted_renewal_says_same_as_above(tmp_path: Path) -> None:
    path = tmp_path / "lumakras-no-initial-limits.txt"
    path.write_text(cut(seed_lines(), INITIAL_LIMITS, RENEWAL_LIMITS), encoding="utf-8")
    section_reported(path, lambda m: "limit" in m, "limits")


def test_requirements_deleted(tmp_path: Path) -> None:
    path = tmp_path / "lumakras-no-requirements.txt"
    path.write_text(cut(seed_lines(), INITIAL_REQ, RENEWAL_REQ), encoding="utf-8")
    assert "Prior-Approval Requirements" not in path.read_text(encoding="utf-8")

    def names_initial_requirements(m: str) -> bool:
        return "requirement" in m and (
            "renewal" not in m or "initial" in m or "prior-approval requirements" in m
        )

    section_reported(path, names_initial_requirements, "prior-approval requirements")


# --- damage at random: only DocumentError, never another exception --------------------------


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_truncated_or_holed_seed_never_crashes(data: st.DataObject) -> None:
    DocumentError, _, import_text = import_errors()
    lines = seed_lines()
    if data.draw(st.booleans(), label="truncate"):
        end = data.draw(st.integers(0, len(lines)), label="end")
        damaged = lines[:end]
    else:
        start = data.draw(st.integers(0, len(lines) - 1), label="start")
        length = data.draw(st.integers(1, 30), label="length")
        damaged = lines[:start] + lines[start + length :]
    try:
        import_text("\n".join(damaged), source="damaged.txt")
    except DocumentError as exc:
        assert "damaged.txt" in str(exc)


# --- the command line ------------------------------------------------------------------------


def run_import(*args: str) -> Any:
    from typer.testing import CliRunner

    from priorauth.cli import app

    return CliRunner().invoke(
        app, ["policy", "import", *args], env={"COLUMNS": "100", "NO_COLOR": "1"}
    )


@pytest.mark.parametrize(
    "name", ["empty", "hello", "json", "not_utf8", "pdf_not_pdf", "pdf_truncated", "missing"]
)
def test_cli_import_of_a_bad_file(name: str, tmp_path: Path) -> None:
    bad = BAD_FILES[name][0](tmp_path)
    out = tmp_path / "out.yaml"
    result = run_import(str(bad), "-o", str(out))
    stderr = result.stderr
    assert result.exit_code == 2, (result.exit_code, result.stdout, stderr, result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {stderr!r}"
    assert lines[0].startswith("error: "), lines[0]
    assert bad.name in lines[0], lines[0]
    assert "Traceback" not in stderr + result.stdout
    assert not out.exists(), "an output file was written for a bad document"


def test_cli_import_of_the_seed_writes_a_policy(tmp_path: Path) -> None:
    """The control for the tests above: the same command on a good document succeeds."""
    from priorauth.importer import import_document
    from priorauth.policy.load import load_policy

    seed = shared(SEED_DOC)
    out = tmp_path / "lumakras.yaml"
    result = run_import(str(seed), "-o", str(out))
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert out.is_file()
    loaded = load_policy(out)
    assert loaded.model_dump(mode="json") == import_document(seed).policy.model_dump(mode="json")


@pytest.mark.parametrize("name", ["empty", "hello", "not_utf8", "pdf_not_pdf", "pdf_truncated"])
def test_installed_command_import_of_a_bad_file(name: str, tmp_path: Path) -> None:
    """The installed command in its own process: nothing but the one error line reaches stderr
    (in-process runs under pytest capture log records that a real run would print)."""
    bad = BAD_FILES[name][0](tmp_path)
    out = tmp_path / "out.yaml"
    exe = Path(sys.executable).parent / "priorauth"
    proc = subprocess.run(
        [str(exe), "policy", "import", str(bad), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), (
        f"expected one line 'error: ...' on stderr, got {proc.stderr!r}"
    )
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not out.exists()
