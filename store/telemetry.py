"""What the metrics and the readiness check read from the database: counts and times only, no personal data."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.stages import Stage
from store.db import as_utc
from store.schema import NOTIFICATION_FAILED, NOTIFICATION_PENDING, notifications, stage_events

# The outbox's rows still to go out (PENDING) and those it gave up on (FAILED); SENT ones are not a backlog.
BACKLOG_STATUSES = (NOTIFICATION_PENDING, NOTIFICATION_FAILED)


async def ping(engine: AsyncEngine) -> None:
    """One round trip; raises when the database does not answer."""
    async with engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))


async def outbox_backlog(conn: AsyncConnection) -> dict[str, int]:
    """How many notifications wait to be sent (PENDING) and how many failed for good (FAILED)."""
    rows = await conn.execute(
        sa.select(notifications.c.status, sa.func.count())
        .where(notifications.c.status.in_(BACKLOG_STATUSES))
        .group_by(notifications.c.status)
    )
    counts = dict.fromkeys(BACKLOG_STATUSES, 0)
    counts.update({status: int(count) for status, count in rows.all()})
    return counts


async def stage_entered_at(conn: AsyncConnection, workflow_id: str, before_seq: int, stage: Stage) -> datetime | None:
    """When the nomination entered `stage` for its latest stay there, among its events before `before_seq`: the
    first event of the run of events ending in `stage` since it was last elsewhere (None: none recorded)."""
    own = (stage_events.c.workflow_id == workflow_id, stage_events.c.seq < before_seq)
    last_elsewhere = (
        sa.select(sa.func.coalesce(sa.func.max(stage_events.c.seq), 0))
        .where(*own, stage_events.c.to_stage != stage.value)
        .scalar_subquery()
    )
    entered = await conn.scalar(
        sa.select(stage_events.c.occurred_at)
        .where(*own, stage_events.c.seq > last_elsewhere, stage_events.c.to_stage == stage.value)
        .order_by(stage_events.c.seq)
        .limit(1)
    )
    return as_utc(entered) if entered is not None else None
