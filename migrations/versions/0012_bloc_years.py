"""The bloc's year: a row per bloc and year, the pledge's signatures, the self-assessments, the review panel's
adjustments, the scorecards, each year's head and deputy, and the rotating flag's handovers.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "bloc_years",
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("bloc", sa.String(24), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("phase", sa.String(24), nullable=False),
        sa.Column("head", sa.String(24), nullable=False),
        sa.Column("deputy", sa.String(24), nullable=False),
        sa.Column("policy_version", sa.String(32), nullable=True),
        sa.Column("next_head", sa.String(24), nullable=True),
        sa.Column("next_deputy", sa.String(24), nullable=True),
        sa.Column("next_year_id", sa.String(200), nullable=True),
        sa.Column("previous_year_id", sa.String(200), nullable=True),
        sa.Column("standings", sa.JSON, nullable=True),
        sa.Column("tiers", sa.JSON, nullable=False),
        sa.Column("last_step", sa.Integer, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", name="pk_bloc_years"),
        sa.UniqueConstraint("bloc", "year", name="uq_bloc_years_bloc_year"),
    )
    op.create_table(
        "bloc_pledge_signatures",
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("member", sa.String(24), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("signed_at", Timestamp, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", "member", name="pk_bloc_pledge_signatures"),
    )
    op.create_table(
        "bloc_self_assessments",
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("member", sa.String(24), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("submitted_at", Timestamp, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", "member", name="pk_bloc_self_assessments"),
    )
    op.create_table(
        "bloc_score_adjustments",
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("step", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("member", sa.String(24), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("code", sa.String(24), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("adjusted_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", "step", name="pk_bloc_score_adjustments"),
    )
    op.create_table(
        "bloc_scorecards",
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("member", sa.String(24), nullable=False),
        sa.Column("rank", sa.Integer, nullable=True),
        sa.Column("total", sa.Numeric(8, 2), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", "member", name="pk_bloc_scorecards"),
    )
    op.create_table(
        "bloc_leadership",
        sa.Column("bloc", sa.String(24), nullable=False),
        sa.Column("year", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("head", sa.String(24), nullable=False),
        sa.Column("deputy", sa.String(24), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("minutes_ref", sa.Text, nullable=True),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("recorded_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("bloc", "year", name="pk_bloc_leadership"),
    )
    op.create_table(
        "bloc_flag_handovers",
        sa.Column("bloc", sa.String(24), nullable=False),
        sa.Column("year", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("from_member", sa.String(24), nullable=False),
        sa.Column("to_member", sa.String(24), nullable=False),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("handed_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("bloc", "year", name="pk_bloc_flag_handovers"),
    )


def downgrade() -> None:
    for table in (
        "bloc_flag_handovers",
        "bloc_leadership",
        "bloc_scorecards",
        "bloc_score_adjustments",
        "bloc_self_assessments",
        "bloc_pledge_signatures",
        "bloc_years",
    ):
        op.drop_table(table)
