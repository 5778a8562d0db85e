"""The run command's body: dev server, worker, then sample nominations through every route, in a world of the
demo's own.

    TDKT_GENERATE_KEYS=1 python -m scripts.demo [--keep]      (make demo; make up adds --keep)

The demo never reads, votes on or changes a nomination it did not start. It runs
- in a Temporal namespace of its own (DEMO_NAMESPACE, default `tdkt-demo`), registered if missing, with a worker
  of its own (log: .state/demo-worker.log);
- on a database of its own: DEMO_DATABASE_URL if set, else `<your database>_demo` on your PostgreSQL when
  DATABASE_URL names one (created if missing), else SQLite in .state/demo.db;
- with a roster of its own (config/demo-roster.json: ministries DEMO_A, DEMO_B, DEMO_C, bloc DEMO_KHOI, the
  internal-affairs bloc NOI_CHINH with its eight members for the bloc's year (scripts/bloc_year_demo.py; its
  scoring table and rotation are keyed on those codes), and their fictional people), so its ballot sessions can
  only ever find its own nominations.
Your nominations (TEMPORAL_NAMESPACE, DATABASE_URL) are never read; the demo refuses to start (exit 2) when its
namespace or database is yours. Each run stamps its references, nominees, meetings and decision numbers, so a
second run never meets the first one's. A nomination an interrupted earlier run left waiting in the demo's
council or bloc is the demo's own: the next run's session votes it down.

Uses a dev server already listening on TEMPORAL_ADDRESS if there is one, else starts one with its state in
.state/temporal.db. Every action goes through the same client code as `starter.py`. Exits non-zero if any
nomination ends where the rules say it should not, or if the database disagrees with the workflow.

With --keep (make up) the dev server and the demo's worker stay up, and a worker for your own work starts
beside them: TEMPORAL_NAMESPACE, TASK_QUEUE and DATABASE_URL (default SQLite in .state/engine.db) as the CLI
uses them; a database of yours without a roster yet gets config/roster.json, one with a roster keeps it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from google.protobuf.duration_pb2 import Duration
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from client.ballots import cast as cast_ballot
from client.ballots import close_list, open_session, session_status, verify_receipt
from client.decisions import export_decision, issue_decision
from client.nominations import ActionRefused, act, start_nomination, status
from client.settings import DEFAULT_TASK_QUEUE, Settings
from client.temporal import connect, ensure_search_attributes
from domain.ballot_messages import SessionPhase, SessionStart, SessionStatus
from domain.ballots import BallotSessionKind, Choice, voting_members
from domain.catalog import current_policy_version
from domain.decisions import DecisionRef, DecisionRequest
from domain.messages import CentralApproval, MeetingResult, NominationStatus, ReasonedAction, Resubmission
from domain.nomination import Nomination
from domain.roster import CENTRAL_SCOPE, Role, Roster
from domain.stages import Stage
from scripts import processes
from scripts.bloc_year_demo import run_bloc_year
from scripts.processes import STATE_DIR
from scripts.stand_in_committee import enroll_members, hand_in_shares, voting_actors
from security.audit_keys import audit_keyring
from security.identity_keys import identity_key_from_env
from security.tokens import keyring_from_env
from store.audit import verify_audit
from store.db import create_engine, default_database_url, normalise_url
from store.migrate import upgrade_to_head
from store.roster import load_roster
from store.schema import ministries
from workflows.nomination import NominationWorkflow

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "nominations"
DEMO_ROSTER = ROOT / "config" / "demo-roster.json"
USER_ROSTER = ROOT / "config" / "roster.json"
DEMO_MINISTRY = "DEMO_A"
DEFAULT_DEMO_NAMESPACE = "tdkt-demo"
NAMESPACE_RETENTION = Duration(seconds=7 * 24 * 3600)
NOTICE_SECONDS = int(os.environ.get("DEMO_PUBLIC_NOTICE_SECONDS", "5"))
# The demo's counting committee keys: every voting member's, as each would keep their own (made only under
# TDKT_GENERATE_KEYS=1, as `make demo` runs).
COUNTING_DIR = STATE_DIR / "demo-counting"
# Wide enough for the outcome table when output is not a terminal (CI logs).
console = Console(width=None if sys.stdout.isatty() else 170)


class DemoRefused(Exception):
    """The demo's namespace or database would be the user's: nothing is started."""


@dataclass(frozen=True)
class Cast:
    """Who plays each part, read from the demo's roster: the voters are the bodies' true voting members, so the
    counts the demo types in are the roster's own."""

    ministry: str
    bloc: str
    proposers: tuple[str, ...]
    secretary: str
    chair: str
    council: tuple[str, ...]
    bloc_head: str
    bloc_voters: tuple[str, ...]
    central: str
    organisation: dict[str, str]

    @classmethod
    def from_roster(cls, roster: Roster, ministry: str) -> Cast:
        snapshot = roster.snapshot_for(ministry)
        if snapshot.bloc is None:
            raise ValueError(f"{DEMO_ROSTER.name}: ministry {ministry} needs a bloc for the bloc vote")
        bloc = snapshot.bloc.code

        def first(role: Role, scope: str) -> str:
            holders = snapshot.holders(role, scope)
            if not holders:
                raise ValueError(f"{DEMO_ROSTER.name}: no one holds {role.value} for {scope}")
            return holders[0].id

        proposers = tuple(a.id for a in snapshot.holders(Role.UNIT_STAFF, ministry))
        if not proposers:
            raise ValueError(f"{DEMO_ROSTER.name}: no one holds UNIT_STAFF for {ministry}")
        council = tuple(a.id for a in voting_members(snapshot, Stage.COUNCIL_REVIEW))
        chair = first(Role.COUNCIL_CHAIR, ministry)
        if chair not in council:
            raise ValueError(f"{DEMO_ROSTER.name}: the chair {chair} must also be a COUNCIL_MEMBER of {ministry}")
        return cls(
            ministry=ministry,
            bloc=bloc,
            proposers=proposers,
            secretary=first(Role.COUNCIL_SECRETARY, ministry),
            chair=chair,
            council=council,
            bloc_head=first(Role.BLOC_HEAD, bloc),
            bloc_voters=tuple(a.id for a in voting_members(snapshot, Stage.BLOC_VOTE)),
            central=first(Role.CENTRAL_OFFICER, CENTRAL_SCOPE),
            organisation={a.id: a.organisation for a in roster.actors},
        )

    def council_pass(self, actor: str) -> MeetingResult:
        """A unanimous typed-in council result: members and present are the council's voting seats."""
        seats = len(self.council)
        tally = {"members": seats, "present": seats, "votes_for": seats, "votes_against": 0}
        return MeetingResult.model_validate({"actor": actor, "tally": tally, "minutes_ref": "BB-HĐ-12"})


SAMPLE_FILES = {
    "minister": "bang-khen-bo.json",
    "flag": "co-thi-dua-cp.json",
    "order": "huan-chuong-ld3.json",
    "fighter": "cstd-cap-bo.json",
    "pm": "bang-khen-ttg.json",
    "collective": "tap-the-ldxs.json",
}
EXPECTED = {
    "minister": Stage.AWARDED,
    "flag": Stage.AWARDED,
    "order": Stage.AWARDED,
    "fighter": Stage.REJECTED,
    "pm": Stage.AWARDED,
    "collective": Stage.WITHDRAWN,
}
# Which of the demo ministry's unit staff proposes each (by position in the roster's list of them).
PROPOSER_OF = {"order": 1, "fighter": 1}


def demo_nomination(key: str, cast: Cast, stamp: str, year: int) -> Nomination:
    """The sample of this key moved into the demo's ministry, proposed by its own unit staff, its reference and
    nominee stamped with the run: a business key and a nominee's identity are used once, and each run is new."""
    raw = json.loads((SAMPLES / SAMPLE_FILES[key]).read_text(encoding="utf-8"))
    nominee = dict(raw["nominee"])
    name_field = "full_name" if nominee["kind"] == "INDIVIDUAL" else "name"
    nominee[name_field] = f"{nominee[name_field]} (demo {stamp})"
    raw |= {
        "reference": f"{raw['reference']}-{stamp}",
        "ministry": cast.ministry,
        "year": year,
        "nominee": nominee,
        "proposer": cast.proposers[PROPOSER_OF.get(key, 0) % len(cast.proposers)],
    }
    return Nomination.model_validate(raw)


async def wait_stage(client: Client, workflow_id: str, stage: Stage, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (await status(client, workflow_id)).stage != stage:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{workflow_id} did not reach {stage}")
        await asyncio.sleep(0.2)


async def wait_session(
    client: Client, session_id: str, *, phase: SessionPhase | None = None, listed: frozenset[str] = frozenset()
) -> SessionStatus:
    deadline = time.monotonic() + 60
    while True:
        current = await session_status(client, session_id)
        if (phase is None or current.phase == phase) and listed <= {c.workflow_id for c in current.candidates}:
            return current
        if time.monotonic() > deadline:
            raise RuntimeError(f"{session_id} stuck in {current.phase} with {len(current.candidates)} candidates")
        await asyncio.sleep(0.2)


def session_start(kind: BallotSessionKind, scope: str, opener: str, stamp: str) -> SessionStart:
    return SessionStart(
        kind=kind,
        scope=scope,
        meeting_ref=f"{kind.value[:2]}-{stamp}",
        opened_by=opener,
        deadline=datetime.now(UTC) + timedelta(hours=1),
        policy_version=current_policy_version(date.today()),
        reminder_before_seconds=0,
    )


def leftovers(listed: SessionStatus, ids: dict[str, str]) -> frozenset[str]:
    """The demo's own nominations an earlier, interrupted run left waiting (nothing else lives in the demo's
    namespace and database): this run votes them down."""
    return frozenset(c.workflow_id for c in listed.candidates if c.workflow_id not in ids.values())


def ballot(listed: SessionStatus, voter: str, cast: Cast, against: frozenset[str] = frozenset()) -> dict[str, Choice]:
    """A whole-list ballot: FOR everything except `against`; nothing on a candidate the voter may not vote on
    (their own nomination; in a bloc, their own organisation's candidate)."""
    own = cast.organisation.get(voter)
    return {
        c.workflow_id: Choice.AGAINST if c.workflow_id in against else Choice.FOR
        for c in listed.candidates
        if c.nominee_actor_id != voter and (listed.kind != BallotSessionKind.BLOC or c.proposing_organisation != own)
    }


async def count(client: Client, engine: Any, session_id: str, committee: dict[str, Any]) -> None:
    """The session's voting is over: the counting committee (Ban kiểm phiếu) hands in the shares the count
    needs, each decrypted with that member's counting key (in the demo all held in .state/demo-counting/)."""
    waiting = await wait_session(client, session_id, phase=SessionPhase.AWAITING_COUNT)
    needed = waiting.keys.threshold if waiting.keys else 0
    console.print(f"  Ban kiểm phiếu: 0/{len(waiting.committee)} đã nộp mảnh khóa (cần {needed}) — {session_id}")
    handed = await hand_in_shares(client, engine, session_id, committee)
    console.print(
        f"  Ban kiểm phiếu: {handed.shares_in}/{len(handed.committee)} đã nộp mảnh khóa "
        f"({', '.join(handed.committee[: handed.shares_in])}); kiểm phiếu"
    )


async def run_scenarios(
    client: Client, queue: str, engine: Any, cast: Cast, stamp: str, committee: dict[str, Any]
) -> bool:
    # 1. The units submit six nominations (the Huân chương starts with its public notice).
    year = date.today().year
    nominations: dict[str, Nomination] = {}
    ids: dict[str, str] = {}
    for key in SAMPLE_FILES:
        nominations[key] = demo_nomination(key, cast, stamp, year)
        handle = await start_nomination(
            client, nominations[key], queue, public_notice_seconds=NOTICE_SECONDS, engine=engine
        )
        ids[key] = handle.id
        console.print(f"  nominated {handle.id}: {nominations[key].award_form}")

    # 2. One unit withdraws; one council member tries to type in a result and is refused (only the secretary
    # records a meeting), with the council's true counts so that the actor is the reason. Both happen before
    # the meeting opens, as a unit's and a member's actions usually do.
    await wait_stage(client, ids["collective"], Stage.COUNCIL_REVIEW)
    await act(
        client,
        ids["collective"],
        NominationWorkflow.withdraw,
        ReasonedAction(actor=nominations["collective"].proposer, reason="Đơn vị xin rút để bổ sung năm sau"),
    )
    member = next(m for m in cast.council if m != cast.chair)
    await wait_stage(client, ids["minister"], Stage.COUNCIL_REVIEW)
    try:
        await act(client, ids["minister"], NominationWorkflow.record_council_result, cast.council_pass(member))
    except ActionRefused as refused:
        console.print(f"  [yellow]refused as expected[/]: {refused}")
    else:
        console.print(f"  [red]a council member's typed-in result was accepted[/] ({member})")
        return False

    # 3. The council secretary opens the meeting's ballot session: the nominations waiting for the council join
    # its list on their own, and so does the Huân chương when its notice ends.
    council = await open_session(
        client, queue, session_start(BallotSessionKind.COUNCIL, cast.ministry, cast.secretary, stamp)
    )
    console.print(f"council ballot session [bold]{council.id}[/] is collecting its list")
    console.print(f"  public notice of the Huân chương: {NOTICE_SECONDS}s in the demo (10 working days by policy)")
    for key in ("minister", "flag", "order", "fighter", "pm"):
        await wait_stage(client, ids[key], Stage.COUNCIL_REVIEW)

    # 4. The list closes; every member casts one sealed ballot on the whole list (the chair against the fighter:
    # an emulation fighter needs 90 % of all members).
    await wait_session(
        client, council.id, listed=frozenset(ids[k] for k in ("minister", "flag", "order", "fighter", "pm"))
    )
    listed = await close_list(client, council.id, cast.secretary)
    receipts = []
    for voter in cast.council:
        against = frozenset({ids["fighter"]} if voter == cast.chair else ()) | leftovers(listed, ids)
        receipts.append(await cast_ballot(client, council.id, voter, ballot(listed, voter, cast, against)))
    # Everyone voted: the count waits for the counting committee's shares (each member's own key).
    await count(client, engine, council.id, committee)
    council_closed = await wait_session(client, council.id, phase=SessionPhase.CLOSED)
    console.print(f"council session closed: {len(council_closed.voted)}/{council_closed.electorate_size} voted")

    # 5. The bloc votes on the Government flag the same way.
    await wait_stage(client, ids["flag"], Stage.BLOC_VOTE)
    bloc = await open_session(client, queue, session_start(BallotSessionKind.BLOC, cast.bloc, cast.bloc_head, stamp))
    await wait_session(client, bloc.id, listed=frozenset({ids["flag"]}))
    bloc_list = await close_list(client, bloc.id, cast.bloc_head)
    for representative in cast.bloc_voters:
        choices = ballot(bloc_list, representative, cast, leftovers(bloc_list, ids))
        if choices:
            await cast_ballot(client, bloc.id, representative, choices)
    await count(client, engine, bloc.id, committee)
    await wait_session(client, bloc.id, phase=SessionPhase.CLOSED)
    console.print(f"bloc session {bloc.id} closed")

    # 6. The central board approves two for a decision, returns one, which is corrected and approved.
    for key in ("flag", "order"):
        await wait_stage(client, ids[key], Stage.CENTRAL_REVIEW)
        await act(client, ids[key], NominationWorkflow.approve, CentralApproval(actor=cast.central))
    await wait_stage(client, ids["pm"], Stage.CENTRAL_REVIEW)
    await act(
        client,
        ids["pm"],
        NominationWorkflow.return_dossier,
        ReasonedAction(actor=cast.central, reason="Bổ sung xác nhận của địa phương"),
    )
    pm = nominations["pm"]
    corrected = pm.model_copy(update={"achievements": pm.achievements + " (đã bổ sung xác nhận)"})
    await act(client, ids["pm"], NominationWorkflow.resubmit, Resubmission(actor=pm.proposer, nomination=corrected))
    await act(client, ids["pm"], NominationWorkflow.approve, CentralApproval(actor=cast.central))

    # 7. Each signing authority's decision names its awardees at once; the fighter (rejected) is refused on it.
    decisions = [
        ("MINISTER", f"{stamp}/QĐ-{cast.ministry}", cast.secretary, [ids["minister"], ids["fighter"]]),
        ("PRIME_MINISTER", f"{stamp}/QĐ-TTg", cast.central, [ids["flag"], ids["pm"]]),
        ("PRESIDENT", f"{stamp}/QĐ-CTN", cast.central, [ids["order"]]),
    ]
    for authority, number, clerk, listed_ids in decisions:
        for workflow_id in listed_ids:
            if workflow_id != ids["fighter"]:
                await wait_stage(client, workflow_id, Stage.AWAITING_DECISION)
        request = DecisionRequest(
            decision=DecisionRef(decision_no=number, decision_date=date.today(), authority=authority, actor=clerk),
            workflow_ids=listed_ids,
        )
        summary = await issue_decision(client, queue, request)
        refusals = "; ".join(f"{i.workflow_id}: {i.reason}" for i in summary.refused)
        console.print(
            f"decision {number} ({authority}): {len(summary.accepted)} awarded"
            + (f", refused {refusals}" if refusals else "")
        )
    export = STATE_DIR / "decision-ttg.xlsx"
    rows = await export_decision(engine, f"{stamp}/QĐ-TTg", export)
    console.print(f"decision list exported: {export} ({rows} rows)")

    # 8. A voter checks their receipt; then the register.
    audit = await verify_audit(engine, keyring=audit_keyring())
    console.print(
        f"audit chain: {'intact' if audit.intact else 'BROKEN'}, {audit.checked} entries (starter.py verify-audit)"
    )
    session_id, counted = await verify_receipt(client, receipts[0].receipt)
    console.print(f"receipt of {cast.council[0]} in {session_id}: {'counted' if counted else 'NOT counted'}")
    return await print_register(client, engine, ids, council_closed) and bool(counted) and audit.intact


async def print_register(client: Client, engine: Any, ids: dict[str, str], council: SessionStatus) -> bool:
    tallies = Table(title="Council ballot (biên bản kiểm phiếu): counts only, never who chose what")
    for column in ("nomination", "members", "for", "against", "abstaining", "result"):
        tallies.add_column(column, no_wrap=column == "nomination")
    for entry in council.results or []:
        t = entry.tally
        tallies.add_row(
            entry.candidate.workflow_id,
            str(t.members),
            str(t.votes_for),
            str(t.votes_against),
            str(t.abstaining),
            entry.result.value,
        )
    console.print(tallies)
    table = Table(title="Nominations carried through the engine")
    for column in ("workflow id", "award", "nominee", "path", "final stage", "database", "events", "notices"):
        table.add_column(column, no_wrap=column == "workflow id")
    all_right = True
    for key, workflow_id in ids.items():
        handle = client.get_workflow_handle(workflow_id, result_type=NominationStatus)
        final = await handle.result()
        await asyncio.sleep(0.3)  # the final write lands just after the state changes on a signal path
        db_stage, events, notes = await db_rows(engine, workflow_id)
        right = final.stage == EXPECTED[key] and db_stage == final.stage.value
        all_right &= right
        table.add_row(
            workflow_id,
            final.award_name_vi,
            final.nominee_name,
            " → ".join(short(t.to_stage) for t in final.transitions),
            f"[{'green' if right else 'red'}]{final.stage.label_vi}[/]",
            db_stage or "—",
            str(events),
            str(notes),
        )
    console.print(table)
    return all_right


def short(stage: Stage) -> str:
    return stage.value.removesuffix("_REVIEW").removesuffix("_VOTE").removesuffix("_NOTICE").removeprefix("AWAITING_")


async def db_rows(engine: Any, workflow_id: str) -> tuple[str | None, int, int]:
    async with engine.connect() as conn:
        stage = (
            await conn.execute(sa.text("SELECT stage FROM nominations WHERE workflow_id = :w"), {"w": workflow_id})
        ).scalar()
        events = (
            await conn.execute(sa.text("SELECT count(*) FROM stage_events WHERE workflow_id = :w"), {"w": workflow_id})
        ).scalar()
        notes = (
            await conn.execute(sa.text("SELECT count(*) FROM notifications WHERE workflow_id = :w"), {"w": workflow_id})
        ).scalar()
    return stage, int(events or 0), int(notes or 0)


# ---- the demo's own world ------------------------------------------------------------------------------


async def create_postgres_database(user_url: str, name: str) -> None:
    """CREATE DATABASE `name` on the server of `user_url` unless it exists (connecting to the user's database,
    or to `postgres` when that does not exist yet); reads and writes nothing in the user's database."""
    import asyncpg

    url = make_url(user_url)
    last_error: Exception | None = None
    for maintenance in (url.database, "postgres"):
        dsn = url.set(drivername="postgresql", database=maintenance).render_as_string(hide_password=False)
        try:
            conn = await asyncpg.connect(dsn)
        except (OSError, asyncpg.PostgresError) as err:
            last_error = err
            continue
        try:
            if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                return
            quoted = name.replace('"', '""')
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):  # another demo created it meanwhile
                await conn.execute(f'CREATE DATABASE "{quoted}"')
            return
        finally:
            await conn.close()
    raise last_error or RuntimeError(f"cannot reach the server of {url.render_as_string(hide_password=True)}")


async def demo_database(user_url: str) -> tuple[str, str]:
    """The demo's database URL and how it was chosen: DEMO_DATABASE_URL; else `<yours>_demo` on your PostgreSQL;
    else SQLite in .state/demo.db (also when your PostgreSQL refuses to create a database: the note says why)."""
    explicit = os.environ.get("DEMO_DATABASE_URL")
    if explicit:
        return normalise_url(explicit), "DEMO_DATABASE_URL"
    import asyncpg

    note = "SQLite, the demo's own file"
    url = make_url(user_url)
    if url.get_backend_name() == "postgresql" and url.database:
        name = f"{url.database}_demo"
        try:
            await create_postgres_database(user_url, name)
        except (OSError, asyncpg.PostgresError) as err:
            note = f"SQLite: could not create {name} on your PostgreSQL ({type(err).__name__}); set DEMO_DATABASE_URL"
        else:
            demo_url = url.set(database=name).render_as_string(hide_password=False)
            return demo_url, f"a database of its own beside yours ({name})"
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite+aiosqlite:///{STATE_DIR / 'demo.db'}", note


def same_database(a: str, b: str) -> bool:
    first, second = make_url(normalise_url(a)), make_url(normalise_url(b))
    return (first.get_backend_name(), first.host, first.port, first.database) == (
        second.get_backend_name(),
        second.host,
        second.port,
        second.database,
    )


async def ensure_namespace(client: Client, namespace: str) -> None:
    """Register the demo's namespace if the server does not know it, and wait until it answers."""
    try:
        await client.workflow_service.register_namespace(
            RegisterNamespaceRequest(
                namespace=namespace,
                description="TĐKT engine: the run command's demo (fictional data only)",
                workflow_execution_retention_period=NAMESPACE_RETENTION,
            )
        )
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            raise
    deadline = time.monotonic() + 60
    while True:
        try:
            await client.count_workflows()
            return
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def prepare_user_side(settings: Settings) -> str:
    """For --keep: the user's database migrated, and given config/roster.json only when it has no roster yet
    (a roster already there is the user's and stays as it is); the local keys the CLI needs for the README's
    commands (token signing, nominee identity) made under .state/ if none are configured, as the embedded
    demo may. Returns the database's URL."""
    keyring_from_env()
    identity_key_from_env()
    url = settings.database_url or default_database_url()
    await upgrade_to_head(url)
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            known = await conn.scalar(sa.select(sa.func.count()).select_from(ministries))
        if not known:
            roster = Roster.model_validate_json(USER_ROSTER.read_text(encoding="utf-8"))
            counts = await load_roster(engine, roster)
            console.print(f"your database had no roster: loaded {USER_ROSTER.relative_to(ROOT)} {counts}")
    finally:
        await engine.dispose()
    return url


def stop_with_parent() -> None:
    """On Linux, have the kernel send this process SIGTERM when the process that started it ends. `make up`
    sent SIGTERM ends make without passing the signal on to its recipe, which would leave the demo (and the
    dev server and workers it started) running; with this the demo stops them as on its own SIGTERM."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM))
    if os.getppid() != parent:  # the parent ended before the request was made
        os.kill(os.getpid(), signal.SIGTERM)


async def main(keep: bool) -> int:
    settings = Settings.from_env()
    demo_namespace = os.environ.get("DEMO_NAMESPACE", DEFAULT_DEMO_NAMESPACE)
    if demo_namespace == settings.temporal_namespace:
        raise DemoRefused(
            f"DEMO_NAMESPACE and TEMPORAL_NAMESPACE are both {demo_namespace!r}: "
            "the demo runs in a namespace of its own"
        )
    user_url = settings.database_url or default_database_url()
    database_url, chosen = await demo_database(user_url)
    if same_database(database_url, user_url):
        raise DemoRefused("the demo's database would be yours (DATABASE_URL): set DEMO_DATABASE_URL to another one")

    started: list[subprocess.Popen[bytes]] = []  # what the demo started, stopped when it ends or fails
    task = asyncio.current_task()
    if task is not None:  # SIGTERM stops the demo as Ctrl-C does: through the `finally` below
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        stop_with_parent()  # after the handler: a parent already gone cancels the demo like any SIGTERM
    try:
        return await run(settings, keep, demo_namespace, database_url, chosen, started)
    finally:
        for process in reversed(started):
            processes.stop(process)


async def run(
    settings: Settings,
    keep: bool,
    demo_namespace: str,
    database_url: str,
    chosen: str,
    started: list[subprocess.Popen[bytes]],
) -> int:
    host, _, port = settings.temporal_address.partition(":")
    own_server = not processes.port_open(host or "127.0.0.1", int(port or 7233))
    if own_server:
        console.print(f"starting the Temporal dev server on {settings.temporal_address} (state: .state/temporal.db)")
        started.append(processes.start_dev_server(port=int(port or 7233)))
        await processes.wait_for_port(host or "127.0.0.1", int(port or 7233), 60, "temporal dev server")
    await upgrade_to_head(database_url)
    roster = Roster.model_validate_json(DEMO_ROSTER.read_text(encoding="utf-8"))
    cast = Cast.from_roster(roster, DEMO_MINISTRY)
    engine = create_engine(database_url)
    try:
        counts = await load_roster(engine, roster)
        console.print(
            f"demo: namespace [bold]{demo_namespace}[/], database {engine.url.render_as_string(hide_password=True)}"
            f" ({chosen}), roster {DEMO_ROSTER.relative_to(ROOT)} {counts}; your nominations are not touched"
        )
        # Each voting member's counting key, as `starter.py ballot enroll` makes one: the demo plays them all.
        committee = await enroll_members(engine, COUNTING_DIR, voting_actors(roster))
        console.print(f"counting keys of {len(committee)} voting members enrolled (private halves in {COUNTING_DIR})")
        client = await connect(settings.temporal_address, demo_namespace)
        await ensure_namespace(client, demo_namespace)
        await ensure_search_attributes(client)
        queue = DEFAULT_TASK_QUEUE
        demo_env = {"TEMPORAL_NAMESPACE": demo_namespace, "TASK_QUEUE": queue, "DATABASE_URL": database_url}
        started.append(processes.start_worker(demo_env, log_name="demo-worker.log"))
        console.print("demo worker started (log: .state/demo-worker.log)")
        ok = await run_scenarios(client, queue, engine, cast, datetime.now().strftime("%y%m%d-%H%M%S"), committee)
        # The bloc's year (NOI_CHINH of the demo roster) after the nominations' routes: scripts/bloc_year_demo.py.
        stamp = datetime.now().strftime("%y%m%d-%H%M%S")
        ok = await run_bloc_year(client, queue, engine, roster, stamp, committee, demo_namespace) and ok
    finally:
        await engine.dispose()
    ui = f"http://localhost:8233/namespaces/{demo_namespace}/workflows"
    console.print(f"\nTemporal UI: {ui}" + ("" if keep or not own_server else " (run `make up` to keep it open)"))
    console.print(f"Try: temporal workflow list --namespace {demo_namespace} --query \"NominationStage='AWARDED'\"")
    console.print(f"Database: {engine.url.render_as_string(hide_password=True)}")
    console.print(
        "[green]all nominations ended as the rules say[/]" if ok else "[red]some nominations ended wrongly[/]"
    )
    if keep:
        user_url = await prepare_user_side(settings)
        started.append(processes.start_worker())
        console.print(
            f"engine kept running: the demo's worker (namespace {demo_namespace}) and yours (namespace "
            f"{settings.temporal_namespace}, task queue {settings.task_queue}, database "
            f"{make_url(user_url).render_as_string(hide_password=True)}, log .state/worker.log); stop with Ctrl-C"
        )
        await asyncio.Event().wait()
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="leave the dev server and the workers running")
    keep = parser.parse_args().keep
    try:
        code = asyncio.run(main(keep))
    except DemoRefused as refused:
        console.print(f"[red]demo not started[/]: {refused}")
        code = 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        # Ctrl-C or SIGTERM: what the demo started is stopped. It is how `make up` ends; a demo cut short failed.
        console.print("stopped")
        code = 0 if keep else 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown, where the SDK's native runtime can abort
