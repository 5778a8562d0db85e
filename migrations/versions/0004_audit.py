"""The audit log: one global, append-only hash chain of who did what, when, from where, with what outcome.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_log",
        # The chain's order. BIGINT on PostgreSQL; on SQLite only an INTEGER PRIMARY KEY autoincrements.
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        # The transition's seq, or the source's own key (a ballot round; 1 for a decision).
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("actor", sa.String(64), nullable=True),
        # From where: CLI, API or SYSTEM.
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("from_stage", sa.String(32), nullable=True),
        sa.Column("to_stage", sa.String(32), nullable=True),
        sa.Column("outcome", sa.Text, nullable=False),
        # The canonical content the hash covers (the columns above and the details).
        sa.Column("entry", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        # A retried activity never appends the same entry twice.
        sa.UniqueConstraint("workflow_id", "seq", "action", name="uq_audit_log_workflow_seq_action"),
    )


def downgrade() -> None:
    op.drop_table("audit_log")
