"""The bloc's own proposals between the parts, against a real Temporal server and PostgreSQL:

* its people read a bloc proposal of a form whose usual route has no bloc vote (Bằng khen của Thủ tướng), by
  the status, the register and the lists; the member's own staff and the central board read it, another
  ministry's staff do not;
* returned by the central board, it goes back to whoever proposed it: the bloc head resubmits or withdraws
  it, the member's staff may not; as it ends it tells its origin's bloc year, and ends cleanly when that year
  does not exist;
* the bloc year learns each proposal's end by that signal (a year carried over by continue-as-new, which never
  started the nomination, closes on it);
* an honouring session cancelled by its chair voids its tier: the head re-opens the tier's vote under a new
  meeting reference over the same nomination, which the new vote passes; the year closes once it has ended.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from client import access
from client.ballots import cast, chair_action, open_session, session_status
from client.nominations import NominationNotFound, start_nomination, status
from domain.ballot_messages import ChairAction, SessionPhase, SessionStatus
from domain.ballots import Choice
from domain.bloc.rotation import BlocLeadership
from domain.bloc.year import (
    BlocYearClock,
    BlocYearPhase,
    BlocYearRecord,
    BlocYearStart,
    BlocYearStatus,
    CallForAssessments,
    CloseReview,
    ElectionMethod,
    HonourTierOutcome,
    OpenHonouring,
    PublishPledge,
    RecordElection,
    SignPledge,
    SubmitAssessment,
    bloc_year_id,
)
from domain.messages import ReasonedAction, Resubmission
from domain.nomination import Nomination
from domain.roster import Role, Roster
from domain.stages import Stage
from store.db import create_engine
from store.migrate import alembic_config, upgrade_to_head
from store.roster import load_roster
from store.schema import metadata, nominations
from tests.factories import current_year, nomination_data
from tests.integration.conftest import ROOT
from tests.integration.fresh_database import fresh_database
from tests.integration.helpers import (
    SHIPPED_ROSTER,
    count_now,
    enroll_counting_keys,
    nomination_row,
    wait_for_stage,
    wait_session_phase,
)
from tests.integration.test_bloc_honouring import honouring_start
from workflows.ballot_session import BallotSessionWorkflow
from workflows.bloc_year import BlocYearWorkflow
from workflows.nomination import NominationWorkflow
from workflows.search_attributes import AWAITING_ROLE, ORIGIN_BLOC

pytestmark = pytest.mark.integration

BLOC, HEAD = "NOI_CHINH", "tandtc.khoi.truong"
BTP_REP, KTNN_REP = "btp.khoi.dai-dien", "ktnn.khoi.dai-dien"
VKS_STAFF, KTNN_STAFF = "vksndtc.vutckt.tran-minh-quan", "ktnn.vutckt.hoang-anh"
CENTRAL = "tw.ban-tdkt.can-bo-1"
MEMBER_NAMES = {m.code: m.name for m in SHIPPED_ROSTER.ministries}


def bloc_proposal(member: str, award_form: str, year: int, year_id: str) -> Nomination:
    """The bloc's own proposal of `member` as a whole, by the bloc head, for the bloc year `year_id`."""
    data = nomination_data(
        award_form,
        year=year,
        ministry=member,
        proposer=HEAD,
        reference=f"{uuid.uuid4().hex[:6]}/SUYTON-{member}",
        nominee={"kind": "COLLECTIVE", "name": MEMBER_NAMES[member]},
        origin={"bloc": BLOC, "year": year, "bloc_year_id": year_id},
    )
    return Nomination.model_validate(data)


async def refused(coro: Any, *fragments: str) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await coro
    message = str(caught.value.cause)
    for fragment in fragments:
        assert fragment in message, message
    return message


async def event_types(client: Client, workflow_id: str) -> list[EventType.ValueType]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [event.event_type for event in history.events]


async def eventually(check: Any, timeout: float = 20.0) -> Any:
    """Poll `check()` (a coroutine function) until it returns something truthy; that value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await check()
        if found or asyncio.get_running_loop().time() > deadline:
            assert found, "condition not met in time"
            return found
        await asyncio.sleep(0.2)


# ---- reading, returns, and the end told to a bloc year that is not there (the dev server) ------------------


async def test_a_bloc_proposal_is_read_by_its_bloc_and_answered_by_its_head_when_returned(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    year = current_year()
    missing_year = f"bloc-year-{BLOC}-{year}-khong-co-{uuid.uuid4().hex[:6]}"  # no such bloc year runs
    nomination = bloc_proposal("VKSNDTC", "BANG_KHEN_TTG", year, missing_year)
    handle = await start_nomination(client, nomination, task_queue, engine=db_engine)
    wf = handle.id
    waiting = await wait_for_stage(client, wf, Stage.BLOC_VOTE)
    assert waiting.origin_bloc == BLOC and waiting.bloc == BLOC

    # Reading: the status as each reader may read it.
    for reader in (HEAD, BTP_REP, VKS_STAFF, CENTRAL):
        scope = await access.reader_scope(db_engine, reader)
        assert (await access.nomination_status(client, scope, wf)).workflow_id == wf, reader
    for reader in (KTNN_STAFF, "nguoi.la.khong-co"):
        scope = await access.reader_scope(db_engine, reader)
        with pytest.raises(access.ReadRefused, match="may not read nomination"):
            await access.nomination_status(client, scope, wf)
    # The register: its row names the origin; the bloc's reader is given it, another ministry's staff not.
    row = await nomination_row(db_engine, wf)
    assert row is not None and row["origin_bloc"] == BLOC and row["award_form"] == "BANG_KHEN_TTG"
    rep_scope = await access.reader_scope(db_engine, BTP_REP)
    assert await access.readable_workflow_ids(db_engine, rep_scope, [wf], {}) == {wf}
    ktnn_scope = await access.reader_scope(db_engine, KTNN_STAFF)
    assert await access.readable_workflow_ids(db_engine, ktnn_scope, [wf], {}) == set()
    # The lists (Temporal's visibility, by OriginBloc).
    described = await handle.describe()
    assert described.typed_search_attributes.get(ORIGIN_BLOC) == BLOC

    async def listed_for_rep() -> bool:
        rows = await access.list_nominations(client, rep_scope, ministry="VKSNDTC", year=year)
        return wf in {r["workflow_id"] for r in rows}

    assert await eventually(listed_for_rep)
    ktnn_rows = await access.list_nominations(client, ktnn_scope, ministry="VKSNDTC", year=year)
    assert wf not in {r["workflow_id"] for r in ktnn_rows}

    # The bloc's vote (a closed-list session over it) passes it to the central board.
    session = await open_session(client, task_queue, honouring_start([wf], 1), engine=db_engine)
    await wait_session_phase(client, session.id, lambda s: s.phase == SessionPhase.VOTING and s.keys is not None)
    for voter in (HEAD, BTP_REP, KTNN_REP):
        await cast(client, session.id, voter, {wf: Choice.FOR})
    await count_now(client, db_engine, session.id)
    await wait_for_stage(client, wf, Stage.CENTRAL_REVIEW)

    # Returned: it goes back to the bloc head who proposed it, not to the member's staff.
    await handle.execute_update(
        NominationWorkflow.return_dossier, ReasonedAction(actor=CENTRAL, reason="Bổ sung báo cáo thành tích")
    )
    returned = await wait_for_stage(client, wf, Stage.RETURNED)
    assert returned.waiting_for_vi
    assert (await handle.describe()).typed_search_attributes.get(AWAITING_ROLE) == Role.BLOC_HEAD.value
    await refused(
        handle.execute_update(NominationWorkflow.resubmit, Resubmission(actor=VKS_STAFF, nomination=nomination)),
        "RESUBMIT",
        "BLOC_HEAD for NOI_CHINH",
    )
    await refused(
        handle.execute_update(NominationWorkflow.withdraw, ReasonedAction(actor=VKS_STAFF, reason="Rút")),
        "WITHDRAW",
        "BLOC_HEAD for NOI_CHINH",
    )
    receipt = await handle.execute_update(NominationWorkflow.resubmit, Resubmission(actor=HEAD, nomination=nomination))
    assert receipt.stage == Stage.CENTRAL_REVIEW
    await handle.execute_update(
        NominationWorkflow.return_dossier, ReasonedAction(actor=CENTRAL, reason="Thiếu biên bản kiểm phiếu")
    )
    await wait_for_stage(client, wf, Stage.RETURNED)
    withdrawn = await handle.execute_update(
        NominationWorkflow.withdraw, ReasonedAction(actor=HEAD, reason="Khối không đề nghị nữa")
    )
    assert withdrawn.stage == Stage.WITHDRAWN

    # Its end was told to its origin's bloc year, which is not there: tolerated, the nomination completes.
    final = await handle.result()
    assert final.stage == Stage.WITHDRAWN
    events = await event_types(client, wf)
    assert EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED in events
    assert EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED in events
    assert events[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    actors = [(t.action, t.actor) for t in final.transitions if t.action in ("RESUBMIT", "WITHDRAW")]
    assert actors == [("RESUBMIT", HEAD), ("WITHDRAW", HEAD)]


# ---- the bloc year on the time-skipping server ----------------------------------------------------------------

YEAR = current_year()
REPS = {
    "BCA": "bca.khoi.dai-dien",
    "BTP": BTP_REP,
    "TANDTC": HEAD,
    "VKSNDTC": "vksndtc.khoi.dai-dien",
    "TTCP": "ttcp.khoi.dai-dien",
    "KTNN": KTNN_REP,
    "TCCT": "tcct.khoi.dai-dien",
    "BTLBVL": "btlbvl.khoi.dai-dien",
}
LEADERSHIP = BlocLeadership(bloc=BLOC, year=YEAR, head="TANDTC", deputy="VKSNDTC")


@pytest.fixture
async def bloc_engine() -> AsyncIterator[AsyncEngine]:
    """A database of the test's own: the shipped roster, then the bloc's members and their representatives."""
    async with fresh_database("tdkt_bloc_gaps") as url:
        engine = create_engine(url)
        extra = json.loads((ROOT / "config" / "roster-bloc-NOI_CHINH.json").read_text(encoding="utf-8"))
        await load_roster(engine, Roster.model_validate(extra))
        try:
            yield engine
        finally:
            await engine.dispose()


async def session_until(client: Client, session_id: str, done: Any, timeout: float = 30.0) -> SessionStatus:
    """wait_session_phase for a session the bloc year starts: not found until its child has started."""

    async def check() -> SessionStatus | None:
        try:
            current = await session_status(client, session_id)
        except NominationNotFound:
            return None
        return current if done(current) else None

    return await eventually(check, timeout)


async def year_status(handle: WorkflowHandle[Any, Any]) -> BlocYearStatus:
    return await handle.query(BlocYearWorkflow.status)


async def year_until(handle: WorkflowHandle[Any, Any], done: Any, timeout: float = 30.0) -> BlocYearStatus:
    async def check() -> BlocYearStatus | None:
        current = await year_status(handle)
        return current if done(current) else None

    return await eventually(check, timeout)


async def run_id_of(client: Client, workflow_id: str) -> str:
    """The latest run's id, from the raw description (the time-skipping server's null StageDueAt does not decode
    through describe())."""
    described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )
    return described.workflow_execution_info.execution.run_id


async def signalled(client: Client, workflow_id: str, name: str) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and e.workflow_execution_signaled_event_attributes.signal_name == name
    )


async def test_a_year_carried_over_closes_on_its_proposals_signalled_end(
    skipping_env: WorkflowEnvironment, bloc_engine: AsyncEngine
):
    """A run that continued as new holds no child handle: the proposal's own word of its end closes it."""
    from worker import build_worker

    client = skipping_env.client
    queue = f"bloc-{uuid.uuid4().hex[:8]}"
    year_id = bloc_year_id(BLOC, YEAR)
    async with build_worker(client, bloc_engine, queue):
        proposal = await start_nomination(
            client, bloc_proposal("BCA", "CO_THI_DUA_CP", YEAR, year_id), queue, engine=bloc_engine
        )
        await wait_for_stage(client, proposal.id, Stage.BLOC_VOTE)
        carried = BlocYearRecord(
            bloc_year_id=year_id,
            bloc=BLOC,
            year=YEAR,
            leadership=LEADERSHIP,
            phase=BlocYearPhase.FOLLOWING,
            step=30,
            tiers=[
                HonourTierOutcome(
                    award_form="CO_THI_DUA_CP",
                    seats=1,
                    candidates=("BCA",),
                    session_id="ballot-bloc-NOI_CHINH-HN-TRUOC",
                    proposed=("BCA",),
                    nominations={"BCA": proposal.id},
                )
            ],
            handed_over=True,
        )
        start = BlocYearStart(bloc=BLOC, year=YEAR, leadership=LEADERSHIP, opened_by=HEAD, carried=carried)
        handle = await client.start_workflow(BlocYearWorkflow.run, start, id=year_id, task_queue=queue)
        following = await year_until(handle, lambda s: s.phase == BlocYearPhase.FOLLOWING and s.members)
        assert following.tiers[0].settled == {}

        # The bloc head withdraws the proposal waiting at the bloc's vote (the proposer's to withdraw).
        await proposal.execute_update(
            NominationWorkflow.withdraw, ReasonedAction(actor=HEAD, reason="Khối rút đề nghị")
        )
        closed = await handle.result()
        assert closed.phase == BlocYearPhase.CLOSED
        assert closed.tiers[0].settled == {proposal.id: Stage.WITHDRAWN}
        assert await signalled(client, year_id, "proposal_ended") == 1
        assert (await proposal.result()).stage == Stage.WITHDRAWN


def assessment(member: str, points: str | None = None) -> Any:
    from domain.bloc.policy import bloc_scoring_policy_for
    from domain.bloc.scoring import SelfAssessment

    policy = bloc_scoring_policy_for(BLOC, YEAR)
    scores = {
        code: {"points": points or str(c.max_points), "evidence": [{"reference": f"{code}/{member}/{YEAR}"}]}
        for code, c in policy.criteria.items()
    }
    return SelfAssessment.model_validate(
        {"member": member, "year": YEAR, "policy_version": policy.version, "scores": scores}
    )


async def honouring_year(env: WorkflowEnvironment, queue: str) -> WorkflowHandle[Any, Any]:
    """A bloc year brought to honouring (BCA the first tier's only candidate), its handover 20 days ahead."""
    client = env.client
    now = await env.get_current_time()
    clock = BlocYearClock(assessment_seconds=3600, handover_at=now + timedelta(days=20))
    start = BlocYearStart(bloc=BLOC, year=YEAR, leadership=LEADERSHIP, opened_by=HEAD, clock=clock)
    handle = await client.start_workflow(BlocYearWorkflow.run, start, id=bloc_year_id(BLOC, YEAR), task_queue=queue)
    await year_until(handle, lambda s: s.phase == BlocYearPhase.DRAFT and s.members)
    await handle.execute_update(BlocYearWorkflow.publish_pledge, PublishPledge(actor=HEAD))
    for member, rep in REPS.items():
        await handle.execute_update(BlocYearWorkflow.sign_pledge, SignPledge(actor=rep, member=member))
    await handle.execute_update(BlocYearWorkflow.call_for_assessments, CallForAssessments(actor=HEAD))
    for member, rep in REPS.items():
        await handle.execute_update(
            BlocYearWorkflow.submit_assessment,
            SubmitAssessment(actor=rep, assessment=assessment(member, None if member == "BCA" else "1")),
        )
    await year_until(handle, lambda s: s.phase == BlocYearPhase.REVIEW)
    await handle.execute_update(BlocYearWorkflow.close_review, CloseReview(actor=HEAD))
    return handle


async def cancelled_first_tier(env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any]) -> tuple[OpenHonouring, str]:
    """The first tier's vote opened, then cancelled by its chair before anyone voted: the request and the
    proposal nomination it started."""
    client = env.client
    now = await env.get_current_time()
    first = OpenHonouring(actor=HEAD, deadline=now + timedelta(days=1), meeting_ref="HN-SUYTON-1")
    opened = await handle.execute_update(BlocYearWorkflow.open_honouring, first)
    tier = opened.tiers[0]
    proposal = tier.nominations["BCA"]
    assert tier.candidates == ("BCA",) and tier.session_id == "ballot-bloc-NOI_CHINH-HN-SUYTON-1"
    await wait_for_stage(client, proposal, Stage.BLOC_VOTE)
    await session_until(client, tier.session_id, lambda s: s.phase == SessionPhase.VOTING)
    await chair_action(
        client,
        tier.session_id,
        BallotSessionWorkflow.cancel,
        ChairAction(actor=HEAD, reason="Hội nghị hoãn do không đủ thành phần"),
    )
    return first, proposal


async def test_a_cancelled_honouring_session_voids_its_tier_and_the_head_re_opens_it_over_the_same_nomination(
    skipping_env: WorkflowEnvironment, bloc_engine: AsyncEngine
):
    from worker import build_worker

    await enroll_counting_keys(bloc_engine, [rep for rep in REPS.values() if rep != HEAD])
    client = skipping_env.client
    queue = f"bloc-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, bloc_engine, queue):
        handle = await honouring_year(skipping_env, queue)
        first, proposal = await cancelled_first_tier(skipping_env, handle)
        now = first.deadline - timedelta(days=1)
        voided = await year_until(handle, lambda s: s.tiers[0].voided)
        assert voided.phase == BlocYearPhase.HONOURING and voided.tiers[0].proposed == ()
        assert (await status(client, proposal)).stage == Stage.BLOC_VOTE  # still waiting for the bloc's vote

        # Not again under the cancelled session's reference; under a new one, over the same nomination.
        await refused(handle.execute_update(BlocYearWorkflow.open_honouring, first), "meeting_ref:", "HN-SUYTON-1")
        second = first.model_copy(update={"meeting_ref": "HN-SUYTON-1-LAI", "deadline": now + timedelta(days=2)})
        reopened = await handle.execute_update(BlocYearWorkflow.open_honouring, second)
        again = reopened.tiers[1]
        assert again.award_form == "CO_THI_DUA_CP" and again.nominations == {"BCA": proposal}
        assert again.session_id == "ballot-bloc-NOI_CHINH-HN-SUYTON-1-LAI"
        voting = await session_until(
            client, again.session_id, lambda s: s.phase == SessionPhase.VOTING and s.keys is not None
        )
        assert [c.workflow_id for c in voting.candidates] == [proposal]
        for member, rep in REPS.items():
            if member != "BCA":
                await cast(client, again.session_id, rep, {proposal: Choice.FOR})
        await skipping_env.sleep(timedelta(days=2, minutes=1))
        assert (await count_now(client, bloc_engine, again.session_id)).phase == SessionPhase.CLOSED
        await wait_for_stage(client, proposal, Stage.CENTRAL_REVIEW)
        voted = await year_until(handle, lambda s: s.tiers[1].proposed == ("BCA",))
        assert [t.voided for t in voted.tiers] == [True, False]

        # The second tier has no candidate: the election, then the handover; the year follows the proposal.
        third = first.model_copy(update={"meeting_ref": "HN-SUYTON-2", "deadline": now + timedelta(days=3)})
        await handle.execute_update(BlocYearWorkflow.open_honouring, third)
        await year_until(handle, lambda s: s.phase == BlocYearPhase.ELECTION)
        await handle.execute_update(
            BlocYearWorkflow.record_election, RecordElection(actor=HEAD, method=ElectionMethod.ROTATION)
        )
        # The central board rejects the proposal: it tells the year, which records its end once.
        nomination = client.get_workflow_handle(proposal)
        await nomination.execute_update(
            NominationWorkflow.reject, ReasonedAction(actor=CENTRAL, reason="Chưa đủ tiêu chuẩn năm nay")
        )
        settled = await year_until(handle, lambda s: proposal in s.tiers[1].settled)
        assert settled.tiers[1].settled == {proposal: Stage.REJECTED} and settled.tiers[0].settled == {}
        closed = await handle.result()  # the handover comes, and nothing is left to follow
        assert closed.phase == BlocYearPhase.CLOSED
        assert await signalled(client, bloc_year_id(BLOC, YEAR), "proposal_ended") == 1


# ---- the register's column, added by migration 0014 --------------------------------------------------------


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
async def test_the_origin_column_is_filled_from_the_payload_of_rows_written_before_it(dialect: str, tmp_path: Path):
    """Rows written before 0014 get their `origin_bloc` from the payload (a unit's stays NULL); the column
    matches the schema; downgrading drops it."""

    async def run(url: str) -> None:
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0013")
        engine = create_engine(url)
        try:
            now = datetime.now(UTC)
            bloc = bloc_proposal("BTP", "BANG_KHEN_TTG", YEAR, bloc_year_id(BLOC, YEAR))
            unit = Nomination.model_validate(nomination_data("BANG_KHEN_TTG", year=YEAR))
            async with engine.begin() as conn:
                for wf, nomination in (("nomination-bloc", bloc), ("nomination-unit", unit)):
                    values = {
                        "workflow_id": wf,
                        "reference": f"R-{wf}",
                        "year": nomination.year,
                        "ministry": nomination.ministry,
                        "bloc": BLOC,
                        "award_form": nomination.award_form,
                        "nominee_kind": nomination.nominee.kind,
                        "nominee_name": nomination.nominee.display_name,
                        "proposing_unit": nomination.proposing_unit,
                        "proposer": nomination.proposer,
                        "policy_version": "2026.01",
                        "stage": "BLOC_VOTE",
                        "stage_label_vi": "-",
                        "status_vi": "-",
                        "last_seq": 1,
                        "payload": nomination.model_dump(mode="json"),
                        "created_at": now,
                        "updated_at": now,
                    }
                    await conn.execute(sa.insert(nominations).values(values))
            await upgrade_to_head(url)
            async with engine.connect() as conn:
                found = dict(
                    (await conn.execute(sa.select(nominations.c.workflow_id, nominations.c.origin_bloc))).all()
                )
                diff = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), metadata))
            assert found == {"nomination-bloc": BLOC, "nomination-unit": None}
            assert [d for d in diff if "nominations" in repr(d) and "origin_bloc" in repr(d)] == []
            await asyncio.to_thread(command.downgrade, alembic_config(url), "0013")
            async with engine.connect() as conn:
                columns = await conn.run_sync(lambda sync: sa.inspect(sync).get_columns("nominations"))
            assert "origin_bloc" not in {c["name"] for c in columns}
        finally:
            await engine.dispose()

    if dialect == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'origin.db'}"
        await upgrade_to_head(url)
        await run(url)
    else:
        async with fresh_database("tdkt_origin_bloc") as url:
            await run(url)


async def test_a_tier_given_up_after_its_session_was_cancelled_is_recorded_without_a_vote(
    skipping_env: WorkflowEnvironment, bloc_engine: AsyncEngine
):
    """The head gives the tier up: withdraws the waiting proposal (theirs, as its proposer; its end is told to
    the year), re-opens the tier, which is recorded with no session and no proposal (the withdrawn member is
    not proposed anew for that form); the year goes on to the next tier."""
    from worker import build_worker

    await enroll_counting_keys(bloc_engine, [rep for rep in REPS.values() if rep != HEAD])
    client = skipping_env.client
    queue = f"bloc-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, bloc_engine, queue):
        handle = await honouring_year(skipping_env, queue)
        first, proposal = await cancelled_first_tier(skipping_env, handle)
        await year_until(handle, lambda s: s.tiers[0].voided)
        nomination = client.get_workflow_handle(proposal)
        first_run = await run_id_of(client, proposal)
        await refused(
            nomination.execute_update(NominationWorkflow.withdraw, ReasonedAction(actor=BTP_REP, reason="Rút")),
            "BLOC_HEAD for NOI_CHINH",
        )
        await nomination.execute_update(
            NominationWorkflow.withdraw, ReasonedAction(actor=HEAD, reason="Khối không suy tôn hình thức này")
        )
        await nomination.result()  # it ended, telling the year
        assert (await status(client, proposal)).stage == Stage.WITHDRAWN
        await year_until(handle, lambda s: s.tiers[0].settled == {proposal: Stage.WITHDRAWN})

        given_up = first.model_copy(update={"meeting_ref": "HN-SUYTON-1-BO"})
        reopened = await handle.execute_update(BlocYearWorkflow.open_honouring, given_up)
        tier = reopened.tiers[1]
        assert tier.award_form == "CO_THI_DUA_CP" and tier.candidates == ("BCA",)
        assert (tier.session_id, tier.nominations, tier.proposed, tier.seats) == (None, {}, (), 0)
        # Still one nomination for BCA: the withdrawn run, not started again under its business key.
        assert await run_id_of(client, proposal) == first_run
        assert (await status(client, proposal)).stage == Stage.WITHDRAWN
        assert reopened.phase == BlocYearPhase.HONOURING
        # The next tier is the second award form's: BCA, not seated by the first, is its candidate (a new
        # nomination of that form); the given-up tier's nomination stays withdrawn.
        third = first.model_copy(update={"meeting_ref": "HN-SUYTON-2"})
        last = await handle.execute_update(BlocYearWorkflow.open_honouring, third)
        assert [t.award_form for t in last.tiers] == ["CO_THI_DUA_CP", "CO_THI_DUA_CP", "BANG_KHEN_TTG"]
        assert last.tiers[2].candidates == ("BCA",)
        assert last.tiers[2].nominations == {"BCA": f"nomination-{YEAR}-BCA-SUYTON-NOI_CHINH-{YEAR}-BANG_KHEN_TTG"}
        assert await signalled(client, bloc_year_id(BLOC, YEAR), "proposal_ended") == 1
