"""Task queue priority and the lists' admission window, on the session's dev server and worker.

A ballot session starts at 1, fair by its scope; a nomination a person proposes at people's priority (2)
with its ministry as fairness key; a list's rows start at the bulk priority (4, fair by ministry) and are
raised to 2 once through their opening work; TDKT_TASK_PRIORITIES=off starts at the server's default. An
import of two ministries' rows with a window of 3 never has more than 3 of a ministry's nominations in their
opening work at once, seen from outside (each started row's describe()) and by the window's own count. The
nominations are Huân chương lao động hạng ba: they wait in the public notice (days long), where no ballot
session takes them, and are withdrawn at the end.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from client.ballots import open_session
from client.importer import start_all
from client.nominations import act, start_listed, start_nomination
from client.pacing import OpeningWindow
from domain.ballot_messages import SessionPhase, SessionStart
from domain.ballots import BallotSessionKind
from domain.messages import NominationStatus, ReasonedAction
from domain.nomination import Nomination, workflow_id_for
from domain.priority import PRIORITIES_ENV
from domain.stages import Stage
from tests.factories import nomination_data
from tests.integration.helpers import wait_for_stage

pytestmark = pytest.mark.integration

FORM = "HUAN_CHUONG_LD_3"  # public notice first: out of every ballot session's way
PROPOSERS = {"BTP": "btp.vutckt.le-thi-hoa", "VKSNDTC": "vksndtc.vutckt.tran-minh-quan"}  # fictional
WINDOW = 3
ROWS_PER_MINISTRY = 12


def listed(ministry: str, token: str, n: int) -> Nomination:
    return Nomination.model_validate(
        nomination_data(
            FORM,
            ministry=ministry,
            proposer=PROPOSERS[ministry],
            proposing_unit="Văn phòng",
            reference=f"{n}-{token}/TTr-{ministry}",
        )
    )


async def priority_of(client: Client, workflow_id: str) -> tuple[int, str]:
    info = (await client.get_workflow_handle(workflow_id).describe()).raw_description.workflow_execution_info
    return info.priority.priority_key, info.priority.fairness_key


async def started_priority(client: Client, workflow_id: str) -> tuple[int, str]:
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events(page_size=1):
        started = event.workflow_execution_started_event_attributes
        return started.priority.priority_key, started.priority.fairness_key
    raise AssertionError(f"{workflow_id}: no history")


async def withdraw_all(client: Client, nominations: Sequence[Nomination]) -> None:
    for nomination in nominations:
        try:
            await act(
                client,
                workflow_id_for(nomination),
                "withdraw",
                ReasonedAction(actor=nomination.proposer, reason="Dọn dẹp sau kiểm thử"),
            )
        except Exception:  # not started, or ended already
            continue


async def test_a_persons_nomination_starts_at_peoples_priority_fair_by_its_ministry(
    client: Client, task_queue: str
) -> None:
    nomination = listed("BTP", uuid.uuid4().hex[:8], 0)
    handle = await start_nomination(client, nomination, task_queue)
    try:
        await wait_for_stage(client, handle.id, Stage.PUBLIC_NOTICE)
        assert await priority_of(client, handle.id) == (2, "BTP")
    finally:
        await withdraw_all(client, [nomination])


async def test_a_ballot_session_starts_ahead_of_everything_fair_by_its_scope(client: Client, task_queue: str) -> None:
    # Opened by someone the roster does not let open it: the session ends CANCELLED having registered
    # nothing, which leaves no meeting behind for other tests; its start's priority is what is checked.
    start = SessionStart(
        kind=BallotSessionKind.COUNCIL,
        scope="BTP",
        meeting_ref=f"UT-{uuid.uuid4().hex[:8]}",
        opened_by="nobody.at-all",
        deadline=datetime.now(UTC) + timedelta(minutes=10),
        policy_version="2025.07",
        reminder_before_seconds=0,
    )
    handle = await open_session(client, task_queue, start)
    assert (await asyncio.wait_for(handle.result(), timeout=30)).phase == SessionPhase.CANCELLED
    assert await priority_of(client, handle.id) == (1, "BTP")


async def test_priorities_off_starts_at_the_servers_default(
    client: Client, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PRIORITIES_ENV, "off")
    nomination = listed("BTP", uuid.uuid4().hex[:8], 0)
    handle = await start_nomination(client, nomination, task_queue)
    try:
        await wait_for_stage(client, handle.id, Stage.PUBLIC_NOTICE)
        assert await priority_of(client, handle.id) == (0, "")
    finally:
        await withdraw_all(client, [nomination])


async def test_an_import_keeps_each_ministrys_window_and_raises_each_row_once_through(
    client: Client, task_queue: str, db_engine: AsyncEngine
) -> None:
    token = uuid.uuid4().hex[:8]
    rows = [
        (2 + i * len(PROPOSERS) + j, listed(ministry, token, i))
        for i in range(ROWS_PER_MINISTRY)
        for j, ministry in enumerate(PROPOSERS)
    ]
    ids = {workflow_id_for(n): n.ministry for _, n in rows}
    window = OpeningWindow.install(client, task_queue, WINDOW)
    seen_opening: Counter[str] = Counter()  # the most of a ministry's nominations seen in their opening work
    done = asyncio.Event()

    async def opening(workflow_id: str) -> bool:
        try:
            described = await client.get_workflow_handle(workflow_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False  # not started yet
            raise
        return described.status == WorkflowExecutionStatus.RUNNING and (
            described.history_length <= 2 or described.raw_description.HasField("pending_workflow_task")
        )

    async def watch() -> None:
        while not done.is_set():
            flags = await asyncio.gather(*(opening(i) for i in ids))
            now = Counter(ids[i] for i, flag in zip(ids, flags, strict=True) if flag)
            for ministry, count in now.items():
                seen_opening[ministry] = max(seen_opening[ministry], count)
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    progressed = 0

    def progress() -> None:
        nonlocal progressed
        progressed += 1

    try:
        counts = await start_all(client, task_queue, rows, progress, channel="API", engine=db_engine)
        done.set()
        await watcher

        assert counts.as_dict() == {"started": len(rows), "already_started": 0, "failed": 0}
        assert progressed == len(rows)
        # The bound held, by the window's own count and as the server showed the workflows meanwhile...
        assert window.peak == Counter(dict.fromkeys(PROPOSERS, WINDOW))
        assert seen_opening and all(count <= WINDOW for count in seen_opening.values()), seen_opening
        assert not +window.in_flight
        # ... and every row is through its opening work, waiting in the public notice, at people's priority.
        assert window.unsettled == 0
        assert window.promoted == len(rows)
        for workflow_id, ministry in ids.items():
            assert await started_priority(client, workflow_id) == (4, ministry)
            assert await priority_of(client, workflow_id) == (2, ministry)
        sample = next(iter(ids))
        await wait_for_stage(client, sample, Stage.PUBLIC_NOTICE)
        kinds = [e.event_type async for e in client.get_workflow_handle(sample).fetch_history_events()]
        assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED in kinds
    finally:
        done.set()
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await withdraw_all(client, [n for _, n in rows])


async def test_a_listed_row_refused_at_registration_frees_its_place_and_is_not_raised(
    client: Client, task_queue: str
) -> None:
    # Started without the client's roster check (no engine): the workflow refuses the proposer itself.
    nomination = Nomination.model_validate(
        nomination_data(
            FORM,
            ministry="BTP",
            proposer="nobody.at-all",
            proposing_unit="Văn phòng",
            reference=f"0-{uuid.uuid4().hex[:8]}/TTr-BTP",
        )
    )
    window = OpeningWindow.install(client, task_queue, 1)
    workflow_id, created = await asyncio.wait_for(start_listed(client, task_queue, nomination), timeout=60)

    assert created and workflow_id == workflow_id_for(nomination)
    handle = client.get_workflow_handle(workflow_id, result_type=NominationStatus)
    assert (await asyncio.wait_for(handle.result(), timeout=30)).stage == Stage.REFUSED
    assert not +window.in_flight
    assert (window.unsettled, window.promoted) == (0, 0)
    assert await priority_of(client, workflow_id) == (4, "BTP")
