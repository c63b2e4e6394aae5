"""The determination contract: what the engine decided, why, and what it still needs.

The parts every caller reads (decision, basis, authorization, requested dose) are set when the
engine decides; reasons, questions and the trace are worked out on first access, so a caller
that only routes on the decision does not pay for the explanation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol

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


@dataclass(slots=True)
class Reason:
    id: str
    text: str
    """The policy's wording."""
    status: StatusName


@dataclass(slots=True)
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
        self._reasons: list[Reason] | None = None
        self._missing: list[Question] | None = None
        self._trace: TraceNode | None = None

    @property
    def reasons(self) -> list[Reason]:
        """The criteria that decided the outcome, in the policy's words, with their status."""
        if self._reasons is None:
            self._reasons = self._explanation.reasons()
        return self._reasons

    @property
    def missing(self) -> list[Question]:
        """For a pend: only the questions whose answers can still change the outcome."""
        if self._missing is None:
            self._missing = self._explanation.missing()
        return self._missing

    @property
    def trace(self) -> TraceNode:
        """The whole criteria tree with each node's status and the facts that decided it."""
        if self._trace is None:
            self._trace = self._explanation.trace()
        return self._trace

    def model_dump(
        self, mode: Literal["python", "json"] = "python", exclude: set[str] | None = None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "decision": self.decision,
            "denial_basis": self.denial_basis,
            "policy": _asdict(self.policy, mode),
            "authorization": _asdict(self.authorization, mode) if self.authorization else None,
            "requested_daily_dose_mg": self.requested_daily_dose_mg,
            "reasons": [_asdict(r, mode) for r in self.reasons],
            "missing": [_asdict(q, mode) for q in self.missing],
        }
        if not exclude or "trace" not in exclude:
            out["trace"] = _asdict(self.trace, mode)
        for key in exclude or ():
            out.pop(key, None)
        return out

    def model_dump_json(self, indent: int | None = None, exclude: set[str] | None = None) -> str:
        return json.dumps(self.model_dump("json", exclude), indent=indent)

    def __repr__(self) -> str:
        return (
            f"Determination(decision={self.decision!r}, denial_basis={self.denial_basis!r}, "
            f"policy={self.policy.number!r}@{self.policy.effective_date})"
        )


def _asdict(obj: Any, mode: str) -> dict[str, Any]:
    d: dict[str, Any] = dataclasses.asdict(obj)
    return _jsonable(d) if mode == "json" else d


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
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


RECORD = TypeAdapter(DeterminationRecord)


def determination_schema() -> dict[str, Any]:
    return RECORD.json_schema(mode="serialization")
