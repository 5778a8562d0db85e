"""The demo's bloc year: the internal-affairs bloc (NOI_CHINH) of the demo's roster, eight member organisations
with fictional scores, carried through one year on the real dev server with a short clock (a few seconds
for the self-assessments, the head's role passing shortly after the election instead of on 1 January).

The run command (scripts/demo.py) calls `run_bloc_year` after the nominations' routes. Every act goes through
client/bloc_year.py, client/ballots.py and client/decisions.py, as the CLI and the API do:

pledge published and signed by all eight → the call for self-assessments; seven submit, one does not: it is
reminded before the deadline and scored zero after it (the table's no_submission) → the review panel (the
deputy's representative) lowers one score with a reason, moving that member from first to third → the
ranking → the Government flag's vote between the two tied first: tied again in the runoff, the bloc head
decides → the Prime Minister's certificate's vote → the central board approves the proposals, the election
by the rotation order, the Prime Minister's decision → the head's role and the rotating flag pass to the new
head, next year's bloc year opens and its head publishes the pledge → the year closes once its proposals
are awarded.

One bloc year per bloc and year, ever (the workflow id is the business key, and proposals for a year are
made once): the demo carries the current year once per namespace and database. A later run shows that year
as the earlier run left it and checks it; a fresh DEMO_NAMESPACE and DEMO_DATABASE_URL carry a year again.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from client.ballots import cast, decide_tie, session_status, voter_class
from client.bloc_year import (
    BlocYearNotFound,
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
from client.decisions import issue_decision
from client.nominations import NominationNotFound, act, status
from domain.ballot_messages import SessionPhase, SessionStatus, TieDecision
from domain.ballots import Choice
from domain.bloc.policy import bloc_rotation, bloc_scoring_policy_for
from domain.bloc.rotation import BlocLeadership, next_leadership
from domain.bloc.year import BlocYearClock, BlocYearPhase, BlocYearStatus, ElectionMethod, bloc_year_id
from domain.catalog import Authority
from domain.decisions import DecisionRef, DecisionRequest
from domain.messages import CentralApproval
from domain.roster import CENTRAL_SCOPE, Role, Roster
from domain.stages import Stage
from scripts.stand_in_committee import hand_in_shares
from store.schema import actor_roles, actors
from workflows.nomination import NominationWorkflow

BLOC = "NOI_CHINH"
# The demo's clock: the self-assessment window, its reminder before the deadline, and how long after the
# year's start the head's role passes (the story reaches its election well within it; if it did not, the
# handover would follow the election at once).
ASSESSMENT_SECONDS = 8
REMINDER_SECONDS_BEFORE = 4
HANDOVER_AFTER_START = timedelta(seconds=35)
ADJUST_REASON = "Chấm chéo: minh chứng tiêu chí NV1 chỉ chứng minh 20/25 điểm (thiếu báo cáo quý IV)"
# Each member's self-assessment, by its part in the story: every criterion at its maximum less these points,
# bonus and penalty items by occurrences (table NOI_CHINH-2024.01: 100 points, bonuses up to 5).
SHEETS: dict[str, dict[str, dict[str, int]]] = {
    "tied_first": {"less": {"NV1": 1, "NV2": 1, "PT1": 2, "KT1": 2, "KH1": 3}, "bonuses": {"CD1": 2}},  # 93
    "tied_second": {"less": {"NV1": 1, "NV2": 1, "PT1": 2, "KT1": 2, "KH1": 3}, "bonuses": {"CD1": 2}},  # 93
    "adjusted": {"less": {"KT1": 1, "KH1": 2, "KH2": 1}},  # 96; 91 once the panel sets NV1 to 20
    "fourth": {"less": {"NV1": 3, "PT1": 3, "PT2": 3, "KT1": 3}},  # 88
    "head": {"less": {"NV1": 4, "PT1": 4, "PT2": 4, "KT1": 4}},  # 84
    "deputy": {"less": {"NV1": 4, "PT1": 4, "PT2": 4, "KT1": 4}, "penalties": {"TD1": 4}},  # 84 − 2
    "seventh": {"less": {"NV1": 5, "PT1": 5, "PT2": 5, "KT1": 5}},  # 80
}
TIMEOUT = 60.0

console = Console(width=None if sys.stdout.isatty() else 170)


class DemoYearWrong(Exception):
    """The year went somewhere the story does not: the demo fails, saying where."""


@dataclass(frozen=True)
class BlocCast:
    """Who plays each part, from the demo's roster: the head's organisation leads this year, the next in the
    rotation order is deputy (and next year's head); the other six take the story's parts in rotation
    order."""

    head: str  # the actor holding BLOC_HEAD
    reps: dict[str, str]  # member organisation → its representative
    central: str
    leadership: BlocLeadership
    parts: dict[str, str]  # part in the story (SHEETS' keys, and "late") → member organisation

    @classmethod
    def from_roster(cls, roster: Roster, year: int) -> BlocCast:
        rotation = bloc_rotation(BLOC)
        members = [m.code for m in roster.ministries if m.bloc == BLOC]
        if sorted(members) != sorted(rotation.order):
            raise ValueError(
                f"the demo roster's bloc {BLOC} has members {sorted(members)}, "
                f"its rotation order {sorted(rotation.order)}"
            )
        reps: dict[str, str] = {}
        for member in members:
            found = [
                a.id for a in roster.actors if a.organisation == member and a.holds(Role.BLOC_REPRESENTATIVE, BLOC)
            ]
            if not found:
                raise ValueError(f"the demo roster has no BLOC_REPRESENTATIVE of {member} in {BLOC}")
            reps[member] = found[0]
        heads = [a for a in roster.actors if a.holds(Role.BLOC_HEAD, BLOC)]
        centrals = [a.id for a in roster.actors if a.holds(Role.CENTRAL_OFFICER, CENTRAL_SCOPE)]
        if len(heads) != 1 or heads[0].organisation not in members:
            raise ValueError(f"the demo roster needs one BLOC_HEAD of {BLOC}, from a member organisation")
        if not centrals:
            raise ValueError("the demo roster has no CENTRAL_OFFICER")
        order = list(rotation.order)
        head_org = heads[0].organisation
        start = order.index(head_org)
        turn = order[start:] + order[:start]  # the rotation from this year's head on
        others = turn[2:]
        parts = dict(zip(("tied_first", "tied_second", "adjusted", "fourth", "seventh", "late"), others, strict=True))
        parts |= {"head": turn[0], "deputy": turn[1]}
        return cls(
            head=heads[0].id,
            reps=reps,
            central=centrals[0],
            leadership=BlocLeadership(bloc=BLOC, year=year, head=turn[0], deputy=turn[1]),
            parts=parts,
        )

    @property
    def next(self) -> BlocLeadership:
        return next_leadership(bloc_rotation(BLOC), self.leadership)


def sheet(part: str, year: int) -> dict[str, Any]:
    """The self-assessment of the member playing `part`, as its representative types it."""
    spec = SHEETS[part]
    policy = bloc_scoring_policy_for(BLOC, year)
    scores = {}
    for code, criterion in policy.criteria.items():
        points = criterion.max_points - spec["less"].get(code, 0)
        evidence = [{"reference": f"BC-{code}/{year}", "title": f"Báo cáo minh chứng {code}"}]
        scores[code] = {"points": str(points), "evidence": evidence if criterion.evidence_required else []}
    bonuses = {
        code: {"occurrences": n, "evidence": [{"reference": f"QĐ-{code}/{year}"}]}
        for code, n in spec.get("bonuses", {}).items()
    }
    penalties = {code: {"occurrences": n} for code, n in spec.get("penalties", {}).items()}
    return {"scores": scores, "bonuses": bonuses, "penalties": penalties}


# ---- waiting -----------------------------------------------------------------------------------------------


async def wait_year(
    client: Client, workflow_id: str, done: Callable[[BlocYearStatus], bool], what: str
) -> BlocYearStatus:
    deadline = time.monotonic() + TIMEOUT
    current: BlocYearStatus | None = None
    while time.monotonic() < deadline:
        try:
            current = await bloc_year_status(client, workflow_id)
        except BlocYearNotFound:
            current = None
        if current is not None and done(current):
            return current
        await asyncio.sleep(0.2)
    shown = "not started" if current is None else current.phase.value
    raise DemoYearWrong(f"{workflow_id}: {what} did not happen within {TIMEOUT:.0f}s (phase {shown})")


async def wait_stage(client: Client, workflow_id: str, stage: Stage) -> None:
    deadline = time.monotonic() + TIMEOUT
    current = None
    while time.monotonic() < deadline:
        current = (await status(client, workflow_id)).stage
        if current == stage:
            return
        await asyncio.sleep(0.2)
    raise DemoYearWrong(f"{workflow_id} is at {current}, not {stage}")


async def wait_session(client: Client, session_id: str, done: Callable[[SessionStatus], bool]) -> SessionStatus:
    deadline = time.monotonic() + TIMEOUT
    current: SessionStatus | None = None
    while time.monotonic() < deadline:
        try:
            current = await session_status(client, session_id)
        except NominationNotFound:  # the year names it before the proposals are waiting for it
            current = None
        if current is not None and done(current):
            return current
        await asyncio.sleep(0.2)
    shown = "not started" if current is None else f"{current.phase.value}, round {current.round}"
    raise DemoYearWrong(f"ballot session {session_id}: {shown}")


async def exists(client: Client, workflow_id: str) -> bool:
    try:
        await bloc_year_status(client, workflow_id)
    except BlocYearNotFound:
        return False
    return True


# ---- the honouring votes ---------------------------------------------------------------------------------


async def vote_round(client: Client, session_id: str, cast_: BlocCast, round_: int) -> SessionStatus:
    """Every representative votes FOR each candidate its class may vote on (not its own organisation's)."""
    listed = await wait_session(client, session_id, lambda s: s.phase == SessionPhase.VOTING and s.round == round_)
    for voter in cast_.reps.values():
        excluded = set((await voter_class(client, session_id, voter)).excluded)
        await cast(
            client,
            session_id,
            voter,
            {c.workflow_id: Choice.FOR for c in listed.candidates if c.workflow_id not in excluded},
        )
    return listed


async def counted(
    client: Client, engine: AsyncEngine, session_id: str, committee: Mapping[str, rsa.RSAPrivateKey], round_: int
) -> SessionStatus:
    """The round's count: the counting committee hands in its shares when the session waits for them (a
    runoff is counted with the shares of round 1); returns the status once the count moved the session on."""
    waiting = await wait_session(client, session_id, lambda s: s.phase != SessionPhase.VOTING or s.round != round_)
    if waiting.phase == SessionPhase.AWAITING_COUNT:
        await hand_in_shares(client, engine, session_id, committee)
    return await wait_session(
        client,
        session_id,
        lambda s: s.phase not in (SessionPhase.VOTING, SessionPhase.AWAITING_COUNT) or s.round > round_,
    )


async def honour(
    client: Client,
    engine: AsyncEngine,
    workflow_id: str,
    cast_: BlocCast,
    committee: Mapping[str, rsa.RSAPrivateKey],
    meeting_ref: str,
    head_choice: str | None,
) -> BlocYearStatus:
    """The head opens the next tier's vote; everyone votes; the committee counts; a tie that outlasts its
    runoff goes to the head, who chooses `head_choice` (a member)."""
    opened = await open_honouring(
        client,
        engine,
        workflow_id,
        cast_.head,
        deadline=datetime.now(UTC) + timedelta(hours=1),
        meeting_ref=meeting_ref,
    )
    tier = opened.tiers[-1]
    if tier.session_id is None:
        raise DemoYearWrong(f"{workflow_id}: the {tier.award_form} vote has no session ({tier.candidates})")
    console.print(
        f"  suy tôn {tier.award_form}: {', '.join(tier.candidates)} for {tier.seats} seat(s), session {tier.session_id}"
    )
    round_ = 1
    while True:
        await vote_round(client, tier.session_id, cast_, round_)
        after = await counted(client, engine, tier.session_id, committee, round_)
        if after.phase == SessionPhase.CLOSED:
            break
        if after.phase == SessionPhase.AWAITING_HEAD and head_choice is not None:
            chosen = tier.nominations[head_choice]
            console.print(
                f"  round {after.round}: still tied ({len(after.tied)} for {after.seats_left}); the head decides"
            )
            await decide_tie(client, tier.session_id, TieDecision(actor=cast_.head, choose=[chosen]))
            break
        if after.round > round_:  # the runoff round opens (voting once its keys are ready)
            console.print(f"  round {round_}: tied at the quota's boundary; runoff round {after.round}")
            round_ = after.round
            continue
        raise DemoYearWrong(f"session {tier.session_id} stopped at {after.phase.value} (round {after.round})")
    index = len(opened.tiers) - 1
    return await wait_year(
        client, workflow_id, lambda s: s.tiers[index].proposed != () or s.phase != opened.phase, "the vote's result"
    )


# ---- the year ----------------------------------------------------------------------------------------------


async def carry_year(
    client: Client,
    queue: str,
    engine: AsyncEngine,
    roster: Roster,
    stamp: str,
    committee: Mapping[str, rsa.RSAPrivateKey],
    year: int,
) -> BlocYearStatus:
    cast_ = BlocCast.from_roster(roster, year)
    parts, reps = cast_.parts, cast_.reps
    clock = BlocYearClock(
        assessment_seconds=ASSESSMENT_SECONDS,
        reminder_seconds_before=REMINDER_SECONDS_BEFORE,
        handover_at=datetime.now(UTC) + HANDOVER_AFTER_START,
    )
    workflow_id = await start_bloc_year(
        client,
        engine,
        queue,
        bloc=BLOC,
        year=year,
        opened_by=cast_.head,
        head=cast_.leadership.head,
        deputy=cast_.leadership.deputy,
        clock=clock,
    )
    console.print(f"bloc year [bold]{workflow_id}[/]: head {cast_.leadership.head}, deputy {cast_.leadership.deputy}")
    await wait_year(client, workflow_id, lambda s: bool(s.members), "the opening")
    await publish_pledge(client, engine, workflow_id, cast_.head)
    for member in reps:
        signed = await sign_pledge(client, engine, workflow_id, reps[member])
    if signed.phase != BlocYearPhase.IN_YEAR:
        raise DemoYearWrong(f"{workflow_id}: {len(signed.signatures)} signatures, phase {signed.phase.value}")
    console.print(f"  giao ước thi đua: signed by all {len(signed.signatures)} members")

    await call_for_assessments(client, engine, workflow_id, cast_.head)
    for part, member in parts.items():
        if part != "late":
            await submit_assessment(client, engine, workflow_id, reps[member], sheet(part, year))
    late = parts["late"]
    console.print(
        f"  self-assessments: {len(parts) - 1}/{len(parts)} in; {late} reminded before the deadline "
        f"({ASSESSMENT_SECONDS}s in the demo, 15 working days by the table)"
    )
    reminded = await wait_year(client, workflow_id, lambda s: bool(s.reminded), "the reminder")
    review = await wait_year(client, workflow_id, lambda s: s.phase == BlocYearPhase.REVIEW, "the deadline")
    if reminded.reminded != (late,) or review.late != (late,):
        raise DemoYearWrong(f"{workflow_id}: reminded {reminded.reminded}, late {review.late}; expected {late}")

    adjusted = parts["adjusted"]
    panel = reps[cast_.leadership.deputy]
    change = {"kind": "CRITERION", "member": adjusted, "code": "NV1", "points": "20", "reason": ADJUST_REASON}
    await adjust_score(client, engine, workflow_id, panel, change)
    closed = await close_review(client, engine, workflow_id, cast_.head)
    if closed.standings is None or closed.phase != BlocYearPhase.HONOURING:
        raise DemoYearWrong(f"{workflow_id}: the review closed into {closed.phase.value}")
    console.print(f"  chấm chéo: {panel} set {adjusted}'s NV1 from 25 to 20 (reason given); ranking published")

    tied = (parts["tied_first"], parts["tied_second"])
    await honour(client, engine, workflow_id, cast_, committee, f"SUYTON-CO-{stamp}", head_choice=tied[0])
    elected_phase = await honour(client, engine, workflow_id, cast_, committee, f"SUYTON-BK-{stamp}", None)
    if elected_phase.phase != BlocYearPhase.ELECTION:
        raise DemoYearWrong(f"{workflow_id}: after honouring the year is at {elected_phase.phase.value}")
    proposals = {wf: m for t in elected_phase.tiers for m, wf in t.nominations.items() if m in t.proposed}
    for wf in proposals:
        await wait_stage(client, wf, Stage.CENTRAL_REVIEW)
        await act(client, wf, NominationWorkflow.approve, CentralApproval(actor=cast_.central))
        await wait_stage(client, wf, Stage.AWAITING_DECISION)
    console.print(f"  the central board approved {len(proposals)} proposal(s)")

    elected = await record_election(client, engine, workflow_id, cast_.head, method=ElectionMethod.ROTATION)
    console.print(
        f"  election by rotation: {elected.next_leadership.head if elected.next_leadership else '?'} heads "
        f"{year + 1}; the flag passes at {clock.handover_at:%H:%M:%S} UTC (1 January in earnest)"
    )
    decision_no = f"{stamp}-KHOI/QĐ-TTg"
    summary = await issue_decision(
        client,
        queue,
        DecisionRequest(
            decision=DecisionRef(
                decision_no=decision_no,
                decision_date=date.today(),
                authority=Authority.PRIME_MINISTER,
                actor=cast_.central,
            ),
            workflow_ids=list(proposals),
        ),
    )
    if len(summary.accepted) != len(proposals):
        raise DemoYearWrong(f"decision {decision_no}: {len(summary.accepted)} of {len(proposals)} accepted")
    console.print(f"  decision {decision_no} (PRIME_MINISTER): {len(summary.accepted)} awarded")

    following = await wait_year(
        client, workflow_id, lambda s: s.phase in (BlocYearPhase.FOLLOWING, BlocYearPhase.CLOSED), "the handover"
    )
    next_id = following.next_year_id or bloc_year_id(BLOC, year + 1)
    opened = await wait_year(client, next_id, lambda s: bool(s.members), "next year's opening")
    async with engine.connect() as conn:
        heads = (
            await conn.execute(
                sa.select(actors.c.organisation)
                .join(actor_roles, actor_roles.c.actor_id == actors.c.id)
                .where((actor_roles.c.role == Role.BLOC_HEAD.value) & (actor_roles.c.scope == BLOC))
            )
        ).scalars()
        head_organisations = set(heads)
    if head_organisations != {cast_.next.head}:
        raise DemoYearWrong(f"the roster's {BLOC} head is {sorted(head_organisations)}, not {cast_.next.head}")
    new_head = reps[cast_.next.head]
    await publish_pledge(client, engine, next_id, new_head)
    console.print(f"  1 January: {cast_.next.head} took office with the Cờ luân lưu; {next_id} publishes its pledge")
    if opened.leadership != cast_.next:
        raise DemoYearWrong(f"{next_id}: leadership {opened.leadership}, expected {cast_.next}")
    return await wait_year(client, workflow_id, lambda s: s.phase == BlocYearPhase.CLOSED, "the year's close")


async def check(client: Client, engine: AsyncEngine, final: BlocYearStatus) -> list[str]:
    """What is wrong with a finished demo year (empty: it ended as the story says)."""
    problems: list[str] = []
    if final.phase != BlocYearPhase.CLOSED:
        problems.append(f"{final.bloc_year_id} is at {final.phase.value}, not CLOSED")
    if final.standings is None or len(final.standings.rows) != len(final.members):
        problems.append("the ranking does not rank every member")
    if len(final.signatures) != len(final.members) or len(final.late) != 1 or len(final.adjustments) != 1:
        problems.append(
            f"{len(final.signatures)} signatures, {len(final.late)} late, {len(final.adjustments)} adjustment(s)"
        )
    proposals = {wf for t in final.tiers for m, wf in t.nominations.items() if m in t.proposed}
    settled = {wf: s for t in final.tiers for wf, s in t.settled.items()}
    if not proposals or any(settled.get(wf) != Stage.AWARDED for wf in proposals):
        problems.append(f"proposals not all awarded: {settled}")
    if final.next_leadership is None or final.flag_out is None or final.next_year_id is None:
        problems.append("no election, flag handover or next year recorded")
    else:
        try:
            following = await bloc_year_status(client, final.next_year_id)
        except BlocYearNotFound:
            problems.append(f"{final.next_year_id} was never opened")
        else:
            if following.phase not in (BlocYearPhase.DRAFT, BlocYearPhase.PLEDGE):
                problems.append(f"{final.next_year_id} is at {following.phase.value}, not DRAFT/PLEDGE")
        async with engine.connect() as conn:
            for _ in range(50):  # the close's row is written just after the state changes
                row = (
                    await conn.execute(
                        sa.text("SELECT phase FROM bloc_years WHERE workflow_id = :w"), {"w": final.bloc_year_id}
                    )
                ).first()
                if row is not None and row.phase == final.phase.value:
                    break
                await asyncio.sleep(0.2)
            flags = (
                await conn.execute(
                    sa.text("SELECT to_member FROM bloc_flag_handovers WHERE bloc = :b AND year = :y"),
                    {"b": final.bloc, "y": final.year + 1},
                )
            ).scalars()
            flag_rows = list(flags)
        if row is None or row.phase != BlocYearPhase.CLOSED.value:
            problems.append(f"the database's bloc_years row is at {row.phase if row else None}")
        if flag_rows != [final.next_leadership.head]:
            problems.append(f"the database's flag handover names {flag_rows}")
    return problems


def print_summary(final: BlocYearStatus, decision_hint: str | None) -> None:
    table = Table(title=f"Năm thi đua {final.year} – Khối {final.bloc} (the bloc's year)")
    for column in ("", "Vietnamese", "English"):
        table.add_column(column)
    if final.standings is not None:
        top = [f"{r.rank}. {r.member} ({r.total})" + (" =" if r.tied else "") for r in final.standings.rows[:3]]
        table.add_row("xếp hạng", ", ".join(top), "ranking, top three (= tied)")
    for tier in final.tiers:
        table.add_row(f"suy tôn {tier.award_form}", ", ".join(tier.proposed) or "—", "proposed by the bloc's vote")
    if decision_hint:
        table.add_row("quyết định", decision_hint, "the Prime Minister's decision")
    if final.next_leadership is not None:
        table.add_row(
            f"Khối trưởng {final.next_leadership.year}",
            f"{final.next_leadership.head} (Khối phó {final.next_leadership.deputy})",
            "the new head, with the Cờ luân lưu",
        )
    table.add_row("giai đoạn", final.phase_label_vi, final.phase.value)
    console.print(table)


async def run_bloc_year(
    client: Client,
    queue: str,
    engine: AsyncEngine,
    roster: Roster,
    stamp: str,
    committee: Mapping[str, rsa.RSAPrivateKey],
    namespace: str,
) -> bool:
    """The bloc's year of the demo; True when it ended as the story says (or an earlier run's did)."""
    year = date.today().year
    workflow_id = bloc_year_id(BLOC, year)
    console.print(f"\n[bold]The bloc's year[/] {year} of {BLOC} (one bloc year per bloc and year)")
    if not any(b.code == BLOC for b in roster.blocs):
        console.print(f"  [yellow]the demo roster has no bloc {BLOC}: no bloc year is carried[/]")
        return True
    earlier = await exists(client, workflow_id) or await exists(client, bloc_year_id(BLOC, year + 1))
    decision_hint = None
    try:
        if earlier:
            console.print(
                f"  [yellow]{workflow_id} was carried by an earlier run of this namespace[/]: shown as it stands "
                "(a fresh DEMO_NAMESPACE and DEMO_DATABASE_URL carry a year again)"
            )
            final = await bloc_year_status(client, workflow_id)
        else:
            final = await carry_year(client, queue, engine, roster, stamp, committee, year)
            decision_hint = f"{stamp}-KHOI/QĐ-TTg"
    except (DemoYearWrong, ValueError) as wrong:
        console.print(f"  [red]the bloc's year went wrong[/]: {wrong}")
        return False
    except BlocYearNotFound:
        console.print(f"  [yellow]{workflow_id} is not in this namespace (its next year is)[/]")
        return True
    problems = await check(client, engine, final)
    print_summary(final, decision_hint)
    console.print(
        f"Temporal UI: workflow {workflow_id} (and {bloc_year_id(BLOC, year + 1)}); search attribute BlocYearPhase:\n"
        f"  temporal workflow list --namespace {namespace} --query \"BlocYearPhase='CLOSED' OR BlocYearPhase='PLEDGE'\""
    )
    for problem in problems:
        console.print(f"  [red]{problem}[/]")
    if problems and earlier:
        console.print("  [yellow]an earlier, interrupted run left it so; not counted against this run[/]")
        return True
    return not problems
