"""The determination contract: what the engine decided, why, and what it still needs.

The parts every caller reads (decision, basis, authorization, requested dose) are set when the
engine decides; reasons, questions and the trace are worked out on first access, so a caller
that only routes on the decision does not pay for the explanation.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass, make_dataclass
from typing import Any, Literal, Protocol

import msgspec
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


class Authorization(msgspec.Struct, frozen=True, gc=False):
    """What an approval grants. Frozen: the engine gives one object to every approval with the
    same dates and dose."""

    start: dt.date
    end: dt.date  # the last day covered, inclusive
    max_daily_dose_mg: int | float
    quantity_limit: str | None  # the policy's wording of the quantity limit
    duration: str


# The same fields as a dataclass, for the published JSON Schema (pydantic reads dataclasses,
# not Structs).
_AuthorizationRecord = make_dataclass(
    "Authorization", [(f.name, f.type) for f in msgspec.structs.fields(Authorization)]
)


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


class Determination(msgspec.Struct, gc=False, eq=False):
    """One decision on one request. ``model_dump()`` gives the JSON contract as a dict.

    A Struct rather than a class with ``__init__``: the engine makes one per request, and a
    Struct is built in a fraction of the time (``eq=False``: equal only to itself, and
    hashable, as a plain object). What explains the decision is built when first
    read: from ``_explanation``, or from the decider and request the compiled path leaves.
    """

    decision: Decision
    denial_basis: DenialBasis | None
    policy: PolicyRef
    authorization: Authorization | None
    requested_daily_dose_mg: int | float
    # Left by the compiled path, for the explanation made on first read: the decider, the
    # request, whether the dose was within the limit, the limit's wording.
    _decider: Any = None
    _request: Any = None
    _within: bool | None = None
    _limit_text: str | None = None
    _explanation: Explanation | None = None
    _reasons: list[Reason] | None = None
    _missing: list[Question] | None = None
    _trace: TraceNode | None = None
    # Last: the compiled path builds a Determination from its fields by position.
    approval_basis: Literal["criteria_met", "continuity_of_care", "gold_card"] | None = None

    def _explain(self) -> Explanation:
        """Where reasons, questions and the trace come from."""
        explanation = self._explanation
        if explanation is None:
            explanation = self._explanation = self._decider.explanation(
                self._request, self._within, self._limit_text
            )
        return explanation

    @property
    def reasons(self) -> list[Reason]:
        """The criteria that decided the outcome, in the policy's words, with their status."""
        got = self._reasons
        if got is None:
            got = self._reasons = self._explain().reasons()
        return got

    @property
    def missing(self) -> list[Question]:
        """For a pend: only the questions whose answers can still change the outcome."""
        got = self._missing
        if got is None:
            got = self._missing = self._explain().missing()
        return got

    @property
    def trace(self) -> TraceNode:
        """The whole criteria tree with each node's status and the facts that decided it."""
        got = self._trace
        if got is None:
            got = self._trace = self._explain().trace()
        return got

    def model_dump(
        self, mode: Literal["python", "json"] = "python", exclude: set[str] | None = None
    ) -> dict[str, Any]:
        """The contract as a dict; ``mode="json"``: dates as ISO text, ready for any encoder."""
        iso = mode == "json"
        a = self.authorization
        out: dict[str, Any] = {
            "decision": self.decision,
            "denial_basis": self.denial_basis,
            "approval_basis": self.approval_basis,
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
        if self._reasons is None and self._missing is None:
            reasons, missing = self._explain().dumped()
        else:
            dumped = self.model_dump("json", {"trace"})
            reasons, missing = dumped["reasons"], dumped["missing"]
        out: dict[str, Any] = {
            "decision": self.decision,
            "denial_basis": self.denial_basis,
            "approval_basis": self.approval_basis,
            "policy": _policy(self.policy, True),
            "authorization": None if a is None else _authorization(a, True),
            "requested_daily_dose_mg": self.requested_daily_dose_mg,
            "reasons": reasons,
            "missing": missing,
        }
        if trace:
            built = self._trace
            out["trace"] = self._explain().trace_dump() if built is None else _trace(built)
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
    authorization: _AuthorizationRecord | None  # type: ignore[valid-type]
    requested_daily_dose_mg: int | float
    reasons: list[Reason]
    missing: list[Question]
    trace: TraceNode
    approval_basis: Literal["criteria_met", "continuity_of_care", "gold_card"] | None = None


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
