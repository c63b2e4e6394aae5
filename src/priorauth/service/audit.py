"""The read audit: every read of a case by a key holder is in the case's history.

A read of one case (the case, its trace, its history) is a `read` event of that case. A read of
a list (the queue, case lists, authorization lists) is one listing: a `listings` row saying who,
when and what, and a `listing_cases` row per case shown (its id and status then), keyed by case
so that a case's history finds its listings by index; the history shows each as a `read` with
`detail.what` and `detail.listing`. A listing was one event row per case: 264,493 audit rows in a
ten-minute soak, most of them from 578 unpaginated queue reads.

The hooks, `record_reads` and `record_listing`, are called by every workflow method that returns
case data; an adapter (JSON API, FHIR, web UI) that reads cases through the workflow is audited
without doing anything, and one that reads another way calls `Service.audit_reads(who, what,
case_ids)`. The rows are written after the data was read and before it is returned: if they
cannot be written, the read fails (never data out unaudited)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from priorauth.service.models import Event, Listing, ListingCase

if TYPE_CHECKING:
    from priorauth.service.auth import Principal


def record_reads(
    s: Session,
    who: Principal,
    what: str,
    case_ids: Iterable[str],
    at: dt.datetime,
    status: dict[str, str] | None = None,
) -> int:
    """One `read` event per case (each case once), `detail.what` saying what was read."""
    rows = [
        {
            "case_id": case_id,
            "at": at,
            "actor": who.name,
            "role": who.role,
            "action": "read",
            "from_status": (status or {}).get(case_id),
            "to_status": (status or {}).get(case_id),
            "detail": {"what": what},
        }
        for case_id in dict.fromkeys(case_ids)
    ]
    if rows:
        s.execute(insert(Event), rows)
    return len(rows)


def record_listing(
    s: Session, who: Principal, what: str, status: dict[str, str | None], at: dt.datetime
) -> int | None:
    """One listing of the cases in `status` (case id -> its status when shown); its id, or None
    when it showed no case (nothing of any case went out)."""
    if not status:
        return None
    listing = s.execute(
        insert(Listing)
        .values(at=at, actor=who.name, role=who.role, what=what)
        .returning(Listing.id)
    ).scalar_one()
    # One statement of many rows: an executemany of 50 rows cost PostgreSQL 5 ms more.
    s.execute(
        insert(ListingCase).values(
            [{"case_id": c, "listing_id": listing, "status": st} for c, st in status.items()]
        )
    )
    return int(listing)


def listing_reads(s: Session, case_id: str) -> list[Event]:
    """The listings that showed the case, as `read` events (not stored as events: built for the
    history, in the order of the listings)."""
    rows = s.execute(
        select(Listing, ListingCase.status)
        .join(ListingCase, ListingCase.listing_id == Listing.id)
        .where(ListingCase.case_id == case_id)
        .order_by(ListingCase.listing_id)
    ).all()
    return [
        Event(
            case_id=case_id,
            at=listing.at,
            actor=listing.actor,
            role=listing.role,
            action="read",
            from_status=status,
            to_status=status,
            detail={"what": listing.what, "listing": listing.id},
        )
        for listing, status in rows
    ]
