"""Gold cards in the workbench: the cards held today, one card with its audit trail, and the
reviewer's button that rescinds it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from priorauth.service.errors import Invalid
from priorauth.service.goldcard import card_view, event_view
from priorauth.web.common import Visitor, page, posted, redirect, service_of, visitor
from priorauth.web.views import when

router = APIRouter()
Signed = Annotated[Visitor, Depends(visitor)]
CardId = Annotated[int, Path(ge=1, le=2**31 - 1)]  # as the database keeps it


@router.get("/gold-cards")
def gold_cards(request: Request, v: Signed, done: str = "") -> Response:
    service = service_of(request)
    today = service.clock().date()
    held = service.gold_cards.in_force(v.who)
    return page(
        request,
        "gold_cards.html",
        {
            "title": "Gold cards",
            "today": today.isoformat(),
            "cards": [card_view(c, today) for c in held],
            # By code, so that nothing from the address is echoed.
            "done": "The gold card is rescinded." if done == "rescinded" else "",
            "nav": "gold-cards",
        },
        v=v,
    )


@router.get("/gold-cards/{card_id}")
def gold_card(request: Request, card_id: CardId, v: Signed) -> Response:
    service = service_of(request)
    card, events = service.gold_cards.get(v.who, card_id)
    view = card_view(card, service.clock().date())
    history = [event_view(e) for e in events]
    for e in history:
        e["when"] = when(e["at"])
    return page(
        request,
        "gold_card.html",
        {
            "title": f"Gold card {card.id}: NPI {card.npi}, {card.drug}",
            "card": view,
            "history": history,
            "nav": "gold-cards",
        },
        v=v,
    )


@router.post("/gold-cards/{card_id}/rescind")
async def rescind(request: Request, card_id: CardId, v: Signed) -> Response:
    form = await posted(request, v.csrf)
    reason = str(form.get("reason", ""))
    if not reason.strip():
        raise Invalid("reason: say why the card is rescinded", "reason")
    service = service_of(request)
    await run_in_threadpool(service.gold_cards.rescind, v.who, card_id, reason)
    return redirect("/ui/gold-cards?done=rescinded")
