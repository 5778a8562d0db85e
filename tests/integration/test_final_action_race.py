"""An action that ends a nomination survives a signal arriving while its workflow task runs.

The withdrawal's write (a local activity) is held on the nomination's row locked in PostgreSQL, and a ballot
session's signal reaches the workflow meanwhile. A task that closed the run would now be refused by the server
(a new event arrived), and the update in it aborted after its transition was written: the database would say
WITHDRAWN while the workflow never withdrew. The run closes in a later task, so the update's task is accepted.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from client.nominations import act
from domain.messages import ReasonedAction, SessionScheduled
from domain.stages import Stage
from tests.integration.helpers import PROPOSER, assert_row_agrees, start, wait_for_stage
from workflows.nomination import NominationWorkflow

pytestmark = pytest.mark.integration


async def test_a_withdrawal_survives_a_signal_arriving_while_it_is_written(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    handle = await start(client, task_queue, "BANG_KHEN_BO")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    await assert_row_agrees(db_engine, client, handle.id)
    withdrawal = ReasonedAction(actor=PROPOSER, reason="Đơn vị rút đề nghị")
    async with db_engine.connect() as blocker:
        locked = await blocker.begin()
        await blocker.execute(sa.text("SELECT 1 FROM nominations WHERE workflow_id = :w FOR UPDATE"), {"w": handle.id})
        withdrawn = asyncio.create_task(act(client, handle.id, "withdraw", withdrawal))
        await asyncio.sleep(1.0)  # the withdrawal is accepted; its write waits on the lock inside the task
        deadline = datetime.now(UTC) + timedelta(days=3)
        await handle.signal(
            NominationWorkflow.session_scheduled, SessionScheduled(session_id="ballot-council-BTP-x", deadline=deadline)
        )
        await asyncio.sleep(0.5)
        await locked.rollback()
    receipt = await asyncio.wait_for(withdrawn, timeout=30)
    assert receipt.stage == Stage.WITHDRAWN
    assert (await handle.result()).stage == Stage.WITHDRAWN
    final = await assert_row_agrees(db_engine, client, handle.id)
    assert [t.action for t in final.transitions][-1] == "WITHDRAW"
    events = [e async for e in handle.fetch_history_events()]
    failed = [e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    assert not failed, [e.workflow_task_failed_event_attributes.cause for e in failed]
    completed_updates = [e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED]
    assert len(completed_updates) == 1
