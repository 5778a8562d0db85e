"""The worker migrates in a child process (`store.migrate.upgrade_in_child`) so that its own process never
loads Alembic or the `holidays` package: a database that does not answer is told apart (waited out by the
worker) from a configuration the migration cannot use (raised)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from store.migrate import DatabaseUnreachable, MigrationFailed, alembic_config, upgrade_in_child

ROOT = Path(__file__).resolve().parents[2]


async def test_the_child_brings_a_new_database_to_head(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    await upgrade_in_child(url)
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: set(sa.inspect(sync).get_table_names()))
            version = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar_one()
    finally:
        await engine.dispose()
    assert {"nominations", "stage_events", "ballot_papers"} <= tables
    assert version == ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    await upgrade_in_child(url)  # at head already: nothing to do, no error


async def test_a_database_that_does_not_answer_is_unreachable_not_failed() -> None:
    with pytest.raises(DatabaseUnreachable, match="Connect call failed"):
        await upgrade_in_child("postgresql+asyncpg://postgres@127.0.0.1:1/nothing_listens_here")


async def test_a_url_the_engine_cannot_use_fails_at_once() -> None:
    with pytest.raises(MigrationFailed, match=r"(?s)exited with 1: .*nosuchdialect"):
        await upgrade_in_child("nosuchdialect://somewhere/db")


def test_the_worker_process_loads_neither_alembic_nor_holidays() -> None:
    """What the worker keeps in memory for its whole life: not the migrations (a child runs them) and not the
    `holidays` package's ~300 country modules (domain/calendar.py reads a table made from it)."""
    packages = "{m.split('.')[0] for m in sys.modules}"
    probe = f"import sys, worker; print(sorted({packages} & {{'alembic', 'holidays', 'mako'}}))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert loaded.stdout.strip() == "[]", loaded.stderr
