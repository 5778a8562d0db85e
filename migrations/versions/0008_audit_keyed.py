"""The audit chain is keyed: each new entry's hash is an HMAC-SHA256 under a key the database does not hold
(security/audit_keys.py), and `audit_log.key_id` names that key.

Entries written before this revision keep key_id NULL: they are legacy sha256 entries, verified as before. No
entry is re-chained (nothing runs in production before 1.0, and re-keying old entries would vouch for content
no key ever covered). The first keyed entry's HMAC covers the last legacy hash as its prev_hash, so the legacy
prefix cannot change without breaking it; verification refuses a legacy entry after a keyed one.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("key_id", sa.String(64), nullable=True))


def downgrade() -> None:
    # Without key_id a keyed entry could only be checked as sha256 and would read as tampered: refused instead.
    keyed = op.get_bind().scalar(sa.text("SELECT count(*) FROM audit_log WHERE key_id IS NOT NULL"))
    if keyed:
        raise RuntimeError(
            f"audit_log holds {keyed} keyed entries: downgrading below 0008 would make them unverifiable"
        )
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("key_id")
