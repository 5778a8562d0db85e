"""A PostgreSQL database of a test's own (migrated, roster loaded), for a worker whose activities or outbox
must not see the rows of the rest of the run."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from activities.db import create_engine
from activities.migrate import upgrade_to_head
from activities.roster_store import load_roster
from domain.roster import Roster
from tests.conftest import ADMIN_DSN
from tests.integration.conftest import ROOT


@asynccontextmanager
async def fresh_database(prefix: str = "tdkt_own") -> AsyncIterator[str]:
    """Yields the database's URL; drops the database afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
    try:
        await upgrade_to_head(url)
        engine = create_engine(url)
        try:
            roster = Roster.model_validate(json.loads((ROOT / "config" / "roster.json").read_text(encoding="utf-8")))
            await load_roster(engine, roster)
        finally:
            await engine.dispose()
        yield url
    finally:
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
