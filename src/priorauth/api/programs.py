"""HTTP routes of the payer programs (issue 22): gold cards and the real-time report. Thin,
as routes.py: each one call into the service."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from priorauth.service import reports
from priorauth.service.auth import Principal
from priorauth.service.errors import Invalid
from priorauth.service.goldcard import card_view, event_view
from priorauth.service.http import current_principal, get_service
from priorauth.service.inbound import json_body, known_query
from priorauth.service.workflow import Service

router = APIRouter(dependencies=[Depends(json_body), Depends(known_query)])
Who = Annotated[Principal, Depends(current_principal)]
Svc = Annotated[Service, Depends(get_service)]
# Dates as text only: a bare number would otherwise be read as a Unix time (from=0 is 1970).
ISO_DAY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
Day = Annotated[str, Query(pattern=ISO_DAY, description="a date, YYYY-MM-DD")]


def day(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name}: {value!r} is not a date (expected YYYY-MM-DD)", name) from None


class RescindBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1)


@router.get("/gold-cards")
def gold_cards(who: Who, service: Svc, as_of: Day | None = None) -> list[dict[str, Any]]:
    """The gold cards held on `as_of` (today by default): prescriber (NPI) and drug, the
    decisions that earned the card, and the days it is held."""
    today = service.clock().date()
    held = service.gold_cards.in_force(who, day(as_of, "as_of") if as_of else None)
    return [card_view(c, today) for c in held]


# A card's number as the database keeps it (a 32-bit integer): a larger one is no card.
CardId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the gold card's id")]
NO_CARD: dict[int | str, dict[str, Any]] = {404: {"description": "No such gold card"}}


@router.get("/gold-cards/{card_id}", responses=NO_CARD)
def gold_card(card_id: CardId, who: Who, service: Svc) -> dict[str, Any]:
    """One card, with its audit trail (granted, rescinded)."""
    card, events = service.gold_cards.get(who, card_id)
    return {**card_view(card, service.clock().date()), "history": [event_view(e) for e in events]}


@router.post(
    "/gold-cards/{card_id}/rescind",
    responses={**NO_CARD, 409: {"description": "The card was rescinded already"}},
)
def rescind(card_id: CardId, body: RescindBody, who: Who, service: Svc) -> dict[str, Any]:
    """A reviewer takes the card back (after the post-service review of its claims); the
    prescriber's next requests for the drug are decided on their criteria again."""
    card = service.gold_cards.rescind(who, card_id, body.reason)
    return card_view(card, service.clock().date())


def period(start: dt.date, end: dt.date) -> None:
    """[from, to] a period the report can count, or a clear error naming the parameter."""
    if start > end:
        raise Invalid(f"from: {start} is after to ({end})", "from")
    if end >= dt.date.max:
        raise Invalid("to: out of range", "to")


@router.get("/metrics/real-time")
def real_time(
    who: Who,
    service: Svc,
    from_: Annotated[str, Query(alias="from", pattern=ISO_DAY, description="YYYY-MM-DD")],
    to: Day,
) -> dict[str, Any]:
    """Approvals of requests received from `from` to `to` inclusive, those answered at
    submission with no pend and no person (`real_time`), their `share` against the `target`
    of 0.8, by drug, organization and urgency; and `pend_drivers`, the questions that pended
    the most requests."""
    start, end = day(from_, "from"), day(to, "to")
    period(start, end)
    return reports.real_time(service, who, start, end)
