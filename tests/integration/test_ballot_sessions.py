"""Secret-ballot sessions end to end: council and bloc, refusals, quorum at the deadline, secrecy."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHandle

from client.ballots import (
    cast,
    cast_anonymous,
    chair_action,
    check_receipt,
    close_list,
    decide_tie,
    hand_in,
    open_session,
    request_credential,
    session_status,
    verify_receipt,
    voter_class,
)
from client.nominations import ActionRefused, NominationNotFound, act, status
from domain.ballot_messages import (
    AnonymousBallot,
    BallotReceipt,
    ChairAction,
    SessionPhase,
    SessionStart,
    SessionStatus,
    TieDecision,
    session_workflow_id,
)
from domain.ballots import BallotSessionKind, Choice, ReceiptState
from domain.errors import InvalidInput
from domain.messages import ReasonedAction
from domain.stages import Stage
from scripts.stand_in_committee import default_committees
from security.credentials import VoterCredential, finish, prepare_request
from security.sealing import TOKEN_BYTES, b64, generate_private_key, public_key_info, seal_ballot
from store.ballots import read_paper
from tests.integration.helpers import (
    SECRETARY,
    count_now,
    counting_key_of,
    enroll_counting_keys,
    meeting,
    signals_sent,
    start,
    wait_for_stage,
)

pytestmark = pytest.mark.integration

CHAIR = "btp.hd.chu-tich"
MEMBERS = ["btp.hd.chu-tich", "btp.hd.uy-vien-1", "btp.hd.uy-vien-2"]
BLOC_HEAD = "tandtc.khoi.truong"
BLOC_REPS = {"TANDTC": "tandtc.khoi.truong", "BTP": "btp.khoi.dai-dien", "KTNN": "ktnn.khoi.dai-dien"}
# A choice in any spelling a leak could take: the enum's words (nothing else in the engine writes them as
# words: tallies are counts, results PASSED/FAILED/NO_QUORUM) and the inbox's Vietnamese labels.
CHOICE_SHOWN = re.compile(r"\b(FOR|AGAINST|ABSTAIN)\b|Đồng ý|Không đồng ý|Không biểu quyết")


def session_start(kind: BallotSessionKind, scope: str, opener: str, **overrides: Any) -> SessionStart:
    fields: dict[str, Any] = {
        "kind": kind,
        "scope": scope,
        "meeting_ref": f"HD-{uuid.uuid4().hex[:8]}",
        "opened_by": opener,
        "deadline": datetime.now(UTC) + timedelta(minutes=10),
        "policy_version": "2025.07",
        "reminder_before_seconds": 0,
    }
    return SessionStart.model_validate(fields | overrides)


async def wait_phase(client: Client, session_id: str, phase: SessionPhase, timeout: float = 30) -> SessionStatus:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        current = await session_status(client, session_id)
        if current.phase == phase:
            return current
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{session_id} is {current.phase}, not {phase}")
        await asyncio.sleep(0.1)


async def wait_candidates(client: Client, session_id: str, count: int) -> SessionStatus:
    for _ in range(100):
        current = await session_status(client, session_id)
        if len(current.candidates) >= count:
            return current
        await asyncio.sleep(0.1)
    raise AssertionError(f"{session_id} has {len(current.candidates)} candidates, expected {count}")


def ballot_for(status: SessionStatus, voter: str, choice: Choice = Choice.FOR) -> dict[str, Choice]:
    """A full ballot on the session's list, leaving out the candidates the voter is the nominee of (other
    tests may leave such nominations waiting for the next session)."""
    return {c.workflow_id: choice for c in status.candidates if c.nominee_actor_id != voter}


async def take_credential(client: Client, session_id: str, voter: str) -> tuple[SessionStatus, VoterCredential]:
    """What a voter's client does before sealing: its class, then a blind-signed one-time credential."""
    current = await session_status(client, session_id)
    assert current.keys is not None
    held = await voter_class(client, session_id, voter)
    request, pending = prepare_request(current.keys, session_id, current.round, voter, held.class_id)
    return current, finish(pending, await request_credential(client, session_id, request))


def anonymous_ballot(
    current: SessionStatus,
    credential: VoterCredential,
    choices: dict[str, Choice],
    *,
    sealed_under: bytes | None = None,
    sealing_key: Any = None,
) -> AnonymousBallot:
    """The ballot a voter's client casts with its credential: every live candidate sealed (RECUSE where the
    class recuses). `sealed_under` seals the choices under another token than the one cast (the sealed content
    then opens for nobody); `sealing_key` seals them to another key than the session's."""
    assert current.keys is not None
    marks: dict[str, Choice | None] = {
        c.workflow_id: None if c.workflow_id in credential.excluded else choices[c.workflow_id]
        for c in current.candidates
    }
    sealed = seal_ballot(
        sealing_key or current.keys.sealing,
        current.session_id,
        current.round,
        sealed_under or credential.token,
        marks,
        credential.class_id,
        credential.class_signature,
    )
    token, signature = b64(credential.token), b64(credential.token_signature)
    return AnonymousBallot(round=current.round, token=token, token_signature=signature, ballot=sealed)


async def in_council(client: Client, task_queue: str, form: str = "BANG_KHEN_BO", **overrides: Any) -> str:
    handle = await start(client, task_queue, form, **overrides)
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    return handle.id


async def opened_council_session(client: Client, task_queue: str, **overrides: Any) -> WorkflowHandle:
    return await open_session(
        client, task_queue, session_start(BallotSessionKind.COUNCIL, "BTP", SECRETARY, **overrides)
    )


def _payloads(message: Message, found: list[Payload]) -> None:
    """Every Payload anywhere in a history event: inputs, results, signals, updates, memos, failures."""
    if isinstance(message, Payload):
        found.append(message)
        return
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if isinstance(value, Message):
            _payloads(value, found)
        else:  # a repeated field or a map of messages
            for item in value.values() if hasattr(value, "values") else value:
                if isinstance(item, Message):
                    _payloads(item, found)


async def readable_history(client: Client, workflow_id: str) -> list[str]:
    """A history as an operator with the codec server reads it: the raw events plus every payload decrypted
    through the client's codec (the engine's keyring)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    found: list[Payload] = []
    for event in history.events:
        _payloads(event, found)
    codec = client.data_converter.payload_codec
    assert codec is not None and found
    decoded = await codec.decode(found)
    return [history.to_json(), *(p.data.decode("utf-8", errors="replace") for p in decoded)]


async def database_rows(engine: AsyncEngine) -> list[str]:
    """Every row of every table, serialised as JSON (JSON columns as JSON, not as Python reprs)."""
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        rows: list[str] = []
        for table in tables:
            result = await conn.execute(sa.text(f'SELECT * FROM "{table}"'))
            rows.extend(
                f"{table}: " + json.dumps(dict(row._mapping), ensure_ascii=False, default=str) for row in result
            )
    return rows


def shown_choices(texts: list[str], ballots: dict[str, dict[str, Choice]]) -> list[str]:
    """Where a choice can be read: any choice word or label, and any candidate of a cast ballot followed
    closely by the voter's choice on it (a ballot serialised in whatever form)."""
    found = [text[max(0, m.start() - 60) : m.end() + 20] for text in texts for m in CHOICE_SHOWN.finditer(text)]
    for choices in ballots.values():
        for wf, choice in choices.items():
            pair = re.compile(re.escape(wf) + r".{0,40}?\b" + choice.value + r"\b", re.DOTALL)
            found.extend(m.group(0) for text in texts for m in pair.finditer(text))
    return found


async def assert_choices_secret(
    client: Client, engine: AsyncEngine, workflow_ids: list[str], ballots: dict[str, dict[str, Choice]]
) -> None:
    assert {c for choices in ballots.values() for c in choices.values()} == set(Choice), "use every choice"
    rows = await database_rows(engine)
    assert any(r.startswith("ballot_minutes:") for r in rows)  # the check reads what the session wrote
    leaked = shown_choices(rows, ballots)
    assert not leaked, f"a choice is readable in the database: {leaked[:3]}"
    for workflow_id in workflow_ids:
        texts = await readable_history(client, workflow_id)
        if workflow_id.startswith("ballot-"):  # really decrypted: the sealed ballots are readable as JSON
            assert any('"sealed_choices"' in t for t in texts), workflow_id
        leaked = shown_choices(texts, ballots)
        assert not leaked, f"a choice is readable in {workflow_id}'s history: {leaked[:3]}"


async def test_a_council_session_moves_each_nomination(client: Client, task_queue: str, db_engine: AsyncEngine):
    early = await in_council(client, task_queue, "BANG_KHEN_BO")
    handle = await opened_council_session(client, task_queue)
    session_id = handle.id
    # Nominations that reach the council after the session opened join its list on their own.
    late_ok = await in_council(client, task_queue, "BANG_KHEN_TTG")
    late_no = await in_council(client, task_queue, "TAP_THE_LDXS")
    for _ in range(100):  # other tests' nominations may be waiting in the council too
        listed = await session_status(client, session_id)
        if {c.workflow_id for c in listed.candidates} >= {early, late_ok, late_no}:
            break
        await asyncio.sleep(0.1)
    assert {c.workflow_id for c in listed.candidates} >= {early, late_ok, late_no}

    opened = await close_list(client, session_id, SECRETARY)
    assert opened.phase == SessionPhase.VOTING
    for _ in range(50):  # the session tells its nominations when the council's vote is due
        if (await status(client, early)).due_at == opened.deadline:
            break
        await asyncio.sleep(0.1)
    assert (await status(client, early)).due_at == opened.deadline
    ids = [c.workflow_id for c in opened.candidates]
    votes = {
        "btp.hd.chu-tich": {wf: (Choice.AGAINST if wf == late_no else Choice.FOR) for wf in ids},
        "btp.hd.uy-vien-1": {wf: (Choice.AGAINST if wf == late_no else Choice.FOR) for wf in ids},
    }
    receipts = [await cast(client, session_id, voter, choices) for voter, choices in votes.items()]
    turnout_only = await session_status(client, session_id)
    assert turnout_only.voted == sorted(votes) and turnout_only.results is None

    last = {wf: (Choice.ABSTAIN if wf == early else Choice.FOR) for wf in ids}
    receipts.append(await cast(client, session_id, "btp.hd.uy-vien-2", last))
    # Everyone voted: the round is over, and the count waits for the counting committee's shares.
    awaiting = await wait_phase(client, session_id, SessionPhase.AWAITING_COUNT)
    assert awaiting.results is None and awaiting.ballots_cast == 3 and awaiting.shares_in == 0
    await count_now(client, db_engine, session_id)
    closed = await wait_phase(client, session_id, SessionPhase.CLOSED)
    assert closed.results is not None
    by_id = {entry.candidate.workflow_id: entry for entry in closed.results}
    assert by_id[early].tally.votes_for == 2 and by_id[early].tally.abstaining == 1
    assert by_id[late_no].result.value == "FAILED"

    assert (await wait_for_stage(client, early, Stage.AWAITING_DECISION)).transitions[-1].action == "BALLOT_RESULT"
    assert (await wait_for_stage(client, late_ok, Stage.CENTRAL_REVIEW)).stage == Stage.CENTRAL_REVIEW
    assert (await wait_for_stage(client, late_no, Stage.REJECTED)).stage == Stage.REJECTED

    for receipt in receipts:
        assert await verify_receipt(client, receipt.receipt) == (session_id, True)
    forged = receipts[0].receipt[:-4] + "0000"
    assert await verify_receipt(client, forged) == (session_id, False)

    async with db_engine.connect() as conn:
        minutes = (
            await conn.execute(
                sa.text("SELECT workflow_id, votes_for, present, result FROM ballot_minutes WHERE session_id = :s"),
                {"s": session_id},
            )
        ).all()
        voted = (
            (
                await conn.execute(
                    sa.text("SELECT voter_id FROM ballot_participation WHERE session_id = :s ORDER BY voter_id"),
                    {"s": session_id},
                )
            )
            .scalars()
            .all()
        )
    assert {m.workflow_id for m in minutes} >= {early, late_ok, late_no}
    assert list(voted) == sorted(MEMBERS)

    # Secrecy: no choice readable anywhere in PostgreSQL, nor in the histories an operator decrypts.
    ballots = votes | {"btp.hd.uy-vien-2": last}
    await assert_choices_secret(client, db_engine, [session_id, early, late_ok, late_no], ballots)


async def test_every_ballot_refusal(client: Client, task_queue: str, db_engine: AsyncEngine):
    # uy-vien-2 is the nominee here: they must leave this nomination off their ballot.
    nominee = {
        "kind": "INDIVIDUAL",
        "full_name": "Vũ Thị Lan",
        "position": "Ủy viên Hội đồng",
        "unit": "Văn phòng Bộ",
        "actor_id": "btp.hd.uy-vien-2",
    }
    conflicted = await in_council(client, task_queue, "BANG_KHEN_BO", nominee=nominee)
    other = await in_council(client, task_queue, "BANG_KHEN_BO")
    handle = await opened_council_session(client, task_queue)
    session_id = handle.id
    await wait_candidates(client, session_id, 1)

    with pytest.raises(ActionRefused, match="COLLECTING: voting is not open"):
        await cast(client, session_id, "btp.hd.uy-vien-1", {conflicted: Choice.FOR})
    with pytest.raises(ActionRefused, match="may not close the list"):
        await close_list(client, session_id, "btp.hd.uy-vien-1")
    opened = await close_list(client, session_id, SECRETARY)
    ids = [c.workflow_id for c in opened.candidates]
    everything = dict.fromkeys(ids, Choice.FOR)

    with pytest.raises(ActionRefused, match="not in its electorate"):
        await cast(client, session_id, "ktnn.hd.thu-ky", everything)
    with pytest.raises(ActionRefused, match="secretary"):
        await cast(client, session_id, SECRETARY, everything)
    # The voter's client checks the ballot before it takes the credential: a refused ballot costs nothing.
    with pytest.raises(InvalidInput, match="no choice for"):
        await cast(client, session_id, "btp.hd.uy-vien-1", {wf: Choice.FOR for wf in ids if wf != other})
    with pytest.raises(InvalidInput, match="not on this session's list"):
        await cast(client, session_id, "btp.hd.uy-vien-1", everything | {"nomination-2026-BTP-bia": Choice.FOR})
    # The nominee's conflict class recuses on their own nomination: a choice there is refused.
    with pytest.raises(
        InvalidInput, match=rf"'btp.hd.uy-vien-2' has a conflict of interest on {re.escape(repr(conflicted))}"
    ):
        await cast(client, session_id, "btp.hd.uy-vien-2", everything)
    assert (await session_status(client, session_id)).voted == []
    # A ballot sealed to some other key than the session's sealing key is refused; the credential is not spent.
    current, credential = await take_credential(client, session_id, "btp.hd.uy-vien-1")
    stranger = public_key_info(generate_private_key())
    with pytest.raises(ActionRefused, match=r"ballot\.key_id: sealed to key"):
        await cast_anonymous(
            client, session_id, anonymous_ballot(current, credential, everything, sealing_key=stranger)
        )
    with pytest.raises(ActionRefused, match="no quorum yet"):
        await chair_action(client, session_id, "close_voting", _chair(CHAIR))
    # Only the chair extends or cancels: not a member, not the secretary who opened the session.
    later = datetime.now(UTC) + timedelta(minutes=20)
    for actor in ("btp.hd.uy-vien-1", SECRETARY):
        with pytest.raises(ActionRefused, match=rf"actor {actor!r} may not extend the deadline.*allowed: {CHAIR}"):
            await chair_action(client, session_id, "extend", _chair(actor, new_deadline=later))
        with pytest.raises(ActionRefused, match=rf"actor {actor!r} may not cancel the session.*allowed: {CHAIR}"):
            await chair_action(client, session_id, "cancel", _chair(actor, reason="Hoãn họp"))
    assert (await session_status(client, session_id)).deadline == opened.deadline

    cast_once = anonymous_ballot(current, credential, everything)
    await cast_anonymous(client, session_id, cast_once)
    with pytest.raises(ActionRefused, match="this credential has already cast its ballot"):
        await cast_anonymous(client, session_id, cast_once)
    with pytest.raises(ActionRefused, match="already taken this round's ballot credential"):
        await cast(client, session_id, "btp.hd.uy-vien-1", everything)
    await cast(client, session_id, "btp.hd.uy-vien-2", {wf: c for wf, c in everything.items() if wf != conflicted})
    with pytest.raises(ActionRefused, match="may not close the voting"):
        await chair_action(client, session_id, "close_voting", _chair("btp.hd.uy-vien-1"))
    # 2 of 3 have voted: a quorum; the chair closes without waiting for the deadline.
    await chair_action(client, session_id, "close_voting", _chair(CHAIR))
    await count_now(client, db_engine, session_id)
    closed = await wait_phase(client, session_id, SessionPhase.CLOSED)
    assert closed.results is not None
    conflicted_entry = next(e for e in closed.results if e.candidate.workflow_id == conflicted)
    assert conflicted_entry.tally.members == 2  # the nominee is not counted among the voters on themselves
    # The chair had not voted; once the session is closed their ballot is refused and nothing changes.
    with pytest.raises(ActionRefused, match=r"CLOSED: voting is not open|has (already )?ended"):
        await cast(client, session_id, CHAIR, ballot_for(opened, CHAIR))
    with pytest.raises(ActionRefused, match=r"can be extended|has (already )?ended"):
        await chair_action(client, session_id, "extend", _chair(CHAIR, new_deadline=later))
    after = await session_status(client, session_id)
    assert after.voted == closed.voted and after.results == closed.results


async def registered_phase(engine: AsyncEngine, session_id: str) -> str | None:
    async with engine.connect() as conn:
        found = await conn.scalar(
            sa.text("SELECT phase FROM ballot_sessions WHERE session_id = :sid"), {"sid": session_id}
        )
    return None if found is None else str(found)


async def registered_sessions(engine: AsyncEngine, session_id: str) -> int:
    async with engine.connect() as conn:
        found = await conn.scalar(
            sa.text("SELECT count(*) FROM ballot_sessions WHERE session_id = :s"), {"s": session_id}
        )
    return int(found or 0)


async def test_only_the_secretary_chair_or_bloc_head_may_open_a_session(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    council, bloc = BallotSessionKind.COUNCIL, BallotSessionKind.BLOC
    refused = [
        (council, "BTP", "btp.hd.uy-vien-1", "COUNCIL_SECRETARY for BTP .* or COUNCIL_CHAIR for BTP"),
        (council, "BTP", "ktnn.hd.thu-ky", "COUNCIL_SECRETARY for BTP"),  # another ministry's secretary
        (council, "BTP", "nobody.at-all", "COUNCIL_SECRETARY for BTP"),
        (bloc, "NOI_CHINH", "btp.khoi.dai-dien", "BLOC_HEAD for NOI_CHINH"),
    ]
    for kind, scope, actor, role in refused:
        start_ = session_start(kind, scope, actor)
        session_id = session_workflow_id(kind, scope, start_.meeting_ref)
        # The open path checks the roster first: nothing starts, nothing is registered.
        with pytest.raises(ActionRefused, match=rf"actor {actor!r} may not open a {kind.value} .*needs role {role}"):
            await open_session(client, task_queue, start_, engine=db_engine)
        with pytest.raises(NominationNotFound):
            await session_status(client, session_id)
        # Started anyway (another client, no pre-check): the workflow refuses against its own snapshot and
        # ends CANCELLED with the reason, having registered nothing.
        handle = await open_session(client, task_queue, start_)
        ended = await asyncio.wait_for(handle.result(), timeout=30)
        assert ended.phase == SessionPhase.CANCELLED
        assert ended.cancel_reason is not None and re.search(rf"{re.escape(actor)}.*{role}", ended.cancel_reason)
        assert await registered_sessions(db_engine, session_id) == 0
        with pytest.raises(ActionRefused):
            await close_list(client, session_id, SECRETARY)

    with pytest.raises(InvalidInput, match="ministry XYZ is not in the roster"):
        await open_session(client, task_queue, session_start(council, "XYZ", SECRETARY), engine=db_engine)

    # The chair may open a council session as well as the secretary; the bloc head a bloc session.
    for kind, scope, actor, chair in ((council, "BTP", CHAIR, CHAIR), (bloc, "NOI_CHINH", BLOC_HEAD, BLOC_HEAD)):
        handle = await open_session(client, task_queue, session_start(kind, scope, actor), engine=db_engine)
        for _ in range(100):
            if await registered_sessions(db_engine, handle.id):
                break
            await asyncio.sleep(0.1)
        assert (await session_status(client, handle.id)).phase == SessionPhase.COLLECTING
        await chair_action(client, handle.id, "cancel", _chair(chair, reason="Kiểm thử quyền mở phiên"))
        ended = await handle.result()
        assert ended.phase == SessionPhase.CANCELLED and ended.cancel_reason == "Kiểm thử quyền mở phiên"


def _chair(actor: str, **fields: Any) -> ChairAction:
    return ChairAction.model_validate({"actor": actor, **fields})


async def test_a_spoiled_ballot_is_not_counted_nor_present_for_the_quorum(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    nomination = await in_council(client, task_queue, "BANG_KHEN_BO")
    handle = await opened_council_session(client, task_queue)
    session_id = handle.id
    await wait_candidates(client, session_id, 1)
    opened = await close_list(client, session_id, SECRETARY)
    good = await cast(client, session_id, "btp.hd.uy-vien-1", ballot_for(opened, "btp.hd.uy-vien-1"))
    # uy-vien-2's ballot is well formed, cast with a valid credential and sealed to the session's key, but its
    # choices are bound to another token than the one cast: the validator cannot tell (choices stay sealed),
    # the count cannot open it.
    current, credential = await take_credential(client, session_id, "btp.hd.uy-vien-2")
    crossed = anonymous_ballot(
        current, credential, ballot_for(opened, "btp.hd.uy-vien-2"), sealed_under=b"\x07" * TOKEN_BYTES
    )
    spoiled: BallotReceipt = await cast_anonymous(client, session_id, crossed)
    # Two of three ballots cast: the chair may close; only one of them opens.
    await chair_action(client, session_id, "close_voting", _chair(CHAIR))
    await count_now(client, db_engine, session_id)
    closed = await wait_phase(client, session_id, SessionPhase.CLOSED)
    assert closed.results is not None
    entry = next(e for e in closed.results if e.candidate.workflow_id == nomination)
    assert entry.tally.present == 1 and entry.result.value == "NO_QUORUM"
    assert not closed.quorum_met, "a spoiled ballot counted toward the quorum"

    assert await check_receipt(client, good.receipt) == (session_id, ReceiptState.COUNTED)
    assert await check_receipt(client, spoiled.receipt) == (session_id, ReceiptState.SPOILED)
    assert await verify_receipt(client, spoiled.receipt) == (session_id, False)
    assert closed.counted_receipts == [good.receipt] and closed.spoiled_receipts == [spoiled.receipt]
    async with db_engine.connect() as conn:
        recorded = await conn.scalar(
            sa.text("SELECT max(spoiled) FROM ballot_minutes WHERE session_id = :s"), {"s": session_id}
        )
    assert recorded == 1
    # Without a quorum the nomination stays for the council's next meeting.
    await asyncio.sleep(1)
    assert (await status(client, nomination)).stage == Stage.COUNCIL_REVIEW


async def test_quorum_missed_at_the_deadline_then_extended(client: Client, task_queue: str, db_engine: AsyncEngine):
    nomination = await in_council(client, task_queue, "BANG_KHEN_BO")
    handle = await opened_council_session(
        client, task_queue, deadline=datetime.now(UTC) + timedelta(seconds=6), reminder_before_seconds=3
    )
    session_id = handle.id
    await wait_candidates(client, session_id, 1)
    opened = await close_list(client, session_id, SECRETARY)
    await cast(client, session_id, "btp.hd.uy-vien-1", ballot_for(opened, "btp.hd.uy-vien-1"))

    await wait_phase(client, session_id, SessionPhase.AWAITING_CHAIR, timeout=30)
    async with db_engine.connect() as conn:
        parties = (
            (await conn.execute(sa.text("SELECT party FROM notifications WHERE workflow_id = :s"), {"s": session_id}))
            .scalars()
            .all()
        )
    reminded = {p for p in parties if p.startswith("VOTER:")}
    assert {"VOTER:btp.hd.chu-tich", "VOTER:btp.hd.uy-vien-2"} <= reminded
    assert any(p.startswith("CHAIR:") for p in parties), parties
    with pytest.raises(ActionRefused, match="new_deadline"):
        await chair_action(client, session_id, "extend", _chair(CHAIR, new_deadline=datetime.now(UTC)))
    await chair_action(
        client, session_id, "extend", _chair(CHAIR, new_deadline=datetime.now(UTC) + timedelta(minutes=5))
    )
    await wait_phase(client, session_id, SessionPhase.VOTING)
    await cast(client, session_id, CHAIR, ballot_for(opened, CHAIR))
    await cast(client, session_id, "btp.hd.uy-vien-2", ballot_for(opened, "btp.hd.uy-vien-2"))
    await count_now(client, db_engine, session_id)
    await wait_phase(client, session_id, SessionPhase.CLOSED)
    assert (await wait_for_stage(client, nomination, Stage.AWAITING_DECISION)).stage == Stage.AWAITING_DECISION


async def test_no_cancelling_once_the_ballots_are_being_counted(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    """The count's minutes are held back by a lock on their table, so the session sits between the close and
    its results; a cancel then is refused, and the session ends CLOSED with its results delivered."""
    nomination = await in_council(client, task_queue, "BANG_KHEN_BO")
    handle = await opened_council_session(client, task_queue)
    await wait_candidates(client, handle.id, 1)
    opened = await close_list(client, handle.id, SECRETARY)
    async with db_engine.connect() as blocker:
        locked = await blocker.begin()
        await blocker.execute(sa.text("LOCK TABLE ballot_minutes IN EXCLUSIVE MODE"))
        for voter in ("btp.hd.chu-tich", "btp.hd.uy-vien-1", "btp.hd.uy-vien-2"):
            await cast(client, handle.id, voter, ballot_for(opened, voter))
        # Everyone voted: the round is complete; the committee's shares start its count.
        waiting = await wait_phase(client, handle.id, SessionPhase.AWAITING_COUNT)
        assert waiting.keys is not None and waiting.voted == sorted(MEMBERS)
        for member in waiting.committee[: waiting.keys.threshold]:
            await hand_in(client, db_engine, handle.id, member, counting_key_of(member))
        await asyncio.sleep(1)
        with pytest.raises(ActionRefused, match="being counted"):
            await chair_action(client, handle.id, "cancel", _chair(CHAIR, reason="Hoãn họp"))
        await locked.rollback()
    closed = await handle.result()
    assert closed.phase == SessionPhase.CLOSED and closed.results is not None
    await wait_for_stage(client, nomination, Stage.AWAITING_DECISION)


async def test_a_cancelled_session_leaves_nominations_waiting(client: Client, task_queue: str):
    nomination = await in_council(client, task_queue, "BANG_KHEN_BO")
    handle = await opened_council_session(client, task_queue)
    await wait_candidates(client, handle.id, 1)
    with pytest.raises(ActionRefused, match="reason"):
        await chair_action(client, handle.id, "cancel", _chair(CHAIR))
    await chair_action(client, handle.id, "cancel", _chair(CHAIR, reason="Hoãn họp Hội đồng"))
    assert (await handle.result()).phase == SessionPhase.CANCELLED
    assert (await status(client, nomination)).stage == Stage.COUNCIL_REVIEW
    # The typed-in result still works for a meeting held on paper.
    await act(client, nomination, "record_council_result", meeting(SECRETARY))
    assert (await status(client, nomination)).stage == Stage.AWAITING_DECISION


async def test_an_offer_to_a_session_whose_list_closed_goes_to_the_next_one_collecting(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    """The register still says COLLECTING for a session whose list has closed (its phase is written a moment
    later): a nomination reaching the council is offered to it, refused, let go, and lists itself with the
    older session still collecting. Nothing of it reaches the closed list."""
    early = await in_council(client, task_queue, "BANG_KHEN_BO")
    closed = await opened_council_session(client, task_queue)
    await wait_candidates(client, closed.id, 1)  # takes `early` up as it opens
    older = await opened_council_session(client, task_queue)  # made the older one below
    for _ in range(100):
        try:
            await close_list(client, closed.id, SECRETARY)
            break
        except ActionRefused as refused:
            if "still opening" not in str(refused):
                raise
            await asyncio.sleep(0.1)
    closed_list = [c.workflow_id for c in (await wait_phase(client, closed.id, SessionPhase.VOTING)).candidates]
    assert early in closed_list
    for _ in range(100):  # the session's own write of VOTING first, so that it does not overwrite the one below
        if await registered_phase(db_engine, closed.id) == SessionPhase.VOTING.value:
            break
        await asyncio.sleep(0.1)
    async with db_engine.begin() as conn:  # the lagging register: the closed session looks collecting, newest
        await conn.execute(
            sa.text("UPDATE ballot_sessions SET phase = 'COLLECTING', created_at = now() WHERE session_id = :sid"),
            {"sid": closed.id},
        )
    try:
        late = await in_council(client, task_queue, "BANG_KHEN_BO")
        for _ in range(100):
            listed = {c.workflow_id for c in (await session_status(client, older.id)).candidates}
            if late in listed:
                break
            await asyncio.sleep(0.1)
        assert late in listed
        assert [c.workflow_id for c in (await session_status(client, closed.id)).candidates] == closed_list
        async with db_engine.connect() as conn:
            holder = await conn.scalar(
                sa.text("SELECT session_id FROM ballot_list_members WHERE workflow_id = :wf"), {"wf": late}
            )
        assert holder == older.id
        assert await signals_sent(client, closed.id, late) == ["ballot_list_refused"]
    finally:
        for handle in (closed, older):
            with contextlib.suppress(ActionRefused):
                await chair_action(client, handle.id, "cancel", _chair(CHAIR, reason="Kết thúc phiên thử"))


async def test_the_voters_read_the_ballot_paper_from_the_register(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    """The session publishes each round's paper as its voting opens (and again when a candidate is struck): the
    same list, keys and classes its queries answer, read without asking the session."""
    kept = await in_council(client, task_queue, "BANG_KHEN_BO")
    leaving = await in_council(client, task_queue, "BANG_KHEN_BO")
    handle = await opened_council_session(client, task_queue)
    await wait_candidates(client, handle.id, 2)
    assert await read_paper(db_engine, handle.id, CHAIR) is None  # no paper while the list is collected
    await close_list(client, handle.id, SECRETARY)
    try:
        opened = await wait_phase(client, handle.id, SessionPhase.VOTING)
        for _ in range(100):  # published before the register says VOTING
            if (paper := await read_paper(db_engine, handle.id, CHAIR)) is not None:
                break
            await asyncio.sleep(0.1)
        assert paper is not None
        assert paper.status.phase == SessionPhase.VOTING and paper.status.round == opened.round == 1
        assert [c.workflow_id for c in paper.status.candidates] == [c.workflow_id for c in opened.candidates]
        assert paper.status.keys == opened.keys
        assert paper.held == await voter_class(client, handle.id, CHAIR)
        # The secretary records the meeting and holds no class: refused before any credential is taken.
        outsider = await read_paper(db_engine, handle.id, SECRETARY)
        assert outsider is not None and outsider.held is None
        with pytest.raises(ActionRefused, match="holds no ballot credential class"):
            await cast(client, handle.id, SECRETARY, {kept: Choice.FOR}, engine=db_engine)

        await act(client, leaving, "withdraw", ReasonedAction(actor=UNIT_STAFF["BTP"], reason="Đơn vị rút hồ sơ"))
        for _ in range(100):
            paper = await read_paper(db_engine, handle.id, CHAIR)
            assert paper is not None
            if leaving in {s.candidate.workflow_id for s in paper.status.struck}:
                break
            await asyncio.sleep(0.1)
        assert leaving in {s.candidate.workflow_id for s in paper.status.struck}
        assert leaving not in {c.workflow_id for c in paper.status.candidates}
        choices = {c.workflow_id: Choice.FOR for c in paper.status.candidates if c.nominee_actor_id != CHAIR}
        receipt = await cast(client, handle.id, CHAIR, choices, engine=db_engine)
        assert receipt.session_id == handle.id
        assert (await session_status(client, handle.id)).ballots_cast == 1
    finally:
        with contextlib.suppress(ActionRefused):
            await chair_action(client, handle.id, "cancel", _chair(CHAIR, reason="Kết thúc phiên thử"))
    for _ in range(100):  # the paper shows the register's phase, not the one it was published in
        cancelled = await read_paper(db_engine, handle.id, CHAIR)
        assert cancelled is not None
        if cancelled.status.phase == SessionPhase.CANCELLED:
            break
        await asyncio.sleep(0.1)
    assert cancelled is not None and cancelled.status.phase == SessionPhase.CANCELLED


UNIT_STAFF = {"BTP": "btp.vutckt.le-thi-hoa", "KTNN": "ktnn.vutckt.hoang-anh"}


async def clear_the_bloc(client: Client, engine: AsyncEngine) -> None:
    """Withdraw what other tests left waiting in NOI_CHINH's bloc vote: a bloc session takes up every
    nomination waiting there, and these tests count on their own two. The bloc's own proposals (a bloc year's)
    wait for the session that names them and are never taken up: they stay."""
    async with engine.connect() as conn:
        waiting = (
            await conn.execute(
                sa.text(
                    "SELECT workflow_id, ministry FROM nominations WHERE stage = 'BLOC_VOTE' AND bloc = 'NOI_CHINH' "
                    "AND origin_bloc IS NULL"
                )
            )
        ).all()
    for workflow_id, ministry in waiting:
        withdrawal = ReasonedAction(actor=UNIT_STAFF[ministry], reason="Dọn khối trước phiên bỏ phiếu")
        with contextlib.suppress(ActionRefused, NominationNotFound):
            await act(client, workflow_id, "withdraw", withdrawal)


async def in_bloc(client: Client, task_queue: str, ministry: str) -> str:
    proposer = UNIT_STAFF[ministry]
    secretary = {"BTP": "btp.hd.thu-ky", "KTNN": "ktnn.hd.thu-ky"}[ministry]
    handle = await start(
        client,
        task_queue,
        "CO_THI_DUA_CP",
        ministry=ministry,
        proposer=proposer,
        reference=f"{uuid.uuid4().hex[:6]}/TTr-{ministry}",
    )
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    await act(client, handle.id, "record_council_result", meeting(secretary))
    await wait_for_stage(client, handle.id, Stage.BLOC_VOTE)
    return handle.id


async def test_bloc_vote_with_quota_and_a_runoff_after_a_tie(client: Client, task_queue: str, db_engine: AsyncEngine):
    await clear_the_bloc(client, db_engine)
    btp = await in_bloc(client, task_queue, "BTP")
    ktnn = await in_bloc(client, task_queue, "KTNN")
    handle = await open_session(
        client, task_queue, session_start(BallotSessionKind.BLOC, "NOI_CHINH", BLOC_HEAD, runoff_seconds=600)
    )
    session_id = handle.id
    listed = await wait_candidates(client, session_id, 2)
    assert {c.workflow_id for c in listed.candidates} == {btp, ktnn}
    await close_list(client, session_id, BLOC_HEAD)

    # Round 1: a member organisation does not vote on its own candidate, so each candidate gets FOR from
    # the two organisations allowed to vote on it: 2–2, a tie for the one seat.
    # A member organisation's class recuses on its own candidate: a choice there is refused.
    with pytest.raises(
        InvalidInput, match=rf"{BLOC_REPS['BTP']!r} has a conflict of interest on {re.escape(repr(btp))}"
    ):
        await cast(client, session_id, BLOC_REPS["BTP"], {btp: Choice.FOR, ktnn: Choice.FOR})
    with pytest.raises(
        InvalidInput, match=rf"{BLOC_REPS['KTNN']!r} has a conflict of interest on {re.escape(repr(ktnn))}"
    ):
        await cast(client, session_id, BLOC_REPS["KTNN"], {btp: Choice.AGAINST, ktnn: Choice.FOR})
    receipts = [
        await cast(client, session_id, BLOC_REPS["TANDTC"], {btp: Choice.FOR, ktnn: Choice.FOR}),
        await cast(client, session_id, BLOC_REPS["BTP"], {ktnn: Choice.FOR}),
        await cast(client, session_id, BLOC_REPS["KTNN"], {btp: Choice.FOR}),
    ]
    runoff = await count_now(client, db_engine, session_id)  # the tie is counted: a runoff round opens
    for _ in range(100):
        runoff = await session_status(client, session_id)
        if runoff.round == 2 and runoff.phase == SessionPhase.VOTING:
            break
        await asyncio.sleep(0.1)
    assert runoff.round == 2 and {c.workflow_id for c in runoff.candidates} == {btp, ktnn}
    assert (await status(client, btp)).stage == Stage.BLOC_VOTE  # nothing decided silently

    # Round 2: TANDTC prefers BTP's candidate; BTP and KTNN keep voting for the other's.
    receipts += [
        await cast(client, session_id, BLOC_REPS["TANDTC"], {btp: Choice.FOR, ktnn: Choice.AGAINST}),
        await cast(client, session_id, BLOC_REPS["BTP"], {ktnn: Choice.FOR}),
        await cast(client, session_id, BLOC_REPS["KTNN"], {btp: Choice.FOR}),
    ]
    # The runoff is counted with the shares the committee handed in for round 1: no second hand-in.
    await count_now(client, db_engine, session_id)
    closed = await wait_phase(client, session_id, SessionPhase.CLOSED)
    assert closed.results is not None
    # Every receipt of either round verifies: round 1's ballots were counted too (they made the tie).
    assert [r.round for r in receipts] == [1, 1, 1, 2, 2, 2]
    for receipt in receipts:
        assert await check_receipt(client, receipt.receipt) == (session_id, ReceiptState.COUNTED), receipt.round
    assert sorted(closed.counted_receipts or []) == sorted(r.receipt for r in receipts)
    assert (await wait_for_stage(client, btp, Stage.CENTRAL_REVIEW)).stage == Stage.CENTRAL_REVIEW
    assert (await wait_for_stage(client, ktnn, Stage.REJECTED)).stage == Stage.REJECTED


async def tied_twice(client: Client, task_queue: str, engine: AsyncEngine) -> tuple[str, str, str]:
    """A bloc session of two candidates whose round 1 and runoff both end 2–2 for the one seat: (session, the
    BTP candidate, the KTNN candidate). Each member organisation votes for the other's candidate only."""
    await clear_the_bloc(client, engine)
    btp = await in_bloc(client, task_queue, "BTP")
    ktnn = await in_bloc(client, task_queue, "KTNN")
    handle = await open_session(
        client, task_queue, session_start(BallotSessionKind.BLOC, "NOI_CHINH", BLOC_HEAD, runoff_seconds=600)
    )
    await wait_candidates(client, handle.id, 2)
    await close_list(client, handle.id, BLOC_HEAD)
    for round_ in (1, 2):
        await cast(client, handle.id, BLOC_REPS["TANDTC"], {btp: Choice.FOR, ktnn: Choice.FOR})
        await cast(client, handle.id, BLOC_REPS["BTP"], {ktnn: Choice.FOR})
        await cast(client, handle.id, BLOC_REPS["KTNN"], {btp: Choice.FOR})
        if round_ == 1:
            await count_now(client, engine, handle.id)
            for _ in range(100):
                current = await session_status(client, handle.id)
                if current.round == 2 and current.phase == SessionPhase.VOTING:
                    break
                await asyncio.sleep(0.1)
    return handle.id, btp, ktnn


async def test_a_tie_that_outlasts_the_runoff_goes_to_the_bloc_head(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    session_id, btp, ktnn = await tied_twice(client, task_queue, db_engine)
    # The policy's one runoff round is used up and the tie remains: no third round, the bloc head decides.
    waiting = await wait_phase(client, session_id, SessionPhase.AWAITING_HEAD)
    assert waiting.round == 2 and sorted(waiting.tied) == sorted([btp, ktnn]) and waiting.seats_left == 1
    assert waiting.results is None
    assert (await status(client, btp)).stage == Stage.BLOC_VOTE  # nothing decided silently
    async with db_engine.connect() as conn:
        told = (
            await conn.execute(
                sa.text(
                    "SELECT party, subject, body FROM notifications WHERE workflow_id = :s AND party LIKE 'BLOC_HEAD:%'"
                ),
                {"s": session_id},
            )
        ).all()
        registered = await conn.scalar(
            sa.text("SELECT phase FROM ballot_sessions WHERE session_id = :s"), {"s": session_id}
        )
    assert [t.party for t in told] == [f"BLOC_HEAD:{BLOC_HEAD}"]
    assert "Trưởng Khối quyết định" in told[0].subject and btp in told[0].body and ktnn in told[0].body
    assert registered == "AWAITING_HEAD"

    def choosing(actor: str, *chosen: str) -> TieDecision:
        return TieDecision(actor=actor, choose=list(chosen))

    member = re.escape(BLOC_REPS["BTP"])
    with pytest.raises(ActionRefused, match=rf"actor '{member}' may not decide the tie.*allowed: {BLOC_HEAD}"):
        await decide_tie(client, session_id, choosing(BLOC_REPS["BTP"], btp))
    with pytest.raises(ActionRefused, match=r"choose: the bloc head must choose exactly 1 of the tied .*got 2"):
        await decide_tie(client, session_id, choosing(BLOC_HEAD, btp, ktnn))
    with pytest.raises(ActionRefused, match=r"choose: not among the tied candidates: 'nomination-x'"):
        await decide_tie(client, session_id, choosing(BLOC_HEAD, "nomination-x"))
    with pytest.raises(ActionRefused, match=r"choose: chosen more than once"):
        await decide_tie(client, session_id, choosing(BLOC_HEAD, ktnn, ktnn))
    assert (await session_status(client, session_id)).phase == SessionPhase.AWAITING_HEAD

    closed = await decide_tie(client, session_id, choosing(BLOC_HEAD, ktnn))
    assert closed.phase == SessionPhase.CLOSED and closed.round == 2 and closed.tied == []
    assert closed.results is not None
    by_id = {e.candidate.workflow_id: e for e in closed.results}
    assert by_id[ktnn].result.value == "PASSED" and "được Trưởng Khối chọn" in by_id[ktnn].reason_vi
    assert by_id[btp].result.value == "FAILED" and "không được Trưởng Khối chọn" in by_id[btp].reason_vi
    assert (await wait_for_stage(client, ktnn, Stage.CENTRAL_REVIEW)).stage == Stage.CENTRAL_REVIEW
    assert (await wait_for_stage(client, btp, Stage.REJECTED)).stage == Stage.REJECTED
    # Decided once: a second decision is refused.
    with pytest.raises(ActionRefused, match=r"only while it awaits the bloc head's decision|has (already )?ended"):
        await decide_tie(client, session_id, choosing(BLOC_HEAD, btp))

    async with db_engine.connect() as conn:
        minutes = (
            await conn.execute(
                sa.text("SELECT round, workflow_id, result, reason_vi FROM ballot_minutes WHERE session_id = :s"),
                {"s": session_id},
            )
        ).all()
        audited = (
            (
                await conn.execute(
                    sa.text("SELECT actor, channel, entry FROM audit_log WHERE workflow_id = :s AND action = :a"),
                    {"s": session_id, "a": "BALLOT_TIE_DECIDED"},
                )
            )
            .mappings()
            .all()
        )
    final = {m.workflow_id: m for m in minutes if m.round == 2}
    assert final[ktnn].result == "PASSED" and "được Trưởng Khối chọn" in final[ktnn].reason_vi
    assert final[btp].result == "FAILED" and "không được Trưởng Khối chọn" in final[btp].reason_vi
    assert {m.round for m in minutes} == {1, 2}  # no third round
    [entry] = audited
    assert entry["actor"] == BLOC_HEAD and entry["channel"] == "CLI"
    details = entry["entry"]["details"]
    assert details["round"] == 2 and details["seats_left"] == 1 and details["head_decision"] == [ktnn]
    assert sorted(details["tied"]) == sorted([btp, ktnn])


async def test_a_secretary_who_sits_on_the_council_is_left_out_of_the_electorate(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    from domain.roster import Roster
    from store.roster import load_roster

    def person(actor_id: str, *roles: str) -> dict[str, Any]:
        grants = [{"role": role, "scope": "SD4"} for role in roles]
        return {"id": actor_id, "full_name": f"Người {actor_id}", "organisation": "SD4", "roles": grants}

    secretary, chair, member, other = "sd4.hd.thu-ky", "sd4.hd.chu-tich", "sd4.hd.uy-vien", "sd4.hd.uy-vien-2"
    roster = {
        "ministries": [{"code": "SD4", "name": "Bộ Phân quyền (hư cấu)"}],
        "actors": [
            person("sd4.vutckt.can-bo", "UNIT_STAFF"),
            person(secretary, "COUNCIL_SECRETARY", "COUNCIL_MEMBER"),  # also on the council
            person(chair, "COUNCIL_CHAIR", "COUNCIL_MEMBER"),
            person(member, "COUNCIL_MEMBER"),
            person(other, "COUNCIL_MEMBER"),
        ],
    }
    await load_roster(db_engine, Roster.model_validate(roster))
    # The counting committee is three of the voting members: the secretary is none of them.
    await enroll_counting_keys(db_engine, [chair, member, other])
    handle = await start(
        client,
        task_queue,
        "BANG_KHEN_BO",
        ministry="SD4",
        proposer="sd4.vutckt.can-bo",
        reference=f"{uuid.uuid4().hex[:6]}/TTr-SD4",
    )
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    session = await open_session(
        client, task_queue, session_start(BallotSessionKind.COUNCIL, "SD4", secretary), engine=db_engine
    )
    await wait_candidates(client, session.id, 1)
    opened = await close_list(client, session.id, secretary)
    assert opened.electorate_size == 3  # the secretary records the session: not a voter
    assert secretary not in opened.committee
    with pytest.raises(ActionRefused, match="secretary"):
        await cast(client, session.id, secretary, ballot_for(opened, secretary))
    for voter in (chair, member, other):
        await cast(client, session.id, voter, ballot_for(opened, voter))
    # Everyone who may vote has voted: the round ends without waiting for the secretary.
    await wait_phase(client, session.id, SessionPhase.AWAITING_COUNT, timeout=15)
    closed = await count_now(client, db_engine, session.id)
    assert closed.phase == SessionPhase.CLOSED and closed.quorum_met and closed.results is not None
    assert [(e.tally.members, e.tally.votes_for, e.result.value) for e in closed.results] == [(3, 3, "PASSED")]
    assert (await wait_for_stage(client, handle.id, Stage.AWAITING_DECISION)).stage == Stage.AWAITING_DECISION


async def test_thirty_voters_cast_at_once(client: Client, task_queue: str, db_engine: AsyncEngine):
    from domain.roster import Roster
    from store.roster import load_roster

    members = [f"t30.hd.uy-vien-{i:02d}" for i in range(30)]
    roster = Roster.model_validate(
        {
            "ministries": [{"code": "T30", "name": "Bộ Thử nghiệm (hư cấu)"}],
            "actors": [
                {
                    "id": "t30.vutckt.can-bo",
                    "full_name": "Cán bộ Thử",
                    "organisation": "T30",
                    "roles": [{"role": "UNIT_STAFF", "scope": "T30"}],
                },
                {
                    "id": "t30.hd.thu-ky",
                    "full_name": "Thư ký Thử",
                    "organisation": "T30",
                    "roles": [{"role": "COUNCIL_SECRETARY", "scope": "T30"}],
                },
            ]
            + [
                {
                    "id": m,
                    "full_name": f"Ủy viên {i}",
                    "organisation": "T30",
                    "roles": [{"role": "COUNCIL_MEMBER", "scope": "T30"}],
                }
                for i, m in enumerate(members)
            ],
        }
    )
    await load_roster(db_engine, roster)
    await enroll_counting_keys(db_engine, default_committees(roster, 3))  # the council's counting committee
    nominations = []
    for _ in range(12):
        handle = await start(
            client,
            task_queue,
            "BANG_KHEN_BO",
            ministry="T30",
            proposer="t30.vutckt.can-bo",
            reference=f"{uuid.uuid4().hex[:6]}/TTr-T30",
        )
        nominations.append(handle.id)
    for wf in nominations:
        await wait_for_stage(client, wf, Stage.COUNCIL_REVIEW)
    handle = await open_session(client, task_queue, session_start(BallotSessionKind.COUNCIL, "T30", "t30.hd.thu-ky"))
    await wait_candidates(client, handle.id, len(nominations))
    await close_list(client, handle.id, "t30.hd.thu-ky")
    # All thirty at once: more than the 10 updates Temporal lets in flight; the client retries what is turned away.
    receipts = await asyncio.gather(
        *(cast(client, handle.id, m, dict.fromkeys(nominations, Choice.FOR)) for m in members)
    )
    assert len({r.receipt for r in receipts}) == 30
    await count_now(client, db_engine, handle.id, timeout=60)
    closed = await wait_phase(client, handle.id, SessionPhase.CLOSED, timeout=60)
    assert closed.results is not None and all(e.tally.votes_for == 30 for e in closed.results)
    for wf in nominations:
        assert (await wait_for_stage(client, wf, Stage.AWAITING_DECISION)).stage == Stage.AWAITING_DECISION
