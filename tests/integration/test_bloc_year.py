"""The bloc year's workflow on the time-skipping server and a PostgreSQL database of each test's own (the shipped
roster with the bloc's eight members and a representative for each, config/roster-bloc-NOI_CHINH.json): the
validators refuse the wrong phase, the wrong person, a second signature, a representative acting for another
member, and leave the history clean; the pledge signed by all runs the year; a member that misses the deadline
is reminded before it and scored as the table says; the panel's adjustment with its reason changes the
standings; on 1 January the roster's bloc-head role moves and next year's bloc year opens in DRAFT."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from client.bloc_year import BlocYearRefused, publish_pledge
from domain.bloc.policy import bloc_scoring_policy_for
from domain.bloc.rotation import BlocLeadership
from domain.bloc.scoring import SelfAssessment
from domain.bloc.year import (
    AdjustScore,
    BlocYearClock,
    BlocYearPhase,
    BlocYearStart,
    BlocYearStatus,
    CallForAssessments,
    CloseReview,
    ElectionMethod,
    OpenHonouring,
    PublishPledge,
    RecordElection,
    SignPledge,
    SubmitAssessment,
    bloc_year_id,
)
from domain.roster import Roster
from store.db import create_engine
from store.roster import load_roster
from tests.integration.conftest import ROOT
from tests.integration.fresh_database import fresh_database
from workflows.bloc_year import BlocYearWorkflow
from workflows.search_attributes import BLOC_YEAR_PHASE

pytestmark = pytest.mark.integration

BLOC = "NOI_CHINH"
YEAR = 2026  # the dev machine's year: the handover on 1 January 2027 lies ahead of the server's clock
HEAD = "tandtc.khoi.truong"
REPS = {
    "BCA": "bca.khoi.dai-dien",
    "BTP": "btp.khoi.dai-dien",
    "TANDTC": HEAD,
    "VKSNDTC": "vksndtc.khoi.dai-dien",
    "TTCP": "ttcp.khoi.dai-dien",
    "KTNN": "ktnn.khoi.dai-dien",
    "TCCT": "tcct.khoi.dai-dien",
    "BTLBVL": "btlbvl.khoi.dai-dien",
}
LEADERSHIP = BlocLeadership(bloc=BLOC, year=YEAR, head="TANDTC", deputy="VKSNDTC")
POLICY = bloc_scoring_policy_for(BLOC, YEAR)


@pytest.fixture
async def bloc_engine() -> AsyncIterator[AsyncEngine]:
    """A database of the test's own: the shipped roster, then the bloc's members and their representatives."""
    async with fresh_database("tdkt_bloc") as url:
        engine = create_engine(url)
        extra = json.loads((ROOT / "config" / "roster-bloc-NOI_CHINH.json").read_text(encoding="utf-8"))
        await load_roster(engine, Roster.model_validate(extra))
        try:
            yield engine
        finally:
            await engine.dispose()


async def start_year(client: Client, queue: str, clock: BlocYearClock | None = None) -> WorkflowHandle[Any, Any]:
    start = BlocYearStart(bloc=BLOC, year=YEAR, leadership=LEADERSHIP, opened_by=HEAD, clock=clock or BlocYearClock())
    return await client.start_workflow(BlocYearWorkflow.run, start, id=bloc_year_id(BLOC, YEAR), task_queue=queue)


async def status_of(handle: WorkflowHandle[Any, Any]) -> BlocYearStatus:
    return await handle.query(BlocYearWorkflow.status)


async def wait_phase(handle: WorkflowHandle[Any, Any], phase: BlocYearPhase, timeout: float = 30.0) -> BlocYearStatus:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        current = await status_of(handle)
        # The roster snapshot loads as the year opens: its members show once it has.
        if (current.phase == phase and current.members) or asyncio.get_running_loop().time() > deadline:
            assert current.phase == phase, f"{handle.id}: {current.phase} instead of {phase}"
            return current
        await asyncio.sleep(0.1)


async def refused(coro: Any, *fragments: str) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await coro
    message = str(caught.value.cause)
    for fragment in fragments:
        assert fragment in message, message
    return message


def assessment(member: str, points: str | None = None) -> SelfAssessment:
    """Every criterion at its maximum (or `points`), each with a document reference as evidence."""
    scores = {
        code: {"points": points or str(c.max_points), "evidence": [{"reference": f"{code}/{member}/{YEAR}"}]}
        for code, c in POLICY.criteria.items()
    }
    return SelfAssessment.model_validate(
        {"member": member, "year": YEAR, "policy_version": POLICY.version, "scores": scores}
    )


async def sign_all(handle: WorkflowHandle[Any, Any]) -> None:
    for member, rep in REPS.items():
        await handle.execute_update(BlocYearWorkflow.sign_pledge, SignPledge(actor=rep, member=member))


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(sa.text(sql), params)).all())


async def test_the_validators_refuse_and_the_pledge_signed_by_all_runs_the_year(
    skipping_env: WorkflowEnvironment, bloc_engine: AsyncEngine
):
    from worker import build_worker

    client = skipping_env.client
    queue = f"bloc-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, bloc_engine, queue):
        handle = await start_year(client, queue)
        draft = await wait_phase(handle, BlocYearPhase.DRAFT)
        assert len(draft.members) == 8 and draft.leadership == LEADERSHIP
        await refused(
            handle.execute_update(BlocYearWorkflow.sign_pledge, SignPledge(actor=REPS["BTP"], member="BTP")),
            "«Chuẩn bị giao ước thi đua»",
        )
        await refused(
            handle.execute_update(BlocYearWorkflow.publish_pledge, PublishPledge(actor=REPS["BTP"])),
            "actor: ",
            "BLOC_HEAD",
        )
        published = await handle.execute_update(BlocYearWorkflow.publish_pledge, PublishPledge(actor=HEAD))
        assert published.phase == BlocYearPhase.PLEDGE and published.policy_version == POLICY.version
        await refused(
            handle.execute_update(BlocYearWorkflow.sign_pledge, SignPledge(actor=REPS["BTP"], member="KTNN")),
            "không phải của KTNN (member)",
        )
        await handle.execute_update(BlocYearWorkflow.sign_pledge, SignPledge(actor=REPS["BTP"], member="BTP"))
        await refused(
            handle.execute_update(BlocYearWorkflow.sign_pledge, SignPledge(actor=REPS["BTP"], member="BTP")),
            "member: đơn vị BTP đã ký giao ước thi đua năm 2026",
        )
        await refused(
            handle.execute_update(BlocYearWorkflow.call_for_assessments, CallForAssessments(actor=HEAD)),
            "«Ký kết giao ước thi đua»",
        )
        for member, rep in REPS.items():
            if member != "BTP":
                last = await handle.execute_update(BlocYearWorkflow.sign_pledge, SignPledge(actor=rep, member=member))
        assert last.phase == BlocYearPhase.IN_YEAR and len(last.signatures) == 8

        # The refused updates left no trace: only the accepted ones are in the history.
        history = await handle.fetch_history()
        accepted = [
            e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        ]
        assert len(accepted) == 1 + 8
        described = await handle.describe()
        assert described.typed_search_attributes.get(BLOC_YEAR_PHASE) == "IN_YEAR"

    workflow_id = bloc_year_id(BLOC, YEAR)
    year_rows = await rows(
        bloc_engine, "SELECT phase, policy_version, last_step FROM bloc_years WHERE workflow_id = :w", w=workflow_id
    )
    assert [tuple(r) for r in year_rows] == [("IN_YEAR", POLICY.version, 10)]  # opened, published, 8 signatures
    signatures = await rows(
        bloc_engine, "SELECT member, actor FROM bloc_pledge_signatures WHERE workflow_id = :w", w=workflow_id
    )
    assert {r.member: r.actor for r in signatures} == REPS
    audit = await rows(bloc_engine, "SELECT action FROM audit_log WHERE workflow_id = :w ORDER BY seq", w=workflow_id)
    assert [r.action for r in audit] == ["BLOC_YEAR_OPENED", "PUBLISH_PLEDGE"] + ["SIGN_PLEDGE"] * 8
    asked = await rows(bloc_engine, "SELECT party FROM notifications WHERE workflow_id = :w AND seq = 2", w=workflow_id)
    assert {r.party for r in asked} == {f"BLOC_REPRESENTATIVE:{rep}" for rep in REPS.values()}


async def test_a_late_member_is_reminded_and_scored_per_policy_and_an_adjustment_changes_the_standings(
    skipping_env: WorkflowEnvironment, bloc_engine: AsyncEngine
):
    from worker import build_worker

    client = skipping_env.client
    queue = f"bloc-{uuid.uuid4().hex[:8]}"
    clock = BlocYearClock(assessment_seconds=3 * 86400, reminder_seconds_before=86400)
    async with build_worker(client, bloc_engine, queue):
        handle = await start_year(client, queue, clock)
        await wait_phase(handle, BlocYearPhase.DRAFT)
        await handle.execute_update(BlocYearWorkflow.publish_pledge, PublishPledge(actor=HEAD))
        await sign_all(handle)
        called = await handle.execute_update(BlocYearWorkflow.call_for_assessments, CallForAssessments(actor=HEAD))
        assert called.assessment_deadline is not None and called.reminder_at is not None
        assert called.assessment_deadline - called.reminder_at == timedelta(days=1)
        for member in ("BCA", "BTP", "TANDTC", "VKSNDTC", "TTCP", "KTNN", "TCCT"):
            points = None if member in ("BCA", "BTP") else "1"
            await handle.execute_update(
                BlocYearWorkflow.submit_assessment,
                SubmitAssessment(actor=REPS[member], assessment=assessment(member, points)),
            )
        await refused(
            handle.execute_update(
                BlocYearWorkflow.submit_assessment, SubmitAssessment(actor=REPS["BTP"], assessment=assessment("BTP"))
            ),
            "assessment.member: đơn vị BTP đã nộp bản tự chấm điểm",
        )
        assert (await status_of(handle)).reminded == ()

        await skipping_env.sleep(timedelta(days=2, hours=1))  # past the reminder, before the deadline
        reminded = await status_of(handle)
        assert reminded.phase == BlocYearPhase.SELF_ASSESSMENT and reminded.reminded == ("BTLBVL",)
        await skipping_env.sleep(timedelta(days=1))  # past the deadline
        review = await wait_phase(handle, BlocYearPhase.REVIEW)
        assert review.late == ("BTLBVL",)
        await refused(
            handle.execute_update(
                BlocYearWorkflow.submit_assessment,
                SubmitAssessment(actor=REPS["BTLBVL"], assessment=assessment("BTLBVL")),
            ),
            "«Chấm chéo, thẩm định điểm»",
        )

        adjustment = {
            "kind": "CRITERION",
            "member": "BTP",
            "code": "NV1",
            "points": "20",
            "reason": "Chấm chéo: minh chứng NV1 chưa đủ",
        }
        await refused(
            handle.execute_update(BlocYearWorkflow.adjust_score, AdjustScore(actor=REPS["BCA"], adjustment=adjustment)),
            "actor: ",
            "tổ chấm chéo",
        )
        adjusted = await handle.execute_update(
            BlocYearWorkflow.adjust_score, AdjustScore(actor=REPS["VKSNDTC"], adjustment=adjustment)
        )
        assert len(adjusted.adjustments) == 1
        closed = await handle.execute_update(BlocYearWorkflow.close_review, CloseReview(actor=HEAD))
        assert closed.phase == BlocYearPhase.HONOURING and closed.standings is not None
        rows_by_member = {row.member: row for row in closed.standings.rows}
        # Without the adjustment BCA and BTP would share the first rank on 100; BTP's NV1 at 20 puts it second.
        assert rows_by_member["BCA"].rank == 1 and not rows_by_member["BCA"].tied
        assert rows_by_member["BTP"].rank == 2 and rows_by_member["BTP"].total == Decimal(95)
        late = next(card for card in closed.scorecards if card.member == "BTLBVL")
        assert not late.submitted and late.ranked and late.total == 0  # the table's ZERO for no submission

    workflow_id = bloc_year_id(BLOC, YEAR)
    reminders = await rows(
        bloc_engine,
        "SELECT n.party FROM notifications n JOIN audit_log a ON a.workflow_id = n.workflow_id AND a.seq = n.seq "
        "WHERE n.workflow_id = :w AND a.action = 'ASSESSMENT_REMINDER'",
        w=workflow_id,
    )
    assert [r.party for r in reminders] == ["BLOC_REPRESENTATIVE:btlbvl.khoi.dai-dien"]
    stored = await rows(
        bloc_engine, "SELECT member, content_sha256 FROM bloc_self_assessments WHERE workflow_id = :w", w=workflow_id
    )
    assert len(stored) == 7 and all(len(r.content_sha256) == 64 for r in stored)
    adjusted_rows = await rows(
        bloc_engine,
        "SELECT member, code, reason, actor FROM bloc_score_adjustments WHERE workflow_id = :w",
        w=workflow_id,
    )
    assert [tuple(r) for r in adjusted_rows] == [("BTP", "NV1", "Chấm chéo: minh chứng NV1 chưa đủ", REPS["VKSNDTC"])]
    cards = await rows(
        bloc_engine,
        "SELECT member, rank, total FROM bloc_scorecards WHERE workflow_id = :w ORDER BY member",
        w=workflow_id,
    )
    by_member = {r.member: r for r in cards}
    assert (by_member["BCA"].rank, by_member["BTP"].rank, by_member["BTLBVL"].total) == (1, 2, Decimal(0))


async def test_on_new_years_day_the_head_role_moves_and_next_years_bloc_year_opens(
    skipping_env: WorkflowEnvironment, bloc_engine: AsyncEngine
):
    from worker import build_worker

    client = skipping_env.client
    queue = f"bloc-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, bloc_engine, queue):
        handle = await start_year(client, queue, BlocYearClock(assessment_seconds=60))
        await wait_phase(handle, BlocYearPhase.DRAFT)
        await handle.execute_update(BlocYearWorkflow.publish_pledge, PublishPledge(actor=HEAD))
        await sign_all(handle)
        await handle.execute_update(BlocYearWorkflow.call_for_assessments, CallForAssessments(actor=HEAD))
        await skipping_env.sleep(timedelta(minutes=2))  # nobody submitted: every member scores zero
        review = await wait_phase(handle, BlocYearPhase.REVIEW)
        assert len(review.late) == 8
        await handle.execute_update(BlocYearWorkflow.close_review, CloseReview(actor=HEAD))
        now = await skipping_env.get_current_time()
        # No member reaches a tier's minimum: each tier's vote has no candidate, and so no session.
        for _ in POLICY.honours:
            opened = await handle.execute_update(
                BlocYearWorkflow.open_honouring,
                OpenHonouring(actor=HEAD, deadline=now + timedelta(days=1), meeting_ref=f"HN-{uuid.uuid4().hex[:6]}"),
            )
            assert opened.tiers[-1].candidates == () and opened.tiers[-1].session_id is None
        await wait_phase(handle, BlocYearPhase.ELECTION)
        await refused(
            handle.execute_update(
                BlocYearWorkflow.record_election, RecordElection(actor=HEAD, method=ElectionMethod.ROTATION, head="BCA")
            ),
            "head: theo thứ tự luân phiên, Khối trưởng năm 2027 là VKSNDTC",
        )
        elected = await handle.execute_update(
            BlocYearWorkflow.record_election, RecordElection(actor=HEAD, method=ElectionMethod.ROTATION)
        )
        assert elected.phase == BlocYearPhase.HANDOVER
        assert elected.next_leadership == BlocLeadership(bloc=BLOC, year=2027, head="VKSNDTC", deputy="TTCP")

        # Still 2026 in Hanoi: the head's role has not moved.
        heads = "SELECT actor_id FROM actor_roles WHERE role = 'BLOC_HEAD' AND scope = :b ORDER BY actor_id"
        assert [r.actor_id for r in await rows(bloc_engine, heads, b=BLOC)] == [HEAD]
        new_year = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)  # 1 January 2027, 00:00 in Hanoi
        await skipping_env.sleep(new_year - await skipping_env.get_current_time() - timedelta(minutes=1))
        assert (await status_of(handle)).phase == BlocYearPhase.HANDOVER
        await skipping_env.sleep(timedelta(minutes=2))
        # The clock stands still from here: next year's workflow waits for people, and a skipping server would run
        # on to whatever timeout it gives a child workflow.
        with skipping_env.auto_time_skipping_disabled():
            final = await handle.result()  # no proposal to follow: the year closes
            assert final.phase == BlocYearPhase.CLOSED and final.next_year_id == bloc_year_id(BLOC, 2027)
            assert final.flag_out is not None and (final.flag_out.from_member, final.flag_out.to_member) == (
                "TANDTC",
                "VKSNDTC",
            )

            assert [r.actor_id for r in await rows(bloc_engine, heads, b=BLOC)] == [REPS["VKSNDTC"]]
            head_ministry = await rows(bloc_engine, "SELECT head_ministry FROM blocs WHERE code = :b", b=BLOC)
            assert head_ministry[0].head_ministry == "VKSNDTC"
            flags = await rows(bloc_engine, "SELECT year, from_member, to_member FROM bloc_flag_handovers")
            assert [tuple(r) for r in flags] == [(2027, "TANDTC", "VKSNDTC")]

            following = client.get_workflow_handle(bloc_year_id(BLOC, 2027))
            next_year = await wait_phase(following, BlocYearPhase.DRAFT)
            assert next_year.leadership == BlocLeadership(bloc=BLOC, year=2027, head="VKSNDTC", deputy="TTCP")
            assert next_year.flag_in == final.flag_out
            # The roster moved in the database: the old head may no longer publish (the client reads the roster and
            # sends nothing; the time-skipping server cannot report a rejected update's outcome reliably, and the
            # workflow's own validator is tested in the first test), the new one may.
            with pytest.raises(BlocYearRefused) as not_head:
                await publish_pledge(client, bloc_engine, following.id, HEAD)
            assert "BLOC_HEAD" in str(not_head.value) and "nothing was sent" in str(not_head.value)
            published = await publish_pledge(client, bloc_engine, following.id, REPS["VKSNDTC"])
            assert published.phase == BlocYearPhase.PLEDGE
            previous = await rows(
                bloc_engine,
                "SELECT previous_year_id FROM bloc_years WHERE workflow_id = :w",
                w=bloc_year_id(BLOC, 2027),
            )
            assert previous[0].previous_year_id == bloc_year_id(BLOC, YEAR)


async def test_honouring_proposes_through_a_bloc_vote_over_the_tiers_candidates(
    skipping_env: WorkflowEnvironment, bloc_engine: AsyncEngine
):
    """The leading member is the first tier's only candidate: its proposal nomination starts on the bloc's
    route, the bloc's secret ballot over exactly it passes it, it moves on to the central board; the next tier
    has no member at its minimum; the year goes on to the election while it follows the proposal."""
    from client.ballots import cast, session_status
    from client.nominations import status as nomination_status
    from domain.ballot_messages import SessionPhase
    from domain.ballots import Choice
    from domain.stages import Stage
    from tests.integration.helpers import count_now, enroll_counting_keys, wait_for_stage
    from worker import build_worker

    await enroll_counting_keys(bloc_engine, [rep for rep in REPS.values() if rep != HEAD])
    client = skipping_env.client
    queue = f"bloc-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, bloc_engine, queue):
        handle = await start_year(client, queue, BlocYearClock(assessment_seconds=3600))
        await wait_phase(handle, BlocYearPhase.DRAFT)
        await handle.execute_update(BlocYearWorkflow.publish_pledge, PublishPledge(actor=HEAD))
        await sign_all(handle)
        await handle.execute_update(BlocYearWorkflow.call_for_assessments, CallForAssessments(actor=HEAD))
        for member in REPS:
            points = None if member == "BCA" else "1"
            await handle.execute_update(
                BlocYearWorkflow.submit_assessment,
                SubmitAssessment(actor=REPS[member], assessment=assessment(member, points)),
            )
        await wait_phase(handle, BlocYearPhase.REVIEW)  # everyone submitted: the review need not wait
        await handle.execute_update(BlocYearWorkflow.close_review, CloseReview(actor=HEAD))
        now = await skipping_env.get_current_time()
        opened = await handle.execute_update(
            BlocYearWorkflow.open_honouring,
            OpenHonouring(actor=HEAD, deadline=now + timedelta(days=1), meeting_ref="HN-SUYTON-2026"),
        )
        tier = opened.tiers[0]
        assert (tier.award_form, tier.candidates, tier.seats) == ("CO_THI_DUA_CP", ("BCA",), 1)
        proposal = tier.nominations["BCA"]
        assert proposal == "nomination-2026-BCA-SUYTON-NOI_CHINH-2026-CO_THI_DUA_CP"
        assert tier.session_id == "ballot-bloc-NOI_CHINH-HN-SUYTON-2026"
        await wait_for_stage(client, proposal, Stage.BLOC_VOTE)
        session = None
        for _ in range(300):
            try:
                session = await session_status(client, tier.session_id)
            except Exception:  # not started yet
                session = None
            if session is not None and session.phase == SessionPhase.VOTING:
                break
            await asyncio.sleep(0.1)
        assert session is not None and session.phase == SessionPhase.VOTING
        assert [c.workflow_id for c in session.candidates] == [proposal]
        for member, rep in REPS.items():
            if member != "BCA":  # a member does not vote on its own proposal
                await cast(client, tier.session_id, rep, {proposal: Choice.FOR})
        await skipping_env.sleep(timedelta(days=1, minutes=1))  # the deadline, with a quorum of ballots
        closed = await count_now(client, bloc_engine, tier.session_id)
        assert closed.phase == SessionPhase.CLOSED
        assert (await wait_for_stage(client, proposal, Stage.CENTRAL_REVIEW)).stage == Stage.CENTRAL_REVIEW

        voted = await wait_phase(handle, BlocYearPhase.HONOURING)
        for _ in range(100):
            voted = await status_of(handle)
            if voted.tiers[0].proposed:
                break
            await asyncio.sleep(0.1)
        assert voted.tiers[0].proposed == ("BCA",)
        second = await handle.execute_update(
            BlocYearWorkflow.open_honouring,
            OpenHonouring(actor=HEAD, deadline=now + timedelta(days=3), meeting_ref="HN-SUYTON-2026-2"),
        )
        assert second.tiers[1].award_form == "BANG_KHEN_TTG" and second.tiers[1].candidates == ()
        election = await wait_phase(handle, BlocYearPhase.ELECTION)
        assert election.tiers[0].settled == {}  # the proposal goes on: the year follows it
        assert (await nomination_status(client, proposal)).stage == Stage.CENTRAL_REVIEW


async def test_a_year_carried_over_goes_on_where_it_stood(skipping_env: WorkflowEnvironment, bloc_engine: AsyncEngine):
    """What continue-as-new hands the next run: the record as it stood (here: pledge signed by all), taken up
    without opening the year again, its steps numbered on."""
    from domain.bloc.year import bloc_roster
    from domain.bloc.year_state import BlocYearState
    from worker import build_worker

    roster = Roster.model_validate(json.loads((ROOT / "config" / "roster.json").read_text(encoding="utf-8")))
    extra = Roster.model_validate(
        json.loads((ROOT / "config" / "roster-bloc-NOI_CHINH.json").read_text(encoding="utf-8"))
    )
    known = {m.code for m in roster.ministries}
    whole = roster.model_copy(
        update={
            "ministries": roster.ministries + tuple(m for m in extra.ministries if m.code not in known),
            "actors": roster.actors + extra.actors,
        }
    )
    first = BlocYearStart(bloc=BLOC, year=YEAR, leadership=LEADERSHIP, opened_by=HEAD)
    state = BlocYearState.opening(bloc_year_id(BLOC, YEAR), first)
    state.set_roster(bloc_roster(whole, BLOC))
    now = datetime.now(UTC)
    state.opened(now)
    state.publish(PublishPledge(actor=HEAD), now)
    for member, rep in REPS.items():
        state.sign(SignPledge(actor=rep, member=member), now)
    assert state.phase == BlocYearPhase.IN_YEAR and state.r.step == 10

    client = skipping_env.client
    queue = f"bloc-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, bloc_engine, queue):
        handle = await client.start_workflow(
            BlocYearWorkflow.run,
            first.model_copy(update={"carried": state.r}),
            id=bloc_year_id(BLOC, YEAR),
            task_queue=queue,
        )
        carried = await wait_phase(handle, BlocYearPhase.IN_YEAR)
        assert len(carried.signatures) == 8
        called = await handle.execute_update(BlocYearWorkflow.call_for_assessments, CallForAssessments(actor=HEAD))
        assert called.phase == BlocYearPhase.SELF_ASSESSMENT
    audit = await rows(
        bloc_engine, "SELECT seq, action FROM audit_log WHERE workflow_id = :w ORDER BY seq", w=bloc_year_id(BLOC, YEAR)
    )
    assert [tuple(r) for r in audit] == [(11, "CALL_FOR_ASSESSMENTS")]  # not opened again; step 11 follows 10
