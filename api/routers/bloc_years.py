"""The bloc's year (năm thi đua của Khối): start one, read it, each person's act (a BlocYearWorkflow update),
the ranking (JSON and XLSX), and what the token's actor's organisation must do now.

Every act is authorised against the database roster before it is sent (client/bloc_year.py): someone without
the act's role gets a 403 naming it; the workflow's own refusal (wrong phase, a second signature, late) is a
409 with its words; a self-assessment or adjustment that does not fit the year's scoring table is a 422 naming
every field at fault; a bloc year that does not exist is a 404 (to a reader of its bloc)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from api.deps import XLSX_MEDIA_TYPE, IdempotencyKey, Reading, Svc, Who, actor_of, json_body
from api.idempotency import fingerprint
from api.models import Acting, MeetingRef, in_vietnam_time
from api.problems import ProblemError, invalid
from client import access
from client import bloc_year as bloc_ops
from domain.bloc.ranking import StandingRow, TieGroup
from domain.bloc.scoring import Adjustment, SelfAssessment
from domain.bloc.year import BlocYearStatus, ElectionMethod
from domain.bloc.year_actors import BlocYearTask
from domain.nomination import ActorId, Code

router = APIRouter(tags=["bloc years"])
T = TypeVar("T")

BlocYearId = Annotated[
    str,
    PathParam(pattern=r"^bloc-year-[A-Z][A-Z0-9_]{1,23}-\d{4}$", description="`bloc-year-<bloc>-<year>`"),
]
ACT_RESPONSES: dict[int | str, dict[str, Any]] = {403: {}, 404: {}, 409: {}, 422: {}}


def bloc_year_url(workflow_id: str) -> str:
    return "/bloc-years/" + quote(workflow_id, safe="-._~")


async def answered(work: Awaitable[T]) -> T:
    """The client's refusals as problems: the roster's (403 naming the role), a read outside the reader's
    scope (403), no such bloc year (404), a second year for the same bloc and year (409)."""
    try:
        return await work
    except bloc_ops.BlocYearRefused as err:
        raise ProblemError("forbidden", str(err)) from None
    except access.ReadRefused as err:
        raise ProblemError("forbidden", str(err)) from None
    except bloc_ops.BlocYearNotFound as err:
        raise ProblemError("not-found", str(err)) from None
    except bloc_ops.DuplicateBlocYear as err:
        raise ProblemError("duplicate", str(err)) from None


async def acted(
    svc: Svc, act: Callable[..., Awaitable[BlocYearStatus]], bloc_year_id: str, actor: str, *args: Any, **fields: Any
) -> BlocYearStatus:
    """A person's act sent through the client (authorised there against the roster), its refusals as problems."""
    return await answered(act(await svc.client(), svc.engine(), bloc_year_id, actor, *args, channel="API", **fields))


async def raw_act_body(request: Request, who: Who, what: str) -> tuple[str, dict[str, Any]]:
    """A body the route reads raw (to name every field at fault against the year's table): a JSON object whose
    optional `actor` is taken out and checked against the token's; the actor and the rest."""
    raw = await json_body(request)
    if not isinstance(raw, dict):
        raise invalid("body", f"phải là một đối tượng JSON ({what})")
    return actor_of(who, _Named(actor=raw.pop("actor", None))), raw


# ---- bodies -----------------------------------------------------------------------------------------------


class BlocYearOpenBody(Acting):
    bloc: Code
    year: int = Field(ge=2000, le=2100)
    head: Code | None = Field(default=None, description="the year's head organisation (default: the rotation's)")
    deputy: Code | None = Field(default=None, description="the year's deputy organisation (with `head`)")


class BlocYearOpened(BaseModel):
    bloc_year_id: str
    status_url: str


class PledgeBody(Acting):
    policy_version: str | None = Field(
        default=None, max_length=40, description="the scoring table's version (default: the newest in force)"
    )


class SignatureBody(Acting):
    member: Code | None = Field(
        default=None, description="the organisation signing (default: the one the representative belongs to)"
    )


class HonouringBody(Acting):
    meeting_ref: MeetingRef = Field(description="the conference's reference (hội nghị tổng kết), e.g. HNTK-2026")
    deadline: datetime | None = Field(default=None, description="when voting ends (Vietnam time if no offset)")
    deadline_hours: float | None = Field(default=None, gt=0, description="or: this many hours from now")
    committee: list[ActorId] | None = Field(default=None, max_length=15, description="the counting committee")


class ElectionBody(Acting):
    method: ElectionMethod
    head: Code | None = None
    deputy: Code | None = None
    minutes_ref: str | None = Field(default=None, max_length=120, description="required for BALLOT")


class Ranking(BaseModel):
    model_config = ConfigDict(frozen=True)
    bloc_year_id: str
    policy_version: str
    rows: tuple[StandingRow, ...]
    unranked: tuple[str, ...]
    ties: tuple[TieGroup, ...]
    max_total: Decimal | None = None


class AdjustmentBody(BaseModel):
    """The panel's adjustment, wrapped (the route also takes the adjustment itself)."""

    adjustment: Adjustment


class _Named(BaseModel):
    """A raw body's optional `actor`, checked against the token's (actor_of)."""

    actor: Any = None


def bloc_year_schemas() -> dict[str, Any]:
    """SelfAssessment and AdjustmentBody (and their parts) for the document: the routes read them raw, to
    name every field at fault against the year's scoring table."""
    _, document = models_json_schema(
        [(SelfAssessment, "validation"), (AdjustmentBody, "validation")], ref_template="#/components/schemas/{model}"
    )
    return dict(document.get("$defs", {}))


def _schema_body(name: str, description: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
    }


# ---- starting, reading ------------------------------------------------------------------------------------


@router.post(
    "/bloc-years",
    status_code=201,
    response_model=BlocYearOpened,
    summary="Open a bloc's year (the bloc head)",
    responses={403: {}, 409: {}},
)
async def open_bloc_year(
    request: Request, body: BlocYearOpenBody, svc: Svc, who: Who, idempotency_key: IdempotencyKey = None
) -> Response:
    """Id `bloc-year-<bloc>-<year>`: one per bloc and year (a second is a 409). Opened by a BLOC_HEAD of the
    bloc (anyone else: 403 naming the role); its head and deputy by the bloc's rotation order unless given."""
    opener = actor_of(who, body)

    async def create() -> Response:
        workflow_id = await answered(
            bloc_ops.start_bloc_year(
                await svc.client(),
                svc.engine(),
                svc.task_queue,
                bloc=body.bloc,
                year=body.year,
                opened_by=opener,
                head=body.head,
                deputy=body.deputy,
                channel="API",
            )
        )
        url = bloc_year_url(workflow_id)
        answer = BlocYearOpened(bloc_year_id=workflow_id, status_url=url)
        return JSONResponse(answer.model_dump(), status_code=201, headers={"Location": url})

    request_print = fingerprint("POST", "/bloc-years", body.model_dump(mode="json"))
    return await svc.idempotency.run(who.actor, idempotency_key, request_print, create)


@router.get(
    "/bloc-years/{bloc_year_id}",
    response_model=BlocYearStatus,
    summary="A bloc year's status",
    responses={403: {}, 404: {}},
)
async def bloc_year_status(bloc_year_id: BlocYearId, svc: Svc, scope: Reading) -> BlocYearStatus:
    """Its phase, leadership, members, signatures, self-assessments received, adjustments, scorecards and
    ranking (once the review closed), honouring tiers and the next head. Read by the bloc's head and
    representatives and the central board; anyone else gets a 403 (whether or not it exists)."""
    return await answered(bloc_ops.readable_status(await svc.client(), scope, bloc_year_id))


@router.get(
    "/bloc-years/{bloc_year_id}/ranking",
    response_model=Ranking,
    summary="The ranking table (bảng xếp hạng)",
    responses={403: {}, 404: {}, 409: {}},
)
async def ranking(bloc_year_id: BlocYearId, svc: Svc, scope: Reading) -> Ranking:
    """Published when the review closes (before that: 409). Ranked rows best first (a tie shares its rank),
    the members left out of the ranking, and every tie."""
    status = await answered(bloc_ops.readable_status(await svc.client(), scope, bloc_year_id))
    bloc_ops.ranking_rows(status)  # refuses (409) before the ranking is published
    assert status.standings is not None
    standings = status.standings
    return Ranking(
        bloc_year_id=bloc_year_id,
        policy_version=standings.policy_version,
        rows=standings.rows,
        unranked=standings.unranked,
        ties=standings.ties,
        max_total=status.max_total,
    )


@router.get(
    "/bloc-years/{bloc_year_id}/ranking.xlsx",
    summary="The ranking table as an XLSX report",
    response_class=Response,
    responses={
        200: {
            "description": "the ranking, headings in Vietnamese",
            "content": {XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        },
        403: {},
        404: {},
        409: {},
    },
)
async def ranking_xlsx(bloc_year_id: BlocYearId, svc: Svc, scope: Reading) -> Response:
    """The table with the members' names, a chart of the totals, the scores by criterion, the review panel's
    adjustments and the audit anchor of this moment (409 before the ranking is published)."""
    client = await svc.client()
    status = await answered(bloc_ops.readable_status(client, scope, bloc_year_id))
    content = await bloc_ops.ranking_workbook(client, svc.engine(), scope, status, svc.task_queue)
    name = f"xep-hang-{bloc_year_id}.xlsx"
    return Response(
        content, media_type=XLSX_MEDIA_TYPE, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get(
    "/bloc-year-tasks",
    response_model=list[BlocYearTask],
    summary="What the token's actor's organisation must do now in its bloc's years",
    responses={403: {}},
)
async def bloc_year_tasks(svc: Svc, who: Who, scope: Reading) -> list[BlocYearTask]:
    """For a member's representative: sign the pledge, submit the self-assessment, vote in an honouring
    session; for the bloc head: the head's act of the phase. Every running bloc year of the actor's blocs."""
    return await bloc_ops.tasks_of(await svc.client(), svc.engine(), who.actor)


# ---- the people's acts ------------------------------------------------------------------------------------


@router.post(
    "/bloc-years/{bloc_year_id}/pledge",
    response_model=BlocYearStatus,
    summary="The head publishes the year's pledge (giao ước thi đua)",
    responses=ACT_RESPONSES,
)
async def publish_pledge(
    bloc_year_id: BlocYearId, svc: Svc, who: Who, body: PledgeBody | None = None
) -> BlocYearStatus:
    """In DRAFT, by a BLOC_HEAD of the bloc: the scoring table is fixed for the year; every representative is
    asked to sign."""
    policy_version = body.policy_version if body else None
    return await acted(svc, bloc_ops.publish_pledge, bloc_year_id, actor_of(who, body), policy_version=policy_version)


@router.post(
    "/bloc-years/{bloc_year_id}/signatures",
    response_model=BlocYearStatus,
    summary="A member's representative signs the pledge",
    responses=ACT_RESPONSES,
)
async def sign_pledge(
    bloc_year_id: BlocYearId, svc: Svc, who: Who, body: SignatureBody | None = None
) -> BlocYearStatus:
    """In PLEDGE, by the BLOC_REPRESENTATIVE of the signing organisation (for their own organisation only);
    once every member has signed the year begins (IN_YEAR)."""
    member = body.member if body else None
    return await acted(svc, bloc_ops.sign_pledge, bloc_year_id, actor_of(who, body), member=member)


@router.post(
    "/bloc-years/{bloc_year_id}/assessment-call",
    response_model=BlocYearStatus,
    summary="The head calls for the self-assessments",
    responses=ACT_RESPONSES,
)
async def call_for_assessments(
    bloc_year_id: BlocYearId, svc: Svc, who: Who, body: Acting | None = None
) -> BlocYearStatus:
    """In IN_YEAR, by a BLOC_HEAD: the submission window opens (its deadline in working days, reminders
    before it)."""
    return await acted(svc, bloc_ops.call_for_assessments, bloc_year_id, actor_of(who, body))


@router.post(
    "/bloc-years/{bloc_year_id}/assessments",
    response_model=BlocYearStatus,
    summary="A member submits its self-assessment (bản tự chấm điểm)",
    responses=ACT_RESPONSES,
    openapi_extra=_schema_body(
        "SelfAssessment",
        "the self-assessment; `member`, `year` and `policy_version` default to the representative's "
        "organisation and the bloc year's",
    ),
)
async def submit_assessment(bloc_year_id: BlocYearId, request: Request, svc: Svc, who: Who) -> BlocYearStatus:
    """In SELF_ASSESSMENT, by the member's BLOC_REPRESENTATIVE, before the deadline: a score for every
    criterion of the year's table with its evidence (reference or content hash), the bonus and penalty items
    declared. Every field at fault is named (422: `scores.NV1.points`, `bonuses.CD1`, ...)."""
    actor, raw = await raw_act_body(request, who, "bản tự chấm điểm")
    return await acted(svc, bloc_ops.submit_assessment, bloc_year_id, actor, raw)


@router.post(
    "/bloc-years/{bloc_year_id}/adjustments",
    response_model=BlocYearStatus,
    summary="The review panel adjusts a member's score, with the reason (chấm chéo)",
    responses=ACT_RESPONSES,
    openapi_extra=_schema_body(
        "AdjustmentBody",
        '`{"adjustment": {...}}` or the adjustment itself: kind CRITERION (code, points) or BONUS/PENALTY '
        "(code, occurrences), member, reason",
    ),
)
async def adjust_score(bloc_year_id: BlocYearId, request: Request, svc: Svc, who: Who) -> BlocYearStatus:
    """In REVIEW, by the review panel (the head, or a representative of the head's or the deputy's
    organisation): one line of one member's score set, with the reason."""
    actor, raw = await raw_act_body(request, who, "điều chỉnh điểm")
    return await acted(svc, bloc_ops.adjust_score, bloc_year_id, actor, raw.get("adjustment", raw))


@router.post(
    "/bloc-years/{bloc_year_id}/review-close",
    response_model=BlocYearStatus,
    summary="The head closes the review: scores final, the ranking published",
    responses=ACT_RESPONSES,
)
async def close_review(bloc_year_id: BlocYearId, svc: Svc, who: Who, body: Acting | None = None) -> BlocYearStatus:
    return await acted(svc, bloc_ops.close_review, bloc_year_id, actor_of(who, body))


@router.post(
    "/bloc-years/{bloc_year_id}/honouring",
    response_model=BlocYearStatus,
    summary="The head opens the next tier's honouring vote (suy tôn)",
    responses=ACT_RESPONSES,
)
async def open_honouring(bloc_year_id: BlocYearId, body: HonouringBody, svc: Svc, who: Who) -> BlocYearStatus:
    """In HONOURING, by a BLOC_HEAD: the tier's candidates are proposed as nominations and a secret-ballot
    session of the bloc votes on them until `deadline`."""
    actor = actor_of(who, body)
    if (body.deadline is None) == (body.deadline_hours is None):
        raise invalid("deadline", "cần ghi deadline hoặc deadline_hours", en="give deadline or deadline_hours")
    deadline = in_vietnam_time(body.deadline) or datetime.now(UTC) + timedelta(hours=body.deadline_hours or 0)
    return await acted(
        svc,
        bloc_ops.open_honouring,
        bloc_year_id,
        actor,
        deadline=deadline,
        meeting_ref=body.meeting_ref,
        committee=body.committee,
    )


@router.post(
    "/bloc-years/{bloc_year_id}/election",
    response_model=BlocYearStatus,
    summary="The head records next year's head and deputy",
    responses=ACT_RESPONSES,
)
async def record_election(bloc_year_id: BlocYearId, body: ElectionBody, svc: Svc, who: Who) -> BlocYearStatus:
    """In ELECTION, by a BLOC_HEAD: ROTATION (the bloc's order; head/deputy, if given, must be the order's) or
    BALLOT (head, deputy and the conference's minutes reference required)."""
    return await acted(
        svc,
        bloc_ops.record_election,
        bloc_year_id,
        actor_of(who, body),
        method=body.method,
        head=body.head,
        deputy=body.deputy,
        minutes_ref=body.minutes_ref,
    )
