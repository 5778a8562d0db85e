"""The counting committee holds each ballot session's key; ballots are anonymous.

`counting_keys`: each committee member's enrolled public counting key. `ballot_session_secrets`: a session's
public keys and, while it runs, its wrapped sealing key and encrypted credential signing keys (emptied when it
ends). `counting_shares`: each member's encrypted share, deleted when the session ends.
`ballot_participation` no longer holds a receipt (who took a credential is never tied to a ballot);
`ballot_minutes.ballots_cast` counts the anonymous ballots a round received.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "counting_keys",
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("public_pem", sa.Text, nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("actor_id", name="pk_counting_keys"),
    )
    op.create_table(
        "ballot_session_secrets",
        sa.Column("session_id", sa.String(200), nullable=False),
        sa.Column("public_keys", sa.JSON, nullable=False),
        sa.Column("wrapped_sealing_key", sa.LargeBinary, nullable=True),
        sa.Column("issuer_private", sa.LargeBinary, nullable=True),
        sa.Column("class_privates", sa.JSON, nullable=True),
        sa.Column("codec_key_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("session_id", name="pk_ballot_session_secrets"),
    )
    op.create_table(
        "counting_shares",
        sa.Column("session_id", sa.String(200), nullable=False),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("member_key_id", sa.String(64), nullable=False),
        sa.Column("encrypted_share", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("session_id", "member_id", name="pk_counting_shares"),
    )
    # A receipt beside a voter id ties the voter to their ballot: gone, with every one already written.
    with op.batch_alter_table("ballot_participation") as batch:
        batch.drop_column("receipt")
    with op.batch_alter_table("ballot_minutes") as batch:
        batch.add_column(sa.Column("ballots_cast", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    # The receipts were destroyed on purpose; a downgrade puts the column back empty, never the links.
    with op.batch_alter_table("ballot_minutes") as batch:
        batch.drop_column("ballots_cast")
    with op.batch_alter_table("ballot_participation") as batch:
        batch.add_column(sa.Column("receipt", sa.String(300), nullable=False, server_default=""))
    op.drop_table("counting_shares")
    op.drop_table("ballot_session_secrets")
    op.drop_table("counting_keys")
