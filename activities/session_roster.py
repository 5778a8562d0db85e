"""The roster a ballot session needs: its ministry's council, or its bloc's representatives and head."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.roster_store import read_snapshot
from activities.schema import blocs
from domain.roster import RosterSnapshot


class SessionRosterActivities:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @activity.defn(name="load_scope_snapshot")
    async def load_scope_snapshot(self, kind: str, scope: str) -> RosterSnapshot:
        """COUNCIL: the ministry's snapshot. BLOC: the snapshot of the bloc's head ministry, which holds every
        actor with a role in that bloc."""
        ministry = scope
        if kind == "BLOC":
            async with self._engine.connect() as conn:
                head = (await conn.execute(sa.select(blocs.c.head_ministry).where(blocs.c.code == scope))).scalar()
            if head is None:
                raise ApplicationError(f"bloc {scope} is not in the roster", type="UnknownScope", non_retryable=True)
            ministry = head
        try:
            return await read_snapshot(self._engine, ministry)
        except KeyError as err:
            raise ApplicationError(str(err), type="UnknownScope", non_retryable=True) from None
