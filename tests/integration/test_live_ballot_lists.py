"""A ballot list holds only live candidates, end to end on the dev server and PostgreSQL.

A nomination is on at most one open session's list. When it leaves its council or bloc stage while a session
holds it (withdrawn, returned, a typed-in result...), it leaves that list: taken off while the list is being
collected; struck once voting is open — shown struck out with the reason, its votes void and not counted, the
minutes saying WITHDRAWN_FROM_LIST with the reason, and no verdict sent to it. A cancelled session takes its
deadline with it. Each test runs on a ministry (and bloc) of its own, so no other test's nominations join.
"""

from __future__ import annotations

import asyncio
import html
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from api import create_app
from api.inbox import COOKIE
from client.ballots import cast, chair_action, close_list, open_session, session_status
from client.nominations import act, start_nomination, status
from domain.ballot_messages import ChairAction, MinutesResult, SessionPhase, SessionStatus
from domain.ballots import BallotSessionKind, Choice
from domain.catalog import policy_set
from domain.messages import ReasonedAction, Resubmission
from domain.nomination import Nomination
from domain.roster import Roster
from domain.stages import Stage
from domain.voting import Tally, evaluate
from scripts.stand_in_committee import voting_actors
from security.tokens import Keyring, issue_token
from store.roster import load_roster
from tests.asgi import call as asgi_call
from tests.factories import nomination_data
from tests.integration.helpers import count_now, enroll_counting_keys, meeting, passing_tally, wait_for_stage
from tests.integration.search_attrs import stage_due_at
from tests.integration.test_ballot_sessions import session_start, wait_candidates, wait_phase

pytestmark = pytest.mark.integration

F, A = Choice.FOR, Choice.AGAINST
COUNCIL, BLOC = BallotSessionKind.COUNCIL, BallotSessionKind.BLOC
WITHDRAWN_FROM_LIST = MinutesResult.WITHDRAWN_FROM_LIST
RING = Keyring(keys={"live-lists": "l" * 40}, current="live-lists")


@dataclass(frozen=True)
class Ministry:
    code: str
    staff: str
    secretary: str
    chair: str
    members: tuple[str, ...]  # the council's voting members, the chair first
    representative: str  # in the bloc


@dataclass(frozen=True)
class Bloc:
    code: str
    head: str
    ministries: tuple[Ministry, ...]  # the first one heads the bloc


async def fresh_bloc(engine: AsyncEngine) -> Bloc:
    """A bloc of three fictional ministries of this test's own, each with a council of three voting members."""
    tag = uuid.uuid4().hex[:5].upper()
    codes = [f"L{tag}{letter}" for letter in "ABC"]
    bloc_code = f"K{tag}"
    ministries, actors = [], []

    def person(actor_id: str, organisation: str, *grants: tuple[str, str]) -> dict[str, Any]:
        return {
            "id": actor_id,
            "full_name": f"Cán bộ {actor_id.split('.')[-1]}",
            "organisation": organisation,
            "roles": [{"role": role, "scope": scope} for role, scope in grants],
        }

    for i, code in enumerate(codes):
        p = code.lower()
        ministries.append(
            Ministry(
                code=code,
                staff=f"{p}.vutckt.can-bo",
                secretary=f"{p}.hd.thu-ky",
                chair=f"{p}.hd.chu-tich",
                members=(f"{p}.hd.chu-tich", f"{p}.hd.uy-vien-1", f"{p}.hd.uy-vien-2"),
                representative=f"{p}.khoi.dai-dien",
            )
        )
        actors += [
            person(f"{p}.vutckt.can-bo", code, ("UNIT_STAFF", code)),
            person(f"{p}.hd.thu-ky", code, ("COUNCIL_SECRETARY", code)),
            person(f"{p}.hd.chu-tich", code, ("COUNCIL_CHAIR", code), ("COUNCIL_MEMBER", code)),
            person(f"{p}.hd.uy-vien-1", code, ("COUNCIL_MEMBER", code)),
            person(f"{p}.hd.uy-vien-2", code, ("COUNCIL_MEMBER", code)),
            person(
                f"{p}.khoi.dai-dien",
                code,
                ("BLOC_REPRESENTATIVE", bloc_code),
                *((("BLOC_HEAD", bloc_code),) if i == 0 else ()),
            ),
        ]
    roster = Roster.model_validate(
        {
            "blocs": [{"code": bloc_code, "name": f"Khối thi đua thử nghiệm {tag}", "head_ministry": codes[0]}],
            "ministries": [{"code": m.code, "name": f"Bộ thử nghiệm {m.code}", "bloc": bloc_code} for m in ministries],
            "actors": actors,
        }
    )
    await load_roster(engine, roster)
    await enroll_counting_keys(engine, voting_actors(roster))  # each council's and the bloc's committee
    return Bloc(code=bloc_code, head=ministries[0].representative, ministries=tuple(ministries))


async def fresh_ministry(engine: AsyncEngine) -> Ministry:
    return (await fresh_bloc(engine)).ministries[0]


def nomination_of(ministry: Ministry, form: str = "BANG_KHEN_BO") -> Nomination:
    return Nomination.model_validate(
        nomination_data(
            form,
            ministry=ministry.code,
            proposer=ministry.staff,
            reference=f"{uuid.uuid4().hex[:6]}/TTr-{ministry.code}",
        )
    )


async def in_council(
    client: Client, queue: str, ministry: Ministry, form: str = "BANG_KHEN_BO", nomination: Nomination | None = None
) -> str:
    handle = await start_nomination(client, nomination or nomination_of(ministry, form), queue)
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    return handle.id


async def in_bloc(client: Client, queue: str, ministry: Ministry) -> str:
    workflow_id = await in_council(client, queue, ministry, "CO_THI_DUA_CP")
    await act(client, workflow_id, "record_council_result", meeting(ministry.secretary, **passing_tally(3)))
    await wait_for_stage(client, workflow_id, Stage.BLOC_VOTE)
    return workflow_id


async def eventually(client: Client, session_id: str, check: Any, what: str) -> SessionStatus:
    for _ in range(150):
        current = await session_status(client, session_id)
        if check(current):
            return current
        await asyncio.sleep(0.1)
    raise AssertionError(f"{session_id}: {what}; status {current}")


def listed(current: SessionStatus) -> set[str]:
    return {c.workflow_id for c in current.candidates}


def struck_ids(current: SessionStatus) -> set[str]:
    return {s.candidate.workflow_id for s in current.struck}


async def holder_of(engine: AsyncEngine, workflow_id: str) -> str | None:
    async with engine.connect() as conn:
        found = await conn.scalar(
            sa.text("SELECT session_id FROM ballot_list_members WHERE workflow_id = :w"), {"w": workflow_id}
        )
    return None if found is None else str(found)


async def minutes_rows(engine: AsyncEngine, session_id: str) -> list[Any]:
    async with engine.connect() as conn:
        result = await conn.execute(
            sa.text(
                "SELECT round, workflow_id, result, reason_vi, members, present, votes_for, votes_against "
                "FROM ballot_minutes WHERE session_id = :s ORDER BY round, workflow_id"
            ),
            {"s": session_id},
        )
        return list(result.all())


def chair(actor: str, reason: str) -> ChairAction:
    return ChairAction(actor=actor, reason=reason)


async def test_a_nomination_withdrawn_while_voting_is_struck_its_votes_void_and_the_minutes_say_so(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    body = await fresh_ministry(db_engine)
    kept, split, withdrawn = [await in_council(client, task_queue, body) for _ in range(3)]
    session = await open_session(client, task_queue, session_start(COUNCIL, body.code, body.secretary))
    await wait_candidates(client, session.id, 3)
    opened = await close_list(client, session.id, body.secretary)
    assert listed(opened) == {kept, split, withdrawn}
    first, second, third = body.members
    await cast(client, session.id, first, {kept: F, split: F, withdrawn: F})

    # The unit withdraws one nomination while voting is open.
    reason = "Cá nhân xin rút do chuyển công tác"
    await act(client, withdrawn, "withdraw", ReasonedAction(actor=body.staff, reason=reason))
    later = await eventually(client, session.id, lambda s: withdrawn in struck_ids(s), "the withdrawal is not struck")
    # A later voter sees it struck out with the reason, no longer on the list to vote on.
    assert listed(later) == {kept, split}
    [struck] = later.struck
    assert (struck.action, struck.to_stage, struck.round) == ("WITHDRAW", Stage.WITHDRAWN, 1)
    assert reason in struck.reason_vi and Stage.WITHDRAWN.label_vi in struck.reason_vi
    for _ in range(50):  # the session lets go of it in the register of lists
        if await holder_of(db_engine, withdrawn) is None:
            break
        await asyncio.sleep(0.1)
    assert await holder_of(db_engine, withdrawn) is None
    # The later voter's ballot page in the inbox shows it struck out with the reason, nothing to choose on it.
    app = create_app(client, keyring=RING, task_queue=task_queue, engine=db_engine)
    cookie = [("cookie", f"{COOKIE}={issue_token(RING, second)}")]
    page = await asgi_call(app, "GET", f"/inbox/sessions/{quote(session.id)}", None, cookie)
    assert page.status == 200, page.text
    text = html.unescape(page.text)
    struck_out = re.search(r'<section id="struck">(.*?)</section>', text, re.S)
    assert struck_out is not None, "the ballot page does not show the struck nomination"
    assert f"<del>{withdrawn}</del>" in struck_out.group(1) and reason in struck_out.group(1)
    assert f'<fieldset data-workflow-id="{withdrawn}"' not in text
    assert f'<fieldset data-workflow-id="{kept}"' in text
    # A ballot that leaves it out is valid; one still naming it is accepted, that choice void (the voter's
    # client seals the live list only).
    await cast(client, session.id, second, {kept: F, split: A})
    await cast(client, session.id, third, {kept: F, split: F, withdrawn: F})

    await count_now(client, db_engine, session.id)
    closed = await wait_phase(client, session.id, SessionPhase.CLOSED)
    assert closed.results is not None
    by_id = {e.candidate.workflow_id: e for e in closed.results}
    assert set(by_id) == {kept, split, withdrawn}
    gone = by_id[withdrawn]
    assert gone.result == WITHDRAWN_FROM_LIST, "a withdrawn nomination was given a result"
    # The first voter's FOR, sealed before the strike, is void.
    assert (gone.tally.present, gone.tally.votes_for, gone.tally.votes_against) == (0, 0, 0)
    assert gone.reason_vi.startswith("Rút khỏi danh sách bỏ phiếu") and reason in gone.reason_vi
    # The remaining candidates are counted as cast, by all three voters.
    policy = policy_set("2025.07").council_policy("BANG_KHEN_BO")
    assert (by_id[kept].tally.present, by_id[kept].tally.votes_for) == (3, 3)
    assert by_id[kept].result.value == "PASSED"
    split_tally = by_id[split].tally
    assert (split_tally.present, split_tally.votes_for, split_tally.votes_against) == (3, 2, 1)
    assert (
        by_id[split].result.value == evaluate(Tally(members=3, present=3, votes_for=2, votes_against=1), policy).result
    )

    # The minutes in PostgreSQL: withdrawn from the list with the reason, never PASSED.
    rows = {r.workflow_id: r for r in await minutes_rows(db_engine, session.id)}
    assert (rows[withdrawn].result, rows[withdrawn].votes_for, rows[withdrawn].present) == ("WITHDRAWN_FROM_LIST", 0, 0)
    assert reason in rows[withdrawn].reason_vi
    assert (rows[kept].result, rows[kept].votes_for) == ("PASSED", 3)

    # No verdict reached the withdrawn nomination; the others moved on with theirs.
    ended = await status(client, withdrawn)
    assert ended.stage == Stage.WITHDRAWN
    assert [t.action for t in ended.transitions if t.action == "BALLOT_RESULT"] == []
    moved = await wait_for_stage(client, kept, Stage.AWAITING_DECISION)
    assert moved.transitions[-1].action == "BALLOT_RESULT"

    await session.result()  # the session has ended: every write of its handlers is in
    async with db_engine.connect() as conn:
        told = (
            await conn.execute(
                sa.text("SELECT party, body FROM notifications WHERE workflow_id = :s AND subject LIKE :t"),
                {"s": session.id, "t": "%rút khỏi danh sách%"},
            )
        ).all()
        audited = (
            await conn.execute(
                sa.text(
                    "SELECT actor, entry FROM audit_log WHERE workflow_id = :s AND action = 'BALLOT_CANDIDATE_STRUCK'"
                ),
                {"s": session.id},
            )
        ).all()
    assert sorted(t.party for t in told) == sorted(f"VOTER:{m}" for m in body.members)
    assert all(withdrawn in t.body and reason in t.body for t in told)
    [(actor, entry)] = audited
    assert actor == body.staff and entry["details"]["nomination"] == withdrawn


async def test_a_returned_and_a_rejected_nomination_leave_the_list(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    body = await fresh_ministry(db_engine)
    dossier = nomination_of(body)
    returned = await in_council(client, task_queue, body, nomination=dossier)
    rejected, kept = [await in_council(client, task_queue, body) for _ in range(2)]
    session = await open_session(client, task_queue, session_start(COUNCIL, body.code, body.secretary))
    await wait_candidates(client, session.id, 3)

    # Returned for supplement while the list is being collected: simply taken off it.
    await act(
        client, returned, "return_dossier", ReasonedAction(actor=body.secretary, reason="Thiếu biên bản bình xét")
    )
    collecting = await eventually(client, session.id, lambda s: returned not in listed(s), "the return did not leave")
    assert listed(collecting) == {rejected, kept} and collecting.struck == []
    opened = await close_list(client, session.id, body.secretary)
    assert listed(opened) == {rejected, kept}

    # A meeting held on paper rejects one while the ballot is open: it is struck, with the typed-in result.
    failing = meeting(body.secretary, members=3, present=3, votes_for=0, votes_against=3)
    await act(client, rejected, "record_council_result", failing)
    voting = await eventually(client, session.id, lambda s: rejected in struck_ids(s), "the rejection is not struck")
    assert listed(voting) == {kept}
    assert voting.struck[0].to_stage == Stage.REJECTED and voting.struck[0].action == "RECORD_COUNCIL_RESULT"

    # The returned one is resubmitted while this session votes: it is not put back on its closed list.
    await act(client, returned, "resubmit", Resubmission(actor=body.staff, nomination=dossier))
    await wait_for_stage(client, returned, Stage.COUNCIL_REVIEW)
    for member in body.members:
        await cast(client, session.id, member, {kept: F})
    await count_now(client, db_engine, session.id)
    closed = await wait_phase(client, session.id, SessionPhase.CLOSED)
    assert closed.results is not None
    results = {e.candidate.workflow_id: e.result for e in closed.results}
    assert results == {kept: MinutesResult.PASSED, rejected: WITHDRAWN_FROM_LIST}
    ended = await status(client, rejected)
    assert ended.stage == Stage.REJECTED and "BALLOT_RESULT" not in [t.action for t in ended.transitions]
    assert (await status(client, returned)).stage == Stage.COUNCIL_REVIEW
    await wait_for_stage(client, kept, Stage.AWAITING_DECISION)

    # It waits for the council's next session, which takes it up.
    following = await open_session(client, task_queue, session_start(COUNCIL, body.code, body.secretary))
    next_list = await eventually(client, following.id, lambda s: returned in listed(s), "not taken up")
    assert listed(next_list) == {returned}
    assert await holder_of(db_engine, returned) == following.id
    await chair_action(client, following.id, "cancel", chair(body.chair, "Kết thúc kiểm thử"))


async def test_a_nomination_is_never_on_two_open_sessions(client: Client, task_queue: str, db_engine: AsyncEngine):
    body = await fresh_ministry(db_engine)
    waiting = [await in_council(client, task_queue, body) for _ in range(2)]
    first, second = await asyncio.gather(
        open_session(client, task_queue, session_start(COUNCIL, body.code, body.secretary)),
        open_session(client, task_queue, session_start(COUNCIL, body.code, body.chair)),
    )
    # One more reaches the council while both sessions collect their lists.
    arriving = await in_council(client, task_queue, body)
    everyone = {*waiting, arriving}

    async def lists() -> tuple[set[str], set[str]]:
        return listed(await session_status(client, first.id)), listed(await session_status(client, second.id))

    for _ in range(150):
        one, other = await lists()
        if one | other >= everyone:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # anything still on its way to a second list lands now
    one, other = await lists()
    assert one | other == everyone
    assert not one & other, f"on two open sessions at once: {sorted(one & other)}"
    for workflow_id in everyone:
        assert await holder_of(db_engine, workflow_id) == (first.id if workflow_id in one else second.id)

    # Voting in one session does not free its nominations for the other, which keeps its own list.
    holder, other_session = (first, second) if one else (second, first)
    held = one if one else other
    opened = await close_list(client, holder.id, body.secretary)
    assert listed(opened) == held
    assert listed(await session_status(client, other_session.id)) == everyone - held
    for session in (first, second):
        await chair_action(client, session.id, "cancel", chair(body.chair, "Kết thúc kiểm thử"))
    for workflow_id in everyone:
        for _ in range(50):
            if await holder_of(db_engine, workflow_id) is None:
                break
            await asyncio.sleep(0.1)
        assert await holder_of(db_engine, workflow_id) is None, "a cancelled session kept its list"


async def test_a_cancelled_session_takes_its_deadline_with_it(client: Client, task_queue: str, db_engine: AsyncEngine):
    body = await fresh_ministry(db_engine)
    nomination = await in_council(client, task_queue, body)
    deadline = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=8)
    session = await open_session(
        client, task_queue, session_start(COUNCIL, body.code, body.secretary, deadline=deadline)
    )
    await wait_candidates(client, session.id, 1)
    await close_list(client, session.id, body.secretary)
    for _ in range(100):  # the session tells its nomination when its vote is due
        if (await status(client, nomination)).due_at == deadline and await stage_due_at(client, nomination) == deadline:
            break
        await asyncio.sleep(0.1)
    assert (await status(client, nomination)).due_at == deadline
    assert await stage_due_at(client, nomination) == deadline

    await chair_action(client, session.id, "cancel", chair(body.chair, "Hoãn họp Hội đồng"))
    assert (await session.result()).phase == SessionPhase.CANCELLED
    for _ in range(100):
        if (await status(client, nomination)).due_at is None and await stage_due_at(client, nomination) is None:
            break
        await asyncio.sleep(0.1)
    current = await status(client, nomination)
    assert current.stage == Stage.COUNCIL_REVIEW and current.due_at is None, "the dead deadline is still due"
    assert await stage_due_at(client, nomination) is None
    assert await holder_of(db_engine, nomination) is None

    # Past the dead deadline: nothing escalates from it.
    await asyncio.sleep(max((deadline - datetime.now(UTC)).total_seconds(), 0) + 3)
    after = await status(client, nomination)
    assert [t.action for t in after.transitions if t.action == "ESCALATED"] == []
    assert after.due_at is None

    # The next session takes it up, and sets its own deadline when its list closes.
    following = await open_session(client, task_queue, session_start(COUNCIL, body.code, body.secretary))
    await eventually(client, following.id, lambda s: nomination in listed(s), "not taken up by the next session")
    reopened = await close_list(client, following.id, body.secretary)
    for _ in range(100):
        if (await status(client, nomination)).due_at == reopened.deadline:
            break
        await asyncio.sleep(0.1)
    assert (await status(client, nomination)).due_at == reopened.deadline
    await chair_action(client, following.id, "cancel", chair(body.chair, "Kết thúc kiểm thử"))


async def bloc_session(client: Client, queue: str, bloc: Bloc, count: int) -> str:
    session = await open_session(client, queue, session_start(BLOC, bloc.code, bloc.head, runoff_seconds=600))
    await wait_candidates(client, session.id, count)
    await close_list(client, session.id, bloc.head)
    return session.id


async def test_a_bloc_candidate_withdrawn_while_voting_is_out_of_the_ranking_and_the_quota(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    bloc = await fresh_bloc(db_engine)
    head, b, c = bloc.ministries
    ours, theirs = await in_bloc(client, task_queue, b), await in_bloc(client, task_queue, c)
    session_id = await bloc_session(client, task_queue, bloc, 2)
    # Each member organisation may vote on the others' candidates only; both would tie 2–2 for the one flag.
    await cast(client, session_id, head.representative, {ours: F, theirs: F})
    await act(client, theirs, "withdraw", ReasonedAction(actor=c.staff, reason="Đơn vị rút đề nghị Cờ thi đua"))
    await eventually(client, session_id, lambda s: theirs in struck_ids(s), "the withdrawal is not struck")
    # B's representative has nothing left to vote on; C's vote completes the round: no tie, no runoff.
    await cast(client, session_id, c.representative, {ours: F})
    await count_now(client, db_engine, session_id)
    closed = await wait_phase(client, session_id, SessionPhase.CLOSED)
    assert closed.round == 1 and closed.results is not None
    results = {e.candidate.workflow_id: e for e in closed.results}
    assert results[ours].result == MinutesResult.PASSED and "được suy tôn" in results[ours].reason_vi
    assert results[theirs].result == WITHDRAWN_FROM_LIST
    assert (await wait_for_stage(client, ours, Stage.CENTRAL_REVIEW)).stage == Stage.CENTRAL_REVIEW
    assert {(r.round, r.workflow_id, r.result) for r in await minutes_rows(db_engine, session_id)} == {
        (1, ours, "PASSED"),
        (1, theirs, "WITHDRAWN_FROM_LIST"),
    }


async def test_a_tied_candidate_withdrawn_while_the_bloc_head_decides_leaves_the_seat_to_the_other(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    bloc = await fresh_bloc(db_engine)
    head, b, c = bloc.ministries
    ours, theirs = await in_bloc(client, task_queue, b), await in_bloc(client, task_queue, c)
    session_id = await bloc_session(client, task_queue, bloc, 2)
    for round_ in (1, 2):  # 2–2 in round 1 and in the runoff: the tie goes to the bloc head
        await cast(client, session_id, head.representative, {ours: F, theirs: F})
        await cast(client, session_id, b.representative, {theirs: F})
        await cast(client, session_id, c.representative, {ours: F})
        await count_now(client, db_engine, session_id)  # round 1's shares count the runoff too
        if round_ == 1:
            await eventually(client, session_id, lambda s: s.round == 2 and s.phase == SessionPhase.VOTING, "no runoff")
    awaiting = await wait_phase(client, session_id, SessionPhase.AWAITING_HEAD)
    assert sorted(awaiting.tied) == sorted([ours, theirs])

    await act(
        client, theirs, "withdraw", ReasonedAction(actor=c.staff, reason="Rút đề nghị trước khi Trưởng Khối chọn")
    )
    closed = await wait_phase(client, session_id, SessionPhase.CLOSED)
    assert closed.results is not None
    results = {e.candidate.workflow_id: e.result for e in closed.results}
    assert results == {ours: MinutesResult.PASSED, theirs: WITHDRAWN_FROM_LIST}
    assert (await wait_for_stage(client, ours, Stage.CENTRAL_REVIEW)).stage == Stage.CENTRAL_REVIEW
    assert (await status(client, theirs)).stage == Stage.WITHDRAWN
    rows = {(r.round, r.workflow_id): r for r in await minutes_rows(db_engine, session_id)}
    # Round 2's minutes first said both awaited the head; they now say what became of each.
    assert rows[(2, ours)].result == "PASSED" and "chờ Trưởng Khối" not in rows[(2, ours)].reason_vi
    assert rows[(2, theirs)].result == "WITHDRAWN_FROM_LIST" and rows[(2, theirs)].votes_for == 0
