"""The nominations register names the bloc whose own proposal (suy tôn) a nomination is: `origin_bloc`, NULL for
a unit's proposal. That bloc's head and representatives read its proposals whatever the award form
(domain/access.py); rows written before this column are filled from their payload's `origin`.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("nominations", sa.Column("origin_bloc", sa.String(24), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        origin = "payload::jsonb -> 'origin' ->> 'bloc'"
    else:
        origin = "json_extract(payload, '$.origin.bloc')"
    op.execute(sa.text(f"UPDATE nominations SET origin_bloc = {origin} WHERE origin_bloc IS NULL"))


def downgrade() -> None:
    op.drop_column("nominations", "origin_bloc")
