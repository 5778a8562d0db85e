"""Driving nominations in integration tests, and reading back what PostgreSQL holds."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError

from client.ballots import hand_in, session_status
from client.nominations import start_nomination, status
from domain.ballot_messages import SessionPhase, SessionStatus
from domain.ballots import voting_members
from domain.messages import MeetingResult, NominationStatus
from domain.nomination import Nomination
from domain.roster import Roster
from domain.stages import Stage
from scripts.stand_in_committee import enroll_members, member_key
from security.committee import counting_key_path
from security.tokens import issue_token, keyring_from_env
from store.db import create_engine
from tests.factories import nomination_data

ROOT = Path(__file__).resolve().parents[2]
SECRETARY = "btp.hd.thu-ky"
BLOC_HEAD = "tandtc.khoi.truong"
CENTRAL = "tw.ban-tdkt.can-bo-1"
PROPOSER = "btp.vutckt.le-thi-hoa"

# The signing keys of the CLI subprocesses the tests run, and tokens signed with them.
AUTH_ENV = {"TDKT_AUTH_KEYS": "test-1:" + "k" * 40, "TDKT_AUTH_KEY_ID": "test-1"}
KEYRING = keyring_from_env(AUTH_ENV)


@pytest.fixture(name="engine")
async def second_engine(database_url: str, db_engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """`engine`, a fixture for a module that imports it: an engine of the test's own on the session's
    database (db_engine has loaded the roster)."""
    own = create_engine(database_url)
    try:
        yield own
    finally:
        await own.dispose()


def cli_environment(client: Client, task_queue: str, database_url: str, **extra: str) -> dict[str, str]:
    """A CLI subprocess's environment: this process's without its token, the test signing keys, the session's
    dev server, task queue and database, then `extra`."""
    env = {k: v for k, v in os.environ.items() if k != "TDKT_TOKEN"}
    return (
        env
        | AUTH_ENV
        | {
            "TEMPORAL_ADDRESS": client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": client.namespace,
            "TASK_QUEUE": task_queue,
            "DATABASE_URL": database_url,
        }
        | extra
    )


def token_for(actor: str) -> str:
    return issue_token(KEYRING, actor)


async def start(
    client: Client,
    task_queue: str,
    award_form: str = "BANG_KHEN_BO",
    *,
    notice_seconds: int | None = None,
    **overrides: Any,
) -> WorkflowHandle:
    nomination = Nomination.model_validate(nomination_data(award_form, **overrides))
    return await start_nomination(client, nomination, task_queue, public_notice_seconds=notice_seconds)


async def wait_for_stage(client: Client, workflow_id: str, stage: Stage, timeout: float = 30.0) -> NominationStatus:
    """Poll the status query until the stage is reached (the workflow moves asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            current = await status(client, workflow_id)
            if current.stage == stage:
                return current
        except Exception:  # the first workflow task may not have run yet
            current = None
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{workflow_id} did not reach {stage}; last status: {current}")
        await asyncio.sleep(0.1)


def seats(stage: Stage = Stage.COUNCIL_REVIEW, ministry: str = "BTP") -> int:
    """The voting members the shipped roster (config/roster.json, what the test database holds) seats on the
    body voting at `stage` for `ministry`: a typed-in meeting's member count must be exactly this."""
    return len(voting_members(SHIPPED_ROSTER.snapshot_for(ministry), stage))


SHIPPED_ROSTER = Roster.model_validate_json((ROOT / "config" / "roster.json").read_text(encoding="utf-8"))
COUNCIL_SEATS = seats()  # BTP's council
BLOC_SEATS = seats(Stage.BLOC_VOTE)  # the NOI_CHINH bloc


def passing_tally(members: int = COUNCIL_SEATS) -> dict[str, int]:
    """Everyone present and in favour; by default BTP's council as the roster seats it."""
    return {"members": members, "present": members, "votes_for": members, "votes_against": 0}


def meeting(actor: str, **tally: int) -> MeetingResult:
    return MeetingResult.model_validate({"actor": actor, "tally": tally or passing_tally(), "minutes_ref": "BB-01"})


async def nomination_row(engine: AsyncEngine, workflow_id: str) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (
            (await conn.execute(sa.text("SELECT * FROM nominations WHERE workflow_id = :w"), {"w": workflow_id}))
            .mappings()
            .first()
        )
    return dict(row) if row else None


async def stage_events(engine: AsyncEngine, workflow_id: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.text("SELECT * FROM stage_events WHERE workflow_id = :w ORDER BY seq"), {"w": workflow_id}
        )
        return [dict(r) for r in rows.mappings()]


async def assert_row_agrees(engine: AsyncEngine, client: Client, workflow_id: str) -> NominationStatus:
    """PostgreSQL's current row and event log say what the workflow's status query says.

    Updates return after their write; a timer's transition is written just after the state changes,
    so allow that write a moment before comparing."""
    for _ in range(50):
        current = await status(client, workflow_id)
        row = await nomination_row(engine, workflow_id)
        if row is not None and row["last_seq"] == len(current.transitions):
            break
        await asyncio.sleep(0.1)
    row = await nomination_row(engine, workflow_id)
    assert row is not None, f"no nominations row for {workflow_id}"
    assert row["stage"] == current.stage.value
    assert row["last_seq"] == len(current.transitions)
    events = await stage_events(engine, workflow_id)
    assert [e["seq"] for e in events] == [t.seq for t in current.transitions]
    assert [e["to_stage"] for e in events] == [t.to_stage.value for t in current.transitions]
    return current


# ---- the counting committee (Ban kiểm phiếu) ------------------------------------------------------------


def counting_key_of(actor: str) -> rsa.RSAPrivateKey:
    """The actor's counting key, in the run's TDKT_COUNTING_KEY_DIR (made on first use: the CLI subprocesses
    of the run read the same files, as `ballot enroll` leaves them)."""
    return member_key(counting_key_path(actor).parent, actor)


async def enroll_counting_keys(engine: AsyncEngine, actors: Iterable[str]) -> None:
    """Enroll each actor's counting key in this database, so that a session naming them on its counting
    committee can open (every member needs one)."""
    actors = list(actors)
    if actors:
        await enroll_members(engine, counting_key_path(actors[0]).parent, actors)


async def wait_session_phase(client: Client, session_id: str, done: Any, timeout: float = 30.0) -> SessionStatus:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        current = await session_status(client, session_id)
        if done(current):
            return current
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{session_id} is {current.phase} (round {current.round}, {current.shares_in} shares)")
        await asyncio.sleep(0.1)


async def count_now(
    client: Client, engine: AsyncEngine, session_id: str, *, members: Iterable[str] | None = None, timeout: float = 30.0
) -> SessionStatus:
    """Once the round's voting is over (AWAITING_COUNT), the counting committee hands in shares — `members`,
    or the first `threshold` of the committee — decrypted with their keys from the run's key directory; then
    wait for the count to move the session on (CLOSED, a runoff round, the bloc head's decision). Returns
    that status."""
    waiting = await wait_session_phase(client, session_id, lambda s: s.phase != SessionPhase.VOTING, timeout)
    if waiting.phase != SessionPhase.AWAITING_COUNT:
        return waiting
    assert waiting.keys is not None, waiting
    chosen = list(members) if members is not None else waiting.committee[: waiting.keys.threshold]
    for member in chosen:
        await hand_in(client, engine, session_id, member, counting_key_of(member))
    return await wait_session_phase(
        client, session_id, lambda s: s.phase != SessionPhase.AWAITING_COUNT or s.round != waiting.round, timeout
    )


async def clear_stage(client: Client, engine: AsyncEngine, ministry: str, stage: Stage, actor: str) -> int:
    """Withdraw what earlier tests left waiting at `stage` in `ministry` (a session takes up every nomination
    waiting there, and a test that counts its session's list or audit needs it to hold only its own)."""
    from client.nominations import ActionRefused, NominationNotFound, act
    from domain.messages import ReasonedAction

    async with engine.connect() as conn:
        waiting = (
            await conn.execute(
                sa.text("SELECT workflow_id FROM nominations WHERE stage = :s AND ministry = :m"),
                {"s": stage.value, "m": ministry},
            )
        ).scalars()
        found = list(waiting)
    withdrawn = 0
    for workflow_id in found:
        try:
            # A nomination some test started on a task queue of its own, whose worker has stopped, never answers
            # (an update waits for a worker as long as it takes): it is ended here and its row with it, so that
            # no session takes it up.
            async with asyncio.timeout(ORPHAN_AFTER_S):
                await act(client, workflow_id, "withdraw", ReasonedAction(actor=actor, reason="Dọn danh sách"))
            withdrawn += 1
        except (ActionRefused, NominationNotFound):
            pass  # ended meanwhile, or not this unit's to withdraw
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):  # the SDK reports the timeout's cancel so
            await end_orphan(client, engine, workflow_id)
            withdrawn += 1
    return withdrawn


ORPHAN_AFTER_S = 20.0


async def end_orphan(client: Client, engine: AsyncEngine, workflow_id: str) -> None:
    """Terminate a nomination no worker runs any more and mark its row WITHDRAWN (tests' clean-up only)."""
    from temporalio.service import RPCError

    with contextlib.suppress(RPCError):  # ended meanwhile
        await client.get_workflow_handle(workflow_id).terminate(reason="test clean-up: its worker has stopped")
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE nominations SET stage = :s WHERE workflow_id = :w"),
            {"s": Stage.WITHDRAWN.value, "w": workflow_id},
        )


async def signals_sent(client: Client, sender: str, to: str, timeout: float = 30) -> list[str]:
    """The names of the signals the workflow `sender` has sent the workflow `to`, in order, once it has sent one
    (or [] at the timeout)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        history = await client.get_workflow_handle(sender).fetch_history()
        names = [
            e.signal_external_workflow_execution_initiated_event_attributes.signal_name
            for e in history.events
            if e.HasField("signal_external_workflow_execution_initiated_event_attributes")
            and e.signal_external_workflow_execution_initiated_event_attributes.workflow_execution.workflow_id == to
        ]
        if names or asyncio.get_running_loop().time() > deadline:
            return names
        await asyncio.sleep(0.2)
