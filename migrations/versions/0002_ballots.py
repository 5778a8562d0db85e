"""Ballot sessions: the session register, who voted (never what) and the counting minutes.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ballot_sessions",
        sa.Column("session_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(24), nullable=False),
        sa.Column("meeting_ref", sa.String(48), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("opened_by", sa.String(64), nullable=False),
        sa.Column("deadline", TIMESTAMP, nullable=False),
        sa.Column("policy_version", sa.String(32), nullable=False),
        sa.Column("candidates", sa.Integer, nullable=False),
        sa.Column("electorate_size", sa.Integer, nullable=False),
        sa.Column("voted", sa.Integer, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("session_id", name="pk_ballot_sessions"),
    )
    # offer_to_open_session looks up the COLLECTING session of a (kind, scope).
    op.create_index("ix_ballot_sessions_kind_scope_phase", "ballot_sessions", ["kind", "scope", "phase"])
    # Who voted in which round, with their receipt; what they voted is never stored.
    op.create_table(
        "ballot_participation",
        sa.Column("session_id", sa.String(200), nullable=False),
        sa.Column("round", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("voter_id", sa.String(64), nullable=False),
        sa.Column("voted_at", TIMESTAMP, nullable=False),
        sa.Column("receipt", sa.String(300), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "round", "voter_id", name="pk_ballot_participation"),
    )
    # Biên bản kiểm phiếu: one row per candidate per round, counts only.
    op.create_table(
        "ballot_minutes",
        sa.Column("session_id", sa.String(200), nullable=False),
        sa.Column("round", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("members", sa.Integer, nullable=False),
        sa.Column("present", sa.Integer, nullable=False),
        sa.Column("votes_for", sa.Integer, nullable=False),
        sa.Column("votes_against", sa.Integer, nullable=False),
        sa.Column("abstaining", sa.Integer, nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("reason_vi", sa.Text, nullable=False),
        sa.Column("policy_version", sa.String(32), nullable=False),
        sa.Column("closed_at", TIMESTAMP, nullable=False),
        sa.Column("spoiled", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("session_id", "round", "workflow_id", name="pk_ballot_minutes"),
    )


def downgrade() -> None:
    op.drop_table("ballot_minutes")
    op.drop_table("ballot_participation")
    op.drop_index("ix_ballot_sessions_kind_scope_phase", table_name="ballot_sessions")
    op.drop_table("ballot_sessions")
