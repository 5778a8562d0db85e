"""Decisions naming many approved nominations: issue one, follow it."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from api.deps import IdempotencyKey, Reading, Svc, Who, actor_of, payload
from api.idempotency import fingerprint
from api.models import DecisionAccepted, DecisionBody
from api.problems import ProblemError
from client import access
from client import decisions as decision_ops
from client import nominations as nomination_ops
from domain.decisions import DecisionRef, DecisionRequest, DecisionSummary, decision_workflow_id

router = APIRouter(tags=["decisions"])


def decision_url(decision_no: str) -> str:
    return "/decisions/" + quote(decision_no, safe="/-._~")


@router.post(
    "/decisions",
    status_code=201,
    response_model=DecisionSummary,
    summary="Issue a decision naming many nominations",
    responses={
        200: {"model": DecisionSummary, "description": "this very decision had been issued before"},
        202: {"model": DecisionAccepted, "description": "with wait=false: started; follow status_url"},
        409: {},
    },
)
async def issue_decision(
    request: Request,
    body: DecisionBody,
    svc: Svc,
    who: Who,
    idempotency_key: IdempotencyKey = None,
    wait: Annotated[bool, Query(description="wait for every nomination to be decided (default)")] = True,
) -> Response:
    """Each nomination waiting for that authority's decision ends AWARDED with the number; the others are
    listed refused with the reason. A decision number is used once. The answer lists every nomination in the
    order given."""
    signer = actor_of(who, body)

    async def create() -> Response:
        decision = payload(
            DecisionRef,
            decision_no=body.decision_no,
            decision_date=body.decision_date,
            authority=body.authority,
            actor=signer,
        )
        decision_request = payload(DecisionRequest, decision=decision, workflow_ids=body.workflow_ids)
        client = await svc.client()
        workflow_id = decision_workflow_id(decision.decision_no)
        created = True
        try:
            await decision_ops.start_decision(client, svc.task_queue, decision_request)
        except decision_ops.DuplicateDecision:
            existing = await nomination_ops.started_input(client, workflow_id, DecisionRequest)
            if existing != decision_request:
                raise
            created = False
        url = decision_url(decision.decision_no)
        if not wait:
            accepted = DecisionAccepted(
                decision_no=decision.decision_no, workflow_id=workflow_id, created=created, status_url=url
            )
            return JSONResponse(accepted.model_dump(), status_code=202 if created else 200, headers={"Location": url})
        summary = await client.get_workflow_handle(workflow_id, result_type=DecisionSummary).result()
        return JSONResponse(
            summary.model_dump(mode="json"), status_code=201 if created else 200, headers={"Location": url}
        )

    request_print = fingerprint("POST", f"/decisions?wait={wait}", body.model_dump(mode="json"))
    return await svc.idempotency.run(who.actor, idempotency_key, request_print, create)


@router.get(
    "/decisions/{decision_no:path}",
    response_model=DecisionSummary,
    summary="A decision's progress and outcome",
    responses={403: {}, 404: {}},
)
async def decision_status(decision_no: str, svc: Svc, scope: Reading) -> DecisionSummary:
    """The nominations the decision has been applied to so far (all of them once it has ended), each listed
    only if the token's actor may read it."""
    try:
        summary = await decision_ops.decision_progress(await svc.client(), decision_no.strip())
    except KeyError:
        raise ProblemError(
            "not-found",
            f"không có quyết định {decision_no.strip()}",
            detail_en=f"no decision {decision_no.strip()}",
        ) from None
    return await access.decision_summary(svc.engine(), scope, summary)
