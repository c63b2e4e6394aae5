"""The criteria stage: the logic tree of a criteria section to criterion dicts, each item
mapped to the vocabulary (``mapping.map_criterion``) or kept as a question with its exact
wording, with ids built from what each criterion checks and the record of where every one came
from. A layout names its groups its own way: FEP's by their headers and indications
(``Criteria.tree``), the other layouts' by their blocks (``PlanCriteria``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from priorauth.importer.document import Document, Line
from priorauth.importer.limits import dose_cap
from priorauth.importer.logic import settle
from priorauth.importer.mapping import Context, Mapped, disease_of, map_criterion
from priorauth.importer.outline import Node, not_a_criterion, parse_outline
from priorauth.importer.result import Placement
from priorauth.importer.sections import SUBHEADINGS, Section, heading_key
from priorauth.policy.tables import Knowledge

FEP_TITLES = {
    "initial": "Prior-Approval Requirements",
    "renewal": "Prior-Approval Renewal Requirements",
}


PLAN_TITLES = {"initial": "Initial authorization", "renewal": "Reauthorization"}


_STOP = {
    "a",
    "an",
    "the",
    "of",
    "with",
    "for",
    "in",
    "on",
    "to",
    "and",
    "or",
    "after",
    "as",
    "by",
    "is",
    "has",
}


class _Ids:
    def __init__(self) -> None:
        self.used: set[str] = set()

    def make(self, wanted: str) -> str:
        out, n = wanted, 2
        while out in self.used:
            out = f"{wanted}_{n}"
            n += 1
        self.used.add(out)
        return out


def slug(text: str, words: int = 4) -> str:
    text = re.sub(r"\([^)]*\)", " ", text.lower())
    parts = [w for w in re.findall(r"[a-z0-9]+", text) if w not in _STOP]
    return "_".join(parts[:words]) or "criterion"


def leaf_name(cond: dict[str, Any] | None, text: str) -> str:
    """A readable id for a typed leaf, from what it checks."""
    if cond is None:
        return slug(text)
    kind = cond["type"]
    low = text.lower()
    if kind == "age":
        return "age"
    if kind == "diagnosis":
        return "diagnosis"
    if kind == "biomarker":
        return "_".join([cond["gene"], *cond.get("alterations", [])]).lower()
    if kind == "prior_therapy":
        if cond.get("min_systemic"):
            return "prior_systemic_therapy"
        if cond.get("max_systemic") == 0:
            return "first_line"
        if cond.get("limit_drug"):
            return f"at_most_{cond['limit_months']}_months_of_{cond['limit_drug']}"
        if cond.get("not_progressed_on"):
            return "not_progressed_on_" + "_".join(cond["not_progressed_on"])
        terms = cond.get("all_classes") or cond.get("any_classes") or []
        if cond.get("progression") is True:
            return "progressed_on_" + "_".join(terms)
        if cond.get("progression") is False:
            return "no_progression_after_" + "_".join(terms)
        if "chemotherapy" in low and cond.get("all_classes"):
            return "prior_chemotherapy"
        return "prior_" + "_".join(terms)
    if kind == "concurrent_therapy":
        if cond.get("single_agent"):
            return "single_agent"
        if cond.get("with_any"):
            return "with_" + "_or_".join(cond["with_any"])
        if cond.get("with_all"):
            return "with_" + "_and_".join(cond["with_all"])
        return "not_with_" + "_".join(cond["none_of"])
    if kind == "attestation":
        return str(cond["key"])
    if kind == "setting":
        return str(cond["setting"])
    if kind == "disease_status":
        if cond.get("positive_response") and not cond.get("no_progression"):
            return "positive_response"
        return "no_progression" if cond.get("no_progression", True) else "no_unacceptable_toxicity"
    return slug(text)


def _clean_id(text: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "criterion"


@dataclass
class Criteria:
    doc: Document
    kb: Knowledge
    own: frozenset[str]
    ids: _Ids = field(default_factory=_Ids)
    placements: list[Placement] = field(default_factory=list)
    policy_disease: str | None = None

    def leaf(
        self,
        text: str,
        line: Line,
        prefix: str,
        ctx: Context,
        indication: bool = False,
        name: str | None = None,
    ) -> dict[str, Any]:
        mapped: Mapped = map_criterion(text, ctx)
        wanted = name or leaf_name(mapped.condition, text)
        if name is None and mapped.condition and mapped.condition["type"] == "diagnosis":
            wanted = mapped.condition["disease"]  # a diagnosis every indication shares
        nid = self.ids.make(f"{prefix}.{_clean_id(wanted)}")
        cond = mapped.condition or {"type": "question"}
        node: dict[str, Any] = {
            "id": nid,
            "text": _tidy(text),
            "condition": cond,
            "source": line.where,
        }
        if indication:
            node["indication"] = True
        if mapped.flag:
            node["flag"] = mapped.flag
        self.placements.append(
            Placement(
                id=nid,
                text=_tidy(text),
                page=line.page,
                line=line.number,
                mapping="typed" if mapped.condition else "question",
                condition_type=cond["type"],
                why=mapped.why,
                flag=mapped.flag,
            )
        )
        return node

    def criterion(
        self,
        text: str,
        line: Line,
        prefix: str,
        ctx: Context,
        indication: bool = False,
        name: str | None = None,
    ) -> dict[str, Any]:
        """A line of the list: one leaf, or an OR inside it, or comma-joined parts."""
        t = _tidy(text)
        ors = re.split(r"\s+OR\s+", t)
        if len(ors) > 1 and map_criterion(t, ctx).condition is not None:
            ors = [t]  # an OR the whole sentence explains ("an FDA-approved test OR a CLIA ...")
        if len(ors) > 1:
            kids = [self.leaf(p, line, prefix, ctx) for p in ors]
            nid = self.ids.make(
                f"{prefix}.{_clean_id('_or_'.join(k['id'].rsplit('.', 1)[-1] for k in kids))}"
            )
            node: dict[str, Any] = {"id": nid, "text": t, "any": kids}
            if indication:
                node["indication"] = True
            return node
        return self.leaf(t, line, prefix, ctx, indication, name)

    def item_parts(self, item: Node, prefix: str, ctx: Context) -> list[dict[str, Any]]:
        """An indication's own line: one criterion, or its comma-separated parts when each
        part reads as a typed condition and the whole does not."""
        t = _tidy(item.text)
        whole = map_criterion(t, ctx).condition
        if whole is None and ", " in t:
            parts = [p.strip() for p in t.split(", ")]
            mapped = [map_criterion(p, ctx).condition for p in parts]
            if all(mapped):
                assert item.line is not None
                return [
                    self.leaf(
                        p,
                        item.line,
                        prefix,
                        ctx,
                        name="diagnosis" if (m or {}).get("type") == "diagnosis" else None,
                    )
                    for p, m in zip(parts, mapped, strict=True)
                ]
        name = "diagnosis" if (whole or {}).get("type") == "diagnosis" else None
        assert item.line is not None
        return [self.leaf(t, item.line, prefix, ctx, name=name)]

    def tree(self, kind: str, req: FepRequirements) -> dict[str, Any]:
        """FEP's naming of the outline: the age line, then each group (its header's text)."""
        root: dict[str, Any] = {"id": self.ids.make(kind), "text": FEP_TITLES[kind], "all": []}
        base = Context(self.kb, self.own, self.policy_disease)
        if req.age is not None:
            assert req.age.line is not None
            root["all"].append(self.leaf(req.age.text, req.age.line, kind, base, name="age"))
        common = self.policy_disease
        seen_any = False
        for group in req.groups:
            how = group.how or "all"
            gid = self._group_id(kind, group.text, how, seen_any)
            node: dict[str, Any] = {"id": gid, "text": _tidy(group.text)}
            kids: list[dict[str, Any]] = []
            if how == "any":
                seen_any = True
                for item in group.children:
                    kids.append(self.indication(kind, item, Context(self.kb, self.own, common)))
            else:
                for item in group.children:
                    ctx = Context(self.kb, self.own, common)
                    for each in _and_below(item):
                        assert each.line is not None
                        kids.append(self.criterion(each.text, each.line, kind, ctx))
                    found = disease_of(item.text, ctx)
                    if found:
                        common = found
            node[how] = kids
            if how == "ambiguous" and len(kids) < 2:
                node["all"] = node.pop("ambiguous")
            if kids:
                root["all"].append(node)
        return root

    def indication(self, kind: str, item: Node, ctx: Context) -> dict[str, Any]:
        disease = disease_of(item.text, ctx) or ctx.disease
        inner = Context(self.kb, self.own, disease)
        abbr = re.search(r"\(([A-Za-z][A-Za-z0-9-]{1,9})\)\s*$", item.text.strip())
        name = abbr.group(1).lower() if abbr else slug(item.text)
        if not item.children:
            if ", " in item.text and map_criterion(_tidy(item.text), inner).condition is None:
                prefix = self.ids.make(f"{kind}.{_clean_id(name)}")
                return {
                    "id": prefix,
                    "text": _tidy(item.text),
                    "indication": True,
                    "all": self.item_parts(item, prefix, inner),
                }
            assert item.line is not None
            return self.criterion(item.text, item.line, kind, inner, indication=True, name=name)
        prefix = self.ids.make(f"{kind}.{_clean_id(name)}")
        kids = self.item_parts(item, prefix, inner)
        subs = []
        for sub in item.children:
            for each in _and_below(sub):
                assert each.line is not None
                subs.append(self.criterion(each.text, each.line, prefix, inner))
        how = item.how or "all"
        if how != "all" and len(subs) > 1:
            # The indication's own criteria joined by OR ("a. ...; OR"), or left open.
            word = "one_of" if how == "any" else "ambiguous"
            text = "One of the following" if how == "any" else "The following (all or one?)"
            subs = [{"id": self.ids.make(f"{prefix}.{word}"), "text": text, how: subs}]
        kids += subs
        node: dict[str, Any] = {
            "id": prefix,
            "text": _tidy(item.text),
            "indication": True,
            "all": kids,
        }
        has_dx = any(k.get("condition", {}).get("type") == "diagnosis" for k in kids)
        if not has_dx and disease is not None and disease == self.policy_disease:
            node["indication_disease"] = disease  # the policy's one disease
        return node

    def _group_id(self, kind: str, text: str, how: str, seen_any: bool) -> str:
        low = text.lower()
        if how == "ambiguous":
            wanted = "ambiguous"
        elif how == "any":
            wanted = "indications" if not seen_any else "one_of"
        elif "all indications" in low:
            wanted = "all_indications"
        elif low.startswith("patient must"):
            wanted = "required"
        else:
            wanted = "all_of"
        return self.ids.make(f"{kind}.{wanted}")


@dataclass
class FepRequirements:
    """A FEP requirements section read as an outline: its age line, its groups (each header
    with its items), and what was not placed."""

    age: Node | None
    groups: list[Node]
    same_as_above: bool
    unplaced: list[Line]


_AGE = re.compile(r"^Age\s+(.*\d.*)$", re.I)


def fep_requirements(section: Section, warnings: list[str]) -> FepRequirements:
    """The outline of a FEP requirements section, its groups' logic settled by FEP's
    convention: items that show no connector all hold (its ONE-of groups say so in their
    header)."""
    lines: list[Line] = []
    same = False
    for line in section.content:
        text = line.text.strip()
        if heading_key(text) in SUBHEADINGS:
            continue  # "Diagnoses": a subheading over the groups
        if re.fullmatch(r"same as above\.?", text, re.I):
            same = True
            continue
        lines.append(line)
    root, placed = parse_outline(lines, warnings)
    settle(root, warnings, lambda node, at_root: "all")
    age: Node | None = None
    groups: list[Node] = []
    unplaced = [line for line in lines if line not in placed]
    for child in root.children:
        m = _AGE.match(child.text)
        if m and not child.children and not groups and age is None:
            age = Node(m.group(1).strip(), child.line)
        elif child.label and child.children:
            groups.append(child)
        else:
            # a line outside every group (or a header with nothing under it)
            unplaced += [n.line for n in _and_below(child) if n.line is not None]
    unplaced.sort(key=lambda line: line.number)
    return FepRequirements(age, groups, same, unplaced)


def _and_below(node: Node) -> list[Node]:
    """The node and every item under it, in document order."""
    return [node, *(n for c in node.children for n in _and_below(c))]


def _tidy(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().rstrip(":").strip()


class PlanCriteria:
    """The other layouts' outlines to criterion dicts (leaves made by the FEP builder's
    leaf and criterion, which every layout shares)."""

    def __init__(self, b: Criteria, kb: Knowledge, own: frozenset[str], warnings: list[str]):
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
        extent = self._extents(node, pairs, mine) if how == "any" else None
        if extent is not None:
            return extent
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
            if how == "ambiguous" and "source" in own_leaf:
                # A leaf read as a group of its own (its items joined in one line) has its
                # source on its items; the group keeps the one _ambiguous gave it.
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

    def _extents(
        self, node: Node, pairs: list[tuple[Node, dict[str, Any]]], disease: str | None
    ) -> dict[str, Any] | None:
        """ "Disease is one of the following: - Locally advanced - Metastatic": a ONE-of whose
        items are only extents of the disease around them is one criterion (the disease at one
        of those extents), not a list of indications, so a patient at another extent is not
        held investigational by it."""
        if disease is None or len(pairs) < 2 or len(pairs) != len(node.children):
            return None
        extents: list[str] = []
        for child, kid in pairs:
            cond = kid.get("condition") or {}
            if (
                child.children
                or cond.get("type") != "diagnosis"
                or cond.get("disease") != disease
                or not cond.get("extents")
                or disease_of(child.text, self.ctx(None)) is not None
            ):
                return None
            extents += [e for e in cond["extents"] if e not in extents]
        first = pairs[0][1]
        items = " or ".join(_tidy(c.text) for c, _ in pairs)
        # The report lists one criterion where the document's lines made one.
        merged = {k["id"] for _, k in pairs[1:]}
        self.b.placements[:] = [p for p in self.b.placements if p.id not in merged]
        for p in self.b.placements:
            if p.id == first["id"]:
                p.text = f"{_tidy(node.text)}: {items}"
        return {
            **first,
            "text": f"{_tidy(node.text)}: {items}",
            "condition": {**first["condition"], "extents": extents},
        }

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
        meet all)", "B. Other diagnoses", or the disease's name alone on an unmarked line above
        its items) are alternatives."""
        groups = [c for c in root.children if c.children]
        named = [self.disease(c, None) for c in groups]
        alternatives = (
            at_root
            and len(groups) >= 2
            and len(groups) == len(root.children)
            and all(
                (c.label or _bare_heading(c)) and not re.search(r"of the following", c.text, re.I)
                for c in groups
            )
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


def _bare_heading(node: Node) -> bool:
    """An unmarked short line without a sentence's end or connector, heading items below it
    ("Atopic Dermatitis", "Chronic rhinosinusitis with nasal polyposis")."""
    text = node.text.strip()
    return (
        node.style == "plain"
        and 0 < len(text.split()) <= 8
        and not text.endswith((".", ";", ","))
        and not re.match(r"(?:if|and|or)\b", text, re.I)
    )


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
