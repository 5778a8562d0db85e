"""The tests' clean-up of a stage (helpers.clear_stage) ends a nomination whose worker has stopped instead of
waiting for it: an update to it is never answered, and a clean-up that waited held the whole run."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowExecutionStatus

from domain.stages import Stage
from tests.integration.helpers import PROPOSER, clear_stage, start, wait_for_stage

pytestmark = pytest.mark.integration


async def test_a_nomination_whose_worker_stopped_is_ended_not_waited_for(
    client: Client, task_queue: str, db_engine: AsyncEngine
) -> None:
    from worker import build_worker

    own_queue = f"orphan-{uuid.uuid4().hex[:8]}"
    worker = build_worker(client, db_engine, own_queue)
    running = asyncio.create_task(worker.run())
    try:
        orphan = await start(client, own_queue, "BANG_KHEN_BO")
        await wait_for_stage(client, orphan.id, Stage.COUNCIL_REVIEW)
    finally:
        await worker.shutdown()
        await asyncio.gather(running, return_exceptions=True)
    served = await start(client, task_queue, "BANG_KHEN_BO")  # one the session's worker answers
    await wait_for_stage(client, served.id, Stage.COUNCIL_REVIEW)

    assert await clear_stage(client, db_engine, "BTP", Stage.COUNCIL_REVIEW, PROPOSER) >= 2

    assert (await orphan.describe()).status == WorkflowExecutionStatus.TERMINATED
    assert (await wait_for_stage(client, served.id, Stage.WITHDRAWN)).stage == Stage.WITHDRAWN
    async with db_engine.connect() as conn:
        result = await conn.execute(
            sa.text("SELECT workflow_id, stage FROM nominations WHERE workflow_id IN (:a, :b)"),
            {"a": orphan.id, "b": served.id},
        )
        rows: dict[str, str] = {row.workflow_id: row.stage for row in result}
    assert rows == {orphan.id: "WITHDRAWN", served.id: "WITHDRAWN"}
