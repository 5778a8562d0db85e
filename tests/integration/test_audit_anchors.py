"""The audit chain's head anchored outside the database, end to end: a worker on a database of its own with
its anchor workflow on the dev server (every second here, TDKT_AUDIT_ANCHOR_SECONDS=1), entries written as the
engine writes them, then tampered with in PostgreSQL as a DBA could — truncated, edited and recomputed without
the key, recomputed with it — and `starter.py verify-audit` run as an operator would."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from client.audit_anchors import anchor_interval, ensure_anchor_workflow, read_anchors
from client.ballots import cast, session_status
from client.decisions import issue_decision
from domain.audit_anchors import Anchor, AnchorReason, anchor_stamp
from domain.ballot_messages import SessionPhase
from domain.ballots import Choice
from domain.catalog import Authority
from domain.decisions import DecisionRef, DecisionRequest, decision_workflow_id
from domain.roster import Roster
from security.audit_keys import audit_keyring
from store.audit import BALLOT_MINUTES, DECISION_ISSUED, chain_hash, keyed_hash
from store.db import create_engine
from store.roster import load_roster
from store.schema import audit_log
from tests.conftest import new_database
from tests.integration.helpers import AUTH_ENV, CENTRAL, SECRETARY, count_now, token_for
from tests.integration.test_audit import chain, record_all, steps
from tests.integration.test_ballot_sessions import CHAIR, ballot_for, in_council, wait_candidates, wait_phase
from tests.integration.test_cli import cli, cli_env  # noqa: F401  (cli_env: the CLI's environment fixture)
from workflows.audit_anchor import AuditAnchorWorkflow, anchor_workflow_id

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SHORT = {"TDKT_AUDIT_ANCHOR_SECONDS": "1"}


@dataclass
class Deployment:
    client: Client
    engine: AsyncEngine
    url: str
    queue: str

    def env(self, **extra: str) -> dict[str, str]:
        """starter.py's environment for this deployment (database, Temporal, task queue)."""
        return (
            {k: v for k, v in os.environ.items() if k != "TDKT_TOKEN"}
            | AUTH_ENV
            | {
                "TEMPORAL_ADDRESS": self.client.service_client.config.target_host,
                "TEMPORAL_NAMESPACE": self.client.namespace,
                "TASK_QUEUE": self.queue,
                "DATABASE_URL": self.url,
            }
            | extra
        )

    async def starter(self, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        env = self.env(**({"TDKT_TOKEN": token} if token else {}))
        return await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(ROOT / "starter.py"), *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    async def anchors(self) -> list[Anchor]:
        return (await read_anchors(self.client, self.queue)).anchors

    async def anchored(self, predicate: Callable[[Anchor], bool], what: str) -> Anchor:
        """The first anchor that satisfies `predicate`, waiting for the anchor workflow to take it."""
        for _ in range(300):
            for anchor in await self.anchors():
                if predicate(anchor):
                    return anchor
            await asyncio.sleep(0.1)
        raise AssertionError(f"no anchor {what}; anchors: {await self.anchors()}")

    async def anchored_head(self) -> Anchor:
        """Wait until the chain's present head is anchored."""
        rows = await chain(self.engine)
        last = rows[-1]
        return await self.anchored(
            lambda a: (a.last_id, a.count, a.hash) == (last["id"], len(rows), last["hash"]), f"at entry {last['id']}"
        )


@pytest.fixture
async def deployment(client: Client) -> AsyncIterator[Deployment]:
    """A worker on a database and a task queue of its own, its anchor workflow started as run_worker does."""
    from worker import build_worker

    queue = f"anchor-{uuid.uuid4().hex[:8]}"
    async with new_database("tdkt_anchor") as url:
        engine = create_engine(url)
        roster = Roster.model_validate(json.loads((ROOT / "config" / "roster.json").read_text(encoding="utf-8")))
        await load_roster(engine, roster)
        try:
            async with build_worker(client, engine, queue):
                await ensure_anchor_workflow(client, queue, anchor_interval(SHORT))
                deployment = Deployment(client=client, engine=engine, url=url, queue=queue)
                # Its first anchor (START, the empty chain) is taken before the test writes anything.
                await deployment.anchored(lambda a: a.reason == AnchorReason.START, "at the start")
                try:
                    yield deployment
                finally:
                    await client.get_workflow_handle(anchor_workflow_id(queue)).terminate("test over")
        finally:
            await engine.dispose()


async def rewrite(engine: AsyncEngine, rows: list[dict[str, Any]], start: int, hashing: str) -> None:
    """Edit rows[start]'s outcome and recompute every hash from it on, as a DBA would: with plain sha256
    ("sha256", the key unknown; key ids left as they are) or with the key ("key", an insider who holds it)."""
    keyring = audit_keyring()
    forged = rows[start]["entry"] | {"outcome": "Không đủ điều kiện"}
    rows[start] = rows[start] | {"entry": forged, "outcome": forged["outcome"]}
    previous = rows[start - 1]["hash"] if start else "0" * 64
    async with engine.begin() as conn:
        for row in rows[start:]:
            if hashing == "sha256":
                digest = chain_hash(previous, row["entry"])
            else:
                digest = keyed_hash(keyring, row["key_id"], previous, row["entry"])
            await conn.execute(
                sa.update(audit_log)
                .where(audit_log.c.id == row["id"])
                .values(entry=row["entry"], outcome=row["outcome"], prev_hash=previous, hash=digest)
            )
            previous = digest


# ---- the anchors are taken ---------------------------------------------------------------------------------


async def test_the_head_is_anchored_within_the_interval_without_being_asked(deployment: Deployment) -> None:
    await record_all(deployment.engine, steps(3))  # transitions: nothing signals the anchor workflow
    anchor = await deployment.anchored_head()
    rows = await chain(deployment.engine)
    assert (anchor.count, anchor.last_id, anchor.keyed) == (3, rows[-1]["id"], True)
    assert anchor.reason == AnchorReason.TIMER and anchor.requested_by == ()
    # Its history is in Temporal: the same anchors are in the workflow's own record of its activity results.
    described = await deployment.client.get_workflow_handle(anchor_workflow_id(deployment.queue)).describe()
    assert described.workflow_type == "AuditAnchorWorkflow"


async def test_a_decision_asks_for_an_anchor_right_after_its_audit_entry(
    deployment: Deployment, tmp_path: Path
) -> None:
    await deployment.anchored(lambda a: a.count == 0, "of the empty chain")  # the first reading, at its start
    handle: WorkflowHandle[AuditAnchorWorkflow, None] = deployment.client.get_workflow_handle_for(
        AuditAnchorWorkflow.run, anchor_workflow_id(deployment.queue)
    )
    # A minute between timer readings from here on, so the anchor below is the decision's request.
    await handle.signal(AuditAnchorWorkflow.configure, 60)
    configured = await handle.query(AuditAnchorWorkflow.anchors)
    assert configured.interval_seconds == 60
    seen = configured.latest
    assert seen is not None
    await deployment.anchored(lambda a: a.confirmed_at > seen.confirmed_at, "read after the new interval")

    number = f"{uuid.uuid4().int % 10**6}/QĐ-TTg"
    request = DecisionRequest(
        decision=DecisionRef(
            decision_no=number, decision_date=date(2026, 12, 20), authority=Authority.PRIME_MINISTER, actor=CENTRAL
        ),
        workflow_ids=[f"nomination-khong-co-{uuid.uuid4().hex[:8]}"],  # refused: none such; the decision stands
    )
    summary = await issue_decision(deployment.client, deployment.queue, request)
    assert len(summary.refused) == 1
    [entry] = [r for r in await chain(deployment.engine) if r["action"] == DECISION_ISSUED]
    decision_id = decision_workflow_id(number)
    anchor = await deployment.anchored(
        lambda a: a.last_id == entry["id"] and decision_id in a.requested_by, "requested by the decision"
    )
    assert anchor.hash == entry["hash"]

    # The decision export prints that anchor under the list.
    out = tmp_path / "qd.csv"
    exported = await deployment.starter(
        "decision", "export", number, "--out", str(out), "--actor", CENTRAL, token=token_for(CENTRAL)
    )
    assert exported.returncode == 0, exported.stderr
    with out.open(encoding="utf-8-sig", newline="") as handle_csv:
        lines = list(csv.reader(handle_csv))
    latest = (await read_anchors(deployment.client, deployment.queue)).latest
    assert latest is not None and latest.last_id == entry["id"]  # nothing written since
    assert lines[-2:] == [[], [anchor_stamp(latest)]]
    assert f"mã băm {entry['hash'][:16]}…" in lines[-1][0]


async def test_a_ballot_session_asks_for_an_anchor_when_its_minutes_are_written(
    client: Client,
    task_queue: str,
    db_engine: AsyncEngine,
    cli_env: dict[str, str],  # noqa: F811
) -> None:
    """On the session worker (its anchor workflow reads every minute): the close's minutes are anchored at the
    session's request, and `ballot status` of the closed session prints the anchor."""
    await in_council(client, task_queue, "BANG_KHEN_BO")
    meeting = f"HD-{uuid.uuid4().hex[:8]}"
    opened = await cli(
        cli_env, "ballot", "open", "--kind", "council", "--scope", "BTP", "--meeting", meeting,
        "--actor", SECRETARY, "--deadline-hours", "1",
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    session_id = opened.stdout.strip().splitlines()[-1]
    await wait_candidates(client, session_id, 1)
    listed = await cli(cli_env, "ballot", "close-list", session_id, "--actor", SECRETARY)
    assert listed.returncode == 0, listed.stderr
    status = await session_status(client, session_id)
    for voter in ("btp.hd.uy-vien-1", "btp.hd.uy-vien-2"):
        await cast(client, session_id, voter, ballot_for(status, voter, Choice.AGAINST))
    closed = await cli(cli_env, "ballot", "close", session_id, "--actor", CHAIR)
    assert closed.returncode == 0, closed.stderr
    await count_now(client, db_engine, session_id)
    await wait_phase(client, session_id, SessionPhase.CLOSED)

    async with db_engine.connect() as conn:
        minutes_id = await conn.scalar(
            sa.select(audit_log.c.id).where(audit_log.c.workflow_id == session_id, audit_log.c.action == BALLOT_MINUTES)
        )
    assert minutes_id is not None
    anchor = None
    for _ in range(300):
        anchors = (await read_anchors(client, task_queue)).anchors
        anchor = next((a for a in anchors if session_id in a.requested_by), None)
        if anchor is not None:
            break
        await asyncio.sleep(0.1)
    assert anchor is not None, f"the session asked for no anchor: {anchors}"
    assert anchor.last_id >= minutes_id

    shown = await cli(cli_env, "ballot", "status", session_id, "--actor", SECRETARY)
    assert shown.returncode == 0, shown.stderr
    printed = json.loads(shown.stdout)["audit_anchor"]
    latest = (await read_anchors(client, task_queue)).latest
    assert latest is not None and latest.last_id >= minutes_id
    assert printed.startswith("Neo nhật ký kiểm toán: ") and "mã băm " in printed


# ---- verify-audit against the anchors ------------------------------------------------------------------------


async def test_verify_audit_reports_the_last_entries_cut_off_with_the_first_missing_id(deployment: Deployment) -> None:
    await record_all(deployment.engine, steps(5))
    await deployment.anchored_head()
    intact = await deployment.starter("verify-audit")
    assert intact.returncode == 0, intact.stderr
    out = intact.stdout.splitlines()
    assert out[0] == "audit chain intact: 5 entries"
    assert any(line.startswith("anchors: ") and " agree; latest 5 entries" in line for line in out), out

    rows = await chain(deployment.engine)
    async with deployment.engine.begin() as conn:  # the DBA deletes the last two entries
        await conn.execute(sa.delete(audit_log).where(audit_log.c.id >= rows[3]["id"]))
    # Alone, the shortened chain still checks: only the anchors know it had more.
    alone = await deployment.starter("verify-audit", "--no-anchors")
    assert alone.returncode == 0, alone.stderr
    cut = await deployment.starter("verify-audit")
    assert cut.returncode == 6, cut.stdout + cut.stderr
    err = cut.stderr.splitlines()
    assert err[0] == (
        f"audit chain broken at entry {rows[3]['id']} (missing): "
        "truncated — entries from this id on are missing; an anchor recorded more"
    )
    assert f"at least 2 entries from id {rows[3]['id']} on are missing" in err[1]
    # The anchor workflow has noticed too: its newest anchor is behind the older one.
    behind = await deployment.anchored(lambda a: a.count == 3, "of the shortened chain")
    assert behind.last_id == rows[2]["id"]
    again = await deployment.starter("verify-audit")
    assert again.returncode == 6 and "truncated" in again.stderr.splitlines()[0]


async def test_verify_audit_reports_an_edit_recomputed_without_the_key(deployment: Deployment) -> None:
    await record_all(deployment.engine, steps(4))
    await deployment.anchored_head()
    rows = await chain(deployment.engine)
    await rewrite(deployment.engine, rows, 1, "sha256")
    done = await deployment.starter("verify-audit")
    assert done.returncode == 6, done.stdout + done.stderr
    assert done.stderr.splitlines()[0] == (
        f"audit chain broken at entry {rows[1]['id']} ({rows[1]['workflow_id']}): "
        "recomputed without the key — its hash is plain sha256, not the HMAC under its key"
    )

    # Turning the entries into unkeyed legacy ones does not help: an anchor saw them keyed.
    async with deployment.engine.begin() as conn:
        await conn.execute(sa.update(audit_log).values(key_id=None))
    rows = await chain(deployment.engine)
    await rewrite(deployment.engine, rows, 0, "sha256")
    done = await deployment.starter("verify-audit")
    assert done.returncode == 6, done.stdout + done.stderr
    assert "recomputed" in done.stderr.splitlines()[0]


async def test_verify_audit_reports_a_rewrite_with_the_key_against_the_anchored_head(deployment: Deployment) -> None:
    await record_all(deployment.engine, steps(4))
    await deployment.anchored_head()
    rows = await chain(deployment.engine)
    anchored_ids = sorted({a.last_id for a in await deployment.anchors()})
    await rewrite(deployment.engine, rows, 1, "key")

    alone = await deployment.starter("verify-audit", "--no-anchors")
    assert alone.returncode == 0, alone.stderr  # every link and HMAC checks: only the anchors disagree
    done = await deployment.starter("verify-audit")
    assert done.returncode == 6, done.stdout + done.stderr
    first_disagreeing = min(i for i in anchored_ids if i >= rows[1]["id"])
    err = done.stderr.splitlines()
    assert err[0].startswith(f"audit chain broken at entry {first_disagreeing} (")
    assert err[0].endswith("recomputed — the chain no longer agrees with a head anchored outside the database")
    agreeing = [i for i in anchored_ids if 0 < i < rows[1]["id"]]
    if agreeing:
        assert f"entries after id {max(agreeing)} (the last anchored entry that agrees) were rewritten" in err[1]


# ---- start-up --------------------------------------------------------------------------------------------


async def test_a_terminated_anchor_workflow_is_started_again_carrying_its_anchors(deployment: Deployment) -> None:
    await record_all(deployment.engine, steps(2))
    before = await deployment.anchored_head()
    handle = deployment.client.get_workflow_handle(anchor_workflow_id(deployment.queue))
    ended_run = (await handle.describe()).run_id
    await handle.terminate("someone ended it")
    await ensure_anchor_workflow(deployment.client, deployment.queue, 1)  # as the next worker start does
    current = await handle.describe()  # the handle follows the latest run
    assert (current.run_id != ended_run, current.status) == (True, WorkflowExecutionStatus.RUNNING)
    # Read from the ended run and carried into the new one (the query reads the new run). Its first reading finds
    # the same head and confirms that anchor (a later `confirmed_at`): waited for, so the check does not depend on
    # whether the query comes before that reading or after it, and the anchor matched by what it anchored.
    confirmed = await deployment.anchored(lambda a: a.confirmed_at > before.confirmed_at, "confirmed by the new run")
    assert confirmed == before.model_copy(update={"confirmed_at": confirmed.confirmed_at})


async def test_the_worker_process_starts_the_anchor_workflow(client: Client, tmp_path: Path) -> None:
    """`python worker.py` starts its deployment's anchor workflow (idempotently) with the interval from
    TDKT_AUDIT_ANCHOR_SECONDS, and it anchors the worker's own database."""
    queue = f"anchor-proc-{uuid.uuid4().hex[:8]}"
    async with new_database("tdkt_anchor_proc") as url:
        env = (
            {k: v for k, v in os.environ.items() if k != "TDKT_TOKEN"}
            | SHORT
            | {
                "TEMPORAL_ADDRESS": client.service_client.config.target_host,
                "TEMPORAL_NAMESPACE": client.namespace,
                "TASK_QUEUE": queue,
                "DATABASE_URL": url,
                "LOG_FORMAT": "json",
            }
        )
        log = (tmp_path / "worker.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py")], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            log_text = ""
            for _ in range(600):
                log_text = (tmp_path / "worker.log").read_text(encoding="utf-8", errors="replace")
                if "audit_anchor_running" in log_text or process.poll() is not None:
                    break
                await asyncio.sleep(0.1)
            assert "audit_anchor_running" in log_text, log_text[-3000:]
            engine = create_engine(url)
            deployment = Deployment(client=client, engine=engine, url=url, queue=queue)
            await deployment.anchored(lambda a: a.count == 0, "of the empty chain")  # its first reading
            try:
                await record_all(engine, steps(1))
                [row] = await chain(engine)
            finally:
                await engine.dispose()
            anchor = await deployment.anchored(lambda a: a.last_id == row["id"], f"at entry {row['id']}")
            assert anchor.hash == row["hash"] and anchor.reason == AnchorReason.TIMER
            assert (await read_anchors(client, queue)).interval_seconds == 1
        finally:
            process.terminate()
            await asyncio.to_thread(process.wait, 30)
            log.close()
            await client.get_workflow_handle(anchor_workflow_id(queue)).terminate("test over")


def test_a_worker_without_the_audit_key_stops_naming_the_variable_and_the_file(tmp_path: Path) -> None:
    key_file = tmp_path / "audit-keys.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TDKT_AUDIT", "TDKT_GENERATE"))} | {
        "TDKT_AUDIT_KEY_FILE": str(key_file),
        "TEMPORAL_ADDRESS": "127.0.0.1:9",  # a worker that got past its keys would wait here, not exit
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'engine.db'}",
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "worker.py")], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "worker_misconfigured" in output and "TDKT_AUDIT_KEYS" in output and str(key_file) in output
    assert not key_file.exists()
