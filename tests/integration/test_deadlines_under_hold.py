"""Deadlines stop while a nomination is on hold and resume with the working time they had left.

On the time-skipping server a nomination is held for a known span in RETURNED (the deadline for the
supplemented dossier, with its reminder) and in CENTRAL_REVIEW (the appraisal's due date). While it is held
nothing fires (no reminder, lapse or escalation) and it shows no due date; once released its due date is the
old one moved on by exactly the working days the hold covered (domain/calendar.py: deadlines are ends of
working days), and the reminder, lapse or escalation then come at the moved times.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from client.nominations import act, status
from domain.calendar import VIETNAM_TZ, WorkingCalendar
from domain.catalog import policy_set
from domain.messages import HoldRequest, NominationStatus, ReasonedAction
from domain.stages import Stage
from tests.integration.helpers import CENTRAL, SECRETARY, assert_row_agrees, meeting, start
from tests.integration.search_attrs import stage_due_at
from tests.integration.test_timers import move_clock_to, wait_stage

pytestmark = pytest.mark.integration

# The stage is entered on Friday 4 June 2027 at 09:00 in Hanoi; no public holiday falls in June 2027.
ENTERED_ON = date(2027, 6, 4)
AT_NINE = timedelta(hours=9)
# The real seconds between moving the test server's clock and the workflow task that holds or releases:
# hold and release are sent at 09:00 sharp, the workflow stamps them a moment later.
JITTER = timedelta(minutes=1)
DEADLINE_ACTIONS = {"RETURN_REMINDER", "LAPSED", "ESCALATED"}
HOLD = HoldRequest.model_validate(
    {"actor": SECRETARY, "ground": "DISCIPLINE", "reason": "Đang xem xét kỷ luật người được đề nghị"}
)
RELEASE = ReasonedAction(actor=CENTRAL, reason="Không bị kỷ luật")

SPANS = [
    # (days after entering the stage that the hold starts, days it lasts), both at 09:00 in Hanoi.
    # Tuesday of the third week to Tuesday two weeks on: across the reminder and the original due date.
    pytest.param(11, 14, id="two-whole-weeks-across-the-due-date"),
    # Monday to Wednesday of the third week, two working days, in the week the stage is due.
    pytest.param(10, 2, id="monday-to-wednesday"),
]


def hanoi(day: date, time_of_day: timedelta = AT_NINE) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=VIETNAM_TZ) + time_of_day


def held_working_days(calendar: WorkingCalendar, since: datetime, until: datetime) -> int:
    """The working days a hold covered, for a hold and release at the same time of day (Hanoi)."""
    start, end = since.astimezone(VIETNAM_TZ), until.astimezone(VIETNAM_TZ)
    assert abs((end - start) - timedelta(days=(end.date() - start.date()).days)) < JITTER
    days = (end.date() - start.date()).days
    return sum(calendar.is_working_day(start.date() + timedelta(days=i)) for i in range(days))


def moved_by_working_days(calendar: WorkingCalendar, due: datetime, working_days: int) -> datetime:
    """A deadline (the end of a working day) moved on by whole working days: the end of the working day
    that many working days after its last day."""
    return calendar.deadline_after(due - timedelta(microseconds=1), working_days)


async def actions(client: Client, workflow_id: str) -> list[str]:
    return [t.action for t in (await status(client, workflow_id)).transitions]


async def last_action_becomes(client: Client, workflow_id: str, action: str) -> NominationStatus:
    for _ in range(100):
        current = await status(client, workflow_id)
        if current.transitions[-1].action == action:
            return current
        await asyncio.sleep(0.05)
    raise AssertionError(f"{workflow_id}: last action is {current.transitions[-1].action}, not {action}")


async def enter_stage(env: WorkflowEnvironment, queue: str, stage: Stage) -> tuple[str, datetime]:
    """A BANG_KHEN_TTG entering `stage` (RETURNED or CENTRAL_REVIEW) at ENTERED_ON 09:00; (id, due date)."""
    client = env.client
    await move_clock_to(env, hanoi(ENTERED_ON) - timedelta(minutes=5))
    handle = await start(client, queue, "BANG_KHEN_TTG")
    await wait_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    await move_clock_to(env, hanoi(ENTERED_ON))
    await act(client, handle.id, "record_council_result", meeting(SECRETARY))
    if stage == Stage.RETURNED:
        await act(client, handle.id, "return_dossier", ReasonedAction(actor=CENTRAL, reason="Bổ sung xác nhận"))
    entered = await wait_stage(client, handle.id, stage)
    policy = policy_set(entered.policy_version)
    days = (
        policy.time.return_supplement_working_days
        if stage == Stage.RETURNED
        else policy.time.central_appraisal_working_days
    )
    entered_at = entered.transitions[-1].occurred_at
    assert entered_at.astimezone(VIETNAM_TZ).date() == ENTERED_ON
    due = policy.calendar.working_calendar().deadline_after(entered_at, days)
    assert entered.due_at == due and await stage_due_at(client, handle.id) == due
    return handle.id, due


async def hold_for_the_span(
    env: WorkflowEnvironment, workflow_id: str, due: datetime, hold_after_days: int, held_days: int
) -> tuple[NominationStatus, datetime, datetime]:
    """Hold at 09:00 `hold_after_days` after the stage was entered and release `held_days` later; check that
    nothing moved meanwhile. Returns the status after the release and the hold's and release's stamps."""
    client = env.client
    before = await status(client, workflow_id)
    hold_at = hanoi(ENTERED_ON + timedelta(days=hold_after_days))
    release_at = hold_at + timedelta(days=held_days)
    assert hold_at < due, "the hold starts while the deadline runs"
    await move_clock_to(env, hold_at)
    assert (await act(client, workflow_id, "hold", HOLD)).stage == before.stage
    held = await status(client, workflow_id)
    assert held.due_at is None and await stage_due_at(client, workflow_id) is None

    await move_clock_to(env, release_at)  # past the reminder, and past the due date for the long hold
    await asyncio.sleep(0.3)
    during = await status(client, workflow_id)
    assert during.stage == before.stage and during.hold is not None
    assert [t.action for t in during.transitions] == [t.action for t in before.transitions] + ["HOLD"]
    assert DEADLINE_ACTIONS.isdisjoint(t.action for t in during.transitions)

    assert (await act(client, workflow_id, "release", RELEASE)).stage == before.stage
    released = await status(client, workflow_id)
    hold_event, release_event = released.transitions[-2:]
    assert (hold_event.action, release_event.action) == ("HOLD", "RELEASE")
    return released, hold_event.occurred_at, release_event.occurred_at


def expected_due(policy_version: str, due: datetime, held_since: datetime, released_at: datetime) -> datetime:
    calendar = policy_set(policy_version).calendar.working_calendar()
    return moved_by_working_days(calendar, due, held_working_days(calendar, held_since, released_at))


@pytest.mark.parametrize(("hold_after_days", "held_days"), SPANS)
async def test_a_hold_moves_the_return_deadline_by_the_working_days_held(
    skipping_env: WorkflowEnvironment, own_engine: AsyncEngine, hold_after_days: int, held_days: int
):
    from worker import build_worker

    client = skipping_env.client
    queue = f"hold-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, own_engine, queue):
        workflow_id, due = await enter_stage(skipping_env, queue, Stage.RETURNED)
        released, held_since, released_at = await hold_for_the_span(
            skipping_env, workflow_id, due, hold_after_days, held_days
        )
        assert released.stage == Stage.RETURNED
        policy = policy_set(released.policy_version)
        calendar = policy.calendar.working_calendar()
        moved = expected_due(released.policy_version, due, held_since, released_at)
        assert released.due_at is not None
        assert released.due_at == moved, (released.due_at.isoformat(), moved.isoformat())
        assert await stage_due_at(client, workflow_id) == released.due_at

        # The reminder and the lapse come at the moved times, not before.
        remind_at = calendar.deadline_before(moved, policy.time.return_reminder_working_days_before or 0)
        await move_clock_to(skipping_env, remind_at - timedelta(hours=1))
        await asyncio.sleep(0.3)
        assert (await actions(client, workflow_id))[-1] == "RELEASE"
        await move_clock_to(skipping_env, remind_at + timedelta(minutes=2))
        await last_action_becomes(client, workflow_id, "RETURN_REMINDER")
        await move_clock_to(skipping_env, moved - timedelta(minutes=2))
        await asyncio.sleep(0.3)
        assert (await status(client, workflow_id)).stage == Stage.RETURNED
        await move_clock_to(skipping_env, moved + timedelta(minutes=2))
        lapsed = await wait_stage(client, workflow_id, Stage.LAPSED)
        assert [t.action for t in lapsed.transitions][-4:] == ["HOLD", "RELEASE", "RETURN_REMINDER", "LAPSED"]
        await assert_row_agrees(own_engine, client, workflow_id)


@pytest.mark.parametrize(("hold_after_days", "held_days"), SPANS)
async def test_a_hold_moves_the_appraisal_due_date_by_the_working_days_held(
    skipping_env: WorkflowEnvironment, own_engine: AsyncEngine, hold_after_days: int, held_days: int
):
    from worker import build_worker

    client = skipping_env.client
    queue = f"hold-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, own_engine, queue):
        workflow_id, due = await enter_stage(skipping_env, queue, Stage.CENTRAL_REVIEW)
        released, held_since, released_at = await hold_for_the_span(
            skipping_env, workflow_id, due, hold_after_days, held_days
        )
        assert released.stage == Stage.CENTRAL_REVIEW
        moved = expected_due(released.policy_version, due, held_since, released_at)
        assert released.due_at is not None
        assert released.due_at == moved, (released.due_at.isoformat(), moved.isoformat())
        assert await stage_due_at(client, workflow_id) == released.due_at

        # The head of the central board is told at the moved due date, not before.
        await move_clock_to(skipping_env, moved - timedelta(minutes=2))
        await asyncio.sleep(0.3)
        assert (await actions(client, workflow_id))[-1] == "RELEASE"
        await move_clock_to(skipping_env, moved + timedelta(minutes=2))
        escalated = await last_action_becomes(client, workflow_id, "ESCALATED")
        assert escalated.stage == Stage.CENTRAL_REVIEW
        assert escalated.transitions[-1].details["due_at"] == released.due_at.isoformat()
        async with own_engine.connect() as conn:
            parties = (
                (
                    await conn.execute(
                        sa.text("SELECT party FROM notifications WHERE workflow_id = :w AND seq = :s"),
                        {"w": workflow_id, "s": escalated.transitions[-1].seq},
                    )
                )
                .scalars()
                .all()
            )
        assert "CENTRAL_HEAD:TW" in parties
        await assert_row_agrees(own_engine, client, workflow_id)


def test_the_spans_tell_wall_clock_from_working_days() -> None:
    """The Monday-to-Wednesday span is the one where moving by the time held and moving by the working days
    held differ; the two-week span is one where they agree (so its test pins the amount, not just the sign)."""
    calendar = policy_set("2026.01").calendar.working_calendar()
    due = calendar.deadline_after(hanoi(ENTERED_ON), 10)
    assert due == hanoi(date(2027, 6, 19), timedelta(0))  # the end of Friday 18 June
    for (hold_after, held), agree in (((11, 14), True), ((10, 2), False)):
        since = hanoi(ENTERED_ON + timedelta(days=hold_after))
        until = since + timedelta(days=held)
        by_working_days = moved_by_working_days(calendar, due, held_working_days(calendar, since, until))
        assert (by_working_days == due + (until - since)) == agree
    since = hanoi(date(2027, 6, 14))
    assert moved_by_working_days(calendar, due, held_working_days(calendar, since, since + timedelta(days=2))) == (
        hanoi(date(2027, 6, 23), timedelta(0))  # the end of Tuesday 22 June: two working days more
    )
