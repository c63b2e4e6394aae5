"""What a denial tells the member and the prescriber: each unmet criterion in the policy's words,
what would meet it, and the appeal steps with their deadline.

CMS-0057-F requires a specific reason for every denial. The service works the explanation out
once, when the denial is made, and keeps it with the case's determination, so the JSON API, FHIR
and the letter all say the same thing; the command line works out the same one for a request it
decides. Pure: it reads the engine's policies and a dumped determination, nothing stored.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from dateutil.relativedelta import relativedelta

from priorauth.engine.engine import Engine
from priorauth.policy.model import Criterion, Policy
from priorauth.policy.questions import what_to_send

# Internal appeals: 180 days from the notice (45 CFR 147.136(b)(2)(ii)(C) and ERISA 2560.503-1);
# after an appeal is upheld, an external review may be asked for within four months.
APPEAL_DAYS = 180
EXTERNAL_REVIEW_MONTHS = 4
EXPEDITED_APPEAL_HOURS = 72
# A reviewer's reason lists the criteria the denial cites on a line of its own.
CITED = "Criteria cited: "


def policy_version(engine: Engine, number: str, effective: str) -> Policy | None:
    for p in engine.policies:
        if p.number == number and p.effective_date.isoformat() == effective:
            return p
    return None


def cited_in(reason: str | None) -> list[str]:
    """The criterion ids a reviewer's reason cites."""
    cited: list[str] = []
    for line in (reason or "").splitlines():
        if line.startswith(CITED):
            cited += [c.strip() for c in line.removeprefix(CITED).split(",") if c.strip()]
    return cited


def _criteria(policy: Policy | None, kind: str) -> dict[str, Criterion]:
    if policy is None:
        return {}
    return {n.id: n for n in getattr(policy.requirements, kind).walk()}


def unmet(
    det: dict[str, Any], policy: Policy | None, decision_reason: str | None, decided_by: str | None
) -> list[dict[str, str]]:
    """Each reason for a denial in the policy's words, with what would meet it: the criteria a
    reviewer cited (every unmet one when none were chosen); for a pend that ran out of time,
    the questions left unanswered; for an investigational use, the indications covered."""
    kind = det["policy"]["requirements"]
    if decided_by == "system":
        return [
            {
                "id": q["id"],
                "text": q["criterion_text"],
                "needed": "An answer to this question, with the records that support it: "
                + q["text"],
            }
            for q in det.get("missing", [])
        ]
    if det.get("denial_basis") == "investigational":
        listed = "; ".join(n.text for n in _criteria(policy, kind).values() if n.indication)
        return [
            {
                "id": "investigational",
                "text": policy.investigational_text
                if policy
                else "The diagnosis in the request is not one of the indications the policy "
                "covers.",
                "needed": f"A diagnosis the policy covers: {listed}"
                if listed
                else "A diagnosis the policy covers.",
            }
        ]
    nodes = _criteria(policy, kind)
    cited = cited_in(decision_reason)
    failed = [r for r in det.get("reasons", []) if r["status"] == "not_met"]
    out = []
    for r in [r for r in failed if r["id"] in cited] or failed:
        node = nodes.get(r["id"])
        hint = what_to_send(node) if node is not None else ""
        needed = f"Records showing that this is met: {r['text'].rstrip('. ')}."
        out.append({"id": r["id"], "text": r["text"], "needed": f"{needed} {hint}".strip()})
    return out


def appeal(status: str, appealed: bool, decided: dt.date) -> dict[str, Any] | None:
    """The next steps after a denial (or the denied part of a partial approval) and their
    deadline; None when nothing is denied."""
    if status == "denied" and appealed:
        deadline = decided + relativedelta(months=EXTERNAL_REVIEW_MONTHS)
        steps = [
            "This is the decision on your appeal.",
            "You may ask for an external review by an independent review organization within "
            f"{EXTERNAL_REVIEW_MONTHS} months of the date of this decision.",
        ]
    elif status in ("denied", "partially_approved") and not appealed:
        deadline = decided + dt.timedelta(days=APPEAL_DAYS)
        steps = [
            "You or your prescriber may appeal this decision: send the appeal, with any records "
            f"that show the requirements above are met, within {APPEAL_DAYS} days of the date "
            "of this decision.",
            "A pharmacist other than the one who made this decision will review it.",
            "If the member's health could be seriously harmed by waiting, ask for an expedited "
            f"appeal: it is decided within {EXPEDITED_APPEAL_HOURS} hours.",
        ]
    else:
        return None
    return {"steps": steps, "deadline": deadline.isoformat()}


def explanation(
    engine: Engine,
    det: dict[str, Any],
    status: str,
    appealed: bool,
    decision_reason: str | None,
    decided_by: str | None,
    decided: dt.date,
) -> dict[str, Any]:
    """The denial's explanation as kept with the determination."""
    policy = policy_version(engine, det["policy"]["number"], det["policy"]["effective_date"])
    return {
        "unmet": unmet(det, policy, decision_reason, decided_by) if status == "denied" else [],
        "appeal": appeal(status, appealed, decided),
    }
