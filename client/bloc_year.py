"""Client-side operations on bloc years (năm thi đua của Khối), shared by the CLI, the API, the inbox and the
tests: start one, each person's act, the status as its reader may see it, the ranking table, and what a
person's organisation must do now.

Every act is authorised here first against the database roster (domain.bloc.year_actors: the rules the
workflow applies again against its own snapshot), so a person without the role is refused naming it before
anything is sent (BlocYearRefused: CLI exit 4, HTTP 403); the workflow's own refusal (wrong phase, a second
signature, ...) is ActionRefused (exit 4, HTTP 409). Self-assessments and adjustments are parsed against the
year's scoring table here, every field at fault named (InvalidInput: exit 2, HTTP 422).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from client.access import ReadRefused
from client.nominations import ActionRefused, NominationNotFound, act, describe_execution
from client.pacing import start_priority
from domain.access import BLOC_READERS, ReadScope, bloc_in_bloc_year_id, bloc_year_refusal, may_read_bloc_year
from domain.bloc.policy import BlocScoringPolicy, bloc_rotation, bloc_scoring_policy, bloc_scoring_policy_for
from domain.bloc.rotation import BlocLeadership, leadership_for
from domain.bloc.scoring import parse_adjustment, parse_self_assessment
from domain.bloc.year import (
    PHASE_LABELS_VI,
    AdjustScore,
    BlocYearAct,
    BlocYearClock,
    BlocYearPhase,
    BlocYearStart,
    BlocYearStatus,
    CallForAssessments,
    CloseReview,
    ElectionMethod,
    OpenHonouring,
    PublishPledge,
    RecordElection,
    SignPledge,
    SubmitAssessment,
    bloc_year_id,
    bloc_year_summary,
)
from domain.bloc.year_actors import (
    BlocYearTask,
    act_refusal,
    opener_refusal,
    outsider_refusal,
    represented_member,
    tasks_for,
)
from domain.errors import FieldError, InvalidInput, field_errors_from
from domain.messages import ActionChannel, HumanAction
from domain.priority import WorkKind
from domain.roster import Actor, Role
from store.roster import read_actor
from store.schema import blocs, ministries
from workflows.bloc_year import BlocYearWorkflow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


class DuplicateBlocYear(Exception):
    """The bloc already has a bloc year for that year (CLI exit 3, HTTP 409)."""


class BlocYearNotFound(NominationNotFound):
    """No bloc year by that id (CLI exit 5, HTTP 404)."""


class BlocYearRefused(ActionRefused):
    """The roster does not let this person take the act (CLI exit 4, HTTP 403 naming the role)."""


# Each act's update on the workflow, by method.
UPDATES: dict[BlocYearAct, Callable[..., Any]] = {
    BlocYearAct.PUBLISH_PLEDGE: BlocYearWorkflow.publish_pledge,
    BlocYearAct.SIGN_PLEDGE: BlocYearWorkflow.sign_pledge,
    BlocYearAct.CALL_FOR_ASSESSMENTS: BlocYearWorkflow.call_for_assessments,
    BlocYearAct.SUBMIT_ASSESSMENT: BlocYearWorkflow.submit_assessment,
    BlocYearAct.ADJUST_SCORE: BlocYearWorkflow.adjust_score,
    BlocYearAct.CLOSE_REVIEW: BlocYearWorkflow.close_review,
    BlocYearAct.OPEN_HONOURING: BlocYearWorkflow.open_honouring,
    BlocYearAct.RECORD_ELECTION: BlocYearWorkflow.record_election,
}


# ---- the bloc on the roster -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlocOnRoster:
    code: str
    name: str
    members: tuple[str, ...]  # the ministries the roster places in the bloc, by code


async def bloc_on_roster(engine: AsyncEngine, bloc: str) -> BlocOnRoster:
    """The bloc as the database roster has it; InvalidInput naming `bloc` when it does not know it."""
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(blocs.c.code, blocs.c.name).where(blocs.c.code == bloc))).first()
        members = (
            await conn.execute(
                sa.select(ministries.c.code).where(ministries.c.bloc_code == bloc).order_by(ministries.c.code)
            )
        ).scalars()
        found = tuple(members)
    if row is None:
        message = f"Khối {bloc} không có trong danh sách (roster); nạp bằng `starter.py roster load`"
        raise InvalidInput([FieldError(field="bloc", message=message)])
    return BlocOnRoster(code=row.code, name=row.name, members=found)


def _leadership(bloc: BlocOnRoster, year: int, head: str | None, deputy: str | None) -> BlocLeadership:
    """The year's head and deputy: as given (both, members of the bloc), else the bloc's rotation order."""
    if head is None and deputy is None:
        try:
            return leadership_for(bloc_rotation(bloc.code), year)
        except KeyError:
            message = f"Khối {bloc.code} không có thứ tự luân phiên Khối trưởng; cần nêu head và deputy"
            raise InvalidInput([FieldError(field="head", message=message)]) from None
    errors = [
        FieldError(field=name, message="cần nêu cả Khối trưởng (head) và Khối phó (deputy)")
        for name, value in (("head", head), ("deputy", deputy))
        if value is None
    ]
    errors += [
        FieldError(field=name, message=f"đơn vị {value} không phải thành viên Khối {bloc.code}")
        for name, value in (("head", head), ("deputy", deputy))
        if value is not None and value not in bloc.members
    ]
    if errors:
        raise InvalidInput(errors)
    try:
        return BlocLeadership(bloc=bloc.code, year=year, head=head, deputy=deputy)
    except ValidationError as exc:
        raise InvalidInput([FieldError(field="deputy", message=e.message) for e in field_errors_from(exc)]) from None


# ---- starting a bloc year ---------------------------------------------------------------------------------


async def start_bloc_year(
    client: Client,
    engine: AsyncEngine,
    task_queue: str,
    *,
    bloc: str,
    year: int,
    opened_by: str,
    head: str | None = None,
    deputy: str | None = None,
    channel: ActionChannel = "CLI",
    clock: BlocYearClock | None = None,
) -> str:
    """Start the bloc's year (its id: bloc_year_id), opened by the bloc head, its leadership from the
    rotation order unless given; refused before anything starts for someone who is not the bloc head
    (BlocYearRefused), a bloc the roster does not know or a year with no scoring table (InvalidInput), and a
    second year for the same bloc and year (DuplicateBlocYear)."""
    known = await bloc_on_roster(engine, bloc)
    refusal = opener_refusal(await read_actor(engine, opened_by), opened_by, bloc)
    if refusal is not None:
        raise BlocYearRefused(f"{refusal}; nothing was started")
    try:
        bloc_scoring_policy_for(bloc, year)
    except LookupError as err:
        raise InvalidInput([FieldError(field="year", message=f"không có bảng chấm điểm: {err}")]) from None
    try:
        start = BlocYearStart(
            bloc=bloc,
            year=year,
            leadership=_leadership(known, year, head, deputy),
            opened_by=opened_by,
            channel=channel,
            clock=clock or BlocYearClock(),
        )
    except ValidationError as exc:
        raise InvalidInput(field_errors_from(exc)) from None
    workflow_id = bloc_year_id(bloc, year)
    try:
        await client.start_workflow(
            BlocYearWorkflow.run,
            start,
            id=workflow_id,
            task_queue=task_queue,
            # One bloc year per bloc and year, ever: a finished one is not started again under the same id.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            priority=start_priority(WorkKind.BLOC_YEAR, bloc),
            static_summary=bloc_year_summary(bloc, year),
        )
    except WorkflowAlreadyStartedError:
        raise DuplicateBlocYear(
            f"bloc year {workflow_id} already exists (one bloc year per bloc and year); nothing was started"
        ) from None
    return workflow_id


# ---- reading ----------------------------------------------------------------------------------------------


async def bloc_year_status(client: Client, workflow_id: str) -> BlocYearStatus:
    """The bloc year's status query (no reader check: readable_status is what people get);
    BlocYearNotFound when there is none."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        return await handle.query(BlocYearWorkflow.status)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
    execution = await describe_execution(client, workflow_id)
    if execution is None:
        raise BlocYearNotFound(f"no bloc year {workflow_id}")
    # Closed and no worker answers for it: the status it returned when it ended.
    return await client.get_workflow_handle(workflow_id, result_type=BlocYearStatus).result()


async def readable_status(client: Client, scope: ReadScope, workflow_id: str) -> BlocYearStatus:
    """The bloc year if the reader may read it (its bloc's head and representatives, the central board):
    ReadRefused otherwise, whether or not it exists; BlocYearNotFound only to a reader of its bloc."""
    bloc = bloc_in_bloc_year_id(workflow_id)
    if bloc is None:
        if scope.everything:
            raise BlocYearNotFound(f"no bloc year {workflow_id} (ids read bloc-year-<bloc>-<year>)")
        raise ReadRefused(bloc_year_refusal(scope, workflow_id))
    if not may_read_bloc_year(scope, bloc):
        raise ReadRefused(bloc_year_refusal(scope, workflow_id))
    status = await bloc_year_status(client, workflow_id)
    if not may_read_bloc_year(scope, status.bloc):
        raise ReadRefused(bloc_year_refusal(scope, workflow_id))
    return status


# ---- the people's acts ------------------------------------------------------------------------------------


async def _authorised(
    engine: AsyncEngine, status: BlocYearStatus, act_: BlocYearAct, actor_id: str, member: str | None = None
) -> Actor | None:
    actor = await read_actor(engine, actor_id)
    refusal = act_refusal(act_, actor, actor_id, status.bloc, status.leadership, member)
    if refusal is not None:
        raise BlocYearRefused(f"{refusal}; nothing was sent")
    return actor


async def _status_for(
    engine: AsyncEngine, client: Client, workflow_id: str, act_: BlocYearAct, actor_id: str
) -> BlocYearStatus:
    """The year's status for an act, after refusing someone with no role in the bloc its id names (the same
    refusal whether or not the year exists)."""
    bloc = bloc_in_bloc_year_id(workflow_id)
    if bloc is not None:
        refusal = outsider_refusal(act_, await read_actor(engine, actor_id), actor_id, bloc)
        if refusal is not None:
            raise BlocYearRefused(f"{refusal}; nothing was sent")
    return await bloc_year_status(client, workflow_id)


async def _send(client: Client, workflow_id: str, act_: BlocYearAct, payload: HumanAction) -> BlocYearStatus:
    try:
        return await act(client, workflow_id, UPDATES[act_], payload, result_type=BlocYearStatus)
    except NominationNotFound:
        raise BlocYearNotFound(f"no bloc year {workflow_id}") from None


def _payload(model: type[HumanAction], **fields: Any) -> Any:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise InvalidInput(field_errors_from(exc)) from None


async def _sent(
    client: Client,
    workflow_id: str,
    act_: BlocYearAct,
    model: type[HumanAction],
    actor_id: str,
    channel: ActionChannel,
    **fields: Any,
) -> BlocYearStatus:
    """The act's payload built (InvalidInput naming every field at fault) and sent, once it is authorised."""
    return await _send(client, workflow_id, act_, _payload(model, actor=actor_id, channel=channel, **fields))


async def _member_for(engine: AsyncEngine, status: BlocYearStatus, actor_id: str, named: str | None) -> str | None:
    """The organisation a representative acts for: the one named, else the one they represent in the bloc
    (None: none; the authorisation then refuses)."""
    if named is not None:
        return named
    return represented_member(await read_actor(engine, actor_id), status.bloc)


def _policy_of(status: BlocYearStatus) -> BlocScoringPolicy:
    if status.policy_version is None:
        raise ActionRefused(
            f"{status.bloc_year_id}: giao ước thi đua chưa được công bố (giai đoạn "
            f"{PHASE_LABELS_VI[status.phase]}): chưa có bảng chấm điểm"
        )
    return bloc_scoring_policy(status.policy_version)


async def simple_act(
    client: Client,
    engine: AsyncEngine,
    workflow_id: str,
    act_: BlocYearAct,
    actor_id: str,
    *,
    channel: ActionChannel = "CLI",
    **fields: Any,
) -> BlocYearStatus:
    """An act whose payload is the actor and a few fields (publish, call, close review, open honouring,
    record election), authorised against the roster first."""
    models: dict[BlocYearAct, type[HumanAction]] = {
        BlocYearAct.PUBLISH_PLEDGE: PublishPledge,
        BlocYearAct.CALL_FOR_ASSESSMENTS: CallForAssessments,
        BlocYearAct.CLOSE_REVIEW: CloseReview,
        BlocYearAct.OPEN_HONOURING: OpenHonouring,
        BlocYearAct.RECORD_ELECTION: RecordElection,
    }
    payload = _payload(models[act_], actor=actor_id, channel=channel, **fields)
    status = await _status_for(engine, client, workflow_id, act_, actor_id)
    await _authorised(engine, status, act_, actor_id)
    return await _send(client, workflow_id, act_, payload)


async def publish_pledge(
    client: Client,
    engine: AsyncEngine,
    workflow_id: str,
    actor_id: str,
    *,
    policy_version: str | None = None,
    channel: ActionChannel = "CLI",
) -> BlocYearStatus:
    return await simple_act(
        client,
        engine,
        workflow_id,
        BlocYearAct.PUBLISH_PLEDGE,
        actor_id,
        channel=channel,
        policy_version=policy_version,
    )


async def sign_pledge(
    client: Client,
    engine: AsyncEngine,
    workflow_id: str,
    actor_id: str,
    *,
    member: str | None = None,
    channel: ActionChannel = "CLI",
) -> BlocYearStatus:
    """The representative signs for their organisation (`member`: by default the organisation they
    represent in the bloc; another organisation is refused)."""
    status = await _status_for(engine, client, workflow_id, BlocYearAct.SIGN_PLEDGE, actor_id)
    member = await _member_for(engine, status, actor_id, member or None)
    await _authorised(engine, status, BlocYearAct.SIGN_PLEDGE, actor_id, member)
    return await _sent(client, workflow_id, BlocYearAct.SIGN_PLEDGE, SignPledge, actor_id, channel, member=member)


async def submit_assessment(
    client: Client,
    engine: AsyncEngine,
    workflow_id: str,
    actor_id: str,
    raw: Any,
    *,
    channel: ActionChannel = "CLI",
) -> BlocYearStatus:
    """The member's self-assessment (JSON as domain.bloc.scoring.SelfAssessment; `member` defaults to the
    organisation the representative belongs to), authorised, then parsed against the year's table: every
    field at fault named (InvalidInput)."""
    status = await _status_for(engine, client, workflow_id, BlocYearAct.SUBMIT_ASSESSMENT, actor_id)
    named = raw.get("member") if isinstance(raw, dict) else None
    member = await _member_for(engine, status, actor_id, named if isinstance(named, str) else None)
    await _authorised(engine, status, BlocYearAct.SUBMIT_ASSESSMENT, actor_id, member)
    if isinstance(raw, dict):
        raw = {"member": member, "year": status.year, "policy_version": status.policy_version} | raw
    assessment = parse_self_assessment(raw, _policy_of(status), members=status.members, year=status.year)
    return await _sent(
        client, workflow_id, BlocYearAct.SUBMIT_ASSESSMENT, SubmitAssessment, actor_id, channel, assessment=assessment
    )


async def adjust_score(
    client: Client,
    engine: AsyncEngine,
    workflow_id: str,
    actor_id: str,
    raw: Any,
    *,
    channel: ActionChannel = "CLI",
) -> BlocYearStatus:
    """A review panel member's adjustment (chấm chéo) with its reason, parsed against the year's table."""
    status = await _status_for(engine, client, workflow_id, BlocYearAct.ADJUST_SCORE, actor_id)
    await _authorised(engine, status, BlocYearAct.ADJUST_SCORE, actor_id)
    submitted = {a.member for a in status.assessments}
    adjustment = parse_adjustment(raw, _policy_of(status), members=status.members, submitted=submitted)
    return await _sent(
        client, workflow_id, BlocYearAct.ADJUST_SCORE, AdjustScore, actor_id, channel, adjustment=adjustment
    )


async def call_for_assessments(
    client: Client, engine: AsyncEngine, workflow_id: str, actor_id: str, *, channel: ActionChannel = "CLI"
) -> BlocYearStatus:
    return await simple_act(client, engine, workflow_id, BlocYearAct.CALL_FOR_ASSESSMENTS, actor_id, channel=channel)


async def close_review(
    client: Client, engine: AsyncEngine, workflow_id: str, actor_id: str, *, channel: ActionChannel = "CLI"
) -> BlocYearStatus:
    return await simple_act(client, engine, workflow_id, BlocYearAct.CLOSE_REVIEW, actor_id, channel=channel)


async def open_honouring(
    client: Client,
    engine: AsyncEngine,
    workflow_id: str,
    actor_id: str,
    *,
    deadline: datetime,
    meeting_ref: str,
    committee: list[str] | None = None,
    channel: ActionChannel = "CLI",
) -> BlocYearStatus:
    return await simple_act(
        client,
        engine,
        workflow_id,
        BlocYearAct.OPEN_HONOURING,
        actor_id,
        channel=channel,
        deadline=deadline,
        meeting_ref=meeting_ref,
        committee=committee,
    )


async def record_election(
    client: Client,
    engine: AsyncEngine,
    workflow_id: str,
    actor_id: str,
    *,
    method: ElectionMethod,
    head: str | None = None,
    deputy: str | None = None,
    minutes_ref: str | None = None,
    channel: ActionChannel = "CLI",
) -> BlocYearStatus:
    return await simple_act(
        client,
        engine,
        workflow_id,
        BlocYearAct.RECORD_ELECTION,
        actor_id,
        channel=channel,
        method=method,
        head=head,
        deputy=deputy,
        minutes_ref=minutes_ref,
    )


# ---- the ranking table ------------------------------------------------------------------------------------

RANKING_HEADERS: tuple[str, ...] = (
    "Hạng",
    "Đơn vị",
    "Tổng điểm",
    "Điểm tiêu chí",
    "Điểm cộng",
    "Điểm trừ",
    "Đồng hạng",
    "Nộp bản tự chấm",
)


def ranking_rows(status: BlocYearStatus) -> list[list[Any]]:
    """The ranking table's rows, best first, then the members left out of the ranking; refused
    (ActionRefused) before the review's close publishes it."""
    if status.standings is None:
        raise ActionRefused(
            f"{status.bloc_year_id}: chưa có kết quả xếp hạng (giai đoạn {PHASE_LABELS_VI[status.phase]}); "
            "xếp hạng được công bố khi kết thúc chấm chéo"
        )

    def number(value: Decimal) -> float | int:
        return int(value) if value == value.to_integral() else float(value)

    rows: list[list[Any]] = [
        [
            row.rank,
            row.member,
            number(row.total),
            number(row.criteria_total),
            number(row.bonus_points),
            number(row.penalty_points),
            "có" if row.tied else "",
            "có" if row.submitted else "không",
        ]
        for row in status.standings.rows
    ]
    rows += [["", member, "", "", "", "", "", "không (không xếp hạng)"] for member in status.standings.unranked]
    return rows


async def ranking_workbook(
    client: Client, engine: AsyncEngine, scope: ReadScope, status: BlocYearStatus, task_queue: str
) -> bytes:
    """The ranking as XLSX (documents/xlsx.py: the table with the members' names, a chart of the totals, the
    scores by criterion, the panel's adjustments and the audit anchor of this moment); refused
    (ActionRefused) before the review's close publishes it."""
    from datetime import UTC

    from client.documents import ranking_from_status

    ranking_rows(status)  # refuses before the ranking is published
    _, workbook = await ranking_from_status(client, engine, scope, status, task_queue, made_at=datetime.now(UTC))
    return workbook


# ---- what my organisation must do now ---------------------------------------------------------------------


async def running_bloc_years(client: Client, bloc: str, *, limit: int = 20) -> list[str]:
    """The ids of the bloc's running bloc years (Temporal's visibility), newest year first."""
    query = (
        f"WorkflowType = '{BlocYearWorkflow.__name__}' AND ExecutionStatus = 'Running' "
        f"AND WorkflowId STARTS_WITH 'bloc-year-{bloc}-'"
    )
    ids = [wf.id async for wf in client.list_workflows(query, limit=limit)]
    return sorted(set(ids), reverse=True)


async def tasks_of(
    client: Client, engine: AsyncEngine, actor_id: str, *, bloc_year_ids: Sequence[str] | None = None
) -> list[BlocYearTask]:
    """What the person's organisation must do now in each running bloc year of their blocs (sign, submit,
    vote), and the head's act of the phase for a bloc head. `bloc_year_ids`: only these (else every running
    one of their blocs)."""
    from client.ballots import session_status

    actor = await read_actor(engine, actor_id)
    if actor is None:
        return []
    their_blocs = sorted({g.scope for g in actor.roles if g.role in BLOC_READERS})
    ids: list[str] = []
    for bloc in their_blocs:
        found = await running_bloc_years(client, bloc)
        ids += [i for i in found if bloc_year_ids is None or i in bloc_year_ids]
    if bloc_year_ids is not None:
        ids += [i for i in bloc_year_ids if i not in ids and bloc_in_bloc_year_id(i) in their_blocs]
    tasks: list[BlocYearTask] = []
    for workflow_id in ids:
        try:
            status = await bloc_year_status(client, workflow_id)
        except BlocYearNotFound:
            continue
        voting: set[str] = set()
        voted: set[str] = set()
        if status.phase == BlocYearPhase.HONOURING and actor.holds(Role.BLOC_REPRESENTATIVE, status.bloc):
            for tier in status.tiers:
                if tier.session_id is None:
                    continue
                try:
                    session = await session_status(client, tier.session_id)
                except NominationNotFound:
                    continue
                if session.phase.value == "VOTING":
                    voting.add(tier.session_id)
                    if actor_id in session.voted:
                        voted.add(tier.session_id)
        tasks += tasks_for(status, actor, voting_sessions=voting, voted=voted)
    return tasks
