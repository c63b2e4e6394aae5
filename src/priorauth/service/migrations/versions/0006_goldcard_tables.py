"""Gold cards: the cards, the cases approved under them, the daily evaluations, the cards'
audit trail.

Revision ID: 0006_goldcard
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_goldcard"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gold_cards",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("npi", sa.String(10), nullable=False),
        sa.Column("drug", sa.String(64), nullable=False),
        sa.Column("decided", sa.Integer, nullable=False),
        sa.Column("approved", sa.Integer, nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_until", sa.Date, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rescinded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rescinded_by", sa.String(128), nullable=True),
        sa.Column("rescind_reason", sa.Text, nullable=True),
        sa.UniqueConstraint("npi", "drug", "valid_from", name="uq_gold_cards_npi_drug_from"),
    )
    op.create_index("ix_gold_cards_npi_drug_until", "gold_cards", ["npi", "drug", "valid_until"])
    op.create_table(
        "gold_card_approvals",
        sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("gold_card_id", sa.Integer, sa.ForeignKey("gold_cards.id"), nullable=False),
    )
    op.create_index("ix_gold_card_approvals_card", "gold_card_approvals", ["gold_card_id"])
    op.create_table(
        "gold_card_runs",
        sa.Column("as_of", sa.Date, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("granted", sa.Integer, nullable=False),
    )
    op.create_table(
        "gold_card_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("gold_card_id", sa.Integer, sa.ForeignKey("gold_cards.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_gold_card_events_card", "gold_card_events", ["gold_card_id", "id"])


def downgrade() -> None:
    op.drop_table("gold_card_events")
    op.drop_table("gold_card_runs")
    op.drop_table("gold_card_approvals")
    op.drop_table("gold_cards")
