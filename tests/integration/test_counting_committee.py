"""The counting committee (Ban kiểm phiếu) and the anonymous ballot, end to end on the dev server and PostgreSQL:
a committee that cannot hold the key is refused at opening; the count waits for `threshold` shares and refuses
wrong ones; the cast and credential refusals; conflict classes; turnout and quorum on ballots cast.

These sessions are KTNN's council's, so the BTP council's and the bloc's tests elsewhere never meet them."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from client import ballots as ballot_client
from client.ballots import (
    cast,
    cast_anonymous,
    chair_action,
    check_receipt,
    close_list,
    enroll_counting_key,
    hand_in,
    hand_in_share,
    member_share,
    open_session,
    request_credential,
    session_status,
    voter_class,
)
from client.nominations import ActionRefused, NominationNotFound, act
from domain.ballot_messages import (
    AnonymousBallot,
    ChairAction,
    SessionPhase,
    SessionStart,
    SessionStatus,
    ShareHandIn,
)
from domain.ballots import BallotSessionKind, Choice, ReceiptState
from domain.errors import InvalidInput
from domain.messages import ReasonedAction
from domain.stages import Stage
from security.committee import decrypt_share
from security.credentials import VoterCredential, finish, prepare_request
from security.sealing import b64, generate_private_key, public_key_info, seal_ballot
from store.schema import ballot_minutes, ballot_participation, ballot_session_secrets, counting_keys, notifications
from tests.integration.helpers import counting_key_of, meeting, start, wait_for_stage

pytestmark = pytest.mark.integration

SCOPE = "KTNN"
SECRETARY = "ktnn.hd.thu-ky"
CHAIR = "ktnn.hd.chu-tich"
MEMBERS = ["ktnn.hd.chu-tich", "ktnn.hd.uy-vien-1", "ktnn.hd.uy-vien-2"]
PROPOSER = "ktnn.vutckt.hoang-anh"


def session_start(**overrides: Any) -> SessionStart:
    fields: dict[str, Any] = {
        "kind": BallotSessionKind.COUNCIL,
        "scope": SCOPE,
        "meeting_ref": f"HD-{uuid.uuid4().hex[:8]}",
        "opened_by": SECRETARY,
        "deadline": datetime.now(UTC) + timedelta(minutes=10),
        "policy_version": "2025.07",
        "reminder_before_seconds": 0,
    }
    return SessionStart.model_validate(fields | overrides)


async def clear_the_council(client: Client, engine: AsyncEngine) -> None:
    """Withdraw what other tests left waiting in KTNN's council: a session takes up every nomination waiting
    there, and these tests count on their own."""
    async with engine.connect() as conn:
        waiting = (
            await conn.execute(
                sa.text("SELECT workflow_id FROM nominations WHERE stage = 'COUNCIL_REVIEW' AND ministry = :m"),
                {"m": SCOPE},
            )
        ).scalars()
        found = list(waiting)
    for workflow_id in found:
        with contextlib.suppress(ActionRefused, NominationNotFound):
            await act(client, workflow_id, "withdraw", ReasonedAction(actor=PROPOSER, reason="Dọn danh sách"))


async def in_council(client: Client, task_queue: str, **overrides: Any) -> str:
    handle = await start(
        client,
        task_queue,
        "BANG_KHEN_BO",
        ministry=SCOPE,
        proposer=PROPOSER,
        reference=f"{uuid.uuid4().hex[:6]}/TTr-{SCOPE}",
        **overrides,
    )
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    return handle.id


async def wait_until(client: Client, session_id: str, done: Any, timeout: float = 30) -> SessionStatus:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        current = await session_status(client, session_id)
        if done(current):
            return current
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{session_id} is {current.phase} (round {current.round})")
        await asyncio.sleep(0.1)


async def voting_session(client: Client, task_queue: str, engine: AsyncEngine, *nominations: str) -> SessionStatus:
    """A KTNN council session whose list is exactly `nominations`, voting."""
    handle = await open_session(client, task_queue, session_start(), engine=engine)
    await wait_until(client, handle.id, lambda s: {c.workflow_id for c in s.candidates} >= set(nominations))
    opened = await close_list(client, handle.id, SECRETARY)
    assert opened.phase == SessionPhase.VOTING and opened.keys is not None, opened
    assert {c.workflow_id for c in opened.candidates} == set(nominations)
    return opened


@pytest.fixture
async def council(client: Client, task_queue: str, db_engine: AsyncEngine) -> AsyncIterator[list[str]]:
    """KTNN's council with two nominations of its own waiting; sessions left open are cancelled after."""
    await clear_the_council(client, db_engine)
    nominations = [await in_council(client, task_queue), await in_council(client, task_queue)]
    yield nominations
    async with db_engine.connect() as conn:
        open_ = (
            await conn.execute(
                sa.text(
                    "SELECT session_id FROM ballot_sessions WHERE scope = :s AND phase NOT IN ('CLOSED','CANCELLED')"
                ),
                {"s": SCOPE},
            )
        ).scalars()
        sessions = list(open_)
    for session_id in sessions:
        with contextlib.suppress(ActionRefused, NominationNotFound):
            await chair_action(client, session_id, "cancel", ChairAction(actor=CHAIR, reason="Kết thúc thử nghiệm"))


async def credential_for(client: Client, status: SessionStatus, voter: str) -> VoterCredential:
    assert status.keys is not None
    held = await voter_class(client, status.session_id, voter)
    request, pending = prepare_request(status.keys, status.session_id, status.round, voter, held.class_id)
    return finish(pending, await request_credential(client, status.session_id, request))


def anonymous(status: SessionStatus, credential: VoterCredential, choices: dict[str, Choice | None]) -> AnonymousBallot:
    assert status.keys is not None
    sealed = seal_ballot(
        status.keys.sealing,
        status.session_id,
        status.round,
        credential.token,
        choices,
        credential.class_id,
        credential.class_signature,
    )
    return AnonymousBallot(
        round=status.round, token=b64(credential.token), token_signature=b64(credential.token_signature), ballot=sealed
    )


async def accepted_updates(client: Client, session_id: str, name: str) -> int:
    history = await client.get_workflow_handle(session_id).fetch_history()
    return sum(
        1
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
        and e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == name
    )


# ---- 1. the committee is named at opening ------------------------------------------------------------------


async def test_a_committee_that_cannot_hold_the_key_is_refused_at_opening(
    client: Client, task_queue: str, db_engine: AsyncEngine, council: list[str]
):
    # The client refuses before anything starts, naming the field and the member.
    with pytest.raises(InvalidInput) as refused:
        await open_session(client, task_queue, session_start(committee=[SECRETARY, *MEMBERS[:2]]), engine=db_engine)
    assert [e.field for e in refused.value.errors] == ["committee"]
    assert f"'{SECRETARY}' không phải thành viên biểu quyết của Hội đồng TĐKT KTNN" in str(refused.value)
    with pytest.raises(InvalidInput, match="cần đúng 3 thành viên"):
        await open_session(client, task_queue, session_start(committee=MEMBERS[:2]), engine=db_engine)

    # A member without an enrolled counting key: refused naming the member.
    async with db_engine.begin() as conn:
        pem = await conn.scalar(sa.select(counting_keys.c.public_pem).where(counting_keys.c.actor_id == MEMBERS[2]))
        await conn.execute(sa.delete(counting_keys).where(counting_keys.c.actor_id == MEMBERS[2]))
    try:
        with pytest.raises(InvalidInput) as missing:
            await open_session(client, task_queue, session_start(), engine=db_engine)
        assert [e.field for e in missing.value.errors] == ["committee"]
        assert f"thành viên Ban kiểm phiếu '{MEMBERS[2]}' chưa đăng ký khóa kiểm phiếu" in str(missing.value)
        # Slipped through (no engine to check): voting opens without keys for it, so the session is cancelled
        # with the reason when the list is closed, its nominations free again.
        slipped = await open_session(client, task_queue, session_start())
        await wait_until(client, slipped.id, lambda s: {c.workflow_id for c in s.candidates} >= set(council))
        cancelled = await close_list(client, slipped.id, SECRETARY)
        assert cancelled.phase == SessionPhase.CANCELLED and cancelled.keys is None
        assert cancelled.cancel_reason is not None and MEMBERS[2] in cancelled.cancel_reason
        assert "chưa đăng ký khóa kiểm phiếu" in cancelled.cancel_reason
    finally:
        assert pem is not None
        await enroll_counting_key(db_engine, MEMBERS[2], pem)

    # A committee outside the council slipped through the client: the session ends CANCELLED, saying why.
    refused_start = session_start(committee=[SECRETARY, *MEMBERS[:2]])
    handle = await open_session(client, task_queue, refused_start)
    result = await handle.result()
    assert result.phase == SessionPhase.CANCELLED
    assert result.cancel_reason is not None and "committee:" in result.cancel_reason
    assert SECRETARY in result.cancel_reason

    # The default committee is the policy's three voting members, in roster order; named in the status.
    opened = await voting_session(client, task_queue, db_engine, *council)
    assert opened.committee == MEMBERS
    assert opened.keys is not None and (opened.keys.committee, opened.keys.threshold) == (MEMBERS, 2)
    assert len(opened.keys.commitments) == 3 and len({c.class_id for c in opened.keys.classes}) >= 1


# ---- 2. the count waits for `threshold` shares -------------------------------------------------------------


async def test_the_count_runs_only_with_threshold_shares_and_refuses_wrong_ones(
    client: Client, task_queue: str, db_engine: AsyncEngine, council: list[str]
):
    first, second = council
    opened = await voting_session(client, task_queue, db_engine, *council)
    session_id = opened.session_id
    # Handing in before the voting is over is refused.
    share = await member_share(db_engine, session_id, MEMBERS[0])
    index, plain = decrypt_share(counting_key_of(MEMBERS[0]), share.encrypted_share)
    good = ShareHandIn(member=MEMBERS[0], index=index, share=b64(plain))
    with pytest.raises(ActionRefused, match="only while AWAITING_COUNT; the session is VOTING"):
        await hand_in_share(client, session_id, good)

    choices = {
        CHAIR: {first: Choice.FOR, second: Choice.AGAINST},
        "ktnn.hd.uy-vien-1": {first: Choice.FOR, second: Choice.ABSTAIN},
        "ktnn.hd.uy-vien-2": {first: Choice.AGAINST, second: Choice.AGAINST},
    }
    for voter, ballot in choices.items():
        await cast(client, session_id, voter, ballot)
    waiting = await wait_until(client, session_id, lambda s: s.phase != SessionPhase.VOTING)
    assert waiting.phase == SessionPhase.AWAITING_COUNT
    assert (waiting.ballots_cast, waiting.shares_in, waiting.results) == (3, 0, None)
    # The committee is told, in Vietnamese, through the outbox.
    async with db_engine.connect() as conn:
        told = (
            await conn.execute(
                sa.select(notifications.c.party, notifications.c.subject).where(
                    notifications.c.workflow_id == session_id, notifications.c.party.like("COUNTER:%")
                )
            )
        ).all()
    assert sorted(p for p, _ in told) == sorted(f"COUNTER:{m}" for m in MEMBERS)
    assert all("mời Ban kiểm phiếu nộp mảnh khóa" in subject for _, subject in told)

    # Refused, each with its reason: a non-member, a wrong share, another member's index.
    with pytest.raises(ActionRefused, match=rf"member: '{SECRETARY}' is not on this session's counting committee"):
        await hand_in_share(client, session_id, ShareHandIn(member=SECRETARY, index=1, share=b64(plain)))
    wrong = ShareHandIn(member=MEMBERS[0], index=index, share=b64(secrets.token_bytes(32)))
    with pytest.raises(ActionRefused, match=r"share: not the share .* was given for this session"):
        await hand_in_share(client, session_id, wrong)
    with pytest.raises(ActionRefused, match=rf"index: '{MEMBERS[0]}' holds share 1, not 2"):
        await hand_in_share(client, session_id, ShareHandIn(member=MEMBERS[0], index=2, share=b64(plain)))

    one = await hand_in_share(client, session_id, good)
    assert (one.phase, one.shares_in) == (SessionPhase.AWAITING_COUNT, 1)
    with pytest.raises(ActionRefused, match=rf"member: '{MEMBERS[0]}' has already handed in their share"):
        await hand_in_share(client, session_id, good)
    await asyncio.sleep(1.0)  # one share is not enough: nothing is counted
    still = await session_status(client, session_id)
    assert (still.phase, still.results, still.counted_receipts) == (SessionPhase.AWAITING_COUNT, None, None)
    # The refusals left no trace in history: one accepted hand-in so far.
    assert await accepted_updates(client, session_id, "hand_in_share") == 1

    await hand_in(client, db_engine, session_id, MEMBERS[2], counting_key_of(MEMBERS[2]))
    closed = await wait_until(client, session_id, lambda s: s.phase == SessionPhase.CLOSED)
    assert closed.results is not None and closed.shares_in == 2
    tallies = {e.candidate.workflow_id: e.tally for e in closed.results}
    assert (tallies[first].votes_for, tallies[first].votes_against, tallies[first].abstaining) == (2, 1, 0)
    assert (tallies[second].votes_for, tallies[second].votes_against, tallies[second].abstaining) == (0, 2, 1)
    assert len(closed.counted_receipts or []) == 3 and closed.spoiled_receipts == []
    # The session's secrets are gone with its close; its shares cannot be had any more.
    async with db_engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(ballot_session_secrets).where(ballot_session_secrets.c.session_id == session_id)
            )
        ).one()
    assert row.destroyed_at is not None
    assert (row.wrapped_sealing_key, row.issuer_private, row.class_privates) == (None, None, None)
    with pytest.raises(LookupError, match="holds no share"):
        await member_share(db_engine, session_id, MEMBERS[0])
    with pytest.raises(ActionRefused, match=r"only while AWAITING_COUNT; the session is CLOSED|has ended"):
        await hand_in_share(client, session_id, ShareHandIn(member=MEMBERS[1], index=2, share=b64(plain)))


async def test_a_session_cancelled_while_awaiting_the_count_destroys_its_secrets(
    client: Client, task_queue: str, db_engine: AsyncEngine, council: list[str]
):
    opened = await voting_session(client, task_queue, db_engine, *council)
    for voter in MEMBERS:
        await cast(client, opened.session_id, voter, dict.fromkeys(council, Choice.FOR))
    await wait_until(client, opened.session_id, lambda s: s.phase == SessionPhase.AWAITING_COUNT)
    await chair_action(client, opened.session_id, "cancel", ChairAction(actor=CHAIR, reason="Ban kiểm phiếu vắng"))
    cancelled = await wait_until(client, opened.session_id, lambda s: s.phase == SessionPhase.CANCELLED)
    assert cancelled.results is None
    async with db_engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(ballot_session_secrets).where(ballot_session_secrets.c.session_id == opened.session_id)
            )
        ).one()
    assert row.destroyed_at is not None and row.wrapped_sealing_key is None and row.issuer_private is None
    with pytest.raises(LookupError):
        await member_share(db_engine, opened.session_id, MEMBERS[0])


# ---- 4. what the cast validator and the credential refuse ----------------------------------------------------


async def test_every_credential_and_cast_refusal(
    client: Client, task_queue: str, db_engine: AsyncEngine, council: list[str]
):
    opened = await voting_session(client, task_queue, db_engine, *council)
    session_id = opened.session_id
    assert opened.keys is not None
    everything: dict[str, Choice | None] = dict.fromkeys(council, Choice.FOR)

    # Credentials: not to a non-voter, not to the council's secretary, not twice in a round.
    for outsider in ("ktnn.vutckt.hoang-anh", SECRETARY):
        with pytest.raises(ActionRefused, match="holds no ballot credential class"):
            await voter_class(client, session_id, outsider)
    k00 = next(c for c in opened.keys.classes if c.class_id == "k00")
    request, _ = prepare_request(opened.keys, session_id, 1, "ktnn.vutckt.hoang-anh", k00.class_id)
    with pytest.raises(ActionRefused, match="not in this session's electorate"):
        await request_credential(client, session_id, request)
    request, _ = prepare_request(opened.keys, session_id, 1, SECRETARY, k00.class_id)
    with pytest.raises(ActionRefused, match="council's secretary and records this session"):
        await request_credential(client, session_id, request)
    credential = await credential_for(client, opened, "ktnn.hd.uy-vien-1")
    with pytest.raises(ActionRefused, match="already taken this round's ballot credential"):
        await credential_for(client, opened, "ktnn.hd.uy-vien-1")
    with pytest.raises(ActionRefused, match="round: the session is voting in round 1, not 2"):
        await request_credential(client, session_id, request.model_copy(update={"voter": CHAIR, "round": 2}))

    ballot = anonymous(opened, credential, everything)
    # A forged token: signed by no one, or under another key.
    forged = ballot.model_copy(update={"token_signature": b64(secrets.token_bytes(256))})
    with pytest.raises(ActionRefused, match="token_signature: not this session's credential"):
        await cast_anonymous(client, session_id, forged)
    other_token = ballot.model_copy(update={"token": b64(secrets.token_bytes(32))})
    with pytest.raises(ActionRefused, match="token_signature: not this session's credential"):
        await cast_anonymous(client, session_id, other_token)
    # Another round.
    with pytest.raises(ActionRefused, match="round: the session is voting in round 1, not 2"):
        await cast_anonymous(client, session_id, ballot.model_copy(update={"round": 2}))
    # Not covering the list; sealed to another key.
    partial = anonymous(opened, credential, {council[0]: Choice.FOR})
    with pytest.raises(ActionRefused, match=r"ballot\.sealed_choices: has no sealed entry"):
        await cast_anonymous(client, session_id, partial)
    stranger = public_key_info(generate_private_key())
    elsewhere = seal_ballot(
        stranger, session_id, 1, credential.token, everything, credential.class_id, credential.class_signature
    )
    with pytest.raises(ActionRefused, match=r"ballot\.key_id: sealed to key"):
        await cast_anonymous(client, session_id, ballot.model_copy(update={"ballot": elsewhere}))

    receipt = await cast_anonymous(client, session_id, ballot)
    # The same credential again: a second ballot.
    with pytest.raises(ActionRefused, match="token: this credential has already cast its ballot"):
        await cast_anonymous(client, session_id, anonymous(opened, credential, everything))
    assert await accepted_updates(client, session_id, "cast_ballot") == 1

    # A credential of another session does not cast here.
    third = await in_council(client, task_queue)  # this session's list is closed: it waits for the next
    other = await open_session(client, task_queue, session_start(), engine=db_engine)
    await wait_until(client, other.id, lambda s: any(c.workflow_id == third for c in s.candidates))
    other_opened = await close_list(client, other.id, SECRETARY)
    foreign = await credential_for(client, other_opened, CHAIR)
    foreign_ballot = anonymous(opened, foreign, everything)
    with pytest.raises(ActionRefused, match="token_signature: not this session's credential"):
        await cast_anonymous(client, session_id, foreign_ballot)
    assert receipt.receipt.startswith(f"{session_id}:")


# ---- 5. conflict classes -------------------------------------------------------------------------------------


def nominee_who_votes(actor: str, name: str) -> dict[str, str]:
    return {
        "kind": "INDIVIDUAL",
        "full_name": name,
        "position": "Ủy viên Hội đồng",
        "unit": "Văn phòng Kiểm toán nhà nước",
        "actor_id": actor,
    }


async def test_a_recusing_voter_seals_recuse_and_a_crafted_choice_there_is_spoiled(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    await clear_the_council(client, db_engine)
    # Each of two members is the nominee of one nomination: two conflict classes besides k00.
    of_2 = await in_council(client, task_queue, nominee=nominee_who_votes("ktnn.hd.uy-vien-2", "Đỗ Minh Khoa"))
    of_1 = await in_council(client, task_queue, nominee=nominee_who_votes("ktnn.hd.uy-vien-1", "Lê Thu Hà"))
    opened = await voting_session(client, task_queue, db_engine, of_2, of_1)
    session_id = opened.session_id
    assert opened.keys is not None
    classes = {c.class_id: c.excluded for c in opened.keys.classes}
    # Classes besides k00 are numbered in the order of what they exclude.
    assert classes == {"k00": [], "k01": [min(of_1, of_2)], "k02": [max(of_1, of_2)]}
    assert (await voter_class(client, session_id, "ktnn.hd.uy-vien-2")).excluded == [of_2]
    assert (await voter_class(client, session_id, CHAIR)).class_id == "k00"

    # The honest client refuses a choice on the voter's own nomination before taking a credential ...
    with pytest.raises(InvalidInput, match="conflict of interest"):
        await cast(client, session_id, "ktnn.hd.uy-vien-1", {of_1: Choice.FOR, of_2: Choice.FOR})
    assert "ktnn.hd.uy-vien-1" not in (await session_status(client, session_id)).voted
    # ... and seals RECUSE there: counted.
    honest = await cast(client, session_id, "ktnn.hd.uy-vien-1", {of_2: Choice.AGAINST})
    await cast(client, session_id, CHAIR, {of_1: Choice.FOR, of_2: Choice.FOR})
    # A crafted ballot: uy-vien-2's own credential (class excluding of_2) with a real choice on of_2. Its
    # plain shape is every ballot's: one sealed entry per candidate, whatever the class.
    credential = await credential_for(client, opened, "ktnn.hd.uy-vien-2")
    crafted = anonymous(opened, credential, {of_2: Choice.FOR, of_1: Choice.FOR})
    recusing = anonymous(opened, credential, {of_2: None, of_1: Choice.FOR})
    assert sorted(crafted.ballot.sealed_choices) == sorted(recusing.ballot.sealed_choices)
    assert {len(v) for v in crafted.ballot.sealed_choices.values()} == {
        len(v) for v in recusing.ballot.sealed_choices.values()
    }
    crafted_receipt = await cast_anonymous(client, session_id, crafted)
    await wait_until(client, session_id, lambda s: s.phase == SessionPhase.AWAITING_COUNT)
    for member in MEMBERS[:2]:
        await hand_in(client, db_engine, session_id, member, counting_key_of(member))
    closed = await wait_until(client, session_id, lambda s: s.phase == SessionPhase.CLOSED)
    assert closed.results is not None
    assert await check_receipt(client, honest.receipt) == (session_id, ReceiptState.COUNTED)
    assert await check_receipt(client, crafted_receipt.receipt) == (session_id, ReceiptState.SPOILED)
    tallies = {e.candidate.workflow_id: e.tally for e in closed.results}
    # A nominee is not among the members voting on themselves; the spoiled ballot is counted nowhere.
    assert (tallies[of_2].members, tallies[of_2].present, tallies[of_2].votes_for) == (2, 2, 1)
    assert (tallies[of_1].members, tallies[of_1].present, tallies[of_1].votes_for) == (2, 1, 1)
    async with db_engine.connect() as conn:
        cast_counts = set(
            (
                await conn.execute(
                    sa.select(ballot_minutes.c.ballots_cast, ballot_minutes.c.spoiled).where(
                        ballot_minutes.c.session_id == session_id
                    )
                )
            ).all()
        )
    assert cast_counts == {(3, 1)}


# ---- 6. turnout, quorum and the minutes ----------------------------------------------------------------------


async def test_voted_is_who_took_a_credential_and_the_quorum_counts_ballots(
    client: Client, task_queue: str, db_engine: AsyncEngine, council: list[str]
):
    opened = await voting_session(client, task_queue, db_engine, *council)
    session_id = opened.session_id
    everything: dict[str, Choice | None] = dict.fromkeys(council, Choice.FOR)
    # Two take a credential, one casts: two have "voted", one ballot is in, no quorum (2/3 of 3) yet.
    first = await credential_for(client, opened, "ktnn.hd.uy-vien-1")
    second = await credential_for(client, opened, "ktnn.hd.uy-vien-2")
    await cast_anonymous(client, session_id, anonymous(opened, first, everything))
    now = await session_status(client, session_id)
    assert (now.voted, now.ballots_cast, now.quorum_met) == (["ktnn.hd.uy-vien-1", "ktnn.hd.uy-vien-2"], 1, False)
    with pytest.raises(ActionRefused, match="no quorum yet: 1/3"):
        await chair_action(client, session_id, "close_voting", ChairAction(actor=CHAIR))
    await cast_anonymous(client, session_id, anonymous(opened, second, everything))
    assert (await session_status(client, session_id)).quorum_met
    await chair_action(client, session_id, "close_voting", ChairAction(actor=CHAIR))
    await wait_until(client, session_id, lambda s: s.phase == SessionPhase.AWAITING_COUNT)
    for member in (MEMBERS[1], MEMBERS[2]):
        await hand_in(client, db_engine, session_id, member, counting_key_of(member))
    closed = await wait_until(client, session_id, lambda s: s.phase == SessionPhase.CLOSED)
    assert closed.results is not None and all(e.tally.present == 2 for e in closed.results)
    async with db_engine.connect() as conn:
        columns = {
            c["name"] for c in await conn.run_sync(lambda sync: sa.inspect(sync).get_columns("ballot_participation"))
        }
        who = (
            await conn.execute(
                sa.select(ballot_participation.c.voter_id).where(ballot_participation.c.session_id == session_id)
            )
        ).scalars()
        voters = sorted(who)
    assert "receipt" not in columns
    assert voters == ["ktnn.hd.uy-vien-1", "ktnn.hd.uy-vien-2"]


# ---- runoffs reuse the shares ----------------------------------------------------------------------------------

BLOC_HEAD = "tandtc.khoi.truong"
BLOC_REPS = {"TANDTC": "tandtc.khoi.truong", "BTP": "btp.khoi.dai-dien", "KTNN": "ktnn.khoi.dai-dien"}
UNIT_STAFF = {"BTP": "btp.vutckt.le-thi-hoa", "KTNN": PROPOSER}


async def in_bloc(client: Client, task_queue: str, ministry: str) -> str:
    handle = await start(
        client,
        task_queue,
        "CO_THI_DUA_CP",
        ministry=ministry,
        proposer=UNIT_STAFF[ministry],
        reference=f"{uuid.uuid4().hex[:6]}/TTr-{ministry}",
    )
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    secretary = {"BTP": "btp.hd.thu-ky", "KTNN": SECRETARY}[ministry]
    await act(client, handle.id, "record_council_result", meeting(secretary))
    await wait_for_stage(client, handle.id, Stage.BLOC_VOTE)
    return handle.id


async def test_a_runoff_is_counted_with_the_shares_handed_in_for_round_one(
    client: Client, task_queue: str, db_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
):
    async with db_engine.connect() as conn:
        waiting = (
            await conn.execute(
                sa.text(
                    "SELECT workflow_id, ministry FROM nominations WHERE stage = 'BLOC_VOTE' AND bloc = 'NOI_CHINH' "
                    "AND origin_bloc IS NULL"
                )
            )
        ).all()
    for workflow_id, ministry in waiting:  # a bloc session takes up every nomination waiting there
        with contextlib.suppress(ActionRefused, NominationNotFound):
            await act(client, workflow_id, "withdraw", ReasonedAction(actor=UNIT_STAFF[ministry], reason="Dọn khối"))
    btp, ktnn = await in_bloc(client, task_queue, "BTP"), await in_bloc(client, task_queue, "KTNN")
    start_ = session_start(kind=BallotSessionKind.BLOC, scope="NOI_CHINH", opened_by=BLOC_HEAD, runoff_seconds=600)
    handle = await open_session(client, task_queue, start_, engine=db_engine)
    session_id = handle.id
    await wait_until(client, session_id, lambda s: {c.workflow_id for c in s.candidates} == {btp, ktnn})
    opened = await close_list(client, session_id, BLOC_HEAD)
    assert sorted(opened.committee) == sorted(BLOC_REPS.values())

    # Round 1. TANDTC's answer is lost once: asked again with the very same blinded values, the session gives
    # the same credential; different values would be a second credential, refused.
    head = BLOC_REPS["TANDTC"]
    held = await voter_class(client, session_id, head)
    assert opened.keys is not None and held is not None
    request, pending = prepare_request(opened.keys, session_id, 1, head, held.class_id)
    issue = await request_credential(client, session_id, request)
    assert await request_credential(client, session_id, request) == issue
    with pytest.raises(ActionRefused, match="already taken this round's ballot credential"):
        other, _ = prepare_request(opened.keys, session_id, 1, head, held.class_id)
        await request_credential(client, session_id, other)
    heads = finish(pending, issue)
    await cast_anonymous(client, session_id, anonymous(opened, heads, {btp: Choice.FOR, ktnn: Choice.FOR}))
    # Each other member organisation votes for the other's candidate only (its class recuses on its own): a tie.
    await cast(client, session_id, BLOC_REPS["BTP"], {ktnn: Choice.FOR})
    await cast(client, session_id, BLOC_REPS["KTNN"], {btp: Choice.FOR})
    await wait_until(client, session_id, lambda s: s.phase == SessionPhase.AWAITING_COUNT)
    for member in (BLOC_REPS["BTP"], BLOC_REPS["KTNN"]):
        await hand_in(client, db_engine, session_id, member, counting_key_of(member))
    runoff = await wait_until(client, session_id, lambda s: s.round == 2 and s.phase == SessionPhase.VOTING)
    assert (runoff.shares_in, runoff.voted, runoff.ballots_cast) == (2, [], 0)
    assert runoff.keys is not None and runoff.keys.round == 2
    assert runoff.keys.issuer.key_id != opened.keys.issuer.key_id  # each round signs with keys of its own

    # Round 2: TANDTC now prefers BTP's candidate. The count runs with round 1's shares: no AWAITING_COUNT.
    # Its first cast is lost after the credential was given (a timeout under load): the cast retried asks with
    # the very same blinded values, gets the same credential and casts once; new values would be refused.
    really_cast = ballot_client.cast_anonymous
    lost: list[str] = []

    async def answer_lost_once(*args: Any) -> Any:
        if not lost:
            lost.append(args[1])
            raise TimeoutError("the answer was lost")
        return await really_cast(*args)

    monkeypatch.setattr(ballot_client, "cast_anonymous", answer_lost_once)
    with pytest.raises(TimeoutError):
        await cast(client, session_id, BLOC_REPS["TANDTC"], {btp: Choice.FOR, ktnn: Choice.AGAINST})
    receipt = await cast(client, session_id, BLOC_REPS["TANDTC"], {btp: Choice.FOR, ktnn: Choice.AGAINST})
    assert lost == [session_id] and receipt.round == 2
    monkeypatch.undo()
    await cast(client, session_id, BLOC_REPS["BTP"], {ktnn: Choice.FOR})
    await cast(client, session_id, BLOC_REPS["KTNN"], {btp: Choice.FOR})
    closed = await wait_until(client, session_id, lambda s: s.phase == SessionPhase.CLOSED)
    assert closed.results is not None and len(closed.counted_receipts or []) == 6
    assert {e.candidate.workflow_id: e.result.value for e in closed.results} == {btp: "PASSED", ktnn: "FAILED"}
    assert await accepted_updates(client, session_id, "hand_in_share") == 2
    async with db_engine.connect() as conn:
        asked = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(notifications)
            .where(notifications.c.workflow_id == session_id, notifications.c.party.like("COUNTER:%"))
        )
    assert asked == 3  # the committee was asked once, for round 1
