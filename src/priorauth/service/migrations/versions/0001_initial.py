"""Cases, events (audit), authorizations, API keys.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(12), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("org", sa.String(64), nullable=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org", sa.String(64), nullable=False),
        sa.Column("submitted_by", sa.String(128), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=True),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("drug", sa.String(64), nullable=False),
        sa.Column("policy_number", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("determination", sa.JSON, nullable=False),
        sa.Column("notes", sa.JSON, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("decision_reason", sa.Text, nullable=True),
        sa.Column("denied_by", sa.String(128), nullable=True),
        sa.Column("appealed", sa.Boolean, nullable=False),
        sa.Column("previous_authorization_id", sa.Integer, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.UniqueConstraint("org", "idempotency_key", name="uq_cases_org_idempotency_key"),
    )
    op.create_index("ix_cases_status_due", "cases", ["status", "due_by"])
    op.create_index("ix_cases_member", "cases", ["member_id"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(24), nullable=True),
        sa.Column("to_status", sa.String(24), nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_events_case", "events", ["case_id", "id"])
    op.create_table(
        "authorizations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("org", sa.String(64), nullable=False),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("drug", sa.String(64), nullable=False),
        sa.Column("policy_number", sa.String(32), nullable=False),
        sa.Column("start", sa.Date, nullable=False),
        sa.Column("end", sa.Date, nullable=False),
        sa.Column("max_daily_dose_mg", sa.Float, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_auth_member_drug", "authorizations", ["member_id", "drug"])
    op.create_index("ix_auth_end", "authorizations", ["end"])


def downgrade() -> None:
    op.drop_table("authorizations")
    op.drop_table("events")
    op.drop_table("cases")
    op.drop_table("api_keys")
