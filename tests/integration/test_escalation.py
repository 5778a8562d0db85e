"""Council and bloc escalation on the time-skipping test server.

A ballot session tells each nomination on its list when voting ends (`session_scheduled`); that deadline is
the stage's due date (status `due_at` and the `StageDueAt` search attribute). When it passes with the
nomination still in the stage, the nomination records one ESCALATED transition and the head of the body
(the council's chair, the bloc's head) is notified, once.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from client.ballots import chair_action, close_list, open_session, session_status
from client.nominations import act, status
from domain.ballot_messages import ChairAction, SessionPhase, SessionStart
from domain.ballots import BallotSessionKind
from domain.catalog import policy_set
from domain.messages import HoldRequest, NominationStatus, ReasonedAction
from domain.roster import Roster
from domain.stages import Stage
from tests.integration.conftest import ROOT
from tests.integration.helpers import CENTRAL, SECRETARY, assert_row_agrees, meeting, start
from tests.integration.search_attrs import stage_due_at
from tests.integration.test_timers import move_clock_to, wait_stage

pytestmark = pytest.mark.integration

ROSTER = Roster.model_validate_json((ROOT / "config" / "roster.json").read_text(encoding="utf-8"))
BLOC_HEAD = "tandtc.khoi.truong"
COUNCIL_CHAIR = "btp.hd.chu-tich"


def email_of(actor_id: str) -> str:
    return next(str(a.email) for a in ROSTER.actors if a.id == actor_id)


async def notification_rows(engine: AsyncEngine, workflow_id: str, seq: int) -> list[Any]:
    async with engine.connect() as conn:
        result = await conn.execute(
            sa.text("SELECT party, recipients, subject FROM notifications WHERE workflow_id = :w AND seq = :s"),
            {"w": workflow_id, "s": seq},
        )
        return list(result.all())


async def settled(client: Client, workflow_id: str, *, after: int) -> NominationStatus:
    """The status once the workflow has recorded more than `after` transitions (or as it is after a moment)."""
    current = await status(client, workflow_id)
    for _ in range(60):
        if len(current.transitions) > after:
            break
        await asyncio.sleep(0.05)
        current = await status(client, workflow_id)
    return current


async def wait_on_list(client: Client, session_id: str, workflow_id: str) -> None:
    for _ in range(200):
        if any(c.workflow_id == workflow_id for c in (await session_status(client, session_id)).candidates):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{workflow_id} never joined {session_id}")


async def open_and_close_list(
    client: Client, queue: str, kind: BallotSessionKind, scope: str, keeper: str, workflow_id: str, deadline: datetime
) -> str:
    session = await open_session(
        client,
        queue,
        SessionStart(
            kind=kind,
            scope=scope,
            meeting_ref=f"ESC-{uuid.uuid4().hex[:6]}",
            opened_by=keeper,
            deadline=deadline,
            policy_version="2026.01",
            reminder_before_seconds=0,
        ),
    )
    await wait_on_list(client, session.id, workflow_id)
    listed = await close_list(client, session.id, keeper)
    assert listed.phase == SessionPhase.VOTING and workflow_id in {c.workflow_id for c in listed.candidates}
    return session.id


async def assert_due(client: Client, workflow_id: str, due: datetime) -> NominationStatus:
    """Status `due_at` and the StageDueAt search attribute both say `due` (after the signal lands)."""
    current = await status(client, workflow_id)
    for _ in range(100):
        if current.due_at == due and await stage_due_at(client, workflow_id) == due:
            break
        await asyncio.sleep(0.05)
        current = await status(client, workflow_id)
    assert current.due_at == due
    assert await stage_due_at(client, workflow_id) == due
    return current


async def assert_escalated_once(
    client: Client, engine: AsyncEngine, workflow_id: str, stage: Stage, due: datetime, party: str, head: str
) -> NominationStatus:
    overdue = await status(client, workflow_id)
    escalations = [t for t in overdue.transitions if t.action == "ESCALATED"]
    assert len(escalations) == 1, [t.action for t in overdue.transitions]
    escalated = escalations[0]
    assert overdue.stage == stage
    assert (escalated.from_stage, escalated.to_stage, escalated.actor) == (stage, stage, None)
    assert escalated.details["due_at"] == due.isoformat()
    assert escalated.occurred_at >= due
    # The stage stays due at the session's deadline: operators still find it overdue.
    assert overdue.due_at == due and await stage_due_at(client, workflow_id) == due

    rows = await notification_rows(engine, workflow_id, escalated.seq)
    by_party = {r.party: r for r in rows}
    assert party in by_party, sorted(by_party)
    assert list(by_party[party].recipients) == [email_of(head)]
    assert all(r.subject.startswith("[TĐKT] QUÁ HẠN") for r in rows)
    assert set(by_party) == {party, f"UNIT:BTP:{overdue.transitions[0].actor}"}  # the head and the unit only
    await assert_row_agrees(engine, client, workflow_id)
    return overdue


BODIES = {
    # kind: (award form, ballot scope, who keeps the list, stage, party told when overdue, head of the body)
    "council": ("BANG_KHEN_BO", "BTP", SECRETARY, Stage.COUNCIL_REVIEW, "COUNCIL_CHAIR:BTP", COUNCIL_CHAIR),
    "bloc": ("CO_THI_DUA_CP", "NOI_CHINH", BLOC_HEAD, Stage.BLOC_VOTE, "BLOC_HEAD:NOI_CHINH", BLOC_HEAD),
}
HOLD = HoldRequest.model_validate({"actor": SECRETARY, "ground": "INSPECTION", "reason": "Thanh tra đột xuất"})
RELEASE = ReasonedAction(actor=CENTRAL, reason="Đã có kết luận thanh tra")


async def reach_scheduled_stage(
    env: WorkflowEnvironment, queue: str, body: str, clock: datetime
) -> tuple[str, str, datetime, NominationStatus]:
    """A nomination in the body's stage on the list of a ballot session closing two days from `clock`;
    returns (workflow id, session id, the session's deadline, status once the deadline has reached it)."""
    form, scope, keeper, stage, _, _ = BODIES[body]
    client = env.client
    await move_clock_to(env, clock)
    handle = await start(client, queue, form, year=clock.year)  # the award year is the skipped clock's
    await wait_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    if stage == Stage.BLOC_VOTE:
        await act(client, handle.id, "record_council_result", meeting(SECRETARY))
    waiting = await wait_stage(client, handle.id, stage)
    assert waiting.due_at is None and await stage_due_at(client, handle.id) is None  # no session yet
    deadline = (await env.get_current_time()) + timedelta(days=2, hours=3)
    kind = BallotSessionKind.COUNCIL if stage == Stage.COUNCIL_REVIEW else BallotSessionKind.BLOC
    session_id = await open_and_close_list(client, queue, kind, scope, keeper, handle.id, deadline)
    scheduled = await assert_due(client, handle.id, deadline)
    assert scheduled.stage == stage
    return handle.id, session_id, deadline, scheduled


@pytest.mark.parametrize("body", sorted(BODIES))
async def test_an_overdue_ballot_session_escalates_to_the_head_of_the_body(
    skipping_env: WorkflowEnvironment, own_engine: AsyncEngine, body: str
):
    from worker import build_worker

    _, _, _, stage, party, head = BODIES[body]
    client = skipping_env.client
    queue = f"esc-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, own_engine, queue):
        # Monday 8 March 2032, 09:00 in Hanoi.
        workflow_id, session_id, deadline, scheduled = await reach_scheduled_stage(
            skipping_env, queue, body, datetime(2032, 3, 8, 2, 0, tzinfo=UTC)
        )
        seen = len(scheduled.transitions)
        await move_clock_to(skipping_env, deadline - timedelta(hours=1))
        await asyncio.sleep(0.3)
        assert len((await status(client, workflow_id)).transitions) == seen  # not before the deadline

        await move_clock_to(skipping_env, deadline + timedelta(minutes=1))
        await settled(client, workflow_id, after=seen)
        await assert_escalated_once(client, own_engine, workflow_id, stage, deadline, party, head)
        assert (await session_status(client, session_id)).phase == SessionPhase.AWAITING_CHAIR


@pytest.mark.parametrize("body", sorted(BODIES))
async def test_escalation_reaches_the_head_of_the_body_once_when_the_stage_wait_restarts(
    skipping_env: WorkflowEnvironment, own_engine: AsyncEngine, body: str
):
    """The same deadline, with the nomination's wait re-armed by a transition after the session's deadline
    reached it (an instant hold and release): the escalation, its record and its notifications."""
    from worker import build_worker

    _, _, _, stage, party, head = BODIES[body]
    client = skipping_env.client
    queue = f"esc-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, own_engine, queue):
        # Tuesday 9 November 2032, 10:00 in Hanoi.
        workflow_id, session_id, deadline, _ = await reach_scheduled_stage(
            skipping_env, queue, body, datetime(2032, 11, 9, 3, 0, tzinfo=UTC)
        )
        await act(client, workflow_id, "hold", HOLD)
        await act(client, workflow_id, "release", RELEASE)
        released = await status(client, workflow_id)
        assert released.transitions[-1].action == "RELEASE"
        held_since, held_until = released.transitions[-2].occurred_at, released.transitions[-1].occurred_at
        calendar = policy_set(released.policy_version).calendar.working_calendar()
        due = calendar.resume_after_hold(deadline, held_since, held_until)  # a hold within the day: unchanged
        assert due == deadline
        assert released.due_at == due and await stage_due_at(client, workflow_id) == due
        seen = len(released.transitions)

        await move_clock_to(skipping_env, due - timedelta(minutes=30))
        await asyncio.sleep(0.3)
        assert len((await status(client, workflow_id)).transitions) == seen  # not before the deadline

        await move_clock_to(skipping_env, due + timedelta(minutes=1))
        await settled(client, workflow_id, after=seen)
        await assert_escalated_once(client, own_engine, workflow_id, stage, due, party, head)
        assert (await session_status(client, session_id)).phase == SessionPhase.AWAITING_CHAIR

        await move_clock_to(skipping_env, due + timedelta(days=3))  # told once, not again and again
        await asyncio.sleep(0.3)
        await assert_escalated_once(client, own_engine, workflow_id, stage, due, party, head)

        # The chair extends the session: its new deadline reaches the nomination as its due date.
        extended = (await skipping_env.get_current_time()) + timedelta(days=2)
        await chair_action(client, session_id, "extend", ChairAction(actor=head, new_deadline=extended))
        await assert_due(client, workflow_id, extended)


async def test_an_extension_while_voting_moves_the_nominations_due_date(
    skipping_env: WorkflowEnvironment, own_engine: AsyncEngine
):
    from worker import build_worker

    client = skipping_env.client
    queue = f"esc-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, own_engine, queue):
        # Monday 7 March 2033, 09:00 in Hanoi.
        workflow_id, session_id, deadline, _ = await reach_scheduled_stage(
            skipping_env, queue, "council", datetime(2033, 3, 7, 2, 0, tzinfo=UTC)
        )
        extended = deadline + timedelta(days=3)
        voting = await chair_action(
            client, session_id, "extend", ChairAction(actor=COUNCIL_CHAIR, new_deadline=extended)
        )
        assert voting.phase == SessionPhase.VOTING and voting.deadline == extended
        await assert_due(client, workflow_id, extended)
