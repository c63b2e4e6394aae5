"""The policy importer against documents read by hand.

Each ``tests/import_expectations/<document stem>.yaml`` was written by reading its document (not
the importer's output): metadata, history, indications, limits, and every requirement line with
the condition type it should become. The tests here import the document and hold the result to
those expectations; a failure names the expectation, what the importer produced, and the text.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from shared_folder import shared

ROOT = Path(__file__).resolve().parents[1]
EXPECTATIONS = sorted((Path(__file__).parent / "import_expectations").glob("*.yaml"))
STRUCTURAL = re.compile(r"\bthe following\b", re.IGNORECASE)


# --- helpers ---------------------------------------------------------------------------------


def norm(text: str) -> str:
    """Whitespace collapsed, Markdown emphasis (``**``, ``*``) removed."""
    return " ".join(text.replace("**", "").replace("*", "").split())


def loose(text: str) -> str:
    """``norm`` plus en/em dashes as hyphens, without the spaces around a dash."""
    text = norm(text).replace("\u2013", "-").replace("\u2014", "-")
    return re.sub(r"\s*-\s*", "-", text)


def load_expect(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: expected a mapping"
    return data


def source_of(exp: dict[str, Any]) -> Path:
    source: str = exp["source"]
    if source.startswith("../shared/"):
        return shared(source.removeprefix("../shared/"))
    return (ROOT / source).resolve()


@functools.cache
def imported(source: str) -> Any:
    from priorauth.importer import import_document

    return import_document(Path(source))


@pytest.fixture(params=EXPECTATIONS, ids=[p.stem for p in EXPECTATIONS])
def case(request: pytest.FixtureRequest) -> tuple[dict[str, Any], Any, Path]:
    exp = load_expect(request.param)
    src = source_of(exp)
    assert src.is_file(), f"{request.param.name}: source {exp['source']} not found"
    return exp, imported(str(src)), src


def trees(policy: Any) -> dict[str, Any]:
    return {"initial": policy.requirements.initial, "renewal": policy.requirements.renewal}


def index(policy: Any) -> dict[str, tuple[str, Any, list[Any]]]:
    """Criterion id -> (section, node, path of nodes from the section root to the node)."""
    out: dict[str, tuple[str, Any, list[Any]]] = {}

    def visit(section: str, node: Any, path: list[Any]) -> None:
        here = [*path, node]
        out[node.id] = (section, node, here)
        for child in node.children:
            visit(section, child, here)

    for section, root in trees(policy).items():
        visit(section, root, [])
    return out


def span(path: list[Any]) -> Any:
    """The topmost node on the path with the same wording as the last one: the criterion a
    requirement line became, with whatever the importer built under it."""
    last = norm(path[-1].text)
    for node in path:
        if norm(node.text) == last:
            return node
    return path[-1]


@dataclass
class Line:
    """One requirement line of the document as the importer placed it: one placement, or a line
    the importer split into fragments (placements on the same page and line). ``node`` is the
    criterion that carries the whole line: the placement's, or the fragments' nearest common
    ancestor."""

    section: str
    text: str
    placements: list[Any]
    node: Any
    problem: str | None = None

    @property
    def types(self) -> list[str]:
        return [p.condition_type for p in self.placements]

    @property
    def where(self) -> str:
        p = self.placements[0]
        ids = ", ".join(q.id for q in self.placements)
        return f"{self.section} {self.text!r} (page {p.page} line {p.line}, {ids})"


def covers(line: str, fragments: list[str]) -> bool:
    """The fragments are, in order, the line's wording, bar commas and the joining OR/AND."""
    pos, rest = 0, []
    for frag in fragments:
        at = line.find(frag, pos)
        if at < 0:
            return False
        rest.append(line[pos:at])
        pos = at + len(frag)
    rest.append(line[pos:])
    leftover = " ".join(rest).replace(",", " ").replace(":", " ").split()
    return all(w.lower() in {"or", "and"} for w in leftover)


def lines_by_section(result: Any) -> dict[str, list[Line]]:
    """The result's placed requirement lines (not "... of the following" connectors), per
    section, in document order."""
    ids = index(result.policy)
    groups: dict[tuple[Any, Any], list[Any]] = {}
    for p in result.criteria:
        if not STRUCTURAL.search(p.text or ""):
            groups.setdefault((p.page, p.line), []).append(p)
    out: dict[str, list[Line]] = {"initial": [], "renewal": [], "?": []}
    for key in sorted(groups, key=lambda k: (k[0] or 0, k[1] or 0)):
        group = groups[key]
        if any(p.id not in ids for p in group):
            out["?"].append(Line("?", group[0].text, group, None, "names no criterion"))
            continue
        section = ids[group[0].id][0]
        if len(group) == 1:
            out[section].append(Line(section, group[0].text, group, ids[group[0].id][1]))
            continue
        paths = [ids[p.id][2] for p in group]
        common = [
            nodes[0] for nodes in zip(*paths, strict=False) if len({n.id for n in nodes}) == 1
        ]
        node = common[-1]
        line = Line(section, node.text, group, node)
        if not covers(norm(node.text), [norm(p.text) for p in group]):
            line.problem = (
                f"fragments {[p.text for p in group]!r} placed under {node.id} "
                f"({node.text!r}), which is not the line they came from"
            )
        out[section].append(line)
    return out


def expected_types(item: dict[str, Any]) -> list[str]:
    return [item["type"]] if "type" in item else list(item["type_any_of"])


def same(actual: Any, expected: Any) -> bool:
    if expected is None:
        return actual is None or actual == []
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return False
        return sorted(str(a).lower() for a in actual) == sorted(str(e).lower() for e in expected)
    if isinstance(expected, str) and isinstance(actual, str):
        return actual.lower() == expected.lower()
    return bool(actual == expected)


def field_problems(cond: Any, fields: dict[str, Any]) -> list[str]:
    problems = []
    for key, want in fields.items():
        if key == "alterations_count":
            got: Any = len(cond.alterations)
            if got != want:
                problems.append(f"{want} alterations, got {cond.alterations!r}")
            continue
        got = getattr(cond, key, "<absent>")
        if not same(got, want):
            problems.append(f"{key}={want!r}, got {got!r}")
    return problems


def document_text(src: Path) -> str:
    return src.read_text(encoding="utf-8")


# --- the tests -------------------------------------------------------------------------------


def test_expectation_files_cover_the_documents() -> None:
    stems = {p.stem for p in EXPECTATIONS}
    assert {"000_24fb1b736f1c81db", "5.99.101-krazati", "5.99.102-tagrisso"} <= stems
    for path in EXPECTATIONS:
        exp = load_expect(path)
        assert source_of(exp).stem == path.stem, f"{path.name}: source is {exp['source']}"


def test_metadata(case: tuple[dict[str, Any], Any, Path]) -> None:
    exp, result, _ = case
    p = result.policy
    got: dict[str, Any] = {
        "number": p.number,
        "title": p.title,
        "section": p.section,
        "subsection": p.subsection,
        "drug": {"brand": p.drug.brand, "generic": p.drug.generic},
        "effective_date": p.effective_date.isoformat(),
        "original_policy_date": p.original_policy_date.isoformat(),
        "last_review_date": p.last_review_date.isoformat(),
        "committee_approval_date": (
            p.committee_approval_date.isoformat() if p.committee_approval_date else None
        ),
        "applies_to": list(p.applies_to),
        "related_policies": list(p.related_policies),
        "pre_pa_allowance": p.pre_pa_allowance,
        "pre_pa_allowance_text": norm(p.pre_pa_allowance_text),
        "applicability_text": norm(p.applicability_text),
        "medically_necessary_text": norm(p.medically_necessary_text),
        "investigational_text": norm(p.investigational_text),
        "references_count": len(p.references),
    }
    problems = []
    for key, have in got.items():
        want = exp[key]
        if isinstance(want, str) and key.endswith("_text"):
            want = norm(want)
        if have != want:
            problems.append(f"{key}: expected {want!r}, importer gave {have!r}")
    assert not problems, "\n".join(problems)


def test_history(case: tuple[dict[str, Any], Any, Path]) -> None:
    exp, result, _ = case
    have = [(h.date, norm(h.action)) for h in result.policy.history]
    want = [(h["date"], norm(h["action"])) for h in exp["history"]]
    problems = (
        [f"{len(want)} entries expected, importer gave {len(have)}"]
        if len(have) != len(want)
        else []
    )
    for n, (w, h) in enumerate(zip(want, have, strict=False), start=1):
        if w != h:
            problems.append(f"entry {n}: expected {w!r}, importer gave {h!r}")
    assert not problems, "\n".join(problems)


def test_indications(case: tuple[dict[str, Any], Any, Path]) -> None:
    exp, result, _ = case
    problems = []
    for section, root in trees(result.policy).items():
        nodes = [n for n in root.walk() if n.indication]
        have = [norm(n.text) for n in nodes]
        spec = exp["indications"][section]
        options = spec["any_of"] if isinstance(spec, dict) else [spec]
        wants = [[norm(i["text"]) for i in option] for option in options]
        if have not in wants:
            shown = " or ".join(repr(w) for w in wants)
            problems.append(f"{section} indications: expected {shown}, importer gave {have!r}")
            continue
        option = options[wants.index(have)]
        for node, item in zip(nodes, option, strict=True):
            inside = Counter(norm(n.text) for n in node.walk()[1:])
            for text in item.get("includes", []):
                if inside[norm(text)] < 1:
                    problems.append(
                        f"{section} indication {item['text']!r} ({node.id}) does not include "
                        f"{text!r}; it has {sorted(inside)!r}"
                    )
    assert not problems, "\n".join(problems)


def test_limits(case: tuple[dict[str, Any], Any, Path]) -> None:
    exp, result, _ = case
    problems = []
    for section in ("initial", "renewal"):
        want = exp["limits"][section]
        lim = getattr(result.policy.limits, section)
        if lim.duration.months != want["duration_months"]:
            problems.append(
                f"{section} duration: expected {want['duration_months']} months, "
                f"importer gave {lim.duration.months} ({lim.duration.text!r})"
            )
        if "quantity" in want:
            q, w = lim.quantity, want["quantity"]
            have = (
                None if q is None else {"amount": q.amount, "unit": q.unit, "per_days": q.per_days}
            )
            if have != w:
                problems.append(f"{section} quantity: expected {w!r}, importer gave {have!r}")
            if lim.quantity_by_strength:
                problems.append(
                    f"{section}: no quantity per strength expected, importer gave "
                    f"{lim.quantity_by_strength!r}"
                )
        if "quantity_by_strength" in want:
            have_rows = sorted(
                (q.strength_mg, q.amount, q.unit, q.per_days) for q in lim.quantity_by_strength
            )
            want_rows = sorted(
                (r["strength_mg"], r["amount"], r["unit"], r["per_days"])
                for r in want["quantity_by_strength"]
            )
            if have_rows != want_rows:
                problems.append(
                    f"{section} quantity by strength (strength_mg, amount, unit, per_days): "
                    f"expected {want_rows!r}, importer gave {have_rows!r}"
                )
            if lim.quantity is not None:
                problems.append(
                    f"{section}: the document gives no overall quantity, importer gave "
                    f"{lim.quantity!r}"
                )
    assert not problems, "\n".join(problems)


def test_every_requirement_line_is_placed_once(case: tuple[dict[str, Any], Any, Path]) -> None:
    """The requirement lines the importer placed are exactly the document's, per section."""
    exp, result, _ = case
    placed = lines_by_section(result)
    problems = [f"{line.where}: {line.problem}" for line in placed["?"]]
    for section in ("initial", "renewal"):
        problems += [f"{line.where}: {line.problem}" for line in placed[section] if line.problem]
        want = Counter(norm(i["text"]) for i in exp["criteria_texts"][section])
        have = Counter(norm(line.text) for line in placed[section])
        for text, n in (want - have).items():
            problems.append(f"{section}: expected requirement line not found ({n}x): {text!r}")
        for text, n in (have - want).items():
            problems.append(f"{section}: importer placed an unexpected line ({n}x): {text!r}")
    assert not problems, "\n".join(problems)


def test_requirement_lines_typed_as_expected(case: tuple[dict[str, Any], Any, Path]) -> None:
    """Each line, in document order, has the expected condition type (a line split into
    fragments: each fragment's type is one the line may have, and together they say all of it)."""
    exp, result, _ = case
    placed = lines_by_section(result)
    problems = []
    for section in ("initial", "renewal"):
        want = exp["criteria_texts"][section]
        have = placed[section]
        if [norm(i["text"]) for i in want] != [norm(line.text) for line in have]:
            problems.append(
                f"{section}: requirement lines not in document order (or not the same lines): "
                f"expected {[norm(i['text']) for i in want]!r}, "
                f"importer gave {[norm(line.text) for line in have]!r}"
            )
            continue
        for item, line in zip(want, have, strict=True):
            allowed = set(expected_types(item)) | set(item.get("typed_subtree_has", []))
            wrong = [t for t in line.types if t not in allowed]
            if wrong or (len(line.types) > 1 and "question" in line.types):
                why = "; ".join(f"{p.condition_type}: {p.why}" for p in line.placements)
                problems.append(
                    f"{line.where}: expected type {' or '.join(expected_types(item))}, "
                    f"importer gave {line.types} ({why})"
                )
                continue
            typed = line.types != ["question"]
            node_span = span(index(result.policy)[line.node.id][2])
            leaves = [n for n in node_span.walk() if n.condition is not None]
            for kind in dict.fromkeys(line.types):
                fields = item.get("fields") if item.get("type") == kind else None
                fields = fields or item.get("fields_if", {}).get(kind)
                if not (fields and typed):
                    continue
                of_type = [n for n in leaves if n.condition.type == kind]
                tried = [field_problems(n.condition, fields) for n in of_type]
                if not any(t == [] for t in tried):
                    problems.append(
                        f"{line.where}: {kind} condition expected with {fields!r}: {tried!r}"
                    )
            if typed and item.get("typed_subtree_has"):
                kinds = {n.condition.type for n in leaves}
                lost = set(item["typed_subtree_has"]) - kinds
                if lost:
                    problems.append(
                        f"{line.where}: typed as {sorted(kinds)} but the line also says "
                        f"{sorted(lost)}; type it all or make it a question"
                    )
            if typed and item.get("typed_alternatives"):
                ors = [n for n in node_span.walk() if n.any is not None]
                if not any(len(n.any) >= item["typed_alternatives"] for n in ors):
                    problems.append(
                        f"{line.where}: the line gives {item['typed_alternatives']} alternatives "
                        f"(OR) but the typed criterion has no ONE-of of them"
                    )
    assert not problems, "\n".join(problems)


def test_placements_agree_with_the_policy(case: tuple[dict[str, Any], Any, Path]) -> None:
    """A placement names a criterion of the policy with the same wording and condition type;
    every condition of the policy is a placed requirement line."""
    _, result, _ = case
    ids = index(result.policy)
    problems = []
    placed_ids = set()
    for p in result.criteria:
        placed_ids.add(p.id)
        if p.mapping not in ("typed", "question"):
            problems.append(f"{p.id}: mapping {p.mapping!r} is neither 'typed' nor 'question'")
        if (p.mapping == "question") != (p.condition_type == "question"):
            problems.append(f"{p.id}: mapping {p.mapping!r} with type {p.condition_type!r}")
        if p.id not in ids:
            problems.append(f"placement {p.id!r} ({p.text!r}) names no criterion of the policy")
            continue
        node = ids[p.id][1]
        if norm(node.text) != norm(p.text):
            problems.append(f"{p.id}: placement text {p.text!r}, criterion text {node.text!r}")
        if node.condition is not None and node.condition.type != p.condition_type:
            problems.append(
                f"{p.id}: placement says {p.condition_type!r}, criterion is {node.condition.type!r}"
            )
    for cid, (_, node, path) in ids.items():
        if node.condition is None:
            continue
        if not any(n.id in placed_ids for n in path):
            problems.append(f"criterion {cid} ({node.text!r}) comes from no placed line")
    assert not problems, "\n".join(problems)


def test_nothing_unplaced(case: tuple[dict[str, Any], Any, Path]) -> None:
    _, result, _ = case
    assert not result.unplaced, "unplaced lines:\n" + "\n".join(
        f"page {u.page} line {u.line}: {u.text!r}" for u in result.unplaced
    )


def test_policy_loads(case: tuple[dict[str, Any], Any, Path]) -> None:
    from priorauth.policy.load import policy_from_data

    _, result, _ = case
    data = result.policy.model_dump(mode="json")
    loaded = policy_from_data(data, "x")
    assert loaded.model_dump(mode="json") == data


def test_no_warning_mentions_an_error(case: tuple[dict[str, Any], Any, Path]) -> None:
    _, result, _ = case
    bad = [w for w in result.warnings if "error" in w.lower()]
    assert not bad, f"warnings mention an error: {bad!r}"


def test_criterion_texts_are_the_documents_wording(case: tuple[dict[str, Any], Any, Path]) -> None:
    _, result, src = case
    doc = loose(document_text(src))
    missing = []
    for section, root in trees(result.policy).items():
        for node in root.walk():
            if loose(node.text) not in doc:
                missing.append(f"{section} {node.id}: {node.text!r}")
    assert not missing, "criterion texts not found in the document:\n" + "\n".join(missing)


def test_same_attestation_wording_same_key(case: tuple[dict[str, Any], Any, Path]) -> None:
    _, result, _ = case
    keys: dict[str, set[str]] = {}
    for root in trees(result.policy).values():
        for node in root.walk():
            if node.condition is not None and node.condition.type == "attestation":
                keys.setdefault(norm(node.text), set()).add(node.condition.key)
    assert all(len(k) == 1 for k in keys.values()), keys


def test_import_text_gives_the_same_policy(case: tuple[dict[str, Any], Any, Path]) -> None:
    from priorauth.importer import import_text

    _, result, src = case
    again = import_text(document_text(src), source=str(src))
    assert again.policy.model_dump(mode="json") == result.policy.model_dump(mode="json")


def test_report_markdown(case: tuple[dict[str, Any], Any, Path]) -> None:
    _, result, _ = case
    from priorauth.importer.report import render_markdown

    report = render_markdown(result)
    assert isinstance(report, str)
    assert result.policy.number in report
    assert result.policy.drug.brand in report
