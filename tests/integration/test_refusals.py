"""Every refusal of every validator: a clear message, and nothing written to the workflow's history."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError

from client.nominations import ActionRefused, act, refusal_reason
from domain.messages import CentralApproval, ReasonedAction, Resubmission
from domain.nomination import Nomination
from domain.stages import Stage
from tests.factories import nomination_data
from tests.integration.helpers import (
    BLOC_HEAD,
    CENTRAL,
    COUNCIL_SEATS,
    PROPOSER,
    SECRETARY,
    meeting,
    start,
    wait_for_stage,
)

pytestmark = pytest.mark.integration
S = COUNCIL_SEATS
SEATED = f"tally.members: the council of BTP (Hội đồng TĐKT) has {S} voting members on the roster"


UPDATE_EVENT_TYPES = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_REJECTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
}


async def history_length(handle: WorkflowHandle) -> int:
    """Update events in history. (The whole length may still grow from the workflow's own progress,
    such as a roster refresh; a refused update must add none of these.)"""
    events = (await handle.fetch_history()).events
    return sum(1 for e in events if e.event_type in UPDATE_EVENT_TYPES)


async def assert_refused(client: Client, handle: WorkflowHandle, update: str, payload: Any, *needles: str) -> str:
    """The action is refused with a message containing every needle, and history does not grow."""
    before = await history_length(handle)
    with pytest.raises(ActionRefused) as refused:
        await act(client, handle.id, update, payload)
    message = str(refused.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    assert await history_length(handle) == before, "a refused action wrote an update event to history"
    return message


@pytest.fixture
async def in_council(client: Client, task_queue: str) -> WorkflowHandle:
    handle = await start(client, task_queue, "CO_THI_DUA_CP")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    return handle


async def test_wrong_stage_is_refused(client: Client, in_council: WorkflowHandle):
    await assert_refused(client, in_council, "record_bloc_result", meeting(BLOC_HEAD), "BLOC_VOTE", "COUNCIL_REVIEW")
    approval = CentralApproval(actor=CENTRAL, decision_no="1/QĐ-TTg", decision_date=date(2026, 12, 1))
    await assert_refused(client, in_council, "approve", approval, "CENTRAL_REVIEW")
    resubmission = Resubmission(actor=PROPOSER, nomination=Nomination.model_validate(nomination_data("CO_THI_DUA_CP")))
    await assert_refused(client, in_council, "resubmit", resubmission, "RETURNED")


async def test_unknown_actor_is_refused(client: Client, in_council: WorkflowHandle):
    await assert_refused(client, in_council, "record_council_result", meeting("ai.do.la"), "'ai.do.la'", "unknown")


async def test_actor_without_the_role_is_refused(client: Client, in_council: WorkflowHandle):
    # A council member is not the secretary who records the meeting's result.
    await assert_refused(
        client, in_council, "record_council_result", meeting("btp.hd.uy-vien-1"), "COUNCIL_SECRETARY", "BTP"
    )
    # A central officer cannot return a dossier the council holds.
    reasoned = ReasonedAction(actor=CENTRAL, reason="Không thuộc thẩm quyền")
    await assert_refused(client, in_council, "return_dossier", reasoned, "COUNCIL_SECRETARY")
    # Only the proposing ministry's staff may withdraw.
    await assert_refused(
        client, in_council, "withdraw", ReasonedAction(actor=SECRETARY, reason="Thử rút"), "UNIT_STAFF"
    )


async def test_another_ministrys_secretary_is_refused(client: Client, in_council: WorkflowHandle):
    await assert_refused(client, in_council, "record_council_result", meeting("ktnn.hd.thu-ky"), "'ktnn.hd.thu-ky'")


@pytest.mark.parametrize(
    ("tally", "needle"),
    [
        ({"members": S, "present": S + 1, "votes_for": S, "votes_against": 0}, "cannot exceed members"),
        ({"members": S, "present": S - 1, "votes_for": S - 1, "votes_against": 1}, "cannot exceed ballots cast"),
        ({"members": S, "present": S, "votes_for": -1, "votes_against": 0}, "votes_for"),
        ({"members": 0, "present": 0, "votes_for": 0, "votes_against": 0}, "members"),
        ({"members": S, "present": S, "votes_for": S}, "votes_against"),
        # BTP's council seats S voting members in the test roster: a meeting of more or fewer cannot be.
        ({"members": S - 1, "present": S - 1, "votes_for": S - 1, "votes_against": 0}, SEATED),
        ({"members": S + 1, "present": S + 1, "votes_for": S + 1, "votes_against": 0}, SEATED),
        ({"members": 100, "present": 100, "votes_for": 90, "votes_against": 10}, SEATED),
    ],
)
async def test_impossible_tally_is_refused(client: Client, in_council: WorkflowHandle, tally: dict, needle: str):
    # Sent as a raw dict so the client's own validation cannot catch it first: the workflow must.
    payload = {"actor": SECRETARY, "tally": tally}
    before = await history_length(in_council)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await in_council.execute_update("record_council_result", payload)
    assert needle in refusal_reason(refused.value)
    assert await history_length(in_council) == before


async def test_bad_payload_fields_are_named(client: Client, in_council: WorkflowHandle):
    before = await history_length(in_council)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await in_council.execute_update("withdraw", {"actor": PROPOSER, "reason": "", "extra": 1})
    message = refusal_reason(refused.value)
    assert message.startswith("invalid payload")
    assert "reason" in message and "extra" in message
    assert await history_length(in_council) == before


async def test_proposer_cannot_decide_on_their_own_nomination(client: Client, task_queue: str, db_engine: AsyncEngine):
    # Only unit staff propose: someone who is also the council's secretary proposes a nomination for their own
    # ministry (a fictional one, SOD, with its own roster), then tries to record its council result.
    from domain.roster import Roster
    from store.roster import load_roster

    both = "sod.vutckt.kiem-nhiem"
    grants = [{"role": "UNIT_STAFF", "scope": "SOD"}, {"role": "COUNCIL_SECRETARY", "scope": "SOD"}]
    roster = {
        "ministries": [{"code": "SOD", "name": "Bộ Kiêm nhiệm (hư cấu)"}],
        "actors": [{"id": both, "full_name": "Người kiêm nhiệm", "organisation": "SOD", "roles": grants}],
    }
    await load_roster(db_engine, Roster.model_validate(roster))
    handle = await start(client, task_queue, "BANG_KHEN_BO", ministry="SOD", proposer=both)
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    await assert_refused(client, handle, "record_council_result", meeting(both), "proposed this nomination")
    await act(client, handle.id, "withdraw", ReasonedAction(actor=both, reason="Dọn dẹp sau kiểm thử"))


async def test_a_council_secretary_may_not_propose(client: Client, task_queue: str):
    # Started without the client's check, the workflow refuses the start itself: REFUSED, not a nomination.
    handle = await start(client, task_queue, "BANG_KHEN_BO", proposer=SECRETARY)
    final = await handle.result()
    assert final.stage == Stage.REFUSED and final.transitions == []
    assert final.refusal_reason is not None and "UNIT_STAFF for BTP" in final.refusal_reason


async def test_resubmission_may_not_change_the_award_form(client: Client, task_queue: str):
    data = nomination_data("BANG_KHEN_TTG")
    handle = await start(client, task_queue, "BANG_KHEN_TTG", reference=data["reference"])
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    await act(client, handle.id, "return_dossier", ReasonedAction(actor=SECRETARY, reason="Thiếu biên bản"))
    other_form = Nomination.model_validate(nomination_data("BANG_KHEN_BO", reference=data["reference"]))
    await assert_refused(client, handle, "resubmit", Resubmission(actor=PROPOSER, nomination=other_form), "award_form")
    incomplete = nomination_data("BANG_KHEN_TTG", reference=data["reference"])
    incomplete["dossier"] = incomplete["dossier"][:1]
    await assert_refused(
        client,
        handle,
        "resubmit",
        Resubmission(actor=PROPOSER, nomination=Nomination.model_validate(incomplete)),
        "dossier",
        "missing",
    )


async def test_actions_on_an_ended_nomination_are_refused(client: Client, task_queue: str):
    handle = await start(client, task_queue, "BANG_KHEN_BO")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    await act(client, handle.id, "withdraw", ReasonedAction(actor=PROPOSER, reason="Đơn vị tự rút"))
    await handle.result()
    with pytest.raises(ActionRefused) as refused:
        await act(client, handle.id, "record_council_result", meeting(SECRETARY))
    assert "ended" in str(refused.value)
