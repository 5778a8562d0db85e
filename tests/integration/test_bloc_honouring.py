"""The bloc's honouring vote end to end (real dev server, PostgreSQL): nominations that begin at the bloc, a
ballot session on a closed list with its own seats, ties settled as in every bloc vote (a runoff, then the
bloc head), and who may propose for the bloc."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from client.ballots import cast, decide_tie, open_session, session_status
from client.nominations import ProposalRefused, start_nomination, status
from domain.ballot_messages import JOIN_LIST_SIGNAL, SessionPhase, SessionStart, SessionStatus, TieDecision
from domain.ballots import BallotSessionKind, Candidate, Choice
from domain.errors import InvalidInput
from domain.nomination import Nomination
from domain.stages import Stage
from store.ballots import list_waiting
from tests.factories import current_year, nomination_data
from tests.integration.helpers import SHIPPED_ROSTER, count_now, signals_sent, start, wait_for_stage

pytestmark = pytest.mark.integration

BLOC, HEAD = "NOI_CHINH", "tandtc.khoi.truong"
REPS = {"TANDTC": "tandtc.khoi.truong", "BTP": "btp.khoi.dai-dien", "KTNN": "ktnn.khoi.dai-dien"}
MEMBER_NAMES = {m.code: m.name for m in SHIPPED_ROSTER.ministries}


def from_bloc(member: str, award_form: str = "CO_THI_DUA_CP", year: int | None = None, **overrides: Any) -> Nomination:
    """The bloc's own proposal of `member` (as a whole), by the bloc head, at the year's honouring."""
    year = year or current_year()
    data = nomination_data(
        award_form,
        year=year,
        ministry=member,
        proposer=HEAD,
        reference=f"{uuid.uuid4().hex[:6]}/SUYTON-{member}",
        nominee={"kind": "COLLECTIVE", "name": MEMBER_NAMES[member]},
        origin={"bloc": BLOC, "year": year, "bloc_year_id": f"bloc-year-{BLOC}-{year}"},
    )
    return Nomination.model_validate(data | overrides)


async def proposed(client: Client, task_queue: str, engine: AsyncEngine, nomination: Nomination) -> str:
    handle = await start_nomination(client, nomination, task_queue, engine=engine)
    await wait_for_stage(client, handle.id, Stage.BLOC_VOTE)
    return handle.id


def honouring_start(candidates: list[str], seats: int | None, **overrides: Any) -> SessionStart:
    fields: dict[str, Any] = {
        "kind": BallotSessionKind.BLOC,
        "scope": BLOC,
        "meeting_ref": f"SUYTON-{uuid.uuid4().hex[:8]}",
        "opened_by": HEAD,
        "deadline": datetime.now(UTC) + timedelta(minutes=10),
        "policy_version": "2026.01",
        "reminder_before_seconds": 0,
        "runoff_seconds": 600,
        "candidates": candidates,
        "seats": seats,
    }
    return SessionStart.model_validate(fields | overrides)


async def wait_until(client: Client, session_id: str, done: Any, timeout: float = 30) -> SessionStatus:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        current = await session_status(client, session_id)
        if done(current):
            return current
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{session_id} is {current.phase} in round {current.round}")
        await asyncio.sleep(0.1)


async def test_a_closed_list_with_two_seats_a_runoff_and_the_head_deciding(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    vks = await proposed(client, task_queue, db_engine, from_bloc("VKSNDTC"))
    btp = await proposed(client, task_queue, db_engine, from_bloc("BTP"))
    ktnn = await proposed(client, task_queue, db_engine, from_bloc("KTNN"))
    # The route begins at the bloc: no council, and no open bloc session takes them up meanwhile.
    for wf in (vks, btp, ktnn):
        current = await status(client, wf)
        assert current.stage == Stage.BLOC_VOTE and current.bloc == BLOC
        assert [(t.from_stage, t.to_stage) for t in current.transitions] == [(Stage.PROPOSED, Stage.BLOC_VOTE)]

    handle = await open_session(client, task_queue, honouring_start([vks, btp, ktnn], 2), engine=db_engine)
    session_id = handle.id
    # The list is closed as the session opens: voting opens with no chair's action, on exactly the three.
    voting = await wait_until(client, session_id, lambda s: s.phase == SessionPhase.VOTING and s.keys is not None)
    assert [c.workflow_id for c in voting.candidates] == [vks, btp, ktnn]
    # The bloc head proposed them for the bloc: no conflict there (TANDTC's representative votes on all three).
    assert all(c.proposer_actor_id is None for c in voting.candidates)

    # Round 1: VKSNDTC (no representative of its own: three may vote on it) gets 3; BTP and KTNN, whose own
    # representatives do not vote on them, get 2 each: VKSNDTC takes a seat, BTP and KTNN tie for the other.
    await cast(client, session_id, REPS["TANDTC"], {vks: Choice.FOR, btp: Choice.FOR, ktnn: Choice.FOR})
    await cast(client, session_id, REPS["BTP"], {vks: Choice.FOR, ktnn: Choice.FOR})
    await cast(client, session_id, REPS["KTNN"], {vks: Choice.FOR, btp: Choice.FOR})
    await count_now(client, db_engine, session_id)
    runoff = await wait_until(client, session_id, lambda s: s.round == 2 and s.phase == SessionPhase.VOTING)
    assert sorted(c.workflow_id for c in runoff.candidates) == sorted([btp, ktnn])
    assert (await status(client, vks)).stage == Stage.BLOC_VOTE  # nothing goes out before the session closes

    # The runoff for the one seat left: still 2–2.
    await cast(client, session_id, REPS["TANDTC"], {btp: Choice.FOR, ktnn: Choice.FOR})
    await cast(client, session_id, REPS["BTP"], {ktnn: Choice.FOR})
    await cast(client, session_id, REPS["KTNN"], {btp: Choice.FOR})
    await count_now(client, db_engine, session_id)
    waiting = await wait_until(client, session_id, lambda s: s.phase == SessionPhase.AWAITING_HEAD)
    assert sorted(waiting.tied) == sorted([btp, ktnn]) and waiting.seats_left == 1

    closed = await decide_tie(client, session_id, TieDecision(actor=HEAD, choose=[ktnn]))
    assert closed.phase == SessionPhase.CLOSED and closed.results is not None
    results = {e.candidate.workflow_id: e for e in closed.results}
    assert {wf: e.result.value for wf, e in results.items()} == {vks: "PASSED", ktnn: "PASSED", btp: "FAILED"}
    assert "trong chỉ tiêu 2" in results[vks].reason_vi
    assert "được Trưởng Khối chọn" in results[ktnn].reason_vi
    # Winners go on to the central board; the loser's proposal ends.
    for wf in (vks, ktnn):
        assert (await wait_for_stage(client, wf, Stage.CENTRAL_REVIEW)).stage == Stage.CENTRAL_REVIEW
    rejected = await wait_for_stage(client, btp, Stage.REJECTED)
    assert rejected.transitions[-1].details["session_id"] == session_id


async def test_only_the_bloc_head_proposes_for_the_bloc(client: Client, task_queue: str, db_engine: AsyncEngine):
    for actor in ("btp.vutckt.le-thi-hoa", REPS["BTP"]):
        nomination = from_bloc("BTP", proposer=actor)
        # The client refuses before anything starts ...
        with pytest.raises(ProposalRefused, match=rf"actor '{re.escape(actor)}' may not propose on behalf of bloc"):
            await start_nomination(client, nomination, task_queue, engine=db_engine)
        # ... and a start that skips the client's check ends REFUSED, with the reason.
        handle = await start_nomination(client, nomination, task_queue)
        refused = await handle.result()
        assert refused.stage == Stage.REFUSED
        assert refused.refusal_reason is not None and "BLOC_HEAD for NOI_CHINH" in refused.refusal_reason
    # The bloc head proposes only a member as a whole, for a form its honours name.
    part = from_bloc("BTP", nominee={"kind": "COLLECTIVE", "name": "Vụ Pháp luật hình sự – hành chính"})
    with pytest.raises(InvalidInput, match=r"nominee"):
        await start_nomination(client, part, task_queue, engine=db_engine)
    other = from_bloc("BTP", award_form="CO_THI_DUA_BO")
    with pytest.raises(InvalidInput, match=r"award_form"):
        await start_nomination(client, other, task_queue, engine=db_engine)


async def test_a_closed_list_refuses_others_and_names_what_it_cannot_take(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    year = current_year() - 1
    tandtc = await proposed(client, task_queue, db_engine, from_bloc("TANDTC", "BANG_KHEN_TTG", year))
    # An ordinary nomination waiting at the unit's council: not at the bloc's stage.
    ordinary = await start(client, task_queue, "CO_THI_DUA_CP")
    await wait_for_stage(client, ordinary.id, Stage.COUNCIL_REVIEW)
    # An open bloc session's take-up leaves the bloc's own proposal alone: only a list naming it takes it.
    waiting = await list_waiting(db_engine, BallotSessionKind.BLOC, BLOC)
    assert tandtc not in {c.workflow_id for c in waiting}
    [named] = await list_waiting(db_engine, BallotSessionKind.BLOC, BLOC, named=[tandtc])
    assert named.workflow_id == tandtc and named.proposing_organisation == "TANDTC"

    # The client names the field at fault.
    with pytest.raises(InvalidInput) as refused:
        await open_session(client, task_queue, honouring_start([tandtc], 2), engine=db_engine)
    assert [e.field for e in refused.value.errors] == ["seats"]
    with pytest.raises(InvalidInput) as refused:
        await open_session(
            client, task_queue, honouring_start([tandtc, ordinary.id, "nomination-x"], 1), engine=db_engine
        )
    messages = {e.message for e in refused.value.errors if e.field == "candidates"}
    assert any(m.startswith(f"{ordinary.id}: ") for m in messages) and any("nomination-x" in m for m in messages)

    # A start that skips the client: the session claims what it can, then cancels naming what it could not.
    slipped = await open_session(client, task_queue, honouring_start([tandtc, "nomination-x"], 1))
    cancelled = await wait_until(client, slipped.id, lambda s: s.phase == SessionPhase.CANCELLED)
    assert cancelled.cancel_reason is not None
    assert "candidates: nomination-x: unknown, or not waiting at BLOC_VOTE" in cancelled.cancel_reason
    assert (await status(client, tandtc)).stage == Stage.BLOC_VOTE  # let go, for the next session

    handle = await open_session(client, task_queue, honouring_start([tandtc], None), engine=db_engine)
    listed = await wait_until(client, handle.id, lambda s: s.phase == SessionPhase.VOTING)
    assert [c.workflow_id for c in listed.candidates] == [tandtc]
    # Another nomination's offer is refused: the list holds the named nominations only.
    offer = Candidate(
        workflow_id=ordinary.id, award_form="CO_THI_DUA_CP", nominee_name="Phòng A", proposing_organisation="BTP"
    )
    await handle.signal(JOIN_LIST_SIGNAL, offer)  # what a nomination's offer sends (activities/ballots.py)
    assert (await signals_sent(client, handle.id, ordinary.id)).count("ballot_list_refused") == 1
    assert [c.workflow_id for c in (await session_status(client, handle.id)).candidates] == [tandtc]
    assert (await status(client, ordinary.id)).stage == Stage.COUNCIL_REVIEW  # told, and not moved by it
