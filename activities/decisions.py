"""The activities of a decision: apply it to one nomination (a workflow update), and record the outcome.

A nomination that refuses the decision is a result (DecisionItem accepted=False with the reason), never an
error. Both activities may be retried freely: a nomination already AWARDED by this same decision number is
reported accepted, and the register's writes are keyed on the decision number and workflow id."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from client.nominations import ActionRefused, NominationNotFound, act, status
from domain.decisions import DecisionItem, DecisionRef, DecisionSummary, decision_workflow_id
from domain.messages import NominationStatus
from domain.stages import Stage
from observability.logs import activity_logger
from store.audit import append_audit, decision_entry
from store.db import dialect_insert
from store.schema import awarded_by, decision_items, decisions

RECORD_DECISION_UPDATE = "record_decision"

# Rows per INSERT: PostgreSQL (asyncpg) and SQLite both cap the bind parameters of one statement at 32767.
CHUNK = 500

T = TypeVar("T")


def chunks(rows: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def accepted_item(current: NominationStatus) -> DecisionItem:
    return DecisionItem(
        workflow_id=current.workflow_id,
        accepted=True,
        nominee_name=current.nominee_name,
        award_name_vi=current.award_name_vi,
        ministry=current.ministry,
    )


def awarded_by_this(current: NominationStatus, decision: DecisionRef) -> bool:
    return current.stage == Stage.AWARDED and current.decision_no == decision.decision_no


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

    Raises AlreadyDecided (non-retryable) when a nomination accepted here is already recorded as awarded
    by another decision: the nominations' own validators should make that impossible, so it is a bug."""
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
            raise ApplicationError(
                f"decision {decision_no} accepted nominations already awarded by another decision: {listed}",
                type="AlreadyDecided",
                non_retryable=True,
            )
    return {"decisions": max(decision_result.rowcount, 0), "decision_items": items, "awarded_by": awarded}


class DecisionActivities:
    """Activities bound to one engine and one Temporal client; register `apply_decision_item` and
    `record_decision`."""

    def __init__(self, engine: AsyncEngine, client: Client) -> None:
        self._engine = engine
        self._client = client

    @activity.defn(name="apply_decision_item")
    async def apply_decision_item(self, workflow_id: str, decision: DecisionRef) -> DecisionItem:
        log = activity_logger(__name__)
        try:
            await act(self._client, workflow_id, RECORD_DECISION_UPDATE, decision)
        except NominationNotFound as exc:
            log.info("decision_item_refused", nomination=workflow_id, decision_no=decision.decision_no, reason=str(exc))
            return DecisionItem(workflow_id=workflow_id, accepted=False, reason=str(exc))
        except ActionRefused as exc:
            # A retry of an attempt whose update went through is refused as "already decided" (or "ended"):
            # it is still this decision's nomination.
            try:
                current = await status(self._client, workflow_id)
            except NominationNotFound:
                current = None
            if current is not None and awarded_by_this(current, decision):
                log.info("decision_item_already_applied", nomination=workflow_id, decision_no=decision.decision_no)
                return accepted_item(current)
            log.info("decision_item_refused", nomination=workflow_id, decision_no=decision.decision_no, reason=str(exc))
            return DecisionItem(workflow_id=workflow_id, accepted=False, reason=str(exc))
        current = await status(self._client, workflow_id)
        log.info("decision_item_accepted", nomination=workflow_id, decision_no=decision.decision_no)
        return accepted_item(current)

    @activity.defn(name="persist_decision")
    async def persist_decision(self, summary: DecisionSummary) -> None:
        log = activity_logger(__name__)
        try:
            async with self._engine.begin() as conn:
                written = await write_decision(conn, summary)
                # One audit entry per decision (idempotent: a retry appends nothing).
                written["audit_entries"] = int(await append_audit(conn, decision_entry(summary)))
        except ApplicationError as exc:
            log.error("decision_conflict", decision_no=summary.decision.decision_no, error=exc.message)
            raise
        log.info(
            "decision_recorded",
            decision_no=summary.decision.decision_no,
            accepted=len(summary.accepted),
            refused=len(summary.refused),
            **written,
        )
