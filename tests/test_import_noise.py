"""Page furniture does not change what the importer reads.

A PDF converted to text carries a page header at every page break (``---``, the Section /
Subsection / Subject lines with "Page: N of M", ``---``, sometimes the policy number as a heading)
and blank lines that mean nothing. Wherever such a break falls, between two lines or in the middle
of a sentence, the imported policy must be the one the clean document gives.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shared_folder import SEED_DOC, shared

# The documents, under ../shared (a test skips when its document is not there).
SEED = SEED_DOC
OTHERS = ["policies/5.99.101-krazati.md", "policies/5.99.102-tagrisso.md"]
NUMBER_LINE = re.compile(r"^#{1,2} \d+\.\d+\.\d+\s*$")
SECTION_LINE = "<b>Section:</b>"
MARKER = re.compile(r"^\s*(?:\d+\.|- [a-z]\.|\*\*Age\*\*)\s*")

SETTINGS = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class Doc:
    """A document as lines, with its page-header template and the boundaries where a page break
    can fall (not inside a header block, not inside a Markdown table)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.text = path.read_text(encoding="utf-8")
        self.lines = self.text.split("\n")
        heads = [n for n, line in enumerate(self.lines) if line.startswith(SECTION_LINE)]
        assert heads, f"{path.name}: no page header"
        first = heads[0]
        self.template = self.lines[first : first + 3]
        assert self.template[2].startswith("<b>Subject:</b>"), self.template
        self.number = next(
            line.lstrip("#").strip() for line in self.lines if NUMBER_LINE.match(line)
        )
        inside: set[int] = set()
        for h in heads:
            assert self.lines[h - 2] == "---" and self.lines[h + 4] == "---", (path.name, h)
            start = h - 2
            if start >= 2 and NUMBER_LINE.match(self.lines[start - 2]):
                start -= 2
            inside.update(range(start + 1, h + 5))
        for n in range(1, len(self.lines)):
            if self.lines[n - 1].startswith("|") and self.lines[n].startswith("|"):
                inside.add(n)
        # boundary b: a new line goes before self.lines[b] (b == len(lines): at the end)
        self.boundaries = [b for b in range(len(self.lines) + 1) if b not in inside]
        self.criterion_lines = self._criterion_lines()
        self.description_lines = self._block("#### Background", "#### Regulatory Status")

    def header(self, page: int, total: int, number: str | None) -> list[str]:
        subject = re.sub(r"\d+ of \d+\s*$", f"{page} of {total}", self.template[2])
        block = ["---", "", self.template[0], self.template[1], subject, "", "---"]
        if number is not None:
            block = [f"{number} {self.number}", "", *block]
        return block

    def _block(self, start: str, end: str) -> list[int]:
        a = self.lines.index(start)
        b = self.lines.index(end, a)
        return [n for n in range(a + 1, b) if self.lines[n].strip()]

    def _criterion_lines(self) -> list[int]:
        a = self.lines.index("## Prior-Approval Requirements")
        b = self.lines.index("### Policy Guidelines", a)
        out = []
        for n in range(a + 1, b):
            line = self.lines[n]
            if (
                not line.strip()
                or line.startswith(("#", "---", "<b>"))
                or "the following" in line
                or line.startswith("Patient must have")
            ):
                continue
            out.append(n)
        return out


def dump(policy: Any) -> Any:
    """The policy as data, without ``source`` (where each wording stands in the file: inserted
    lines move it, and only it)."""

    def strip(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k != "source"}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x

    return strip(policy.model_dump(mode="json"))


@functools.cache
def doc(relative: str) -> Doc:
    return Doc(shared(relative))


@functools.cache  # by identity: doc() gives one Doc per document
def clean(d: Doc) -> tuple[dict[str, Any], Any]:
    from priorauth.importer import import_text

    result = import_text(d.text, source=d.path.name)
    return dump(result.policy), result


def reimport(d: Doc, lines: list[str]) -> Any:
    from priorauth.importer import import_text

    return import_text("\n".join(lines), source=d.path.name)


def differences(a: Any, b: Any, where: str = "policy") -> list[str]:
    """Paths where two model dumps differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += differences(a.get(key, "<absent>"), b.get(key, "<absent>"), f"{where}.{key}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            out += differences(x, y, f"{where}[{n}]")
        return out
    return [] if a == b else [f"{where}: clean {a!r}\n    noisy {b!r}"]


def assert_same_policy(d: Doc, noisy: list[str], what: str) -> None:
    want, _ = clean(d)
    result = reimport(d, noisy)
    have = dump(result.policy)
    diff = differences(want, have)
    assert not diff, f"{d.path.name}, {what}:\n" + "\n".join(diff[:15])
    assert not result.unplaced, f"{d.path.name}, {what}: unplaced " + repr(
        [(u.page, u.line, u.text) for u in result.unplaced]
    )


# --- strategies ------------------------------------------------------------------------------


@st.composite
def noise(draw: st.DrawFn, d: Doc) -> tuple[list[str], str]:
    """The document with page headers and/or blank lines inserted at line boundaries."""
    n = draw(st.integers(1, 6), label="insertions")
    inserts = []
    for _ in range(n):
        at = draw(st.sampled_from(d.boundaries), label="at")
        if draw(st.booleans(), label="header?"):
            total = draw(st.integers(1, 9), label="of")
            page = draw(st.integers(1, total), label="page")
            number = draw(st.sampled_from([None, "#", "##"]), label="number line")
            before = draw(st.integers(0, 2), label="blank lines before")
            after = draw(st.integers(0, 2), label="blank lines after")
            block = [""] * before + d.header(page, total, number) + [""] * after
        else:
            block = [""] * draw(st.integers(1, 3), label="blank lines")
        inserts.append((at, block))
    lines = list(d.lines)
    for at, block in sorted(inserts, key=lambda i: i[0], reverse=True):
        lines[at:at] = block
    shown = ", ".join(f"{len(b)} line(s) before line {at + 1}" for at, b in sorted(inserts))
    return lines, shown


@st.composite
def broken_sentence(draw: st.DrawFn, d: Doc, which: str) -> tuple[list[str], str]:
    """One line split in two at a space before a lowercase word, a page header between."""
    pool = d.criterion_lines if which == "criterion" else d.description_lines
    n = draw(st.sampled_from(pool), label="line")
    line = d.lines[n]
    marker = MARKER.match(line)
    body_start = marker.end() if marker else 0
    cuts = [m.start() for m in re.finditer(r" (?=[a-z])", line) if m.start() > body_start]
    if not cuts:
        # no lowercase word to start the next page with: break before the last word instead
        cuts = [line.rstrip().rindex(" ")]
    at = draw(st.sampled_from(cuts), label="split at")
    total = draw(st.integers(2, 9), label="of")
    page = draw(st.integers(2, total), label="page")
    number = draw(st.sampled_from([None, "#", "##"]), label="number line")
    first, second = line[:at].rstrip(), line[at:].strip()
    lines = [*d.lines[:n], first, "", *d.header(page, total, number), "", second, *d.lines[n + 1 :]]
    return lines, f"line {n + 1} split: {first!r} | {second!r}"


# --- the tests -------------------------------------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_seed_page_headers_and_blank_lines_change_nothing(data: st.DataObject) -> None:
    d = doc(SEED)
    lines, what = data.draw(noise(d), label="noisy document")
    assert_same_policy(d, lines, what)


@SETTINGS
@given(data=st.data())
def test_seed_page_break_inside_a_criterion(data: st.DataObject) -> None:
    d = doc(SEED)
    lines, what = data.draw(broken_sentence(d, "criterion"), label="broken criterion")
    assert_same_policy(d, lines, what)


@SETTINGS
@given(data=st.data())
def test_seed_page_break_inside_the_description(data: st.DataObject) -> None:
    d = doc(SEED)
    lines, what = data.draw(broken_sentence(d, "description"), label="broken description")
    assert_same_policy(d, lines, what)


@pytest.mark.parametrize("path", OTHERS, ids=[Path(p).stem for p in OTHERS])
@SETTINGS
@given(data=st.data())
def test_other_documents_page_noise(path: str, data: st.DataObject) -> None:
    d = doc(path)
    if data.draw(st.booleans(), label="break a criterion?"):
        lines, what = data.draw(broken_sentence(d, "criterion"), label="broken criterion")
    else:
        lines, what = data.draw(noise(d), label="noisy document")
    assert_same_policy(d, lines, what)


def test_the_noise_is_in_the_documents_format() -> None:
    """The generated header is the document's own header with another page number."""
    d = doc(SEED)
    block = d.header(2, 4, None)
    text = "\n".join(block)
    assert text in d.text
    assert "\n".join(d.header(4, 4, "#")) in d.text
    assert d.criterion_lines, "no criterion lines found"
    assert len(d.description_lines) == 1


def criteria_only(dump: dict[str, Any]) -> Any:
    """The requirements trees without ``source`` (where a wording stands in the document, which
    a page break moves): what the criteria say and how they are grouped."""

    def strip(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k != "source"}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x

    return strip(dump["requirements"])


# Page breaks found to matter: the line before the break ends in ")" or ":", or the next page
# starts with a single word. Each must leave the criteria as they are.
SPLITS = [
    (SEED, "1. Locally advanced or metastatic", " metastatic non-small"),
    (SEED, "  - c. Used as a single agent", " agent"),
    (SEED, "1. **NO** disease progression", " or unacceptable"),
    (OTHERS[0], "1. Patient has **NOT** progressed", " progressed on"),
    (OTHERS[1], "2. Locally advanced, unresectable (stage III) disease", " disease"),
    (OTHERS[1], "  - b. Disease has progressed on or after EGFR", " therapy (e.g."),
    (OTHERS[1], "2. For adjuvant therapy:", " patient has"),
    (OTHERS[1], "Non-small cell lung cancer (NSCLC)", " lung cancer"),
]


@pytest.mark.parametrize(
    ("path", "line_start", "split_before"),
    SPLITS,
    ids=[f"{Path(p).stem}:{s.strip()}" for p, _, s in SPLITS],
)
def test_page_break_mid_criterion_keeps_the_criteria(
    path: str, line_start: str, split_before: str
) -> None:
    d = doc(path)
    n = next(i for i, line in enumerate(d.lines) if line.startswith(line_start))
    line = d.lines[n]
    at = line.index(split_before)
    first, second = line[:at].rstrip(), line[at:].strip()
    lines = [*d.lines[:n], first, "", *d.header(3, 5, None), "", second, *d.lines[n + 1 :]]
    want, _ = clean(d)
    result = reimport(d, lines)
    diff = differences(criteria_only(want), criteria_only(dump(result.policy)))
    placed = [p.text for p in result.criteria if p.text.startswith(second[:12])]
    assert not diff, f"{first!r} | page header | {second!r}: placed as {placed!r}\n" + "\n".join(
        diff[:5]
    )
    assert not result.unplaced


VARIANTS = {
    "crlf": lambda t: t.replace("\n", "\r\n"),
    "bom": lambda t: "\ufeff" + t,
    "trailing_spaces": lambda t: "\n".join(line + "  " for line in t.split("\n")),
    "nbsp": lambda t: t.replace("Patient has received", "Patient\u00a0has received"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("path", [SEED, *OTHERS], ids=[Path(p).stem for p in [SEED, *OTHERS]])
def test_text_variants_change_nothing(path: str, variant: str) -> None:
    """Line endings, a byte-order mark, trailing and non-breaking spaces: the same policy."""
    from priorauth.importer import import_text

    d = doc(path)
    want, _ = clean(d)
    result = import_text(VARIANTS[variant](d.text), source=d.path.name)
    diff = differences(want, dump(result.policy))
    assert not diff, f"{d.path.name}, {variant}:\n" + "\n".join(diff[:10])
    assert not result.unplaced
