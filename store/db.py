"""Where the engine's state lives and how to connect to it."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from store.tuning import PoolSettings, pool_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = REPO_ROOT / ".state"


def normalise_url(url: str) -> str:
    """Accept the plain PostgreSQL URLs people paste; the async engine needs the asyncpg driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def default_database_url() -> str:
    """DATABASE_URL if set, else a SQLite file under .state/ so a laptop needs no server."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return normalise_url(url)
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{STATE_DIR / 'engine.db'}"


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the dispatcher read while an activity writes; the timeout waits out short write locks.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(url: str, pool: PoolSettings | None = None) -> AsyncEngine:
    """An engine for the URL; for PostgreSQL, a pool as `pool` says (default: DB_POOL_* or 10, pre-ping)."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, pool_pre_ping=True)
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        return engine
    pool = pool or pool_settings(os.environ)
    return create_async_engine(
        url, pool_pre_ping=pool.pre_ping, pool_size=pool.size, max_overflow=pool.size, pool_recycle=1800
    )


def as_utc(moment: datetime) -> datetime:
    """The instant in UTC. SQLite keeps no offset, so every instant is stored in UTC and a naive value read
    back (or given) is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def dialect_insert(engine: AsyncEngine | AsyncConnection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that supports ON CONFLICT for the engine's dialect (both spell it the same way)."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    if engine.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no ON CONFLICT support for dialect {engine.dialect.name}")
