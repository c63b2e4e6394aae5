"""Tables. Cases, their append-only events, listings, authorizations, API keys.

The workbench's users (service/users.py) and the FHIR adapter's tables (fhir/models.py) share
this `Base`, so one migration history covers them; priorauth.schema gathers them all."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    role: Mapped[str] = mapped_column(String(16))
    org: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("org", "idempotency_key", name="uq_cases_org_idempotency_key"),
        # The keyset orders of the lists (service/paging.py): the queue by (due_by, id) within
        # each status; every case, an organization's and a status's newest first.
        Index("ix_cases_status_due_id", "status", "due_by", "id"),
        Index("ix_cases_received_id", "received_at", "id"),
        Index("ix_cases_org_received_id", "org", "received_at", "id"),
        Index("ix_cases_status_received_id", "status", "received_at", "id"),
        Index("ix_cases_member", "member_id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org: Mapped[str] = mapped_column(String(64))
    submitted_by: Mapped[str] = mapped_column(String(128))
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    member_id: Mapped[str] = mapped_column(String(64))
    drug: Mapped[str] = mapped_column(String(64))
    policy_number: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    urgency: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    determination: Mapped[dict[str, Any]] = mapped_column(JSON)
    # What the engine decided, kept when a person's decision replaces `determination`.
    engine_determination: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    due_by: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    denied_by: Mapped[str | None] = mapped_column(String(128))
    appealed: Mapped[bool] = mapped_column(default=False)
    previous_authorization_id: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declaration


class Event(Base):
    """The audit trail: appended, never changed."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_case", "case_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str | None] = mapped_column(String(24))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Listing(Base):
    """One read of a list (the queue, case lists, authorization lists): who, when, what. The
    cases it showed are its `listing_cases`; a case's history shows the listing as a read."""

    __tablename__ = "listings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    what: Mapped[str] = mapped_column(String(32))


class ListingCase(Base):
    """A case a listing showed, and its status then. Keyed by case first: a case's history
    finds its listings by this key, however many listings there are."""

    __tablename__ = "listing_cases"
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listings.id"), primary_key=True)
    # None where the list was of authorizations, which do not carry their case's status.
    status: Mapped[str | None] = mapped_column(String(24))


class Authorization(Base):
    __tablename__ = "authorizations"
    __table_args__ = (
        # A member's authorizations latest first: the member list's keyset order, and a
        # renewal's look-up of the latest.
        Index("ix_auth_member_end_id", "member_id", "end", "id"),
        Index("ix_auth_end", "end"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    org: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[str] = mapped_column(String(64))
    drug: Mapped[str] = mapped_column(String(64))
    policy_number: Mapped[str] = mapped_column(String(32))
    start: Mapped[dt.date] = mapped_column(Date)
    end: Mapped[dt.date] = mapped_column(Date)
    max_daily_dose_mg: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
