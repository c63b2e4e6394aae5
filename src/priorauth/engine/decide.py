"""From criterion statuses to a decision: approval and its limits, denial and its basis, or the
questions that can still change the outcome."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from dateutil.relativedelta import relativedelta

from priorauth.determination import (
    Authorization,
    Decision,
    DenialBasis,
    Determination,
    PolicyRef,
    Question,
    Reason,
)
from priorauth.engine.facts import Facts
from priorauth.engine.logic import STATUS_NAMES, Status, k_and
from priorauth.engine.plan import Plan, Statuses
from priorauth.policy.model import Criterion, DiagnosisCondition, Limits, Policy


def authorization_end(start: dt.date, months: int) -> dt.date:
    """Last day (inclusive) of a period of ``months`` calendar months from ``start``.

    The period ends the day before the anniversary; when the anniversary's day does not exist
    (a period from January 31, or from February 29), the anniversary is the first of the next
    month, so no day of the last month is lost.
    """
    anniversary = start + relativedelta(months=months)
    if anniversary.day != start.day:
        anniversary += relativedelta(days=1)
    return anniversary - dt.timedelta(days=1)


def max_daily_dose_mg(limits: Limits, strength_mg: float) -> float | None:
    q = limits.quantity
    if q is None:
        return None
    per_day = q.amount / q.per_days
    return per_day if q.unit == "mg" else per_day * strength_mg


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else round(x, 3)


def _diagnosis_leaves(node: Criterion) -> list[Criterion]:
    return [n for n in node.walk() if isinstance(n.condition, DiagnosisCondition)]


def diagnosis_status(indication: Criterion, st: Statuses) -> Status:
    """Whether the patient's diagnosis is this indication's (its other criteria aside)."""
    dx = _diagnosis_leaves(indication)
    return k_and(st.get(n.id) for n in dx) if dx else st.get(indication.id)


def deciding_nodes(node: Criterion, st: Statuses) -> list[Criterion]:
    """The leaves that decided ``node``'s status.

    A met ONE-of is decided by its first met path. A failed ONE-of of indications is decided by
    the indications the diagnosis matches; when it matches none, by the diagnoses alone.
    """
    if node.condition is not None:
        return [node]
    s = st.get(node.id)
    kids = node.children
    if node.any is not None and s is True:
        kids = [next(c for c in kids if st.get(c.id) is True)]
    elif node.any is not None and s is False and any(c.indication for c in kids):
        matched = [c for c in kids if c.indication and diagnosis_status(c, st) is not False]
        if not matched:
            return [n for c in kids for n in _diagnosis_leaves(c) if st.get(n.id) is False]
        kids = matched
    elif not (node.all is not None and s is True):
        kids = [c for c in kids if st.get(c.id) is s]
    return [leaf for c in kids for leaf in deciding_nodes(c, st)]


def open_questions(node: Criterion, st: Statuses) -> list[Criterion]:
    """Unknown leaves under ancestors that are all still unknown: only their answers can change
    the outcome (a met or failed branch is settled whatever else is answered)."""
    if st.get(node.id) is not None:
        return []
    if node.condition is not None:
        return [node]
    return [q for c in node.children for q in open_questions(c, st)]


def denial_basis(plan: Plan, st: Statuses) -> DenialBasis:
    """Investigational when none of the listed indications matches the diagnosis."""
    matches = [diagnosis_status(n, st) for n in plan.nodes.values() if n.indication]
    if matches and all(m is False for m in matches):
        return "investigational"
    return "criteria_not_met"


def question_for(node: Criterion) -> Question:
    return Question.model_construct(
        id=node.id,
        text=node.question or f"Does this hold: {node.text}?",
        criterion_text=node.text,
    )


def decide(
    policy: Policy, kind: Literal["initial", "renewal"], plan: Plan, facts: Facts, st: Statuses
) -> Determination:
    request = facts.request
    limits: Limits = getattr(policy.limits, kind)
    requested = request.daily_dose_mg
    overall = st[plan.root.id]
    authorization = None
    basis: DenialBasis | None = None
    missing: list[Question] = []
    leaves = deciding_nodes(plan.root, st)
    reasons = [
        Reason.model_construct(id=n.id, text=n.text, status=STATUS_NAMES[st.get(n.id)])
        for n in leaves
    ]
    decision: Decision
    if overall is True:
        cap = max_daily_dose_mg(limits, request.medication.strength_mg)
        decision = "approved"
        if cap is not None:
            within = requested <= cap + 1e-9
            if not within:
                decision = "partially_approved"
            assert limits.quantity is not None
            reasons.append(
                Reason.model_construct(
                    id=f"limits.{kind}.quantity",
                    text=f"Quantity {limits.quantity.text}",
                    status="met" if within else "not_met",
                )
            )
        authorization = Authorization.model_construct(
            start=request.date_of_service,
            end=authorization_end(request.date_of_service, limits.duration.months),
            max_daily_dose_mg=_number(cap if cap is not None else requested),
            quantity_limit=limits.quantity.text if limits.quantity else None,
            duration=limits.duration.text,
        )
    elif overall is False:
        decision = "denied"
        basis = denial_basis(plan, st)
    else:
        decision = "pended"
        missing = [question_for(n) for n in open_questions(plan.root, st)]

    det = Determination.model_construct(
        decision=decision,
        denial_basis=basis,
        policy=PolicyRef.model_construct(
            number=policy.number,
            title=policy.title,
            effective_date=policy.effective_date,
            requirements=kind,
        ),
        authorization=authorization,
        requested_daily_dose_mg=_number(requested),
        reasons=reasons,
        missing=missing,
    )
    det._trace_builder = lambda: plan.trace(facts, st)
    return det
