"""The activities that write a nomination's transitions (store/transitions.py) and read the roster.

Every write is keyed on (workflow_id, seq), never on the attempt number, so Temporal may retry freely."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.records import TransitionRecord
from domain.roster import RosterSnapshot
from observability.logs import activity_logger
from security.audit_keys import audit_keyring
from store.roster import SnapshotCache
from store.transitions import write_transition


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
            return await write_transition(conn, record, audit_keyring())

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
