"""HTTP routes of the payer programs (issue 22): gold cards and the real-time report. Thin,
as routes.py: each one call into the service."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from priorauth.service import realtime
from priorauth.service.auth import Principal
from priorauth.service.errors import Invalid
from priorauth.service.goldcard import card_view, event_view
from priorauth.service.http import current_principal, get_service
from priorauth.service.inbound import json_body, known_query
from priorauth.service.workflow import Service

router = APIRouter(dependencies=[Depends(json_body), Depends(known_query)])
Who = Annotated[Principal, Depends(current_principal)]
Svc = Annotated[Service, Depends(get_service)]


class RescindBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1)


@router.get("/gold-cards")
def gold_cards(
    who: Who, service: Svc, as_of: Annotated[dt.date | None, Query()] = None
) -> list[dict[str, Any]]:
    """The gold cards held on `as_of` (today by default): prescriber (NPI) and drug, the
    decisions that earned the card, and the days it is held."""
    today = service.clock().date()
    return [card_view(c, today) for c in service.gold_cards.in_force(who, as_of)]


@router.get("/gold-cards/{card_id}")
def gold_card(card_id: int, who: Who, service: Svc) -> dict[str, Any]:
    """One card, with its audit trail (granted, rescinded)."""
    card, events = service.gold_cards.get(who, card_id)
    return {**card_view(card, service.clock().date()), "history": [event_view(e) for e in events]}


@router.post("/gold-cards/{card_id}/rescind")
def rescind(card_id: int, body: RescindBody, who: Who, service: Svc) -> dict[str, Any]:
    """A reviewer takes the card back (after the post-service review of its claims); the
    prescriber's next requests for the drug are decided on their criteria again."""
    card = service.gold_cards.rescind(who, card_id, body.reason)
    return card_view(card, service.clock().date())


def period(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[from, to] inclusive as instants, or a clear error naming the parameter."""
    if start > end:
        raise Invalid(f"from: {start} is after to ({end})", "from")
    if end >= dt.date.max:
        raise Invalid("to: out of range", "to")
    return (
        dt.datetime.combine(start, dt.time(), dt.UTC),
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC),
    )


@router.get("/metrics/real-time")
def real_time(
    who: Who,
    service: Svc,
    from_: Annotated[dt.date, Query(alias="from")],
    to: dt.date,
) -> dict[str, Any]:
    """Approvals of requests received from `from` to `to` inclusive, those answered at
    submission with no pend and no person (`real_time`), their `share` against the `target`
    of 0.8, by drug, organization and urgency; and `pend_drivers`, the questions that pended
    the most requests."""
    lo, hi = period(from_, to)
    return {
        "from": from_.isoformat(),
        "to": to.isoformat(),
        **realtime.report(service.db, service.engine, who, lo, hi),
    }
