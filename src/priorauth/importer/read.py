"""The reader: one pipeline for every layout, each stage a module with one job.

    text -> lines (document.py) -> sections (sections.py) -> outline (outline.py)
         -> logic tree (logic.py) -> criteria (criteria.py, mapping.py)
         -> the policy (metadata.py, limits.py, assemble) and its report (report.py)

FEP's layout is one more layout: its headings are found by the sections stage, its requirement
lists read by the same outline and logic stages; what differs per layout is stated where it is
used (its metadata and limits as it writes them, how it names its groups, what it says when a
section is missing).
"""

from __future__ import annotations

import re
from typing import Any

from priorauth.errors import DocumentError, PolicyError
from priorauth.importer.criteria import (
    FEP_TITLES,
    PLAN_TITLES,
    Criteria,
    FepRequirements,
    PlanCriteria,
    fep_requirements,
)
from priorauth.importer.document import Document, Line, looks_flattened, reflow
from priorauth.importer.limits import fep_limits, layout_limits
from priorauth.importer.mapping import Context, disease_of
from priorauth.importer.metadata import (
    drug_names,
    fep_metadata,
    is_metadata_line,
    layout_metadata,
)
from priorauth.importer.outline import parse_outline
from priorauth.importer.result import (
    DATE_FIELDS,
    NOT_STATED,
    PLACEHOLDER_DATE,
    ImportResult,
    Unplaced,
)
from priorauth.importer.sections import Blocks, Section, find_blocks, split_sections
from priorauth.policy.load import policy_from_data
from priorauth.policy.model import DiagnosisCondition, Policy
from priorauth.policy.tables import Knowledge, norm

_FEP = "prior-approval requirements"


def read(
    doc: Document, kb: Knowledge, plan: str | None = None, line_of_business: str | None = None
) -> ImportResult:
    """A cleaned document to a policy and its report."""
    src = doc.source
    warnings: list[str] = []
    notes: list[str] = []
    unplaced: list[Unplaced] = []

    # Sections, by their names in any layout (FEP's headings are one layout's).
    named = split_sections(doc)
    fep = _FEP in named
    lines, blocks = ([], Blocks()) if fep else _plan_sections(doc, notes)
    if not fep and not _phases(blocks) and drug_names(lines, kb) is None:
        raise DocumentError(
            src,
            "not a drug policy document: no criteria section (FEP 'Prior-Approval Requirements',"
            " 'Initial Authorization', 'Coverage Criteria', ...) and no drug named as"
            " 'Brand (generic)'",
        )

    # Metadata, as the layout writes it.
    if fep:
        meta = fep_metadata(doc, named, kb, warnings)
    else:
        meta = layout_metadata(doc, lines, blocks, kb, warnings)
    undated = meta["effective_date"] is None
    if undated:
        # First of all: which version of a policy is in force hangs on this date, and a date
        # made up here (the import day) would silently decide it.
        warnings.insert(0, NOT_STATED)
        meta = {
            k: PLACEHOLDER_DATE.isoformat() if v is None and k in DATE_FIELDS else v
            for k, v in meta.items()
        }
    own = frozenset(norm(x) for x in (meta["drug"]["brand"], meta["drug"]["generic"]) if x)

    # Outline, logic and criteria of each criteria section.
    criteria = Criteria(doc, kb, own)
    plans = PlanCriteria(criteria, kb, own, warnings)
    if fep:
        trees = _fep_trees(named, criteria, kb, own, warnings, notes, unplaced, src)
        unread = None
    else:
        trees, unread = _plan_trees(
            lines, blocks, criteria, plans, kb, own, warnings, notes, unplaced, src
        )

    # Limits, the policy, the report.
    if fep:
        limits = fep_limits(named, meta, kb, warnings, unplaced, src)
    else:
        limits = layout_limits(blocks, plans.caps, meta, line_of_business, warnings, unplaced)
    policy = assemble(meta, plan, trees["initial"], trees["renewal"], limits, notes, src, kb)
    if fep:
        warnings += _uncovered_indications(named, policy, kb, own)
        found = [k for k in named if k != "front"]
    else:
        found = [
            *(f"{k} criteria" for k in ("initial", "renewal") if k in _phases(blocks)),
            *(["durations"] if blocks.durations else []),
            *(["quantity limits"] if blocks.quantity else []),
            *blocks.sections,
        ]
    return ImportResult(
        src, policy, criteria.placements, unplaced, warnings, notes, found, unread, undated
    )


def _phases(blocks: Blocks) -> dict[str, tuple[Line | None, list[Line]]]:
    """The criteria blocks found (a phase given in several blocks under its first key)."""
    return {k.split("#")[0]: v for k, v in reversed(list(blocks.phases.items())) if v[1]}


def _plan_sections(doc: Document, notes: list[str]) -> tuple[list[Line], Blocks]:
    """The lines and sections of a document in another plan's layout; a paragraph a PDF
    flattened is split again first."""
    lines = [line for line in doc.lines if line.text.strip()]
    if looks_flattened(lines):
        notes.append("The text was one long paragraph (a flattened PDF): split at its bullets")
        lines = reflow(lines)
    blocks = find_blocks(lines)
    if lines and not any(ls for _, ls in blocks.phases.values()):
        # A flattened paragraph that a PDF then wrapped at the page width: run the lines
        # together and split them where bullets and headings begin.
        joined = Line(" ".join(x.text.strip() for x in lines), lines[0].page, lines[0].number)
        again = reflow([joined]) if len(joined.text) >= 200 else []
        retry = find_blocks(again)
        if any(ls for _, ls in retry.phases.values()):
            notes.append("The text ran together (a flattened PDF): split at its bullets")
            lines, blocks = again, retry
    return lines, blocks


def _fep_trees(
    named: dict[str, Section],
    criteria: Criteria,
    kb: Knowledge,
    own: frozenset[str],
    warnings: list[str],
    notes: list[str],
    unplaced: list[Unplaced],
    src: str,
) -> dict[str, dict[str, Any]]:
    """FEP's requirement sections: its groups named by their headers and indications."""
    initial_req = fep_requirements(named[_FEP], warnings)
    criteria.policy_disease = _policy_disease(initial_req, kb, own)
    for line in initial_req.unplaced:
        unplaced.append(Unplaced(line.text.strip(), line.page, line.number, FEP_TITLES["initial"]))
    if not initial_req.groups and initial_req.age is None:
        raise DocumentError(src, "the 'Prior-Approval Requirements' section lists no criteria")
    trees = {"initial": criteria.tree("initial", initial_req)}
    renewal_section = named.get("prior-approval renewal requirements")
    if renewal_section is None:
        warnings.append(
            "no 'Prior-Approval Renewal Requirements' section: renewals are held to the "
            "initial requirements"
        )
        trees["renewal"] = criteria.tree("renewal", initial_req)
        return trees
    renewal_req = fep_requirements(renewal_section, warnings)
    for line in renewal_req.unplaced:
        unplaced.append(Unplaced(line.text.strip(), line.page, line.number, FEP_TITLES["renewal"]))
    if renewal_req.same_as_above and not renewal_req.groups:
        notes.append("Renewal requirements: 'Same as above': the initial requirements apply")
        renewal_req = initial_req
    trees["renewal"] = criteria.tree("renewal", renewal_req)
    return trees


def _plan_trees(
    lines: list[Line],
    blocks: Blocks,
    criteria: Criteria,
    outline: PlanCriteria,
    kb: Knowledge,
    own: frozenset[str],
    warnings: list[str],
    notes: list[str],
    unplaced: list[Unplaced],
    src: str,
) -> tuple[dict[str, dict[str, Any]], str | None]:
    """The criteria blocks of another plan's layout (a phase given in several blocks, one per
    diagnosis, is read as their ONE-of); and why the initial criteria were not read, if so."""
    phases = _phases(blocks)
    trees: dict[str, dict[str, Any]] = {}
    for kind in ("initial", "renewal"):
        parts = [v for k, v in blocks.phases.items() if k.split("#")[0] == kind and v[1]]
        if not parts:
            continue
        block_lines = [line for _, ls in parts for line in ls]
        # The title again (a PDF's running header) is not a criterion.
        title = " ".join(lines[0].text.split()).lower() if lines else None
        # Nor is the drug's name alone on a line (a page repeating it above each block).
        again = [
            line
            for line in block_lines
            if " ".join(line.text.split()).lower() == title or norm(_strip_marker(line.text)) in own
        ]
        for line in again:
            where = f"{kind}: the title or the drug's name, not a criterion"
            unplaced.append(Unplaced(line.text.strip(), line.page, line.number, where))
        block_lines = [line for line in block_lines if line not in again]
        if kind == "renewal" and _same_as_initial(block_lines):
            notes.append("Reauthorization: the initial criteria apply ('same as initial')")
            continue
        root, placed = parse_outline(block_lines, warnings)
        disease = _one_disease(block_lines, kb, own)
        kids = outline.root(root, kind, disease)
        if kids:
            trees[kind] = {"id": criteria.ids.make(kind), "text": PLAN_TITLES[kind], "all": kids}
        for line in block_lines:
            if line not in placed or line in outline.empty:
                unplaced.append(Unplaced(line.text.strip(), line.page, line.number, kind))
        for line, what in outline.skipped:
            where = f"{kind}: {what}, not a criterion"
            unplaced.append(Unplaced(line.text.strip(), line.page, line.number, where))
            if what == "a duration":
                blocks.durations.setdefault(kind, []).append((line, line.text.strip()))
        outline.skipped.clear()
    unread = None
    if "initial" not in trees and "initial" in phases:
        unread = (
            "the initial criteria section was found but no criterion could be read from it"
            " (its lines are listed unplaced)"
        )
    if "initial" not in trees and unread is None:
        # No heading, lead line or layout showed where the criteria are (a page whose text
        # came apart into fragments, a page of another kind): importing it as one question
        # would look like a read, so the import says it could not find them.
        unread = (
            "no initial criteria section was recognised, so no criterion could be read"
            " (every line is listed unplaced)"
        )
    if "initial" not in trees:
        where = ", ".join(sorted(phases)) or "none"
        warnings.append(
            "no initial requirements (criteria) section was recognised (blocks found: "
            f"{where}): every line not read as metadata is reported unplaced, and the policy"
            " asks one question"
        )
        for line in blocks.front + [ln for _, ls in blocks.phases.values() for ln in ls]:
            if not is_metadata_line(line.text, kb):
                unplaced.append(Unplaced(line.text.strip(), line.page, line.number, "unrecognised"))
        first = lines[0] if lines else Line("", 1, 1)
        trees["initial"] = {
            "id": "initial",
            "text": PLAN_TITLES["initial"],
            "all": [
                {
                    "id": "initial.criteria_as_published",
                    "text": f"The criteria as published in {src} (not read by the importer)",
                    "condition": {"type": "question"},
                    "source": first.where,
                }
            ],
        }
    for line in blocks.unplaced:
        unplaced.append(Unplaced(line.text.strip(), line.page, line.number, "duration"))
    if "renewal" not in trees:
        if not any(k.startswith("renewal") for k in blocks.phases):
            warnings.append("no reauthorization criteria: renewals are held to the initial ones")
        trees["renewal"] = _renamed(trees["initial"], "initial", "renewal")
    return trees, unread


def assemble(
    meta: dict[str, Any],
    plan: str | None,
    initial: dict[str, Any],
    renewal: dict[str, Any],
    limits: dict[str, Any],
    notes: list[str],
    src: str,
    kb: Knowledge,
) -> Policy:
    """The policy the importer read, whatever the layout, validated as a policy file is."""
    data: dict[str, Any] = {
        **meta,
        **({"plan": plan} if plan else {}),
        "requirements": {"initial": initial, "renewal": renewal},
        "limits": limits,
        "curation_notes": [f"Imported from {src}.", *notes],
    }
    try:
        return policy_from_data(data, src, kb)
    except PolicyError as exc:
        raise DocumentError(
            src, f"the imported policy does not validate: {exc.problem} ({exc.path})"
        ) from None


def _policy_disease(req: FepRequirements, kb: Knowledge, own: frozenset[str]) -> str | None:
    """The one disease every indication shares, when the document names only one."""
    ctx = Context(kb, own, None)
    found = {
        d
        for g in req.groups
        for item in g.children
        if (d := disease_of(item.text, ctx)) is not None
    }
    return found.pop() if len(found) == 1 else None


def _uncovered_indications(
    sections: dict[str, Section], policy: Policy, kb: Knowledge, own: frozenset[str]
) -> list[str]:
    """An FDA-approved indication in the description whose disease no criterion names."""
    reg = sections.get("regulatory status")
    if reg is None:
        return []
    covered = {
        n.condition.disease
        for root in (policy.requirements.initial,)
        for n in root.walk()
        if isinstance(n.condition, DiagnosisCondition)
    }
    out = []
    for line in reg.content:
        text = line.text.strip()
        if not text.startswith(("-", "*", "\u2022")) or line.text.startswith((" ", "\t")):
            continue
        body = text.lstrip("-*\u2022 ").strip()
        low = body.lower()
        names = [
            key
            for key, d in kb.diseases.items()
            if any(re.search(rf"(?<![\w-]){re.escape(n.lower())}(?![\w-])", low) for n in d.names)
        ]
        if names and not any(n in covered for n in names):
            out.append(
                f"{line.where}: the description lists an indication no criterion covers: {body!r}"
            )
    return out


def _same_as_initial(lines: list[Line]) -> bool:
    text = " ".join(line.text.strip() for line in lines).lower()
    return bool(
        re.fullmatch(
            r"(?:same as (?:above|initial(?: authorization| approval)?(?: criteria)?)\.?\s*)+", text
        )
    )


def _renamed(node: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    out = dict(node)
    out["id"] = new + node["id"][len(old) :]
    if node["id"] == old:
        out["text"] = PLAN_TITLES[new]
    for key in ("all", "any", "ambiguous"):
        if key in node:
            out[key] = [_renamed(k, old, new) for k in node[key]]
    return out


def _one_disease(lines: list[Line], kb: Knowledge, own: frozenset[str]) -> str | None:
    ctx = Context(kb, own, None)
    found = {d for line in lines if (d := disease_of(_strip_marker(line.text), ctx))}
    return found.pop() if len(found) == 1 else None


def _strip_marker(text: str) -> str:
    t = re.sub(
        r"^\s*(?:\d{1,2}|[a-zA-Z]|[ivxIVX]{1,4})[.)]\s+|^\s*[-*\u2022\u25aa\u25e6o]\s+", "", text
    )
    t = re.sub(r"\(must meet [^)]*\)", "", t, flags=re.I)
    return re.sub(r"[;,]?\s*(?:AND|OR)\s*$", "", t).strip().rstrip(":;")
