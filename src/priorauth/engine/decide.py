"""From criterion statuses to a decision: approval and its limits, denial and its basis, or the
questions that can still change the outcome."""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Literal

from priorauth.determination import (
    Authorization,
    Decision,
    DenialBasis,
    Determination,
    PolicyRef,
    Question,
    Reason,
    StatusName,
    TraceNode,
)
from priorauth.engine.facts import Facts
from priorauth.engine.logic import STATUS_NAMES, Status, k_and
from priorauth.engine.plan import Plan, Statuses
from priorauth.policy.model import Criterion, DiagnosisCondition, Limits, Policy
from priorauth.policy.questions import question_text
from priorauth.request import Request

Kind = Literal["initial", "renewal"]
_ONE_DAY = dt.timedelta(days=1)


def authorization_end(start: dt.date, months: int) -> dt.date:
    """Last day (inclusive) of a period of ``months`` calendar months from ``start``.

    The period ends the day before the anniversary; when the anniversary's day does not exist
    (a period from January 31, or from February 29), the anniversary is the first of the next
    month, so no day of the last month is lost.
    """
    y, m = divmod(start.month - 1 + months, 12)
    year, month = start.year + y, m + 1
    if start.day <= 28 or start.day <= calendar.monthrange(year, month)[1]:
        return dt.date(year, month, start.day) - _ONE_DAY
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def max_daily_dose_mg(limits: Limits, strength_mg: float) -> float | None:
    q = limits.quantity_for(strength_mg)
    if q is None:
        return None
    per_day = q.amount / q.per_days
    return per_day if q.unit == "mg" else per_day * strength_mg


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else round(x, 3)


def _diagnosis_leaves(node: Criterion) -> list[Criterion]:
    return [n for n in node.walk() if isinstance(n.condition, DiagnosisCondition)]


def diagnosis_status(indication: Criterion, st: dict[str, Status]) -> Status:
    """Whether the patient's diagnosis is this indication's (its other criteria aside)."""
    dx = _diagnosis_leaves(indication)
    return k_and(st[n.id] for n in dx) if dx else st[indication.id]


def deciding_nodes(node: Criterion, st: dict[str, Status]) -> list[Criterion]:
    """The leaves that decided ``node``'s status.

    A met ONE-of is decided by its first met path. A failed ONE-of of indications is decided by
    the indications the diagnosis matches; when it matches none, by the diagnoses alone.
    """
    if node.condition is not None:
        return [node]
    s = st[node.id]
    kids = node.children
    if node.any is not None and s is True:
        kids = [next(c for c in kids if st[c.id] is True)]
    elif node.any is not None and s is False and any(c.indication for c in kids):
        matched = [c for c in kids if c.indication and diagnosis_status(c, st) is not False]
        if not matched:
            return [n for c in kids for n in _diagnosis_leaves(c) if st[n.id] is False]
        kids = matched
    elif not (node.all is not None and s is True):
        kids = [c for c in kids if st[c.id] is s]
    return [leaf for c in kids for leaf in deciding_nodes(c, st)]


def open_questions(node: Criterion, st: dict[str, Status]) -> list[Criterion]:
    """Unknown leaves under ancestors that are all still unknown: only their answers can change
    the outcome (a met or failed branch is settled whatever else is answered)."""
    if st[node.id] is not None:
        return []
    if node.condition is not None:
        return [node]
    return [q for c in node.children for q in open_questions(c, st)]


def question_for(node: Criterion) -> Question:
    return Question(
        id=node.id,
        text=question_text(node),
        criterion_text=node.text,
    )


class _Explanation:
    """Reasons, questions and trace of one evaluation, worked out when first asked for."""

    __slots__ = ("_statuses", "decider", "facts", "limit_text", "within_limit")

    def __init__(
        self, decider: Decider, facts: Facts, within_limit: bool | None, limit_text: str | None
    ) -> None:
        self.decider = decider
        self.facts = facts
        self._statuses: Statuses | None = None
        self.within_limit = within_limit
        self.limit_text = limit_text

    @property
    def plan(self) -> Plan:
        return self.decider.plan

    @property
    def statuses(self) -> Statuses:
        if self._statuses is None:
            self._statuses = self.plan.evaluate(self.facts)
        return self._statuses

    def reasons(self) -> list[Reason]:
        st = self.plan.by_id(self.statuses)
        out = [
            Reason(id=n.id, text=n.text, status=STATUS_NAMES[st[n.id]])
            for n in deciding_nodes(self.plan.root, st)
        ]
        if self.within_limit is not None:
            d = self.decider
            status: StatusName = "met" if self.within_limit else "not_met"
            out.append(Reason(id=d.limit_id, text=f"Quantity {self.limit_text}", status=status))
        return out

    def missing(self) -> list[Question]:
        if self.statuses[0] is not None:
            return []
        st = self.plan.by_id(self.statuses)
        return [question_for(n) for n in open_questions(self.plan.root, st)]

    def trace(self) -> TraceNode:
        return self.plan.trace(self.facts, self.statuses)


class Decider:
    """Turns one plan's statuses into determinations; what depends on the policy only is
    prepared once here."""

    def __init__(
        self, policy: Policy, kind: Kind, plan: Plan, plan_name: str | None = None
    ) -> None:
        self.plan = plan
        self.kind = kind
        self.limits: Limits = getattr(policy.limits, kind)
        self.ref = PolicyRef(
            number=policy.number,
            title=policy.title,
            effective_date=policy.effective_date,
            requirements=kind,
            plan=plan_name or policy.plan,
        )
        self.limit_id = f"limits.{kind}.quantity"

    def denial_basis(self, facts: Facts) -> DenialBasis:
        """Investigational when none of the listed indications matches the diagnosis."""
        if self.plan.diagnosis_matches_none(facts):
            return "investigational"
        return "criteria_not_met"

    def authorize(self, request: Request) -> Authorization:
        """The authorization the policy's limits allow for this request, whatever its criteria
        say: what a reviewer's overturned denial grants."""
        med = request.medication
        requested = med.strength_mg * med.quantity / med.days_supply
        q = self.limits.quantity_for(med.strength_mg)
        cap = max_daily_dose_mg(self.limits, med.strength_mg)
        start = request.date_of_service
        return Authorization(
            start=start,
            end=authorization_end(start, self.limits.duration.months),
            max_daily_dose_mg=_number(min(requested, cap) if cap is not None else requested),
            quantity_limit=q.text if q else None,
            duration=self.limits.duration.text,
        )

    def decide(self, facts: Facts) -> Determination:
        overall = self.plan.decide(facts)
        request = facts.request
        med = request.medication
        requested = med.strength_mg * med.quantity / med.days_supply
        authorization = None
        basis: DenialBasis | None = None
        within: bool | None = None
        limit_text: str | None = None
        decision: Decision
        if overall is True:
            decision = "approved"
            q = self.limits.quantity_for(med.strength_mg)
            limit_text = q.text if q else None
            cap = max_daily_dose_mg(self.limits, med.strength_mg)
            if cap is not None:
                within = requested <= cap + 1e-9
                if not within:
                    decision = "partially_approved"
            start = request.date_of_service
            authorization = Authorization(
                start=start,
                end=authorization_end(start, self.limits.duration.months),
                max_daily_dose_mg=_number(cap if cap is not None else requested),
                quantity_limit=limit_text,
                duration=self.limits.duration.text,
            )
        elif overall is False:
            decision = "denied"
            basis = self.denial_basis(facts)
        else:
            decision = "pended"
        return Determination(
            decision,
            basis,
            self.ref,
            authorization,
            _number(requested),
            _Explanation(self, facts, within, limit_text),
        )
