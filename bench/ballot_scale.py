"""A council ballot session of N nominations and V voters, all voting at once, on a fresh dev server.

    .venv/bin/python -m bench.ballot_scale [--nominations 300] [--voters 30]

Needs PostgreSQL (TEST_POSTGRES_ADMIN_URL, default postgresql://postgres@127.0.0.1:5432/postgres); creates
and drops its own database. The council's counting committee hands in its shares once everyone has voted
(the bench holds their keys, made under TDKT_GENERATE_KEYS=1). Prints the figures as its last line in
key=value form.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path

import asyncpg
from temporalio.testing import WorkflowEnvironment

from client.ballots import cast, close_list, open_session, session_status
from client.nominations import start_nomination, status
from client.temporal import ensure_search_attributes
from domain.ballot_messages import SessionPhase, SessionStart
from domain.ballots import BallotSessionKind, Choice
from domain.catalog import current_policy_version, policy_set
from domain.nomination import Nomination
from domain.roster import Roster
from domain.stages import Stage
from scripts.processes import temporal_binary
from scripts.stand_in_committee import default_committees, enroll_members, hand_in_shares
from security.codec import data_converter
from store.db import create_engine
from store.migrate import upgrade_to_head
from store.roster import load_roster
from tests.factories import nomination_data
from worker import build_worker

ADMIN = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def roster(voters: int) -> Roster:
    grant = lambda role: [{"role": role, "scope": "S300"}]  # noqa: E731
    return Roster.model_validate(
        {
            "ministries": [{"code": "S300", "name": "Bộ Quy mô (hư cấu)"}],
            "actors": [
                {"id": "s300.can-bo", "full_name": "Cán bộ", "organisation": "S300", "roles": grant("UNIT_STAFF")},
                {
                    "id": "s300.thu-ky",
                    "full_name": "Thư ký",
                    "organisation": "S300",
                    "roles": grant("COUNCIL_SECRETARY"),
                },
            ]
            + [
                {
                    "id": f"s300.uy-vien-{i:02d}",
                    "full_name": f"Ủy viên {i}",
                    "organisation": "S300",
                    "roles": grant("COUNCIL_MEMBER"),
                }
                for i in range(voters)
            ],
        }
    )


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.25)


async def main(nominations: int, voters: int) -> str:
    name = f"tdkt_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
    key_dir = Path(tempfile.mkdtemp())
    # Payloads encrypted as in production (security.codec: the environment's keys, else .state/codec-keys.json).
    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter(), dev_server_existing_path=temporal_binary()
    )
    try:
        await upgrade_to_head(url)
        engine = create_engine(url)
        members = roster(voters)
        await load_roster(engine, members)
        # The council's counting committee: its members' keys, held here to hand in their shares at the close.
        size = policy_set(current_policy_version(date.today())).counting_committee.size
        committee = await enroll_members(engine, key_dir, default_committees(members, size))
        client = env.client
        await ensure_search_attributes(client)
        queue = "bench-ballots"
        async with build_worker(client, engine, queue):
            started = time.monotonic()
            ids = []
            for _ in range(nominations):
                data = nomination_data(
                    "BANG_KHEN_BO", ministry="S300", proposer="s300.can-bo", reference=f"{uuid.uuid4().hex[:8]}/TTr"
                )
                ids.append((await start_nomination(client, Nomination.model_validate(data), queue)).id)

            async def all_in_council() -> bool:
                stages = await asyncio.gather(*(status(client, wf) for wf in ids))
                return all(s.stage == Stage.COUNCIL_REVIEW for s in stages)

            await wait_until(all_in_council, 300)
            start_s = time.monotonic() - started
            meeting = SessionStart.model_validate(
                {
                    "kind": BallotSessionKind.COUNCIL,
                    "scope": "S300",
                    "meeting_ref": "BENCH",
                    "opened_by": "s300.thu-ky",
                    "deadline": "2099-01-01T00:00:00+07:00",
                    "policy_version": "2025.07",
                    "reminder_before_seconds": 0,
                }
            )
            session = await open_session(client, queue, meeting)

            async def listed() -> bool:
                return len((await session_status(client, session.id)).candidates) == nominations

            await wait_until(listed, 120)
            await close_list(client, session.id, "s300.thu-ky")
            choices = dict.fromkeys(ids, Choice.FOR)
            latencies: list[float] = []

            async def timed_cast(voter: str) -> None:
                t0 = time.monotonic()
                await cast(client, session.id, voter, choices, engine=engine)
                latencies.append((time.monotonic() - t0) * 1000)

            voting_started = time.monotonic()
            await asyncio.gather(*(timed_cast(f"s300.uy-vien-{i:02d}") for i in range(voters)))
            vote_s = time.monotonic() - voting_started

            async def awaiting_count() -> bool:
                return (await session_status(client, session.id)).phase == SessionPhase.AWAITING_COUNT

            async def closed() -> bool:
                return (await session_status(client, session.id)).phase == SessionPhase.CLOSED

            await wait_until(awaiting_count, 300)
            await hand_in_shares(client, engine, session.id, committee)
            await wait_until(closed, 300)

            async def all_past_the_council() -> bool:
                # A ministry-level form passed by its council waits for the minister's (batch) decision.
                stages = await asyncio.gather(*(status(client, wf) for wf in ids))
                return all(s.stage == Stage.AWAITING_DECISION for s in stages)

            await wait_until(all_past_the_council, 300)
            total_s = time.monotonic() - voting_started
            history = await client.get_workflow_handle(session.id).fetch_history()
            size_kb = sum(event.ByteSize() for event in history.events) / 1024
            count_kb = max(
                e.activity_task_scheduled_event_attributes.input.ByteSize() / 1024
                for e in history.events
                if e.activity_task_scheduled_event_attributes.activity_type.name == "open_and_count"
            )
        await engine.dispose()
    finally:
        await env.shutdown()
        admin = await asyncpg.connect(ADMIN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        shutil.rmtree(key_dir, ignore_errors=True)
    return (
        f"nominations={nominations} voters={voters} nominations_to_council_s={start_s:.1f} "
        f"casting_s={vote_s:.2f} cast_p50_ms={statistics.median(latencies):.0f} cast_max_ms={max(latencies):.0f} "
        f"close_to_all_past_council_s={total_s:.1f} session_history_events={len(history.events)} "
        f"session_history_kb={size_kb:.0f} count_input_kb={count_kb:.0f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nominations", type=int, default=300)
    parser.add_argument("--voters", type=int, default=30)
    args = parser.parse_args()
    line = asyncio.run(main(args.nominations, args.voters))
    print(line)
    sys.stdout.flush()
    os._exit(0)
