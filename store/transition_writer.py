"""One transition writer per engine: the transitions a worker process has in flight written in groups, one
transaction per group (store/transitions.py: write_transitions).

A caller queues its record and waits for its own result. Whenever the writer is free it takes everything
queued (at most MAX_GROUP) and writes it; what is queued meanwhile forms the next group. There is no timer:
waiting in the queue counts against the caller's (a local activity's) timeout, so a group is written as soon
as the one before it has committed, and an idle writer holds no task at all (the next record starts one).

A group whose transaction fails is written again one record at a time, so a record that breaks a constraint
(another workflow holding its business key) fails alone and the others are written; each record's own
error goes to its own caller. A connection lost on the way fails the whole group instead (every record would
meet the same): each caller's retry writes it again, keyed on (workflow_id, seq) as always.

A caller that is cancelled while it waits leaves its record to the writer: taken into a group already, it
is written with it, in one transaction; not yet taken, it is dropped. Either way it is written whole or not
at all. `drain` waits until everything queued has been written (the worker calls it on shutdown, before
it disposes of the engine)."""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.records import TransitionRecord
from store.audit import ChainKeyring
from store.transitions import write_transitions

# The most records one transaction writes: large enough to carry a year-end wave's tens of transitions in
# flight per worker, small enough that one group holds the audit chain's lock briefly.
MAX_GROUP = 50

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class _Queued:
    record: TransitionRecord
    result: asyncio.Future[dict[str, int]]


def _lost_connection(exc: BaseException) -> bool:
    """An error every record of the group would meet alike: the database went away, not one row's fault."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OSError | ConnectionError | TimeoutError)


class TransitionWriter:
    """Writes queued transitions in groups through `engine`; the chain is keyed under `keyring()`."""

    def __init__(self, engine: AsyncEngine, keyring: Callable[[], ChainKeyring], max_group: int = MAX_GROUP) -> None:
        # Held weakly: the registry below keys on the engine, so a writer must not keep its engine alive. Its
        # callers hold the engine while they wait.
        self._engine = weakref.ref(engine)
        self._keyring = keyring
        self._max_group = max_group
        self._queue: deque[_Queued] = deque()
        self._task: asyncio.Task[None] | None = None

    async def write(self, record: TransitionRecord) -> dict[str, int]:
        """Write `record` with whatever else is queued; returns how many rows its write changed (zeros for a
        transition already written), or raises its own error."""
        loop = asyncio.get_running_loop()
        queued = _Queued(record, loop.create_future())
        self._queue.append(queued)
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._run(), name="transition-writer")
        return await queued.result

    async def drain(self) -> None:
        """Return once everything queued so far has been written (or failed)."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})  # not cancelled with its caller; a later record may start another

    async def _run(self) -> None:
        group: list[_Queued] = []
        try:
            while self._queue:
                group = []
                while self._queue and len(group) < self._max_group:
                    queued = self._queue.popleft()
                    if not queued.result.cancelled():  # its caller stopped waiting before it was taken
                        group.append(queued)
                if group:
                    await self._write(group)
        except BaseException:
            # Only the writer's own cancellation (the event loop closing) gets here: the transaction in
            # progress is rolled back with its connection; its callers and those still queued are cancelled.
            for queued in [*group, *self._queue]:
                queued.result.cancel()
            self._queue.clear()
            raise

    async def _write(self, group: list[_Queued]) -> None:
        engine = self._engine()
        try:
            keyring = self._keyring()
            if engine is None:
                raise RuntimeError("the transition writer's engine is gone")
        except Exception as exc:  # no record of the group could be written: each caller is told
            for queued in group:
                _settle(queued.result, exc=exc)
            return
        try:
            async with engine.begin() as conn:
                results = await write_transitions(conn, [q.record for q in group], keyring)
        except Exception as exc:
            if len(group) > 1 and not _lost_connection(exc):
                log.info("transition_group_split", records=len(group), error=type(exc).__name__)
                for queued in group:
                    await self._write([queued])
                return
            for queued in group:
                _settle(queued.result, exc=exc)
            return
        for queued, result in zip(group, results, strict=True):
            _settle(queued.result, result=result)


def _settle(
    future: asyncio.Future[dict[str, int]], *, result: dict[str, int] | None = None, exc: Exception | None = None
) -> None:
    if future.done():  # its caller was cancelled after the record was taken: written (or not) all the same
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        assert result is not None
        future.set_result(result)


_WRITERS: weakref.WeakKeyDictionary[AsyncEngine, TransitionWriter] = weakref.WeakKeyDictionary()


def transition_writer(engine: AsyncEngine, keyring: Callable[[], ChainKeyring]) -> TransitionWriter:
    """The one writer of `engine` in this process (made on first use): every PersistenceActivities on the
    same engine writes through it, so the process's transitions in flight share its groups."""
    writer = _WRITERS.get(engine)
    if writer is None:
        writer = _WRITERS[engine] = TransitionWriter(engine, keyring)
    return writer


async def drain_transition_writer(engine: AsyncEngine) -> None:
    """Wait until `engine`'s writer, if it has one, has written everything queued (before disposing of it)."""
    writer = _WRITERS.get(engine)
    if writer is not None:
        await writer.drain()
