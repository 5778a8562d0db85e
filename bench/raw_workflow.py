"""The raw Temporal floor of the year-end wave: a trivial workflow of the same shape as a nomination.

One `RawNominationWorkflow` per nomination takes its route's steps (bench.wave_plan.ROUTE_STEPS) and causes
the same numbers of activities, local activities, signals, updates and timers as the real
`NominationWorkflow` on that route, in the same order, plus the same search-attribute upserts: with no-op
activities, no database, no pydantic models, no ballot sessions and no decision workflows. The wave harness
starts, signals and updates these as it does real nominations, on the same dev server, with worker
processes started the same way (`python -m bench.raw_workflow`, the same sandbox and worker options).

Steps: L = the no-op as a local activity (the roster reload), R = a transition (search-attribute upsert and
the no-op as a local activity, as `record_transition`; a normal one with local_transitions=False), LS / LU = a
local activity, then wait for signals / an update (the offer to a ballot session; the roster reload before a
staff action), S / SR = a signal (SR: then a transition), T = a timer then a transition, U / UT = an update
whose handler makes a transition (UT: while a deadline timer runs). A / AS / AU are L / LS / LU with a normal
activity (the shape before the roster reload and the offer became local activities), still accepted.

The no-op before a wait for signals (LS, AS) or for an update (LU, AU) prints `RAWREADY S|U <workflow id>`
on stdout (a local activity runs in the worker process, as a normal one does); the harness reads it and
sends the signals or the update, as the real harness reacts to PostgreSQL rows and ballot sessions. It is
the only thing the no-op does. The worker registers `raw_noop` as an activity, which serves both kinds.

    python -m bench.raw_workflow --task-queue Q [--address HOST:PORT] [worker options]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import signal
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import SearchAttributeKey

READY = "RAWREADY"
NOOP_TIMEOUT = timedelta(seconds=30)
STAGE = SearchAttributeKey.for_keyword("NominationStage")
BLOC = SearchAttributeKey.for_keyword("Bloc")
# Long enough never to fire during a wave: stands for the central board's appraisal deadline.
APPRAISAL_DEADLINE = timedelta(days=14)
CLOSE_AFTER = timedelta(seconds=1)  # as workflows/nomination.py closes a finished nomination
# The same for a ballot session's deadline, which a nomination in a council or bloc stage waits for.
SESSION_DEADLINE = timedelta(days=14)
# What the harness must send once the no-op of this step has run: signals (S), an update (U).
# (LD: the decision's one signal.)
READY_AFTER = {"LS": "S", "LD": "D", "LU": "U", "AS": "S", "AU": "U"}


@activity.defn(name="raw_noop")
async def raw_noop(workflow_id: str, ready: str) -> None:
    if ready:
        sys.stdout.write(f"{READY} {ready} {workflow_id}\n")
        sys.stdout.flush()


@workflow.defn(name="RawNominationWorkflow")
class RawNominationWorkflow:
    def __init__(self) -> None:
        self._signals = 0  # received
        self._consumed = 0
        self._gates = 0  # update steps reached
        self._tickets = 0  # updates admitted
        self._done = 0  # updates applied
        self._transitions = 0
        self._local_transitions = False  # as record_transition runs: local for new nominations

    @workflow.run
    async def run(self, steps: list[str], notice_seconds: int, local_transitions: bool = False) -> int:
        self._local_transitions = local_transitions
        workflow.upsert_search_attributes([BLOC.value_set("RAW")])
        for step in steps:
            if step in ("L", "LS", "LD", "LU"):
                await self._local_noop(READY_AFTER.get(step, ""))
            elif step in ("A", "AS", "AU"):
                await self._noop(READY_AFTER.get(step, ""))
            elif step == "R":
                await self._transition()
            elif step == "S":
                await workflow.wait_condition(lambda: self._signals > self._consumed)
                self._consumed += 1
            elif step == "SR":  # the decision, signalled by its decision workflow
                await workflow.wait_condition(lambda: self._signals > self._consumed)
                self._consumed += 1
                await self._transition()
            elif step == "SRT":  # the verdict, awaited with the session's deadline as a timer
                await workflow.wait_condition(lambda: self._signals > self._consumed, timeout=SESSION_DEADLINE)
                self._consumed += 1
                await self._transition()
            elif step == "T":
                await workflow.sleep(timedelta(seconds=notice_seconds))
                await self._transition()
            elif step == "C":  # a finished nomination closes a timer after its last action
                await workflow.sleep(CLOSE_AFTER)
            elif step in ("U", "UT"):
                self._gates += 1
                reached = functools.partial(self._applied, self._done + 1)
                if step == "UT":
                    await workflow.wait_condition(reached, timeout=APPRAISAL_DEADLINE)
                else:
                    await workflow.wait_condition(reached)
            else:
                raise ValueError(f"unknown step {step!r}")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._transitions

    def _applied(self, count: int) -> bool:
        return self._done >= count

    @workflow.signal
    def poke(self) -> None:
        self._signals += 1

    @workflow.update
    async def act(self) -> int:
        ticket = self._tickets
        self._tickets += 1
        await workflow.wait_condition(lambda: self._gates > ticket)
        await self._transition()
        self._done += 1
        return self._transitions

    async def _noop(self, ready: str = "") -> None:
        await workflow.execute_activity(
            raw_noop, args=[workflow.info().workflow_id, ready], start_to_close_timeout=NOOP_TIMEOUT
        )

    async def _local_noop(self, ready: str = "") -> None:
        await workflow.execute_local_activity(
            raw_noop, args=[workflow.info().workflow_id, ready], start_to_close_timeout=NOOP_TIMEOUT
        )

    async def _transition(self) -> None:
        self._transitions += 1
        workflow.upsert_search_attributes([STAGE.value_set(f"RAW_{self._transitions}")])
        if self._local_transitions:
            await self._local_noop()
        else:
            await self._noop()


def worker_options(args: argparse.Namespace) -> dict[str, int]:
    options = {
        "max_cached_workflows": args.max_cached_workflows,
        "max_concurrent_workflow_tasks": args.max_concurrent_workflow_tasks,
        "max_concurrent_activities": args.max_concurrent_activities,
    }
    return {k: v for k, v in options.items() if v is not None}


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-cached-workflows", type=int, default=None)
    parser.add_argument("--max-concurrent-workflow-tasks", type=int, default=None)
    parser.add_argument("--max-concurrent-activities", type=int, default=None)


async def serve(args: argparse.Namespace) -> None:
    from temporalio.worker import Worker

    from client.temporal import connect

    client = await connect(args.address, args.namespace)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = Worker(
        client,
        task_queue=args.task_queue,
        workflows=[RawNominationWorkflow],
        activities=[raw_noop],  # normal and local activities alike
        **worker_options(args),  # type: ignore[arg-type]
    )
    async with worker:
        sys.stdout.write(f"RAWWORKER started {os.getpid()}\n")
        sys.stdout.flush()
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--address", default=os.environ.get("TEMPORAL_ADDRESS", "localhost:7233"))
    parser.add_argument("--namespace", default=os.environ.get("TEMPORAL_NAMESPACE", "default"))
    add_worker_options(parser)
    code = 0
    try:
        asyncio.run(serve(parser.parse_args()))
    except Exception as exc:
        print(f"raw worker failed: {exc!r}", file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown, where the SDK's native runtime can abort


if __name__ == "__main__":
    main()
