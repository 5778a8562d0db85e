"""Fuzzed payloads against live workflows: every one is refused with a message or accepted; no workflow
task fails, nothing gets stuck, and PostgreSQL still agrees with the workflow afterwards."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError

from domain.stages import Stage
from runtime.nominations import ActionRefused, act, refusal_reason
from tests.integration.helpers import assert_row_agrees, start, wait_for_stage
from tests.unit.test_fuzz_inputs import VALID_PAYLOADS, json_values, mutated

pytestmark = pytest.mark.integration

# The nomination's updates and the payload each one takes (withdraw/reject are left out: a valid one
# would end the workflow early and stop the fuzzing from reaching the other handlers).
UPDATES = {
    "record_council_result": "meeting_result",
    "record_bloc_result": "meeting_result",
    "approve": "central_approval",
    "return_dossier": "reasoned_action",
    "resubmit": "reasoned_action",
    "hold": "hold",
    "release": "reasoned_action",
    "file_objection": "objection",
    "resolve_objection": "objection_resolution",
    "request_consultation": "consultation",
    "record_decision": "decision",
}
CASES = 400


def collect_cases(count: int) -> list[tuple[str, Any]]:
    cases: list[tuple[str, Any]] = []

    @settings(max_examples=count, deadline=None, database=None)
    @given(
        st.sampled_from(sorted(UPDATES)).flatmap(
            lambda name: st.tuples(st.just(name), st.one_of(mutated(VALID_PAYLOADS[UPDATES[name]][1]), json_values))
        )
    )
    def gather(case: tuple[str, Any]) -> None:
        cases.append(case)

    gather()
    return cases


async def test_fuzzed_updates_never_fail_or_stick_a_nomination(client: Client, task_queue: str, db_engine: AsyncEngine):
    handle = await start(client, task_queue, "BANG_KHEN_TTG")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    cases = collect_cases(CASES)
    outcomes = {"accepted": 0, "refused": 0}
    for update, payload in cases:
        try:
            # Sent raw: the client does no validation of its own, the workflow must.
            await client.get_workflow_handle(handle.id).execute_update(update, payload)
            outcomes["accepted"] += 1
        except Exception as err:  # every refusal must come back as an update failure with a message
            assert isinstance(err, WorkflowUpdateFailedError), repr(err)
            assert refusal_reason(err).strip()
            outcomes["refused"] += 1
    print(f"\nfuzzed updates: {len(cases)} cases, {outcomes}")
    assert sum(outcomes.values()) == len(cases) >= CASES // 2

    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    history = await handle.fetch_history()
    failed = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    assert not failed, "bad input failed a workflow task"
    await assert_row_agrees(db_engine, client, handle.id)
    # Still alive and answering: a valid action is accepted or refused for a reason, never hangs.
    try:
        await act(
            client,
            handle.id,
            "record_council_result",
            VALID_PAYLOADS["meeting_result"][0].model_validate(VALID_PAYLOADS["meeting_result"][1]),
        )
    except ActionRefused as refused:
        assert str(refused)
