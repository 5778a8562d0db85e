"""Nominations: create one or a list, find them, read one's status."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic.json_schema import models_json_schema
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.deps import (
    BATCH_CONCURRENCY,
    IdempotencyKey,
    Reading,
    Svc,
    Who,
    WorkflowId,
    json_body,
    known_id,
    readable,
)
from api.idempotency import fingerprint
from api.models import MAX_BATCH, BatchItem, BatchResult, NominationCreated, NominationRow
from api.page_tokens import opened_page_token, sealed_page_token
from api.problems import ProblemError, invalid
from client import access
from client import nominations as nomination_ops
from domain.calendar import VIETNAM_TZ
from domain.catalog import current_policy_version, policy_set
from domain.errors import FieldError, InvalidInput
from domain.identity import matches
from domain.messages import NominationStatus
from domain.nomination import Nomination, parse_nomination, workflow_id_for
from domain.stages import Stage

# GET /nominations reads Temporal's visibility a page at a time.
PAGE_SIZE, MAX_PAGE = 100, 1000

router = APIRouter(tags=["nominations"])


def nomination_url(workflow_id: str) -> str:
    return "/nominations/" + quote(workflow_id, safe="/-._~")


def nomination_body_schema(name: str) -> dict[str, Any]:
    """The request body of a route that reads a nomination raw (to validate it in full): its schema by name."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
    }


def nomination_schemas() -> dict[str, Any]:
    """Nomination (and its parts) for the document: the routes read it raw to validate it in full."""
    _, document = models_json_schema([(Nomination, "validation")], ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = dict(document.get("$defs", {}))
    nomination = schemas["Nomination"]
    nomination["required"] = [name for name in nomination.get("required", []) if name != "proposer"]
    nomination["properties"]["proposer"]["description"] = "default: the token's actor; if given, must be it"
    schemas["NominationBatch"] = {
        "type": "object",
        "title": "NominationBatch",
        "required": ["nominations"],
        "additionalProperties": False,
        "properties": {
            "nominations": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_BATCH,
                "items": {"$ref": "#/components/schemas/Nomination"},
            }
        },
    }
    return schemas


def nomination_from(raw: Any, actor: str, *, check_proposer: bool = True, new: bool = True) -> Nomination:
    """Validate a nomination in full (every field at fault named; catalog checks too; for a `new` one, the
    award year against today's date in Vietnam). Without a proposer the token's actor proposes; a different
    proposer is refused."""
    if not isinstance(raw, dict):
        raise InvalidInput([FieldError(field="(root)", message="cần một đối tượng JSON: một hồ sơ đề nghị")])
    proposer = raw.get("proposer")
    if proposer is None:
        raw = {**raw, "proposer": actor}
    elif check_proposer and proposer != actor:
        raise ProblemError(
            "forbidden",
            f"proposer: {proposer!r} không phải người đứng tên mã đăng nhập {actor!r}: đơn vị chỉ đề nghị với tư "
            "cách chính mình",
            detail_en=f"proposer {proposer!r} is not the token's actor {actor!r}: a unit proposes as itself",
        )
    today = datetime.now(VIETNAM_TZ).date()
    return parse_nomination(raw, policy_set(current_policy_version(today)), today=today if new else None)


async def start_or_existing(
    client: Client, task_queue: str, nomination: Nomination, engine: AsyncEngine, *, listed: bool = False
) -> tuple[str, bool]:
    """client.nominations.start_or_existing, as the API starts a nomination (channel API), checked first
    against the database roster and the identity claims; `listed`: a row of the batch, started as lists are
    (client.nominations.start_listed: bulk priority, the ministry's admission window)."""
    try:
        if listed:
            return await nomination_ops.start_listed(client, task_queue, nomination, channel="API", engine=engine)
        return await nomination_ops.start_or_existing(client, task_queue, nomination, channel="API", engine=engine)
    except nomination_ops.ProposalRefused as refused:
        raise ProblemError("forbidden", str(refused)) from None


async def check_proposals(engine: AsyncEngine, nominations: list[Nomination]) -> None:
    """Every nomination of a request checked against the roster before any starts: an unknown ministry is a
    422 naming `nominations.<i>.ministry`, a proposer the roster does not let propose is a 403 naming each."""
    invalid_fields: list[FieldError] = []
    refused: list[FieldError] = []
    for index, nomination in enumerate(nominations):
        try:
            await nomination_ops.check_proposal(engine, nomination_ops.protect_personal_id(nomination))
        except InvalidInput as err:
            invalid_fields += [
                FieldError(field=f"nominations.{index}.{e.field}", message=e.message) for e in err.errors
            ]
        except nomination_ops.ProposalRefused as err:
            refused.append(FieldError(field=f"nominations.{index}.proposer", message=str(err)))
        except nomination_ops.DuplicateNominee:
            continue  # reported on its item (REFUSED), as another nomination's reference is
    if invalid_fields:
        raise InvalidInput(invalid_fields)
    if refused:
        raise ProblemError("forbidden", "; ".join(f"{e.field}: {e.message}" for e in refused), errors=refused)


@router.post(
    "/nominations",
    status_code=201,
    response_model=NominationCreated,
    summary="Create a nomination",
    responses={
        200: {"model": NominationCreated, "description": "this very nomination had been started before"},
        403: {},
        409: {},
    },
    openapi_extra=nomination_body_schema("Nomination"),
)
async def create_nomination(request: Request, svc: Svc, who: Who, idempotency_key: IdempotencyKey = None) -> Response:
    """Validate the nomination completely (every bad field named, nothing started; an award year in the future
    or before the policy's window and a ministry the roster does not know included) and start its workflow,
    `nomination-<year>-<ministry>-<reference>`. `proposer` defaults to the token's actor, who must be unit
    staff of the nomination's ministry (else 403 naming the actor, the role and the ministry). The same
    nominee already proposed for the award form and year, under any reference, is a 409 naming that
    nomination. A nominee's `personal_id` is kept only as its keyed hash."""
    raw = await json_body(request)

    async def create() -> Response:
        nomination = nomination_from(raw, who.actor)
        workflow_id, created = await start_or_existing(await svc.client(), svc.task_queue, nomination, svc.engine())
        url = nomination_url(workflow_id)
        body = NominationCreated(workflow_id=workflow_id, created=created, status_url=url)
        return JSONResponse(body.model_dump(), status_code=201 if created else 200, headers={"Location": url})

    return await svc.idempotency.run(who.actor, idempotency_key, fingerprint("POST", "/nominations", raw), create)


@router.post(
    "/nominations:batch",
    response_model=BatchResult,
    summary="Create a list of nominations",
    responses={403: {}},
    openapi_extra=nomination_body_schema("NominationBatch"),
)
async def create_nominations(request: Request, svc: Svc, who: Who, idempotency_key: IdempotencyKey = None) -> Response:
    """`{"nominations": [...]}` (up to 500). Every nomination is validated first: one bad field anywhere and
    nothing is started (422 naming `nominations.<i>.<field>`). Then each is started: CREATED, EXISTING (this
    very nomination was started before) or REFUSED (another nomination holds its year, ministry and reference)."""
    raw = await json_body(request)

    async def create() -> Response:
        items = raw.get("nominations") if isinstance(raw, dict) else None
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
            raise invalid(
                "nominations",
                f"cần một danh sách từ 1 đến {MAX_BATCH} hồ sơ đề nghị",
                en=f"expected a list of 1 to {MAX_BATCH} nominations",
            )
        extra = sorted(set(raw) - {"nominations"})
        errors = [FieldError(field=name, message="trường không được nhận") for name in extra]
        parsed: list[Nomination] = []
        seen: dict[str, int] = {}
        seen_nominees: dict[tuple[str, str, int], int] = {}
        for index, item in enumerate(items):
            try:
                nomination = nomination_from(item, who.actor)
            except InvalidInput as err:
                errors += [FieldError(field=f"nominations.{index}.{e.field}", message=e.message) for e in err.errors]
                continue
            except ProblemError as err:
                raise ProblemError(
                    err.kind.slug,
                    f"nominations.{index}: {err.detail}",
                    detail_en=f"nominations.{index}: {err.detail_en or err.detail}",
                ) from None
            workflow_id = workflow_id_for(nomination)
            nominee = nomination_ops.request_identity(nomination)
            if workflow_id in seen:
                message = f"same year, ministry and reference as nominations.{seen[workflow_id]}"
                errors.append(FieldError(field=f"nominations.{index}.reference", message=message))
            elif nominee in seen_nominees:
                message = f"the same nominee, award form and year as nominations.{seen_nominees[nominee]}"
                errors.append(FieldError(field=f"nominations.{index}.nominee", message=message))
            seen.setdefault(workflow_id, index)
            seen_nominees.setdefault(nominee, index)
            parsed.append(nomination)
        if errors:
            raise InvalidInput(errors)
        await check_proposals(svc.engine(), parsed)

        client = await svc.client()
        gate = asyncio.Semaphore(BATCH_CONCURRENCY)

        async def one(index: int, nomination: Nomination) -> BatchItem:
            async with gate:
                try:
                    workflow_id, created = await start_or_existing(
                        client, svc.task_queue, nomination, svc.engine(), listed=True
                    )
                except nomination_ops.DuplicateNomination as duplicate:
                    return BatchItem(
                        index=index, workflow_id=duplicate.workflow_id, outcome="REFUSED", detail=str(duplicate)
                    )
                return BatchItem(index=index, workflow_id=workflow_id, outcome="CREATED" if created else "EXISTING")

        results = await asyncio.gather(*(one(i, n) for i, n in enumerate(parsed)))
        body = BatchResult(
            created=sum(r.outcome == "CREATED" for r in results),
            existing=sum(r.outcome == "EXISTING" for r in results),
            refused=sum(r.outcome == "REFUSED" for r in results),
            items=list(results),
        )
        return JSONResponse(body.model_dump(mode="json"))

    return await svc.idempotency.run(who.actor, idempotency_key, fingerprint("POST", "/nominations:batch", raw), create)


@router.get(
    "/nominations",
    response_model=list[NominationRow],
    summary="Search and filter nominations",
    responses={403: {}},
)
async def list_nominations(
    request: Request,
    response: Response,
    svc: Svc,
    scope: Reading,
    stage: Stage | None = None,
    ministry: Annotated[str | None, Query(pattern=r"^[A-Z][A-Z0-9_]{1,23}$")] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    award_form: Annotated[str | None, Query(pattern=r"^[A-Z][A-Z0-9_]{1,23}$")] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="in the nominee's name or the id")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="rows read per page (newest first)")] = PAGE_SIZE,
    page_token: Annotated[
        str | None, Query(max_length=4096, description='from the previous page\'s `Link: <...>; rel="next"`')
    ] = None,
) -> list[NominationRow]:
    """Nominations from Temporal's visibility (search attributes `NominationStage`, `Ministry`, `AwardYear`,
    `AwardForm`), a page at a time: while more remain, the answer carries `Link: <url>; rel="next"` (and the
    token in `X-Next-Page-Token`). `q` narrows each page to a text in the nominee's name or the workflow id,
    so a page may hold fewer than `limit` rows; follow `next` until it is absent.

    Only the nominations the token's actor may read are listed (unit staff and councils: their ministry's;
    bloc representatives: their bloc's candidates; the central board: all). `ministry=` naming a ministry of
    which they may read nothing is a 403; an actor not on the roster is a 403."""
    if ministry is not None and (refusal := access.ministry_filter_error(scope, ministry)) is not None:
        raise ProblemError("forbidden", refusal)
    token = None
    if page_token is not None:
        token = opened_page_token(svc.keyring, page_token)
        if token is None:
            raise invalid("page_token", "không phải mã trang do danh sách này cấp", en="not a token this listing gave")
    try:
        rows, following = await access.nomination_page(
            await svc.client(),
            scope,
            stage=stage.value if stage else None,
            ministry=ministry,
            year=year,
            award_form=award_form,
            page_size=limit,
            page_token=token,
        )
    except RPCError as err:
        # The server answers a forged token as it likes (INVALID_ARGUMENT, or UNKNOWN for some bytes); only a
        # server that is away is not the token's fault.
        unavailable = err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)
        if token is not None and not unavailable:
            raise invalid(
                "page_token", "không phải mã trang do danh sách này cấp", en="not a token this listing gave"
            ) from None
        raise
    found = [NominationRow.model_validate(row) for row in rows]
    if q:
        # Insensitive to case, Unicode form and diacritics: "Hang" finds "Hằng" (domain/identity.py).
        found = [row for row in found if matches(q, row.nominee, row.workflow_id)]
    if following:
        encoded = sealed_page_token(svc.keyring, following)
        next_url = request.url.include_query_params(page_token=encoded)
        response.headers["Link"] = f'<{next_url.path}?{next_url.query}>; rel="next"'
        response.headers["X-Next-Page-Token"] = encoded
    return found


@router.get(
    "/nominations/{workflow_id:path}",
    response_model=NominationStatus,
    summary="A nomination's status",
    responses={403: {}, 404: {}},
)
async def nomination_status(workflow_id: WorkflowId, svc: Svc, scope: Reading) -> NominationStatus:
    """Stage, transitions, objections, hold and what it waits for (the workflow's `status` query), for a reader
    who may read it (403 otherwise). A reader who may not read the whole ministry the id names gets the same
    403 whether or not the nomination exists; 404 only to one who may."""
    return await readable(access.nomination_status(await svc.client(), scope, known_id(workflow_id)))
