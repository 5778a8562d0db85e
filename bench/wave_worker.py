"""worker.py with its knobs turned, for the wave benchmark (bench.wave --worker-impl tuned).

The same workflows, activities, sandbox and outbox dispatcher as `python worker.py` (it calls
worker.build_worker), with worker options that worker.py does not expose and its own database pool:

    python -m bench.wave_worker [--max-cached-workflows N] [--max-concurrent-workflow-tasks N]
                                [--max-concurrent-activities N] [--db-pool-size N] [--no-pre-ping]
                                [--passthrough-workflows]

Settings come from the environment as for worker.py (TEMPORAL_ADDRESS, TASK_QUEUE, DATABASE_URL, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import signal
import sys
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import worker as engine_worker
from activities.db import create_engine, normalise_url
from activities.logging import configure_logging
from activities.migrate import upgrade_to_head
from activities.notify import OutboxDispatcher, channel_from_env
from bench.raw_workflow import add_worker_options, worker_options
from runtime.settings import Settings
from runtime.temporal import connect, ensure_search_attributes


async def serve(args: argparse.Namespace) -> None:
    settings = Settings.from_env()
    log = structlog.get_logger("worker")
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is required")
    url = normalise_url(settings.database_url)
    await upgrade_to_head(url)
    if args.db_pool_size is None and not args.no_pre_ping:
        engine = create_engine(url)
    else:
        size = args.db_pool_size or 10
        engine = create_async_engine(
            url, pool_pre_ping=not args.no_pre_ping, pool_size=size, max_overflow=size, pool_recycle=1800
        )
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    await ensure_search_attributes(client)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    options: dict[str, Any] = dict(worker_options(args))
    # build_worker constructs `Worker(...)` from worker.py's globals: hand it one with the options set.
    engine_worker.Worker = functools.partial(Worker, **options)  # type: ignore[assignment,misc]
    if args.passthrough_workflows:
        # The workflow modules are imported once per process instead of once per workflow instance (the
        # sandbox still isolates each run's state; it no longer re-checks those modules' own imports).
        restrictions = SandboxRestrictions.default.with_passthrough_modules(
            *engine_worker.PASSTHROUGH_MODULES, "workflows"
        )
        engine_worker.sandbox_runner = lambda: SandboxedWorkflowRunner(restrictions=restrictions)
    worker = engine_worker.build_worker(client, engine, settings.task_queue)
    dispatcher = OutboxDispatcher(engine, channel_from_env())
    log.info("worker_started", task_queue=settings.task_queue, options=options, db_pool_size=args.db_pool_size)
    async with worker:
        dispatch = asyncio.create_task(dispatcher.run(stop))
        await stop.wait()
        await dispatch
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_worker_options(parser)
    parser.add_argument("--db-pool-size", type=int, default=None, help="pool_size = max_overflow (default 10)")
    parser.add_argument("--no-pre-ping", action="store_true", help="skip SELECT 1 on every pool checkout")
    parser.add_argument(
        "--passthrough-workflows",
        action="store_true",
        help="import workflows/ once per process (worker.py itself does so since the wave's run E)",
    )
    args = parser.parse_args()
    configure_logging(json=Settings.from_env().log_format == "json")
    code = 0
    try:
        asyncio.run(serve(args))
    except Exception:
        structlog.get_logger("worker").exception("worker_failed")
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown (sdk-python#300)


if __name__ == "__main__":
    main()
