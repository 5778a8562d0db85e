"""Revoked tokens: a signed token whose id (`jti`) is listed here is refused wherever a token is verified.

A row is kept until the token it names expires (`expires_at`, copied from the token's `exp`); after that the
token is refused for its expiry anyway, so the revocation store may prune the row. `actor_id` is the token's
subject when the revoker presented the token (its own actor signing out); NULL when an operator revoked it by
id alone.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(64), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=True),
        sa.Column("revoked_by", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti", name="pk_revoked_tokens"),
    )
    op.create_index("ix_revoked_tokens_expires_at", "revoked_tokens", ["expires_at"])


def downgrade() -> None:
    # Dropping the table would make every revoked, unexpired token work again: refused while any is listed.
    live = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM revoked_tokens WHERE expires_at > :now"), {"now": datetime.now(UTC)}
    )
    if live:
        raise RuntimeError(
            f"revoked_tokens lists {live} token(s) not yet expired: downgrading below 0009 would let them work again"
        )
    op.drop_index("ix_revoked_tokens_expires_at", table_name="revoked_tokens")
    op.drop_table("revoked_tokens")
