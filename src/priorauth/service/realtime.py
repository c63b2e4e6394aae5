"""The real-time report: how many approvals were answered at submission, with no pend and no
person, against the plans' commitment of 80% (AHIP, June 2025), and the questions that pended
the most requests (the criteria worth making answerable from data)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from priorauth.engine.engine import Engine
from priorauth.errors import PriorAuthError
from priorauth.request import parse_request
from priorauth.service.errors import Forbidden
from priorauth.service.models import Case, Event

if TYPE_CHECKING:
    from priorauth.service.auth import Principal
    from priorauth.service.db import Database

TARGET = 0.8
APPROVED = ("approved", "partially_approved")
PEND_DRIVERS = 10


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def real_time(case: Case) -> bool:
    """Approved by the first evaluation, at the instant of submission: no pend answered later,
    no pharmacist (a person's decision or a later evaluation comes after receipt)."""
    return (
        case.status in APPROVED
        and case.decided_by == "engine"
        and case.decided_at is not None
        and _utc(case.decided_at) == _utc(case.received_at)
    )


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _figures(cases: Iterable[Case]) -> dict[str, Any]:
    approved = [c for c in cases if c.status in APPROVED]
    quick = sum(real_time(c) for c in approved)
    return {"approvals": len(approved), "real_time": quick, "share": _share(quick, len(approved))}


def _grouped(cases: list[Case], key: str) -> list[dict[str, Any]]:
    groups: dict[str, list[Case]] = defaultdict(list)
    for c in cases:
        groups[getattr(c, key)].append(c)
    rows = [{key: name, **_figures(group)} for name, group in sorted(groups.items())]
    return [r for r in rows if r["approvals"]]


def pend_drivers(s: Session, engine: Engine, cases: dict[str, Case]) -> list[dict[str, Any]]:
    """The questions that pended the most of these cases, each case counted once a question."""
    if not cases:
        return []
    pends = s.execute(
        select(Event.case_id, Event.detail).where(
            Event.action.in_(("evaluated", "re-evaluated")),
            Event.to_status == "pended",
            Event.case_id.in_(list(cases)),
        )
    ).all()
    asked: dict[str, set[str]] = defaultdict(set)
    for case_id, detail in pends:
        asked[case_id].update(detail.get("missing") or ())
    counts: Counter[str] = Counter()
    texts: dict[str, str] = {}
    for case_id, ids in asked.items():
        counts.update(ids)
        if not ids <= texts.keys():
            texts.update(_question_texts(engine, cases[case_id]))
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:PEND_DRIVERS]
    return [{"id": q, "text": texts.get(q, q), "count": n} for q, n in top]


def _question_texts(engine: Engine, case: Case) -> dict[str, str]:
    try:
        req = parse_request(case.request)
        policy = engine.policy_for(req)
        kind = case.determination["policy"]["requirements"]
        return {q.id: q.text for q in engine.questions(policy, kind)}
    except (PriorAuthError, KeyError):
        return {}  # a policy no longer loaded: the id stands for its text


def report(
    db: Database, engine: Engine, who: Principal, start: dt.datetime, end: dt.datetime
) -> dict[str, Any]:
    """Requests received in [start, end): the approvals, those answered in real time, by drug,
    organization and urgency, and the pend drivers."""
    if who.role not in ("reviewer", "admin"):
        raise Forbidden(f"this needs the reviewer or admin role; the key is {who.role}")
    with db.reading() as s:
        rows = list(
            s.scalars(select(Case).where(Case.received_at >= start, Case.received_at < end))
        )
        drivers = pend_drivers(s, engine, {c.id: c for c in rows})
    overall = _figures(rows)
    return {
        **overall,
        "target": TARGET,
        "meets_target": None if overall["share"] is None else overall["share"] >= TARGET,
        "by_drug": _grouped(rows, "drug"),
        "by_organization": _grouped(rows, "org"),
        "by_urgency": _grouped(rows, "urgency"),
        "pend_drivers": drivers,
    }
