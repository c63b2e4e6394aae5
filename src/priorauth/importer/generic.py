"""A document in another plan's layout (see layouts.py) to a Policy: the criteria blocks read as
outlines, each item mapped to the vocabulary as in the FEP format, dose caps made the limit,
durations and quantity tables read, everything else kept or reported."""

from __future__ import annotations

import re
from typing import Any

from priorauth.errors import DocumentError
from priorauth.importer.build import (
    _Builder,
    _clean_id,
    _tidy,
    assemble,
    slug,
)
from priorauth.importer.document import Document, Line, looks_flattened, reflow
from priorauth.importer.limits import dose_cap, layout_limits
from priorauth.importer.logic import settle
from priorauth.importer.mapping import Context, disease_of
from priorauth.importer.metadata import drug_names, is_metadata_line, layout_metadata
from priorauth.importer.outline import Node, not_a_criterion, parse_outline
from priorauth.importer.result import ImportResult, Unplaced
from priorauth.importer.sections import find_blocks
from priorauth.policy.tables import Knowledge, norm

TITLES = {"initial": "Initial authorization", "renewal": "Reauthorization"}


class _Outline:
    """One phase's outline to criterion dicts."""

    def __init__(self, b: _Builder, kb: Knowledge, own: frozenset[str], warnings: list[str]):
        self.b = b
        self.kb = kb
        self.own = own
        self.warnings = warnings
        self.caps: list[tuple[dict[str, Any], Line]] = []
        self.empty: list[Line] = []
        self.ambiguous: list[dict[str, Any]] = []  # the groups the document leaves open
        self.skipped: list[tuple[Line, str]] = []  # lines of a list that are not criteria

    def ctx(self, disease: str | None) -> Context:
        return Context(self.kb, self.own, disease)

    def disease(self, node: Node, base: str | None) -> str | None:
        """The disease a node is about: its own words, or the diagnosis items under it."""
        found = disease_of(node.text, self.ctx(None)) if node.text else None
        if found:
            return found
        if node.label:
            for child in node.children:
                if not child.children and (d := disease_of(child.text, self.ctx(None))):
                    return d
        return base

    def convert(
        self, node: Node, prefix: str, disease: str | None, in_any: bool
    ) -> dict[str, Any] | None:
        if not node.children:
            if node.label:
                if node.line is not None:  # a header with nothing under it: say so
                    self.empty.append(node.line)
                return None
            cap = dose_cap(node.text)
            if cap is not None and not in_any and node.line is not None:
                self.caps.append((cap, node.line))
                return None
            assert node.line is not None
            what = not_a_criterion(node.text)
            if what is not None:
                self.skipped.append((node.line, what))
                return None
            return self.b.criterion(node.text, node.line, prefix, self.ctx(disease))
        mine = self.disease(node, disease)
        how = node.how or "all"
        name = _group_name(node, how)
        gid = self.b.ids.make(f"{prefix}.{name}")
        pairs = [
            (c, k)
            for c in node.children
            if (k := self.convert(c, gid, mine, how == "any")) is not None
        ]
        kids = [k for _, k in pairs]
        if how == "any":
            self._indications(pairs)
        own_leaf = None
        if not node.label and node.line is not None:
            own_leaf = self.b.criterion(node.text, node.line, gid, self.ctx(mine))
        if not kids:
            return own_leaf
        text = _tidy(node.text) or _GROUP_TEXT[how]
        if how == "ambiguous" and len(kids) == 1:
            how = "all"  # the other items were not criteria: nothing is left to combine
        if how == "ambiguous" and node.label:
            named = disease_of(node.text, self.ctx(None))
            dx = [k for k in kids if (k.get("condition") or {}).get("disease") == named]
            if named and dx and len(dx) < len(kids):
                # A block headed by its disease ("Hepatocellular carcinoma:"): the diagnosis of
                # that disease is what the block is for, required under either reading.
                rest = [k for k in kids if k not in dx]
                if len(rest) > 1:
                    inner: dict[str, Any] = {
                        "id": self.b.ids.make(f"{gid}.ambiguous"),
                        "text": _GROUP_TEXT[how],
                        "ambiguous": rest,
                    }
                    self._ambiguous(inner, node)
                    rest = [inner]
                kids, how = [*dx, *rest], "all"
        group: dict[str, Any] = {"id": gid, "text": text, how: kids}
        if how == "ambiguous":
            self._ambiguous(group, node)
        if own_leaf is None:
            return group if len(kids) > 1 or how == "all" else kids[0]
        if how != "all":
            group["id"] = self.b.ids.make(f"{gid}.{'one_of' if how == 'any' else 'ambiguous'}")
            if how == "ambiguous":
                group["source"] = own_leaf["source"]
            return {"id": gid, "text": text, "all": [own_leaf, group]}
        return {"id": gid, "text": text, "all": [own_leaf, *kids]}

    def _ambiguous(self, group: dict[str, Any], node: Node) -> None:
        """A group the document leaves open: asked as a whole when every item is known."""
        items = "; ".join(_tidy(k["text"]) for k in group["ambiguous"])
        group["question"] = (
            "The policy lists these without saying whether all of them or one of them must"
            f" hold: {items}. Does the request meet the policy as a reviewer reads it?"
        )
        where = node.line or next((c.line for c in node.children if c.line), None)
        if where is not None:
            group["source"] = where.where
        self.ambiguous.append(group)

    def _indications(self, pairs: list[tuple[Node, dict[str, Any]]]) -> None:
        """The alternatives of a ONE-of that are about a disease are the policy's indications."""
        for child, kid in pairs:
            dx = _has_diagnosis(kid)
            disease = self.disease(child, None)
            if dx:
                kid["indication"] = True
            elif disease is not None and ("all" in kid or "any" in kid):
                kid["indication"] = True
                kid["indication_disease"] = disease

    def blocks(self, root: Node, at_root: bool) -> str | None:
        """The clinical-policy convention: one labelled block per diagnosis ("A. NSCLC (must
        meet all)", "B. Other diagnoses") are alternatives."""
        groups = [c for c in root.children if c.children]
        named = [self.disease(c, None) for c in groups]
        alternatives = (
            at_root
            and len(groups) >= 2
            and len(groups) == len(root.children)
            and all(c.label and not re.search(r"of the following", c.text, re.I) for c in groups)
            and any(named)
            and len({d for d in named if d}) == len([d for d in named if d])
        )
        return "any" if alternatives else None

    def root(self, root: Node, kind: str, disease: str | None) -> list[dict[str, Any]]:
        settle(root, self.warnings, self.blocks)
        how = root.how or "all"
        pairs = [
            (c, k)
            for c in root.children
            if (k := self.convert(c, kind, disease, how == "any")) is not None
        ]
        kids = [k for _, k in pairs]
        if how == "any" and len(kids) > 1:
            self._indications(pairs)
            return [
                {
                    "id": self.b.ids.make(f"{kind}.indications"),
                    "text": "One of the following",
                    "any": kids,
                }
            ]
        if how == "ambiguous" and len(kids) > 1:
            top: dict[str, Any] = {
                "id": self.b.ids.make(f"{kind}.ambiguous"),
                "text": _GROUP_TEXT[how],
                "ambiguous": kids,
            }
            self._ambiguous(top, root)
            return [top]
        return kids


_GROUP_TEXT = {
    "all": "All of the following",
    "any": "One of the following",
    "ambiguous": "The following (the document does not say all or one)",
}


def _has_diagnosis(node: dict[str, Any]) -> bool:
    if "condition" in node:
        return bool(node["condition"].get("type") == "diagnosis")
    kids = node.get("all") or node.get("any") or node.get("ambiguous") or []
    return any(_has_diagnosis(k) for k in kids)


def _group_name(node: Node, how: str) -> str:
    abbr = re.search(r"\(([A-Za-z][A-Za-z0-9-]{1,9})\)", node.text or "")
    if abbr and not re.fullmatch(r"e\.?g|s", abbr.group(1), re.I):
        return _clean_id(abbr.group(1))
    word = {"any": "one_of", "all": "all_of"}.get(how, "ambiguous")
    if node.label and not node.text.strip():
        return word
    if node.label and re.search(r"\bof the following\b", node.text, re.I):
        return word
    return _clean_id(slug(node.text, 3)) if node.text else "group"


def build_generic(
    doc: Document, kb: Knowledge, plan: str | None, line_of_business: str | None
) -> ImportResult:
    src = doc.source
    warnings: list[str] = []
    notes: list[str] = []
    unplaced: list[Unplaced] = []
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
    found_any = any(ls for _, ls in blocks.phases.values())
    if not found_any and drug_names(lines, kb) is None:
        raise DocumentError(
            src,
            "not a drug policy document: no criteria section (FEP 'Prior-Approval Requirements',"
            " 'Initial Authorization', 'Coverage Criteria', ...) and no drug named as"
            " 'Brand (generic)'",
        )
    meta = layout_metadata(doc, lines, blocks, kb, warnings)
    own = frozenset(norm(x) for x in (meta["drug"]["brand"], meta["drug"]["generic"]) if x)
    builder = _Builder(doc, kb, own)
    outline = _Outline(builder, kb, own, warnings)

    phases = {k.split("#")[0]: v for k, v in reversed(list(blocks.phases.items())) if v[1]}
    # A phase given in several blocks (one per diagnosis) is read as their ONE-of.
    trees: dict[str, dict[str, Any]] = {}
    for kind in ("initial", "renewal"):
        parts = [v for k, v in blocks.phases.items() if k.split("#")[0] == kind and v[1]]
        if not parts:
            continue
        block_lines = [line for _, ls in parts for line in ls]
        if kind == "renewal" and _same_as_initial(block_lines):
            notes.append("Reauthorization: the initial criteria apply ('same as initial')")
            continue
        root, placed = parse_outline(block_lines, warnings)
        disease = _one_disease(block_lines, kb, own)
        kids = outline.root(root, kind, disease)
        if kids:
            trees[kind] = {"id": builder.ids.make(kind), "text": TITLES[kind], "all": kids}
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
    if "initial" not in trees and any(k.startswith("initial") for k in phases):
        unread = (
            "the initial criteria section was found but no criterion could be read from it"
            " (its lines are listed unplaced)"
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
            "text": TITLES["initial"],
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

    limits = layout_limits(blocks, outline.caps, meta, line_of_business, warnings, unplaced)
    policy = assemble(meta, plan, trees["initial"], trees["renewal"], limits, notes, src, kb)
    found = [
        *(f"{k} criteria" for k in ("initial", "renewal") if k in phases),
        *(["durations"] if blocks.durations else []),
        *(["quantity limits"] if blocks.quantity else []),
        *blocks.sections,
    ]
    return ImportResult(
        src, policy, builder.placements, unplaced, warnings, notes, found, unread
    )


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
        out["text"] = TITLES[new]
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
