"""A listing is one audit row (listings) with the cases it showed (listing_cases), where it was
one read event per case; the indexes that keep each list's keyset pages flat.

Read events written before this migration stay in events and in the cases' histories.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "listings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("what", sa.String(32), nullable=False),
    )
    op.create_table(
        "listing_cases",
        sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("listing_id", sa.Integer, sa.ForeignKey("listings.id"), primary_key=True),
        sa.Column("status", sa.String(24), nullable=True),
    )
    # (status, due_by) could not give the queue's tie order by id without a sort, nor
    # (member_id, drug) a member's authorizations latest first.
    op.drop_index("ix_cases_status_due", table_name="cases")
    op.create_index("ix_cases_status_due_id", "cases", ["status", "due_by", "id"])
    op.create_index("ix_cases_received_id", "cases", ["received_at", "id"])
    op.create_index("ix_cases_org_received_id", "cases", ["org", "received_at", "id"])
    op.create_index("ix_cases_status_received_id", "cases", ["status", "received_at", "id"])
    op.drop_index("ix_auth_member_drug", table_name="authorizations")
    op.create_index("ix_auth_member_end_id", "authorizations", ["member_id", "end", "id"])


def downgrade() -> None:
    op.drop_index("ix_auth_member_end_id", table_name="authorizations")
    op.create_index("ix_auth_member_drug", "authorizations", ["member_id", "drug"])
    op.drop_index("ix_cases_status_received_id", table_name="cases")
    op.drop_index("ix_cases_org_received_id", table_name="cases")
    op.drop_index("ix_cases_received_id", table_name="cases")
    op.drop_index("ix_cases_status_due_id", table_name="cases")
    op.create_index("ix_cases_status_due", "cases", ["status", "due_by"])
    op.drop_table("listing_cases")
    op.drop_table("listings")
