"""The activities of a bloc year (workflows/bloc_year.py): its roster snapshot, its writes (store/bloc_year.py:
the row, the documents, the audit entry and the notices of a step, keyed on the workflow id and the step), the
head's role moving to next year's head, and the proposal nominations' stages in the register."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.bloc.year import BlocRoster
from domain.bloc.year_state import BlocYearWrite
from domain.stages import Stage
from observability.logs import activity_logger
from security.audit_keys import audit_keyring
from store.bloc_year import move_bloc_head, nomination_stages, read_bloc_roster, write_bloc_year


class BlocYearActivities:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @activity.defn(name="load_bloc_roster")
    async def load_bloc_roster(self, bloc: str) -> BlocRoster:
        try:
            roster = await read_bloc_roster(self._engine, bloc)
        except KeyError as err:
            raise ApplicationError(str(err).strip("'\""), type="UnknownScope", non_retryable=True) from None
        activity_logger(__name__).info(
            "bloc_roster_loaded", bloc=bloc, members=len(roster.members), actors=len(roster.actors)
        )
        return roster

    @activity.defn(name="record_bloc_year")
    async def record_bloc_year(self, write: BlocYearWrite) -> None:
        """Persist one step of the bloc year (a retry of the same step adds nothing)."""
        added = await self._write(write)
        activity_logger(__name__).info("bloc_year_recorded", step=write.step, action=write.action, **added)

    async def _write(self, write: BlocYearWrite) -> dict[str, int]:
        try:
            async with self._engine.begin() as conn:
                return await write_bloc_year(conn, write, audit_keyring())
        except sa.exc.IntegrityError:
            # Two attempts of the same step raced (a timed-out attempt still running beside its retry): once
            # the winner has committed, the write is a no-op.
            async with self._engine.begin() as conn:
                return await write_bloc_year(conn, write, audit_keyring())

    @activity.defn(name="hand_over_bloc_head")
    async def hand_over_bloc_head(self, write: BlocYearWrite) -> dict[str, int]:
        """1 January: the roster's BLOC_HEAD role passes to the incoming head's representatives and the flag's
        handover is recorded, in one transaction with the step's row, audit entry and notices."""
        flag = write.flag
        if flag is None:
            raise ApplicationError("a handover write carries the flag's handover", non_retryable=True)
        async with self._engine.begin() as conn:
            moved = await move_bloc_head(conn, flag.bloc, flag.from_member, flag.to_member)
            added = await write_bloc_year(conn, write, audit_keyring())
        activity_logger(__name__).info(
            "bloc_head_handed_over", bloc=flag.bloc, year=flag.year, step=write.step, **moved, **added
        )
        if moved["added"] == 0 and moved["removed"] == 0:
            activity_logger(__name__).info("bloc_head_already_moved", bloc=flag.bloc, year=flag.year)
        return moved

    @activity.defn(name="proposals_at_bloc_vote")
    async def proposals_at_bloc_vote(self, workflow_ids: list[str]) -> dict[str, Stage]:
        """The stage of each proposal nomination once every one waits at BLOC_VOTE or has ended; until then a
        retryable error (Temporal retries the activity as the nominations register)."""
        stages = await nomination_stages(self._engine, workflow_ids)
        waiting = [wf for wf in workflow_ids if wf not in stages or not _settled_for_vote(stages[wf])]
        if waiting:
            raise ApplicationError(f"{len(waiting)} proposal(s) not yet waiting at BLOC_VOTE", type="NotYetWaiting")
        return stages


def _settled_for_vote(stage: Stage) -> bool:
    return stage == Stage.BLOC_VOTE or stage.is_final
