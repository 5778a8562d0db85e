"""The audit chain records every person's action on a ballot session — open, close the list, extend, close
early, a counting committee member's hand-in, cancel, the bloc head's tie decision — with who and through which
interface (CLI or API), and `starter.py verify-audit` finds the chain intact afterwards."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from client.ballots import cast, session_status
from domain.ballot_messages import SessionPhase
from domain.ballots import Choice
from domain.stages import Stage
from tests.integration.helpers import PROPOSER, SECRETARY, clear_stage, wait_for_stage
from tests.integration.test_api import app, call, hand_in_share, token  # noqa: F401  (app: the API fixture)
from tests.integration.test_ballot_sessions import (
    BLOC_HEAD,
    BLOC_REPS,
    CHAIR,
    CHOICE_SHOWN,
    ballot_for,
    in_bloc,
    in_council,
    tied_twice,
    wait_candidates,
    wait_phase,
)
from tests.integration.test_cli import cli, cli_env  # noqa: F401  (cli_env: the CLI's environment fixture)

pytestmark = pytest.mark.integration


async def session_audit(engine: AsyncEngine, session_id: str) -> list[dict[str, Any]]:
    """The session's audit entries that record a person's action, in step order, numbered 1, 2, ... among
    themselves. Left aside: the system taking a nomination off the list (here, a row another test's server left
    waiting, with no workflow behind it here: taken up, then taken off), which is no person's action."""
    async with engine.connect() as conn:
        rows = (
            (
                await conn.execute(
                    sa.text(
                        "SELECT seq, action, actor, channel, entry FROM audit_log "
                        "WHERE workflow_id = :s AND action <> 'BALLOT_MINUTES' ORDER BY seq"
                    ),
                    {"s": session_id},
                )
            )
            .mappings()
            .all()
        )
    people = [dict(r) for r in rows if r["channel"] != "SYSTEM"]
    seqs = [e["seq"] for e in people]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    return [{**e, "seq": n} for n, e in enumerate(people, start=1)]


def acted(entries: list[dict[str, Any]]) -> list[tuple[int, str, str, str]]:
    return [(e["seq"], e["action"], e["actor"], e["channel"]) for e in entries]


async def assert_chain_intact(env: dict[str, str]) -> None:
    done = await cli(env, "verify-audit")
    assert done.returncode == 0, done.stderr
    assert "audit chain intact" in done.stdout


def no_ballot_content(entries: list[dict[str, Any]]) -> None:
    text = json.dumps([e["entry"] for e in entries], ensure_ascii=False)
    assert not CHOICE_SHOWN.search(text), text


async def test_cli_actions_on_a_session_are_audited(
    client: Client,
    task_queue: str,
    db_engine: AsyncEngine,
    cli_env: dict[str, str],  # noqa: F811
):
    await clear_stage(client, db_engine, "BTP", Stage.COUNCIL_REVIEW, PROPOSER)
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
    later = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    extended = await cli(cli_env, "ballot", "extend", session_id, "--actor", CHAIR, "--deadline", later)
    assert extended.returncode == 0, extended.stderr
    status = await session_status(client, session_id)
    for voter in ("btp.hd.uy-vien-1", "btp.hd.uy-vien-2"):
        await cast(client, session_id, voter, ballot_for(status, voter, Choice.AGAINST))
    closed = await cli(cli_env, "ballot", "close", session_id, "--actor", CHAIR)
    assert closed.returncode == 0, closed.stderr
    await wait_phase(client, session_id, SessionPhase.AWAITING_COUNT)
    for member in ("btp.hd.uy-vien-1", CHAIR):  # two of the counting committee's three
        handed = await cli(cli_env, "ballot", "hand-in", "--session", session_id, "--actor", member)
        assert handed.returncode == 0, handed.stderr
    await wait_phase(client, session_id, SessionPhase.CLOSED)

    entries = await session_audit(db_engine, session_id)
    assert acted(entries) == [
        (1, "BALLOT_SESSION_OPENED", SECRETARY, "CLI"),
        (2, "BALLOT_LIST_CLOSED", SECRETARY, "CLI"),
        (3, "BALLOT_DEADLINE_EXTENDED", CHAIR, "CLI"),
        (4, "BALLOT_VOTING_CLOSED", CHAIR, "CLI"),
        (5, "BALLOT_SHARE_HANDED_IN", "btp.hd.uy-vien-1", "CLI"),
        (6, "BALLOT_SHARE_HANDED_IN", CHAIR, "CLI"),
    ]
    assert entries[0]["entry"]["details"]["meeting_ref"] == meeting
    assert datetime.fromisoformat(entries[2]["entry"]["details"]["new_deadline"]) == datetime.fromisoformat(later)
    assert entries[3]["entry"]["details"]["voted"] == 2
    # Which share a member handed in is recorded; the share itself never is.
    assert [e["entry"]["details"]["index"] for e in entries[4:]] == [2, 1]
    assert "share" not in {k for e in entries[4:] for k in e["entry"]["details"]}
    no_ballot_content(entries)
    # The extension was registered with its entry (the session's row carries the new deadline).
    async with db_engine.connect() as conn:
        phase = await conn.scalar(sa.text("SELECT phase FROM ballot_sessions WHERE session_id = :s"), {"s": session_id})
    assert phase == "CLOSED"

    # A session cancelled while its list is open.
    meeting = f"HD-{uuid.uuid4().hex[:8]}"
    opened = await cli(
        cli_env, "ballot", "open", "--kind", "council", "--scope", "BTP", "--meeting", meeting,
        "--actor", CHAIR, "--deadline-hours", "1",
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    cancelled_id = opened.stdout.strip().splitlines()[-1]
    cancelled = await cli(cli_env, "ballot", "cancel", cancelled_id, "--actor", CHAIR, "--reason", "Hoãn họp")
    assert cancelled.returncode == 0, cancelled.stderr
    await wait_phase(client, cancelled_id, SessionPhase.CANCELLED)
    for _ in range(50):  # the cancellation's entry is written as the session ends
        entries = await session_audit(db_engine, cancelled_id)
        if len(entries) == 2:
            break
        await asyncio.sleep(0.1)
    assert acted(entries) == [
        (1, "BALLOT_SESSION_OPENED", CHAIR, "CLI"),
        (2, "BALLOT_SESSION_CANCELLED", CHAIR, "CLI"),
    ]
    assert entries[1]["entry"]["details"]["reason"] == "Hoãn họp"

    # The bloc head decides a tie through the CLI.
    tied_id, btp, ktnn = await tied_twice(client, task_queue, db_engine)
    await wait_phase(client, tied_id, SessionPhase.AWAITING_HEAD)
    refused = await cli(
        cli_env, "ballot", "decide-tie", tied_id, "--actor", BLOC_HEAD, "--choose", btp, "--choose", ktnn
    )
    assert refused.returncode == 4 and "choose: the bloc head must choose exactly 1" in refused.stderr, refused.stderr
    decided = await cli(cli_env, "ballot", "decide-tie", tied_id, "--actor", BLOC_HEAD, "--choose", btp)
    assert decided.returncode == 0, decided.stderr
    assert json.loads(decided.stdout)["phase"] == "CLOSED"
    assert (await wait_for_stage(client, btp, Stage.CENTRAL_REVIEW)).stage == Stage.CENTRAL_REVIEW
    assert (await wait_for_stage(client, ktnn, Stage.REJECTED)).stage == Stage.REJECTED
    entries = await session_audit(db_engine, tied_id)
    committee = (await session_status(client, tied_id)).committee
    assert acted(entries) == [
        (1, "BALLOT_SESSION_OPENED", BLOC_HEAD, "CLI"),
        (2, "BALLOT_LIST_CLOSED", BLOC_HEAD, "CLI"),
        (3, "BALLOT_SHARE_HANDED_IN", committee[0], "CLI"),  # round 1's count; the runoff reuses the shares
        (4, "BALLOT_SHARE_HANDED_IN", committee[1], "CLI"),
        (5, "BALLOT_TIE_DECIDED", BLOC_HEAD, "CLI"),
    ]
    no_ballot_content(entries)
    await assert_chain_intact(cli_env)


async def test_api_actions_on_a_session_are_audited(
    client: Client,
    task_queue: str,
    db_engine: AsyncEngine,
    app: Any,  # noqa: F811
    cli_env: dict[str, str],  # noqa: F811
):
    btp = await in_bloc(client, task_queue, "BTP")
    ktnn = await in_bloc(client, task_queue, "KTNN")
    body = {"kind": "bloc", "scope": "NOI_CHINH", "meeting_ref": f"HD-{uuid.uuid4().hex[:8]}", "deadline_hours": 1}
    reply = await call(app, "POST", "/ballot-sessions", body, token(BLOC_HEAD))
    assert reply.status == 201, reply
    session_id = reply.json()["session_id"]
    await wait_candidates(client, session_id, 2)
    reply = await call(app, "POST", f"/ballot-sessions/{session_id}/close-list", None, token(BLOC_HEAD))
    assert reply.status == 200, reply
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    reply = await call(app, "POST", f"/ballot-sessions/{session_id}/extend", {"new_deadline": later}, token(BLOC_HEAD))
    assert reply.status == 200, reply
    for round_ in (1, 2):  # 2–2 in both rounds: each organisation votes for the other's candidate only
        await wait_phase(client, session_id, SessionPhase.VOTING)
        for _ in range(100):
            if (await session_status(client, session_id)).round == round_:
                break
            await asyncio.sleep(0.1)
        await cast(client, session_id, BLOC_REPS["TANDTC"], {btp: Choice.FOR, ktnn: Choice.FOR})
        await cast(client, session_id, BLOC_REPS["BTP"], {ktnn: Choice.FOR})
        await cast(client, session_id, BLOC_REPS["KTNN"], {btp: Choice.FOR})
        if round_ == 1:  # the counting committee hands in its shares through the API (the runoff reuses them)
            waiting = await wait_phase(client, session_id, SessionPhase.AWAITING_COUNT)
            committee = waiting.committee
            for member in committee[:2]:
                reply = await hand_in_share(app, session_id, member)
                assert reply.status == 200, reply
    await wait_phase(client, session_id, SessionPhase.AWAITING_HEAD)

    url = f"/ballot-sessions/{session_id}/decide-tie"
    reply = await call(app, "POST", url, {"choose": [ktnn]}, token(BLOC_REPS["BTP"]))
    assert reply.status == 409 and "may not decide the tie" in reply.json()["detail"], reply
    reply = await call(app, "POST", url, {"choose": ["nomination-x"]}, token(BLOC_HEAD))
    assert reply.status == 409 and "choose: not among the tied" in reply.json()["detail"], reply
    reply = await call(app, "POST", url, {"choose": [ktnn]}, token(BLOC_HEAD))
    assert reply.status == 200 and reply.json()["phase"] == "CLOSED", reply
    assert (await wait_for_stage(client, ktnn, Stage.CENTRAL_REVIEW)).stage == Stage.CENTRAL_REVIEW

    entries = await session_audit(db_engine, session_id)
    assert acted(entries) == [
        (1, "BALLOT_SESSION_OPENED", BLOC_HEAD, "API"),
        (2, "BALLOT_LIST_CLOSED", BLOC_HEAD, "API"),
        (3, "BALLOT_DEADLINE_EXTENDED", BLOC_HEAD, "API"),
        (4, "BALLOT_SHARE_HANDED_IN", committee[0], "API"),
        (5, "BALLOT_SHARE_HANDED_IN", committee[1], "API"),
        (6, "BALLOT_TIE_DECIDED", BLOC_HEAD, "API"),
    ]
    assert entries[5]["entry"]["details"]["head_decision"] == [ktnn]
    no_ballot_content(entries)
    await assert_chain_intact(cli_env)
