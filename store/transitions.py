"""A nomination's transitions in the database: its register row, its stage event, its notices and its audit
entry, written in one transaction.

Every write is keyed on (workflow_id, seq), never on an attempt, so a retried or repeated write changes
nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from domain.records import TransitionRecord
from domain.stages import Stage
from store.audit import ChainKeyring, append_audit, transition_entry
from store.db import as_utc, dialect_insert
from store.identity_claims import release_identity
from store.outbox import write_notifications
from store.schema import nominations, stage_events


def nomination_values(record: TransitionRecord, now: datetime) -> dict[str, Any]:
    row = record.nomination
    nomination = row.nomination
    return {
        "workflow_id": row.workflow_id,
        "reference": nomination.reference,
        "year": nomination.year,
        "ministry": nomination.ministry,
        "bloc": row.bloc,
        "origin_bloc": nomination.origin.bloc if nomination.origin is not None else None,
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


# The nominations upsert and the stage event's insert per dialect, built once: building them for every write
# (the upsert's excluded columns, their cache key) was a third of a transition's CPU in the worker.
_STATEMENTS: dict[str, tuple[Any, Any]] = {}


def _statements(conn: AsyncConnection) -> tuple[Any, Any]:
    name = conn.dialect.name
    if name not in _STATEMENTS:
        upsert = dialect_insert(conn, nominations)
        kept = ("workflow_id", "created_at")
        changed = {c.name: upsert.excluded[c.name] for c in nominations.columns if c.name not in kept}
        # Only a newer transition moves the row: a retried or late write of an older seq leaves it alone.
        upsert = upsert.on_conflict_do_update(
            index_elements=[nominations.c.workflow_id],
            set_=changed,
            where=nominations.c.last_seq < upsert.excluded.last_seq,
        )
        event = dialect_insert(conn, stage_events).on_conflict_do_nothing(
            index_elements=[stage_events.c.workflow_id, stage_events.c.seq]
        )
        _STATEMENTS[name] = (upsert, event)
    return _STATEMENTS[name]


async def write_transition(conn: AsyncConnection, record: TransitionRecord, keyring: ChainKeyring) -> dict[str, int]:
    """The writes of one transition; returns how many rows each actually changed. A new stage event is also
    appended to the audit chain (under `keyring`), in the same transaction."""
    now = datetime.now(UTC)
    upsert, event = _statements(conn)
    row_result = await conn.execute(upsert, nomination_values(record, now))
    event_result = await conn.execute(event, stage_event_values(record, now))
    notified = await write_notifications(
        conn, record.nomination.workflow_id, record.event.seq, record.notifications, now
    )
    if record.event.to_stage == Stage.WITHDRAWN:
        # A withdrawn nomination gives its nominee back: the unit may propose them again this year.
        await release_identity(conn, record.nomination.workflow_id)
    audited = 0
    if event_result.rowcount and event_result.rowcount > 0:
        # Last: the audit chain's lock is held from here to the commit, so keep that short.
        audited = int(await append_audit(conn, transition_entry(record), keyring=keyring, recorded_at=now))
    return {
        "nomination_rows": max(row_result.rowcount, 0),
        "stage_events": max(event_result.rowcount, 0),
        "notifications": notified,
        "audit_entries": audited,
    }
