"""Tables of the FHIR adapter: the PAS Claims behind cases, Subscriptions, SMART Backend
Services clients and their tokens, CRD coverage assertions, and the audit of FHIR calls that
touch no case. They share the service's metadata (one schema, one migration history)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from priorauth.service.models import Base


class FhirClaim(Base):
    """A PAS Claim item and the case it became; its identifier makes a retry find the case."""

    __tablename__ = "fhir_claims"
    __table_args__ = (
        UniqueConstraint("org", "claim_key", "item_sequence", name="uq_fhir_claims_key"),
    )
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    org: Mapped[str] = mapped_column(String(64))
    claim_key: Mapped[str] = mapped_column(String(64))
    item_sequence: Mapped[int] = mapped_column(Integer)
    claim: Mapped[dict[str, Any]] = mapped_column(JSON)
    sources: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class FhirSubscription(Base):
    __tablename__ = "fhir_subscriptions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org: Mapped[str | None] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(128))
    endpoint: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(String(16))
    headers: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    last_event_id: Mapped[int] = mapped_column(Integer)
    events_sent: Mapped[int] = mapped_column(Integer)
    failures: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    resource: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class OAuthClient(Base):
    """A SMART Backend Services client: its public keys (JWKS) and the role it acts with."""

    __tablename__ = "oauth_clients"
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    org: Mapped[str | None] = mapped_column(String(64))
    jwks: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class OAuthToken(Base):
    __tablename__ = "oauth_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.client_id"))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class AssertionJti(Base):
    """Client-assertion ids already used: a signed JWT is good for one token only."""

    __tablename__ = "oauth_assertion_jtis"
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class CoverageAssertion(Base):
    """A CRD answer that the chart already satisfies the policy (coverage-assertion-id)."""

    __tablename__ = "coverage_assertions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    org: Mapped[str | None] = mapped_column(String(64))
    member_id: Mapped[str] = mapped_column(String(64))
    drug: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(24))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class FhirAudit(Base):
    """FHIR and CDS Hooks calls that touch no case (case reads and writes are in `events`)."""

    __tablename__ = "fhir_audit"
    __table_args__ = (Index("ix_fhir_audit_at", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(200))
    status: Mapped[int] = mapped_column(Integer)
