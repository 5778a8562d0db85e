"""The activities that write a nomination's transitions and read the roster.

Every write is keyed on (workflow_id, seq), never on the attempt number, so Temporal may retry freely."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.identity_claims import release_identity
from domain.records import TransitionRecord
from domain.roster import RosterSnapshot
from domain.stages import Stage
from observability.logs import activity_logger
from store.audit import append_audit, transition_entry
from store.db import dialect_insert
from store.roster import SnapshotCache
from store.schema import NOTIFICATION_PENDING, nominations, notifications, stage_events


def as_utc(moment: datetime) -> datetime:
    # SQLite keeps no offset, so store every instant in UTC; a naive value is taken to be UTC already.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def nomination_values(record: TransitionRecord, now: datetime) -> dict[str, Any]:
    row = record.nomination
    nomination = row.nomination
    return {
        "workflow_id": row.workflow_id,
        "reference": nomination.reference,
        "year": nomination.year,
        "ministry": nomination.ministry,
        "bloc": row.bloc,
        "award_form": nomination.award_form,
        "nominee_kind": nomination.nominee.kind,
        "nominee_name": nomination.nominee.display_name,
        "proposing_unit": nomination.proposing_unit,
        "proposer": nomination.proposer,
        "policy_version": row.policy_version,
        "stage": row.stage.value,
        "stage_label_vi": row.stage.label_vi,
        "status_vi": row.stage.status_vi,
        "returned_from": row.returned_from.value if row.returned_from else None,
        "decision_no": row.decision_no,
        "decided_by": row.decided_by,
        "last_seq": record.event.seq,
        "payload": nomination.model_dump(mode="json"),
        "created_at": now,
        "updated_at": now,
    }


def stage_event_values(record: TransitionRecord, now: datetime) -> dict[str, Any]:
    event = record.event.model_dump(mode="json")  # tally and details as plain JSON
    return {
        "workflow_id": record.nomination.workflow_id,
        "seq": record.event.seq,
        "action": record.event.action,
        "actor": record.event.actor,
        "from_stage": event["from_stage"],
        "to_stage": event["to_stage"],
        "reason": record.event.reason,
        "tally": event["tally"],
        "details": event["details"],
        "occurred_at": as_utc(record.event.occurred_at),
        "recorded_at": now,
    }


def notification_values(record: TransitionRecord, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "workflow_id": record.nomination.workflow_id,
            "seq": record.event.seq,
            "party": draft.party,
            "recipients": list(draft.recipients),
            "subject": draft.subject,
            "body": draft.body,
            "status": NOTIFICATION_PENDING,
            "attempts": 0,
            "last_error": None,
            "created_at": now,
            "sent_at": None,
        }
        for draft in record.notifications
    ]


async def write_transition(conn: AsyncConnection, record: TransitionRecord) -> dict[str, int]:
    """The writes of one transition; returns how many rows each actually changed. A new stage event is also
    appended to the audit chain, in the same transaction."""
    now = datetime.now(UTC)
    upsert = dialect_insert(conn, nominations).values(nomination_values(record, now))
    kept = ("workflow_id", "created_at")
    changed = {c.name: upsert.excluded[c.name] for c in nominations.columns if c.name not in kept}
    # Only a newer transition moves the row: a retried or late write of an older seq leaves it alone.
    upsert = upsert.on_conflict_do_update(
        index_elements=[nominations.c.workflow_id],
        set_=changed,
        where=nominations.c.last_seq < upsert.excluded.last_seq,
    )
    row_result = await conn.execute(upsert)
    event_result = await conn.execute(
        dialect_insert(conn, stage_events)
        .values(stage_event_values(record, now))
        .on_conflict_do_nothing(index_elements=[stage_events.c.workflow_id, stage_events.c.seq])
    )
    notified = 0
    drafts = notification_values(record, now)
    if drafts:
        result = await conn.execute(
            dialect_insert(conn, notifications)
            .values(drafts)
            .on_conflict_do_nothing(
                index_elements=[notifications.c.workflow_id, notifications.c.seq, notifications.c.party]
            )
        )
        notified = max(result.rowcount, 0)
    if record.event.to_stage == Stage.WITHDRAWN:
        # A withdrawn nomination gives its nominee back: the unit may propose them again this year.
        await release_identity(conn, record.nomination.workflow_id)
    audited = 0
    if event_result.rowcount and event_result.rowcount > 0:
        # Last: the audit chain's lock is held from here to the commit, so keep that short.
        audited = int(await append_audit(conn, transition_entry(record), recorded_at=now))
    return {
        "nomination_rows": max(row_result.rowcount, 0),
        "stage_events": max(event_result.rowcount, 0),
        "notifications": notified,
        "audit_entries": audited,
    }


class PersistenceActivities:
    """Activities bound to one engine; register `record_transition` and `load_roster_snapshot`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._rosters = SnapshotCache()

    @activity.defn(name="record_transition")
    async def record_transition(self, record: TransitionRecord) -> None:
        log = activity_logger(__name__)
        try:
            written = await self._write(record)
        except sa.exc.IntegrityError:
            # Two attempts of the same write can race (a timed-out attempt still running beside its retry):
            # the loser trips over the winner's fresh row; once that has committed, the write is a no-op.
            try:
                written = await self._write(record)
            except sa.exc.IntegrityError as exc:
                # Another workflow already holds this (year, ministry, reference): retrying cannot help.
                log.error("transition_conflict", seq=record.event.seq, error=str(exc.orig))
                raise ApplicationError(
                    f"nomination {record.nomination.nomination.business_key} is already recorded "
                    f"under another workflow id: {exc.orig}",
                    type="NominationConflict",
                    non_retryable=True,
                ) from None
        log.info(
            "transition_recorded",
            seq=record.event.seq,
            action=record.event.action,
            to_stage=record.event.to_stage.value,
            **written,
        )

    async def _write(self, record: TransitionRecord) -> dict[str, int]:
        async with self._engine.begin() as conn:
            return await write_transition(conn, record)

    @activity.defn(name="load_roster_snapshot")
    async def load_roster_snapshot(self, ministry: str) -> RosterSnapshot:
        log = activity_logger(__name__)
        try:
            snapshot = await self._rosters.read(self._engine, ministry)
        except KeyError:
            log.warning("roster_unknown_ministry", ministry=ministry)
            raise ApplicationError(
                f"ministry {ministry!r} is not in the roster; load it with `starter.py roster load`",
                type="UnknownMinistry",
                non_retryable=True,
            ) from None
        log.info("roster_snapshot_loaded", ministry=ministry, actors=len(snapshot.actors))
        return snapshot
