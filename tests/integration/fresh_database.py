"""A PostgreSQL database of a test's own (migrated, roster loaded, the voting members' counting keys enrolled),
for a worker whose activities or outbox must not see the rows of the rest of the run."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from domain.roster import Roster
from scripts.stand_in_committee import voting_actors
from store.db import create_engine
from store.roster import load_roster
from tests.conftest import new_database
from tests.integration.conftest import ROOT
from tests.integration.helpers import enroll_counting_keys


@asynccontextmanager
async def fresh_database(prefix: str = "tdkt_own") -> AsyncIterator[str]:
    """Yields the database's URL; drops the database afterwards."""
    async with new_database(prefix) as url:
        engine = create_engine(url)
        try:
            roster = Roster.model_validate(json.loads((ROOT / "config" / "roster.json").read_text(encoding="utf-8")))
            await load_roster(engine, roster)
            await enroll_counting_keys(engine, voting_actors(roster))  # the run's keys (TDKT_COUNTING_KEY_DIR)
        finally:
            await engine.dispose()
        yield url
