"""The activity that reads the roster a ballot session needs (store/roster.py: its ministry's council, or its
bloc's representatives and head)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.roster import RosterSnapshot
from store.roster import scope_snapshot


class SessionRosterActivities:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @activity.defn(name="load_scope_snapshot")
    async def load_scope_snapshot(self, kind: str, scope: str) -> RosterSnapshot:
        try:
            return await scope_snapshot(self._engine, kind, scope)
        except KeyError as err:
            raise ApplicationError(str(err).strip("'\""), type="UnknownScope", non_retryable=True) from None
