"""The ballot sessions' worker runs on an event loop of its own, in a thread of the worker's process, with its
own Temporal connection and database engine (worker.SessionsLoop); it starts, stops and fails as the SDK's
Worker does."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from worker import SessionsLoop

pytestmark = pytest.mark.integration

engines_seen: list[AsyncEngine] = []


@activity.defn(name="sessions_loop_where")
async def where() -> list[str]:
    """The thread and the loop this activity ran on, and what the loop's own database engine answers."""
    async with engines_seen[-1].connect() as connection:
        answered = (await connection.execute(sa.text("SELECT 1"))).scalar_one()
    here = threading.current_thread()
    return [here.name, str(here.ident), str(id(asyncio.get_running_loop())), str(answered)]


@workflow.defn(name="SessionsLoopWhere")
class Where:
    @workflow.run
    async def run(self) -> list[str]:
        return await workflow.execute_local_activity(where, start_to_close_timeout=timedelta(seconds=20))


def worker_on(queue: str, namespace: str | None = None) -> Callable[[Client, AsyncEngine], Worker]:
    def make(client: Client, engine: AsyncEngine) -> Worker:
        engines_seen.append(engine)
        if namespace is not None:
            config = client.config()
            config["namespace"] = namespace
            client = Client(**config)
        return Worker(
            client,
            task_queue=queue,
            workflows=[Where],
            activities=[where],
            workflow_runner=UnsandboxedWorkflowRunner(),
        )

    return make


async def test_the_sessions_worker_runs_on_a_loop_and_a_thread_of_its_own(client: Client, database_url: str) -> None:
    queue = f"loop-{uuid.uuid4().hex[:8]}"
    loop = SessionsLoop(client, database_url, worker_on(queue))
    async with loop:
        assert loop.is_running
        thread, ident, loop_id, answered = await client.execute_workflow(
            Where.run, id=f"where-{queue}", task_queue=queue, execution_timeout=timedelta(seconds=60)
        )
    assert thread == "ballot-sessions-loop"
    assert thread != threading.current_thread().name
    assert loop_id != str(id(asyncio.get_running_loop()))
    assert answered == "1"  # the thread's own engine, on the same database
    assert not loop.is_running
    assert ident not in {str(t.ident) for t in threading.enumerate()}  # the thread has ended


async def test_run_returns_once_shut_down(client: Client, database_url: str) -> None:
    queue = f"loop-{uuid.uuid4().hex[:8]}"
    loop = SessionsLoop(client, database_url, worker_on(queue))
    running = asyncio.create_task(loop.run())
    result = await client.execute_workflow(
        Where.run, id=f"where-{queue}", task_queue=queue, execution_timeout=timedelta(seconds=60)
    )
    assert result[0] == "ballot-sessions-loop"
    await loop.shutdown()
    await asyncio.wait_for(running, timeout=30)
    assert not loop.is_running


async def test_a_worker_that_cannot_be_built_fails_the_start(client: Client, database_url: str) -> None:
    def broken(client: Client, engine: AsyncEngine) -> Worker:
        raise ValueError("no such workflow")

    loop = SessionsLoop(client, database_url, broken)
    with pytest.raises(ValueError, match="no such workflow"):
        async with loop:
            pass
    assert not loop.is_running
    await loop.shutdown()  # nothing left to stop: returns at once


async def test_a_worker_that_fails_while_running_stops_the_block_and_raises(client: Client, database_url: str) -> None:
    """As the SDK's Worker does under `async with`: the block is cancelled and the worker's error raised."""
    queue = f"loop-{uuid.uuid4().hex[:8]}"
    loop = SessionsLoop(client, database_url, worker_on(queue, namespace=f"missing-{queue}"))
    with pytest.raises(RuntimeError, match=r"(?i)namespace"):
        async with loop:
            await asyncio.sleep(60)  # cancelled when the worker fails
    assert not loop.is_running
