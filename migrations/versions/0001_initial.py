"""Roster, nominations (current state), stage events (append-only) and the notification outbox.

Revision ID: 0001
Revises:
Create Date: 2025-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "blocs",
        sa.Column("code", sa.String(24), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("head_ministry", sa.String(24), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_blocs"),
    )
    op.create_table(
        "ministries",
        sa.Column("code", sa.String(24), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("bloc_code", sa.String(24), nullable=True),
        sa.PrimaryKeyConstraint("code", name="pk_ministries"),
    )
    op.create_table(
        "actors",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("full_name", sa.Text, nullable=False),
        sa.Column("email", sa.Text, nullable=True),
        sa.Column("organisation", sa.String(24), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_actors"),
    )
    op.create_table(
        "actor_roles",
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("scope", sa.String(24), nullable=False),
        sa.PrimaryKeyConstraint("actor_id", "role", "scope", name="pk_actor_roles"),
    )
    op.create_table(
        "nominations",
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("reference", sa.String(48), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("ministry", sa.String(24), nullable=False),
        sa.Column("bloc", sa.String(24), nullable=True),
        sa.Column("award_form", sa.String(24), nullable=False),
        sa.Column("nominee_kind", sa.String(16), nullable=False),
        sa.Column("nominee_name", sa.Text, nullable=False),
        sa.Column("proposing_unit", sa.Text, nullable=False),
        sa.Column("proposer", sa.String(64), nullable=False),
        sa.Column("policy_version", sa.String(32), nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("stage_label_vi", sa.Text, nullable=False),
        sa.Column("status_vi", sa.Text, nullable=False),
        sa.Column("returned_from", sa.String(32), nullable=True),
        sa.Column("decision_no", sa.Text, nullable=True),
        sa.Column("decided_by", sa.Text, nullable=True),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", name="pk_nominations"),
        sa.UniqueConstraint("year", "ministry", "reference", name="uq_nominations_business_key"),
    )
    op.create_index("ix_nominations_stage", "nominations", ["stage"])
    op.create_index("ix_nominations_ministry", "nominations", ["ministry"])
    op.create_table(
        "stage_events",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("actor", sa.String(64), nullable=True),
        sa.Column("from_stage", sa.String(32), nullable=True),
        sa.Column("to_stage", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("tally", sa.JSON, nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stage_events"),
        sa.UniqueConstraint("workflow_id", "seq", name="uq_stage_events_workflow_seq"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("workflow_id", sa.String(200), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("party", sa.String(120), nullable=False),
        sa.Column("recipients", sa.JSON, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint("workflow_id", "seq", "party", name="uq_notifications_workflow_seq_party"),
    )
    # The dispatcher polls PENDING rows in id order.
    op.create_index("ix_notifications_status_id", "notifications", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_notifications_status_id", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("stage_events")
    op.drop_index("ix_nominations_ministry", table_name="nominations")
    op.drop_index("ix_nominations_stage", table_name="nominations")
    op.drop_table("nominations")
    op.drop_table("actor_roles")
    op.drop_table("actors")
    op.drop_table("ministries")
    op.drop_table("blocs")
