"""The admission window's bound (client.pacing.OpeningWindow), without a server: a ministry's rows wait for
its places, another ministry's do not wait behind them; a row that was not created (already started) holds
no place after its start; the bench's options for the people-first figures."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from temporalio.api.workflow.v1 import PendingWorkflowTaskInfo
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionResponse
from temporalio.client import WorkflowExecutionStatus

from bench import wave
from client import pacing
from client.pacing import OpeningWindow, priorities_on, start_priority
from domain.priority import DEFAULT_ADMISSION_WINDOW, PRIORITIES_ENV, WorkKind


class Paced(OpeningWindow):
    """A window whose opening work is a release the test controls, per workflow id."""

    def __init__(self, window: int) -> None:
        super().__init__(client=None, task_queue="q", window=window)  # type: ignore[arg-type]
        self.through: dict[str, asyncio.Event] = {}
        self.opening: Counter[str] = Counter()
        self.most_opening: Counter[str] = Counter()

    async def _worker_polls(self) -> bool:
        return True

    async def _through_opening(self, workflow_id: str, ministry: str) -> None:
        self.opening[ministry] += 1
        self.most_opening[ministry] = max(self.most_opening[ministry], self.opening[ministry])
        try:
            await self.through.setdefault(workflow_id, asyncio.Event()).wait()
        finally:
            self.opening[ministry] -= 1


def starter(workflow_id: str, created: bool = True) -> Any:
    async def start() -> tuple[str, bool]:
        return workflow_id, created

    return start


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_ministrys_rows_wait_for_its_places_and_not_for_another_ministrys() -> None:
    window = Paced(2)
    big = [asyncio.create_task(window.start("BTP", starter(f"btp-{i}"))) for i in range(6)]
    await settle()
    assert window.in_flight["BTP"] == 2 and window.opening["BTP"] == 2
    # Another ministry's row goes at once, however many of BTP's wait.
    other = asyncio.create_task(window.start("BCA", starter("bca-0")))
    await settle()
    assert window.opening["BCA"] == 1
    window.through["bca-0"].set()
    assert await other == ("bca-0", True)
    # BTP's rows go two at a time as their opening work is done.
    for i in range(6):
        await settle()
        assert window.opening["BTP"] <= 2
        window.through.setdefault(f"btp-{i}", asyncio.Event()).set()
    assert [await t for t in big] == [(f"btp-{i}", True) for i in range(6)]
    assert window.peak == Counter({"BTP": 2, "BCA": 1})
    assert window.most_opening["BTP"] == 2
    assert not +window.in_flight


async def test_a_row_already_started_holds_no_place_after_its_start() -> None:
    window = Paced(1)
    assert await window.start("BTP", starter("btp-0", created=False)) == ("btp-0", False)
    assert window.opening["BTP"] == 0 and not +window.in_flight


async def test_window_zero_is_no_bound() -> None:
    window = Paced(0)
    rows = [asyncio.create_task(window.start("BTP", starter(f"btp-{i}"))) for i in range(30)]
    await settle()
    assert window.opening["BTP"] == 30
    for i in range(30):
        window.through[f"btp-{i}"].set()
    await asyncio.gather(*rows)


async def test_a_failed_start_gives_its_place_back() -> None:
    window = Paced(1)

    async def refused() -> tuple[str, bool]:
        raise RuntimeError("the server refused it")

    with pytest.raises(RuntimeError):
        await window.start("BTP", refused)
    assert not +window.in_flight
    assert await window.start("BTP", starter("btp-1", created=False)) == ("btp-1", False)


def test_priorities_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PRIORITIES_ENV, raising=False)
    assert priorities_on()
    assert start_priority(WorkKind.BULK_NOMINATION, "BTP").priority_key == 4
    monkeypatch.setenv(PRIORITIES_ENV, "off")
    assert not priorities_on()
    assert start_priority(WorkKind.BULK_NOMINATION, "BTP").priority_key is None


def test_the_bench_scales_its_people_first_figures_with_the_wave() -> None:
    defaults = wave.parse_args([])
    assert (defaults.admission_window, defaults.priorities) == (DEFAULT_ADMISSION_WINDOW, True)
    assert defaults.mixed() == 5000 and defaults.withdrawals() == 20
    smoke = wave.parse_args(["--nominations", "20", "--probe", "5"])
    assert smoke.mixed() == 100 and smoke.withdrawals() == 5
    before = wave.parse_args(["--no-priorities", "--admission-window", "0", "--mixed-rows", "0"])
    assert (before.priorities, before.admission_window, before.mixed()) == (False, 0, 0)
    for bad in (["--admission-window", "-1"], ["--mixed-rows", "-5"], ["--mixed-meetings", "0"]):
        with pytest.raises(SystemExit):
            wave.parse_args(bad)


class Described:
    """What `describe()` tells of a nomination: running, and whether a workflow task is pending."""

    def __init__(self, pending: bool) -> None:
        self.status = WorkflowExecutionStatus.RUNNING
        self.history_length = 12
        self.raw_description = DescribeWorkflowExecutionResponse(
            pending_workflow_task=PendingWorkflowTaskInfo() if pending else None
        )


class SlowOpening:
    """A client whose one nomination stays in its opening work until `through` is set."""

    def __init__(self) -> None:
        self.through = False
        self.described = 0

    def get_workflow_handle(self, workflow_id: str) -> SlowOpening:
        return self

    async def describe(self) -> Described:
        self.described += 1
        return Described(pending=not self.through)


async def test_a_row_late_through_its_opening_frees_its_place_and_is_raised_once_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pacing, "FIRST_LOOK_S", 0.001)
    monkeypatch.setattr(pacing, "LONGEST_PAUSE_S", 0.005)
    opening = SlowOpening()
    window = OpeningWindow(client=opening, task_queue="q", window=1, settle_timeout=0.05)  # type: ignore[arg-type]
    raised: list[tuple[str, str]] = []

    async def raise_priority(workflow_id: str, ministry: str) -> None:
        raised.append((workflow_id, ministry))

    monkeypatch.setattr(window, "_raise_priority", raise_priority)
    monkeypatch.setattr(window, "_worker_polls", lambda: asyncio.sleep(0, True))

    assert await asyncio.wait_for(window.start("BTP", starter("btp-0")), timeout=5) == ("btp-0", True)
    # Its place is free for the next row, and it keeps the bulk priority while it is still in its opening work.
    assert not +window.in_flight and window.unsettled == 1 and raised == []
    looks = opening.described
    await asyncio.sleep(0.05)
    assert opening.described > looks and raised == []  # still watched
    opening.through = True
    for _ in range(200):
        if raised:
            break
        await asyncio.sleep(0.005)
    assert raised == [("btp-0", "BTP")]
