"""The determination contract: what the engine decided, why, and what it still needs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, computed_field

Decision = Literal["approved", "partially_approved", "denied", "pended"]
DenialBasis = Literal["investigational", "criteria_not_met"]
StatusName = Literal["met", "not_met", "unknown"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class PolicyRef(_Out):
    number: str
    title: str
    effective_date: dt.date = Field(description="the version in force on the date of service")
    requirements: Literal["initial", "renewal"]


class Authorization(_Out):
    start: dt.date
    end: dt.date = Field(description="last day covered, inclusive")
    max_daily_dose_mg: int | float
    quantity_limit: str | None = Field(description="the policy's wording of the limit")
    duration: str


class Reason(_Out):
    id: str
    text: str = Field(description="the policy's wording")
    status: StatusName


class Question(_Out):
    id: str = Field(description="answer it in the request's `answers` under this id")
    text: str
    criterion_text: str = Field(description="the policy's wording of the criterion")


class TraceNode(_Out):
    id: str
    text: str
    kind: str = Field(description="all, any, or the condition type")
    status: StatusName
    answered: bool = Field(description="decided by a direct answer in the request")
    facts: list[dict[str, Any]]
    children: list[TraceNode]


class Determination(BaseModel):
    model_config = ConfigDict(frozen=True)

    decision: Decision
    denial_basis: DenialBasis | None
    policy: PolicyRef
    authorization: Authorization | None
    requested_daily_dose_mg: int | float
    reasons: list[Reason]
    missing: list[Question]

    _trace_builder: Callable[[], TraceNode] | None = PrivateAttr(default=None)

    @computed_field  # type: ignore[prop-decorator]
    @cached_property
    def trace(self) -> TraceNode:
        """The whole criteria tree with each node's status and the facts that decided it."""
        if self._trace_builder is None:
            raise ValueError("this determination carries no trace")
        return self._trace_builder()
