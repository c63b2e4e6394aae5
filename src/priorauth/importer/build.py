"""A cleaned document to a Policy: metadata, criteria trees with stable ids, limits; and the
record of where every line went."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from priorauth.errors import DocumentError, PolicyError
from priorauth.importer.document import Document, Line
from priorauth.importer.limits import fep_limits
from priorauth.importer.logic import settle
from priorauth.importer.mapping import Context, Mapped, disease_of, map_criterion
from priorauth.importer.metadata import fep_metadata
from priorauth.importer.outline import Node, parse_outline
from priorauth.importer.result import ImportResult, Placement, Unplaced
from priorauth.importer.sections import SUBHEADINGS, Section, heading_key
from priorauth.policy.load import policy_from_data
from priorauth.policy.model import DiagnosisCondition, Policy
from priorauth.policy.tables import Knowledge, norm

TITLES = {
    "initial": "Prior-Approval Requirements",
    "renewal": "Prior-Approval Renewal Requirements",
}
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
class _Builder:
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
        root: dict[str, Any] = {"id": self.ids.make(kind), "text": TITLES[kind], "all": []}
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


def build_fep(
    doc: Document,
    sections: dict[str, Section],
    kb: Knowledge,
    plan: str | None = None,
    line_of_business: str | None = None,
) -> ImportResult:
    """A document in FEP's layout (its sections already split) to a policy."""
    warnings: list[str] = []
    notes: list[str] = []
    unplaced: list[Unplaced] = []
    src = doc.source

    meta = fep_metadata(doc, sections, kb, warnings)
    own = frozenset(norm(x) for x in (meta["drug"]["brand"], meta["drug"]["generic"]) if x)
    builder = _Builder(doc, kb, own)

    initial_req = fep_requirements(sections["prior-approval requirements"], warnings)
    builder.policy_disease = _policy_disease(initial_req, kb, own)
    for line in initial_req.unplaced:
        unplaced.append(
            Unplaced(line.text.strip(), line.page, line.number, "Prior-Approval Requirements")
        )
    if not initial_req.groups and initial_req.age is None:
        raise DocumentError(src, "the 'Prior-Approval Requirements' section lists no criteria")
    initial = builder.tree("initial", initial_req)

    renewal_section = sections.get("prior-approval renewal requirements")
    if renewal_section is None:
        warnings.append(
            "no 'Prior-Approval Renewal Requirements' section: renewals are held to the "
            "initial requirements"
        )
        renewal = builder.tree("renewal", initial_req)
    else:
        renewal_req = fep_requirements(renewal_section, warnings)
        for line in renewal_req.unplaced:
            unplaced.append(
                Unplaced(
                    line.text.strip(), line.page, line.number, "Prior-Approval Renewal Requirements"
                )
            )
        if renewal_req.same_as_above and not renewal_req.groups:
            notes.append("Renewal requirements: 'Same as above': the initial requirements apply")
            renewal = builder.tree("renewal", initial_req)
        else:
            renewal = builder.tree("renewal", renewal_req)

    limits = fep_limits(sections, meta, kb, warnings, unplaced, src)
    policy = assemble(meta, plan, initial, renewal, limits, notes, src, kb)
    warnings += _uncovered_indications(sections, policy, kb, own)
    found = [k for k in sections if k != "front"]
    return ImportResult(src, policy, builder.placements, unplaced, warnings, notes, found)


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
