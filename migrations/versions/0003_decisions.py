"""Decisions: the decision register, the nominations each named (accepted or refused) and which decision
awarded each nomination (at most one).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("decision_no", sa.String(64), nullable=False),
        sa.Column("decision_date", sa.Date, nullable=False),
        sa.Column("authority", sa.String(24), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        # The DecisionWorkflow that applied it.
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("accepted", sa.Integer, nullable=False),
        sa.Column("refused", sa.Integer, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("decision_no", name="pk_decisions"),
    )
    # Every nomination a decision named, in the order it was listed (`position`), with the outcome.
    op.create_table(
        "decision_items",
        sa.Column("decision_no", sa.String(64), nullable=False),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("accepted", sa.Boolean, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("nominee_name", sa.Text, nullable=True),
        sa.Column("award_name_vi", sa.Text, nullable=True),
        sa.Column("ministry", sa.String(24), nullable=True),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("decision_no", "workflow_id", name="pk_decision_items"),
    )
    # Which decisions named a nomination.
    op.create_index("ix_decision_items_workflow_id", "decision_items", ["workflow_id"])
    # A nomination is accepted on at most one decision: one row per awarded nomination.
    op.create_table(
        "awarded_by",
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("decision_no", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", name="pk_awarded_by"),
    )


def downgrade() -> None:
    op.drop_table("awarded_by")
    op.drop_index("ix_decision_items_workflow_id", table_name="decision_items")
    op.drop_table("decision_items")
    op.drop_table("decisions")
