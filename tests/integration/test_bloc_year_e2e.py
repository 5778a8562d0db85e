"""The bloc's year end to end: the internal-affairs bloc (NOI_CHINH), eight member organisations with
fictional scores, carried through one year by the people's client calls on the time-skipping server (the
deadlines and 1 January are timers), with a worker on a database of the module's own.

The year is 2031: eight years after KTNN headed 2023 (the rotation file's anchor), one full turn of the
eight-member order, so KTNN heads again and hands the rotating flag to TANDTC on 1 January 2032 — the
handover of the seed article, a turn later. Each step is checked on the workflow's status and on the rows
PostgreSQL holds:

pledge published and signed by all eight → IN_YEAR (the pledge printed with its signatories); the call for
self-assessments; seven submit, BTLBVL does not: reminded before the deadline (the outbox has the reminder),
scored as the table's no_submission says after it; the panel (the deputy's representative) lowers one of BTP's
scores with a reason, which the scorecard shows and which moves BTP from first to third; the review closes →
the ranking (printed, and as XLSX); the Government flag's vote (VKSNDTC and TTCP tied first for one seat) ties
again in its runoff and the bloc head decides; the Prime Minister's certificate's vote passes its two; the
proposals reach CENTRAL_REVIEW, the central board approves them; the election (ROTATION) names TANDTC; on
1 January the roster's BLOC_HEAD moves to TANDTC's representative, the flag's handover is recorded and the 2032
bloc year opens, whose new head publishes its pledge; the Prime Minister's decision awards the three proposals
and the 2031 year closes.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import BytesIO
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from client.access import reader_scope
from client.ballots import cast, decide_tie, session_status, voter_class
from client.bloc_year import (
    BlocYearRefused,
    adjust_score,
    bloc_year_status,
    call_for_assessments,
    close_review,
    open_honouring,
    publish_pledge,
    record_election,
    sign_pledge,
    start_bloc_year,
    submit_assessment,
)
from client.decisions import decision_progress, start_decision
from client.documents import pledge_document_for, ranking_document_for
from client.nominations import ActionRefused, NominationNotFound, act, status
from documents.render import render_html
from domain.ballot_messages import SessionPhase, SessionStatus, TieDecision
from domain.ballots import Choice
from domain.bloc.policy import NoSubmission, bloc_rotation, bloc_scoring_policy
from domain.bloc.ranking import rank_members
from domain.bloc.rotation import leadership_for
from domain.bloc.scoring import SelfAssessment, score_member, submission_deadline, submission_reminder_at
from domain.bloc.year import BlocYearPhase, BlocYearStatus, ElectionMethod, bloc_year_id
from domain.catalog import Authority
from domain.decisions import DecisionRef, DecisionRequest
from domain.messages import CentralApproval
from domain.roster import Role, Roster
from domain.stages import Stage
from scripts.stand_in_committee import voting_actors
from store.roster import load_roster
from tests.integration.conftest import ROOT
from tests.integration.helpers import CENTRAL, count_now, enroll_counting_keys
from tests.integration.test_timers import move_clock_to
from workflows.nomination import NominationWorkflow
from workflows.search_attributes import BLOC_YEAR_PHASE

pytestmark = pytest.mark.integration

BLOC = "NOI_CHINH"
YEAR = 2031
POLICY = bloc_scoring_policy("NOI_CHINH-2024.01")
ROTATION = bloc_rotation(BLOC)
LEADERSHIP = leadership_for(ROTATION, YEAR)  # KTNN heads 2031, TANDTC is deputy
NEXT = leadership_for(ROTATION, YEAR + 1)  # TANDTC heads 2032, VKSNDTC is deputy
LATE = "BTLBVL"  # submits nothing
ADJUSTED = "BTP"  # self-assessed first; the panel lowers NV1
TIED = ("TTCP", "VKSNDTC")  # tied first after the adjustment: the Government flag's vote
HEAD_CHOICE = "VKSNDTC"  # the bloc head's decision when the runoff ties again
ADJUST_REASON = "Chấm chéo: minh chứng NV1 chỉ chứng minh 20/25 điểm (thiếu báo cáo quý IV)"


def hanoi(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    """A Hanoi wall-clock time (UTC+7, no daylight saving) as UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=7)


# ---- the roster: the shipped one, the bloc's eight members with a representative each, KTNN heading ----


def year_roster() -> Roster:
    """config/roster.json with the bloc's other members and their representatives
    (config/roster-bloc-NOI_CHINH.json), BLOC_HEAD held by the representative of the year's head (KTNN)
    only: the roster a bloc headed by KTNN in 2031 would have."""
    shipped = json.loads((ROOT / "config" / "roster.json").read_text(encoding="utf-8"))
    extra = json.loads((ROOT / "config" / f"roster-bloc-{BLOC}.json").read_text(encoding="utf-8"))
    ministries = {m["code"]: m for m in shipped["ministries"]} | {m["code"]: m for m in extra["ministries"]}
    actors = {a["id"]: a for a in shipped["actors"]} | {a["id"]: a for a in extra["actors"]}
    head_reps = [
        a["id"]
        for a in actors.values()
        if a["organisation"] == LEADERSHIP.head
        and any(r == {"role": "BLOC_REPRESENTATIVE", "scope": BLOC} for r in a["roles"])
    ]
    assert head_reps, f"no representative of {LEADERSHIP.head} in the bloc's roster"
    for actor in actors.values():
        roles = [r for r in actor["roles"] if r != {"role": "BLOC_HEAD", "scope": BLOC}]
        if actor["id"] in head_reps:
            roles.append({"role": "BLOC_HEAD", "scope": BLOC})
        actor["roles"] = roles
    blocs = [b | {"head_ministry": LEADERSHIP.head} if b["code"] == BLOC else b for b in shipped["blocs"]]
    return Roster.model_validate(
        {"blocs": blocs, "ministries": list(ministries.values()), "actors": list(actors.values())}
    )


ROSTER = year_roster()
MEMBERS = tuple(m.code for m in ROSTER.ministries if m.bloc == BLOC)
REP = {
    m: next(a.id for a in ROSTER.actors if a.organisation == m and a.holds(Role.BLOC_REPRESENTATIVE, BLOC))
    for m in MEMBERS
}
EMAIL = {a.id: str(a.email) for a in ROSTER.actors}
NAME = {a.id: a.full_name for a in ROSTER.actors}
MINISTRY = {m.code: m.name for m in ROSTER.ministries}
HEAD = next(a.id for a in ROSTER.actors if a.holds(Role.BLOC_HEAD, BLOC))
PANEL = REP[LEADERSHIP.deputy]  # chấm chéo: the deputy's representative
NEW_HEAD = REP[NEXT.head]


# ---- the fictional self-assessments ------------------------------------------------------------------------

# Every criterion at its maximum, less these points; bonus and penalty items by occurrences.
SHEETS: dict[str, dict[str, Any]] = {
    "VKSNDTC": {"less": {"NV1": 1, "NV2": 1, "PT1": 2, "KT1": 2, "KH1": 3}, "bonuses": {"CD1": 2}},  # 91 + 2
    "TTCP": {"less": {"NV1": 1, "NV2": 1, "PT1": 2, "KT1": 2, "KH1": 3}, "bonuses": {"CD1": 2}},  # 91 + 2
    "BTP": {"less": {"KT1": 1, "KH1": 2, "KH2": 1}},  # 96, then NV1 25 → 20 by the panel: 91
    "BCA": {"less": {"NV1": 3, "PT1": 3, "PT2": 3, "KT1": 3}},  # 88
    "KTNN": {"less": {"NV1": 4, "PT1": 4, "PT2": 4, "KT1": 4}},  # 84
    "TANDTC": {"less": {"NV1": 4, "PT1": 4, "PT2": 4, "KT1": 4}, "penalties": {"TD1": 4}},  # 84 − 2
    "TCCT": {"less": {"NV1": 5, "PT1": 5, "PT2": 5, "KT1": 5}},  # 80
}
TOTALS = {"VKSNDTC": 93, "TTCP": 93, "BTP": 91, "BCA": 88, "KTNN": 84, "TANDTC": 82, "TCCT": 80, LATE: 0}


def sheet(member: str) -> dict[str, Any]:
    """The member's self-assessment as its representative types it (member, year and table are filled in by
    the client): a score per criterion with its evidence, declared bonus and penalty items."""
    spec = SHEETS[member]
    scores = {}
    for code, criterion in POLICY.criteria.items():
        points = criterion.max_points - spec["less"].get(code, 0)
        evidence = [{"reference": f"{member}-{code}/BC-{YEAR}", "title": f"Báo cáo minh chứng {code}"}]
        scores[code] = {"points": str(points), "evidence": evidence if criterion.evidence_required else []}
    bonuses = {
        code: {"occurrences": n, "evidence": [{"reference": f"{member}-{code}/QĐ-{YEAR}"}]}
        for code, n in spec.get("bonuses", {}).items()
    }
    penalties = {code: {"occurrences": n} for code, n in spec.get("penalties", {}).items()}
    return {"scores": scores, "bonuses": bonuses, "penalties": penalties}


# ---- reading back ------------------------------------------------------------------------------------


async def wait_year(
    client: Client, workflow_id: str, done: Callable[[BlocYearStatus], bool], what: str, timeout: float = 30
) -> BlocYearStatus:
    deadline = asyncio.get_running_loop().time() + timeout
    current: BlocYearStatus | None = None
    while True:
        try:
            current = await bloc_year_status(client, workflow_id)
            if done(current):
                return current
        except Exception:  # not started yet
            pass
        if asyncio.get_running_loop().time() > deadline:
            shown = None if current is None else (current.phase, current.tiers)
            raise AssertionError(f"{workflow_id}: {what} did not happen; last status {shown}")
        await asyncio.sleep(0.1)


async def wait_stage(client: Client, workflow_id: str, stage: Stage, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    current = None
    while asyncio.get_running_loop().time() < deadline:
        current = (await status(client, workflow_id)).stage
        if current == stage:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workflow_id} is at {current}, not {stage}")


async def query(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(sa.text(sql), params)).all())


async def query_until(engine: AsyncEngine, sql: str, done: Callable[[list[Any]], bool], **params: Any) -> list[Any]:
    """The rows once `done` holds of them (a step's write lands just after the state it records changes)."""
    rows: list[Any] = []
    for _ in range(100):
        rows = await query(engine, sql, **params)
        if done(rows):
            break
        await asyncio.sleep(0.1)
    return rows


async def eventually(read: Callable[[], Awaitable[Any]], expected: Any, timeout: float = 10) -> Any:
    """What `read` gives once it equals `expected`, or at the timeout (for the assertion to show): the register
    is written by an activity just after the state it records changes on a timer or a child's end."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await read()
        if got == expected or asyncio.get_running_loop().time() > deadline:
            return got
        await asyncio.sleep(0.1)


async def year_row(engine: AsyncEngine, workflow_id: str) -> Any:
    rows = await query(engine, "SELECT * FROM bloc_years WHERE workflow_id = :w", w=workflow_id)
    assert len(rows) == 1, f"{workflow_id}: {len(rows)} bloc_years rows"
    return rows[0]


async def row_reaches(engine: AsyncEngine, workflow_id: str, phase: BlocYearPhase) -> Any:
    """The register's row once it shows `phase` (the write lands just after the state changes on a timer)."""
    for _ in range(100):
        row = await year_row(engine, workflow_id)
        if row.phase == phase.value:
            return row
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workflow_id}: the bloc_years row is at {row.phase}, not {phase.value}")


async def phase_attribute(client: Client, workflow_id: str) -> str | None:
    described = await client.get_workflow_handle(workflow_id).describe()
    return described.typed_search_attributes.get(BLOC_YEAR_PHASE)


async def bloc_heads(engine: AsyncEngine) -> list[str]:
    rows = await query(
        engine,
        "SELECT actor_id FROM actor_roles WHERE role = 'BLOC_HEAD' AND scope = :b ORDER BY actor_id",
        b=BLOC,
    )
    return [r.actor_id for r in rows]


# ---- the honouring votes -----------------------------------------------------------------------------------


async def session_voting(client: Client, session_id: str, round_: int = 1, timeout: float = 60) -> SessionStatus:
    """The session once its round `round_` is open for voting (it starts after the year has named it, once
    the proposals wait at the bloc's vote)."""
    deadline = asyncio.get_running_loop().time() + timeout
    current: SessionStatus | None = None
    while asyncio.get_running_loop().time() < deadline:
        try:
            current = await session_status(client, session_id)
        except NominationNotFound:
            current = None
        if current is not None and current.phase == SessionPhase.VOTING and current.round == round_:
            return current
        await asyncio.sleep(0.1)
    shown = None if current is None else (current.phase, current.round, current.cancel_reason)
    raise AssertionError(f"{session_id} never opened round {round_} for voting: {shown}")


async def vote_for_all(client: Client, session_id: str, round_: int = 1) -> SessionStatus:
    """Every member's representative votes FOR every candidate its class may vote on (not its own
    organisation's): the tied stay tied."""
    current = await session_voting(client, session_id, round_)
    for voter in REP.values():
        excluded = set((await voter_class(client, session_id, voter)).excluded)
        choices = {c.workflow_id: Choice.FOR for c in current.candidates if c.workflow_id not in excluded}
        await cast(client, session_id, voter, choices)
    return current


async def honour_tier(
    env: WorkflowEnvironment, engine: AsyncEngine, workflow_id: str, meeting_ref: str
) -> BlocYearStatus:
    """The head opens the next tier's vote (three days to vote); returns the status naming its session."""
    opened = await open_honouring(
        env.client,
        engine,
        workflow_id,
        HEAD,
        deadline=await env.get_current_time() + timedelta(days=3),
        meeting_ref=meeting_ref,
    )
    assert opened.tiers[-1].session_id is not None, opened.tiers
    return opened


# ---- the year --------------------------------------------------------------------------------------------


async def test_the_blocs_year_from_pledge_to_next_years_pledge(
    skipping_env: WorkflowEnvironment, own_engine: AsyncEngine
):
    from worker import build_worker

    assert (LEADERSHIP.head, LEADERSHIP.deputy, NEXT.head, NEXT.deputy) == ("KTNN", "TANDTC", "TANDTC", "VKSNDTC")
    assert len(MEMBERS) == 8 and set(MEMBERS) == set(ROTATION.order)
    assert POLICY.submission.no_submission == NoSubmission.ZERO  # the late member is scored zero and ranked
    client, engine = skipping_env.client, own_engine
    await load_roster(engine, ROSTER)
    await enroll_counting_keys(engine, voting_actors(ROSTER))
    assert await bloc_heads(engine) == [HEAD]
    queue = f"bloc-year-{uuid.uuid4().hex[:8]}"

    # Monday 3 March 2031, 09:00 in Hanoi: the head opens the year and publishes the pledge.
    await move_clock_to(skipping_env, hanoi(YEAR, 3, 3))
    async with build_worker(client, engine, queue):
        with pytest.raises(BlocYearRefused, match="BLOC_HEAD"):
            await start_bloc_year(client, engine, queue, bloc=BLOC, year=YEAR, opened_by=REP["BTP"])
        year_id = await start_bloc_year(client, engine, queue, bloc=BLOC, year=YEAR, opened_by=HEAD)
        assert year_id == bloc_year_id(BLOC, YEAR)
        drafted = await wait_year(client, year_id, lambda s: bool(s.members), "opening")
        assert drafted.phase == BlocYearPhase.DRAFT
        assert drafted.leadership == LEADERSHIP and drafted.members == tuple(sorted(MEMBERS))

        published = await publish_pledge(client, engine, year_id, HEAD)
        assert published.phase == BlocYearPhase.PLEDGE and published.policy_version == POLICY.version

        # 1. The pledge (giao ước thi đua): every member's representative signs for its own organisation.
        with pytest.raises(BlocYearRefused):
            await sign_pledge(client, engine, year_id, REP["BCA"], member="BTP")  # not for another member
        for i, member in enumerate(MEMBERS):
            signed = await sign_pledge(client, engine, year_id, REP[member])
            if i == 0:  # once each
                with pytest.raises(ActionRefused, match="đã ký"):
                    await sign_pledge(client, engine, year_id, REP[member])
            if i < len(MEMBERS) - 1:
                assert signed.phase == BlocYearPhase.PLEDGE
        assert signed.phase == BlocYearPhase.IN_YEAR
        assert {s.member: s.actor for s in signed.signatures} == REP
        signatures = await query(
            engine, "SELECT member, actor FROM bloc_pledge_signatures WHERE workflow_id = :w", w=year_id
        )
        assert {r.member: r.actor for r in signatures} == REP
        assert (await year_row(engine, year_id)).phase == BlocYearPhase.IN_YEAR.value
        # The signed pledge as the bloc prints it: the table and every member organisation's signature.
        head_scope = await reader_scope(engine, HEAD)
        pledge = await pledge_document_for(
            client, engine, head_scope, year_id, queue, made_at=await skipping_env.get_current_time()
        )
        printed = render_html(pledge)
        assert POLICY.version in printed and "Chưa ký" not in printed
        assert all(NAME[REP[m]] in printed for m in MEMBERS), [m for m in MEMBERS if NAME[REP[m]] not in printed]

        # 2. Monday 3 November: the head calls for the self-assessments; 15 working days, a reminder 3 before.
        called_at = hanoi(YEAR, 11, 3)
        await move_clock_to(skipping_env, called_at)
        called = await call_for_assessments(client, engine, year_id, HEAD)
        deadline = submission_deadline(POLICY, called_at)
        reminder_at = submission_reminder_at(POLICY, deadline)
        assert called.phase == BlocYearPhase.SELF_ASSESSMENT
        assert (called.assessment_deadline, called.reminder_at) == (deadline, reminder_at)
        assert deadline == datetime.fromisoformat("2031-11-26T00:00:00+07:00")
        assert reminder_at == datetime.fromisoformat("2031-11-19T08:00:00+07:00")

        # Seven members submit; BTLBVL does not.
        for member in MEMBERS:
            if member != LATE:
                submitted = await submit_assessment(client, engine, year_id, REP[member], sheet(member))
        assert submitted.phase == BlocYearPhase.SELF_ASSESSMENT
        assert sorted(a.member for a in submitted.assessments) == sorted(set(MEMBERS) - {LATE})
        stored = await query(
            engine, "SELECT member, content_sha256 FROM bloc_self_assessments WHERE workflow_id = :w", w=year_id
        )
        assert {r.member: r.content_sha256 for r in stored} == {
            a.member: a.content_sha256 for a in submitted.assessments
        }

        # 3. The reminder, before the deadline: only the member that has not submitted, in the outbox.
        await move_clock_to(skipping_env, reminder_at + timedelta(minutes=5))
        reminded = await wait_year(client, year_id, lambda s: bool(s.reminded), "the reminder")
        assert reminded.reminded == (LATE,) and reminded.phase == BlocYearPhase.SELF_ASSESSMENT
        outbox = await query_until(
            engine,
            "SELECT recipients FROM notifications WHERE workflow_id = :w AND subject ILIKE :s",
            bool,
            w=year_id,
            s="%nhắc nộp bản tự chấm điểm%",
        )
        assert [list(r.recipients) for r in outbox] == [[EMAIL[REP[LATE]]]]

        # 4. The deadline passes: BTLBVL is late, scored by the table's no_submission rule; the review begins.
        await move_clock_to(skipping_env, deadline + timedelta(minutes=5))
        review = await wait_year(client, year_id, lambda s: s.phase == BlocYearPhase.REVIEW, "the deadline")
        assert review.late == (LATE,)
        await row_reaches(engine, year_id, BlocYearPhase.REVIEW)
        with pytest.raises(ActionRefused):
            await submit_assessment(client, engine, year_id, REP[LATE], sheet("TCCT"))

        # 5. Chấm chéo: the deputy's representative lowers BTP's NV1 with the reason; a member outside the
        # panel may not.
        adjustment = {"kind": "CRITERION", "member": ADJUSTED, "code": "NV1", "points": "20", "reason": ADJUST_REASON}
        with pytest.raises(BlocYearRefused):
            await adjust_score(client, engine, year_id, REP["BCA"], adjustment)
        adjusted = await adjust_score(client, engine, year_id, PANEL, adjustment)
        assert [(a.actor, a.adjustment.member, a.adjustment.reason) for a in adjusted.adjustments] == [
            (PANEL, ADJUSTED, ADJUST_REASON)
        ]
        kept = await query(
            engine, "SELECT member, code, reason, actor FROM bloc_score_adjustments WHERE workflow_id = :w", w=year_id
        )
        assert [tuple(r) for r in kept] == [(ADJUSTED, "NV1", ADJUST_REASON, PANEL)]

        # 6. The head closes the review: the scorecards and the ranking.
        closed = await close_review(client, engine, year_id, HEAD)
        assert closed.phase == BlocYearPhase.HONOURING and closed.standings is not None
        totals = {row.member: row.total for row in closed.standings.rows}
        assert totals == {m: Decimal(t) for m, t in TOTALS.items()}
        ranks = {row.member: row.rank for row in closed.standings.rows}
        assert ranks == {"TTCP": 1, "VKSNDTC": 1, "BTP": 3, "BCA": 4, "KTNN": 5, "TANDTC": 6, "TCCT": 7, LATE: 8}
        assert [t.members for t in closed.standings.ties] == [TIED]
        cards = {c.member: c for c in closed.scorecards}
        nv1 = next(line for line in cards[ADJUSTED].criteria if line.code == "NV1")
        assert (nv1.self_points, nv1.final_points, nv1.adjusted_reason) == (Decimal(25), Decimal(20), ADJUST_REASON)
        assert not cards[LATE].submitted and cards[LATE].ranked and cards[LATE].total == 0
        # Without the panel's adjustment BTP would have stood first, alone.
        assessments = {
            m: SelfAssessment.model_validate({"member": m, "year": YEAR, "policy_version": POLICY.version} | sheet(m))
            for m in SHEETS
        }
        unadjusted = rank_members(POLICY, [score_member(POLICY, m, assessments.get(m), []) for m in MEMBERS])
        assert [row.member for row in unadjusted.rows if row.rank == 1] == [ADJUSTED]
        scorecards = await query(
            engine, "SELECT member, rank, total FROM bloc_scorecards WHERE workflow_id = :w", w=year_id
        )
        assert {r.member: (r.rank, r.total) for r in scorecards} == {m: (ranks[m], totals[m]) for m in MEMBERS}
        assert (await year_row(engine, year_id)).phase == BlocYearPhase.HONOURING.value
        # The ranking as a report: printable with the panel's reason, and as XLSX with the totals.
        ranking, workbook = await ranking_document_for(
            client, engine, head_scope, year_id, queue, made_at=await skipping_env.get_current_time()
        )
        assert ADJUST_REASON in render_html(ranking)
        ranked = load_workbook(BytesIO(workbook)).active
        assert ranked is not None
        cells = [list(r) for r in ranked.iter_rows(values_only=True)]
        adjusted_row = next(r for r in cells if MINISTRY[ADJUSTED] in r)
        assert adjusted_row[0] == 3 and Decimal(str(adjusted_row[-2])) == TOTALS[ADJUSTED], adjusted_row

        # 7. The Government flag (quota 1): the two tied first go to the bloc's secret ballot for one seat.
        flag = (await honour_tier(skipping_env, engine, year_id, f"SUYTON-CO-{YEAR}")).tiers[0]
        assert (flag.award_form, flag.candidates, flag.seats) == ("CO_THI_DUA_CP", TIED, 1)
        assert flag.session_id is not None and set(flag.nominations) == set(TIED)
        for wf in flag.nominations.values():
            await wait_stage(client, wf, Stage.BLOC_VOTE)
        await vote_for_all(client, flag.session_id)  # 7 for each: a tie
        await count_now(client, engine, flag.session_id)  # tied: a runoff round between the two
        runoff = await vote_for_all(client, flag.session_id, round_=2)  # tied again
        assert sorted(c.workflow_id for c in runoff.candidates) == sorted(flag.nominations.values())
        waiting = await count_now(client, engine, flag.session_id)
        assert waiting.phase == SessionPhase.AWAITING_HEAD and waiting.seats_left == 1
        assert sorted(waiting.tied) == sorted(flag.nominations.values())
        decided = await decide_tie(
            client, flag.session_id, TieDecision(actor=HEAD, choose=[flag.nominations[HEAD_CHOICE]])
        )
        assert decided.phase == SessionPhase.CLOSED
        after_flag = await wait_year(client, year_id, lambda s: s.tiers[0].proposed != (), "the flag's vote")
        assert after_flag.tiers[0].proposed == (HEAD_CHOICE,) and after_flag.phase == BlocYearPhase.HONOURING
        loser = next(m for m in TIED if m != HEAD_CHOICE)
        await wait_stage(client, flag.nominations[HEAD_CHOICE], Stage.CENTRAL_REVIEW)
        await wait_stage(client, flag.nominations[loser], Stage.REJECTED)

        # 8. The Prime Minister's certificate (quota 2): TTCP (not seated by the flag) and BTP, two seats.
        certificate = (await honour_tier(skipping_env, engine, year_id, f"SUYTON-BK-{YEAR}")).tiers[1]
        assert (certificate.award_form, certificate.candidates, certificate.seats) == (
            "BANG_KHEN_TTG",
            (loser, ADJUSTED),
            2,
        )
        assert certificate.session_id is not None
        for wf in certificate.nominations.values():
            await wait_stage(client, wf, Stage.BLOC_VOTE)
        await vote_for_all(client, certificate.session_id)
        counted = await count_now(client, engine, certificate.session_id)
        assert counted.phase == SessionPhase.CLOSED
        election = await wait_year(
            client, year_id, lambda s: s.phase == BlocYearPhase.ELECTION, "the certificate's vote"
        )
        assert election.tiers[1].proposed == (loser, ADJUSTED)
        proposals = {
            flag.nominations[HEAD_CHOICE]: HEAD_CHOICE,
            certificate.nominations[loser]: loser,
            certificate.nominations[ADJUSTED]: ADJUSTED,
        }

        async def tier_rows() -> list[tuple[str, list[str]]]:
            return [(t["award_form"], t["proposed"]) for t in (await year_row(engine, year_id)).tiers]

        voted = [("CO_THI_DUA_CP", [HEAD_CHOICE]), ("BANG_KHEN_TTG", [loser, ADJUSTED])]
        assert await eventually(tier_rows, voted) == voted

        # 9. The proposals reach the central board, which approves them (the decision follows).
        for wf in proposals:
            await wait_stage(client, wf, Stage.CENTRAL_REVIEW)
            await act(client, wf, NominationWorkflow.approve, CentralApproval(actor=CENTRAL))
            await wait_stage(client, wf, Stage.AWAITING_DECISION)

        # 10. The conference's choice of next year's head by the rotation order: TANDTC, deputy VKSNDTC.
        elected = await record_election(client, engine, year_id, HEAD, method=ElectionMethod.ROTATION)
        assert elected.phase == BlocYearPhase.HANDOVER and elected.next_leadership == NEXT
        leadership = await query(
            engine, "SELECT year, head, deputy, method FROM bloc_leadership WHERE bloc = :b", b=BLOC
        )
        assert [tuple(r) for r in leadership] == [(YEAR + 1, NEXT.head, NEXT.deputy, "ROTATION")]

        # 11. Not before 1 January: KTNN still heads the bloc on New Year's Eve.
        await move_clock_to(skipping_env, hanoi(YEAR, 12, 31, 23, 0))
        await asyncio.sleep(0.5)
        assert (await bloc_year_status(client, year_id)).phase == BlocYearPhase.HANDOVER
        assert await bloc_heads(engine) == [HEAD]

        # 1 January 2032: the head's role and the Cờ luân lưu pass to TANDTC; the 2032 year opens.
        await move_clock_to(skipping_env, hanoi(YEAR + 1, 1, 1, 0, 5))
        following = await wait_year(client, year_id, lambda s: s.phase == BlocYearPhase.FOLLOWING, "the handover")
        next_id = bloc_year_id(BLOC, YEAR + 1)
        assert following.next_year_id == next_id
        assert following.flag_out is not None
        assert (following.flag_out.year, following.flag_out.from_member, following.flag_out.to_member) == (
            YEAR + 1,
            LEADERSHIP.head,
            NEXT.head,
        )
        assert await eventually(lambda: bloc_heads(engine), [NEW_HEAD]) == [NEW_HEAD]
        head_ministry = await query(engine, "SELECT head_ministry FROM blocs WHERE code = :b", b=BLOC)
        assert head_ministry[0].head_ministry == NEXT.head  # moved in the same transaction as the role
        flags = await query(
            engine, "SELECT year, from_member, to_member, workflow_id FROM bloc_flag_handovers WHERE bloc = :b", b=BLOC
        )
        assert [tuple(r) for r in flags] == [(YEAR + 1, LEADERSHIP.head, NEXT.head, year_id)]
        told = await query_until(
            engine,
            "SELECT recipients FROM notifications WHERE workflow_id = :w AND subject LIKE :s",
            bool,
            w=year_id,
            s=f"%Khối trưởng năm {YEAR + 1}%",
        )
        assert any(EMAIL[NEW_HEAD] in r.recipients for r in told), told

        # Next year's bloc year: TANDTC heads it with the flag; the old head may no longer publish, the new
        # one publishes the 2032 pledge.
        opened = await wait_year(client, next_id, lambda s: s.phase == BlocYearPhase.DRAFT, "next year's opening")
        assert opened.leadership == NEXT and opened.flag_in == following.flag_out
        with pytest.raises(BlocYearRefused):
            await publish_pledge(client, engine, next_id, HEAD)
        pledged = await publish_pledge(client, engine, next_id, NEW_HEAD)
        assert pledged.phase == BlocYearPhase.PLEDGE
        assert (await row_reaches(engine, next_id, BlocYearPhase.PLEDGE)).previous_year_id == year_id

        # 12. The Prime Minister's decision awards the three proposals; the 2031 year closes.
        decision_no = f"{uuid.uuid4().hex[:4]}/QĐ-TTg"
        request = DecisionRequest(
            decision=DecisionRef(
                decision_no=decision_no,
                decision_date=date(YEAR + 1, 1, 15),
                authority=Authority.PRIME_MINISTER,
                actor=CENTRAL,
            ),
            workflow_ids=list(proposals),
        )
        await move_clock_to(skipping_env, hanoi(YEAR + 1, 1, 15))
        await start_decision(client, queue, request)
        for _ in range(300):
            summary = await decision_progress(client, decision_no)
            if len(summary.items) == len(proposals):
                break
            await asyncio.sleep(0.1)
        assert sorted(i.workflow_id for i in summary.accepted) == sorted(proposals), summary
        for wf in proposals:
            await wait_stage(client, wf, Stage.AWARDED)
        ended = await wait_year(client, year_id, lambda s: s.phase == BlocYearPhase.CLOSED, "the year's close")
        settled = {wf: stage for t in ended.tiers for wf, stage in t.settled.items()}
        assert {wf: settled.get(wf) for wf in proposals} == dict.fromkeys(proposals, Stage.AWARDED)
        assert settled.get(flag.nominations[loser], Stage.REJECTED) == Stage.REJECTED  # the flag's vote lost it
        await row_reaches(engine, year_id, BlocYearPhase.CLOSED)

        async def awarded() -> dict[str, tuple[str, str]]:
            rows = await query(
                engine,
                "SELECT workflow_id, stage, ministry FROM nominations WHERE workflow_id = ANY(:ids)",
                ids=list(proposals),
            )
            return {r.workflow_id: (r.stage, r.ministry) for r in rows}

        expected = {wf: (Stage.AWARDED.value, member) for wf, member in proposals.items()}
        assert await eventually(awarded, expected) == expected

        async def decision_rows() -> list[str]:
            rows = await query(engine, "SELECT workflow_id FROM decision_items WHERE decision_no = :d", d=decision_no)
            return sorted(r.workflow_id for r in rows)

        assert await eventually(decision_rows, sorted(proposals)) == sorted(proposals)

        # The Temporal UI's BlocYearPhase: the closed year and next year's open pledge.
        assert await phase_attribute(client, year_id) == BlocYearPhase.CLOSED.value
        assert await phase_attribute(client, next_id) == BlocYearPhase.PLEDGE.value
