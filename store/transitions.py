"""A nomination's transitions in the database: its register row, its stage event, its notices and its audit
entry, written in one transaction — for one transition, or for a group of them (store/transition_writer.py
gathers what a worker has in flight).

Every write is keyed on (workflow_id, seq), never on an attempt, so a retried or repeated write changes
nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from domain.records import TransitionRecord
from domain.stages import Stage
from store.audit import ChainKeyring, append_audits, transition_entry
from store.db import as_utc, dialect_insert
from store.identity_claims import release_identities
from store.outbox import notification_rows, queue_notifications
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


# The nominations upsert and the stage events' insert per dialect, built once: building them for every write
# (the upsert's excluded columns, their cache key) was a third of a transition's CPU in the worker. Both take
# their rows as the execution's parameters: one row, or many in one statement (SQLAlchemy's insertmanyvalues).
_STATEMENTS: dict[str, tuple[Any, Any]] = {}


def _statements(conn: AsyncConnection) -> tuple[Any, Any]:
    name = conn.dialect.name
    if name not in _STATEMENTS:
        insert = dialect_insert(conn, nominations)
        kept = ("workflow_id", "created_at")
        changed = {c.name: insert.excluded[c.name] for c in nominations.columns if c.name not in kept}
        # Only a newer transition moves the row: a retried or late write of an older seq leaves it alone.
        upsert = insert.on_conflict_do_update(
            index_elements=[nominations.c.workflow_id],
            set_=changed,
            where=nominations.c.last_seq < insert.excluded.last_seq,
        ).returning(nominations.c.workflow_id)
        event = (
            dialect_insert(conn, stage_events)
            .on_conflict_do_nothing(index_elements=[stage_events.c.workflow_id, stage_events.c.seq])
            .returning(stage_events.c.workflow_id, stage_events.c.seq)
        )
        _STATEMENTS[name] = (upsert, event)
    return _STATEMENTS[name]


def _rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]] | dict[str, Any]:
    """An execution's parameters: one row as itself, several as a list (one multi-row statement)."""
    return rows if len(rows) > 1 else rows[0]


def _key(record: TransitionRecord) -> tuple[str, int]:
    return record.nomination.workflow_id, record.event.seq


async def write_transitions(
    conn: AsyncConnection, records: Sequence[TransitionRecord], keyring: ChainKeyring
) -> list[dict[str, int]]:
    """The writes of a group of transitions, in the caller's transaction; returns, per record, how many rows
    its write changed. The result is what writing them one at a time, in the list's order, would leave:

    - a nominations row per workflow, from its highest seq (and only if that is above the row's last_seq);
    - a stage event per new (workflow_id, seq); a record whose key is already written, in the database or
      earlier in the list, writes nothing and reports zeros (a retry);
    - the notices of the new transitions only (a retry's were written with its first write);
    - the identity claims of the withdrawn given back;
    - one audit entry per new transition, chained in the list's order (the chain's lock taken once).

    Each statement writes the group's rows at once, ordered by key, so two writers that lock the same rows
    lock them in the same order. Raises (the caller rolls back and may write the records one at a time)
    when any row breaks a constraint (e.g. another workflow holding the business key) or store.audit's
    ChainGap."""
    now = datetime.now(UTC)
    upsert, insert_events = _statements(conn)
    first: dict[tuple[str, int], TransitionRecord] = {}
    for record in records:
        first.setdefault(_key(record), record)
    latest: dict[str, TransitionRecord] = {}
    for record in first.values():
        workflow_id = record.nomination.workflow_id
        if workflow_id not in latest or record.event.seq > latest[workflow_id].event.seq:
            latest[workflow_id] = record
    moved = {
        row.workflow_id
        for row in await conn.execute(upsert, _rows([nomination_values(latest[w], now) for w in sorted(latest)]))
    }
    new = {
        (row.workflow_id, row.seq)
        for row in await conn.execute(insert_events, _rows([stage_event_values(first[k], now) for k in sorted(first)]))
    }
    notified = await queue_notifications(
        conn,
        [row for key in sorted(new) for row in notification_rows(key[0], key[1], first[key].notifications, now)],
    )
    withdrawn = sorted({r.nomination.workflow_id for r in first.values() if r.event.to_stage == Stage.WITHDRAWN})
    if withdrawn:
        # A withdrawn nomination gives its nominee back: the unit may propose them again this year.
        await release_identities(conn, withdrawn)
    # Last: the audit chain's lock is held from here to the commit, so keep that short.
    audited_keys = [key for key in first if key in new]  # the list's order: the chain's order
    appended = await append_audits(
        conn, [transition_entry(first[key]) for key in audited_keys], keyring=keyring, recorded_at=now
    )
    audited = {key for key, added in zip(audited_keys, appended, strict=True) if added}
    results: list[dict[str, int]] = []
    for record in records:
        key = _key(record)
        own = first.pop(key, None) is record  # the first of its key in the list; a repeat writes nothing
        workflow_id = record.nomination.workflow_id
        results.append(
            {
                "nomination_rows": int(own and latest.get(workflow_id) is record and workflow_id in moved),
                "stage_events": int(own and key in new),
                "notifications": notified[key] if own else 0,
                "audit_entries": int(own and key in audited),
            }
        )
    return results
