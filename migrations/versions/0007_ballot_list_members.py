"""A nomination is on at most one open ballot session's list; the minutes can say it left the list.

`ballot_list_members` holds, per nomination, the open session whose list holds it (the primary key makes a
second session's claim impossible). `ballot_minutes.result` widens to hold WITHDRAWN_FROM_LIST.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ballot_list_members",
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("session_id", sa.String(200), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", name="pk_ballot_list_members"),
    )
    op.create_index("ix_ballot_list_members_session_id", "ballot_list_members", ["session_id"])
    with op.batch_alter_table("ballot_minutes") as batch:
        batch.alter_column("result", type_=sa.String(24), existing_type=sa.String(16), existing_nullable=False)


def downgrade() -> None:
    # Minutes are the permanent record: a downgrade that would have to drop or alter rows is refused instead.
    struck = op.get_bind().scalar(sa.text("SELECT count(*) FROM ballot_minutes WHERE result = 'WITHDRAWN_FROM_LIST'"))
    if struck:
        raise RuntimeError(
            f"ballot_minutes holds {struck} WITHDRAWN_FROM_LIST row(s), which revision 0006 cannot hold; "
            "not downgrading"
        )
    with op.batch_alter_table("ballot_minutes") as batch:
        batch.alter_column("result", type_=sa.String(16), existing_type=sa.String(24), existing_nullable=False)
    op.drop_index("ix_ballot_list_members_session_id", table_name="ballot_list_members")
    op.drop_table("ballot_list_members")
