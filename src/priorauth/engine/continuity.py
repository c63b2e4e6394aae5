"""Continuity of care: another payer's authorization of the requested drug, honored for a
transition period when the member changes plans.

Health plans committed (AHIP, June 2025) to honor an active prior authorization for 90 days after
a change of plan. Where it can be honored, the transition is the answer even when the request
would also meet the policy's criteria: the plan's commitment is a transition of 90 days, after
which the plan's own criteria apply at renewal (the reason says whether they would be met now).
"""

from __future__ import annotations

import datetime as dt

import msgspec

from priorauth.determination import Authorization, Determination, Reason, StatusName
from priorauth.engine.decide import Decider
from priorauth.policy.model import Policy
from priorauth.policy.tables import Knowledge, norm
from priorauth.request import AnyRequest

TRANSITION_DAYS = 90
REASON_ID = "continuity_of_care"
_LAST_DAY = dt.timedelta(days=TRANSITION_DAYS - 1)
# As the decider compares: a dose a hair above the cap from dividing is still within it.
_TOLERANCE = 1e-9


def same_drug(kb: Knowledge, policy: Policy, written: str) -> bool:
    """Whether a drug as written (brand or generic) is the policy's drug."""
    key = norm(written)
    if key in (norm(policy.drug.brand), norm(policy.drug.generic)):
        return True
    got, own = kb.resolve_drugs(written), kb.resolve_drugs(policy.drug.generic)
    return got is not None and own is not None and set(got) == set(own)


def obstacles(kb: Knowledge, policy: Policy, plan: str, request: AnyRequest) -> list[str]:
    """Why the request's prior authorization cannot be honored; empty when it can."""
    pa = request.prior_authorization
    assert pa is not None
    day = request.date_of_service
    out = []
    if norm(pa.payer) == norm(plan):
        out.append(
            f"it is from this plan ({plan}), whose own requirements apply rather than a "
            "transition from a previous plan"
        )
    if not same_drug(kb, policy, pa.drug):
        out.append(
            f"it authorizes {pa.drug}, another drug than {policy.drug.brand} "
            f"({policy.drug.generic})"
        )
    if pa.end < day:
        out.append(f"it expired on {pa.end}, before the date of service {day}")
    if pa.start > day:
        out.append(
            f"it is not yet active: it starts on {pa.start}, after the date of service {day}"
        )
    return out


def decide(
    kb: Knowledge, plan: str, decider: Decider, request: AnyRequest, usual: Determination
) -> Determination:
    """The determination of a request that names a prior authorization, given the one its
    criteria alone give (``usual``)."""
    pa = request.prior_authorization
    assert pa is not None
    policy = decider.policy
    which = (
        f"Prior authorization {pa.number} from {pa.payer} for {pa.drug} ({pa.start} to {pa.end})"
    )
    problems = obstacles(kb, policy, plan, request)
    if problems:
        reason = Reason(
            REASON_ID,
            f"{which} was not honored for continuity of care: {'; '.join(problems)}. The "
            "request was decided against the policy's criteria.",
            "not_met",
        )
        return _with_reason(usual, reason)
    return _transition(decider, request, usual, which)


def _with_reason(usual: Determination, reason: Reason) -> Determination:
    return msgspec.structs.replace(usual, _reasons=[reason, *usual.reasons])


def _transition(
    decider: Decider, request: AnyRequest, usual: Determination, which: str
) -> Determination:
    """Approved from the date of service for the transition, at most at the policy's limit."""
    med = request.medication
    start = request.date_of_service
    end = start + _LAST_DAY
    text, cap, cap_shown = decider.cap(med.strength_mg)
    requested = med.strength_mg * med.quantity / med.days_supply
    within = None if cap is None else requested <= cap + _TOLERANCE
    dose = usual.requested_daily_dose_mg if cap_shown is None else cap_shown
    reasons = [
        Reason(
            REASON_ID,
            f"{which} is honored for continuity of care after a change of plan: the request "
            f"is approved for {TRANSITION_DAYS} days, {start} to {end}. At renewal, the "
            f"request must meet the criteria of policy {decider.policy.number} "
            f"({decider.policy.title})"
            + ("; the request meets them today." if usual.authorization is not None else "."),
            "met",
        )
    ]
    if within is not None:
        status: StatusName = "met" if within else "not_met"
        reasons.append(Reason(decider.limit_id, f"Quantity {text}", status))
    return msgspec.structs.replace(
        usual,
        decision="approved" if within is not False else "partially_approved",
        denial_basis=None,
        authorization=Authorization(start, end, dose, text, f"{TRANSITION_DAYS} days"),
        approval_basis="continuity_of_care",
        _reasons=reasons,
        _missing=[],
    )
