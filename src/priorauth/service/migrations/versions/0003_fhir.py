"""The FHIR adapter's tables: PAS claims, subscriptions, SMART clients and tokens, coverage
assertions, audit of FHIR calls without a case.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fhir_claims",
        sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("org", sa.String(64), nullable=False),
        sa.Column("claim_key", sa.String(64), nullable=False),
        sa.Column("item_sequence", sa.Integer, nullable=False),
        sa.Column("claim", sa.JSON, nullable=False),
        sa.Column("sources", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("org", "claim_key", "item_sequence", name="uq_fhir_claims_key"),
    )
    op.create_table(
        "fhir_subscriptions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org", sa.String(64), nullable=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("endpoint", sa.Text, nullable=False),
        sa.Column("content", sa.String(16), nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_event_id", sa.Integer, nullable=False),
        sa.Column("events_sent", sa.Integer, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("resource", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "oauth_clients",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("org", sa.String(64), nullable=True),
        sa.Column("jwks", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "oauth_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "client_id", sa.String(64), sa.ForeignKey("oauth_clients.client_id"), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "oauth_assertion_jtis",
        sa.Column("jti", sa.String(200), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "coverage_assertions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org", sa.String(64), nullable=True),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("drug", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(24), nullable=False),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "fhir_audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(200), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
    )
    op.create_index("ix_fhir_audit_at", "fhir_audit", ["at"])


def downgrade() -> None:
    op.drop_index("ix_fhir_audit_at", table_name="fhir_audit")
    for table in (
        "fhir_audit",
        "coverage_assertions",
        "oauth_assertion_jtis",
        "oauth_tokens",
        "oauth_clients",
        "fhir_subscriptions",
        "fhir_claims",
    ):
        op.drop_table(table)
