"""Gold cards: a prescriber whose requests for a drug were nearly all approved is exempt from
prior authorization for it (Texas HB 3459's rule, issue 22).

The rule, as of a day D: the prescriber's (NPI) final decisions per drug over the six months
before D (from D minus six months to the day before D, both inclusive, by the day decided);
with at least 5 decided and at least 90% of them approved, the prescriber holds a card for that
drug from D for six months (to D plus six months minus a day). Approved means the case's final
status is approved or partially approved, an appeal overturned included; a denial under appeal
is not final yet and is not counted; approvals made under a card are not counted (a card would
otherwise renew itself on the decisions it exempted).

A card in force, or rescinded before its end, keeps the prescriber out of a new one for that
drug until that end: rescinding is not undone by the next day's evaluation."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from priorauth.service.auth import Principal
from priorauth.service.db import Database
from priorauth.service.errors import Conflict, Forbidden, Invalid, NotFound
from priorauth.service.goldcard_models import GoldCard, GoldCardApproval, GoldCardEvent, GoldCardRun
from priorauth.service.models import Case

MONTHS = 6
MIN_DECIDED = 5
FINAL = ("approved", "partially_approved", "denied")
APPROVED = ("approved", "partially_approved")
SYSTEM = Principal("system", "admin", None)


def window(as_of: dt.date) -> tuple[dt.date, dt.date]:
    """The days whose decisions count, both inclusive."""
    return as_of - relativedelta(months=MONTHS), as_of - dt.timedelta(days=1)


def held_until(as_of: dt.date) -> dt.date:
    """The last day a card granted as of this day is held."""
    return as_of + relativedelta(months=MONTHS) - dt.timedelta(days=1)


def qualifies(decided: int, approved: int) -> bool:
    # In integers: 89.9% must not round up to 90%.
    return decided >= MIN_DECIDED and approved * 10 >= decided * 9


@dataclass(frozen=True)
class FinalDecision:
    npi: str
    drug: str
    day: dt.date
    approved: bool


@dataclass(frozen=True)
class Tally:
    npi: str
    drug: str
    decided: int
    approved: int

    @property
    def qualifies(self) -> bool:
        return qualifies(self.decided, self.approved)


def tally(decisions: Iterable[FinalDecision], as_of: dt.date) -> list[Tally]:
    """Each prescriber's decided and approved counts per drug within the window."""
    first, last = window(as_of)
    decided: Counter[tuple[str, str]] = Counter()
    approved: Counter[tuple[str, str]] = Counter()
    for d in decisions:
        if first <= d.day <= last:
            decided[(d.npi, d.drug)] += 1
            approved[(d.npi, d.drug)] += d.approved
    return [
        Tally(npi, drug, n, approved[(npi, drug)]) for (npi, drug), n in sorted(decided.items())
    ]


def _day(value: dt.datetime) -> dt.date:
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).date()


def final_decisions(s: Session, first: dt.date, last: dt.date) -> list[FinalDecision]:
    """The final decisions made from `first` to `last` inclusive on requests naming a
    prescriber's NPI, but those made under a gold card."""
    lo = dt.datetime.combine(first, dt.time(), dt.UTC)
    hi = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.UTC)
    carded = select(GoldCardApproval.case_id)
    rows = s.execute(
        select(Case.request, Case.drug, Case.status, Case.decided_at).where(
            Case.status.in_(FINAL),
            Case.decided_at >= lo,
            Case.decided_at < hi,
            Case.id.not_in(carded),
        )
    ).all()
    out = []
    for request, drug, status, decided_at in rows:
        npi = (request.get("prescriber") or {}).get("npi")
        if npi and decided_at is not None:
            out.append(FinalDecision(npi, drug, _day(decided_at), status in APPROVED))
    return out


def card_view(card: GoldCard, today: dt.date) -> dict[str, Any]:
    if card.rescinded_at is not None:
        state = "rescinded"
    elif card.valid_until < today:
        state = "expired"
    elif card.valid_from > today:
        state = "future"
    else:
        state = "active"
    return {
        "id": card.id,
        "npi": card.npi,
        "drug": card.drug,
        "decided": card.decided,
        "approved": card.approved,
        "approval_rate": round(card.approved / card.decided, 4) if card.decided else None,
        "from": card.valid_from.isoformat(),
        "until": card.valid_until.isoformat(),
        "status": state,
        "rescinded_at": _iso(card.rescinded_at),
        "rescinded_by": card.rescinded_by,
        "rescind_reason": card.rescind_reason,
    }


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()


def event_view(e: GoldCardEvent) -> dict[str, Any]:
    return {"at": _iso(e.at), "actor": e.actor, "role": e.role, "action": e.action, **e.detail}


class GoldCards:
    """The cards of one database: evaluated (by a command, or once a day by the service),
    looked up on submission, listed and rescinded by reviewers."""

    def __init__(self, db: Database, clock: Callable[[], dt.datetime]) -> None:
        self.db = db
        self.clock = clock
        self._evaluated: dt.date | None = None

    @staticmethod
    def _require(who: Principal, *roles: str) -> None:
        if who.role not in roles:
            raise Forbidden(f"this needs the {' or '.join(roles)} role; the key is {who.role}")

    def evaluate(self, as_of: dt.date, who: Principal = SYSTEM) -> list[GoldCard]:
        """The cards granted as of this day (none twice: run again, it grants nothing new)."""
        now = self.clock()
        first, last = window(as_of)
        with self.db.session() as s:
            granted = []
            for t in tally(final_decisions(s, first, last), as_of):
                if not t.qualifies or self._covering(s, t.npi, t.drug, as_of) is not None:
                    continue
                card = GoldCard(
                    npi=t.npi,
                    drug=t.drug,
                    decided=t.decided,
                    approved=t.approved,
                    valid_from=as_of,
                    valid_until=held_until(as_of),
                    created_at=now,
                )
                s.add(card)
                s.flush()
                s.add(
                    GoldCardEvent(
                        gold_card_id=card.id,
                        at=now,
                        actor=who.name,
                        role=who.role,
                        action="granted",
                        detail={
                            "decided": t.decided,
                            "approved": t.approved,
                            "window": [first.isoformat(), last.isoformat()],
                        },
                    )
                )
                granted.append(card)
            run = s.get(GoldCardRun, as_of)
            if run is None:
                s.add(GoldCardRun(as_of=as_of, at=now, granted=len(granted)))
            else:
                run.at, run.granted = now, run.granted + len(granted)
        return granted

    def evaluate_daily(self) -> None:
        """The service's scheduled run: once a day, as of that day, by whichever worker is
        first to need the cards that day (a worker remembers the day it saw done)."""
        today = self.clock().date()
        if self._evaluated == today:
            return
        with self.db.reading() as s:
            done = s.get(GoldCardRun, today) is not None
        if not done:
            # IntegrityError: another worker ran it at the same moment.
            with contextlib.suppress(IntegrityError):
                self.evaluate(today)
        self._evaluated = today

    @staticmethod
    def _covering(s: Session, npi: str, drug: str, day: dt.date) -> GoldCard | None:
        """The card for this prescriber and drug whose period covers the day, rescinded or
        not."""
        return s.scalar(
            select(GoldCard)
            .where(
                GoldCard.npi == npi,
                GoldCard.drug == drug,
                GoldCard.valid_from <= day,
                GoldCard.valid_until >= day,
            )
            .order_by(GoldCard.valid_from.desc())
            .limit(1)
        )

    def holding(self, s: Session, npi: str, drug: str, day: dt.date) -> GoldCard | None:
        """The card the prescriber holds for the drug on the day: in its period, not
        rescinded."""
        card = self._covering(s, npi, drug, day)
        return card if card is not None and card.rescinded_at is None else None

    def in_force(
        self, who: Principal, as_of: dt.date | None = None, daily_run: bool = True
    ) -> list[GoldCard]:
        """The cards held on the day (today by default), by NPI and drug; the day's run first
        when it has not been made (`daily_run`)."""
        self._require(who, "reviewer", "admin")
        if daily_run:
            self.evaluate_daily()
        day = as_of or self.clock().date()
        with self.db.reading() as s:
            return list(
                s.scalars(
                    select(GoldCard)
                    .where(
                        GoldCard.valid_from <= day,
                        GoldCard.valid_until >= day,
                        GoldCard.rescinded_at.is_(None),
                    )
                    .order_by(GoldCard.npi, GoldCard.drug)
                )
            )

    def get(self, who: Principal, card_id: int) -> tuple[GoldCard, list[GoldCardEvent]]:
        self._require(who, "reviewer", "admin")
        with self.db.reading() as s:
            card = s.get(GoldCard, card_id)
            if card is None:
                raise NotFound(f"no gold card {card_id}")
            events = list(
                s.scalars(
                    select(GoldCardEvent)
                    .where(GoldCardEvent.gold_card_id == card_id)
                    .order_by(GoldCardEvent.id)
                )
            )
            return card, events

    def rescind(self, who: Principal, card_id: int, reason: str) -> GoldCard:
        """A reviewer takes a card back (after the post-service review of a sample of its
        claims); recorded in the card's audit trail."""
        self._require(who, "reviewer")
        if not reason.strip():
            raise Invalid("reason: say why the card is rescinded", "reason")
        now = self.clock()
        with self.db.session() as s:
            card = s.get(GoldCard, card_id)
            if card is None:
                raise NotFound(f"no gold card {card_id}")
            if card.rescinded_at is not None:
                raise Conflict(f"gold card {card_id} was rescinded already")
            card.rescinded_at, card.rescinded_by, card.rescind_reason = now, who.name, reason
            s.add(
                GoldCardEvent(
                    gold_card_id=card.id,
                    at=now,
                    actor=who.name,
                    role=who.role,
                    action="rescinded",
                    detail={"reason": reason},
                )
            )
        return card

    @staticmethod
    def mark(s: Session, case_id: str, card: GoldCard) -> None:
        """The case was approved under the card: it is in the post-service sample's pool."""
        s.add(GoldCardApproval(case_id=case_id, gold_card_id=card.id))


def gold_card_reason(card: GoldCard, partial: bool) -> dict[str, str]:
    text = (
        f"Approved under gold card {card.id}: prescriber NPI {card.npi} is exempt from prior "
        f"authorization for {card.drug} from {card.valid_from} to {card.valid_until} "
        f"({card.approved} of {card.decided} requests approved in the six months before); "
        "the approval is subject to post-service review of a sample of claims."
    )
    if partial:
        text += " The quantity is authorized at the policy's limit."
    return {"id": "gold_card", "text": text, "status": "met"}
