"""Reviewing a policy file before it ships: lint (structure, reachability, questions that could
be typed) and diff (what a new version changes)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from priorauth.importer.mapping import Context, map_criterion
from priorauth.policy.model import (
    Criterion,
    DiagnosisCondition,
    Policy,
    QuestionCondition,
)
from priorauth.policy.tables import Knowledge, load_knowledge, norm


@dataclass
class Finding:
    level: str  # "error", "warning" or "info"
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.where}: {self.message}"


def lint(policy: Policy, kb: Knowledge | None = None) -> list[Finding]:
    kb = kb or load_knowledge()
    out: list[Finding] = []
    own = frozenset(norm(x) for x in (policy.drug.brand, policy.drug.generic))
    for kind in ("initial", "renewal"):
        root: Criterion = getattr(policy.requirements, kind)
        indications = [n for n in root.walk() if n.indication]
        has_dx = any(isinstance(n.condition, DiagnosisCondition) for n in root.walk())
        if not indications and not has_dx:
            out.append(
                Finding(
                    "warning",
                    kind,
                    "no indication and no diagnosis criterion: "
                    "a denial can never be called investigational",
                )
            )
        for ind in indications:
            if not any(isinstance(n.condition, DiagnosisCondition) for n in ind.walk()):
                out.append(
                    Finding(
                        "info",
                        ind.id,
                        "indication without a diagnosis criterion: "
                        "it counts as matching any diagnosis",
                    )
                )
        for node in root.walk():
            out += _node_findings(node, kb, own)
    for kind in ("initial", "renewal"):
        lim = getattr(policy.limits, kind)
        if lim.quantity is None and not lim.quantity_by_strength:
            out.append(Finding("warning", f"limits.{kind}", "no quantity limit"))
        strengths = set(policy.drug.strengths_mg)
        for q in lim.quantity_by_strength:
            if strengths and q.strength_mg not in strengths:
                problem = f"a limit for {q.strength_mg:g} mg, not a strength of the drug"
                out.append(Finding("error", f"limits.{kind}", problem))
    if not policy.drug.strengths_mg:
        out.append(
            Finding("warning", "drug.strengths_mg", "no strengths: any strength is accepted")
        )
    return out


def _node_findings(node: Criterion, kb: Knowledge, own: frozenset[str]) -> list[Finding]:
    out: list[Finding] = []
    kids = node.children
    if node.ambiguous is not None:
        lines = "; ".join(f"{c.source or 'no source'}: {c.text}" for c in kids)
        out.append(
            Finding(
                "warning",
                node.id,
                f"ambiguous group (the document does not say ALL or ONE; it pends unless every"
                f" item is met or none is), at {node.source or 'no source'}: {lines}",
            )
        )
    if node.any is not None and len(kids) == 1:
        out.append(
            Finding("info", node.id, "ONE of a single criterion: the same as that criterion")
        )
    seen: dict[str, str] = {}
    for child in kids:
        if child.condition is None:
            continue
        key = child.condition.model_dump_json()
        if key in seen and not isinstance(child.condition, QuestionCondition):
            out.append(Finding("warning", child.id, f"the same condition as {seen[key]}"))
        seen[key] = child.id
    if node.all is not None:
        out += _contradictions(node)
    if isinstance(node.condition, QuestionCondition):
        mapped = map_criterion(node.text, Context(kb, own, None))
        if mapped.condition is not None:
            typed = f"{mapped.condition['type']} ({mapped.why})"
            out.append(Finding("info", node.id, f"a question that could be typed: {typed}"))
    if isinstance(node.condition, DiagnosisCondition) and node.condition.extents == []:
        out.append(Finding("error", node.id, "no extent accepted: it can never be met"))
    return out


def _contradictions(node: Criterion) -> list[Finding]:
    """Two diagnoses of one disease in one ALL-of with no extent in common: never met."""
    out = []
    dx = [c for c in node.children if isinstance(c.condition, DiagnosisCondition)]
    for i, a in enumerate(dx):
        for b in dx[i + 1 :]:
            ca, cb = a.condition, b.condition
            assert isinstance(ca, DiagnosisCondition) and isinstance(cb, DiagnosisCondition)
            same = ca.disease == cb.disease and ca.extents and cb.extents
            if same and not set(ca.extents or []) & set(cb.extents or []):
                problem = f"{a.id} and {b.id} accept no extent in common: unreachable"
                out.append(Finding("error", node.id, problem))
    return out


# --- diff ---------------------------------------------------------------------------------


def _flat(policy: Policy) -> dict[str, dict[str, Any]]:
    out = {}
    for kind in ("initial", "renewal"):
        for n in getattr(policy.requirements, kind).walk():
            out[n.id] = {
                "text": n.text,
                "shape": n.shape,
                "condition": n.condition.model_dump(mode="json") if n.condition else None,
                "indication": n.indication,
            }
    return out


def diff(old: Policy, new: Policy) -> dict[str, Any]:
    """Criteria added, removed and changed (by id); limits and metadata changed."""
    a, b = _flat(old), _flat(new)
    changed = {}
    for cid in a.keys() & b.keys():
        fields = {k: [a[cid][k], b[cid][k]] for k in a[cid] if a[cid][k] != b[cid][k]}
        if fields:
            changed[cid] = fields
    meta = {}
    for key in (
        "number",
        "title",
        "effective_date",
        "original_policy_date",
        "last_review_date",
        "committee_approval_date",
        "applies_to",
        "pre_pa_allowance",
        "related_policies",
        "investigational_text",
    ):
        va = json.loads(json.dumps(getattr(old, key), default=str))
        vb = json.loads(json.dumps(getattr(new, key), default=str))
        if va != vb:
            meta[key] = [va, vb]
    if old.drug != new.drug:
        meta["drug"] = [old.drug.model_dump(mode="json"), new.drug.model_dump(mode="json")]
    limits = {}
    for kind in ("initial", "renewal"):
        la = getattr(old.limits, kind).model_dump(mode="json")
        lb = getattr(new.limits, kind).model_dump(mode="json")
        for k in la:
            if la[k] != lb[k]:
                limits[f"{kind}.{k}"] = [la[k], lb[k]]
    history_added = [h.model_dump() for h in new.history if h not in old.history]
    return {
        "added": {cid: b[cid]["text"] for cid in sorted(b.keys() - a.keys())},
        "removed": {cid: a[cid]["text"] for cid in sorted(a.keys() - b.keys())},
        "changed": dict(sorted(changed.items())),
        "limits": limits,
        "metadata": meta,
        "history_added": history_added,
    }
