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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from temporalio.client import Client

from activities.db import create_engine, default_database_url
from activities.migrate import upgrade_to_head
from activities.roster_store import load_roster
from domain.messages import CentralApproval, MeetingResult, ReasonedAction, Resubmission
from domain.nomination import Nomination
from domain.roster import Roster
from domain.stages import Stage
from runtime import processes
from runtime.nominations import ActionRefused, act, start_nomination, status
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


def decision(no: str) -> CentralApproval:
    return CentralApproval(actor=CENTRAL, decision_no=no, decision_date=date(2026, 12, 20))


@dataclass
class Scenario:
    sample: str
    story: str
    expected: Stage
    drive: Callable[[Client, str, Nomination], Awaitable[None]]


async def wait_stage(client: Client, workflow_id: str, stage: Stage, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (await status(client, workflow_id)).stage != stage:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{workflow_id} did not reach {stage}")
        await asyncio.sleep(0.2)


async def minister_certificate(client: Client, wf: str, _: Nomination) -> None:
    await wait_stage(client, wf, Stage.COUNCIL_REVIEW)
    # A council member is not the secretary: the engine refuses, and history stays clean.
    try:
        await act(client, wf, "record_council_result", council_pass().model_copy(update={"actor": "btp.hd.uy-vien-1"}))
    except ActionRefused as refused:
        console.print(f"  [yellow]refused as expected[/]: {refused}")
    await act(client, wf, "record_council_result", council_pass())


async def government_flag(client: Client, wf: str, _: Nomination) -> None:
    await wait_stage(client, wf, Stage.COUNCIL_REVIEW)
    await act(client, wf, "record_council_result", council_pass())
    bloc = {"members": 6, "present": 6, "votes_for": 6, "votes_against": 0}
    await act(client, wf, "record_bloc_result", MeetingResult.model_validate({"actor": BLOC_HEAD, "tally": bloc}))
    await act(client, wf, "approve", decision("1520/QĐ-TTg"))


async def labour_order(client: Client, wf: str, _: Nomination) -> None:
    await wait_stage(client, wf, Stage.PUBLIC_NOTICE)
    console.print(f"  public notice running ({NOTICE_SECONDS}s in the demo; 10 working days by policy)")
    await wait_stage(client, wf, Stage.COUNCIL_REVIEW)
    await act(client, wf, "record_council_result", council_pass())
    await act(client, wf, "approve", decision("2210/QĐ-CTN"))


async def emulation_fighter_rejected(client: Client, wf: str, _: Nomination) -> None:
    await wait_stage(client, wf, Stage.COUNCIL_REVIEW)
    tally = {"members": 10, "present": 9, "votes_for": 8, "votes_against": 1}  # 8/10 < 90% of all members
    await act(client, wf, "record_council_result", MeetingResult.model_validate({"actor": SECRETARY, "tally": tally}))


async def pm_certificate_returned(client: Client, wf: str, nomination: Nomination) -> None:
    await wait_stage(client, wf, Stage.COUNCIL_REVIEW)
    await act(client, wf, "record_council_result", council_pass())
    await act(client, wf, "return_dossier", ReasonedAction(actor=CENTRAL, reason="Bổ sung xác nhận của địa phương"))
    corrected = nomination.model_copy(update={"achievements": nomination.achievements + " (đã bổ sung xác nhận)"})
    await act(client, wf, "resubmit", Resubmission(actor=nomination.proposer, nomination=corrected))
    await act(client, wf, "approve", decision("1601/QĐ-TTg"))


async def collective_withdrawn(client: Client, wf: str, nomination: Nomination) -> None:
    await wait_stage(client, wf, Stage.COUNCIL_REVIEW)
    await act(
        client, wf, "withdraw", ReasonedAction(actor=nomination.proposer, reason="Đơn vị xin rút để bổ sung năm sau")
    )


SCENARIOS = [
    Scenario("bang-khen-bo.json", "council passes", Stage.AWARDED, minister_certificate),
    Scenario("co-thi-dua-cp.json", "council → bloc → central", Stage.AWARDED, government_flag),
    Scenario("huan-chuong-ld3.json", "public notice → council → central", Stage.AWARDED, labour_order),
    Scenario("cstd-cap-bo.json", "8/10 votes < 90% rule", Stage.REJECTED, emulation_fighter_rejected),
    Scenario("bang-khen-ttg.json", "returned, resubmitted, approved", Stage.AWARDED, pm_certificate_returned),
    Scenario("tap-the-ldxs.json", "unit withdraws", Stage.WITHDRAWN, collective_withdrawn),
]


def short(stage: Stage) -> str:
    return stage.value.removesuffix("_REVIEW").removesuffix("_VOTE").removesuffix("_NOTICE")


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


async def run_scenarios(client: Client, settings: Settings, engine: Any, run_tag: str) -> bool:
    table = Table(title="Nominations carried through the engine")
    for column in ("workflow id", "award", "nominee", "path", "final stage", "database", "events", "notices"):
        table.add_column(column)
    all_right = True
    for scenario in SCENARIOS:
        raw = json.loads((SAMPLES / scenario.sample).read_text(encoding="utf-8"))
        raw["reference"] = f"{raw['reference']}-{run_tag}"  # a business key is used once; each demo run is new
        nomination = Nomination.model_validate(raw)
        handle = await start_nomination(client, nomination, settings.task_queue, public_notice_seconds=NOTICE_SECONDS)
        console.print(f"[bold]{handle.id}[/]: {scenario.story}")
        await scenario.drive(client, handle.id, nomination)
        final = await handle.result()
        await asyncio.sleep(0.3)  # the final write lands just after the update returns on a timer path
        db_stage, events, notes = await db_rows(engine, handle.id)
        right = final.stage == scenario.expected and db_stage == final.stage.value
        all_right &= right
        table.add_row(
            handle.id,
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
