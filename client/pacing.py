"""Priorities on the workflows the clients start, and the admission window of a list's nominations.

`start_priority` is the priority policy (domain/priority.py) as the SDK's `Priority` for a start;
TDKT_TASK_PRIORITIES=off starts everything at the server's default instead (for measuring without them).

`OpeningWindow` paces a list (an import, the API's batch, a year-end wave): per ministry at most `window`
of its nominations are started and not yet through their opening work (registration, the first transition,
joining a session — until the workflow has no task pending); the next row of that ministry starts when one
is through. A list's nominations start at the bulk priority (4, fair by ministry); once through, each is
raised to people's priority (2) with its ministry's fairness key, so a person's later action on it is not
queued behind the rest of a list. A row still in its opening work after SETTLE_TIMEOUT_S (people's work kept
the bulk queue waiting) frees its place and is raised once it is through. When no worker polls the task queue
nothing can get through, and when the queue or a row cannot be described nothing can be watched: those rows
then start without waiting (and keep the bulk priority)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import TYPE_CHECKING, ClassVar

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import Priority

from activities.workflow_priority import priorities_on, set_priorities
from domain.priority import (
    ADMISSION_WINDOW_ENV,
    WorkKind,
    admission_window,
    after_opening,
    priority_for,
)
from workflows.priorities import as_temporal

if TYPE_CHECKING:
    from temporalio.client import Client

log = logging.getLogger(__name__)

# How long a row holds its ministry's place at most while its opening work waits (a stopped worker, a
# server far behind): then the next row goes, and this one keeps the bulk priority until it is through.
SETTLE_TIMEOUT_S = 60.0
# The first look at a started nomination, and the longest pause between looks (doubling in between).
FIRST_LOOK_S = 0.1
LONGEST_PAUSE_S = 2.0
# How long a row let go by SETTLE_TIMEOUT_S is still watched, to be raised once it is through.
LATE_WATCH_S = 900.0
# Whether a worker polls the task queue is asked again after this long.
POLLERS_TTL_S = 10.0


class Opening(Enum):
    """What watching a started row's opening work found."""

    THROUGH = "through"  # it has run and waits for people: raise it
    ENDED = "ended"  # refused at registration, or ended already
    UNWATCHABLE = "unwatchable"  # it could not be described
    LATE = "late"  # still in its opening work when the watch's time ran out


def start_priority(kind: WorkKind, scope: str | None = None) -> Priority:
    """The priority a client starts this kind of work in this scope with (the server's default when
    TDKT_TASK_PRIORITIES=off)."""
    return as_temporal(priority_for(kind, scope)) if priorities_on() else Priority.default


class OpeningWindow:
    """Per ministry, at most `window` nominations of lists started and not yet through their opening work
    (0: no bound). One per event loop and task queue (`for_queue`), shared by every list started there, so
    two imports of one ministry share its places. `in_flight` / `peak` count the places held, by ministry;
    `unsettled` the rows let go by SETTLE_TIMEOUT_S."""

    def __init__(
        self, client: Client, task_queue: str, window: int | None = None, *, settle_timeout: float = SETTLE_TIMEOUT_S
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.window = admission_window(os.environ.get(ADMISSION_WINDOW_ENV)) if window is None else window
        self.settle_timeout = settle_timeout
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.unsettled = 0
        self.promoted = 0
        self._gates: dict[str, asyncio.Semaphore] = {}
        self._late: set[asyncio.Task[None]] = set()  # rows let go by the settle timeout, watched until through
        self._pollers: tuple[float, bool] | None = None

    _shared: ClassVar[dict[tuple[int, int, str], OpeningWindow]] = {}

    @classmethod
    def for_queue(cls, client: Client, task_queue: str) -> OpeningWindow:
        """The window every list on this task queue shares, in this event loop."""
        key = (id(asyncio.get_running_loop()), id(client), task_queue)
        window = cls._shared.get(key)
        if window is None or window.client is not client:
            window = cls._shared[key] = cls(client, task_queue)
        return window

    @classmethod
    def install(cls, client: Client, task_queue: str, window: int) -> OpeningWindow:
        """A fresh shared window of this size for the task queue, in this event loop (tests, the bench)."""
        installed = cls._shared[(id(asyncio.get_running_loop()), id(client), task_queue)] = cls(
            client, task_queue, window
        )
        return installed

    async def start(self, ministry: str, start: Callable[[], Awaitable[tuple[str, bool]]]) -> tuple[str, bool]:
        """Run `start` (a bulk start: (workflow id, created?)) once the ministry has a place, and hold the place
        until the nomination it created is through its opening work (then raised to people's priority)."""
        gate = self._gate(ministry)
        if gate is not None:
            await gate.acquire()
        self.in_flight[ministry] += 1
        self.peak[ministry] = max(self.peak[ministry], self.in_flight[ministry])
        try:
            workflow_id, created = await start()
            if created and await self._worker_polls():
                await self._through_opening(workflow_id, ministry)
            return workflow_id, created
        finally:
            self.in_flight[ministry] -= 1
            if gate is not None:
                gate.release()

    def _gate(self, ministry: str) -> asyncio.Semaphore | None:
        if self.window <= 0:
            return None
        gate = self._gates.get(ministry)
        if gate is None:
            gate = self._gates[ministry] = asyncio.Semaphore(self.window)
        return gate

    async def _worker_polls(self) -> bool:
        now = time.monotonic()
        if self._pollers is not None and now - self._pollers[0] < POLLERS_TTL_S:
            return self._pollers[1]
        try:
            described = await self.client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=self.client.namespace,
                    task_queue=TaskQueue(name=self.task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            )
            polls = len(described.pollers) > 0
        except Exception as err:  # cannot tell (no permission, another client): rows are not held back
            log.warning("task queue %s not described (%s): rows start unpaced", self.task_queue, type(err).__name__)
            polls = False
        if not polls:
            log.warning("no worker polls task queue %s: rows start unpaced", self.task_queue)
        self._pollers = (now, polls)
        return polls

    async def _through_opening(self, workflow_id: str, ministry: str) -> None:
        """Hold the row's place until it is through its opening work, then raise it. One not through within the
        settle timeout frees its place and is raised once it is through (watched in the background)."""
        match await self._watch(workflow_id, time.monotonic() + self.settle_timeout, FIRST_LOOK_S):
            case Opening.THROUGH:
                await self._raise_priority(workflow_id, ministry)
            case Opening.LATE:
                self.unsettled += 1
                log.warning(
                    "nomination %s not through its opening work after %.0fs: raised once it is",
                    workflow_id,
                    self.settle_timeout,
                )
                late = asyncio.create_task(self._raise_when_through(workflow_id, ministry))
                self._late.add(late)
                late.add_done_callback(self._late.discard)
            case Opening.UNWATCHABLE:
                self.unsettled += 1

    async def _raise_when_through(self, workflow_id: str, ministry: str) -> None:
        if await self._watch(workflow_id, time.monotonic() + LATE_WATCH_S, LONGEST_PAUSE_S) == Opening.THROUGH:
            await self._raise_priority(workflow_id, ministry)

    async def _watch(self, workflow_id: str, deadline: float, pause: float) -> Opening:
        """Describe the nomination, the pause doubling up to LONGEST_PAUSE_S, until it is through its opening
        work (it has run and has no task pending), has ended, cannot be described, or `deadline` comes."""
        handle = self.client.get_workflow_handle(workflow_id)
        while True:
            await asyncio.sleep(pause)
            try:
                described = await handle.describe()
            except Exception as err:  # it cannot be watched: it keeps the bulk priority
                log.warning("nomination %s not described (%s)", workflow_id, type(err).__name__)
                return Opening.UNWATCHABLE
            if described.status != WorkflowExecutionStatus.RUNNING:
                return Opening.ENDED  # refused at registration, or ended already: nothing to raise
            if described.history_length > 2 and not described.raw_description.HasField("pending_workflow_task"):
                return Opening.THROUGH
            if time.monotonic() + pause > deadline:
                return Opening.LATE
            pause = min(pause * 2, LONGEST_PAUSE_S)

    async def _raise_priority(self, workflow_id: str, ministry: str) -> None:
        raised = after_opening(WorkKind.BULK_NOMINATION, ministry)
        if raised is None or not priorities_on():
            return
        try:
            unset = await set_priorities(self.client, [(workflow_id, raised)])
        except Exception as err:  # it keeps the bulk priority: slower for people, nothing lost
            log.warning("nomination %s keeps the bulk priority (%s)", workflow_id, type(err).__name__)
            return
        if unset:
            log.warning("nomination %s keeps the bulk priority (not set)", workflow_id)
            return
        self.promoted += 1
