"""The rest of the procedure on a real dev server: objections during the public notice, holds in every
stage, and the decision that ends a nomination."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, timedelta

import pytest
import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
    WorkflowUpdateStage,
)

from client.nominations import ActionRefused, act, start_nomination, status
from domain.decisions import DecisionRef
from domain.messages import (
    CentralApproval,
    ConsultationRequest,
    HoldRequest,
    ObjectionFiling,
    ObjectionResolution,
    ReasonedAction,
    Resubmission,
)
from domain.nomination import Nomination
from domain.stages import Stage
from tests.factories import nomination_data
from tests.integration.helpers import (
    BLOC_HEAD,
    BLOC_SEATS,
    CENTRAL,
    PROPOSER,
    SECRETARY,
    assert_row_agrees,
    meeting,
    passing_tally,
    stage_events,
    start,
    wait_for_stage,
)
from worker import build_replayer

pytestmark = pytest.mark.integration


def objection(reason: str = "Thành tích kê khai chưa đúng thực tế") -> ObjectionFiling:
    return ObjectionFiling(filed_by="Trần Văn Dân (hư cấu)", contact="0900 000 000", reason=reason)


def resolution(objection_id: int, decision: str) -> ObjectionResolution:
    return ObjectionResolution.model_validate(
        {"actor": SECRETARY, "objection_id": objection_id, "decision": decision, "reason": "Đã xác minh"}
    )


async def test_a_dismissed_objection_lets_the_notice_run_its_course(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    handle = await start(client, task_queue, "HUAN_CHUONG_LD_3", notice_seconds=3)
    opened = await wait_for_stage(client, handle.id, Stage.PUBLIC_NOTICE)
    assert opened.notice_ends_at is not None
    published = opened.transitions[-1].details
    assert published["notice_ends_at"] == opened.notice_ends_at.isoformat() and "notice_starts_at" in published

    receipt = await act(client, handle.id, "file_objection", objection())
    assert "số 1" in receipt.outcome_vi
    await asyncio.sleep(4)  # the notice period ends, but an open objection holds the council back
    waiting = await status(client, handle.id)
    assert waiting.stage == Stage.PUBLIC_NOTICE and waiting.objections[0].resolution is None
    with pytest.raises(ActionRefused, match="public notice ended"):
        await act(client, handle.id, "file_objection", objection("Ý kiến gửi muộn"))
    with pytest.raises(ActionRefused, match="objection_id"):
        await act(client, handle.id, "resolve_objection", resolution(7, "DISMISS"))
    with pytest.raises(ActionRefused, match="COUNCIL_SECRETARY"):
        await act(
            client, handle.id, "resolve_objection", resolution(1, "DISMISS").model_copy(update={"actor": CENTRAL})
        )

    await act(client, handle.id, "resolve_objection", resolution(1, "DISMISS"))
    current = await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    assert [t.action for t in current.transitions] == [
        "SUBMIT",
        "OBJECTION_FILED",
        "OBJECTION_RESOLVED",
        "NOTICE_ELAPSED",
    ]
    await assert_row_agrees(db_engine, client, handle.id)


async def test_upheld_objections_reject_or_return(client: Client, task_queue: str):
    rejected = await start(client, task_queue, "CSTD_TOAN_QUOC", notice_seconds=60)
    await wait_for_stage(client, rejected.id, Stage.PUBLIC_NOTICE)
    await act(client, rejected.id, "file_objection", objection())
    assert (await act(client, rejected.id, "resolve_objection", resolution(1, "UPHOLD_REJECT"))).stage == Stage.REJECTED

    data = nomination_data("HUAN_CHUONG_LD_3")
    returned = await start(client, task_queue, "HUAN_CHUONG_LD_3", notice_seconds=60, reference=data["reference"])
    first = await wait_for_stage(client, returned.id, Stage.PUBLIC_NOTICE)
    await act(client, returned.id, "file_objection", objection())
    back = await act(client, returned.id, "resolve_objection", resolution(1, "UPHOLD_RETURN"))
    assert back.stage == Stage.RETURNED
    await act(client, returned.id, "resubmit", Resubmission(actor=PROPOSER, nomination=Nomination.model_validate(data)))
    again = await wait_for_stage(client, returned.id, Stage.PUBLIC_NOTICE)
    # A corrected dossier is published again for a full notice period.
    assert again.notice_ends_at is not None and first.notice_ends_at is not None
    assert again.notice_ends_at > first.notice_ends_at


async def accepted_while_the_first_persists(
    db_engine: AsyncEngine, handle: WorkflowHandle, in_order: list[tuple[str, BaseModel]]
) -> list[WorkflowUpdateHandle]:
    """Send the updates in this order and return once all are accepted, none yet applied past the first: the
    nomination's row is held locked in PostgreSQL, so the first one's write (a local activity) outlasts a
    workflow task heartbeat and the others wait their turn behind it, already validated."""
    async with db_engine.connect() as blocker:
        locked = await blocker.begin()
        await blocker.execute(sa.text("SELECT 1 FROM nominations WHERE workflow_id = :w FOR UPDATE"), {"w": handle.id})
        sent = []
        for update, payload in in_order:
            accepted = handle.start_update(update, payload, wait_for_stage=WorkflowUpdateStage.ACCEPTED)
            sent.append(asyncio.create_task(accepted))
            await asyncio.sleep(0.2)  # the server receives them in this order
        updates = await asyncio.gather(*sent)
        await locked.rollback()
    return list(updates)


async def assert_replays(handle: WorkflowHandle) -> None:
    replayed = await build_replayer().replay_workflow(await handle.fetch_history(), raise_on_replay_failure=False)
    assert replayed.replay_failure is None


async def test_a_filing_that_loses_a_race_leaves_no_objection_behind(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    """A filing accepted while another action waits its turn, then refused because that action ended the
    nomination first, lists no objection (and takes no number)."""
    handle = await start(client, task_queue, "HUAN_CHUONG_LD_3", notice_seconds=600)
    await wait_for_stage(client, handle.id, Stage.PUBLIC_NOTICE)
    await assert_row_agrees(db_engine, client, handle.id)  # the notice's own write is done
    withdrawal = ReasonedAction(actor=PROPOSER, reason="Đơn vị rút hồ sơ")
    first, withdrawn, late = await accepted_while_the_first_persists(
        db_engine,
        handle,
        [("file_objection", objection()), ("withdraw", withdrawal), ("file_objection", objection("Lần hai"))],
    )
    assert "số 1" in (await first.result())["outcome_vi"]
    assert (await withdrawn.result())["stage"] == Stage.WITHDRAWN.value
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await late.result()
    assert "WITHDRAWN" in str(refused.value.cause)
    final = await assert_row_agrees(db_engine, client, handle.id)
    assert [(o.id, o.reason) for o in final.objections] == [(1, objection().reason)]
    assert [t.action for t in final.transitions] == ["SUBMIT", "OBJECTION_FILED", "WITHDRAW"]
    await assert_replays(handle)


async def test_a_consultation_that_loses_a_race_leaves_the_due_date_alone(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    """A consultation request accepted while an approval waits its turn, refused once the approval moved the
    nomination on, does not give the next stage the appraisal's longer due date."""
    workflow_id = await bring_to(client, task_queue, Stage.CENTRAL_REVIEW)
    handle = client.get_workflow_handle(workflow_id)
    await assert_row_agrees(db_engine, client, workflow_id)
    consult = ConsultationRequest(actor=CENTRAL, agencies=["Bộ Nội vụ"], reason="Lấy ý kiến cơ quan quản lý")
    first, approved, late = await accepted_while_the_first_persists(
        db_engine,
        handle,
        [
            ("request_consultation", consult),
            ("approve", CentralApproval(actor=CENTRAL)),
            ("request_consultation", consult),
        ],
    )
    assert (await first.result())["stage"] == Stage.CENTRAL_REVIEW.value
    assert (await approved.result())["stage"] == Stage.AWAITING_DECISION.value
    with pytest.raises(WorkflowUpdateFailedError):
        await late.result()
    final = await assert_row_agrees(db_engine, client, workflow_id)
    assert (final.stage, final.due_at) == (Stage.AWAITING_DECISION, None)
    await assert_replays(handle)


async def test_objections_only_during_the_notice(client: Client, task_queue: str):
    handle = await start(client, task_queue, "BANG_KHEN_BO")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    with pytest.raises(ActionRefused, match="only during the public notice"):
        await act(client, handle.id, "file_objection", objection())


HOLD = HoldRequest.model_validate(
    {"actor": SECRETARY, "ground": "INVESTIGATION", "reason": "Cơ quan điều tra đang xác minh đơn thư"}
)


async def bring_to(client: Client, task_queue: str, stage: Stage) -> str:
    """A nomination waiting in `stage`."""
    form = {
        Stage.PUBLIC_NOTICE: "HUAN_CHUONG_LD_3",
        Stage.BLOC_VOTE: "CO_THI_DUA_CP",
    }.get(stage, "BANG_KHEN_TTG")
    handle = await start(client, task_queue, form, notice_seconds=3600)
    first = Stage.PUBLIC_NOTICE if form == "HUAN_CHUONG_LD_3" else Stage.COUNCIL_REVIEW
    await wait_for_stage(client, handle.id, first)
    if stage in (Stage.PUBLIC_NOTICE, Stage.COUNCIL_REVIEW):
        return handle.id
    await act(client, handle.id, "record_council_result", meeting(SECRETARY))
    if stage == Stage.BLOC_VOTE:
        return handle.id
    if stage == Stage.RETURNED:
        await act(client, handle.id, "return_dossier", ReasonedAction(actor=CENTRAL, reason="Bổ sung hồ sơ"))
    if stage == Stage.AWAITING_DECISION:
        await act(client, handle.id, "approve", CentralApproval(actor=CENTRAL))
    await wait_for_stage(client, handle.id, stage)
    return handle.id


@pytest.mark.parametrize(
    "stage",
    [
        Stage.PUBLIC_NOTICE,
        Stage.COUNCIL_REVIEW,
        Stage.BLOC_VOTE,
        Stage.CENTRAL_REVIEW,
        Stage.AWAITING_DECISION,
        Stage.RETURNED,
    ],
)
async def test_hold_and_release_in_every_stage(client: Client, task_queue: str, db_engine: AsyncEngine, stage: Stage):
    workflow_id = await bring_to(client, task_queue, stage)
    before = await status(client, workflow_id)
    held = await act(client, workflow_id, "hold", HOLD)
    assert held.stage == stage
    on_hold = await status(client, workflow_id)
    assert on_hold.hold is not None and on_hold.hold.ground_vi == "đang bị điều tra"
    assert on_hold.due_at is None  # deadlines stop

    with pytest.raises(ActionRefused, match="already on hold"):
        await act(client, workflow_id, "hold", HOLD)
    with pytest.raises(ActionRefused, match="on hold"):
        await act(client, workflow_id, "withdraw", ReasonedAction(actor=PROPOSER, reason="Đơn vị rút"))
    if stage == Stage.COUNCIL_REVIEW:
        with pytest.raises(ActionRefused, match="on hold"):
            await act(client, workflow_id, "record_council_result", meeting(SECRETARY))
    with pytest.raises(ActionRefused, match=r"needs role COUNCIL_SECRETARY .* or CENTRAL_OFFICER"):
        await act(client, workflow_id, "release", ReasonedAction(actor=PROPOSER, reason="Tự giải tỏa"))

    released = await act(client, workflow_id, "release", ReasonedAction(actor=CENTRAL, reason="Đã có kết luận"))
    assert released.stage == stage
    after = await status(client, workflow_id)
    assert after.hold is None
    if before.due_at is not None:
        assert after.due_at is not None and after.due_at >= before.due_at  # resumed with the time it had left
    events = await stage_events(db_engine, workflow_id)
    assert [e["action"] for e in events][-2:] == ["HOLD", "RELEASE"]
    assert {e["to_stage"] for e in events[-2:]} == {stage.value}

    # It resumes where it was: the stage's own action works again.
    if stage == Stage.COUNCIL_REVIEW:
        moved = await act(client, workflow_id, "record_council_result", meeting(SECRETARY))
        assert moved.stage == Stage.CENTRAL_REVIEW
    if stage == Stage.BLOC_VOTE:
        bloc = meeting(BLOC_HEAD, **passing_tally(BLOC_SEATS))
        assert (await act(client, workflow_id, "record_bloc_result", bloc)).stage == Stage.CENTRAL_REVIEW


async def test_concurrent_holds_keep_the_winners_ground(client: Client, task_queue: str, db_engine: AsyncEngine):
    """Two holds sent at once: both may pass their validators, one is applied, and the nomination shows
    that one's ground, never the refused one's."""
    workflow_id = await bring_to(client, task_queue, Stage.CENTRAL_REVIEW)
    complaint = HoldRequest.model_validate(
        {"actor": CENTRAL, "ground": "COMPLAINT", "reason": "Đơn khiếu nại chưa được giải quyết"}
    )
    results = await asyncio.gather(
        act(client, workflow_id, "hold", HOLD), act(client, workflow_id, "hold", complaint), return_exceptions=True
    )
    applied = [r for r in results if not isinstance(r, BaseException)]
    refusals = [r for r in results if isinstance(r, BaseException)]
    assert len(applied) == 1 and len(refusals) == 1, results
    assert isinstance(refusals[0], ActionRefused) and "on hold" in str(refusals[0])
    winner = HOLD if results[0] is applied[0] else complaint
    held = await status(client, workflow_id)
    assert held.hold is not None and held.hold.reason == winner.reason and held.hold.by == winner.actor
    events = await stage_events(db_engine, workflow_id)
    assert [e["action"] for e in events].count("HOLD") == 1

    released = await act(client, workflow_id, "release", ReasonedAction(actor=CENTRAL, reason="Đã có kết luận"))
    assert released.stage == Stage.CENTRAL_REVIEW and (await status(client, workflow_id)).hold is None


async def test_decision_refusals_on_a_single_nomination(client: Client, task_queue: str):
    workflow_id = await bring_to(client, task_queue, Stage.AWAITING_DECISION)
    decision = DecisionRef(
        decision_no="3001/QĐ-TTg", decision_date=date(2026, 12, 24), authority="PRIME_MINISTER", actor=CENTRAL
    )
    with pytest.raises(ActionRefused, match="authority"):
        await act(client, workflow_id, "record_decision", decision.model_copy(update={"authority": "MINISTER"}))
    with pytest.raises(ActionRefused, match="CENTRAL_OFFICER"):
        await act(client, workflow_id, "record_decision", decision.model_copy(update={"actor": SECRETARY}))
    assert (await act(client, workflow_id, "record_decision", decision)).stage == Stage.AWARDED
    final = await status(client, workflow_id)
    assert final.decision_no == "3001/QĐ-TTg" and final.decided_by_vi == "Thủ tướng Chính phủ"
    # Refused by the workflow itself in the moment before its run closes, by the client once it has.
    with pytest.raises(ActionRefused, match=r"already decided|ended"):
        await act(client, workflow_id, "record_decision", decision)
    await client.get_workflow_handle(workflow_id).result()
    with pytest.raises(ActionRefused, match="ended"):
        await act(client, workflow_id, "record_decision", decision)

    not_yet = await bring_to(client, task_queue, Stage.CENTRAL_REVIEW)
    with pytest.raises(ActionRefused, match="not yet approved"):
        await act(client, not_yet, "record_decision", decision)


async def test_a_nomination_keeps_the_policy_it_started_under(client: Client, task_queue: str):
    """Return deadlines came with policy 2026.01; a nomination started under 2025.07 never lapses."""
    data = nomination_data("BANG_KHEN_TTG")
    old = await start_nomination(client, Nomination.model_validate(data), task_queue, today=date(2025, 8, 1))
    new = await start(client, task_queue, "BANG_KHEN_TTG")
    for handle in (old, new):
        await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
        await act(client, handle.id, "record_council_result", meeting(SECRETARY))
        await act(client, handle.id, "return_dossier", ReasonedAction(actor=CENTRAL, reason="Bổ sung hồ sơ"))
    old_status, new_status = await status(client, old.id), await status(client, new.id)
    assert (old_status.policy_version, new_status.policy_version) == ("2025.07", "2026.01")
    assert old_status.due_at is None  # no deadline for supplementing under 2025.07
    assert new_status.due_at is not None


async def test_operators_list_what_is_due_by_stage_due_at(client: Client, task_queue: str):
    handle = await start(client, task_queue, "BANG_KHEN_TTG")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    await act(client, handle.id, "record_council_result", meeting(SECRETARY))
    due = (await status(client, handle.id)).due_at
    assert due is not None
    after_due = (due + timedelta(days=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    query = f"WorkflowId = '{handle.id}' AND StageDueAt < '{after_due}'"
    for _ in range(50):  # visibility is eventually consistent
        found = [wf.id async for wf in client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.2)
    assert found == [handle.id]
