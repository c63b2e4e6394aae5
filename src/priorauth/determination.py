"""The determination contract: what the engine decided, why, and what it still needs.

The parts every caller reads (decision, basis, authorization, requested dose) are set when the
engine decides; reasons, questions and the trace are worked out on first access, so a caller
that only routes on the decision does not pay for the explanation.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import orjson
from pydantic import TypeAdapter

Decision = Literal["approved", "partially_approved", "denied", "pended"]
DenialBasis = Literal["investigational", "criteria_not_met"]
StatusName = Literal["met", "not_met", "unknown"]


@dataclass(slots=True)
class PolicyRef:
    number: str
    title: str
    effective_date: dt.date
    """The version in force on the date of service."""
    requirements: Literal["initial", "renewal"]
    plan: str | None = None
    """Whose policy it is: the plan (payer and line of business, e.g. fep)."""


@dataclass(slots=True)
class Authorization:
    start: dt.date
    end: dt.date
    """Last day covered, inclusive."""
    max_daily_dose_mg: int | float
    quantity_limit: str | None
    """The policy's wording of the quantity limit."""
    duration: str


@dataclass(frozen=True, slots=True)
class Reason:
    id: str
    text: str
    """The policy's wording."""
    status: StatusName


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    """Answer it in the request's ``answers`` under this id (true: the criterion holds)."""
    text: str
    criterion_text: str
    """The policy's wording of the criterion."""


@dataclass(slots=True)
class TraceNode:
    id: str
    text: str
    kind: str
    """all, any, or the condition type."""
    status: StatusName
    answered: bool
    """Decided by a direct answer in the request."""
    facts: list[dict[str, Any]]
    children: list[TraceNode]


class Explanation(Protocol):
    def reasons(self) -> list[Reason]: ...
    def missing(self) -> list[Question]: ...
    def trace(self) -> TraceNode: ...
    def dumped(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Reasons and questions as JSON-ready dicts, which the caller only reads."""
        ...

    def trace_dump(self) -> dict[str, Any]:
        """The trace as JSON-ready dicts, without building the TraceNode tree."""
        ...


class Determination:
    """One decision on one request. ``model_dump()`` gives the JSON contract as a dict."""

    __slots__ = (
        "_explanation",
        "_missing",
        "_reasons",
        "_trace",
        "authorization",
        "decision",
        "denial_basis",
        "policy",
        "requested_daily_dose_mg",
    )

    def __init__(
        self,
        decision: Decision,
        denial_basis: DenialBasis | None,
        policy: PolicyRef,
        authorization: Authorization | None,
        requested_daily_dose_mg: int | float,
        explanation: Explanation,
    ) -> None:
        self.decision = decision
        self.denial_basis = denial_basis
        self.policy = policy
        self.authorization = authorization
        self.requested_daily_dose_mg = requested_daily_dose_mg
        self._explanation = explanation
        # _reasons, _missing and _trace stay unset until first read.

    def _explain(self) -> Explanation:
        """Where reasons, questions and the trace come from (a subclass may build it late)."""
        return self._explanation

    @property
    def reasons(self) -> list[Reason]:
        """The criteria that decided the outcome, in the policy's words, with their status."""
        try:
            return self._reasons
        except AttributeError:
            self._reasons: list[Reason] = self._explain().reasons()
            return self._reasons

    @property
    def missing(self) -> list[Question]:
        """For a pend: only the questions whose answers can still change the outcome."""
        try:
            return self._missing
        except AttributeError:
            self._missing: list[Question] = self._explain().missing()
            return self._missing

    @property
    def trace(self) -> TraceNode:
        """The whole criteria tree with each node's status and the facts that decided it."""
        try:
            return self._trace
        except AttributeError:
            self._trace: TraceNode = self._explain().trace()
            return self._trace

    def model_dump(
        self, mode: Literal["python", "json"] = "python", exclude: set[str] | None = None
    ) -> dict[str, Any]:
        """The contract as a dict; ``mode="json"``: dates as ISO text, ready for any encoder."""
        iso = mode == "json"
        a = self.authorization
        out: dict[str, Any] = {
            "decision": self.decision,
            "denial_basis": self.denial_basis,
            "policy": _policy(self.policy, iso),
            "authorization": None if a is None else _authorization(a, iso),
            "requested_daily_dose_mg": self.requested_daily_dose_mg,
            "reasons": [{"id": r.id, "text": r.text, "status": r.status} for r in self.reasons],
            "missing": [
                {"id": q.id, "text": q.text, "criterion_text": q.criterion_text}
                for q in self.missing
            ],
        }
        if not exclude or "trace" not in exclude:
            out["trace"] = _trace(self.trace)
        for key in exclude or ():
            out.pop(key, None)
        return out

    def model_dump_json(self, indent: int | None = None, exclude: set[str] | None = None) -> str:
        return json.dumps(self.model_dump("json", exclude), indent=indent)

    def to_json(self, trace: bool = False) -> bytes:
        """The JSON contract as compact UTF-8 bytes (orjson), with the trace only when asked
        for: what a batch writes a line of. Reasons and questions come from the explanation's
        shared, read-only forms, so a batch does not rebuild them for every line."""
        a = self.authorization
        if not (hasattr(self, "_reasons") or hasattr(self, "_missing")):
            reasons, missing = self._explain().dumped()
        else:
            dumped = self.model_dump("json", {"trace"})
            reasons, missing = dumped["reasons"], dumped["missing"]
        out: dict[str, Any] = {
            "decision": self.decision,
            "denial_basis": self.denial_basis,
            "policy": _policy(self.policy, True),
            "authorization": None if a is None else _authorization(a, True),
            "requested_daily_dose_mg": self.requested_daily_dose_mg,
            "reasons": reasons,
            "missing": missing,
        }
        if trace:
            built = hasattr(self, "_trace")
            out["trace"] = _trace(self.trace) if built else self._explain().trace_dump()
        return orjson.dumps(out)

    def __repr__(self) -> str:
        return (
            f"Determination(decision={self.decision!r}, denial_basis={self.denial_basis!r}, "
            f"policy={self.policy.number!r}@{self.policy.effective_date})"
        )


# Hand-written rather than dataclasses.asdict, which deep-copies every value and costs more than
# deciding the request.
def _policy(p: PolicyRef, iso: bool) -> dict[str, Any]:
    day = p.effective_date
    return {
        "number": p.number,
        "title": p.title,
        "effective_date": day.isoformat() if iso else day,
        "requirements": p.requirements,
        "plan": p.plan,
    }


def _authorization(a: Authorization, iso: bool) -> dict[str, Any]:
    return {
        "start": a.start.isoformat() if iso else a.start,
        "end": a.end.isoformat() if iso else a.end,
        "max_daily_dose_mg": a.max_daily_dose_mg,
        "quantity_limit": a.quantity_limit,
        "duration": a.duration,
    }


def _trace(t: TraceNode) -> dict[str, Any]:
    return {
        "id": t.id,
        "text": t.text,
        "kind": t.kind,
        "status": t.status,
        "answered": t.answered,
        "facts": [jsonable(f) for f in t.facts],
        "children": [_trace(c) for c in t.children],
    }


def jsonable(value: Any) -> Any:
    """A value of plain data with its dates as ISO text."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class DeterminationRecord:
    """Every field of a determination at once: the published JSON Schema is this one's."""

    decision: Decision
    denial_basis: DenialBasis | None
    policy: PolicyRef
    authorization: Authorization | None
    requested_daily_dose_mg: int | float
    reasons: list[Reason]
    missing: list[Question]
    trace: TraceNode


@functools.cache
def _record() -> TypeAdapter[DeterminationRecord]:
    # Built on first use: a TypeAdapter costs more at import than the rest of the engine.
    return TypeAdapter(DeterminationRecord)


def __getattr__(name: str) -> Any:
    if name == "RECORD":  # the validator of the whole record, for tests and callers
        return _record()
    raise AttributeError(name)


def determination_schema() -> dict[str, Any]:
    schema: dict[str, Any] = _record().json_schema(mode="serialization")
    return schema
