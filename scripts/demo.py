"""The run command's body: dev server, worker, roster, then sample nominations through every route.

    python -m scripts.demo [--keep]      (make demo)

Uses a dev server already listening on TEMPORAL_ADDRESS if there is one, else starts one with its state
in .state/temporal.db; the database is DATABASE_URL or SQLite in .state/engine.db. Every action goes
through the same client code as `starter.py`. Exits non-zero if any nomination ends where the rules
say it should not, or if PostgreSQL/SQLite disagrees with the workflow.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from temporalio.client import Client

from activities.audit import verify_audit
from activities.db import create_engine, default_database_url
from activities.migrate import upgrade_to_head
from activities.roster_store import load_roster
from domain.ballot_messages import SessionPhase, SessionStart, SessionStatus
from domain.ballots import BallotSessionKind, Choice
from domain.catalog import current_policy_version
from domain.decisions import DecisionRef, DecisionRequest
from domain.messages import CentralApproval, MeetingResult, NominationStatus, ReasonedAction, Resubmission
from domain.nomination import Nomination
from domain.roster import Roster
from domain.stages import Stage
from runtime import processes
from runtime.ballots import cast, close_list, open_session, session_status, verify_receipt
from runtime.decisions import export_decision, issue_decision
from runtime.nominations import ActionRefused, act, start_nomination, status
from runtime.processes import STATE_DIR
from runtime.settings import Settings
from runtime.temporal import connect, ensure_search_attributes

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "nominations"
SECRETARY, BLOC_HEAD, CENTRAL = "btp.hd.thu-ky", "tandtc.khoi.truong", "tw.ban-tdkt.can-bo-1"
NOTICE_SECONDS = int(os.environ.get("DEMO_PUBLIC_NOTICE_SECONDS", "5"))
# Wide enough for the outcome table when output is not a terminal (CI logs).
console = Console(width=None if sys.stdout.isatty() else 170)


def council_pass(members: int = 9) -> MeetingResult:
    tally = {"members": members, "present": members, "votes_for": members, "votes_against": 0}
    return MeetingResult.model_validate({"actor": SECRETARY, "tally": tally, "minutes_ref": "BB-HĐ-12/2026"})


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
COUNCIL_MEMBERS = ["btp.hd.chu-tich", "btp.hd.uy-vien-1", "btp.hd.uy-vien-2"]
BLOC_REPRESENTATIVES = ["tandtc.khoi.truong", "btp.khoi.dai-dien", "ktnn.khoi.dai-dien"]


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


def session_start(kind: BallotSessionKind, scope: str, opener: str, tag: str) -> SessionStart:
    return SessionStart(
        kind=kind,
        scope=scope,
        meeting_ref=f"{kind.value[:2]}-{tag}",
        opened_by=opener,
        deadline=datetime.now(UTC) + timedelta(hours=1),
        policy_version=current_policy_version(date.today()),
        reminder_before_seconds=0,
    )


def leftovers(listed: SessionStatus, ids: dict[str, str]) -> frozenset[str]:
    """Nominations an earlier, interrupted demo run left waiting in .state: the demo votes them down."""
    return frozenset(c.workflow_id for c in listed.candidates if c.workflow_id not in ids.values())


def ballot(listed: SessionStatus, voter: str, against: frozenset[str] = frozenset()) -> dict[str, Choice]:
    """A whole-list ballot: FOR everything except `against`; nothing on a candidate the voter may not vote on."""
    own = {"btp.khoi.dai-dien": "BTP", "ktnn.khoi.dai-dien": "KTNN", "tandtc.khoi.truong": "TANDTC"}.get(voter)
    return {
        c.workflow_id: Choice.AGAINST if c.workflow_id in against else Choice.FOR
        for c in listed.candidates
        if c.nominee_actor_id != voter and (listed.kind != BallotSessionKind.BLOC or c.proposing_organisation != own)
    }


async def run_scenarios(client: Client, settings: Settings, engine: Any, run_tag: str) -> bool:
    queue = settings.task_queue
    # 1. The council secretary opens the meeting's ballot session; nominations join its list on their own.
    council = await open_session(client, queue, session_start(BallotSessionKind.COUNCIL, "BTP", SECRETARY, run_tag))
    console.print(f"council ballot session [bold]{council.id}[/] is collecting its list")

    # 2. The units submit six nominations (the Huân chương starts with its public notice).
    nominations: dict[str, Nomination] = {}
    ids: dict[str, str] = {}
    for key, sample in SAMPLE_FILES.items():
        raw = json.loads((SAMPLES / sample).read_text(encoding="utf-8"))
        raw["reference"] = f"{raw['reference']}-{run_tag}"  # a business key is used once; each demo run is new
        nominations[key] = Nomination.model_validate(raw)
        handle = await start_nomination(client, nominations[key], queue, public_notice_seconds=NOTICE_SECONDS)
        ids[key] = handle.id
        console.print(f"  nominated {handle.id}: {raw['award_form']}")

    # 3. One unit withdraws; one council member tries to type in a result and is refused.
    await wait_stage(client, ids["collective"], Stage.COUNCIL_REVIEW)
    await act(
        client,
        ids["collective"],
        "withdraw",
        ReasonedAction(actor=nominations["collective"].proposer, reason="Đơn vị xin rút để bổ sung năm sau"),
    )
    try:
        await act(
            client,
            ids["minister"],
            "record_council_result",
            council_pass().model_copy(update={"actor": "btp.hd.uy-vien-1"}),
        )
    except ActionRefused as refused:
        console.print(f"  [yellow]refused as expected[/]: {refused}")
    console.print(f"  public notice of the Huân chương: {NOTICE_SECONDS}s in the demo (10 working days by policy)")
    for key in ("minister", "flag", "order", "fighter", "pm"):
        await wait_stage(client, ids[key], Stage.COUNCIL_REVIEW)

    # 4. The list closes; every member casts one sealed ballot on the whole list.
    await wait_session(
        client, council.id, listed=frozenset(ids[k] for k in ("minister", "flag", "order", "fighter", "pm"))
    )
    listed = await close_list(client, council.id, SECRETARY)
    receipts = []
    for member in COUNCIL_MEMBERS:
        against = frozenset({ids["fighter"]} if member == "btp.hd.chu-tich" else ()) | leftovers(listed, ids)
        receipts.append(await cast(client, council.id, member, ballot(listed, member, against)))
    council_closed = await wait_session(client, council.id, phase=SessionPhase.CLOSED)
    console.print(f"council session closed: {len(council_closed.voted)}/{council_closed.electorate_size} voted")

    # 5. The bloc votes on the Government flag the same way.
    await wait_stage(client, ids["flag"], Stage.BLOC_VOTE)
    bloc = await open_session(client, queue, session_start(BallotSessionKind.BLOC, "NOI_CHINH", BLOC_HEAD, run_tag))
    await wait_session(client, bloc.id, listed=frozenset({ids["flag"]}))
    bloc_list = await close_list(client, bloc.id, BLOC_HEAD)
    for representative in BLOC_REPRESENTATIVES:
        choices = ballot(bloc_list, representative, leftovers(bloc_list, ids))
        if choices:
            await cast(client, bloc.id, representative, choices)
    await wait_session(client, bloc.id, phase=SessionPhase.CLOSED)
    console.print(f"bloc session {bloc.id} closed")

    # 6. The central board approves two for a decision, returns one, which is corrected and approved.
    for key in ("flag", "order"):
        await wait_stage(client, ids[key], Stage.CENTRAL_REVIEW)
        await act(client, ids[key], "approve", CentralApproval(actor=CENTRAL))
    await wait_stage(client, ids["pm"], Stage.CENTRAL_REVIEW)
    await act(
        client, ids["pm"], "return_dossier", ReasonedAction(actor=CENTRAL, reason="Bổ sung xác nhận của địa phương")
    )
    pm = nominations["pm"]
    corrected = pm.model_copy(update={"achievements": pm.achievements + " (đã bổ sung xác nhận)"})
    await act(client, ids["pm"], "resubmit", Resubmission(actor=pm.proposer, nomination=corrected))
    await act(client, ids["pm"], "approve", CentralApproval(actor=CENTRAL))

    # 7. Each signing authority's decision names its awardees at once; the fighter (rejected) is refused on it.
    decisions = [
        ("MINISTER", f"{run_tag}/QĐ-BTP", SECRETARY, [ids["minister"], ids["fighter"]]),
        ("PRIME_MINISTER", f"{run_tag}/QĐ-TTg", CENTRAL, [ids["flag"], ids["pm"]]),
        ("PRESIDENT", f"{run_tag}/QĐ-CTN", CENTRAL, [ids["order"]]),
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
    rows = await export_decision(engine, f"{run_tag}/QĐ-TTg", export)
    console.print(f"decision list exported: {export} ({rows} rows)")

    # 7. A voter checks their receipt; then the register.
    audit = await verify_audit(engine)
    console.print(
        f"audit chain: {'intact' if audit.intact else 'BROKEN'}, {audit.checked} entries (starter.py verify-audit)"
    )
    session_id, counted = await verify_receipt(client, receipts[0].receipt)
    console.print(f"receipt of {COUNCIL_MEMBERS[0]} in {session_id}: {'counted' if counted else 'NOT counted'}")
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


async def main(keep: bool) -> int:
    settings = Settings.from_env()
    host, _, port = settings.temporal_address.partition(":")
    server = None
    if not processes.port_open(host or "127.0.0.1", int(port or 7233)):
        console.print(f"starting the Temporal dev server on {settings.temporal_address} (state: .state/temporal.db)")
        server = processes.start_dev_server(port=int(port or 7233))
        await processes.wait_for_port(host or "127.0.0.1", int(port or 7233), 60, "temporal dev server")
    database_url = settings.database_url or default_database_url()
    await upgrade_to_head(database_url)
    engine = create_engine(database_url)
    roster = Roster.model_validate_json((ROOT / "config" / "roster.json").read_text(encoding="utf-8"))
    counts = await load_roster(engine, roster)
    console.print(f"roster loaded: {counts}")
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    await ensure_search_attributes(client)
    worker = processes.start_worker()
    console.print("worker started (log: .state/worker.log)")
    try:
        ok = await run_scenarios(client, settings, engine, run_tag=time.strftime("%H%M%S"))
    finally:
        await engine.dispose()
        if not keep:
            processes.stop(worker)
            if server is not None:
                processes.stop(server)
    ui = "http://localhost:8233/namespaces/default/workflows"
    console.print(f"\nTemporal UI: {ui}" + ("" if keep or server is None else " (run `make up` to keep it open)"))
    console.print("Try: temporal workflow list --query \"NominationStage='AWARDED'\"")
    console.print(f"Database: {engine.url.render_as_string(hide_password=True)}")
    console.print(
        "[green]all nominations ended as the rules say[/]" if ok else "[red]some nominations ended wrongly[/]"
    )
    if keep:
        console.print("engine kept running; stop it with Ctrl-C")
        try:
            await asyncio.Event().wait()
        finally:
            processes.stop(worker)
            if server is not None:
                processes.stop(server)
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="leave the dev server and worker running")
    code = asyncio.run(main(parser.parse_args().keep))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip interpreter teardown (sdk-python#300)
