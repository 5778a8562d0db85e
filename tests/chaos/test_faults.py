"""Faults during a wave of nominations.

The test runs a dev server, a worker (`python worker.py`), a PostgreSQL database and an SMTP server of its
own. While about thirty nominations are in flight it, in this order:

1. SIGKILLs the worker and starts a new one a few seconds later;
2. stops the dev server (SIGTERM) and starts it again on the same state file and port;
3. stops PostgreSQL for 30 seconds;
4. stops the SMTP server for a while (notifications pile up PENDING), then starts a new one on the same port.

The driver behaves like a patient operator: every client call is retried through connection errors, and an
action whose answer was lost is looked up (status query) before it is sent again. Afterwards every
nomination must be AWARDED, and PostgreSQL must hold exactly one row per nomination, stage events 1..n
agreeing with the status query, and exactly the notifications the transitions imply, all SENT; the SMTP
server must have received every notification that has recipients. The report line names the counts.

Runs only with TDKT_CHAOS=1 (`make chaos`): it stops the machine's PostgreSQL cluster for 30 seconds and
always starts it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError

from client.decisions import DuplicateDecision, issue_decision
from client.nominations import ActionRefused, DuplicateNomination, act, start_nomination, status
from client.temporal import connect, ensure_search_attributes
from domain.catalog import Authority
from domain.decisions import DecisionRef, DecisionRequest, DecisionSummary, decision_workflow_id
from domain.messages import CentralApproval, NominationStatus
from domain.nomination import Nomination, workflow_id_for
from domain.notices import parties_to_notify
from domain.roster import Roster
from domain.stages import Stage
from scripts.processes import temporal_binary
from security.audit_keys import audit_keyring
from store.audit import DECISION_ISSUED, verify_audit
from store.db import create_engine
from store.migrate import upgrade_to_head
from store.outbox import message_id
from store.roster import load_roster, read_snapshot
from store.schema import audit_log, awarded_by, nominations, notifications, stage_events
from tests.conftest import new_database
from tests.factories import nomination_data
from tests.integration.helpers import CENTRAL, PROPOSER, SECRETARY, meeting

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.skipif(
        os.environ.get("TDKT_CHAOS") != "1",
        reason="chaos test (stops PostgreSQL, kills the worker): run with TDKT_CHAOS=1, e.g. `make chaos`",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
SENDER = "tdkt-engine@btp.example.vn"
MAIL_DOMAIN = SENDER.rpartition("@")[2]
DECISION_DATE = date(2026, 12, 20)

# The wave: BANG_KHEN_TTG (council → central approval with a number → AWARDED) and BANG_KHEN_BO (council →
# AWAITING_DECISION → a batch decision of the minister → AWARDED), started STAGGER_S apart.
NOMINATIONS = 30
BO_EVERY = (1, 3)  # index % 5 in BO_EVERY → BANG_KHEN_BO (12 of 30), else BANG_KHEN_TTG
STAGGER_S = 1.3
STEP_PAUSE_S = (0.5, 3.0)
ROUTES = {
    "BANG_KHEN_TTG": (Stage.PROPOSED, Stage.COUNCIL_REVIEW, Stage.CENTRAL_REVIEW, Stage.AWARDED),
    "BANG_KHEN_BO": (Stage.PROPOSED, Stage.COUNCIL_REVIEW, Stage.AWAITING_DECISION, Stage.AWARDED),
}

# The faults, in seconds after the wave starts.
WORKER_KILL_AT, WORKER_DOWN_S = 4.0, 3.0
SERVER_STOP_AT, SERVER_DOWN_S = 13.0, 2.0
PG_STOP_AT, PG_DOWN_S = 24.0, 30.0
SMTP_STOP_GAP_S, SMTP_DOWN_S = 2.0, 15.0

WAVE_BUDGET_S = 170.0  # the wave and its faults, until every nomination is AWARDED
OUTBOX_BUDGET_S = 100.0  # then, until the dispatcher has sent every notification

T = TypeVar("T")


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((HOST, port)) == 0


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# ---- PostgreSQL: the machine's cluster, stopped and always started again ------------------------------


class Postgres:
    def __init__(self) -> None:
        versions = sorted(os.listdir("/etc/postgresql")) if Path("/etc/postgresql").is_dir() else []
        if not versions or shutil.which("pg_ctlcluster") is None:
            pytest.skip("needs a local PostgreSQL cluster managed by pg_ctlcluster")
        self.version = versions[-1]
        self.stopped_by_us = False

    def _ctl(self, action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, "main", action],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    @staticmethod
    def ready() -> bool:
        if shutil.which("pg_isready"):
            return subprocess.run(["pg_isready", "-q", "-h", HOST, "-p", "5432"], check=False).returncode == 0
        return port_open(5432)

    def stop(self) -> None:
        self.stopped_by_us = True
        done = self._ctl("stop")
        log(f"postgresql stop: rc={done.returncode} {done.stderr.strip()}")

    def start(self, timeout: float = 90.0) -> None:
        """Start the cluster (if it is not answering) and wait until it accepts connections."""
        deadline = time.monotonic() + timeout
        if not self.ready():
            done = self._ctl("start")
            log(f"postgresql start: rc={done.returncode} {done.stderr.strip()}")
        while not self.ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not come back within {timeout:.0f}s")
            time.sleep(0.5)
        self.stopped_by_us = False


# ---- SMTP: an aiosmtpd server on a fixed port that can go down and come back -----------------------------


class Inbox:
    def __init__(self) -> None:
        self.message_ids: list[str] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        parsed = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
        with self._lock:
            self.message_ids.append(str(parsed["Message-ID"]))
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname=HOST, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            controller, self._controller = self._controller, None
            controller.stop()


# ---- child processes: the dev server and the worker --------------------------------------------------


class Child:
    """A child process in its own session, logging to a file; records exits it did not ask for."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.unexpected_exits: list[int] = []

    def _spawn(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        with self.log_path.open("ab") as out:
            out.write(f"\n---- start {time.strftime('%H:%M:%S')} ----\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def check_alive(self) -> None:
        proc = self.proc  # read once: kill() and terminate() clear it from a thread
        if proc is not None and proc.poll() is not None and self.proc is proc:
            self.unexpected_exits.append(int(proc.returncode))
            log(f"{self.name} exited on its own with code {proc.returncode}:\n{tail(self.log_path)}")
            self.proc = None

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind."""
        # Forget the process before signalling it, so the watcher never takes this exit for a crash.
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

    def terminate(self, timeout: float = 20.0) -> None:
        proc, self.proc = self.proc, None  # as in kill(): an exit asked for is not a crash
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} ignored SIGTERM for {timeout:.0f}s: SIGKILL")
                proc.kill()
                proc.wait(timeout=10)


class DevServer(Child):
    def __init__(self, state_dir: Path) -> None:
        super().__init__("dev server", state_dir / "temporal-server.log")
        self.db_file = state_dir / "temporal.db"
        self.port = free_port()
        self.ui_port = free_port()
        self.address = f"{HOST}:{self.port}"

    def start(self) -> None:
        self._spawn(
            [
                temporal_binary(),
                "server",
                "start-dev",
                "--db-filename",
                str(self.db_file),
                "--ip",
                HOST,
                "--port",
                str(self.port),
                "--ui-port",
                str(self.ui_port),
                "--headless",
                "--log-level",
                "warn",
            ]
        )

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the frontend answers a namespace description (not just an open port)."""
        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        while time.monotonic() < deadline:
            self.check_alive()
            if port_open(self.port):
                try:
                    client = await asyncio.wait_for(connect(self.address, "default"), 5)
                    await asyncio.wait_for(
                        client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default")), 5
                    )
                    return
                except (RuntimeError, TimeoutError, OSError, RPCError) as exc:  # not answering yet
                    last = exc
            await asyncio.sleep(0.3)
        raise RuntimeError(f"the dev server did not answer within {timeout:.0f}s ({last!r}):\n{tail(self.log_path)}")


class WorkerProcess(Child):
    def __init__(self, state_dir: Path, env: dict[str, str]) -> None:
        super().__init__("worker", state_dir / "worker.log")
        self.env = env
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self._spawn([sys.executable, str(ROOT / "worker.py")], env=self.env)


# ---- a client that survives the faults ----------------------------------------------------------------

# Answers that are the workflow's or the registry's own, never a fault: not retried here.
FINAL_ERRORS = (ActionRefused, DuplicateNomination, DuplicateDecision, AssertionError)


class Temporal:
    """One client, reconnected when calls keep failing; every call retried until a deadline."""

    def __init__(self, address: str, deadline: float) -> None:
        self.address = address
        self.deadline = deadline
        self._client: Client | None = None
        self.retries = 0
        self.reconnects = 0

    async def client(self) -> Client:
        if self._client is None:
            self._client = await asyncio.wait_for(connect(self.address, "default"), 10)
        return self._client

    async def call(self, what: str, fn: Callable[[Client], Awaitable[T]], *, timeout: float = 20.0) -> T:
        failures = 0
        while True:
            try:
                client = await self.client()
                return await asyncio.wait_for(fn(client), timeout)
            except FINAL_ERRORS:
                raise
            except Exception as exc:
                failures += 1
                self.retries += 1
                if time.monotonic() > self.deadline:
                    raise TimeoutError(f"{what}: still failing when the wave's time ran out: {exc!r}") from exc
                if failures % 4 == 0:  # the channel may be stuck on a dead server: connect afresh
                    self._client = None
                    self.reconnects += 1
                await asyncio.sleep(min(0.25 * failures, 2.0))


# ---- the wave -----------------------------------------------------------------------------------------


@dataclass
class Tracked:
    index: int
    award_form: str
    nomination: Nomination
    stage: Stage | None = None
    started: bool = False
    refusals_after_lost_answers: int = 0

    @property
    def workflow_id(self) -> str:
        return workflow_id_for(self.nomination)

    @property
    def route(self) -> tuple[Stage, ...]:
        return ROUTES[self.award_form]

    def reached(self, stage: Stage) -> bool:
        return self.stage is not None and self.route.index(self.stage) >= self.route.index(stage)

    @property
    def in_flight(self) -> bool:
        return self.started and self.stage != Stage.AWARDED


@dataclass
class Report:
    faults: list[str] = field(default_factory=list)
    in_flight: list[int] = field(default_factory=list)
    pending_during_smtp_outage: int = 0
    decisions: list[str] = field(default_factory=list)


class Wave:
    def __init__(self, temporal: Temporal, task_queue: str, run: str, seed: int) -> None:
        self.temporal = temporal
        self.task_queue = task_queue
        self.run = run
        self.rng = random.Random(seed)
        self.items = [self._new(i) for i in range(NOMINATIONS)]
        self.worker_back = asyncio.Event()

    def _new(self, index: int) -> Tracked:
        form = "BANG_KHEN_BO" if index % 5 in BO_EVERY else "BANG_KHEN_TTG"
        data = nomination_data(form, reference=f"CH{self.run}{index:02d}/TTr-BTP", proposer=PROPOSER)
        return Tracked(index=index, award_form=form, nomination=Nomination.model_validate(data))

    def in_flight(self) -> int:
        return sum(1 for n in self.items if n.in_flight)

    async def pause(self) -> None:
        await asyncio.sleep(self.rng.uniform(*STEP_PAUSE_S))

    async def current(self, n: Tracked) -> NominationStatus:
        found = await self.temporal.call(f"status {n.workflow_id}", lambda c: status(c, n.workflow_id))
        n.stage = found.stage
        return found

    async def start(self, n: Tracked) -> None:
        attempts = 0

        async def once(client: Client) -> None:
            nonlocal attempts
            attempts += 1
            try:
                await start_nomination(client, n.nomination, self.task_queue)
            except DuplicateNomination:
                if attempts == 1:
                    raise
                # An earlier attempt got through but its answer was lost: the nomination is running.

        await self.temporal.call(f"start {n.workflow_id}", once)
        n.started = True

    async def advance(self, n: Tracked, update: str, payload: Any, before: Stage, after: Stage) -> None:
        """Send `update` once the nomination is in `before`, until it is in `after` (or beyond). An action
        whose answer was lost is not blindly repeated: the status says whether it took effect."""
        while True:
            found = await self.current(n)
            if n.reached(after):
                return
            if found.stage != before:  # not there yet (e.g. still PROPOSED)
                await asyncio.sleep(0.3)
                continue
            try:
                await self.temporal.call(
                    f"{update} {n.workflow_id}", lambda c: act(c, n.workflow_id, update, payload), timeout=120
                )
            except ActionRefused as refusal:
                # Expected when a previous attempt was applied but its answer was lost: look again.
                n.refusals_after_lost_answers += 1
                if n.refusals_after_lost_answers > 5:
                    raise AssertionError(f"{n.workflow_id}: {update} refused: {refusal}") from None

    async def drive(self, n: Tracked) -> None:
        await asyncio.sleep(n.index * STAGGER_S)
        await self.start(n)
        await self.pause()
        council = meeting(SECRETARY)
        if n.award_form == "BANG_KHEN_BO":
            await self.advance(n, "record_council_result", council, Stage.COUNCIL_REVIEW, Stage.AWAITING_DECISION)
            return  # the decision driver takes it from here
        await self.advance(n, "record_council_result", council, Stage.COUNCIL_REVIEW, Stage.CENTRAL_REVIEW)
        await self.pause()
        approval = CentralApproval(
            actor=CENTRAL, decision_no=f"{n.index}-{self.run}/QĐ-TTg", decision_date=DECISION_DATE
        )
        await self.advance(n, "approve", approval, Stage.CENTRAL_REVIEW, Stage.AWARDED)

    async def issue(self, number: str, items: list[Tracked]) -> DecisionSummary:
        request = DecisionRequest(
            decision=DecisionRef(
                decision_no=number, decision_date=DECISION_DATE, authority=Authority.MINISTER, actor=SECRETARY
            ),
            workflow_ids=[n.workflow_id for n in items],
        )

        async def once(client: Client) -> DecisionSummary:
            try:
                return await issue_decision(client, self.task_queue, request)
            except DuplicateDecision:
                # An earlier attempt started it and lost the answer: follow that one to its end.
                handle = client.get_workflow_handle(decision_workflow_id(number), result_type=DecisionSummary)
                return await handle.result()

        return await self.temporal.call(f"decision {number}", once, timeout=150)

    async def decide(self, report: Report) -> None:
        """Two batch decisions of the minister for the BANG_KHEN_BO nominations: the first as soon as its
        half waits for a decision (after the worker is back), the second when the rest do."""
        await self.worker_back.wait()
        waiting = [n for n in self.items if n.award_form == "BANG_KHEN_BO"]
        half = len(waiting) // 2
        for batch, items in enumerate((waiting[:half], waiting[half:]), start=1):
            while not all(n.reached(Stage.AWAITING_DECISION) for n in items):
                await asyncio.sleep(0.5)
            number = f"{batch}-{self.run}/QĐ-BTP"
            summary = await self.issue(number, items)
            refused = [(i.workflow_id, i.reason) for i in summary.refused]
            assert not refused, f"decision {number} refused nominations: {refused}"
            for n in items:
                n.stage = Stage.AWARDED
            report.decisions.append(number)
            log(f"decision {number}: {len(summary.accepted)} awarded")


async def until(t0: float, at: float) -> None:
    await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))


async def pending_notifications(url: str) -> int:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM notifications WHERE status = 'PENDING'"))
    finally:
        await conn.close()


async def inject_faults(
    t0: float,
    wave: Wave,
    report: Report,
    worker: WorkerProcess,
    server: DevServer,
    postgres: Postgres,
    smtp: SmtpServer,
    database_url: str,
) -> None:
    def fault(name: str) -> set[int]:
        report.faults.append(name)
        log(f"FAULT {name}: {wave.in_flight()} nominations in flight, t={time.monotonic() - t0:.1f}s")
        return {n.index for n in wave.items if n.stage != Stage.AWARDED}

    def over(unfinished: set[int]) -> None:
        """In flight during the fault: started by its end and not AWARDED at its start."""
        report.in_flight.append(sum(1 for n in wave.items if n.started and n.index in unfinished))

    await until(t0, WORKER_KILL_AT)
    unfinished = fault("worker_sigkill")
    await asyncio.to_thread(worker.kill)
    await asyncio.sleep(WORKER_DOWN_S)
    worker.start()
    wave.worker_back.set()
    over(unfinished)

    await until(t0, SERVER_STOP_AT)
    unfinished = fault("dev_server_restart")
    await asyncio.to_thread(server.terminate)
    await asyncio.sleep(SERVER_DOWN_S)
    server.start()
    await server.wait_ready()
    over(unfinished)
    log(f"dev server answers again, t={time.monotonic() - t0:.1f}s")

    await until(t0, PG_STOP_AT)
    unfinished = fault("postgresql_down_30s")
    await asyncio.to_thread(postgres.stop)
    await asyncio.sleep(PG_DOWN_S)
    await asyncio.to_thread(postgres.start)
    over(unfinished)
    log(f"postgresql answers again, t={time.monotonic() - t0:.1f}s")

    await asyncio.sleep(SMTP_STOP_GAP_S)
    unfinished = fault("smtp_down")
    await asyncio.to_thread(smtp.stop)
    await asyncio.sleep(SMTP_DOWN_S)
    report.pending_during_smtp_outage = await pending_notifications(database_url)
    await asyncio.to_thread(smtp.start)
    over(unfinished)
    log(f"smtp back, {report.pending_during_smtp_outage} notifications were pending, t={time.monotonic() - t0:.1f}s")


async def watch(children: list[Child], stop: asyncio.Event) -> None:
    """Notice a child that dies on its own (not one the injector killed: it clears `proc` first)."""
    while not stop.is_set():
        for child in children:
            child.check_alive()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


# ---- what PostgreSQL must hold afterwards -------------------------------------------------------------


@dataclass
class Checked:
    rows: int = 0
    events: int = 0
    notifications: int = 0
    decision_rows: int = 0
    audit: int = 0
    lost: int = 0
    duplicated: int = 0
    problems: list[str] = field(default_factory=list)

    def lose(self, count: int, what: str) -> None:
        if count:
            self.lost += count
            self.problems.append(f"lost {count}: {what}")

    def duplicate(self, count: int, what: str) -> None:
        if count:
            self.duplicated += count
            self.problems.append(f"duplicated/unexpected {count}: {what}")


async def check_database(
    engine: AsyncEngine, statuses: dict[str, NominationStatus], decision_nos: list[str], checked: Checked
) -> set[str]:
    """Returns the Message-IDs the SMTP server must have received."""
    ids = sorted(statuses)
    snapshot = await read_snapshot(engine, "BTP")
    async with engine.connect() as conn:
        rows = (
            await conn.execute(sa.select(nominations.c.workflow_id, nominations.c.stage, nominations.c.last_seq))
        ).all()
        events = (
            await conn.execute(
                sa.select(
                    stage_events.c.workflow_id, stage_events.c.seq, stage_events.c.action, stage_events.c.to_stage
                )
            )
        ).all()
        outbox = (
            await conn.execute(
                sa.select(
                    notifications.c.workflow_id,
                    notifications.c.seq,
                    notifications.c.party,
                    notifications.c.recipients,
                    notifications.c.status,
                )
            )
        ).all()
        awards = (await conn.execute(sa.select(awarded_by.c.workflow_id, awarded_by.c.decision_no))).all()
        audited = (await conn.execute(sa.select(audit_log.c.workflow_id, audit_log.c.seq, audit_log.c.action))).all()

    # nominations: exactly one row per nomination, AWARDED, at the last transition; nothing else.
    per_row = Counter(r.workflow_id for r in rows)
    checked.rows = len(rows)
    checked.lose(sum(1 for w in ids if per_row[w] == 0), "nominations rows")
    checked.duplicate(sum(c - 1 for c in per_row.values() if c > 1) + len(set(per_row) - set(ids)), "nominations rows")
    for r in rows:
        current = statuses.get(r.workflow_id)
        if current is not None and (r.stage != Stage.AWARDED.value or r.last_seq != len(current.transitions)):
            checked.problems.append(f"{r.workflow_id}: row says {r.stage} seq {r.last_seq}, status {current.stage}")

    # stage events: seqs 1..n with no gap and no duplicate, agreeing with the status query.
    checked.events = len(events)
    by_workflow: dict[str, list[Any]] = {}
    for e in events:
        by_workflow.setdefault(e.workflow_id, []).append(e)
    checked.duplicate(len(set(by_workflow) - set(ids)), "stage events of unknown nominations")
    expected_parties: set[tuple[str, int, str]] = set()
    recipients_of: dict[tuple[str, int, str], tuple[str, ...]] = {}
    for workflow_id, current in statuses.items():
        have = Counter(e.seq for e in by_workflow.get(workflow_id, []))
        want = [t.seq for t in current.transitions]
        assert want == list(range(1, len(want) + 1)), f"{workflow_id}: status transitions {want}"
        checked.lose(sum(1 for s in want if have[s] == 0), f"stage events of {workflow_id}")
        checked.duplicate(sum(c - 1 for c in have.values() if c > 1) + len(set(have) - set(want)), workflow_id)
        recorded = {e.seq: (e.action, e.to_stage) for e in by_workflow.get(workflow_id, [])}
        for t in current.transitions:
            if t.seq in recorded and recorded[t.seq] != (t.action, t.to_stage.value):
                checked.problems.append(f"{workflow_id} seq {t.seq}: db {recorded[t.seq]}, status {t.action}")
            for party, recipients in parties_to_notify(t.to_stage, t.from_stage != t.to_stage, PROPOSER, snapshot):
                expected_parties.add((workflow_id, t.seq, party))
                recipients_of[(workflow_id, t.seq, party)] = recipients

    # notifications: one per party per transition, no more, all SENT.
    checked.notifications = len(outbox)
    have_parties = Counter((n.workflow_id, n.seq, n.party) for n in outbox)
    checked.lose(len(expected_parties - set(have_parties)), "notification rows")
    checked.duplicate(sum(c - 1 for c in have_parties.values() if c > 1), "notification rows")
    checked.duplicate(len(set(have_parties) - expected_parties), "notification rows no transition implies")
    not_sent = Counter(n.status for n in outbox if n.status != "SENT")
    if not_sent:
        checked.problems.append(f"notifications not SENT: {dict(not_sent)}")
    for n in outbox:
        key = (n.workflow_id, n.seq, n.party)
        if key in recipients_of and tuple(n.recipients or ()) != recipients_of[key]:
            checked.problems.append(f"{key}: recipients {n.recipients}, roster says {recipients_of[key]}")

    # the minister's decisions: each BANG_KHEN_BO nomination awarded by exactly one, the one it records.
    checked.decision_rows = len(awards)
    decided = {r.workflow_id: r.decision_no for r in awards}
    for workflow_id, current in statuses.items():
        if current.award_form == "BANG_KHEN_BO":
            if workflow_id not in decided:
                checked.lose(1, f"awarded_by row of {workflow_id}")
            elif decided[workflow_id] != current.decision_no:
                checked.problems.append(
                    f"{workflow_id}: awarded_by {decided[workflow_id]}, status {current.decision_no}"
                )

    # the audit chain: one entry per stage event and per decision, none twice, and the chain intact.
    checked.audit = len(audited)
    want_audit = {(w, t.seq, t.action) for w, current in statuses.items() for t in current.transitions}
    want_audit |= {(decision_workflow_id(no), 1, DECISION_ISSUED) for no in decision_nos}
    have_audit = Counter((a.workflow_id, a.seq, a.action) for a in audited)
    checked.lose(len(want_audit - set(have_audit)), "audit entries")
    checked.duplicate(sum(c - 1 for c in have_audit.values() if c > 1), "audit entries")
    checked.duplicate(len(set(have_audit) - want_audit), "audit entries nothing explains")
    chain = await verify_audit(engine, keyring=audit_keyring())
    if not chain.intact or chain.checked != len(audited):
        checked.problems.append(f"audit chain: {chain.checked} of {len(audited)} intact, broken at {chain.broken}")

    # Every row with recipients is one email, identified by its Message-ID.
    return {message_id(n.workflow_id, n.seq, n.party, MAIL_DOMAIN) for n in outbox if n.recipients}


async def wait_for(what: str, check: Callable[[], Awaitable[bool]], timeout: float, every: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(every)


# ---- the harness --------------------------------------------------------------------------------------


@pytest.fixture
async def chaos_database() -> AsyncIterator[str]:
    # Left empty: the worker migrates it on start. PostgreSQL is up again when it is dropped (the test's own
    # finally has started it).
    async with new_database("tdkt_chaos", migrated=False) as url:
        yield url


async def test_a_wave_survives_worker_server_database_and_mail_faults(chaos_database: str, tmp_path: Path) -> None:
    began = time.monotonic()
    # The SDK's own retries of every call to a stopped server would flood the output: errors only.
    quiet = TelemetryConfig(logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR")))
    Runtime.set_default(Runtime(telemetry=quiet), error_if_already_set=False)
    postgres = Postgres()
    assert postgres.ready(), "PostgreSQL must be running before the chaos test"
    run = uuid.uuid4().hex[:6].upper()
    task_queue = f"chaos-{run}"
    server = DevServer(tmp_path)
    smtp = SmtpServer()
    # The worker inherits this process's payload-codec settings (tests/conftest.py gives the whole run one
    # TDKT_CODEC_KEYS key; without it both fall back to the same .state/codec-keys.json): the same keys on
    # both sides is what matters.
    worker_env = dict(os.environ) | {
        "TEMPORAL_ADDRESS": server.address,
        "TEMPORAL_NAMESPACE": "default",
        "TASK_QUEUE": task_queue,
        "DATABASE_URL": chaos_database,
        "NOTIFY_CHANNEL": "smtp",
        "SMTP_HOST": HOST,
        "SMTP_PORT": str(smtp.port),
        "SMTP_SENDER": SENDER,
        "PYTHONUNBUFFERED": "1",
    }
    worker = WorkerProcess(tmp_path, worker_env)
    stop_watch = asyncio.Event()
    watcher: asyncio.Task[None] | None = None
    engine: AsyncEngine | None = None
    passed = False
    try:
        server.start()
        smtp.start()
        await upgrade_to_head(chaos_database)
        engine = create_engine(chaos_database)
        roster = Roster.model_validate_json((ROOT / "config" / "roster.json").read_text(encoding="utf-8"))
        await load_roster(engine, roster)
        await server.wait_ready()
        setup_client = await connect(server.address, "default")
        await ensure_search_attributes(setup_client)
        worker.start()
        watcher = asyncio.create_task(watch([server, worker], stop_watch))
        log(f"set up in {time.monotonic() - began:.1f}s: dev server {server.address}, smtp :{smtp.port}")

        t0 = time.monotonic()
        temporal = Temporal(server.address, deadline=t0 + WAVE_BUDGET_S)
        wave = Wave(temporal, task_queue, run, seed=int(run, 16))
        report = Report()
        drivers = [asyncio.create_task(wave.drive(n)) for n in wave.items]
        decider = asyncio.create_task(wave.decide(report))
        injector = asyncio.create_task(inject_faults(t0, wave, report, worker, server, postgres, smtp, chaos_database))
        try:
            await asyncio.wait_for(asyncio.gather(injector, *drivers, decider), WAVE_BUDGET_S + 10)
        finally:
            for task in (injector, decider, *drivers):
                task.cancel()
        wave_s = time.monotonic() - t0
        log(f"wave done in {wave_s:.1f}s: client retries {temporal.retries}, reconnects {temporal.reconnects}")

        # Every nomination AWARDED, by its own status query (the workflow is closed: the worker replays it).
        statuses: dict[str, NominationStatus] = {}
        for n in wave.items:
            statuses[n.workflow_id] = await wave.current(n)
        not_awarded = {w: s.stage.value for w, s in statuses.items() if s.stage != Stage.AWARDED}
        assert not not_awarded, f"nominations not AWARDED: {not_awarded}"

        # The outbox drains once the mail server is back (the dispatcher's backoff may still be running).
        assert engine is not None
        eng = engine

        async def outbox_drained() -> bool:
            async with eng.connect() as conn:
                open_rows = await conn.scalar(
                    sa.select(sa.func.count()).select_from(notifications).where(notifications.c.status != "SENT")
                )
            return open_rows == 0

        drain_started = time.monotonic()
        await wait_for("every notification SENT", outbox_drained, OUTBOX_BUDGET_S)
        drain_s = time.monotonic() - drain_started
        await asyncio.sleep(1.0)  # a last message on the wire reaches the inbox

        checked = Checked()
        expected_ids = await check_database(eng, statuses, report.decisions, checked)
        received = list(smtp.inbox.message_ids)
        distinct = set(received)
        smtp_duplicates = len(received) - len(distinct)
        checked.lose(len(expected_ids - distinct), "emails never received")
        checked.duplicate(len(distinct - expected_ids), "emails no notification row explains")

        worker.check_alive()
        server.check_alive()
        print(
            f"faults={len(report.faults)} nominations={len(statuses)} rows_checked={checked.rows} "
            f"events_checked={checked.events} notifications_checked={checked.notifications} "
            f"lost={checked.lost} duplicated={checked.duplicated} smtp_received={len(received)} "
            f"smtp_duplicates={smtp_duplicates} decision_rows_checked={checked.decision_rows} "
            f"smtp_distinct={len(distinct)} smtp_expected={len(expected_ids)} audit_checked={checked.audit} "
            f"in_flight_at_faults={','.join(map(str, report.in_flight))} "
            f"pending_during_smtp_outage={report.pending_during_smtp_outage} client_retries={temporal.retries} "
            f"lost_answers={sum(n.refusals_after_lost_answers for n in wave.items)} "
            f"worker_starts={worker.starts} wave_s={wave_s:.0f} outbox_drain_s={drain_s:.0f} "
            f"total_s={time.monotonic() - began:.0f}",
            flush=True,
        )
        assert report.faults == ["worker_sigkill", "dev_server_restart", "postgresql_down_30s", "smtp_down"]
        assert all(count > 0 for count in report.in_flight), f"a fault hit no nomination in flight: {report.in_flight}"
        assert report.pending_during_smtp_outage > 0, "no notification waited for the mail server"
        assert checked.lost == 0 and checked.duplicated == 0, "\n".join(checked.problems)
        assert not checked.problems, "\n".join(checked.problems)
        assert worker.unexpected_exits == [], f"the worker died on its own: {worker.unexpected_exits}"
        assert server.unexpected_exits == [], f"the dev server died on its own: {server.unexpected_exits}"
        passed = True
    finally:
        stop_watch.set()
        if watcher is not None:
            await asyncio.gather(watcher, return_exceptions=True)
        try:
            await asyncio.to_thread(postgres.start)  # never leave the machine's PostgreSQL down
        finally:
            worker.terminate(timeout=10)
            server.terminate()
            smtp.stop()
            if engine is not None:
                await engine.dispose()
            for child in (worker, server):
                if not passed:
                    log(f"{child.name} log tail:\n{tail(child.log_path, 30)}")
