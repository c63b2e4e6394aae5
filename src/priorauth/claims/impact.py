"""Policy impact: past cases decided again under a new policy version, and what would change.

Each case is decided twice with the public engine: under the version that was in force on its
date of service (the built-in policies), and under the new version as if it had already been in
force then (only its effective date is moved; ages, periods and everything else still count from
the case's own date of service). The explanation of a case is built only when its outcome changes,
so the batch runs at the engine's speed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from priorauth.determination import Determination, TraceNode
from priorauth.engine.engine import Engine
from priorauth.errors import NoPolicyError, PriorAuthError
from priorauth.policy.model import Policy
from priorauth.request import Request, parse_request

# The new version decides past cases: it is made to take effect before any of them.
_BEFORE_ANY_CASE = dt.date(1, 1, 1)


@dataclass(frozen=True)
class CaseInput:
    case_id: str
    request: Any  # a dict, or JSON text


@dataclass
class Change:
    case_id: str
    before: str
    after: str
    criteria: list[str]
    policy_before: str
    policy_after: str

    def as_json(self) -> dict[str, Any]:
        return {
            "case": self.case_id,
            "from": self.before,
            "to": self.after,
            "criteria": self.criteria,
            "policy_from": self.policy_before,
            "policy_to": self.policy_after,
        }


@dataclass
class Impact:
    policy: Policy
    cases: int = 0
    decided: int = 0
    other_drug: int = 0
    no_version_then: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    unchanged: int = 0
    changes: list[Change] = field(default_factory=list)
    outcomes_before: Counter[str] = field(default_factory=Counter)
    outcomes_after: Counter[str] = field(default_factory=Counter)

    @property
    def flips(self) -> Counter[tuple[str, str]]:
        return Counter((c.before, c.after) for c in self.changes)

    def criteria_by_flip(self) -> dict[tuple[str, str], Counter[str]]:
        out: dict[tuple[str, str], Counter[str]] = {}
        for c in self.changes:
            out.setdefault((c.before, c.after), Counter()).update(c.criteria)
        return out

    def cases_by_flip(self) -> dict[tuple[str, str], list[str]]:
        out: dict[tuple[str, str], list[str]] = {}
        for c in self.changes:
            out.setdefault((c.before, c.after), []).append(c.case_id)
        return out


def outcome(det: Determination) -> str:
    """The decision, with the denial basis for a denial (``denied (investigational)``)."""
    return f"{det.decision} ({det.denial_basis})" if det.denial_basis else det.decision


def _label(det: Determination) -> str:
    p = det.policy
    return f"{p.number} ({p.effective_date})"


def _nodes(root: TraceNode) -> dict[str, tuple[TraceNode, str | None]]:
    """Every node by id, with its parent's id."""
    out: dict[str, tuple[TraceNode, str | None]] = {}
    stack: list[tuple[TraceNode, str | None]] = [(root, None)]
    while stack:
        node, parent = stack.pop()
        out[node.id] = (node, parent)
        stack.extend((c, node.id) for c in node.children)
    return out


def _diagnosis_met(node: TraceNode) -> bool:
    if node.kind == "diagnosis" and node.status == "met":
        return True
    return any(_diagnosis_met(c) for c in node.children)


def causes(before: Determination, after: Determination) -> list[str]:
    """The criteria whose status changed between the two decisions: leaves whose status differs,
    and criteria the new version removed (met or unknown before) or added (not met now)."""
    old, new = _nodes(before.trace), _nodes(after.trace)
    found: list[str] = []
    for cid in sorted(set(old) | set(new)):
        o, n = old.get(cid), new.get(cid)
        if o and n:
            if not o[0].children and not n[0].children and o[0].status != n[0].status:
                found.append(cid)
            continue
        node, parent = o or n  # type: ignore[misc]
        parent_in_both = parent is None or (parent in old and parent in new)
        if not parent_in_both:
            continue  # inside a removed or added branch: the branch itself is named
        # A removed branch mattered if it was not ruled out, or if it was the case's own
        # indication (its diagnosis met); an added one, if it is not met.
        if o and (node.status != "not_met" or _diagnosis_met(node)):
            found.append(cid)
        if n and (node.status != "met" or _diagnosis_met(node)):
            found.append(cid)
    return found


def cases_from_ndjson(text: str) -> Iterator[CaseInput]:
    """One request a line, or ``{"id": ..., "request": {...}}``; a line's id is ``line N`` when
    it names none. Blank lines are skipped."""
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield CaseInput(f"line {n}", {"__error__": f"not JSON ({exc.msg})"})
            continue
        if isinstance(data, dict) and "request" in data and isinstance(data["request"], dict):
            yield CaseInput(str(data.get("id", f"line {n}")), data["request"])
        else:
            yield CaseInput(f"line {n}", data)


def analyse(new: Policy, cases: Iterable[CaseInput], engine: Engine | None = None) -> Impact:
    current = engine or Engine()
    moved = new.model_copy(update={"effective_date": _BEFORE_ANY_CASE})
    proposed = Engine(policies=[moved], knowledge=current.kb)
    impact = Impact(new)
    for case in cases:
        impact.cases += 1
        if isinstance(case.request, dict) and "__error__" in case.request:
            impact.errors.append((case.case_id, str(case.request["__error__"])))
            continue
        try:
            request: Request = parse_request(case.request)
        except PriorAuthError as exc:
            impact.errors.append((case.case_id, str(exc)))
            continue
        try:
            proposed.versions(request.medication.name)
        except NoPolicyError:
            impact.other_drug += 1
            continue
        try:
            before = current.evaluate_model(request)
        except NoPolicyError:
            impact.no_version_then += 1
            continue
        except PriorAuthError as exc:
            impact.errors.append((case.case_id, str(exc)))
            continue
        try:
            after = proposed.evaluate_model(request)
        except PriorAuthError as exc:
            impact.errors.append((case.case_id, f"under the new version: {exc}"))
            continue
        impact.decided += 1
        b, a = outcome(before), outcome(after)
        impact.outcomes_before[b] += 1
        impact.outcomes_after[a] += 1
        if b == a:
            impact.unchanged += 1
            continue
        impact.changes.append(
            Change(
                case.case_id,
                b,
                a,
                causes(before, after),
                _label(before),
                f"{new.number} ({new.effective_date})",
            )
        )
    return impact
