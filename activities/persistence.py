"""The activities that write a nomination's transitions (store/transitions.py) and read the roster.

Every write is keyed on (workflow_id, seq), never on the attempt number, so Temporal may retry freely. The
transitions in flight in this process are written together by the engine's one writer
(store/transition_writer.py): each call queues its record and waits for its own result."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.records import TransitionRecord
from domain.roster import RosterSnapshot
from observability.logs import activity_logger
from observability.metrics import activity_metrics
from security.audit_keys import audit_keyring
from store.db import as_utc
from store.roster import SnapshotCache
from store.telemetry import stage_entered_at
from store.transition_writer import transition_writer


class PersistenceActivities:
    """Activities bound to one engine; register `record_transition` and `load_roster_snapshot`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._rosters = SnapshotCache()
        self._writer = transition_writer(engine, audit_keyring)

    @activity.defn(name="record_transition")
    async def record_transition(self, record: TransitionRecord) -> None:
        log = activity_logger(__name__)
        try:
            written = await self._write(record)
        except sa.exc.IntegrityError:
            # Two attempts of the same write can race (a timed-out attempt still running beside its retry, in
            # another process): the loser trips over the winner's fresh row; once that has committed, the
            # write is a no-op. (A group that fails is written again one record at a time, so the error
            # here is this record's own.)
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
        if written["stage_events"]:  # the first write of this transition: a retry records no metric again
            try:
                await self._observe(record)
            except (sa.exc.SQLAlchemyError, OSError) as exc:  # a metric is not worth failing the recorded write
                log.warning("transition_metrics_skipped", seq=record.event.seq, error=type(exc).__name__)

    async def _write(self, record: TransitionRecord) -> dict[str, int]:
        return await self._writer.write(record)

    async def _observe(self, record: TransitionRecord) -> None:
        """The transition's metrics: a nomination started or finished, the time spent in the stage it left."""
        metrics = activity_metrics()
        if not metrics.recording:  # no metrics exported: not even the read of when the stage was entered
            return
        event, form = record.event, record.nomination.nomination.award_form
        if event.seq == 1:  # the submission: the first transition of every nomination taken up
            metrics.nomination_started(form)
        if event.from_stage is not None and event.from_stage != event.to_stage:
            async with self._engine.connect() as conn:
                entered = await stage_entered_at(conn, record.nomination.workflow_id, event.seq, event.from_stage)
            if entered is not None:
                metrics.stage_left(event.from_stage.value, form, as_utc(event.occurred_at) - entered)
        if event.to_stage.is_final and event.from_stage != event.to_stage:
            metrics.nomination_finished(form, event.to_stage.value)

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
