"""How well the importer reads a set of documents whose expectations were written by hand.

Each document ``NAME.txt`` / ``NAME.md`` / ``NAME.pdf`` has ``NAME.yaml`` beside it: its layout,
and every criterion it holds (the start of its wording) with the condition type a careful reader
gives it (``question`` when the vocabulary cannot hold all of it), optionally with fields that
must match. Per layout this prints: documents imported, the typed share, unplaced lines, and
criteria typed to a wrong meaning (a type other than the expected one, or a field that differs),
which must be 0. Then the same per therapeutic area (``area`` in the ``.yaml``; a document without
one is oncology) and for oncology against every other area together.

    python -m priorauth.importer.measure tests/corpus [tests/corpus/held_out ...]
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from priorauth.errors import DocumentError
from priorauth.importer import import_document
from priorauth.importer.result import ImportResult

SUFFIXES = (".txt", ".md", ".pdf")
ONCOLOGY = "oncology"


@dataclass
class DocScore:
    name: str
    layout: str
    imported: bool
    area: str = ONCOLOGY
    criteria: int = 0
    typed: int = 0
    unplaced: int = 0
    wrong: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # expected criteria not found
    error: str = ""


def documents(folder: Path) -> list[tuple[Path, Path]]:
    out = []
    for exp in sorted(folder.glob("*.yaml")):
        doc = next((exp.with_suffix(s) for s in SUFFIXES if exp.with_suffix(s).exists()), None)
        if doc is not None:
            out.append((doc, exp))
    return out


def _expected_for(text: str, expected: list[dict[str, Any]]) -> dict[str, Any] | None:
    t = " ".join(text.split()).lower()
    best = None
    for e in expected:
        start = " ".join(str(e["text"]).split()).lower()
        if t.startswith(start) and (best is None or len(start) > len(best["text"])):
            best = e
    return best


def score(doc: Path, exp: dict[str, Any], result: ImportResult | None = None) -> DocScore:
    s = DocScore(doc.name, str(exp["layout"]), imported=False, area=str(exp.get("area", ONCOLOGY)))
    try:
        r = result or import_document(doc, plan=exp.get("plan"))
    except DocumentError as exc:
        s.error = str(exc)
        return s
    s.imported = True
    s.unplaced = len(r.unplaced)
    expected = exp.get("criteria", [])
    seen: set[int] = set()
    nodes = {
        n.id: n
        for root in (r.policy.requirements.initial, r.policy.requirements.renewal)
        for n in root.walk()
    }
    for c in r.criteria:
        s.criteria += 1
        e = _expected_for(c.text, expected)
        typed = c.mapping == "typed"
        s.typed += typed
        if e is None:
            if typed:
                s.wrong.append(f"{c.id}: typed {c.condition_type}, no expectation: {c.text!r}")
            continue
        seen.add(id(e))
        want = e["type"]
        if typed and c.condition_type != want:
            s.wrong.append(f"{c.id}: typed {c.condition_type}, expected {want}: {c.text!r}")
            continue
        node = nodes.get(c.id)
        cond = node.condition.model_dump() if node is not None and node.condition else {}
        for key, value in (e.get("fields") or {}).items():
            if typed and cond.get(key) != value:
                s.wrong.append(f"{c.id}: {key} is {cond.get(key)!r}, expected {value!r}")
    s.missing = [str(e["text"]) for e in expected if id(e) not in seen]
    return s


def measure(folders: list[Path]) -> list[DocScore]:
    out = []
    for folder in folders:
        for doc, exp_path in documents(folder):
            exp = yaml.safe_load(exp_path.read_text(encoding="utf-8"))
            out.append(score(doc, exp))
    return out


def table(scores: list[DocScore]) -> str:
    """One row per layout, then all."""
    return _rows("layout", scores, lambda s: s.layout)


def area_table(scores: list[DocScore]) -> str:
    """One row per therapeutic area, then oncology against every other area, then all."""
    rows = _rows("area", scores, lambda s: s.area).splitlines()
    others = [s for s in scores if s.area != ONCOLOGY]
    split = [_row("non-oncology", others)] if others else []
    return "\n".join(rows[:-1] + split + rows[-1:])


def _rows(label: str, scores: list[DocScore], key: Callable[[DocScore], str]) -> str:
    by: dict[str, list[DocScore]] = defaultdict(list)
    for s in scores:
        by[key(s)].append(s)
    rows = [
        f"| {label} | documents | imported | criteria | typed | typed share | unplaced lines "
        "| wrongly typed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in sorted(by):
        rows.append(_row(name, by[name]))
    rows.append(_row("all", scores))
    return "\n".join(rows)


def _row(name: str, docs: list[DocScore]) -> str:
    crit = sum(d.criteria for d in docs)
    typed = sum(d.typed for d in docs)
    share = f"{100 * typed / crit:.0f} %" if crit else "-"
    return (
        f"| {name} | {len(docs)} | {sum(d.imported for d in docs)} | {crit} | {typed} | {share} "
        f"| {sum(d.unplaced for d in docs)} | {sum(len(d.wrong) for d in docs)} |"
    )


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    status = 0
    for folder in argv:
        scores = measure([Path(folder)])
        print(f"\n{folder}: {len(scores)} documents\n")
        print(table(scores))
        print()
        print(area_table(scores))
        for s in scores:
            for w in s.wrong:
                print(f"  WRONG {s.name}: {w}")
            if s.error:
                print(f"  NOT IMPORTED {s.name}: {s.error}")
            if s.wrong or not s.imported:
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
