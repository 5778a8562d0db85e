"""Every route of the catalog, end to end on a real dev server and real PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from client.nominations import DuplicateNomination, act, start_nomination, status
from domain.decisions import DecisionRef
from domain.messages import CentralApproval, ReasonedAction, Resubmission
from domain.nomination import Nomination
from domain.stages import Stage
from tests.factories import nomination_data
from tests.integration.helpers import (
    BLOC_HEAD,
    BLOC_SEATS,
    CENTRAL,
    COUNCIL_SEATS,
    PROPOSER,
    SECRETARY,
    assert_row_agrees,
    meeting,
    nomination_row,
    passing_tally,
    stage_events,
    start,
    wait_for_stage,
)

pytestmark = pytest.mark.integration


def approval(decision_no: str = "125/QĐ-TTg") -> CentralApproval:
    return CentralApproval(actor=CENTRAL, decision_no=decision_no, decision_date=date(2026, 12, 20))


async def test_ministry_certificate_awarded_by_the_ministers_decision(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    handle = await start(client, task_queue, "BANG_KHEN_BO")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    await assert_row_agrees(db_engine, client, handle.id)

    receipt = await act(client, handle.id, "record_council_result", meeting(SECRETARY))
    assert receipt.stage == Stage.AWAITING_DECISION  # the council recommends; the minister decides
    current = await assert_row_agrees(db_engine, client, handle.id)
    assert current.status_vi == "Chờ xét khen thưởng"
    assert current.transitions[-1].tally == {
        "members": COUNCIL_SEATS,
        "present": COUNCIL_SEATS,
        "votes_for": COUNCIL_SEATS,
        "votes_against": 0,
        "written": 0,
        "abstaining": 0,
    }

    decision = DecisionRef(
        decision_no="2001/QĐ-BTP", decision_date=date(2026, 12, 22), authority="MINISTER", actor=SECRETARY
    )
    assert (await act(client, handle.id, "record_decision", decision)).stage == Stage.AWARDED
    final = await handle.result()
    assert final.stage == Stage.AWARDED and final.decision_no == "2001/QĐ-BTP"
    assert final.decided_by_vi == "Bộ trưởng"
    assert [t.to_stage for t in final.transitions] == [Stage.COUNCIL_REVIEW, Stage.AWAITING_DECISION, Stage.AWARDED]
    await assert_row_agrees(db_engine, client, handle.id)
    row = await nomination_row(db_engine, handle.id)
    assert row is not None and row["decided_by"] == "MINISTER" and row["policy_version"] == "2026.01"
    assert row["decision_no"] == "2001/QĐ-BTP"


async def test_government_flag_goes_through_the_bloc(client: Client, task_queue: str, db_engine: AsyncEngine):
    handle = await start(client, task_queue, "CO_THI_DUA_CP")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    assert (await act(client, handle.id, "record_council_result", meeting(SECRETARY))).stage == Stage.BLOC_VOTE
    await assert_row_agrees(db_engine, client, handle.id)

    bloc = meeting(BLOC_HEAD, **passing_tally(BLOC_SEATS))
    assert (await act(client, handle.id, "record_bloc_result", bloc)).stage == Stage.CENTRAL_REVIEW
    await assert_row_agrees(db_engine, client, handle.id)

    assert (await act(client, handle.id, "approve", approval())).stage == Stage.AWARDED
    final = await handle.result()
    assert final.decision_no == "125/QĐ-TTg"
    assert final.decided_by_vi == "Thủ tướng Chính phủ"
    assert final.bloc == "NOI_CHINH"
    row = await nomination_row(db_engine, handle.id)
    assert row is not None and row["stage"] == "AWARDED" and row["decision_no"] == "125/QĐ-TTg"
    assert row["bloc"] == "NOI_CHINH"


async def test_order_waits_out_its_public_notice(client: Client, task_queue: str, db_engine: AsyncEngine):
    handle = await start(client, task_queue, "HUAN_CHUONG_LD_3", notice_seconds=2)
    notice = await wait_for_stage(client, handle.id, Stage.PUBLIC_NOTICE)
    assert "công khai" in notice.waiting_for_vi
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW, timeout=30)
    current = await assert_row_agrees(db_engine, client, handle.id)
    assert current.transitions[-1].action == "NOTICE_ELAPSED"
    await act(client, handle.id, "record_council_result", meeting(SECRETARY))
    await act(client, handle.id, "approve", approval("88/QĐ-CTN"))
    final = await handle.result()
    assert final.stage == Stage.AWARDED and final.decided_by_vi == "Chủ tịch nước"


async def test_council_vote_below_threshold_rejects(client: Client, task_queue: str, db_engine: AsyncEngine):
    # Chiến sĩ thi đua cấp bộ needs 90% of ALL members: all but one of the council in favour is not enough.
    handle = await start(client, task_queue, "CSTD_CAP_BO")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    seats = COUNCIL_SEATS
    assert seats < 10  # one vote short of all is under 90 %
    result = meeting(SECRETARY, members=seats, present=seats, votes_for=seats - 1, votes_against=1)
    receipt = await act(client, handle.id, "record_council_result", result)
    assert receipt.stage == Stage.REJECTED
    assert f"{seats - 1}/{seats}" in receipt.outcome_vi
    assert (await handle.result()).stage == Stage.REJECTED
    await assert_row_agrees(db_engine, client, handle.id)


async def test_council_without_quorum_meets_again(client: Client, task_queue: str, db_engine: AsyncEngine):
    handle = await start(client, task_queue, "BANG_KHEN_BO")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    present = (2 * COUNCIL_SEATS - 1) // 3  # the most members present that are still under two thirds
    no_quorum = meeting(SECRETARY, members=COUNCIL_SEATS, present=present, votes_for=present, votes_against=0)
    receipt = await act(client, handle.id, "record_council_result", no_quorum)
    assert receipt.stage == Stage.COUNCIL_REVIEW
    assert "Không đủ" in receipt.outcome_vi
    assert (await act(client, handle.id, "record_council_result", meeting(SECRETARY))).stage == Stage.AWAITING_DECISION
    final = await status(client, handle.id)
    assert [t.details.get("result") for t in final.transitions[1:]] == ["NO_QUORUM", "PASSED"]
    await assert_row_agrees(db_engine, client, handle.id)


async def test_central_board_rejects(client: Client, task_queue: str, db_engine: AsyncEngine):
    handle = await start(client, task_queue, "BANG_KHEN_TTG")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    await act(client, handle.id, "record_council_result", meeting(SECRETARY))
    receipt = await act(client, handle.id, "reject", ReasonedAction(actor=CENTRAL, reason="Thành tích chưa tiêu biểu"))
    assert receipt.stage == Stage.REJECTED
    final = await handle.result()
    assert final.transitions[-1].reason == "Thành tích chưa tiêu biểu"
    await assert_row_agrees(db_engine, client, handle.id)


async def test_returned_then_resubmitted_goes_back_to_the_returning_stage(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    data = nomination_data("BANG_KHEN_TTG")
    handle = await start_nomination(client, Nomination.model_validate(data), task_queue)
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    await act(client, handle.id, "record_council_result", meeting(SECRETARY))
    returned = await act(
        client, handle.id, "return_dossier", ReasonedAction(actor=CENTRAL, reason="Thiếu xác nhận của địa phương")
    )
    assert returned.stage == Stage.RETURNED
    current = await assert_row_agrees(db_engine, client, handle.id)
    assert current.returned_from == Stage.CENTRAL_REVIEW
    assert current.status_vi == "Bị trả lại"

    corrected = Nomination.model_validate(
        data | {"achievements": data["achievements"] + " Bổ sung xác nhận của UBND tỉnh."}
    )
    back = await act(client, handle.id, "resubmit", Resubmission(actor=PROPOSER, nomination=corrected))
    assert back.stage == Stage.CENTRAL_REVIEW
    await act(client, handle.id, "approve", approval("301/QĐ-TTg"))
    final = await handle.result()
    assert [t.to_stage for t in final.transitions] == [
        Stage.COUNCIL_REVIEW,
        Stage.CENTRAL_REVIEW,
        Stage.RETURNED,
        Stage.CENTRAL_REVIEW,
        Stage.AWARDED,
    ]
    row = await nomination_row(db_engine, handle.id)
    assert row is not None and "Bổ sung xác nhận" in row["payload"]["achievements"]


async def test_unit_withdraws(client: Client, task_queue: str, db_engine: AsyncEngine):
    handle = await start(client, task_queue, "CO_THI_DUA_CP")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    receipt = await act(client, handle.id, "withdraw", ReasonedAction(actor=PROPOSER, reason="Đơn vị tự rút"))
    assert receipt.stage == Stage.WITHDRAWN
    assert (await handle.result()).stage == Stage.WITHDRAWN
    events = await stage_events(db_engine, handle.id)
    assert events[-1]["action"] == "WITHDRAW" and events[-1]["actor"] == PROPOSER


async def test_second_submission_of_the_same_nomination_is_refused(client: Client, task_queue: str):
    data = nomination_data("BANG_KHEN_BO")
    first = await start_nomination(client, Nomination.model_validate(data), task_queue)
    with pytest.raises(DuplicateNomination) as refused:
        await start_nomination(client, Nomination.model_validate(data), task_queue)
    assert first.id in str(refused.value)
