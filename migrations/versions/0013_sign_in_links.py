"""One-time sign-in links for the inbox: the secret's SHA-256, the actor, when the link was made, when it
expires and when it was used (store/sign_in.py).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sign_in_links",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.Column("used_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_sign_in_links"),
    )
    op.create_index("ix_sign_in_links_actor_id", "sign_in_links", ["actor_id", "created_at"])
    op.create_index("ix_sign_in_links_expires_at", "sign_in_links", ["expires_at"])


def downgrade() -> None:
    # Links not yet used stop working; people ask for another.
    op.drop_index("ix_sign_in_links_expires_at", table_name="sign_in_links")
    op.drop_index("ix_sign_in_links_actor_id", table_name="sign_in_links")
    op.drop_table("sign_in_links")
