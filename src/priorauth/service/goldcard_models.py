"""The gold-card tables: the cards, the cases approved under one (marked for post-service
sampling), the daily evaluations, and each card's audit trail.

The service's audit trail (events) belongs to a case; a card is not a case, so its grants and
rescissions are kept here in the same shape: appended, never changed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from priorauth.service.models import Base


class GoldCard(Base):
    __tablename__ = "gold_cards"
    __table_args__ = (
        UniqueConstraint("npi", "drug", "valid_from", name="uq_gold_cards_npi_drug_from"),
        Index("ix_gold_cards_npi_drug_until", "npi", "drug", "valid_until"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    npi: Mapped[str] = mapped_column(String(10))
    drug: Mapped[str] = mapped_column(String(64))
    decided: Mapped[int] = mapped_column(Integer)
    approved: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date)  # the last day held, inclusive
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    rescinded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    rescinded_by: Mapped[str | None] = mapped_column(String(128))
    rescind_reason: Mapped[str | None] = mapped_column(Text)


class GoldCardApproval(Base):
    """A case approved under a card: the post-service sample is drawn from these."""

    __tablename__ = "gold_card_approvals"
    __table_args__ = (Index("ix_gold_card_approvals_card", "gold_card_id"),)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    gold_card_id: Mapped[int] = mapped_column(ForeignKey("gold_cards.id"))


class GoldCardRun(Base):
    """One evaluation, by the day it was as of: the service runs one a day, whichever worker
    comes first (the key stops a second)."""

    __tablename__ = "gold_card_runs"
    as_of: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    granted: Mapped[int] = mapped_column(Integer)


class GoldCardEvent(Base):
    __tablename__ = "gold_card_events"
    __table_args__ = (Index("ix_gold_card_events_card", "gold_card_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gold_card_id: Mapped[int] = mapped_column(ForeignKey("gold_cards.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
