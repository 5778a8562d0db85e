"""The run command's demo keeps to itself: run twice against the dev server and the PostgreSQL database that hold
a user's own nominations, waiting for their ministries' councils and their bloc, it leaves them exactly as they
were — same stage, same last_seq, same stage events, notices and Temporal history, on no session's list or
minutes — and registers nothing of its own among them.

The user's world here is a database and a task queue of the test's own (other tests leave ballot sessions open
in the shared database, which would take these nominations onto their lists); the demo runs as `make demo` does,
a subprocess pointed at that world with TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TASK_QUEUE and DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from client.nominations import act, status
from client.settings import Settings
from domain.ballots import voting_members
from domain.stages import Stage
from scripts.demo import prepare_user_side
from store.db import create_engine
from store.roster import read_snapshot
from tests.conftest import ADMIN_DSN, new_database
from tests.integration.conftest import ROOT
from tests.integration.fresh_database import fresh_database
from tests.integration.helpers import SECRETARY, meeting, start, wait_for_stage

pytestmark = pytest.mark.integration

DEMO_RUN_TIMEOUT_S = 300
# Nominees of the user's own, fictional; each test run's references are new.
KTNN_PROPOSER = "ktnn.vutckt.hoang-anh"


@dataclass
class UserWorld:
    database_url: str
    engine: AsyncEngine
    task_queue: str


@pytest.fixture
async def user_world(client: Client) -> AsyncIterator[UserWorld]:
    """The user's database (migrated, config/roster.json loaded) and a worker on the user's task queue."""
    from worker import build_worker

    async with fresh_database("tdkt_user") as url:
        engine = create_engine(url)
        queue = f"user-{uuid.uuid4().hex[:8]}"
        worker = build_worker(client, engine, queue)
        task = asyncio.create_task(worker.run())
        try:
            yield UserWorld(database_url=url, engine=engine, task_queue=queue)
        finally:
            await worker.shutdown()
            await asyncio.gather(task, return_exceptions=True)
            await engine.dispose()
            await drop_database(f"{make_url(url).database}_demo")  # where the demo keeps its own


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def user_nominations(client: Client, world: UserWorld) -> list[str]:
    """Two council reviews (BTP and KTNN) and one Government flag in NOI_CHINH's bloc vote, all the user's."""
    btp = await start(client, world.task_queue, "BANG_KHEN_BO")
    ktnn = await start(
        client,
        world.task_queue,
        "BANG_KHEN_BO",
        ministry="KTNN",
        proposer=KTNN_PROPOSER,
        reference=f"{uuid.uuid4().hex[:8]}/TTr-KTNN",
    )
    flag = await start(client, world.task_queue, "CO_THI_DUA_CP")
    for handle in (btp, ktnn, flag):
        await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    # The council's typed-in result carries the roster's own counts: its voting seats, all present, all for.
    seats = len(voting_members(await read_snapshot(world.engine, "BTP"), Stage.COUNCIL_REVIEW))
    await act(
        client,
        flag.id,
        "record_council_result",
        meeting(SECRETARY, members=seats, present=seats, votes_for=seats, votes_against=0),
    )
    await wait_for_stage(client, flag.id, Stage.BLOC_VOTE)
    return [btp.id, ktnn.id, flag.id]


async def scalar(engine: AsyncEngine, sql: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(sa.text(sql), params)).scalar()


async def fingerprint(client: Client, world: UserWorld, ids: list[str]) -> dict[str, Any]:
    """Everything the demo could have changed about the user's nominations, and what the user's database
    registers (nominations, sessions): it must be the same after the demo's runs."""
    found: dict[str, Any] = {}
    for workflow_id in ids:
        current = await status(client, workflow_id)
        row = {"w": workflow_id}
        found[workflow_id] = {
            "stage": current.stage.value,
            "transitions": len(current.transitions),
            "due_at": current.due_at,
            "db_stage": await scalar(world.engine, "SELECT stage FROM nominations WHERE workflow_id = :w", **row),
            "db_last_seq": await scalar(world.engine, "SELECT last_seq FROM nominations WHERE workflow_id = :w", **row),
            "stage_events": await scalar(
                world.engine, "SELECT count(*) FROM stage_events WHERE workflow_id = :w", **row
            ),
            "notifications": await scalar(
                world.engine, "SELECT count(*) FROM notifications WHERE workflow_id = :w", **row
            ),
            "on_minutes": await scalar(
                world.engine, "SELECT count(*) FROM ballot_minutes WHERE workflow_id = :w", **row
            ),
            "history_length": (await client.get_workflow_handle(workflow_id).describe()).history_length,
        }
    async with world.engine.connect() as conn:
        found["registered nominations"] = sorted(
            (await conn.execute(sa.text("SELECT workflow_id FROM nominations"))).scalars()
        )
        found["registered sessions"] = sorted(
            (await conn.execute(sa.text("SELECT session_id FROM ballot_sessions"))).scalars()
        )
    return found


async def run_demo(client: Client, world: UserWorld) -> subprocess.CompletedProcess[str]:
    """`make demo` as the user would run it in this world (its own namespace and database by default)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEMO_")} | {
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": client.namespace,
        "TASK_QUEUE": world.task_queue,
        "DATABASE_URL": world.database_url,
        "DEMO_PUBLIC_NOTICE_SECONDS": "2",
    }
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "scripts.demo"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=DEMO_RUN_TIMEOUT_S,
    )


async def test_demo_run_twice_leaves_the_users_nominations_as_they_were(client: Client, user_world: UserWorld) -> None:
    ids = await user_nominations(client, user_world)
    before = await fingerprint(client, user_world, ids)
    assert [before[i]["stage"] for i in ids] == ["COUNCIL_REVIEW", "COUNCIL_REVIEW", "BLOC_VOTE"]

    for run in (1, 2):
        done = await run_demo(client, user_world)
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"demo run {run} exited {done.returncode}:\n{output[-4000:]}"
        assert "all nominations ended as the rules say" in done.stdout, output[-4000:]
        after = await fingerprint(client, user_world, ids)
        assert after == before, f"demo run {run} changed the user's world:\nbefore {before}\nafter  {after}"
        # Nor did it read them: its lists, tallies and outcomes name none of the user's nominations.
        assert not any(i in output for i in ids), f"demo run {run} named a nomination of the user's:\n{output}"


def test_the_demo_refuses_to_share_the_users_namespace_or_database(database_url: str) -> None:
    """Pointed at the user's own namespace or database, the demo starts nothing and says why (exit 2)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("DEMO_")} | {
        # Not an address at all: a demo that went ahead stops on it (exit 1) before it could start a server.
        "TEMPORAL_ADDRESS": "127.0.0.1:no-port",
        "DATABASE_URL": database_url,
    }
    for extra, named in (
        ({"TEMPORAL_NAMESPACE": "tdkt-demo"}, "DEMO_NAMESPACE"),
        ({"DEMO_DATABASE_URL": database_url}, "DEMO_DATABASE_URL"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "scripts.demo"],
            env=base | extra,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stdout + done.stderr
        assert "demo not started" in done.stdout and named in done.stdout, done.stdout + done.stderr


async def test_make_up_gives_the_shipped_roster_only_to_a_database_without_one() -> None:
    """`make up` leaves the user a working engine: an empty database gets config/roster.json; a roster the
    user already has is theirs and is not loaded over."""
    async with new_database("tdkt_up") as url:
        settings = replace(Settings.from_env(), database_url=url)
        engine = create_engine(url)
        try:
            await prepare_user_side(settings)
            assert await scalar(engine, "SELECT name FROM ministries WHERE code = 'BTP'") == "Bộ Tư pháp"
            async with engine.begin() as conn:
                await conn.execute(sa.text("UPDATE ministries SET name = 'Bộ Tư pháp (của tôi)' WHERE code = 'BTP'"))
                await conn.execute(sa.text("DELETE FROM actor_roles WHERE actor_id = 'btp.hd.uy-vien-2'"))
            await prepare_user_side(settings)
            assert await scalar(engine, "SELECT name FROM ministries WHERE code = 'BTP'") == "Bộ Tư pháp (của tôi)"
            assert await scalar(engine, "SELECT count(*) FROM actor_roles WHERE actor_id = 'btp.hd.uy-vien-2'") == 0
        finally:
            await engine.dispose()
