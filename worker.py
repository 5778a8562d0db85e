"""The worker: nomination workflows and their activities on one task queue, the ballot sessions on theirs beside
it (domain/task_queues.py), plus the outbox dispatcher.

python worker.py            # settings from TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE (or an envconfig profile:
                            # TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE, TEMPORAL_API_KEY, TEMPORAL_TLS_*), TASK_QUEUE,
                            # DATABASE_URL (default: SQLite under .state/), NOTIFY_CHANNEL, SMTP_*;
                            # knobs from TDKT_MAX_* and DB_POOL_* (store/tuning.py); Prometheus metrics on
                            # WORKER_METRICS_PORT (off when unset); tracing from OTEL_* (off when unset)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import ServiceClient
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.audit_anchor import AuditAnchorActivities
from activities.ballots import BallotActivities
from activities.bloc_year import BlocYearActivities
from activities.decisions import DecisionActivities
from activities.identity_claims import IdentityActivities
from activities.persistence import PersistenceActivities
from activities.session_roster import SessionRosterActivities
from client.audit_anchors import anchor_interval, ensure_anchor_workflow
from client.settings import Settings, TemporalConfigError
from client.temporal import connect, ensure_search_attributes
from domain.bloc.year_state import warm_bloc_data
from domain.catalog import policy_sets
from domain.task_queues import session_task_queue
from observability.logs import configure_logging
from observability.metrics import MetricsConfigError, metrics_runtime, worker_metrics_address
from observability.tracing import TracingConfigError, configure_tracing, shutdown_tracing
from security.audit_keys import audit_keyring
from security.codec import CodecError, data_converter, load_keyring
from security.keys import MissingKey, PublishedKey
from store.db import create_engine, default_database_url
from store.migrate import DatabaseUnreachable, MigrationFailed, upgrade_in_child
from store.outbox import OutboxDispatcher, channel_from_env
from store.transition_writer import drain_transition_writer
from store.tuning import PoolSettings, TuningError, WorkerOptions, pool_settings, worker_options, workflow_sandbox
from workflows.audit_anchor import AuditAnchorWorkflow
from workflows.ballot_session import BallotSessionWorkflow
from workflows.bloc_year import BlocYearWorkflow
from workflows.decision import DecisionWorkflow
from workflows.nomination import NominationWorkflow

# Side-effect-free modules shared with the sandbox instead of re-imported for every workflow run.
PASSTHROUGH_MODULES: Sequence[str] = (
    "domain",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "email_validator",
    "cryptography",
    "security",  # the ballot's crypto (blind-signature checks in the session's validators): pure functions
    # workflows/ keeps no module-level mutable state: imported once per process instead of once per workflow
    # instance (year-end wave: -18 % worker CPU and memory, docs/performance.md).
    "workflows",
    "opentelemetry",  # the tracing interceptor's workflow side, when tracing is on
)

WORKFLOWS = [NominationWorkflow, BallotSessionWorkflow, DecisionWorkflow, AuditAnchorWorkflow, BlocYearWorkflow]


def sandbox_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )


def workflow_runner(env: Mapping[str, str]) -> WorkflowRunner:
    """The sandbox when TDKT_WORKFLOW_SANDBOX=on (the test suite), unsandboxed otherwise (store/tuning.py)."""
    return sandbox_runner() if workflow_sandbox(env) else UnsandboxedWorkflowRunner()


def build_replayer() -> Replayer:
    """The same workflows and converter as the worker, always in the sandbox (the stricter check), for
    replaying recorded histories."""
    policy_sets()
    return Replayer(workflows=WORKFLOWS, data_converter=data_converter(), workflow_runner=sandbox_runner())


class RunsLikeAWorker(Protocol):
    """What EngineWorkers needs of each of its workers: the SDK's Worker, or SessionsLoop."""

    @property
    def is_running(self) -> bool: ...

    async def run(self) -> None: ...

    async def shutdown(self) -> None: ...

    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, exc_type: type[BaseException] | None, *args: Any) -> None: ...


class EngineWorkers:
    """The engine's worker and its ballot sessions' worker in one process: started, run and stopped together
    (the interface of the SDK's Worker that the worker process, the tests and the benches use)."""

    def __init__(self, *workers: RunsLikeAWorker) -> None:
        self.workers = workers

    async def run(self) -> None:
        """Run every worker until shut down; one that fails stops the others, and its error is raised."""
        running = [asyncio.create_task(w.run()) for w in self.workers]
        try:
            await asyncio.gather(*running)
        except BaseException:
            await self.shutdown()
            await asyncio.gather(*running, return_exceptions=True)
            raise

    async def shutdown(self) -> None:
        await asyncio.gather(*(w.shutdown() for w in self.workers if w.is_running))

    async def __aenter__(self) -> EngineWorkers:
        for w in self.workers:
            await w.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for w in reversed(self.workers):
            await w.__aexit__(*exc)  # type: ignore[arg-type]


# The sessions' local activities (credentials, the count, the register) run a few at a time.
SESSIONS_POOL = PoolSettings(size=4, pre_ping=False)


class SessionsLoop:
    """A worker built and run on an event loop of its own, in a thread of this process, with its own Temporal
    connection and database engine (the SDK's client and an asyncpg pool each belong to the loop that made
    them).

    For the ballot sessions: a member's credential and sealed ballot wait on the session's workflow task and its
    local activity, which on the process's one loop queued behind every ready callback of a wave's nominations.
    On a loop of their own they wait for the GIL only (docs/performance.md). `make` builds the worker from the
    thread's client and engine; the rest of the interface is the SDK Worker's."""

    def __init__(self, client: Client, database_url: str, make: Callable[[Client, AsyncEngine], Worker]) -> None:
        self._config = client.config()
        self._database_url = database_url
        self._make = make
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._stop: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self._thread: threading.Thread | None = None
        self._exiting = False

    @property
    def is_running(self) -> bool:
        return self._thread is not None and not self._done.done()

    async def run(self) -> None:
        self._start()
        await asyncio.wrap_future(self._done)

    async def shutdown(self) -> None:
        """Stop the worker (gracefully, as Worker.shutdown) and wait for the thread's loop to finish; its error,
        if any, is raised by run and __aexit__, not here."""
        if self._thread is None:
            return
        await _settled(self._ready)
        if self._stop is not None:
            loop, stop = self._stop
            if not loop.is_closed():
                loop.call_soon_threadsafe(stop.set)
        await _settled(self._done)
        await asyncio.to_thread(self._thread.join)  # its last step after setting done: ended when this returns

    async def __aenter__(self) -> SessionsLoop:
        """Start the thread; as the SDK's Worker does, a worker that fails cancels the task inside `async with`,
        and __aexit__ raises its error."""
        self._start()
        await asyncio.wrap_future(self._ready)
        inside, loop = asyncio.current_task(), asyncio.get_running_loop()

        def cancel_inside(done: concurrent.futures.Future[None]) -> None:
            if inside is not None and not self._exiting and done.exception() is not None:
                loop.call_soon_threadsafe(inside.cancel)

        self._done.add_done_callback(cancel_inside)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *args: Any) -> None:
        self._exiting = True
        await self.shutdown()
        await asyncio.wrap_future(self._done)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._main, name="ballot-sessions-loop", daemon=True)
            self._thread.start()

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as err:  # handed to the loop that waits on this thread
            for future in (self._done, self._ready):  # done first: whoever wakes on ready sees it stopped
                if not future.done():
                    future.set_exception(err)
        else:
            for future in (self._done, self._ready):
                if not future.done():
                    future.set_result(None)

    async def _serve(self) -> None:
        stop = asyncio.Event()
        self._stop = (asyncio.get_running_loop(), stop)
        config = self._config.copy()
        config["service_client"] = await ServiceClient.connect(self._config["service_client"].config)
        engine = create_engine(self._database_url, SESSIONS_POOL)
        try:
            worker = self._make(Client(**config), engine)
            running = asyncio.create_task(worker.run())
            self._ready.set_result(None)
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            await worker.shutdown()
            stopping.cancel()
            await running  # the worker's own error, if it failed
        finally:
            await engine.dispose()


async def _settled(future: concurrent.futures.Future[None]) -> None:
    """Wait for a thread's future to finish, whatever its outcome, without raising: its error is raised by those
    that await the future itself (run, __aexit__)."""
    waiter = asyncio.wrap_future(future)
    await asyncio.wait([waiter])
    if not waiter.cancelled():
        waiter.exception()  # taken here, so asyncio does not report it as never retrieved


def engine_activities(client: Client, engine: AsyncEngine) -> list[Callable[..., Any]]:
    """Every activity of the engine, bound to `client` and `engine` (both of the loop that runs them)."""
    persistence = PersistenceActivities(engine)
    ballots = BallotActivities(engine, client)  # the codec keyring encrypts the sessions' signing keys
    session_roster = SessionRosterActivities(engine)
    decisions = DecisionActivities(engine, client)
    anchors = AuditAnchorActivities(engine)  # stops here when the audit key is missing
    identities = IdentityActivities(engine)
    bloc_years = BlocYearActivities(engine)
    return [
        persistence.record_transition,
        persistence.load_roster_snapshot,
        session_roster.load_scope_snapshot,
        ballots.register_ballot_session,
        ballots.publish_ballot_paper,
        ballots.waiting_candidates,
        ballots.claim_closed_list,
        ballots.offer_to_open_session,
        ballots.snapshot_electorate,
        ballots.prepare_session_keys,
        ballots.round_signing_keys,
        ballots.sign_credential,
        ballots.open_and_count,
        ballots.destroy_session_secrets,
        ballots.record_ballot_minutes,
        ballots.record_tie_decision,
        ballots.release_from_list,
        ballots.amend_ballot_minutes,
        ballots.write_session_notifications,
        decisions.deliver_decision,
        decisions.raise_refusing_nominations,
        decisions.nomination_standing,
        decisions.persist_decision,
        anchors.read_audit_head,
        identities.claim_nominee_identity,
        identities.record_refused_start,
        bloc_years.load_bloc_roster,
        bloc_years.record_bloc_year,
        bloc_years.hand_over_bloc_head,
        bloc_years.proposals_at_bloc_vote,
    ]


def build_worker(
    client: Client,
    engine: AsyncEngine,
    task_queue: str,
    options: WorkerOptions | None = None,
) -> EngineWorkers:
    """The worker on `task_queue`, and the ballot sessions' on theirs on a loop of their own (SessionsLoop);
    `options` are Worker keyword arguments for both (default: those TDKT_MAX_* set, store/tuning.py)."""
    policy_sets()  # read the policy files here, outside the sandbox, once per process
    warm_bloc_data()  # the bloc scoring tables and rotation orders, likewise
    knobs = worker_options(os.environ) if options is None else options

    def sessions_worker(own_client: Client, own_engine: AsyncEngine) -> Worker:
        return Worker(
            own_client,
            task_queue=session_task_queue(task_queue),
            workflows=[BallotSessionWorkflow],
            activities=engine_activities(own_client, own_engine),
            workflow_runner=workflow_runner(os.environ),
            **knobs,
        )

    return EngineWorkers(
        Worker(
            client,
            task_queue=task_queue,
            workflows=WORKFLOWS,
            activities=engine_activities(client, engine),
            workflow_runner=workflow_runner(os.environ),
            **knobs,
        ),
        SessionsLoop(client, engine.url.render_as_string(hide_password=False), sessions_worker),
    )


async def migrate_when_reachable(database_url: str, log: structlog.typing.FilteringBoundLogger) -> None:
    """A worker started while the database is down waits for it instead of exiting."""
    delay = 1.0
    while True:
        try:
            await upgrade_in_child(database_url)
            return
        except DatabaseUnreachable as err:
            log.warning("database_unreachable", retry_in_s=delay, error=(str(err).splitlines() or [""])[-1])
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


async def run_worker(settings: Settings) -> None:
    log = structlog.get_logger("worker")
    database_url = settings.database_url or default_database_url()
    # Read the knobs and keys first: a bad value or a missing key stops the worker before it waits for anything.
    options = worker_options(os.environ)
    interval = anchor_interval(os.environ)
    load_keyring()
    audit_keyring()
    metrics_address = worker_metrics_address(os.environ)
    configure_tracing("tdkt-worker")  # before connecting: the client takes the tracing interceptor
    # The worker's activities retry a failed query, so a stale connection costs a retry, not a user's error:
    # no pre-ping round trip on every checkout unless DB_POOL_PRE_PING=1 (docs/performance.md).
    pool = pool_settings(os.environ, pre_ping_default=False)
    await migrate_when_reachable(database_url, log)
    engine = create_engine(database_url, pool)
    # The SDK's Prometheus endpoint (its series and the engine's, observability/metrics.py) lives in the
    # client's runtime, so the worker built on that client reports through it.
    runtime = metrics_runtime(metrics_address) if metrics_address else None
    client = await connect(
        settings.temporal_address, settings.temporal_namespace, profile=settings.temporal, runtime=runtime
    )
    added = await ensure_search_attributes(client)
    if added:
        log.info("search_attributes_registered", added=added)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    worker = build_worker(client, engine, settings.task_queue, options=options)
    dispatcher = OutboxDispatcher(engine, channel_from_env())
    log.info(
        "worker_started",
        task_queue=settings.task_queue,
        namespace=settings.temporal_namespace,
        database=engine.url.render_as_string(hide_password=True),
        worker_options=options,
        db_pool_size=pool.size,
        db_pool_pre_ping=pool.pre_ping,
        metrics_address=metrics_address,
    )
    async with worker:
        # The audit chain's head is anchored outside the database (workflows/audit_anchor.py);
        # started once this worker polls, so the anchors of a run someone ended can be read and carried on.
        anchor_id = await ensure_anchor_workflow(client, settings.task_queue, interval)
        log.info("audit_anchor_running", workflow_id=anchor_id, interval_s=interval)
        dispatch = asyncio.create_task(dispatcher.run(stop))
        await stop.wait()
        log.info("worker_stopping")
        await dispatch
    # A transition whose activity was cancelled by the shutdown may still be in the writer's hands: written
    # whole before the engine goes (store/transition_writer.py).
    await drain_transition_writer(engine)
    await engine.dispose()
    shutdown_tracing()
    log.info("worker_stopped")


def main() -> None:
    configure_logging(json=os.environ.get("LOG_FORMAT", "console") == "json")
    code = 0
    try:
        asyncio.run(run_worker(Settings.from_env()))
    except (
        TuningError,
        CodecError,
        MissingKey,
        PublishedKey,
        TemporalConfigError,
        MetricsConfigError,
        TracingConfigError,
    ) as err:
        structlog.get_logger("worker").error("worker_misconfigured", error=str(err))
        code = 2
    except MigrationFailed as err:  # the database answered and the schema cannot be brought up: a restart cannot help
        structlog.get_logger("worker").error("worker_migration_failed", error=str(err))
        code = 2
    except Exception:
        structlog.get_logger("worker").exception("worker_failed")
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: the SDK's native runtime can abort there.
    os._exit(code)


if __name__ == "__main__":
    main()
