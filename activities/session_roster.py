"""The roster a ballot session needs: its ministry's council, or its bloc's representatives and head."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.roster import RosterSnapshot
from store.roster import read_snapshot
from store.schema import blocs


async def scope_snapshot(engine: AsyncEngine, kind: str, scope: str) -> RosterSnapshot:
    """COUNCIL: the ministry's snapshot. BLOC: the snapshot of the bloc's head ministry, which holds every
    actor with a role in that bloc. KeyError naming the scope when the roster does not know it."""
    ministry = scope
    if kind == "BLOC":
        async with engine.connect() as conn:
            head = (await conn.execute(sa.select(blocs.c.head_ministry).where(blocs.c.code == scope))).scalar()
        if head is None:
            raise KeyError(f"bloc {scope} is not in the roster")
        ministry = head
    return await read_snapshot(engine, ministry)


class SessionRosterActivities:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @activity.defn(name="load_scope_snapshot")
    async def load_scope_snapshot(self, kind: str, scope: str) -> RosterSnapshot:
        try:
            return await scope_snapshot(self._engine, kind, scope)
        except KeyError as err:
            raise ApplicationError(str(err).strip("'\""), type="UnknownScope", non_retryable=True) from None
