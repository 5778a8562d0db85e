"""Secret-ballot sessions: open one, read it, the voter's credential and anonymous ballot, the chair's and the
bloc head's actions (rows of CHAIR_ACTIONS, each a BallotSessionWorkflow update), and receipts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import (
    IdempotencyKey,
    Reading,
    Services,
    SessionId,
    Svc,
    Who,
    actor_of,
    fields_of,
    on_session,
    payload,
    readable,
)
from api.idempotency import ANONYMOUS, fingerprint
from api.models import (
    Acting,
    BallotBody,
    CancelBody,
    ChairBody,
    CredentialBody,
    CredentialInfo,
    ExtendBody,
    ReceiptCheck,
    SessionOpenBody,
    SessionOpened,
    TieBody,
)
from api.problems import ProblemError, invalid
from api.routers.generated import with_parameters
from client import access
from client import ballots as ballot_ops
from client import nominations as nomination_ops
from domain.access import SessionView
from domain.ballot_messages import (
    AnonymousBallot,
    BallotReceipt,
    ChairAction,
    CredentialIssue,
    CredentialRequest,
    ListClosing,
    SessionStart,
    SessionStatus,
    TieDecision,
    session_workflow_id,
)
from domain.ballots import ReceiptState
from domain.catalog import current_policy_version
from security.tokens import Identity
from workflows.ballot_session import BallotSessionWorkflow

router = APIRouter(tags=["ballot sessions"])


def session_url(session_id: str) -> str:
    return "/ballot-sessions/" + quote(session_id, safe="-._~")


@router.post(
    "/ballot-sessions",
    status_code=201,
    response_model=SessionOpened,
    summary="Open a secret-ballot session",
    responses={200: {"model": SessionOpened, "description": "this very session had been opened before"}, 409: {}},
)
async def open_session(
    request: Request, body: SessionOpenBody, svc: Svc, who: Who, idempotency_key: IdempotencyKey = None
) -> Response:
    """Id `ballot-<kind>-<scope>-<meeting_ref>`. Nominations reaching the stage join its list on their own
    until the list is closed."""
    opener = actor_of(who, body)

    async def create() -> Response:
        now = datetime.now(UTC)
        deadline = body.deadline or now + timedelta(hours=body.deadline_hours or 0)
        if deadline <= now:
            raise invalid("deadline", "phải là thời điểm trong tương lai", en="must lie in the future")
        start = payload(
            SessionStart,
            kind=body.kind,
            scope=body.scope,
            meeting_ref=body.meeting_ref,
            opened_by=opener,
            deadline=deadline,
            policy_version=current_policy_version(date.today()),
            conflict_rule=body.conflict_rule,
            committee=body.committee,
            reminder_before_seconds=int(body.reminder_hours * 3600),
            runoff_seconds=int(body.runoff_hours * 3600),
        )
        session_id = session_workflow_id(start.kind, start.scope, start.meeting_ref)
        client = await svc.client()
        created = True
        try:
            # The opener is checked against the roster before anything starts (the workflow checks again).
            await ballot_ops.open_session(client, svc.task_queue, start, engine=svc.engine())
        except ballot_ops.DuplicateSession:
            # The same session again (a retry): the same request, its deadline aside when given in hours.
            ignore = {"deadline"} if body.deadline_hours is not None else set()
            existing = await nomination_ops.started_input(client, session_id, SessionStart)
            if existing is None or existing.model_dump(exclude=ignore) != start.model_dump(exclude=ignore):
                raise
            created = False
        url = session_url(session_id)
        answer = SessionOpened(session_id=session_id, created=created, status_url=url)
        return JSONResponse(answer.model_dump(), status_code=201 if created else 200, headers={"Location": url})

    request_print = fingerprint("POST", "/ballot-sessions", body.model_dump(mode="json"))
    return await svc.idempotency.run(who.actor, idempotency_key, request_print, create)


@router.get(
    "/ballot-sessions/{session_id}",
    response_model=SessionView,
    summary="A session's status",
    responses={403: {}, 404: {}},
)
async def session_status(session_id: SessionId, svc: Svc, scope: Reading) -> SessionView:
    """Turnout while voting (never what anyone voted); tallies, results and counted receipts once closed. Also
    the session's public keys (`keys`: the sealing key a voter's own client seals with, the issuer and class
    keys that blind-sign credentials, the counting committee and its threshold).

    Read by the council's secretary, chair and members (a council session), the bloc's head and
    representatives (a bloc session) and the central board; anyone else gets a 403. Who voted (`voted`: who took
    a ballot credential) is listed in full for the organisers (the council's secretary or chair, the bloc head);
    a voter sees only themselves (`you_voted`), every other reader an empty list; `voted_count` is always the
    count."""
    work = access.session_status(await svc.client(), scope, session_id)
    return await readable(on_session(session_id, work))


@router.get(
    "/ballot-sessions/{session_id}/credential",
    response_model=CredentialInfo,
    summary="What a voter's client needs to vote: the session's keys and the voter's class",
    responses={403: {}, 404: {}, 409: {}},
)
async def credential_info(session_id: SessionId, svc: Svc, who: Who) -> CredentialInfo:
    """For the token's actor, a voter of this session while it is VOTING: the session's public keys (sealing,
    issuer, the class keys, the counting committee) and the voter's conflict class — its key, under which the
    class message is blinded, and the candidates the voter recuses on (sealed as RECUSE, code X). 403 for an
    actor outside the session's electorate (the council's secretary included); 409 before voting opens."""
    client = await svc.client()
    paper = await on_session(session_id, ballot_ops.ballot_paper(client, session_id, who.actor, svc.engine()))
    status = paper.status
    if status.keys is None:
        raise ProblemError(
            "action-refused",
            f"phiên bỏ phiếu {session_id} đang ở trạng thái {status.phase.value}: chưa có khóa",
            detail_en=f"ballot session {session_id} is {status.phase.value}: no keys yet",
        )
    try:
        voter_class = ballot_ops.held_class(paper.held, session_id, who.actor)
    except nomination_ops.ActionRefused as err:
        raise ProblemError("forbidden", str(err)) from None
    return CredentialInfo(
        session_id=session_id, round=status.round, phase=status.phase, conflict_class=voter_class, keys=status.keys
    )


@router.post(
    "/ballot-sessions/{session_id}/credentials",
    response_model=CredentialIssue,
    summary="A voter's one-time ballot credential (blind signatures)",
    responses={403: {}, 404: {}, 409: {}},
)
async def request_credential(
    session_id: SessionId, body: CredentialBody, svc: Svc, who: Who, idempotency_key: IdempotencyKey = None
) -> Response:
    """The token's actor, a voter of this round, sends two blinded messages (RFC 9474,
    RSABSSA-SHA384-PSS-Deterministic): the token message under the issuer key and the class message under
    the voter's class key. The answer holds both blind signatures; the voter's client unblinds them and casts
    with POST /ballot-sessions/{id}/ballots, without any token. The session records that the voter took a
    credential (turnout), never which ballot is theirs: it never sees the token. One credential per voter
    and round: the very same blinded values again answer the same credential (a lost answer costs nothing),
    other values are a 409. An `Idempotency-Key` replays the first answer as well."""

    async def issue() -> Response:
        request = payload(CredentialRequest, voter=who.actor, **body.model_dump())
        client = await svc.client()
        issued = await on_session(session_id, ballot_ops.request_credential(client, session_id, request))
        return JSONResponse(issued.model_dump(mode="json"))

    request_print = fingerprint("POST", f"/ballot-sessions/{session_id}/credentials", body.model_dump(mode="json"))
    return await svc.idempotency.run(who.actor, idempotency_key, request_print, issue)


@router.post(
    "/ballot-sessions/{session_id}/ballots",
    status_code=201,
    response_model=BallotReceipt,
    summary="Cast an anonymous sealed ballot (no token: the credential is the authority)",
    responses={404: {}, 409: {}},
)
async def cast_ballot(
    session_id: SessionId, body: BallotBody, svc: Svc, idempotency_key: IdempotencyKey = None
) -> Response:
    """No bearer token is needed and none is read: the ballot's authority is its one-time credential (the
    token and its blind signature under the session's issuer key, which only a voter of this round could
    get), so nothing in this request names the voter. Send it without cookies or an Authorization header.

    The body is sealed on the voter's side (the inbox's page, `starter.py ballot cast`): a body with
    `choices` in clear is refused with a 422 naming `choices`. The session refuses (409) a token whose
    signature does not verify, a token used before (a second ballot), another round's token, a ballot not
    covering the round's list or sealed to another key. The answer's `receipt` lets the voter check later
    that the ballot was counted (GET /receipts/{receipt}). Send an `Idempotency-Key` (a random one: these
    keys are no one's own): if the answer is lost, the same ballot with the same key answers the same
    receipt again."""
    ballot = AnonymousBallot.model_validate(body.model_dump())

    async def cast() -> Response:
        client = await svc.client()
        receipt = await on_session(session_id, ballot_ops.cast_anonymous(client, session_id, ballot))
        return JSONResponse(receipt.model_dump(mode="json"), status_code=201)

    # Keyed: what the store keeps must not reveal anything of the sealed content (api/idempotency.py).
    request_print = svc.idempotency.secret_fingerprint(
        "POST", f"/ballot-sessions/{session_id}/ballots", body.model_dump(mode="json")
    )
    return await svc.idempotency.run(ANONYMOUS, idempotency_key, request_print, cast)


@dataclass(frozen=True, kw_only=True)
class ChairRow:
    """POST /ballot-sessions/{session_id}/`path`: `body` (may be left out when `optional`) read and checked,
    `message` built from its fields and the token's actor, sent as `update`; the answer is the session's status
    once the update is done."""

    path: str  # after the session's id
    operation: str  # the route's name, and so its OpenAPI operation id
    update: Callable[..., Any]  # a BallotSessionWorkflow update method
    body: type[Acting]
    message: type[BaseModel]
    summary: str
    description: str = ""  # the endpoint's docstring: FastAPI cleans it (inspect.cleandoc)
    optional: bool = False


CHAIR_ACTIONS = (
    ChairRow(
        path="close-list",
        operation="close_list",
        update=BallotSessionWorkflow.close_list,
        body=Acting,
        message=ListClosing,
        summary="Close the list and open the voting",
        description="The council secretary (or bloc head): the list is final and the electorate is snapshotted.",
        optional=True,
    ),
    ChairRow(
        path="close",
        operation="close_voting",
        update=BallotSessionWorkflow.close_voting,
        body=ChairBody,
        message=ChairAction,
        summary="The chair closes the voting",
        description="Once a quorum has voted (a session also closes by itself when everyone has voted, or at the "
        "deadline).",
        optional=True,
    ),
    ChairRow(
        path="extend",
        operation="extend",
        update=BallotSessionWorkflow.extend,
        body=ExtendBody,
        message=ChairAction,
        summary="The chair moves the deadline",
    ),
    ChairRow(
        path="cancel",
        operation="cancel",
        update=BallotSessionWorkflow.cancel,
        body=CancelBody,
        message=ChairAction,
        summary="The chair cancels the session",
    ),
    ChairRow(
        path="decide-tie",
        operation="decide_tie",
        update=BallotSessionWorkflow.decide_tie,
        body=TieBody,
        message=TieDecision,
        summary="The bloc head decides a tie the runoff rounds left",
        description="""\
        While the session is AWAITING_HEAD: exactly `seats_left` of the `tied` nominations take the seats. The
        decision is kept in the minutes and the audit chain; the answer comes once the results have gone out.""",
    ),
)


def add_chair_action(row: ChairRow) -> None:
    async def endpoint(*, session_id: str, body: Acting | None, svc: Services, who: Identity) -> SessionStatus:
        message = payload(row.message, actor=actor_of(who, body), **fields_of(body))
        client = await svc.client()
        return await on_session(
            session_id, nomination_ops.act(client, session_id, row.update, message, result_type=SessionStatus)
        )

    endpoint.__doc__ = row.description
    body = ("body", row.body | None, None) if row.optional else ("body", row.body)
    with_parameters(endpoint, ("session_id", SessionId), ("svc", Svc), ("who", Who), body)
    router.add_api_route(
        f"/ballot-sessions/{{session_id}}/{row.path}",
        endpoint,
        methods=["POST"],
        name=row.operation,
        response_model=SessionStatus,
        summary=row.summary,
        responses={403: {}, 404: {}, 409: {}},
    )


for chair_row in CHAIR_ACTIONS:
    add_chair_action(chair_row)


@router.get(
    "/receipts/{receipt:path}",
    response_model=ReceiptCheck,
    summary="Verify a ballot receipt",
    responses={404: {}},
)
async def verify_receipt(receipt: str, svc: Svc, who: Who) -> ReceiptCheck:
    """`state`: COUNTED, SPOILED (the ballot arrived but its sealed content did not open: not counted),
    NOT_FOUND (no ballot of this session issued it) or SESSION_NOT_CLOSED (receipts are published at the
    count). `counted` says the same as a boolean, null before the close.

    A receipt is its voter's secret (a hash that names neither the voter nor a choice): whoever holds it may
    check it, so any valid token may ask, on the roster or not."""
    try:
        session_id = receipt.strip().rpartition(":")[0]
        checked = await on_session(session_id, ballot_ops.check_receipt(await svc.client(), receipt))
    except ValueError as err:
        raise invalid("receipt", str(err)) from None
    session_id, state = checked
    counted = None if state == ReceiptState.SESSION_NOT_CLOSED else state == ReceiptState.COUNTED
    return ReceiptCheck(receipt=receipt.strip(), session_id=session_id, counted=counted, state=state)
