"""Year-end wave benchmark, measured against the raw Temporal limit in the same run.

    .venv/bin/python -m bench.wave --nominations 1000 --voters 9 --workers 2

One run, on one dev server (started here, or the one given by --address) and a temporary PostgreSQL
database (created and dropped here; TEST_POSTGRES_ADMIN_URL, default postgresql://postgres@127.0.0.1:5432/postgres):

1. Loads a generated roster (bench.wave_plan: --ministries ministries of --voters council members each,
   blocs of three ministries with one representative per ministry, the central board) and starts
   --workers worker processes (`python worker.py`, with the knobs below passed as the environment
   variables an operator would set: TDKT_MAX_*, DB_POOL_SIZE, DB_POOL_PRE_PING) on one task queue.
2. Light load: --probe nominations reach the council and wait there; then one `withdraw` update at a
   time on them (p50_ms, p99_ms).
3. Raw floor: the same number of trivial workflows of the same shape (bench.raw_workflow) on the same
   server, with as many worker processes, started and driven the same way (raw_rate).
4. The wave: --nominations nominations over the ministries and award forms, all started at once (at most
   --start-concurrency starts in flight); per ministry a council ballot session (a meeting) collects those
   that reach the council and closes its list at --council-cap candidates, once every nomination of the
   ministry is in, or after --idle-seconds without a newcomer; every member casts a sealed ballot at once
   (a blind-signed credential, then the anonymous ballot), then the counting committee hands in the shares
   the count needs (the bench holds every default committee member's counting key); per bloc a ballot
   session picks its quota the same way; the central board approves (without a decision number) every
   nomination the moment PostgreSQL shows it in CENTRAL_REVIEW; the signing authorities issue batch
   decisions (<= 1000 nominations, after --decision-flush-seconds). Rate = nominations finished (AWARDED or
   REJECTED) per second.
   Admission control (--max-in-flight N, N > 0; default 0 = none): a nomination is started only while
   fewer than N of the wave are started and not yet finished (as PostgreSQL shows them, polled every
   0.5 s); the raw phase likewise (raw workflows started and not yet closed, as visibility shows them).
   A bloc's list then also closes after --idle-seconds without a newcomer (its candidates may be more than
   N: waiting for all of them would never end), so a bloc may hold more sessions, each picking its quota.
   The wave's nominations start as the product starts a list (client.pacing): the bulk priority, fair by
   ministry, at most --admission-window of a ministry's in their opening work, each raised to people's
   priority once through it (--no-priorities: everything at the server's default). Meanwhile staff withdraw
   --loaded-withdrawals nominations waiting in a public notice, one every --withdraw-interval seconds; every
   approval, sealed ballot and withdrawal is timed (staff_p50_ms_loaded, staff_p99_ms_loaded).
5. Checks PostgreSQL against what the wave must have produced (lost, duplicated), the largest history of
   the sessions, decisions and a sample of nominations.
6. The mixed case: the first ministry imports --mixed-rows rows through the product's import while the
   second ministry's council holds --mixed-meetings meetings; its actions timed (mixed_council_p50_ms,
   mixed_council_p99_ms). Prints the figures as the LAST line in key=value form. Exit status 0 when
   lost == duplicated == 0 and nothing failed.

Every loop is bounded: the wave gives up after --timeout seconds, the raw phase after --raw-timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.testing import WorkflowEnvironment

from bench import wave_plan
from bench.wave_plan import Planned, WavePlan
from client.ballots import DuplicateSession, cast, close_list, open_session, session_status
from client.decisions import issue_decision
from client.importer import StartCounts
from client.importer import start_all as import_rows
from client.nominations import ActionRefused, act, start_nomination
from client.pacing import OpeningWindow
from client.temporal import connect, ensure_search_attributes
from domain.ballot_messages import SessionPhase, SessionStart, SessionStatus, session_workflow_id
from domain.ballots import BallotSessionKind
from domain.catalog import current_policy_version, policy_set
from domain.decisions import DecisionRef, DecisionRequest
from domain.messages import CentralApproval, NominationStatus, ReasonedAction
from domain.notices import head_of_body, parties_to_notify
from domain.priority import DEFAULT_ADMISSION_WINDOW, PRIORITIES_ENV, WorkKind
from domain.roster import Roster
from domain.stages import Stage
from scripts.processes import temporal_binary
from scripts.stand_in_committee import default_committees, enroll_members, hand_in_shares
from store.db import normalise_url
from store.migrate import upgrade_to_head
from store.roster import load_roster
from store.schema import ballot_list_members
from store.tuning import WORKER_OPTION_VARIABLES
from workflows.search_attributes import AWARD_FORM, AWARD_YEAR, MINISTRY, NOMINATION_STAGE

ROOT = Path(__file__).resolve().parents[1]
ADMIN = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
FINAL = (Stage.AWARDED.value, Stage.REJECTED.value)
POLL_S = 0.5
RAW_DELAY_S = 0.2  # the raw harness reacts this long after a workflow says it waits (the real one polls)
MAX_DECISION = 1000  # DecisionRequest's limit
HISTORY_SAMPLE_PER_ROUTE = 8

T = TypeVar("T")


def log(message: str) -> None:
    print(f"[wave {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


async def retrying(call: Callable[[], Awaitable[T]], attempts: int = 5, delay: float = 0.5) -> T:
    for attempt in range(attempts):
        try:
            return await call()
        except (ActionRefused, asyncio.CancelledError):
            raise
        except Exception:
            if attempt + 1 == attempts:
                raise
            await asyncio.sleep(min(delay * (attempt + 1), 5.0))
    raise AssertionError("unreachable")


# ---- admission control ----------------------------------------------------------------------------------


class Admission:
    """At most `limit` nominations started and not yet finished (limit 0: no limit, everything admitted).

    The starter awaits `admit()` before each start; whoever learns how many have finished (the wave's
    PostgreSQL poll, the raw phase's visibility poll) calls `finished_so_far()` with the running total;
    `close()` ends the run's admitting (over, timed out or a start failed): `admit()` then returns False.
    One event loop, so no lock: an Event wakes the waiting starter whenever the counts change."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.admitted = 0
        self.finished = 0
        self.closed = False
        self._changed = asyncio.Event()

    @property
    def in_flight(self) -> int:
        return max(0, self.admitted - self.finished)

    def has_room(self) -> bool:
        return self.limit <= 0 or self.in_flight < self.limit

    async def admit(self) -> bool:
        while not self.closed and not self.has_room():
            self._changed.clear()
            await self._changed.wait()
        if self.closed:
            return False
        self.admitted += 1
        return True

    def finished_so_far(self, count: int) -> None:
        """How many admitted nominations have finished so far (a total, never less than before)."""
        if count > self.finished:
            self.finished = count
            self._changed.set()

    def close(self) -> None:
        self.closed = True
        self._changed.set()

    def label(self) -> str:
        return f", in flight {self.in_flight}/{self.limit}" if self.limit else ""


async def start_admitted(admission: Admission, starts: Sequence[Callable[[], Awaitable[None]]]) -> int:
    """Each start in order once admitted, run concurrently with those before it (their own semaphore bounds
    the calls in flight). Returns how many were admitted (fewer when admission closed); a failed start
    closes admission and is raised (the others go on, as with a plain gather)."""

    def on_done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            admission.close()

    tasks: list[asyncio.Task[None]] = []
    try:
        for start in starts:
            if not await admission.admit():
                break
            task = asyncio.ensure_future(start())
            task.add_done_callback(on_done)
            tasks.append(task)
        await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        raise
    return len(tasks)


# ---- options --------------------------------------------------------------------------------------------


@dataclass
class Options:
    nominations: int = 1000
    voters: int = 9
    workers: int = 2
    ministries: int = 6
    address: str | None = None
    notice_seconds: int = 5
    council_cap: int = 100
    bloc_cap: int = 500
    idle_seconds: float = 3.0
    decision_flush_seconds: float = 10.0
    probe: int = 50
    start_concurrency: int = 32
    max_in_flight: int = 0  # 0: no admission control, everything started at once
    approve_concurrency: int = 16
    max_cached_workflows: int | None = None
    max_concurrent_workflow_tasks: int | None = None
    max_concurrent_activities: int | None = None
    db_pool_size: int | None = None
    pre_ping: bool = False
    log_format: str = "console"
    raw: bool = True
    raw_nominations: int | None = None
    timeout: float = 1500.0
    raw_timeout: float = 900.0
    keep_logs: bool = False
    # People before bulk: the product's admission window per ministry (client.pacing; 0: none) and task queue
    # priorities (off: every start at the server's default, to measure without them).
    admission_window: int = DEFAULT_ADMISSION_WINDOW
    priorities: bool = True
    # Withdrawals timed during the wave (None: min(--probe, 20)), one every --withdraw-interval seconds.
    loaded_withdrawals: int | None = None
    withdraw_interval: float = 1.0
    # The mixed case after the wave: one ministry imports --mixed-rows rows (None: min(5000, 5 x --nominations);
    # 0: skipped) while another's council holds --mixed-meetings meetings of --mixed-candidates nominations.
    mixed_rows: int | None = None
    mixed_meetings: int = 3
    mixed_candidates: int = 5

    def withdrawals(self) -> int:
        return min(self.probe, 20) if self.loaded_withdrawals is None else self.loaded_withdrawals

    def mixed(self) -> int:
        return min(5000, 5 * self.nominations) if self.mixed_rows is None else self.mixed_rows

    def knobs(self) -> list[str]:
        args = []
        for name in ("max_cached_workflows", "max_concurrent_workflow_tasks", "max_concurrent_activities"):
            value = getattr(self, name)
            if value is not None:
                args += ["--" + name.replace("_", "-"), str(value)]
        return args

    def worker_env(self) -> dict[str, str]:
        """The knobs as worker.py reads them (store/tuning.py)."""
        env = {"DB_POOL_PRE_PING": "1" if self.pre_ping else "0"}
        names = {option: variable for variable, option in WORKER_OPTION_VARIABLES.items()}
        names["db_pool_size"] = "DB_POOL_SIZE"
        for option, variable in names.items():
            value = getattr(self, option, None)
            if value is not None:
                env[variable] = str(value)
        return env


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Options()
    parser.add_argument("--nominations", type=int, default=defaults.nominations)
    parser.add_argument("--voters", type=int, default=defaults.voters, help="council members per ministry")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="worker processes on the queue")
    parser.add_argument("--ministries", type=int, default=defaults.ministries, help="at least 3; blocs of 3")
    parser.add_argument("--address", default=None, help="use this dev server instead of starting one")
    parser.add_argument("--notice-seconds", type=int, default=defaults.notice_seconds)
    parser.add_argument("--council-cap", type=int, default=defaults.council_cap)
    parser.add_argument("--bloc-cap", type=int, default=defaults.bloc_cap)
    parser.add_argument("--idle-seconds", type=float, default=defaults.idle_seconds)
    parser.add_argument("--decision-flush-seconds", type=float, default=defaults.decision_flush_seconds)
    parser.add_argument("--probe", type=int, default=defaults.probe, help="sequential updates at light load")
    parser.add_argument(
        "--start-concurrency", type=int, default=defaults.start_concurrency, help="starts in flight at a time"
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=defaults.max_in_flight,
        help="admission control: start a nomination only while fewer than N are started and not finished "
        "(wave and raw floor); 0 = no limit, all started at once (default)",
    )
    parser.add_argument("--approve-concurrency", type=int, default=defaults.approve_concurrency)
    parser.add_argument("--max-cached-workflows", type=int, default=None)
    parser.add_argument("--max-concurrent-workflow-tasks", type=int, default=None)
    parser.add_argument("--max-concurrent-activities", type=int, default=None)
    parser.add_argument("--db-pool-size", type=int, default=None)
    parser.add_argument("--pre-ping", action="store_true", help="DB_POOL_PRE_PING=1 (the worker's default is 0)")
    parser.add_argument("--log-format", choices=("console", "json"), default=defaults.log_format)
    parser.add_argument("--no-raw", dest="raw", action="store_false", help="skip the raw floor (debugging)")
    parser.add_argument("--raw-nominations", type=int, default=None, help="default: --nominations")
    parser.add_argument("--timeout", type=float, default=defaults.timeout, help="the wave's limit, seconds")
    parser.add_argument("--raw-timeout", type=float, default=defaults.raw_timeout)
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument(
        "--admission-window",
        type=int,
        default=defaults.admission_window,
        help="the product's admission window: a ministry's nominations in their opening work at once (0: none)",
    )
    parser.add_argument(
        "--no-priorities", dest="priorities", action="store_false", help="start everything at the default priority"
    )
    parser.add_argument("--loaded-withdrawals", type=int, default=None, help="default: min(--probe, 20)")
    parser.add_argument("--withdraw-interval", type=float, default=defaults.withdraw_interval)
    parser.add_argument(
        "--mixed-rows", type=int, default=None, help="the mixed case's import (default min(5000, 5 x nominations))"
    )
    parser.add_argument("--mixed-meetings", type=int, default=defaults.mixed_meetings)
    parser.add_argument("--mixed-candidates", type=int, default=defaults.mixed_candidates)
    opts = Options(**vars(parser.parse_args(argv)))
    if opts.ministries < 3:
        parser.error("--ministries: at least 3 (a bloc of fewer members may miss its quorum)")
    if opts.nominations < 1 or opts.voters < 1 or opts.workers < 1:
        parser.error("--nominations, --voters and --workers must be positive")
    if opts.max_in_flight < 0:
        parser.error("--max-in-flight: 0 (no limit) or a positive number")
    if opts.admission_window < 0 or opts.withdrawals() < 0 or opts.mixed() < 0:
        parser.error("--admission-window, --loaded-withdrawals and --mixed-rows: 0 or a positive number")
    if opts.mixed() and (opts.mixed_meetings < 1 or opts.mixed_candidates < 1):
        parser.error("--mixed-meetings and --mixed-candidates must be positive")
    if opts.max_in_flight and opts.idle_seconds <= 0:
        parser.error("--max-in-flight needs --idle-seconds > 0 (a list waiting for nominations not yet admitted)")
    return opts


# ---- worker processes and their memory ------------------------------------------------------------------


def _proc_mb(path: str, field: str) -> float | None:
    """A kB figure of a /proc file (`field:` at a line's start) in MB; None when the process is gone."""
    try:
        with open(path, encoding="ascii") as lines:
            for line in lines:
                if line.startswith(field):
                    return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
        return None
    return None


def rss_mb(pid: int) -> float | None:
    return _proc_mb(f"/proc/{pid}/status", "VmRSS:")


def pss_mb(pid: int) -> float | None:
    """Proportional set size: the process's private pages plus its share of pages it shares (the libraries two
    worker processes map once), so the sum over processes is the memory they hold together."""
    return _proc_mb(f"/proc/{pid}/smaps_rollup", "Pss:")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return 0.0


def dev_server_pids() -> list[int]:
    """The `temporal server` processes this process started (WorkflowEnvironment.start_local's child)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii")
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"server" in cmdline and any(b"temporal" in part for part in cmdline[:1]):
            pids.append(int(entry.name))
    return pids


class CpuMeter:
    """CPU seconds used by a set of processes between start() and stop()."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.before = {pid: cpu_seconds(pid) for pid in pids}

    def used(self) -> float:
        return sum(max(0.0, cpu_seconds(pid) - self.before[pid]) for pid in self.pids)


async def postgres_started_at(engine: AsyncEngine) -> str:
    rows = await fetch(engine, sa.text("SELECT pg_postmaster_start_time()::text AS started"), {})
    return str(rows[0].started)


class RssSampler:
    """Peak resident memory of a set of processes: of their sum, of the largest one, and of their summed
    proportional set size (shared library pages counted once; read every PSS_EVERY samples: it walks the
    page tables)."""

    PSS_EVERY = 10

    def __init__(self) -> None:
        self.pids: list[int] = []
        self.peak_sum = 0.0
        self.peak_one = 0.0
        self.peak_pss_sum = 0.0
        self._samples = 0

    def reset(self, pids: list[int]) -> None:
        self.pids, self.peak_sum, self.peak_one, self.peak_pss_sum = list(pids), 0.0, 0.0, 0.0
        self._samples = 0

    def sample(self) -> None:
        values = [v for v in (rss_mb(pid) for pid in self.pids) if v is not None]
        if values:
            self.peak_sum = max(self.peak_sum, sum(values))
            self.peak_one = max(self.peak_one, max(values))
        if self._samples % self.PSS_EVERY == 0:
            shares = [v for v in (pss_mb(pid) for pid in self.pids) if v is not None]
            self.peak_pss_sum = max(self.peak_pss_sum, sum(shares))
        self._samples += 1

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)


def start_engine_workers(opts: Options, env: dict[str, str], logdir: Path) -> list[subprocess.Popen[bytes]]:
    processes = []
    for n in range(opts.workers):
        out = open(logdir / f"worker-{n}.log", "wb")  # noqa: SIM115 - handed to the child process
        processes.append(
            subprocess.Popen(
                [sys.executable, str(ROOT / "worker.py")],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        out.close()
    return processes


async def wait_started(processes: list[subprocess.Popen[bytes]], logdir: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    for n, process in enumerate(processes):
        path = logdir / f"worker-{n}.log"
        while "worker_started" not in path.read_text(encoding="utf-8", errors="replace"):
            if process.poll() is not None:
                raise RuntimeError(f"worker {n} exited with {process.returncode}; see {path}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker {n} did not start within {timeout:.0f}s; see {path}")
            await asyncio.sleep(0.2)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# ---- database -------------------------------------------------------------------------------------------


async def admin_execute(statement: str, attempts: int = 60) -> None:
    """A statement on the admin database, waiting (bounded) for PostgreSQL to be up."""
    for attempt in range(attempts):
        try:
            admin = await asyncpg.connect(ADMIN, timeout=10)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            if attempt + 1 == attempts:
                raise
            await asyncio.sleep(1.0)
            continue
        try:
            await admin.execute(statement)
            return
        finally:
            await admin.close()


async def create_database() -> tuple[str, str]:
    name = f"tdkt_wave_{uuid.uuid4().hex[:8]}"
    await admin_execute(f'CREATE DATABASE "{name}"')
    base = normalise_url(ADMIN.rsplit("/", 1)[0] + "/")
    return name, f"{base}{name}"


async def drop_database(name: str) -> None:
    await admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def fetch(engine: AsyncEngine, query: sa.TextClause, params: dict[str, Any], attempts: int = 120) -> list[Any]:
    """All rows of a read, retried (bounded) through a PostgreSQL restart."""
    for attempt in range(attempts):
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(query, params)).all())
        except (sa.exc.DBAPIError, OSError):
            if attempt + 1 == attempts:
                raise
            await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


async def stages_of(engine: AsyncEngine, ids: Sequence[str]) -> dict[str, str]:
    if not ids:
        return {}
    query = sa.text("SELECT workflow_id, stage FROM nominations WHERE workflow_id IN :ids").bindparams(
        sa.bindparam("ids", expanding=True)
    )
    return {r.workflow_id: r.stage for r in await fetch(engine, query, {"ids": list(ids)})}


# ---- light load -----------------------------------------------------------------------------------------


async def light_load(client: Client, engine: AsyncEngine, queue: str, plan: WavePlan, count: int) -> list[float]:
    """`count` nominations wait in COUNCIL_REVIEW (no session is open); then one withdraw at a time."""
    if count <= 0:
        return []
    ministry = plan.ministries[0]
    probes = [
        wave_plan.Nomination.model_validate(
            wave_plan.nomination_data(
                "BANG_KHEN_BO",
                ministry=ministry,
                proposer=wave_plan.unit_staff(ministry),
                reference=f"P{plan.tag}-{i:03d}/TTr",
                year=wave_plan.YEAR,
            )
        )
        for i in range(count)
    ]
    ids = [(await start_nomination(client, p, queue)).id for p in probes]
    deadline = time.monotonic() + 120
    while True:
        stages = await stages_of(engine, ids)
        if sum(1 for s in stages.values() if s == Stage.COUNCIL_REVIEW.value) == count:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"light-load probes did not reach the council: {Counter(stages.values())}")
        await asyncio.sleep(0.2)
    await asyncio.sleep(2.0)  # each has offered itself (no session open) and waits: idle
    latencies = []
    for workflow_id in ids:
        started = time.perf_counter()
        await act(
            client,
            workflow_id,
            "withdraw",
            ReasonedAction(actor=wave_plan.unit_staff(ministry), reason="Đơn vị rút (đo độ trễ khi tải nhẹ)"),
        )
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def waiting_probes(client: Client, engine: AsyncEngine, queue: str, plan: WavePlan, count: int) -> list[str]:
    """`count` nominations (a person's, one at a time) waiting in a day-long public notice, where no session
    takes them: staff withdraw them during the wave (Wave.withdrawals)."""
    if count <= 0:
        return []
    ministry = plan.ministries[0]
    ids = []
    for i in range(count):
        probe = wave_plan.Nomination.model_validate(
            wave_plan.nomination_data(
                "HUAN_CHUONG_LD_3",
                ministry=ministry,
                proposer=wave_plan.unit_staff(ministry),
                reference=f"P{plan.tag}-W{i:03d}/TTr",
                year=wave_plan.YEAR,
            )
        )
        ids.append((await start_nomination(client, probe, queue, public_notice_seconds=86_400)).id)
    deadline = time.monotonic() + 120
    while True:
        stages = await stages_of(engine, ids)
        if sum(1 for s in stages.values() if s == Stage.PUBLIC_NOTICE.value) == count:
            return ids
        if time.monotonic() > deadline:
            raise TimeoutError(f"withdrawal probes did not reach the public notice: {Counter(stages.values())}")
        await asyncio.sleep(0.2)


# ---- the mixed case: one ministry imports while another's council meets ---------------------------------


@dataclass
class MixedResult:
    rows: int
    import_s: float
    counts: StartCounts
    council_latencies: list[float]  # closing the list and each sealed ballot, ms
    meetings: int
    meetings_during_import: int  # meetings that ended while the import was still running
    errors: int


async def council_meeting(wave: Wave, scope: str, meeting_ref: str, count: int) -> list[float]:
    """A council meeting over the `count` nominations waiting in the scope's COUNCIL_REVIEW: open, list,
    close the list (timed), every member's sealed ballot at once (timed, in wave.cast_latencies), the
    committee's shares, closed. Returns the close's latency."""
    keeper = wave_plan.secretary(scope)
    start = SessionStart(
        kind=BallotSessionKind.COUNCIL,
        scope=scope,
        meeting_ref=meeting_ref,
        opened_by=keeper,
        deadline=datetime.now(UTC) + timedelta(days=2),
        policy_version=wave.plan.policy_version,
        reminder_before_seconds=0,
    )
    session_id = await wave.open_meeting(start)
    wave.sessions.append(session_id)
    while True:
        current = await wave.poll_session(session_id)
        if current is not None and len(current.candidates) >= count:
            break
        if wave.timed_out():
            raise TimeoutError(f"{session_id}: {count} candidates not listed")
        await asyncio.sleep(0.2)
    started = time.perf_counter()
    closed = await wave.close_meeting_list(session_id, keeper)
    close_ms = (time.perf_counter() - started) * 1000
    await wave.vote(BallotSessionKind.COUNCIL, scope, session_id, closed)
    while not wave.timed_out():
        current = await wave.poll_session(session_id)
        if current is not None and current.phase == SessionPhase.CLOSED:
            return [close_ms]
        if current is not None and current.phase == SessionPhase.AWAITING_COUNT:
            await wave.hand_in(session_id)
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{session_id} did not close")


async def mixed_case(
    client: Client,
    engine: AsyncEngine,
    queue: str,
    plan: WavePlan,
    opts: Options,
    committee_keys: dict[str, Any],
) -> MixedResult:
    """The first ministry imports opts.mixed() rows through the product's import (client.importer.start_all:
    the bulk priority, the admission window) while the second ministry's council holds --mixed-meetings
    meetings of --mixed-candidates nominations each (proposed one by one, as people do); each council
    action timed. Runs after the wave, on its workers."""
    importing, meeting = plan.ministries[0], plan.ministries[1]
    rows = [
        (
            i + 2,
            wave_plan.Nomination.model_validate(
                wave_plan.nomination_data(
                    "BANG_KHEN_BO",
                    ministry=importing,
                    proposer=wave_plan.unit_staff(importing),
                    reference=f"M{plan.tag}-{i:05d}/TTr",
                    year=wave_plan.YEAR,
                )
            ),
        )
        for i in range(opts.mixed())
    ]
    wave = Wave(client, engine, queue, plan, opts, deadline=time.monotonic() + opts.timeout)
    wave.committee_keys = committee_keys
    OpeningWindow.install(client, queue, opts.admission_window)
    progressed = 0

    def progress() -> None:
        nonlocal progressed
        progressed += 1

    t0 = time.perf_counter()
    ended: list[float] = []
    importer = asyncio.create_task(import_rows(client, queue, rows, progress, engine=engine))
    importer.add_done_callback(lambda _: ended.append(time.perf_counter()))
    # The import's first rows fill its window before the council meets.
    while progressed < min(len(rows), max(opts.admission_window, 1)) and not importer.done():
        await asyncio.sleep(0.2)
    latencies: list[float] = []
    held = during = 0
    try:
        for m in range(opts.mixed_meetings):
            candidates = []
            for c in range(opts.mixed_candidates):
                nomination = wave_plan.Nomination.model_validate(
                    wave_plan.nomination_data(
                        "BANG_KHEN_BO",
                        ministry=meeting,
                        proposer=wave_plan.unit_staff(meeting),
                        reference=f"M{plan.tag}-C{m}-{c}/TTr",
                        year=wave_plan.YEAR,
                    )
                )
                candidates.append((await start_nomination(client, nomination, queue)).id)
            while sum(
                1 for s in (await stages_of(engine, candidates)).values() if s == Stage.COUNCIL_REVIEW.value
            ) < len(candidates):
                if wave.timed_out():
                    raise TimeoutError(f"mixed case: meeting {m + 1}'s nominations did not reach the council")
                await asyncio.sleep(0.2)
            latencies += await council_meeting(wave, meeting, f"M{plan.tag}-{m + 1}", len(candidates))
            held += 1
            during += 0 if importer.done() else 1
        counts = await asyncio.wait_for(importer, max(1.0, wave.deadline - time.monotonic()))
    except Exception as exc:
        wave.errors[f"mixed:{type(exc).__name__}"] += 1
        log(f"mixed case failed: {exc!r}")
        importer.cancel()
        await asyncio.gather(importer, return_exceptions=True)
        counts = StartCounts()
    if wave.errors_seen:
        log(f"mixed case retried: {dict(wave.errors_seen)}")
    return MixedResult(
        rows=len(rows),
        import_s=(ended[0] if ended else time.perf_counter()) - t0,
        counts=counts,
        council_latencies=latencies + wave.cast_latencies,
        meetings=held,
        meetings_during_import=during,
        errors=sum(wave.errors.values()) + len(counts.failed),
    )


# ---- the raw floor --------------------------------------------------------------------------------------


@dataclass
class RawResult:
    nominations: int
    seconds: float
    rate: float
    completed: int
    update_latencies: list[float]
    errors: int
    rss_sum: float
    rss_one: float
    cpu: float


async def run_raw(client: Client, address: str, opts: Options, plan: WavePlan, logdir: Path) -> RawResult:
    from bench.raw_workflow import READY

    queue = f"raw-{plan.tag}"
    routes = plan.raw_routes(opts.bloc_cap)
    if opts.raw_nominations is not None:
        routes = (routes * (opts.raw_nominations // max(1, len(routes)) + 1))[: opts.raw_nominations]
    count = len(routes)
    ids = [f"raw-{plan.tag}-{i:05d}" for i in range(count)]
    command = [sys.executable, "-m", "bench.raw_workflow", "--task-queue", queue, "--address", address, *opts.knobs()]
    processes = []
    for n in range(opts.workers):
        err = open(logdir / f"raw-worker-{n}.log", "wb")  # noqa: SIM115 - handed to the child process
        processes.append(
            await asyncio.create_subprocess_exec(
                *command, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=err, start_new_session=True
            )
        )
        err.close()
    started_workers = 0
    all_started = asyncio.Event()
    latencies: list[float] = []
    errors = Counter[str]()
    driving: set[asyncio.Task[None]] = set()

    async def signals(workflow_id: str, count: int) -> None:
        handle = client.get_workflow_handle(workflow_id)
        try:
            for _ in range(count):  # ballot_list_joined, session_scheduled, then ballot_verdict; or the decision
                await asyncio.sleep(RAW_DELAY_S)
                await handle.signal("poke")
        except Exception:
            errors["signal"] += 1

    async def update(workflow_id: str) -> None:
        await asyncio.sleep(RAW_DELAY_S)
        started = time.perf_counter()
        try:
            await client.get_workflow_handle(workflow_id).execute_update("act", result_type=int)
            latencies.append((time.perf_counter() - started) * 1000)
        except Exception:
            errors["update"] += 1

    async def read(stream: asyncio.StreamReader) -> None:
        nonlocal started_workers
        while True:
            line = await stream.readline()
            if not line:
                return
            parts = line.decode("utf-8", "replace").split()
            if parts[:2] == ["RAWWORKER", "started"]:
                started_workers += 1
                if started_workers == len(processes):
                    all_started.set()
            elif len(parts) == 3 and parts[0] == READY:
                kind, workflow_id = parts[1], parts[2]
                task = asyncio.create_task(
                    signals(workflow_id, 3)
                    if kind == "S"
                    else signals(workflow_id, 1)
                    if kind == "D"
                    else update(workflow_id)
                )
                driving.add(task)
                task.add_done_callback(driving.discard)

    readers = [asyncio.create_task(read(p.stdout)) for p in processes if p.stdout is not None]
    rss = RssSampler()
    rss.reset([p.pid for p in processes])
    meter = CpuMeter([p.pid for p in processes])
    stop_rss = asyncio.Event()
    sampler = asyncio.create_task(rss.run(stop_rss))
    admission = Admission(opts.max_in_flight)
    watcher: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(all_started.wait(), 90)
        semaphore = asyncio.Semaphore(opts.start_concurrency)
        items = (plan.items * (count // max(1, len(plan.items)) + 1))[:count]

        async def start(i: int) -> None:
            planned = items[i]
            async with semaphore:
                await client.start_workflow(
                    "RawNominationWorkflow",
                    args=[list(wave_plan.ROUTE_STEPS[routes[i]]), opts.notice_seconds, wave_plan.LOCAL_TRANSITIONS],
                    id=ids[i],
                    task_queue=queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    search_attributes=TypedSearchAttributes(
                        [
                            SearchAttributePair(NOMINATION_STAGE, "PROPOSED"),
                            SearchAttributePair(MINISTRY, planned.ministry),
                            SearchAttributePair(AWARD_FORM, planned.award_form),
                            SearchAttributePair(AWARD_YEAR, wave_plan.YEAR),
                        ]
                    ),
                    memo={"nominee": planned.nomination.nominee.display_name, "award": planned.award_form},
                    static_summary=f"raw {planned.award_form} ({planned.ministry})",
                )

        async def watch_finished() -> None:
            """Admission control: how many raw workflows have closed, from visibility, every POLL_S."""
            closed_query = f"TaskQueue = '{queue}' AND ExecutionStatus != 'Running'"
            while not admission.closed:
                if time.monotonic() > deadline:
                    admission.close()
                    return
                try:
                    admission.finished_so_far((await client.count_workflows(closed_query)).count)
                except Exception as exc:  # asked again on the next poll, until the deadline
                    log(f"raw: counting closed workflows failed: {exc!r}")
                await asyncio.sleep(POLL_S)

        t0 = time.time()
        deadline = time.monotonic() + opts.raw_timeout
        if admission.limit:
            watcher = asyncio.create_task(watch_finished())
        admitted = await start_admitted(admission, [functools.partial(start, i) for i in range(count)])
        admission.close()
        log(f"raw: {admitted}/{count} started in {time.time() - t0:.1f}s{admission.label()}")
        if admitted < count:
            errors["start_timeout"] += 1
            log(f"raw: gave up starting after {opts.raw_timeout:.0f}s")
        running_query = f"TaskQueue = '{queue}' AND ExecutionStatus = 'Running'"
        last_report = time.monotonic()
        while True:
            running = (await client.count_workflows(running_query)).count
            if running == 0 and not driving:
                break
            if time.monotonic() > deadline:
                errors["timeout"] += 1
                log(f"raw: gave up after {opts.raw_timeout:.0f}s with {running} running")
                break
            if time.monotonic() - last_report > 10:
                log(f"raw: {running} running, {len(driving)} being driven")
                last_report = time.monotonic()
            await asyncio.sleep(POLL_S)
        closed: list[datetime] = []
        completed = 0
        async for execution in client.list_workflows(f"TaskQueue = '{queue}'"):
            if execution.status == WorkflowExecutionStatus.COMPLETED:
                completed += 1
            if execution.close_time is not None:
                closed.append(execution.close_time)
        end = max(closed).timestamp() if closed else time.time()
        seconds = max(end - t0, 1e-6)
        return RawResult(
            nominations=count,
            seconds=seconds,
            rate=completed / seconds,
            completed=completed,
            update_latencies=latencies,
            errors=sum(errors.values()),
            rss_sum=rss.peak_sum,
            rss_one=rss.peak_one,
            cpu=meter.used(),
        )
    finally:
        admission.close()
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        stop_rss.set()
        await sampler
        for process in processes:
            if process.returncode is None:
                process.terminate()
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()
        for reader in readers:
            reader.cancel()
        for task in list(driving):
            task.cancel()
        await asyncio.gather(*readers, *driving, return_exceptions=True)


# ---- the wave -------------------------------------------------------------------------------------------


@dataclass
class Wave:
    client: Client
    engine: AsyncEngine
    queue: str
    plan: WavePlan
    opts: Options
    deadline: float
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    t0: float = 0.0
    approve_latencies: list[float] = field(default_factory=list)
    cast_latencies: list[float] = field(default_factory=list)
    committee_keys: dict[str, Any] = field(default_factory=dict)  # the counting committees' keys, by member
    sessions: list[str] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    errors_seen: Counter[str] = field(default_factory=Counter)  # retried and recovered: reported, not failures
    started: int = 0
    admission: Admission = field(init=False)
    # Staff withdraw these waiting nominations one at a time during the wave (`withdrawals`), each timed.
    withdraw_pending: list[str] = field(default_factory=list)
    withdraw_latencies: list[float] = field(default_factory=list)
    window: OpeningWindow | None = None

    def __post_init__(self) -> None:
        self.admission = Admission(self.opts.max_in_flight)

    def timed_out(self) -> bool:
        return time.monotonic() > self.deadline

    async def sleep(self, seconds: float = POLL_S) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)

    # -- the units submit

    async def start_all(self) -> None:
        """Start the wave's nominations: all at once, or as admission control lets them in (`run` tells it
        how many have finished, and closes it when the wave is over)."""
        semaphore = asyncio.Semaphore(self.opts.start_concurrency)
        notice = self.opts.notice_seconds
        # As the product starts a list (client.pacing): the bulk priority, fair by ministry, within the
        # ministry's admission window, each raised to people's priority once through its opening work.
        window = self.window = OpeningWindow.install(self.client, self.queue, self.opts.admission_window)

        async def one(planned: Planned) -> None:
            seconds = notice if planned.notice else None

            async def start() -> tuple[str, bool]:
                async with semaphore:
                    handle = await retrying(
                        lambda: start_nomination(
                            self.client,
                            planned.nomination,
                            self.queue,
                            public_notice_seconds=seconds,
                            kind=WorkKind.BULK_NOMINATION,
                        )
                    )
                self.started += 1
                return handle.id, True

            await window.start(planned.ministry, start)

        self.t0 = time.time()
        await start_admitted(self.admission, [functools.partial(one, p) for p in self.plan.items])

    # -- staff withdraw nominations while the wave runs

    async def withdrawals(self) -> None:
        """One withdraw at a time on the waiting probes, every --withdraw-interval seconds, each timed (a
        retry of one that went through is refused as already withdrawn: it counts as done, untimed)."""
        actor = wave_plan.unit_staff(self.plan.ministries[0])
        await self.sleep(2.0)  # the wave's starts are under way
        retried = False
        while self.withdraw_pending and not self.stop.is_set() and not self.timed_out():
            started = time.perf_counter()
            try:
                await act(
                    self.client,
                    self.withdraw_pending[0],
                    "withdraw",
                    ReasonedAction(actor=actor, reason="Đơn vị rút (đo độ trễ trong đợt cao điểm)"),
                )
            except ActionRefused:
                if not retried:
                    raise
            except Exception as exc:  # e.g. timed out behind the backlog: tried again
                self.errors_seen[f"withdraw:{type(exc).__name__}"] += 1
                retried = True
                await self.sleep(1.0)
                continue
            else:
                if not retried:
                    self.withdraw_latencies.append((time.perf_counter() - started) * 1000)
            self.withdraw_pending.pop(0)
            retried = False
            await self.sleep(self.opts.withdraw_interval)

    # -- meetings: council per ministry, bloc per bloc

    async def meetings(self, kind: BallotSessionKind, scope: str) -> None:
        plan, opts = self.plan, self.opts
        expected = plan.council_expected(scope) if kind == BallotSessionKind.COUNCIL else plan.bloc_expected(scope)
        cap = opts.council_cap if kind == BallotSessionKind.COUNCIL else opts.bloc_cap
        # "Every nomination is in" (processed + listed >= expected) counts nominations that admission control
        # may not have started yet, and cannot start while these wait in the stage holding their places: with
        # --max-in-flight a bloc's list closes after --idle-seconds without a newcomer too, as a council's
        # always does (parse_args makes sure that idle is > 0 then).
        idle = opts.idle_seconds if kind == BallotSessionKind.COUNCIL or opts.max_in_flight else 0.0
        keeper = wave_plan.secretary(scope) if kind == BallotSessionKind.COUNCIL else wave_plan.bloc_head(scope)
        stage = Stage.COUNCIL_REVIEW if kind == BallotSessionKind.COUNCIL else Stage.BLOC_VOTE
        processed, meeting = 0, 0
        while processed < expected and not self.stop.is_set() and not self.timed_out():
            meeting += 1
            start = SessionStart(
                kind=kind,
                scope=scope,
                meeting_ref=f"{plan.tag}-{meeting}",
                opened_by=keeper,
                deadline=datetime.now(UTC) + timedelta(days=2),
                policy_version=plan.policy_version,
                reminder_before_seconds=0,
            )
            session_id = await self.open_meeting(start)
            self.sessions.append(session_id)
            listed = 0
            last_change = time.monotonic()
            status_now = functools.partial(self.poll_session, session_id)
            while not self.stop.is_set() and not self.timed_out():
                # The register of lists, not the session's status query: a session taking a stream of offers
                # runs a workflow task nearly all the time, and the server keeps one query per workflow while
                # one runs (the rest are refused, and retried 1, 2, 4, 8 s later).
                claimed = await self.claimed(session_id)
                if claimed != listed:
                    listed, last_change = claimed, time.monotonic()
                idle_for = time.monotonic() - last_change
                if listed and (listed >= cap or processed + listed >= expected or (idle and idle_for >= idle)):
                    break
                await self.sleep()
            if self.stop.is_set() or self.timed_out():
                return
            closed_list = await self.close_meeting_list(session_id, keeper)
            await self.vote(kind, scope, session_id, closed_list)
            while not self.stop.is_set() and not self.timed_out():
                current = await status_now()
                if current is not None and current.phase == SessionPhase.CLOSED:
                    break
                if current is not None and current.phase == SessionPhase.AWAITING_COUNT:
                    await self.hand_in(session_id)
                await self.sleep()
            ids = [c.workflow_id for c in closed_list.candidates]
            # The next meeting lists every nomination waiting in the stage: let these leave it first.
            while not self.stop.is_set() and not self.timed_out():
                stages = await stages_of(self.engine, ids)
                if not any(s == stage.value for s in stages.values()):
                    break
                await self.sleep()
            processed += len(ids)

    async def hand_in(self, session_id: str) -> None:
        """The round's voting is over: the counting committee hands in the shares its count needs (timed as
        part of the session's close; a try that failed behind the backlog is tried again by the caller)."""
        try:
            await hand_in_shares(self.client, self.engine, session_id, self.committee_keys)
        except Exception as exc:
            self.errors_seen[f"hand_in:{type(exc).__name__}"] += 1
            await self.sleep(1.0)

    async def claimed(self, session_id: str) -> int:
        """How many nominations the session's list holds in the register (`ballot_list_members`)."""
        async with self.engine.connect() as conn:
            count = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(ballot_list_members)
                .where(ballot_list_members.c.session_id == session_id)
            )
        return int(count or 0)

    async def poll_session(self, session_id: str) -> SessionStatus | None:
        """The session's status, or None when the query failed (e.g. timed out while the worker is behind)."""
        try:
            return await session_status(self.client, session_id)
        except Exception as exc:
            self.errors_seen[f"session_query:{type(exc).__name__}"] += 1
            await self.sleep(1.0)
            return None

    async def open_meeting(self, start: SessionStart) -> str:
        """Open the session; a retry after a start that went through finds it started."""
        for attempt in range(5):
            try:
                return (await open_session(self.client, self.queue, start)).id
            except DuplicateSession:
                if attempt == 0:
                    raise
                return session_workflow_id(start.kind, start.scope, start.meeting_ref)
            except Exception:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    async def close_meeting_list(self, session_id: str, keeper: str) -> SessionStatus:
        """Close the list; a retry refused because the list is already closed reads it instead. Retried
        (e.g. past timeouts while the worker is behind) until the wave's deadline."""
        attempt = empty_refusals = 0
        while True:
            try:
                return await close_list(self.client, session_id, keeper)
            except ActionRefused:
                current = await session_status(self.client, session_id)
                if current.phase == SessionPhase.COLLECTING and empty_refusals < 60 and not self.timed_out():
                    # The register holds claims whose offers the session had not taken in (it refuses to close
                    # an empty list): they are on their way, and a secretary would wait for them. A refusal
                    # for any other reason repeats, and is raised after a minute.
                    empty_refusals += 1
                    self.errors_seen["close_list:refused_while_collecting"] += 1
                    await asyncio.sleep(1.0)
                    continue
                if attempt == 0 or current.phase == SessionPhase.COLLECTING:
                    raise
                return current
            except Exception as exc:
                self.errors_seen[f"close_list:{type(exc).__name__}"] += 1
                if self.timed_out():
                    raise
                await asyncio.sleep(1.0)
            attempt += 1

    async def vote(self, kind: BallotSessionKind, scope: str, session_id: str, listed: SessionStatus) -> None:
        candidates = list(listed.candidates)
        ballots: list[tuple[str, dict[str, Any]]] = []
        if kind == BallotSessionKind.COUNCIL:
            for i, voter in enumerate(wave_plan.council_members(scope, self.plan.voters)):
                ballots.append((voter, wave_plan.council_ballot(self.plan, i, candidates)))
        else:
            winners = wave_plan.bloc_winners(candidates, self.plan.bloc_quota())
            for c in candidates:
                planned = self.plan.by_id.get(c.workflow_id)
                if planned is not None:
                    planned.expected = Stage.AWARDED if c.workflow_id in winners else Stage.REJECTED
            ministries = self.plan.ministries
            for ministry in [m for i, m in enumerate(ministries) if wave_plan.bloc_of(i, len(ministries)) == scope]:
                choices = wave_plan.bloc_ballot(ministry, candidates, winners)
                if choices:
                    ballots.append((wave_plan.representative(ministry), choices))

        async def one(voter: str, choices: dict[str, Any]) -> None:
            started = time.perf_counter()
            attempt = 0
            while True:
                try:
                    await cast(self.client, session_id, voter, choices, engine=self.engine)
                    break
                except ActionRefused as refused:
                    # A retry of a ballot that landed: the first one cast is final.
                    if attempt == 0 or "already cast" not in str(refused):
                        raise
                    break
                except Exception as exc:  # e.g. the status query timed out behind the backlog
                    self.errors_seen[f"cast:{type(exc).__name__}"] += 1
                    if self.timed_out():
                        raise
                    await asyncio.sleep(1.0)
                attempt += 1
            self.cast_latencies.append((time.perf_counter() - started) * 1000)

        await asyncio.gather(*(one(v, c) for v, c in ballots))

    # -- the central board and the signing authorities

    async def central_and_decisions(self) -> None:
        plan = self.plan
        pattern = f"{plan.tag}-%"
        query = sa.text(
            "SELECT workflow_id, stage FROM nominations WHERE reference LIKE :p "
            "AND stage IN ('CENTRAL_REVIEW', 'AWAITING_DECISION')"
        )
        semaphore = asyncio.Semaphore(self.opts.approve_concurrency)
        approving: set[str] = set()
        approve_attempts: Counter[str] = Counter()
        decided: set[str] = set()  # sent on a decision (or being sent)
        decide_attempts: Counter[str] = Counter()
        pending: dict[tuple[Any, str], dict[str, float]] = defaultdict(dict)
        tasks: set[asyncio.Task[None]] = set()
        numbers = 0
        members_of: dict[tuple[Any, str], list[Planned]] = defaultdict(list)
        for p in plan.items:
            members_of[wave_plan.decision_group(p)].append(p)

        async def approve(workflow_id: str) -> None:
            async with semaphore:
                started = time.perf_counter()
                try:
                    await act(self.client, workflow_id, "approve", CentralApproval(actor=wave_plan.CENTRAL_OFFICER))
                    self.approve_latencies.append((time.perf_counter() - started) * 1000)
                except Exception as exc:
                    self.errors[f"approve:{type(exc).__name__}"] += 1
                    approving.discard(workflow_id)  # tried again on a later poll, a bounded number of times

        async def decide(group: tuple[Any, str], ids: list[str], number: str) -> None:
            authority, _ = group
            request = DecisionRequest(
                decision=DecisionRef(
                    decision_no=number,
                    decision_date=date.today(),
                    authority=authority,
                    actor=wave_plan.decision_clerk(group),
                ),
                workflow_ids=ids,
            )
            self.decisions.append(f"decision-{number}")
            try:
                summary = await issue_decision(self.client, self.queue, request)
            except Exception as exc:
                self.errors[f"decision:{type(exc).__name__}"] += 1
                decided.difference_update(ids)
                return
            for item in summary.refused:
                self.errors["decision_refused"] += 1
                decided.discard(item.workflow_id)

        def spawn(coro: Awaitable[None]) -> None:
            task = asyncio.ensure_future(coro)
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        while not self.stop.is_set() and not self.timed_out():
            rows = await fetch(self.engine, query, {"p": pattern})
            now = time.monotonic()
            for row in rows:
                wf = row.workflow_id
                if row.stage == Stage.CENTRAL_REVIEW.value and wf not in approving and approve_attempts[wf] < 5:
                    approving.add(wf)
                    approve_attempts[wf] += 1
                    spawn(approve(wf))
                elif row.stage == Stage.AWAITING_DECISION.value and wf not in decided and decide_attempts[wf] < 3:
                    planned = plan.by_id[wf]
                    pending[wave_plan.decision_group(planned)].setdefault(wf, now)
            for group, waiting in pending.items():
                if not waiting:
                    continue
                members = members_of[group] if len(waiting) < MAX_DECISION else []
                in_group = [p for p in members if p.expected == Stage.AWARDED]
                seen = decided | waiting.keys()
                complete = bool(in_group) and all(p.workflow_id in seen for p in in_group)
                oldest = min(waiting.values())
                if len(waiting) >= MAX_DECISION or complete or now - oldest >= self.opts.decision_flush_seconds:
                    ids = list(waiting)[:MAX_DECISION]
                    for wf in ids:
                        del waiting[wf]
                        decided.add(wf)
                        decide_attempts[wf] += 1
                    numbers += 1
                    authority, scope = group
                    spawn(decide(group, ids, f"{numbers}-{plan.tag}/QD-{authority.value[:3]}-{scope}"))
            await self.sleep()
        # The wave is over (or timed out): let decisions in flight finish, within bounds.
        if tasks:
            await asyncio.wait(list(tasks), timeout=120)
        for task in list(tasks):
            task.cancel()

    # -- the whole wave

    async def run(self) -> float:
        """Drive the wave to its end; returns the moment (epoch seconds) the last nomination finished."""
        pattern = f"{self.plan.tag}-%"
        drivers = [asyncio.create_task(self.start_all(), name="start")]
        drivers += [
            asyncio.create_task(self.meetings(BallotSessionKind.COUNCIL, m), name=f"council-{m}")
            for m in self.plan.ministries
        ]
        drivers += [
            asyncio.create_task(self.meetings(BallotSessionKind.BLOC, b), name=f"bloc-{b}")
            for b in self.plan.blocs
            if self.plan.bloc_expected(b)
        ]
        drivers.append(asyncio.create_task(self.central_and_decisions(), name="central"))
        if self.withdraw_pending:
            drivers.append(asyncio.create_task(self.withdrawals(), name="withdrawals"))
        count_query = sa.text("SELECT stage, count(*) AS n FROM nominations WHERE reference LIKE :p GROUP BY stage")
        last_report = 0.0
        total = len(self.plan.items)
        try:
            while True:
                counts = {r.stage: r.n for r in await fetch(self.engine, count_query, {"p": pattern})}
                finished = sum(counts.get(s, 0) for s in FINAL)
                self.admission.finished_so_far(finished)
                if finished >= total:
                    break
                failed = [t for t in drivers if t.done() and not t.cancelled() and t.exception() is not None]
                if failed:
                    for task in failed:
                        self.errors[f"driver:{task.get_name()}"] += 1
                        log(f"driver {task.get_name()} failed: {task.exception()!r}")
                    break
                if self.timed_out():
                    self.errors["timeout"] += 1
                    log(f"wave: gave up after {self.opts.timeout:.0f}s: {dict(counts)}")
                    break
                if time.monotonic() - last_report > 10:
                    log(
                        f"wave: started {self.started}/{total}{self.admission.label()}, "
                        f"stages {dict(sorted(counts.items()))}"
                    )
                    last_report = time.monotonic()
                await asyncio.sleep(POLL_S)
        finally:
            self.stop.set()
            self.admission.close()
            done, running = await asyncio.wait(drivers, timeout=180)
            for task in running:
                task.cancel()
                self.errors[f"driver_stuck:{task.get_name()}"] += 1
            for task in done:
                name = f"driver:{task.get_name()}"
                if not task.cancelled() and task.exception() is not None and not self.errors[name]:
                    self.errors[name] += 1
                    log(f"driver {task.get_name()} failed: {task.exception()!r}")
        query = sa.text("SELECT max(updated_at) AS last FROM nominations WHERE reference LIKE :p AND stage IN :f")
        rows = await fetch(
            self.engine, query.bindparams(sa.bindparam("f", expanding=True)), {"p": pattern, "f": list(FINAL)}
        )
        last = rows[0].last if rows else None
        return last.timestamp() if last is not None else time.time()


# ---- what PostgreSQL must hold --------------------------------------------------------------------------


def expected_notifications(status: NominationStatus, proposer: str, roster: Roster) -> dict[int, int]:
    """Rows per transition seq that record_transition writes (domain.notices.draft_notifications)."""
    snapshot = roster.snapshot_for(status.ministry)
    expected = {}
    for t in status.transitions:
        parties = len(parties_to_notify(t.to_stage, t.from_stage != t.to_stage, proposer, snapshot))
        if t.action in ("ESCALATED", "LAPSED") and t.from_stage is not None:
            escalated = t.from_stage if t.action == "ESCALATED" else status.returned_from
            parties += 1 if escalated is not None and head_of_body(escalated, snapshot) is not None else 0
        expected[t.seq] = parties
    return expected


@dataclass
class Audit:
    lost: int = 0
    duplicated: int = 0
    details: Counter[str] = field(default_factory=Counter)


async def final_statuses(client: Client, ids: Sequence[str]) -> dict[str, NominationStatus | None]:
    """Each nomination's status when it ended (its run returns the status query's value, read from the
    close event without replaying the workflow). Pass only nominations that have ended."""
    semaphore = asyncio.Semaphore(32)
    results: dict[str, NominationStatus | None] = dict.fromkeys(ids)

    async def one(workflow_id: str) -> None:
        async with semaphore:
            handle = client.get_workflow_handle(workflow_id, result_type=NominationStatus)
            try:
                results[workflow_id] = await asyncio.wait_for(handle.result(), 10)
            except Exception:
                results[workflow_id] = None  # still running (or failed): no final status

    await asyncio.gather(*(one(i) for i in ids))
    return results


async def audit(
    client: Client,
    engine: AsyncEngine,
    plan: WavePlan,
    roster: Roster,
    probe_ids: Sequence[str],
    sessions: Sequence[str],
) -> tuple[Audit, dict[str, NominationStatus | None]]:
    expected_stage = {p.workflow_id: p.expected for p in plan.items} | dict.fromkeys(probe_ids, Stage.WITHDRAWN)
    proposer = {p.workflow_id: p.nomination.proposer for p in plan.items} | {
        i: wave_plan.unit_staff(plan.ministries[0]) for i in probe_ids
    }
    result = Audit()
    patterns = {"w": f"{plan.tag}-%", "p": f"P{plan.tag}-%"}
    ours = "SELECT workflow_id FROM nominations WHERE reference LIKE :w OR reference LIKE :p"
    by_session = {"s": list(sessions) or [""]}
    in_sessions: sa.BindParameter[Any] = sa.bindparam("s", expanding=True)
    rows = {
        r.workflow_id: r
        for r in await fetch(
            engine,
            sa.text(f"SELECT workflow_id, stage, last_seq FROM nominations WHERE workflow_id IN ({ours})"),
            patterns,
        )
    }
    events = {
        r.workflow_id: r
        for r in await fetch(
            engine,
            sa.text(
                "SELECT workflow_id, count(*) AS n, count(DISTINCT seq) AS seqs FROM stage_events "
                f"WHERE workflow_id IN ({ours}) GROUP BY workflow_id"
            ),
            patterns,
        )
    }
    notes: dict[str, dict[int, int]] = defaultdict(dict)
    for r in await fetch(
        engine,
        sa.text(
            "SELECT workflow_id, seq, count(*) AS n FROM notifications "
            f"WHERE workflow_id IN ({ours}) GROUP BY workflow_id, seq"
        ),
        patterns,
    ):
        notes[r.workflow_id][r.seq] = r.n
    # A session's notices: "voting opened" to each voter, and "the count needs your share" to each member of
    # its counting committee (party COUNTER:<member>) once its first round's voting is over.
    session_notes: dict[str, int] = defaultdict(int)
    counter_notes: dict[str, int] = defaultdict(int)
    for r in await fetch(
        engine,
        sa.text(
            "SELECT workflow_id, party LIKE 'COUNTER:%' AS counter, count(*) AS n FROM notifications "
            "WHERE workflow_id IN :s GROUP BY workflow_id, party LIKE 'COUNTER:%'"
        ).bindparams(in_sessions),
        by_session,
    ):
        (counter_notes if r.counter else session_notes)[r.workflow_id] += r.n
    session_rows = {
        r.session_id: r
        for r in await fetch(
            engine,
            sa.text("SELECT session_id, electorate_size, phase FROM ballot_sessions WHERE session_id IN :s").bindparams(
                in_sessions
            ),
            by_session,
        )
    }
    committee_size = policy_set(plan.policy_version).counting_committee.size
    ended = [w for w, r in rows.items() if Stage(r.stage).is_final and w in expected_stage]
    statuses = await final_statuses(client, ended)
    extra_rows = len(rows.keys() - expected_stage.keys())
    result.duplicated += extra_rows
    result.details["row_not_in_wave"] += extra_rows
    for workflow_id, stage in expected_stage.items():
        row = rows.get(workflow_id)
        status = statuses.get(workflow_id)
        if row is None:
            result.lost += 1
            result.details["no_row"] += 1
            continue
        if stage is None or row.stage != stage.value:
            result.lost += 1
            result.details[f"stage_{row.stage}_expected_{stage.value if stage else 'decided'}"] += 1
        if status is None:
            result.lost += 1
            result.details["not_ended"] += 1
            continue
        if status.stage.value != row.stage:
            result.lost += 1
            result.details["row_behind_workflow"] += 1
        transitions = len(status.transitions)
        ev = events.get(workflow_id)
        count, distinct = (ev.n, ev.seqs) if ev is not None else (0, 0)
        if count - distinct:
            result.duplicated += count - distinct
            result.details["duplicate_seq"] += count - distinct
        if distinct < transitions:
            result.lost += transitions - distinct
            result.details["stage_events_missing"] += transitions - distinct
        elif distinct > transitions:
            result.duplicated += distinct - transitions
            result.details["stage_events_extra"] += distinct - transitions
        if row.last_seq != transitions:
            result.details["last_seq_mismatch"] += 1
            result.lost += 1
        wanted = expected_notifications(status, proposer[workflow_id], roster)
        have = notes.get(workflow_id, {})
        for seq in wanted.keys() | have.keys():
            diff = have.get(seq, 0) - wanted.get(seq, 0)
            if diff > 0:
                result.duplicated += diff
                result.details["notifications_extra"] += diff
            elif diff < 0:
                result.lost -= diff
                result.details["notifications_missing"] -= diff
    for session_id in sessions:
        session_row = session_rows.get(session_id)
        if session_row is None:
            result.lost += 1
            result.details["session_unregistered"] += 1
            continue
        diff = session_notes.get(session_id, 0) - session_row.electorate_size  # one "voting opened" per voter
        if diff > 0:
            result.duplicated += diff
            result.details["session_notifications_extra"] += diff
        elif diff < 0:
            result.lost -= diff
            result.details["session_notifications_missing"] -= diff
        counters = counter_notes.get(session_id, 0)  # a closed session's committee was asked once
        asked = committee_size if session_row.phase == SessionPhase.CLOSED.value else counters
        if counters > committee_size:
            result.duplicated += counters - committee_size
            result.details["committee_notifications_extra"] += counters - committee_size
        elif counters < asked:
            result.lost += asked - counters
            result.details["committee_notifications_missing"] += asked - counters
    return result, statuses


SHAPE_EVENTS = {
    "activities": EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,  # normal activities only
    "signals": EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
    "updates": EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    "timers": EventType.EVENT_TYPE_TIMER_STARTED,
}
# A local activity leaves no scheduled event, only a marker of this name (a patch's marker is "core_patch").
LOCAL_ACTIVITY_MARKER = "core_local_activity"


# A session whose list closed as a nomination was offered to it refuses it by this signal, and the nomination
# offers itself again (one more local activity): a race of the offer with the list's closing, not its route.
LIST_REFUSED_SIGNAL = "ballot_list_refused"


def history_shape(history: Sequence[Any]) -> dict[str, int]:
    """What a history holds, counted as wave_plan.route_counts counts a route (an offer refused as the list
    closed, and the offer made again, left out)."""
    seen = Counter(e.event_type for e in history)
    shape = {k: seen[v] for k, v in SHAPE_EVENTS.items()}
    shape["local_activities"] = sum(
        1
        for e in history
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
    )
    refused = sum(
        1
        for e in history
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and e.workflow_execution_signaled_event_attributes.signal_name == LIST_REFUSED_SIGNAL
    )
    shape["signals"] -= refused
    shape["local_activities"] -= refused
    return shape


async def histories(
    client: Client,
    plan: WavePlan,
    workflow_ids: Sequence[str],
    finished: Collection[str],
    sample_seed: int = 5,
) -> tuple[int, str, int, int]:
    """(largest history, whose, nominations sampled, samples whose shape differs from its route's). The
    sample is drawn from the nominations that `finished`: a wave that ended early (a timeout, a failed
    driver) has planned nominations that never started, with no history to read."""
    rng = random.Random(sample_seed)
    by_route: dict[str, list[Planned]] = defaultdict(list)
    for p in plan.items:
        if p.workflow_id in finished:
            by_route[p.route].append(p)
    sample = [p for group in by_route.values() for p in rng.sample(group, min(HISTORY_SAMPLE_PER_ROUTE, len(group)))]
    largest, whose, mismatches = 0, "", 0
    semaphore = asyncio.Semaphore(8)

    async def events(workflow_id: str) -> list[Any]:
        async with semaphore:
            return list((await client.get_workflow_handle(workflow_id).fetch_history()).events)

    for workflow_id in workflow_ids:
        try:
            n = len(await events(workflow_id))
        except Exception:
            continue
        if n > largest:
            largest, whose = n, workflow_id
    for planned in sample:
        history = await events(planned.workflow_id)
        if len(history) > largest:
            largest, whose = len(history), planned.workflow_id
        wanted = wave_plan.route_counts(planned.route)
        got = history_shape(history)
        # An approval that lands while the nomination reloads its roster on entering CENTRAL_REVIEW moves it
        # before it starts waiting, so no deadline timer is started: timers may be fewer, nothing else.
        if {k: v for k, v in got.items() if k != "timers"} != {k: v for k, v in wanted.items() if k != "timers"} or (
            got["timers"] > wanted["timers"]
        ):
            mismatches += 1
            log(f"shape of {planned.workflow_id} ({planned.route}): {got}, the raw floor assumes {wanted}")
    return largest, whose, len(sample), mismatches


# ---- the run --------------------------------------------------------------------------------------------


def loadavg() -> str:
    """The machine's 1/5/15-minute load averages at the end (other work on the machine shows here)."""
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return "/".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def knobs_label(opts: Options) -> str:
    args = opts.knobs()
    labels = [f"{args[i].lstrip('-')}={args[i + 1]}" for i in range(0, len(args), 2)]
    if opts.db_pool_size is not None:
        labels.append(f"db-pool-size={opts.db_pool_size}")
    if opts.pre_ping:
        labels.append("pre-ping")
    if opts.log_format != "console":
        labels.append(f"log-format={opts.log_format}")
    return ",".join(labels) or "default"


def figures_line(figures: dict[str, Any]) -> str:
    def fmt(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
        return str(value)

    return " ".join(f"{k}={fmt(v)}" for k, v in figures.items())


async def run(opts: Options) -> dict[str, Any]:
    """The whole benchmark; returns the figures (also the smoke test's entry point)."""
    tag = uuid.uuid4().hex[:6]
    logdir = Path(tempfile.mkdtemp(prefix=f"tdkt-wave-{tag}-"))
    priorities_before = os.environ.get(PRIORITIES_ENV)
    if not opts.priorities:
        os.environ[PRIORITIES_ENV] = "off"  # this process's starts (client.pacing) at the server's default
    db_name, url = await create_database()
    env: WorkflowEnvironment | None = None
    workers: list[subprocess.Popen[bytes]] = []
    engine: AsyncEngine | None = None
    ok = False
    try:
        await retrying(lambda: upgrade_to_head(url), attempts=30, delay=1.0)
        engine = create_async_engine(url, pool_size=5, max_overflow=5, pool_pre_ping=True)
        roster = wave_plan.make_roster(opts.ministries, opts.voters)
        await retrying(lambda: load_roster(engine, roster), attempts=30, delay=1.0)
        # The counting committees' keys (every council's and bloc's default Ban kiểm phiếu), held by the bench,
        # which hands in their shares when a session's voting is over (each member would, with their own key).
        committee_size = policy_set(current_policy_version(date.today())).counting_committee.size
        committee_keys = await enroll_members(
            engine, logdir / "counting-keys", default_committees(roster, committee_size)
        )
        if opts.address:
            address = opts.address
        else:
            env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_binary())
            address = env.client.service_client.config.target_host
        # The engine's own client construction, so payloads are converted (and encoded) as the workers do.
        client = await connect(address, "default")
        await ensure_search_attributes(client)
        plan = wave_plan.make_plan(
            opts.nominations, opts.ministries, opts.voters, tag, current_policy_version(date.today())
        )
        queue = f"wave-{tag}"
        worker_env = {
            **os.environ,
            "DATABASE_URL": url,
            "TASK_QUEUE": queue,
            "TEMPORAL_ADDRESS": address,
            "TEMPORAL_NAMESPACE": "default",
            "NOTIFY_CHANNEL": "log",
            "LOG_FORMAT": opts.log_format,
            **opts.worker_env(),
        }
        log(f"{opts.workers} worker(s) with {knobs_label(opts)}; logs in {logdir}")
        workers = start_engine_workers(opts, worker_env, logdir)
        await wait_started(workers, logdir)

        log(f"light load: {opts.probe} withdraw updates, one at a time")
        probe_latencies = await light_load(client, engine, queue, plan, opts.probe)
        probe_ids = [f"nomination-{wave_plan.YEAR}-{plan.ministries[0]}-P{tag}-{i:03d}/TTr" for i in range(opts.probe)]

        server_pids = dev_server_pids()
        pg_started = await postgres_started_at(engine)
        raw: RawResult | None = None
        raw_server_cpu = 0.0
        if opts.raw:
            server_meter = CpuMeter(server_pids)
            log(f"raw floor: {opts.raw_nominations or opts.nominations} trivial workflows of the same shape")
            raw = await run_raw(client, address, opts, plan, logdir)
            raw_server_cpu = server_meter.used()
            log(f"raw floor: {raw.completed}/{raw.nominations} in {raw.seconds:.1f}s = {raw.rate:.2f}/s")

        withdraw_ids = await waiting_probes(client, engine, queue, plan, opts.withdrawals())
        probe_ids += withdraw_ids
        log(f"wave: {opts.nominations} nominations, routes {dict(plan.route_mix())}")
        rss = RssSampler()
        rss.reset([w.pid for w in workers])
        stop_rss = asyncio.Event()
        sampler = asyncio.create_task(rss.run(stop_rss))
        wave = Wave(client, engine, queue, plan, opts, deadline=time.monotonic() + opts.timeout)
        wave.committee_keys = committee_keys
        wave.withdraw_pending = list(withdraw_ids)
        server_meter, worker_meter = CpuMeter(server_pids), CpuMeter([w.pid for w in workers])
        try:
            end = await wave.run()
        finally:
            stop_rss.set()
            await sampler
        wave_server_cpu, wave_worker_cpu = server_meter.used(), worker_meter.used()
        pg_restarted = await postgres_started_at(engine) != pg_started
        wave_s = max(end - wave.t0, 1e-6)
        log(f"wave: ended after {wave_s:.1f}s; checking PostgreSQL and histories")
        leftover = ReasonedAction(actor=wave_plan.unit_staff(plan.ministries[0]), reason="Đơn vị rút sau đợt")
        for workflow_id in list(wave.withdraw_pending):  # those the wave ended before: withdrawn, untimed
            with contextlib.suppress(ActionRefused):  # a retry of one that went through
                await retrying(functools.partial(act, client, workflow_id, "withdraw", leftover))
        await asyncio.sleep(1.0)  # the outbox and the last writes settle
        checked, statuses = await audit(client, engine, plan, roster, probe_ids, wave.sessions)
        finished = sum(1 for p in plan.items if (s := statuses.get(p.workflow_id)) is not None and s.stage.is_final)
        ended = {i for i, s in statuses.items() if s is not None and s.stage.is_final}
        largest, whose, sampled, mismatches = await histories(client, plan, [*wave.sessions, *wave.decisions], ended)
        mixed: MixedResult | None = None
        if opts.mixed():
            log(
                f"mixed case: {plan.ministries[0]} imports {opts.mixed()} rows while {plan.ministries[1]}'s "
                f"council holds {opts.mixed_meetings} meetings"
            )
            mixed = await mixed_case(client, engine, queue, plan, opts, committee_keys)
            log(f"mixed case: import {mixed.counts.as_dict()} in {mixed.import_s:.1f}s, {mixed.meetings} meetings")
        rate = finished / wave_s
        errors = sum(wave.errors.values()) + (raw.errors if raw else 0) + (mixed.errors if mixed else 0)
        staff_loaded = [*wave.approve_latencies, *wave.cast_latencies, *wave.withdraw_latencies]
        if checked.details:
            log(f"audit: {dict(checked.details)}")
        if wave.errors:
            log(f"errors: {dict(wave.errors)}")
        if wave.errors_seen:
            log(f"retried: {dict(wave.errors_seen)}")
        figures: dict[str, Any] = {
            "nominations": opts.nominations,
            "rate": rate,
            "raw_rate": raw.rate if raw else 0.0,
            "ratio": rate / raw.rate if raw and raw.rate else 0.0,
            "p50_ms": percentile(probe_latencies, 50),
            "p99_ms": percentile(probe_latencies, 99),
            "p99_ms_loaded": percentile(wave.approve_latencies, 99),
            "worker_rss_mb": rss.peak_sum,
            "max_history_events": largest,
            "lost": checked.lost,
            "duplicated": checked.duplicated,
            # context
            "finished": finished,
            # not in a final stage when the wave ended (a timed-out wave); each is also counted in `lost`
            "unfinished": len(plan.items) - finished,
            "wave_s": wave_s,
            "raw_s": raw.seconds if raw else 0.0,
            "raw_nominations": raw.nominations if raw else 0,
            "voters": opts.voters,
            "workers": opts.workers,
            "ministries": opts.ministries,
            "max_in_flight": opts.max_in_flight,
            "knobs": knobs_label(opts),
            "worker_rss_mb_one": rss.peak_one,
            "worker_pss_mb": rss.peak_pss_sum,
            "raw_worker_rss_mb": raw.rss_sum if raw else 0.0,
            "p50_ms_loaded": percentile(wave.approve_latencies, 50),
            "approvals": len(wave.approve_latencies),
            "raw_p99_ms_loaded": percentile(raw.update_latencies, 99) if raw else 0.0,
            "cast_p99_ms": percentile(wave.cast_latencies, 99),
            "sessions": len(wave.sessions),
            "decisions": len(wave.decisions),
            "largest_history": whose.split("/")[0] if whose else "",
            "sampled_nominations": sampled,
            "shape_mismatches": mismatches,
            "errors": errors,
            # CPU per nomination (seconds): where the work goes. Server figures only for a server started here.
            "worker_cpu_ms_per_nomination": 1000 * wave_worker_cpu / max(1, opts.nominations),
            "server_cpu_ms_per_nomination": 1000 * wave_server_cpu / max(1, opts.nominations),
            "raw_worker_cpu_ms_per_nomination": 1000 * raw.cpu / max(1, raw.nominations) if raw else 0.0,
            "raw_server_cpu_ms_per_nomination": 1000 * raw_server_cpu / max(1, raw.nominations) if raw else 0.0,
            "postgres_restarted": "yes" if pg_restarted else "no",
            "loadavg": loadavg(),
            # People before bulk: every staff action during the wave (approvals, sealed ballots, withdrawals)
            "staff_p50_ms_loaded": percentile(staff_loaded, 50),
            "staff_p99_ms_loaded": percentile(staff_loaded, 99),
            "staff_actions_loaded": len(staff_loaded),
            "cast_p50_ms": percentile(wave.cast_latencies, 50),
            "casts": len(wave.cast_latencies),
            "withdraw_p50_ms_loaded": percentile(wave.withdraw_latencies, 50),
            "withdraw_p99_ms_loaded": percentile(wave.withdraw_latencies, 99),
            "withdrawals_loaded": len(wave.withdraw_latencies),
            "admission_window": opts.admission_window,
            "priorities": "on" if opts.priorities else "off",
            "raised_to_people": wave.window.promoted if wave.window else 0,
            # The mixed case: one ministry's import while another's council meets (its actions' latency)
            "mixed_rows": mixed.rows if mixed else 0,
            "mixed_started": mixed.counts.started if mixed else 0,
            "mixed_import_s": mixed.import_s if mixed else 0.0,
            "mixed_council_p50_ms": percentile(mixed.council_latencies, 50) if mixed else 0.0,
            "mixed_council_p99_ms": percentile(mixed.council_latencies, 99) if mixed else 0.0,
            "mixed_council_actions": len(mixed.council_latencies) if mixed else 0,
            "mixed_meetings": mixed.meetings if mixed else 0,
            "mixed_meetings_during_import": mixed.meetings_during_import if mixed else 0,
        }
        ok = checked.lost == 0 and checked.duplicated == 0 and errors == 0
        return figures
    finally:
        if priorities_before is None:
            os.environ.pop(PRIORITIES_ENV, None)
        else:
            os.environ[PRIORITIES_ENV] = priorities_before
        for process in workers:
            await asyncio.to_thread(stop_process, process)
        if engine is not None:
            await engine.dispose()
        if env is not None:
            await env.shutdown()
        await drop_database(db_name)
        if ok and not opts.keep_logs:
            shutil.rmtree(logdir, ignore_errors=True)
        else:
            log(f"logs kept in {logdir}")


def main(argv: Sequence[str] | None = None) -> None:
    opts = parse_args(argv)
    code = 1
    try:
        figures = asyncio.run(run(opts))
        ok = figures["lost"] == 0 and figures["duplicated"] == 0 and figures["errors"] == 0
        code = 0 if ok else 2
        print(figures_line(figures), flush=True)
    except Exception as exc:
        log(f"failed: {exc!r}")
        traceback.print_exc()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown, where the SDK's native runtime can abort


if __name__ == "__main__":
    main()
