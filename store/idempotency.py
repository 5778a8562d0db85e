"""The API's kept answers to requests sent with an `Idempotency-Key` (table `idempotency_keys`).

One row per (actor, key) while it counts (`expires_at`); the first answer kept for a slot stays: a second
writer (a concurrent retry on another replica) is given the row already there. An expired row counts as
absent and is replaced; `prune` deletes expired rows. Nothing here knows HTTP: a status, a body and the
header pairs to give again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from store.db import as_utc, dialect_insert
from store.schema import idempotency_keys


@dataclass(frozen=True)
class KeptAnswer:
    fingerprint: str
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]
    created_at: datetime
    expires_at: datetime


def _answer(row: Any) -> KeptAnswer:  # a Row of _COLUMNS
    return KeptAnswer(
        fingerprint=row.fingerprint,
        status=row.status,
        body=bytes(row.body),
        headers=tuple((str(name), str(value)) for name, value in row.headers),
        created_at=as_utc(row.created_at),
        expires_at=as_utc(row.expires_at),
    )


_COLUMNS = (
    idempotency_keys.c.fingerprint,
    idempotency_keys.c.status,
    idempotency_keys.c.body,
    idempotency_keys.c.headers,
    idempotency_keys.c.created_at,
    idempotency_keys.c.expires_at,
)


async def find(engine: AsyncEngine, actor: str, key: str, now: datetime) -> KeptAnswer | None:
    """The answer kept under (actor, key), unless there is none or it has expired."""
    query = sa.select(*_COLUMNS).where(
        idempotency_keys.c.actor == actor,
        idempotency_keys.c.key == key,
        idempotency_keys.c.expires_at > as_utc(now),
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    return None if row is None else _answer(row)


async def keep(engine: AsyncEngine, actor: str, key: str, answer: KeptAnswer) -> KeptAnswer:
    """Keep `answer` under (actor, key) unless a live one is there already; the one that stays is returned."""
    slot = (idempotency_keys.c.actor == actor) & (idempotency_keys.c.key == key)
    async with engine.begin() as conn:
        await conn.execute(sa.delete(idempotency_keys).where(slot, idempotency_keys.c.expires_at <= answer.created_at))
        insert = dialect_insert(conn, idempotency_keys).values(
            actor=actor,
            key=key,
            fingerprint=answer.fingerprint,
            status=answer.status,
            body=answer.body,
            headers=[list(pair) for pair in answer.headers],
            created_at=as_utc(answer.created_at),
            expires_at=as_utc(answer.expires_at),
        )
        await conn.execute(insert.on_conflict_do_nothing(index_elements=["actor", "key"]))
        row = (await conn.execute(sa.select(*_COLUMNS).where(slot))).one()
    return _answer(row)


async def prune(engine: AsyncEngine, now: datetime) -> int:
    """Delete the rows that no longer count; how many went."""
    async with engine.begin() as conn:
        done = await conn.execute(sa.delete(idempotency_keys).where(idempotency_keys.c.expires_at <= as_utc(now)))
    return int(done.rowcount or 0)
