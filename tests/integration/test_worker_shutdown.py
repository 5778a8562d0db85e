"""`python worker.py` stops cleanly on SIGTERM and on SIGINT with a nomination in flight, and a worker started
afterwards carries that nomination on to its end.

The worker runs as a subprocess against the test run's dev server, on a task queue and a PostgreSQL database
of its own. The nomination is in its public notice when the signal arrives; the notice's timer fires while no
worker is running, and the restarted worker takes it from there to AWARDED.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from client.nominations import act
from domain.messages import CentralApproval
from domain.stages import Stage
from store.db import create_engine
from tests.integration.conftest import ROOT
from tests.integration.fresh_database import fresh_database
from tests.integration.helpers import CENTRAL, SECRETARY, assert_row_agrees, meeting, start, wait_for_stage

pytestmark = pytest.mark.integration

STARTUP_BOUND_S = 60.0  # imports, migration check, connection, search attributes
SHUTDOWN_BOUND_S = 20.0  # from the signal to the process's exit
NOTICE_SECONDS = 4


class WorkerProcess:
    """One `python worker.py` with its log (JSON lines on stderr) in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py")],
            cwd=ROOT,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def events(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return found

    def names(self) -> list[str]:
        return [e.get("event", "") for e in self.events()]

    async def wait_started(self) -> None:
        deadline = time.monotonic() + STARTUP_BOUND_S
        while "worker_started" not in self.names():
            assert self.process.poll() is None, f"the worker exited while starting:\n{self.tail()}"
            assert time.monotonic() < deadline, f"the worker did not start:\n{self.tail()}"
            await asyncio.sleep(0.1)

    async def stop_with(self, sig: signal.Signals) -> tuple[int, float]:
        """Send `sig`; (exit code, seconds until the process exited)."""
        sent = time.monotonic()
        self.process.send_signal(sig)
        while self.process.poll() is None and time.monotonic() - sent < SHUTDOWN_BOUND_S:
            await asyncio.sleep(0.05)
        took = time.monotonic() - sent
        code = self.process.poll()
        assert code is not None, f"still running {SHUTDOWN_BOUND_S}s after {sig.name}:\n{self.tail()}"
        self._log_file.close()
        return code, took

    def kill(self) -> None:
        """Cleanup only: this test's own process, by its handle."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log_file.close()

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


@pytest.fixture
async def own_database() -> AsyncIterator[str]:
    """The subprocess workers' database: their outbox must not send the rest of the run's notifications."""
    async with fresh_database("tdkt_shutdown") as url:
        yield url


@pytest.fixture
async def own_engine(own_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(own_database)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def worker_env(client: Client, own_database: str) -> dict[str, str]:
    return dict(os.environ) | {
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": client.namespace,
        "TASK_QUEUE": f"shutdown-{uuid.uuid4().hex[:8]}",
        "DATABASE_URL": own_database,
        "LOG_FORMAT": "json",
        "NOTIFY_CHANNEL": "log",
    }


@pytest.fixture
def workers(tmp_path: Path, worker_env: dict[str, str]) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for each in started:
        each.kill()


def launch(workers: list[WorkerProcess], env: dict[str, str], log: Path) -> WorkerProcess:
    worker = WorkerProcess(env, log)
    workers.append(worker)
    return worker


async def assert_clean_stop(worker: WorkerProcess, sig: signal.Signals) -> None:
    code, took = await worker.stop_with(sig)
    print(f"\n{sig.name}: exit {code} after {took:.2f}s")
    assert code == 0, f"exit {code} after {sig.name}:\n{worker.tail()}"
    assert took < SHUTDOWN_BOUND_S
    names = worker.names()
    assert "worker_stopping" in names and "worker_stopped" in names, worker.tail()
    assert names.index("worker_started") < names.index("worker_stopping") < names.index("worker_stopped")
    assert "worker_failed" not in names, worker.tail()
    assert names[-1] == "worker_stopped", worker.tail()  # nothing after it: the process ended there


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_the_worker_stops_cleanly_and_a_new_one_finishes_the_nomination(
    client: Client,
    own_engine: AsyncEngine,
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    tmp_path: Path,
    sig: signal.Signals,
):
    queue = worker_env["TASK_QUEUE"]
    first = launch(workers, worker_env, tmp_path / "worker-1.log")
    await first.wait_started()
    handle = await start(client, queue, "HUAN_CHUONG_LD_3", notice_seconds=NOTICE_SECONDS)
    in_notice = await wait_for_stage(client, handle.id, Stage.PUBLIC_NOTICE)
    assert in_notice.notice_ends_at is not None

    await assert_clean_stop(first, sig)
    assert datetime.now(UTC) < in_notice.notice_ends_at, "the signal came after the notice: not mid-flight"
    # The notice ends while no worker runs; its timer waits in the server's history for the next worker.
    await asyncio.sleep(max(0.0, (in_notice.notice_ends_at - datetime.now(UTC)).total_seconds()) + 1)
    history = await handle.fetch_history()
    assert any(e.event_type == EventType.EVENT_TYPE_TIMER_FIRED for e in history.events)

    second = launch(workers, worker_env, tmp_path / "worker-2.log")
    await second.wait_started()
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    await act(client, handle.id, "record_council_result", meeting(SECRETARY))
    approval = CentralApproval(actor=CENTRAL, decision_no="77/QĐ-CTN", decision_date=date(2026, 12, 20))
    assert (await act(client, handle.id, "approve", approval)).stage == Stage.AWARDED
    final = await assert_row_agrees(own_engine, client, handle.id)
    assert [t.action for t in final.transitions] == ["SUBMIT", "NOTICE_ELAPSED", "RECORD_COUNCIL_RESULT", "APPROVE"]
    assert final.decision_no == "77/QĐ-CTN"
    assert (await handle.result()).stage == Stage.AWARDED
    history = await handle.fetch_history()
    failed = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    assert not failed, "a workflow task failed across the restart"

    await assert_clean_stop(second, sig)
    assert_no_personal_data([first, second], [final.nominee_name, *roster_personal_data()])


def roster_personal_data() -> list[str]:
    roster = json.loads((ROOT / "config" / "roster.json").read_text(encoding="utf-8"))
    return [a["full_name"] for a in roster["actors"]] + [a["email"] for a in roster["actors"] if a.get("email")]


def assert_no_personal_data(workers: list[WorkerProcess], private: list[str]) -> None:
    """The INFO log holds ids and counts: no name or address, though the log channel delivered notices."""
    text = "\n".join(w.log.read_text(encoding="utf-8", errors="replace") for w in workers)
    assert any("notification_delivered" in w.names() for w in workers), "the log channel delivered nothing"
    leaked = sorted({p for p in private if p in text})
    assert not leaked, f"personal data in the worker's log: {len(leaked)} value(s)"
