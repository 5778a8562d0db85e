"""The roster (bodies, people, roles) in the database: loaded from config/roster.json, read per ministry."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.roster import CENTRAL_SCOPE, Actor, Bloc, Ministry, RoleGrant, Roster, RosterSnapshot
from store.db import dialect_insert
from store.schema import actor_roles, actors, blocs, ministries, roster_revision


async def _upsert(conn: AsyncConnection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows, overwriting every non-key column of rows whose primary key exists."""
    if not rows:
        return
    stmt = dialect_insert(conn, table)
    keys = [c.name for c in table.primary_key.columns]
    updates = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
    await conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=updates), rows)


async def load_roster(engine: AsyncEngine, roster: Roster) -> dict[str, int]:
    """Upsert every bloc, ministry and actor; each listed actor's roles become exactly those in the file.

    Idempotent: loading the same roster twice leaves the same rows. Actors absent from the file are kept
    (running nominations may still name them)."""
    async with engine.begin() as conn:
        await _upsert(conn, blocs, [b.model_dump() for b in roster.blocs])
        await _upsert(
            conn,
            ministries,
            [{"code": m.code, "name": m.name, "bloc_code": m.bloc} for m in roster.ministries],
        )
        await _upsert(conn, actors, [a.model_dump(mode="json", exclude={"roles"}) for a in roster.actors])
        await conn.execute(sa.delete(actor_roles).where(actor_roles.c.actor_id.in_([a.id for a in roster.actors])))
        grants = [
            {"actor_id": a.id, "role": g.role.value, "scope": g.scope} for a in roster.actors for g in set(a.roles)
        ]
        if grants:
            await conn.execute(sa.insert(actor_roles), grants)
        # In the same transaction: a worker that sees the new revision also sees the new rows.
        await conn.execute(
            sa.update(roster_revision)
            .where(roster_revision.c.id == 1)
            .values(revision=roster_revision.c.revision + 1, changed_at=datetime.now(UTC))
        )
    return {
        "blocs": len(roster.blocs),
        "ministries": len(roster.ministries),
        "actors": len(roster.actors),
        "actor_roles": len(grants),
    }


async def read_snapshot(engine: AsyncEngine, ministry: str) -> RosterSnapshot:
    """What Roster.snapshot_for(ministry) would give, read with four small queries.

    Actors and their roles come sorted so the snapshot (which enters workflow history) is stable."""
    async with engine.connect() as conn:
        ministry_row = (await conn.execute(sa.select(ministries).where(ministries.c.code == ministry))).first()
        if ministry_row is None:
            raise KeyError(f"ministry {ministry} is not in the roster")
        bloc_row = None
        if ministry_row.bloc_code is not None:
            bloc_row = (await conn.execute(sa.select(blocs).where(blocs.c.code == ministry_row.bloc_code))).first()
        scopes = {ministry, CENTRAL_SCOPE} | ({ministry_row.bloc_code} if ministry_row.bloc_code else set())
        in_scope = sa.select(actor_roles.c.actor_id).where(actor_roles.c.scope.in_(scopes))
        actor_rows = (
            await conn.execute(sa.select(actors).where(actors.c.id.in_(in_scope)).order_by(actors.c.id))
        ).all()
        role_rows = (
            await conn.execute(
                sa.select(actor_roles)
                .where(actor_roles.c.actor_id.in_(in_scope))
                .order_by(actor_roles.c.actor_id, actor_roles.c.role, actor_roles.c.scope)
            )
        ).all()
    bloc = None
    if bloc_row is not None:
        bloc = Bloc(code=bloc_row.code, name=bloc_row.name, head_ministry=bloc_row.head_ministry)
    grants: dict[str, list[RoleGrant]] = defaultdict(list)
    for r in role_rows:
        grants[r.actor_id].append(RoleGrant(role=r.role, scope=r.scope))
    return RosterSnapshot(
        ministry=Ministry(code=ministry_row.code, name=ministry_row.name, bloc=ministry_row.bloc_code),
        bloc=bloc,
        actors=tuple(
            Actor(
                id=a.id,
                full_name=a.full_name,
                email=a.email,
                organisation=a.organisation,
                roles=tuple(grants[a.id]),
            )
            for a in actor_rows
        ),
    )


async def scope_snapshot(engine: AsyncEngine, kind: str, scope: str) -> RosterSnapshot:
    """The roster a ballot session needs. COUNCIL: the ministry's snapshot. BLOC: the snapshot of the bloc's
    head ministry, which holds every actor with a role in that bloc. KeyError naming the scope when the roster
    does not know it."""
    ministry = scope
    if kind == "BLOC":
        async with engine.connect() as conn:
            head = (await conn.execute(sa.select(blocs.c.head_ministry).where(blocs.c.code == scope))).scalar()
        if head is None:
            raise KeyError(f"bloc {scope} is not in the roster")
        ministry = head
    return await read_snapshot(engine, ministry)


async def read_actor(engine: AsyncEngine, actor_id: str) -> Actor | None:
    """One person as the database roster holds them (every role, any scope), or None when unknown: what the
    inbox shows and offers follows the roster the engine uses, the last `starter.py roster load`."""
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(actors).where(actors.c.id == actor_id))).first()
        if row is None:
            return None
        role_rows = (
            await conn.execute(
                sa.select(actor_roles)
                .where(actor_roles.c.actor_id == actor_id)
                .order_by(actor_roles.c.role, actor_roles.c.scope)
            )
        ).all()
    return Actor(
        id=row.id,
        full_name=row.full_name,
        email=row.email,
        organisation=row.organisation,
        roles=tuple(RoleGrant(role=r.role, scope=r.scope) for r in role_rows),
    )


@dataclass
class SnapshotCache:
    """Snapshots per ministry, kept while the roster's revision stays the same.

    A nomination reloads its roster at every stage, so that a roster load takes effect in running
    nominations; with the cache that costs one small query instead of four (year-end wave,
    docs/performance.md), and a load is still seen by the next reload after it commits."""

    snapshots: dict[str, tuple[int, RosterSnapshot]] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0

    async def read(self, engine: AsyncEngine, ministry: str) -> RosterSnapshot:
        async with engine.connect() as conn:
            revision = await conn.scalar(sa.select(roster_revision.c.revision).where(roster_revision.c.id == 1))
        cached = self.snapshots.get(ministry)
        if revision is not None and cached is not None and cached[0] == revision:
            self.hits += 1
            return cached[1]
        self.misses += 1
        # Read after the revision: a load committing in between gives a newer snapshot under the older
        # revision, which the next read replaces. Never an older snapshot under a newer revision.
        snapshot = await read_snapshot(engine, ministry)
        if revision is not None:
            self.snapshots[ministry] = (int(revision), snapshot)
        return snapshot
