"""The decision register: one row per decision, one per nomination it names, and who awarded each.

The writes are keyed on the decision number and the workflow id, so a repeated write changes nothing."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.decisions import DecisionSummary, NominationStanding, decision_workflow_id
from store.audit import ChainKeyring, append_audit, decision_entry
from store.db import dialect_insert
from store.schema import awarded_by, decision_items, decisions, nominations


class AlreadyDecided(Exception):
    """A nomination a decision accepts is recorded as awarded by another decision (the message names both)."""


# Rows per INSERT: PostgreSQL (asyncpg) and SQLite both cap the bind parameters of one statement at 32767.
CHUNK = 500

T = TypeVar("T")


def chunks(rows: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def decision_values(summary: DecisionSummary, now: datetime) -> dict[str, Any]:
    ref = summary.decision
    return {
        "decision_no": ref.decision_no,
        "decision_date": ref.decision_date,
        "authority": ref.authority.value,
        "actor": ref.actor,
        "workflow_id": decision_workflow_id(ref.decision_no),
        "accepted": len(summary.accepted),
        "refused": len(summary.refused),
        "created_at": now,
    }


def item_values(summary: DecisionSummary, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "decision_no": summary.decision.decision_no,
            "workflow_id": item.workflow_id,
            "position": position,
            "accepted": item.accepted,
            "reason": item.reason,
            "nominee_name": item.nominee_name,
            "award_name_vi": item.award_name_vi,
            "ministry": item.ministry,
            "recorded_at": now,
        }
        for position, item in enumerate(summary.items, start=1)
    ]


async def write_decision(conn: AsyncConnection, summary: DecisionSummary) -> dict[str, int]:
    """The register's writes for one decision; returns how many rows each actually added or changed.

    Raises AlreadyDecided when a nomination accepted here is already recorded as awarded by another decision:
    the nominations' own validators should make that impossible, so it is a bug."""
    now = datetime.now(UTC)
    decision_no = summary.decision.decision_no
    upsert = dialect_insert(conn, decisions).values(decision_values(summary, now))
    decision_result = await conn.execute(
        upsert.on_conflict_do_update(
            index_elements=[decisions.c.decision_no],
            set_={"accepted": upsert.excluded.accepted, "refused": upsert.excluded.refused},
        )
    )
    items = 0
    for rows in chunks(item_values(summary, now)):
        result = await conn.execute(
            dialect_insert(conn, decision_items)
            .values(list(rows))
            .on_conflict_do_nothing(index_elements=[decision_items.c.decision_no, decision_items.c.workflow_id])
        )
        items += max(result.rowcount, 0)
    accepted_ids = [item.workflow_id for item in summary.accepted]
    awarded = 0
    for ids in chunks(accepted_ids):
        result = await conn.execute(
            dialect_insert(conn, awarded_by)
            .values([{"workflow_id": w, "decision_no": decision_no} for w in ids])
            .on_conflict_do_nothing(index_elements=[awarded_by.c.workflow_id])
        )
        awarded += max(result.rowcount, 0)
        clashes = (
            await conn.execute(
                sa.select(awarded_by.c.workflow_id, awarded_by.c.decision_no)
                .where(awarded_by.c.workflow_id.in_(list(ids)), awarded_by.c.decision_no != decision_no)
                .order_by(awarded_by.c.workflow_id)
            )
        ).all()
        if clashes:
            listed = ", ".join(f"{row.workflow_id} (decision {row.decision_no})" for row in clashes)
            raise AlreadyDecided(
                f"decision {decision_no} accepted nominations already awarded by another decision: {listed}"
            )
    return {"decisions": max(decision_result.rowcount, 0), "decision_items": items, "awarded_by": awarded}


async def record_decision(engine: AsyncEngine, summary: DecisionSummary, keyring: ChainKeyring) -> dict[str, int]:
    """The register's writes and the decision's audit entry (one per decision), in one transaction; how many
    rows each added or changed. AlreadyDecided as write_decision says, with nothing written."""
    async with engine.begin() as conn:
        written = await write_decision(conn, summary)
        written["audit_entries"] = int(await append_audit(conn, decision_entry(summary), keyring=keyring))
    return written


async def ministries_of(engine: AsyncEngine, workflow_ids: Sequence[str]) -> dict[str, str]:
    """The ministry of each nomination the register has, by workflow id (those it does not have are left out)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(nominations.c.workflow_id, nominations.c.ministry).where(
                nominations.c.workflow_id.in_(list(workflow_ids))
            )
        )
        return {row.workflow_id: row.ministry for row in rows}


async def nomination_standing(engine: AsyncEngine, workflow_id: str) -> NominationStanding | None:
    """The register's row of a nomination (its last recorded stage and decision), or None when it has none."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(
                    nominations.c.workflow_id,
                    nominations.c.stage,
                    nominations.c.decision_no,
                    nominations.c.nominee_name,
                    nominations.c.award_form,
                    nominations.c.ministry,
                    nominations.c.policy_version,
                ).where(nominations.c.workflow_id == workflow_id)
            )
        ).one_or_none()
    return None if row is None else NominationStanding.model_validate(dict(row._mapping))
