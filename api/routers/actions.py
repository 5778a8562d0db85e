"""Every human action on a nomination, as a workflow update of NominationWorkflow.

The actions that read a body of their own and send the domain message it makes are rows of ACTIONS: the
route, the body, the update (a method reference) and the message, built from the body's fields and the
token's actor. A resubmission (a whole nomination, read raw) and an objection (no token) are written out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import (
    IdempotencyKey,
    Services,
    Svc,
    Who,
    WorkflowId,
    actor_of,
    fields_of,
    json_body,
    known_id,
    payload,
)
from api.idempotency import ANONYMOUS, fingerprint
from api.models import (
    Acting,
    ApprovalBody,
    ConsultationBody,
    HoldBody,
    MeetingResultBody,
    ObjectionBody,
    ReasonBody,
    ResolutionBody,
)
from api.routers.generated import with_parameters
from api.routers.nominations import nomination_body_schema, nomination_from
from client import nominations as nomination_ops
from client.meetings import check_meeting_counts
from domain.messages import (
    ActionReceipt,
    CentralApproval,
    ConsultationRequest,
    HoldRequest,
    MeetingResult,
    ObjectionFiling,
    ObjectionResolution,
    ReasonedAction,
    Resubmission,
)
from domain.stages import Stage
from security.tokens import Identity
from workflows.nomination import NominationWorkflow

ACTION_RESPONSES: dict[int | str, dict[str, Any]] = {403: {}, 404: {}, 409: {}}

router = APIRouter(tags=["nominations"])


@dataclass(frozen=True, kw_only=True)
class Action:
    """POST /nominations/{workflow_id}/`path`: `body` read and checked, `message` built from its fields (with
    the extra path parameters, and what `derived` adds) and the token's actor, sent as `update`."""

    path: str  # after the nomination's id
    operation: str  # the route's name, and so its OpenAPI operation id
    update: Callable[..., Any]  # a NominationWorkflow update method
    body: type[Acting]
    message: type[BaseModel]
    summary: str
    description: str = ""  # the endpoint's docstring: FastAPI cleans it (inspect.cleandoc)
    path_parameters: tuple[tuple[str, type], ...] = ()
    derived: Callable[[Any], dict[str, Any]] = field(default=lambda body: {})
    # Counts typed in for this stage's meeting: checked against the database's roster before anything is sent
    # (422 naming the field); the workflow's validator checks them again against the roster it holds.
    meeting: Stage | None = None


def approval_date(body: ApprovalBody) -> dict[str, Any]:
    """An approval that is the decision is dated today unless the body dates it."""
    return {"decision_date": (body.decision_date or date.today()) if body.decision_no else None}


ACTIONS = (
    Action(
        path="council-result",
        operation="council_result",
        update=NominationWorkflow.record_council_result,
        body=MeetingResultBody,
        message=MeetingResult,
        summary="Record a council meeting's result",
        description="""\
        The council secretary types in the meeting's counts (the path for meetings on paper; a ballot session
        sends its result by itself). The outcome follows from the tally by the policy. `tally.members` must be
        exactly the council's voting members on the roster, `present` at most `members`, and `votes_for` +
        `votes_against` (+ abstaining, the rest) at most the ballots cast, `present` + `written`: otherwise a 422
        naming the field, and nothing is recorded.""",
        meeting=Stage.COUNCIL_REVIEW,
    ),
    Action(
        path="bloc-result",
        operation="bloc_result",
        update=NominationWorkflow.record_bloc_result,
        body=MeetingResultBody,
        message=MeetingResult,
        summary="Record a bloc vote's result",
        description="""\
        The bloc head types in the bloc's counts; `tally.members` must be exactly the bloc's voting members
        (one representative per member organisation) on the roster, and the counts are checked as for a council.""",
        meeting=Stage.BLOC_VOTE,
    ),
    Action(
        path="approve",
        operation="approve",
        update=NominationWorkflow.approve,
        body=ApprovalBody,
        message=CentralApproval,
        summary="The central board approves",
        description="""\
        With `decision_no` (and `decision_date`, default today) the approval is the decision; without, the
        nomination waits in AWAITING_DECISION for a batch decision (POST /decisions).""",
        derived=approval_date,
    ),
    Action(
        path="reject",
        operation="reject",
        update=NominationWorkflow.reject,
        body=ReasonBody,
        message=ReasonedAction,
        summary="The central board rejects",
    ),
    Action(
        path="return",
        operation="return_dossier",
        update=NominationWorkflow.return_dossier,
        body=ReasonBody,
        message=ReasonedAction,
        summary="Return the dossier for supplement",
        description="""\
        Whoever holds the stage (council secretary, bloc head, central board) returns it to the unit, which has
        the policy's working days to resubmit.""",
    ),
    Action(
        path="withdraw",
        operation="withdraw",
        update=NominationWorkflow.withdraw,
        body=ReasonBody,
        message=ReasonedAction,
        summary="The proposing unit withdraws",
    ),
    Action(
        path="hold",
        operation="hold",
        update=NominationWorkflow.hold,
        body=HoldBody,
        message=HoldRequest,
        summary="Put on hold (Decree 152 Art. 4)",
        description="The secretariat or the central board holds an unfinished nomination: nothing moves, "
        "deadlines stop.",
    ),
    Action(
        path="release",
        operation="release",
        update=NominationWorkflow.release,
        body=ReasonBody,
        message=ReasonedAction,
        summary="Release from hold",
    ),
    Action(
        path="objections/{objection_id}/resolve",
        operation="resolve_objection",
        update=NominationWorkflow.resolve_objection,
        body=ResolutionBody,
        message=ObjectionResolution,
        summary="Resolve an objection",
        description="The secretariat dismisses the objection (the notice runs on) or upholds it: rejected, or "
        "returned.",
        path_parameters=(("objection_id", int),),
    ),
    Action(
        path="consultation",
        operation="consultation",
        update=NominationWorkflow.request_consultation,
        body=ConsultationBody,
        message=ConsultationRequest,
        summary="The central board consults other agencies",
        description="The appraisal may then take the policy's longer period.",
    ),
)


def add_action(action: Action) -> None:
    async def endpoint(*, workflow_id: str, body: Acting, svc: Services, who: Identity, **path: Any) -> ActionReceipt:
        message = payload(action.message, actor=actor_of(who, body), **path, **(fields_of(body) | action.derived(body)))
        client = await svc.client()
        known = known_id(workflow_id)
        if action.meeting is not None:
            assert isinstance(message, MeetingResult)
            await check_meeting_counts(client, svc.engine(), known, action.meeting, message.tally.model_dump())
        return await nomination_ops.act(client, known, action.update, message)

    endpoint.__doc__ = action.description
    with_parameters(
        endpoint,
        ("workflow_id", WorkflowId),
        *action.path_parameters,
        ("body", action.body),
        ("svc", Svc),
        ("who", Who),
    )
    router.add_api_route(
        f"/nominations/{{workflow_id:path}}/{action.path}",
        endpoint,
        methods=["POST"],
        name=action.operation,
        response_model=ActionReceipt,
        summary=action.summary,
        responses=ACTION_RESPONSES,
    )


for row in ACTIONS:
    add_action(row)


@router.post(
    "/nominations/{workflow_id:path}/resubmit",
    response_model=ActionReceipt,
    summary="Resubmit a corrected dossier",
    responses=ACTION_RESPONSES,
    openapi_extra=nomination_body_schema("Nomination"),
)
async def resubmit(workflow_id: WorkflowId, request: Request, svc: Svc, who: Who) -> ActionReceipt:
    """The body is the corrected nomination (same reference, year, ministry and award form; `proposer`
    defaults to the token's actor)."""
    nomination = nomination_from(await json_body(request), who.actor, check_proposer=False, new=False)
    action = payload(Resubmission, actor=who.actor, nomination=nomination_ops.protect_personal_id(nomination))
    return await nomination_ops.act(await svc.client(), known_id(workflow_id), NominationWorkflow.resubmit, action)


@router.post(
    "/nominations/{workflow_id:path}/objections",
    response_model=ActionReceipt,
    summary="File an objection (no token needed)",
    responses={404: {}, 409: {}},
)
async def file_objection(
    workflow_id: WorkflowId, body: ObjectionBody, svc: Svc, idempotency_key: IdempotencyKey = None
) -> Response:
    """Anyone who identifies themselves (name and contact) may object during the public notice (ý kiến phản
    ánh). The contact is kept for the secretariat; it never reaches the audit chain or search results.

    With an `Idempotency-Key` (a random one: without a token, keys are not anyone's own) a retry of the same
    objection answers the first response and files nothing again."""

    async def file() -> Response:
        filing = payload(ObjectionFiling, **body.model_dump())
        client = await svc.client()
        receipt = await nomination_ops.act(client, known_id(workflow_id), NominationWorkflow.file_objection, filing)
        return JSONResponse(receipt.model_dump(mode="json"))

    path = f"/nominations/{known_id(workflow_id)}/objections"
    request_print = fingerprint("POST", path, body.model_dump(mode="json"))
    return await svc.idempotency.run(ANONYMOUS, idempotency_key, request_print, file)
