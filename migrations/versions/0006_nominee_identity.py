"""One person, one nomination per award form and year: the nominee identity claims.

A nomination claims its nominee's identity key for its award form and year when it registers; the primary key
makes a second claim by another workflow impossible, whatever its reference. The key is a digest (an HMAC of
the personal identification number when the unit gives one, else a SHA-256 of the normalised name, unit and
ministry), never a clear number. A claim is released when its nomination ends withdrawn.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nominee_identity",
        # "pid:<hmac hex>" or "name:<sha256 hex>" (domain/identity.py).
        sa.Column("identity_key", sa.String(80), nullable=False),
        sa.Column("award_form", sa.String(24), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        # The nomination holding the claim.
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("identity_key", "award_form", "year", name="pk_nominee_identity"),
        sa.Index("ix_nominee_identity_workflow_id", "workflow_id"),
    )


def downgrade() -> None:
    op.drop_table("nominee_identity")
