"""The HTTP API: what the staff CLI (starter.py) does, over HTTP, for unit, council, bloc and central-board
software. The OpenAPI document is served at ``/openapi.json`` (Swagger UI at ``/docs``).

* **Who acts.** Every call but filing an objection and casting a ballot carries a signed token
  (``Authorization: Bearer <token>``, security.tokens; the keys of ``TDKT_AUTH_KEYS``/``TDKT_AUTH_KEY_ID``, as the
  CLI's). The token's actor is the actor of every action; the workflows' validators then check that actor's
  role again. A ballot is cast with no token at all: its one-time blind-signed credential is its authority,
  so nothing in the request names the voter.
* **Errors** are problem details (RFC 9457, ``application/problem+json``): see api/problems.py.
* **Idempotency.** ``Idempotency-Key`` on POST /nominations, /nominations:batch, /nominations:import,
  /ballot-sessions and /decisions, and on casting a ballot and filing an objection: see api/idempotency.py.
  Behind it, the workflow id is the business key, so even after a restart a retry cannot start a second
  nomination, session or decision.
* **Workflow ids contain '/'** (``nomination-2026-BTP-145/TTr-BTP``): the routes take the id as a path
  (``/nominations/nomination-2026-BTP-145/TTr-BTP/withdraw``: the action is the last segment), or URL-encoded
  (``…-145%2FTTr-BTP/withdraw``); both reach the same nomination.

``create_app(client)`` takes a connected Temporal client (tests), a factory returning one, or Settings
(``python -m api``: connects on first use, as the worker and the CLI do).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.idempotency import ANONYMOUS, IdempotencyStore, fingerprint, secret_fingerprint
from api.limits import BodyLimits
from api.models import (
    MAX_BATCH,
    Acting,
    ApprovalBody,
    BallotBody,
    BatchItem,
    BatchResult,
    CancelBody,
    ChairBody,
    ConsultationBody,
    CountingKeyBody,
    CountingKeyEnrolled,
    CredentialBody,
    CredentialInfo,
    DecisionAccepted,
    DecisionBody,
    ExtendBody,
    HoldBody,
    ImportItem,
    ImportResult,
    MeetingResultBody,
    NominationCreated,
    NominationRow,
    ObjectionBody,
    ReasonBody,
    ReceiptCheck,
    ResolutionBody,
    SessionOpenBody,
    SessionOpened,
    ShareBody,
    ShareReceipt,
    TieBody,
)
from api.problems import (
    PROBLEM_TYPES,
    ProblemError,
    install_problem_handlers,
    invalid,
    problem_responses_in_openapi,
    unauthenticated,
)
from api.tokens import TokenRevocation, TokenRevocationBody
from client import access, importer
from client import ballots as ballot_ops
from client import decisions as decision_ops
from client import nominations as nomination_ops
from client.revocation import RevocationStore, RevocationUnavailable, TokenRevoked
from client.settings import Settings
from domain.access import ReadScope, SessionView
from domain.ballot_messages import (
    AnonymousBallot,
    BallotReceipt,
    ChairAction,
    CredentialIssue,
    CredentialRequest,
    ListClosing,
    MemberShare,
    SessionStart,
    SessionStatus,
    ShareHandIn,
    TieDecision,
    session_workflow_id,
)
from domain.ballots import ReceiptState
from domain.calendar import VIETNAM_TZ
from domain.catalog import current_policy_version, policy_set
from domain.decisions import DecisionRef, DecisionRequest, DecisionSummary, decision_workflow_id
from domain.errors import FieldError, InvalidInput
from domain.identity import matches
from domain.messages import (
    ActionReceipt,
    CentralApproval,
    ConsultationRequest,
    HoldRequest,
    MeetingResult,
    NominationStatus,
    ObjectionFiling,
    ObjectionResolution,
    ReasonedAction,
    Resubmission,
)
from domain.nomination import Nomination, parse_nomination, workflow_id_for
from domain.stages import Stage
from security.sealing import SealError
from security.tokens import AuthError, Identity, Keyring, keyring_from_env, verify_token

ClientFactory = Callable[[], Awaitable[Client]]
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

API_TITLE = "TĐKT nomination engine API"
API_VERSION = "1.0.0"
MAX_BODY_BYTES = 8 * 1024 * 1024
# GET /nominations reads Temporal's visibility a page at a time.
PAGE_SIZE, MAX_PAGE = 100, 1000
MAX_IMPORT_ROWS = 2000
BATCH_CONCURRENCY = 16
EXPORT_MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
EXPORT_MEDIA = tuple(EXPORT_MEDIA_TYPES.values())
TAGS = [
    {"name": "nominations", "description": "Create, find and follow nominations; every human action on one."},
    {"name": "ballot sessions", "description": "Secret-ballot sessions of councils and blocs (bỏ phiếu kín)."},
    {"name": "decisions", "description": "Decisions naming many approved nominations; the list of awardees."},
    {"name": "tokens", "description": "Revoking a signed token before it expires (signing out everywhere)."},
    {"name": "problems", "description": "What each problem `type` of an error answer means."},
]
DESCRIPTION = """
Award nominations (thi đua – khen thưởng) as Temporal workflows: what `starter.py` does, over HTTP.

**Authentication.** `Authorization: Bearer <token>` — a signed token (JWT, HS256) from
`starter.py token issue --for ACTOR`. The token's actor is the actor of every action (a body may name it as
`actor`, or a nomination as `proposer`; it must then be the token's); each workflow checks that actor's role
against the roster again. Filing an objection needs no token: anyone who gives a name and a contact may.
A token can be revoked before it expires (POST /tokens/revoke with it, or `starter.py token revoke`); a revoked
token is a 401 naming its id (`jti`), as it is to the CLI and the inbox.

**Secret ballots.** A voter's client takes the session's keys and its conflict class
(GET /ballot-sessions/{id}/credential), asks for a one-time credential with two blinded messages
(POST /ballot-sessions/{id}/credentials, with the voter's token), seals the choices itself and casts the
ballot with NO token (POST /ballot-sessions/{id}/ballots): the credential is the authority, and the API
accepts only sealed ballots. The counting committee (Ban kiểm phiếu) enrolls counting keys
(POST /counting-keys), and once the round's voting is over each member fetches their encrypted share
(GET /ballot-sessions/{id}/share) and hands it in decrypted (POST /ballot-sessions/{id}/shares); the count
runs when the threshold is reached.

**Errors** are `application/problem+json` (RFC 9457) with `type`, `title`, `status`, `detail`, `instance`,
and `errors: [{field, message}]` on 422. `type` URIs are served under `/problems/`.

**Idempotency.** POST /nominations, /nominations:batch, /nominations:import, /ballot-sessions and /decisions,
casting a ballot and filing an objection take an `Idempotency-Key` header: the same key with the same body
answers with the first response (a ballot's receipt again, when the first answer was lost); with another
body, 409. Keys are the token actor's own; an objection's (no token) are everyone's: use a random key.
Independently of the key, a nomination (year, ministry, reference), a session (kind, scope, meeting) or a
decision number is started once: the same request again answers 200 with the existing one; a different one
under the same business key is a 409.

**Lists.** POST /nominations:import takes a spreadsheet (XLSX) or CSV file as the body, the columns of
`samples/import-template.xlsx`, as `starter.py import` does.

**Workflow ids contain `/`** (`nomination-2026-BTP-145/TTr-BTP`): put them in the path as they are, or
URL-encoded; the action is always the last segment.
"""


# ---- the services behind the routes ----------------------------------------------------------------------


class Services:
    """The Temporal client (connected on first use), the database (for exports), the token keyring, the
    revoked tokens (in the same database), the task queue new workflows start on, and the idempotency store."""

    def __init__(
        self,
        *,
        settings: Settings,
        keyring: Keyring,
        task_queue: str,
        client: Client | ClientFactory,
        engine: AsyncEngine | None,
        idempotency: IdempotencyStore,
        revocations: RevocationStore | None = None,
    ):
        self.settings = settings
        self.keyring = keyring
        self.task_queue = task_queue
        self.idempotency = idempotency
        self.revocations = revocations or RevocationStore(self.engine)
        self._client = client if isinstance(client, Client) else None
        self._factory = None if isinstance(client, Client) else client
        self._engine = engine
        self._owns_engine = engine is None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    assert self._factory is not None
                    try:
                        self._client = await self._factory()
                    except (RuntimeError, OSError) as err:
                        raise ProblemError(
                            "service-unavailable",
                            f"cannot reach Temporal at {self.settings.temporal_address}: {err}",
                        ) from None
        return self._client

    def engine(self) -> AsyncEngine:
        if self._engine is None:
            from store.db import create_engine, default_database_url

            self._engine = create_engine(self.settings.database_url or default_database_url())
        return self._engine

    async def aclose(self) -> None:
        if self._owns_engine and self._engine is not None:
            await self._engine.dispose()
            self._engine = None


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    scheme_name="bearerAuth",
    description="A signed token from `starter.py token issue --for ACTOR`; its actor acts.",
)


async def signed_identity(
    svc: Annotated[Services, Depends(services)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Identity:
    """The bearer token's identity: signature, issuer, expiry and lifetime checked, not yet revocation."""
    if credentials is None or not credentials.credentials.strip():
        raise unauthenticated(
            "a signed token is required: Authorization: Bearer <token> (an administrator issues one with "
            "`starter.py token issue --for ACTOR`)"
        )
    try:
        return verify_token(svc.keyring, credentials.credentials.strip())
    except (AuthError, ValueError) as err:
        raise unauthenticated(f"unauthenticated: {err}") from None


async def authenticate(
    svc: Annotated[Services, Depends(services)], identity: Annotated[Identity, Depends(signed_identity)]
) -> Identity:
    """The bearer token's identity, unless the token was revoked (401 naming its id). When the revoked tokens
    cannot be read the token is not accepted unchecked: 503."""
    try:
        return await svc.revocations.check(identity)
    except TokenRevoked as err:
        raise unauthenticated(f"unauthenticated: {err}") from None
    except RevocationUnavailable as err:
        raise ProblemError("service-unavailable", str(err)) from None


Svc = Annotated[Services, Depends(services)]
Who = Annotated[Identity, Depends(authenticate)]
Signed = Annotated[Identity, Depends(signed_identity)]


async def reader(svc: Svc, who: Who) -> ReadScope:
    """What the token's actor may read, from the database roster (domain/access.py); an actor who may read
    nothing (not on the roster, or no role) is refused with a 403 naming them."""
    try:
        return await access.checked_scope(svc.engine(), who.actor)
    except access.ReadRefused as err:
        raise ProblemError("forbidden", str(err)) from None


Reading = Annotated[ReadScope, Depends(reader)]


async def readable(work: Awaitable[T]) -> T:
    """A read the reader may not make is a 403 naming them and what they asked for, nothing more."""
    try:
        return await work
    except access.ReadRefused as err:
        raise ProblemError("forbidden", str(err)) from None


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="the same key with the same body answers with the first response; with another body, 409",
    ),
]
WorkflowId = Annotated[
    str,
    PathParam(
        pattern=r"^nomination-",
        description="a nomination's workflow id (`nomination-<year>-<ministry>-<reference>`), as it is (it contains "
        "'/') or URL-encoded",
    ),
]
SessionId = Annotated[
    str, PathParam(pattern=r"^ballot-(council|bloc)-", description="a ballot session's id (`ballot-<kind>-...`)")
]


def actor_of(who: Identity, body: BaseModel | None = None) -> str:
    named = getattr(body, "actor", None)
    if named is not None and named != who.actor:
        raise ProblemError("forbidden", f"the token is for {who.actor!r}, not {named!r}; nothing was done")
    return who.actor


def payload(model: type[M], **fields: Any) -> M:
    """A domain payload: its own validation (pydantic.ValidationError → 422 naming the fields). A person's
    action is marked as taken through the API, for the audit record."""
    if "channel" in model.model_fields:
        fields["channel"] = "API"
    return model.model_validate(fields)


def nomination_url(workflow_id: str) -> str:
    return "/nominations/" + quote(workflow_id, safe="/-._~")


async def json_body(request: Request) -> Any:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise invalid("body", f"larger than {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise invalid("body", f"not valid JSON: {err}") from None


PAGE_TOKEN_TAG = 16  # bytes of HMAC-SHA256 before Temporal's own token


def _page_token_mac(keyring: Keyring, raw: bytes) -> bytes:
    secret = keyring.keys[keyring.current].encode()
    return hmac.new(secret, b"nominations-page\x1f" + raw, hashlib.sha256).digest()[:PAGE_TOKEN_TAG]


def sealed_page_token(keyring: Keyring, raw: bytes) -> str:
    """Temporal's next-page token under this deployment's tag: a token this API did not give (forged, altered)
    is refused before it reaches Temporal, which would otherwise retry it for seconds."""
    return base64.urlsafe_b64encode(_page_token_mac(keyring, raw) + raw).decode().rstrip("=")


def opened_page_token(keyring: Keyring, text: str) -> bytes | None:
    try:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (ValueError, binascii.Error):
        return None
    tag, raw = decoded[:PAGE_TOKEN_TAG], decoded[PAGE_TOKEN_TAG:]
    if not raw or not hmac.compare_digest(tag, _page_token_mac(keyring, raw)):
        return None
    return raw


def known_id(workflow_id: str) -> str:
    workflow_id = workflow_id.strip()
    if not workflow_id:
        raise ProblemError("not-found", "no workflow id in the path")
    return workflow_id


# ---- tokens ------------------------------------------------------------------------------------------------

tokens = APIRouter(tags=["tokens"])


@tokens.post(
    "/tokens/revoke",
    response_model=TokenRevocation,
    summary="Revoke the token carrying this request",
    responses={503: {}},
)
async def revoke_token(svc: Svc, who: Signed, body: TokenRevocationBody | None = None) -> TokenRevocation:
    """Sign out everywhere this token is used: its id (`jti`) is listed as revoked, and from then on the API
    (401 naming the id), the CLI and the inbox refuse it until it expires. Only the token carrying the
    request is revoked, never one a body names (a `jti` field is a 422 naming it); other tokens of the same
    actor keep working. An operator revokes any token by its id with `starter.py token revoke --jti` (it needs
    the signing keys). Revoking a revoked token again changes nothing: 200 with the first revocation and
    `already_revoked: true`. Another API process that checked the token within the last few seconds may
    still accept it for those seconds (README, Tokens)."""
    try:
        revocation, made = await svc.revocations.revoke_own(who, body.reason if body else None)
    except RevocationUnavailable as err:
        raise ProblemError("service-unavailable", str(err)) from None
    return TokenRevocation(
        jti=revocation.jti,
        revoked_at=revocation.revoked_at,
        refused_until=revocation.expires_at,
        already_revoked=not made,
    )


# ---- nominations -------------------------------------------------------------------------------------------

nominations = APIRouter(tags=["nominations"])


def nomination_body_schema(name: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
    }


def nomination_from(raw: Any, actor: str, *, check_proposer: bool = True, new: bool = True) -> Nomination:
    """Validate a nomination in full (every field at fault named; catalog checks too; for a `new` one, the
    award year against today's date in Vietnam). Without a proposer the token's actor proposes; a different
    proposer is refused."""
    if not isinstance(raw, dict):
        raise InvalidInput([FieldError(field="(root)", message="expected a JSON object: a nomination")])
    proposer = raw.get("proposer")
    if proposer is None:
        raw = {**raw, "proposer": actor}
    elif check_proposer and proposer != actor:
        raise ProblemError(
            "forbidden", f"proposer {proposer!r} is not the token's actor {actor!r}: a unit proposes as itself"
        )
    today = datetime.now(VIETNAM_TZ).date()
    return parse_nomination(raw, policy_set(current_policy_version(today)), today=today if new else None)


async def start_or_existing(
    client: Client, task_queue: str, nomination: Nomination, engine: AsyncEngine
) -> tuple[str, bool]:
    """client.nominations.start_or_existing, as the API starts a nomination (channel API), checked first
    against the database roster and the identity claims."""
    try:
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


@nominations.post(
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


@nominations.post(
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
            raise invalid("nominations", f"expected a list of 1 to {MAX_BATCH} nominations")
        extra = sorted(set(raw) - {"nominations"})
        errors = [FieldError(field=name, message="unexpected field") for name in extra]
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
                raise ProblemError(err.kind.slug, f"nominations.{index}: {err.detail}") from None
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
                    workflow_id, created = await start_or_existing(client, svc.task_queue, nomination, svc.engine())
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


IMPORT_MEDIA_TYPES = {"text/csv": ".csv", "application/csv": ".csv", EXPORT_MEDIA_TYPES["xlsx"]: ".xlsx"}
IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": (
            "The file itself as the body (not multipart): a CSV (UTF-8, `,` `;` or tab separated) or an XLSX "
            "workbook (its first sheet), with the columns of `samples/import-template.xlsx`: a header row, "
            "then one nomination a row, every row proposed by the token's actor."
        ),
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}}
            for media in ("text/csv", EXPORT_MEDIA_TYPES["xlsx"])
        },
    }
}


@nominations.post(
    "/nominations:import",
    response_model=ImportResult,
    summary="Import a list of nominations from a spreadsheet (XLSX or CSV)",
    responses={415: {}},
    openapi_extra=IMPORT_BODY,
)
async def import_nominations(
    request: Request,
    svc: Svc,
    who: Who,
    idempotency_key: IdempotencyKey = None,
    skip_invalid: Annotated[
        bool, Query(description="start the valid rows and list the invalid ones (INVALID) instead of a 422")
    ] = False,
) -> Response:
    """What `starter.py import FILE.xlsx|FILE.csv` does, for an uploaded file (`Content-Type: text/csv`, or
    `application/vnd.openxmlformats-officedocument.spreadsheetml.sheet`; up to 2000 rows). Every row is
    validated first, as the CLI validates it: if any is invalid, 422 naming every row and column at fault
    (`row 51, Năm (year)`) and nothing is started — unless `skip_invalid=true` (and some row is valid).
    Then each row starts (channel API): STARTED, ALREADY_STARTED (this very nomination had been started, so
    importing the same file again starts nothing new) or FAILED (another nomination holds its year, ministry
    and reference: "another nomination holds this reference")."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    suffix = IMPORT_MEDIA_TYPES.get(media)
    if suffix is None:
        message = f"{media or 'none'}: send the file as text/csv or {EXPORT_MEDIA_TYPES['xlsx']}"
        raise ProblemError(
            "unsupported-media-type", message, errors=[FieldError(field="Content-Type", message=message)]
        )
    content = await request.body()
    if len(content) > MAX_BODY_BYTES:
        raise invalid("body", f"larger than {MAX_BODY_BYTES} bytes")

    async def start() -> Response:
        try:
            rows = await asyncio.to_thread(importer.read_content, content, suffix, "the file")
        except InvalidInput as err:  # the file as a whole: the CLI's FILE is this request's body
            raise InvalidInput(
                [FieldError(field="body" if e.field == "FILE" else e.field, message=e.message) for e in err.errors]
            ) from None
        if not rows:
            raise invalid("body", "the file has a header row but no nominations")
        if len(rows) > MAX_IMPORT_ROWS:
            raise invalid("body", f"{len(rows)} rows: at most {MAX_IMPORT_ROWS} a file (split it)")
        today = datetime.now(VIETNAM_TZ).date()
        valid, errors = importer.validate_rows(
            rows, policy_set(current_policy_version(today)), proposer=who.actor, today=today
        )
        # Against the database roster before anything starts: a row for a ministry it does not know is
        # invalid; a row whose ministry the actor may not propose for refuses the whole file (403).
        unknown, refused = await importer.check_rows(svc.engine(), valid)
        if refused:
            detail = (
                f"{len({e.row for e in refused})} of {len(rows)} rows propose where {who.actor!r} may not; "
                "nothing was started"
            )
            raise ProblemError(
                "forbidden", detail, errors=[FieldError(field=e.location, message=e.message) for e in refused]
            )
        if unknown:
            valid = [(number, nomination) for number, nomination in valid if number not in {e.row for e in unknown}]
            errors = sorted(errors + unknown)
        invalid_rows = sorted({e.row for e in errors})
        if errors and not (skip_invalid and valid):
            if valid:
                detail = (
                    f"{len(invalid_rows)} of {len(rows)} rows are invalid; nothing was started (correct them, or "
                    f"import with skip_invalid=true to start the {len(valid)} valid rows)"
                )
            else:
                detail = f"none of the {len(rows)} rows is valid; nothing was started"
            raise ProblemError(
                "invalid-input", detail, errors=[FieldError(field=e.location, message=e.message) for e in errors]
            )
        counts = await importer.start_all(
            await svc.client(),
            svc.task_queue,
            valid,
            concurrency=BATCH_CONCURRENCY,
            channel="API",
            engine=svc.engine(),
        )
        items = [
            ImportItem(row=o.row, outcome=o.outcome, workflow_id=o.workflow_id, detail=o.detail)
            for o in counts.outcomes
        ]
        for row in invalid_rows:
            detail = "; ".join(f"{e.column}: {e.message}" if e.column else e.message for e in errors if e.row == row)
            items.append(ImportItem(row=row, outcome="INVALID", detail=detail))
        body = ImportResult(
            started=counts.started,
            already_started=counts.already_started,
            failed=len(counts.failed),
            invalid_skipped=len(invalid_rows),
            items=sorted(items, key=lambda item: item.row),
        )
        return JSONResponse(body.model_dump(mode="json"))

    # The body is a file: its digest (and type) stand for it in the request's fingerprint.
    upload = {"type": suffix, "sha256": hashlib.sha256(content).hexdigest()}
    request_print = fingerprint("POST", f"/nominations:import?skip_invalid={skip_invalid}", upload)
    return await svc.idempotency.run(who.actor, idempotency_key, request_print, start)


@nominations.get(
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
            raise invalid("page_token", "not a token this listing gave")
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
            raise invalid("page_token", "not a token this listing gave") from None
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


async def _act(svc: Svc, workflow_id: str, update: str, action: BaseModel) -> ActionReceipt:
    return await nomination_ops.act(await svc.client(), known_id(workflow_id), update, action)


@nominations.post(
    "/nominations/{workflow_id:path}/council-result",
    response_model=ActionReceipt,
    summary="Record a council meeting's result",
    responses={403: {}, 404: {}, 409: {}},
)
async def council_result(workflow_id: WorkflowId, body: MeetingResultBody, svc: Svc, who: Who) -> ActionReceipt:
    """The council secretary types in the meeting's counts (the path for meetings on paper; a ballot session
    sends its result by itself). The outcome follows from the tally by the policy. `tally.members` must be
    exactly the council's voting members on the roster, `present` at most `members`, and `votes_for` +
    `votes_against` (+ abstaining, the rest) at most the ballots cast, `present` + `written`: otherwise a 422
    naming the field, and nothing is recorded."""
    action = payload(MeetingResult, actor=actor_of(who, body), tally=body.tally, minutes_ref=body.minutes_ref)
    return await _record_meeting(svc, workflow_id, Stage.COUNCIL_REVIEW, "record_council_result", action)


@nominations.post(
    "/nominations/{workflow_id:path}/bloc-result",
    response_model=ActionReceipt,
    summary="Record a bloc vote's result",
    responses={403: {}, 404: {}, 409: {}},
)
async def bloc_result(workflow_id: WorkflowId, body: MeetingResultBody, svc: Svc, who: Who) -> ActionReceipt:
    """The bloc head types in the bloc's counts; `tally.members` must be exactly the bloc's voting members
    (one representative per member organisation) on the roster, and the counts are checked as for a council."""
    action = payload(MeetingResult, actor=actor_of(who, body), tally=body.tally, minutes_ref=body.minutes_ref)
    return await _record_meeting(svc, workflow_id, Stage.BLOC_VOTE, "record_bloc_result", action)


async def _record_meeting(
    svc: Svc, workflow_id: str, stage: Stage, update: str, action: MeetingResult
) -> ActionReceipt:
    """Counts that cannot be the body's (the database's roster) are a 422 naming the field before anything is
    sent; the workflow's validator checks them again against the roster it holds."""
    from client.meetings import check_meeting_counts

    client, known = await svc.client(), known_id(workflow_id)
    await check_meeting_counts(client, svc.engine(), known, stage, action.tally.model_dump())
    return await _act(svc, workflow_id, update, action)


@nominations.post(
    "/nominations/{workflow_id:path}/approve",
    response_model=ActionReceipt,
    summary="The central board approves",
    responses={403: {}, 404: {}, 409: {}},
)
async def approve(workflow_id: WorkflowId, body: ApprovalBody, svc: Svc, who: Who) -> ActionReceipt:
    """With `decision_no` (and `decision_date`, default today) the approval is the decision; without, the
    nomination waits in AWAITING_DECISION for a batch decision (POST /decisions)."""
    decision_date = (body.decision_date or date.today()) if body.decision_no else None
    action = payload(
        CentralApproval, actor=actor_of(who, body), decision_no=body.decision_no, decision_date=decision_date
    )
    return await _act(svc, workflow_id, "approve", action)


@nominations.post(
    "/nominations/{workflow_id:path}/reject",
    response_model=ActionReceipt,
    summary="The central board rejects",
    responses={403: {}, 404: {}, 409: {}},
)
async def reject(workflow_id: WorkflowId, body: ReasonBody, svc: Svc, who: Who) -> ActionReceipt:
    action = payload(ReasonedAction, actor=actor_of(who, body), reason=body.reason)
    return await _act(svc, workflow_id, "reject", action)


@nominations.post(
    "/nominations/{workflow_id:path}/return",
    response_model=ActionReceipt,
    summary="Return the dossier for supplement",
    responses={403: {}, 404: {}, 409: {}},
)
async def return_dossier(workflow_id: WorkflowId, body: ReasonBody, svc: Svc, who: Who) -> ActionReceipt:
    """Whoever holds the stage (council secretary, bloc head, central board) returns it to the unit, which has
    the policy's working days to resubmit."""
    action = payload(ReasonedAction, actor=actor_of(who, body), reason=body.reason)
    return await _act(svc, workflow_id, "return_dossier", action)


@nominations.post(
    "/nominations/{workflow_id:path}/resubmit",
    response_model=ActionReceipt,
    summary="Resubmit a corrected dossier",
    responses={403: {}, 404: {}, 409: {}},
    openapi_extra=nomination_body_schema("Nomination"),
)
async def resubmit(workflow_id: WorkflowId, request: Request, svc: Svc, who: Who) -> ActionReceipt:
    """The body is the corrected nomination (same reference, year, ministry and award form; `proposer`
    defaults to the token's actor)."""
    nomination = nomination_from(await json_body(request), who.actor, check_proposer=False, new=False)
    action = payload(Resubmission, actor=who.actor, nomination=nomination_ops.protect_personal_id(nomination))
    return await _act(svc, workflow_id, "resubmit", action)


@nominations.post(
    "/nominations/{workflow_id:path}/withdraw",
    response_model=ActionReceipt,
    summary="The proposing unit withdraws",
    responses={403: {}, 404: {}, 409: {}},
)
async def withdraw(workflow_id: WorkflowId, body: ReasonBody, svc: Svc, who: Who) -> ActionReceipt:
    action = payload(ReasonedAction, actor=actor_of(who, body), reason=body.reason)
    return await _act(svc, workflow_id, "withdraw", action)


@nominations.post(
    "/nominations/{workflow_id:path}/hold",
    response_model=ActionReceipt,
    summary="Put on hold (Decree 152 Art. 4)",
    responses={403: {}, 404: {}, 409: {}},
)
async def hold(workflow_id: WorkflowId, body: HoldBody, svc: Svc, who: Who) -> ActionReceipt:
    """The secretariat or the central board holds an unfinished nomination: nothing moves, deadlines stop."""
    action = payload(HoldRequest, actor=actor_of(who, body), ground=body.ground, reason=body.reason)
    return await _act(svc, workflow_id, "hold", action)


@nominations.post(
    "/nominations/{workflow_id:path}/release",
    response_model=ActionReceipt,
    summary="Release from hold",
    responses={403: {}, 404: {}, 409: {}},
)
async def release(workflow_id: WorkflowId, body: ReasonBody, svc: Svc, who: Who) -> ActionReceipt:
    action = payload(ReasonedAction, actor=actor_of(who, body), reason=body.reason)
    return await _act(svc, workflow_id, "release", action)


@nominations.post(
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
        receipt = await _act(svc, workflow_id, "file_objection", payload(ObjectionFiling, **body.model_dump()))
        return JSONResponse(receipt.model_dump(mode="json"))

    path = f"/nominations/{known_id(workflow_id)}/objections"
    request_print = fingerprint("POST", path, body.model_dump(mode="json"))
    return await svc.idempotency.run(ANONYMOUS, idempotency_key, request_print, file)


@nominations.post(
    "/nominations/{workflow_id:path}/objections/{objection_id}/resolve",
    response_model=ActionReceipt,
    summary="Resolve an objection",
    responses={403: {}, 404: {}, 409: {}},
)
async def resolve_objection(
    workflow_id: WorkflowId, objection_id: int, body: ResolutionBody, svc: Svc, who: Who
) -> ActionReceipt:
    """The secretariat dismisses the objection (the notice runs on) or upholds it: rejected, or returned."""
    action = payload(
        ObjectionResolution,
        actor=actor_of(who, body),
        objection_id=objection_id,
        decision=body.decision,
        reason=body.reason,
    )
    return await _act(svc, workflow_id, "resolve_objection", action)


@nominations.post(
    "/nominations/{workflow_id:path}/consultation",
    response_model=ActionReceipt,
    summary="The central board consults other agencies",
    responses={403: {}, 404: {}, 409: {}},
)
async def consultation(workflow_id: WorkflowId, body: ConsultationBody, svc: Svc, who: Who) -> ActionReceipt:
    """The appraisal may then take the policy's longer period."""
    action = payload(ConsultationRequest, actor=actor_of(who, body), agencies=body.agencies, reason=body.reason)
    return await _act(svc, workflow_id, "request_consultation", action)


@nominations.get(
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


# ---- ballot sessions ---------------------------------------------------------------------------------------

sessions = APIRouter(tags=["ballot sessions"])


def session_url(session_id: str) -> str:
    return "/ballot-sessions/" + quote(session_id, safe="-._~")


async def on_session(session_id: str, work: Awaitable[T]) -> T:
    try:
        return await work
    except nomination_ops.NominationNotFound:
        raise ProblemError("not-found", f"no ballot session {session_id}") from None


@sessions.post(
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
            raise invalid("deadline", "must lie in the future")
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


@sessions.get(
    "/ballot-sessions/{session_id}",
    response_model=SessionView,
    summary="A session's status",
    responses={403: {}, 404: {}},
)
async def session_status(session_id: SessionId, svc: Svc, scope: Reading) -> SessionView:
    """Turnout while voting (never what anyone voted); tallies, results and counted receipts once closed. Also
    the tally key (`key_id`, `public_pem`) a voter's own client seals a ballot with.

    Read by the council's secretary, chair and members (a council session), the bloc's head and
    representatives (a bloc session) and the central board; anyone else gets a 403. Who voted (`voted`) is
    listed in full for the organisers (the council's secretary or chair, the bloc head); a voter sees only
    themselves (`you_voted`), every other reader an empty list; `voted_count` is always the count."""
    work = access.session_status(await svc.client(), scope, session_id)
    return await readable(on_session(session_id, work))


@sessions.post(
    "/ballot-sessions/{session_id}/close-list",
    response_model=SessionStatus,
    summary="Close the list and open the voting",
    responses={403: {}, 404: {}, 409: {}},
)
async def close_list(session_id: SessionId, svc: Svc, who: Who, body: Acting | None = None) -> SessionStatus:
    """The council secretary (or bloc head): the list is final and the electorate is snapshotted."""
    closing = payload(ListClosing, actor=actor_of(who, body))
    client = await svc.client()
    return await on_session(
        session_id, nomination_ops.act(client, session_id, "close_list", closing, result_type=SessionStatus)
    )


@sessions.get(
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
    status = await on_session(session_id, ballot_ops.session_status(client, session_id))
    if status.keys is None:
        raise ProblemError("action-refused", f"ballot session {session_id} is {status.phase.value}: no keys yet")
    try:
        voter_class = await on_session(session_id, ballot_ops.voter_class(client, session_id, who.actor))
    except nomination_ops.ActionRefused as err:
        raise ProblemError("forbidden", str(err)) from None
    return CredentialInfo(
        session_id=session_id, round=status.round, phase=status.phase, conflict_class=voter_class, keys=status.keys
    )


@sessions.post(
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


@sessions.post(
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
    request_print = secret_fingerprint("POST", f"/ballot-sessions/{session_id}/ballots", body.model_dump(mode="json"))
    return await svc.idempotency.run(ANONYMOUS, idempotency_key, request_print, cast)


async def committee_member(svc: Services, session_id: str, member: str) -> SessionStatus:
    """The session's status, for a member of its counting committee (403 naming the actor otherwise)."""
    status = await on_session(session_id, ballot_ops.session_status(await svc.client(), session_id))
    if member not in status.committee:
        raise ProblemError(
            "forbidden",
            f"{member!r} is not on the counting committee (Ban kiểm phiếu) of {session_id}; it holds no share",
        )
    return status


@sessions.get(
    "/ballot-sessions/{session_id}/share",
    response_model=MemberShare,
    summary="A counting committee member's share, encrypted to their counting key",
    responses={403: {}, 404: {}, 409: {}},
)
async def member_share(session_id: SessionId, svc: Svc, who: Who) -> MemberShare:
    """For the token's actor, a member of the session's counting committee (403 otherwise): their share of the
    key that wraps the session's sealing key, encrypted (RSA-OAEP-SHA256) to the counting key they enrolled
    (`member_key_id`). Only the member's private key opens it; they hand it in with POST .../shares once the
    round's voting is over. 409 before the session's keys are made (voting not yet open) or after they were
    destroyed (the session ended)."""
    await committee_member(svc, session_id, who.actor)
    try:
        return await ballot_ops.member_share(svc.engine(), session_id, who.actor)
    except LookupError as err:
        raise ProblemError("action-refused", str(err).strip("'\"")) from None


@sessions.post(
    "/ballot-sessions/{session_id}/shares",
    response_model=ShareReceipt,
    summary="A counting committee member hands in their share for the count",
    responses={403: {}, 404: {}, 409: {}},
)
async def hand_in_share(session_id: SessionId, body: ShareBody, svc: Svc, who: Who) -> ShareReceipt:
    """The token's actor, a member of the session's counting committee (403 otherwise), hands in their share,
    decrypted on their side. Only while the session is AWAITING_COUNT (409 before: voting is still open);
    a share that does not match the commitment published in the session's keys, or a second hand-in, is
    refused (409). The count runs once `threshold` shares are in: the session's key is rebuilt in memory only."""
    await committee_member(svc, session_id, who.actor)
    handing = payload(ShareHandIn, member=who.actor, **body.model_dump())
    status = await on_session(session_id, ballot_ops.hand_in_share(await svc.client(), session_id, handing))
    return ShareReceipt(
        session_id=session_id,
        phase=status.phase,
        round=status.round,
        shares_in=status.shares_in,
        threshold=status.keys.threshold if status.keys else 0,
        committee_size=len(status.committee),
    )


async def _chair(svc: Services, session_id: str, update: str, action: ChairAction) -> SessionStatus:
    return await on_session(session_id, ballot_ops.chair_action(await svc.client(), session_id, update, action))


@sessions.post(
    "/ballot-sessions/{session_id}/close",
    response_model=SessionStatus,
    summary="The chair closes the voting",
    responses={403: {}, 404: {}, 409: {}},
)
async def close_voting(session_id: SessionId, svc: Svc, who: Who, body: ChairBody | None = None) -> SessionStatus:
    """Once a quorum has voted (a session also closes by itself when everyone has voted, or at the deadline)."""
    action = payload(ChairAction, actor=actor_of(who, body), reason=body.reason if body else None)
    return await _chair(svc, session_id, "close_voting", action)


@sessions.post(
    "/ballot-sessions/{session_id}/extend",
    response_model=SessionStatus,
    summary="The chair moves the deadline",
    responses={403: {}, 404: {}, 409: {}},
)
async def extend(session_id: SessionId, body: ExtendBody, svc: Svc, who: Who) -> SessionStatus:
    action = payload(ChairAction, actor=actor_of(who, body), new_deadline=body.new_deadline, reason=body.reason)
    return await _chair(svc, session_id, "extend", action)


@sessions.post(
    "/ballot-sessions/{session_id}/cancel",
    response_model=SessionStatus,
    summary="The chair cancels the session",
    responses={403: {}, 404: {}, 409: {}},
)
async def cancel(session_id: SessionId, body: CancelBody, svc: Svc, who: Who) -> SessionStatus:
    action = payload(ChairAction, actor=actor_of(who, body), reason=body.reason)
    return await _chair(svc, session_id, "cancel", action)


@sessions.post(
    "/ballot-sessions/{session_id}/decide-tie",
    response_model=SessionStatus,
    summary="The bloc head decides a tie the runoff rounds left",
    responses={403: {}, 404: {}, 409: {}},
)
async def decide_tie(session_id: SessionId, body: TieBody, svc: Svc, who: Who) -> SessionStatus:
    """While the session is AWAITING_HEAD: exactly `seats_left` of the `tied` nominations take the seats. The
    decision is kept in the minutes and the audit chain; the answer comes once the results have gone out."""
    decision = payload(TieDecision, actor=actor_of(who, body), choose=body.choose)
    return await on_session(session_id, ballot_ops.decide_tie(await svc.client(), session_id, decision))


@sessions.post(
    "/counting-keys",
    status_code=201,
    response_model=CountingKeyEnrolled,
    summary="Enroll one's counting key (Ban kiểm phiếu)",
    responses={200: {"model": CountingKeyEnrolled, "description": "this very key was enrolled before"}, 409: {}},
)
async def enroll_counting_key(body: CountingKeyBody, svc: Svc, who: Who) -> Response:
    """The token's actor enrolls the public half of their own counting key (RSA-3072 SubjectPublicKeyInfo PEM,
    RSA-OAEP-SHA256); the private half never leaves them. A session's counting committee member needs one
    before the session opens: their share of the session's key is encrypted to it. The same key again answers
    200; another key while one is enrolled is a 409 unless `replace` is true — and shares of sessions opened
    before the replacement stay encrypted to the old key, which alone opens them."""
    engine = svc.engine()
    before = await ballot_ops.enrolled_counting_key(engine, who.actor)
    try:
        key_id = await ballot_ops.enroll_counting_key(engine, who.actor, body.public_pem, replace=body.replace)
    except SealError as err:
        raise invalid("public_pem", str(err)) from None
    except ballot_ops.DuplicateEnrollment as err:
        raise ProblemError("duplicate", str(err)) from None
    same = before is not None and before.key_id == key_id
    answer = CountingKeyEnrolled(
        actor=who.actor, key_id=key_id, replaced=None if same or before is None else before.key_id
    )
    return JSONResponse(answer.model_dump(), status_code=200 if same else 201)


@sessions.get(
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


# ---- decisions ---------------------------------------------------------------------------------------------

decisions = APIRouter(tags=["decisions"])


def decision_url(decision_no: str) -> str:
    return "/decisions/" + quote(decision_no, safe="/-._~")


@decisions.post(
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


@decisions.get(
    "/decisions/{decision_no:path}/export",
    summary="The list of awardees as CSV or XLSX",
    responses={
        200: {
            "description": "the awardees in the decision's order, headings in Vietnamese",
            "content": {media: {"schema": {"type": "string", "format": "binary"}} for media in EXPORT_MEDIA},
        },
        403: {},
        404: {},
    },
    response_class=Response,
)
async def export_decision(
    decision_no: str, svc: Svc, scope: Reading, format: Literal["csv", "xlsx"] = "csv"
) -> Response:
    """From the decision register (the database): every nomination the decision awarded that the token's actor
    may read (the central board: all of them)."""
    with tempfile.TemporaryDirectory(prefix="tdkt-export-") as tmp:
        path = Path(tmp) / f"decision.{format}"
        try:
            await decision_ops.export_decision(svc.engine(), decision_no, path, scope=scope)
        except KeyError:
            raise ProblemError("not-found", f"no decision {decision_no.strip()} has been recorded") from None
        content = path.read_bytes()
    name = "quyet-dinh-" + "".join(c if c.isalnum() or c in "-._" else "-" for c in decision_no.strip())
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "-")
    disposition = f"attachment; filename=\"{ascii_name}.{format}\"; filename*=UTF-8''{quote(name)}.{format}"
    return Response(content, media_type=EXPORT_MEDIA_TYPES[format], headers={"Content-Disposition": disposition})


@decisions.get(
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
        raise ProblemError("not-found", f"no decision {decision_no.strip()}") from None
    return await access.decision_summary(svc.engine(), scope, summary)


# ---- problem types -----------------------------------------------------------------------------------------

problems = APIRouter(tags=["problems"])


@problems.get("/problems/{slug}", summary="What a problem type means", responses={404: {}})
async def problem_type(slug: str) -> dict[str, Any]:
    kind = PROBLEM_TYPES.get(slug)
    if kind is None:
        raise ProblemError("not-found", f"no problem type {slug!r}; known: {sorted(PROBLEM_TYPES)}")
    return {"type": kind.uri, "title": kind.title, "status": kind.status, "description": kind.description}


# ---- the app -----------------------------------------------------------------------------------------------


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


def create_app(
    client: Client | ClientFactory | Settings | None = None,
    *,
    settings: Settings | None = None,
    keyring: Keyring | None = None,
    task_queue: str | None = None,
    engine: AsyncEngine | None = None,
    idempotency: IdempotencyStore | None = None,
    revocations: RevocationStore | None = None,
) -> FastAPI:
    """The API over `client` (a connected client, or a factory returning one); given Settings (or nothing:
    Settings.from_env()), it connects to their Temporal on first use. The token keys default to the
    environment's (`TDKT_AUTH_KEYS`, ...), the task queue to the settings', the database (decision exports)
    to DATABASE_URL or the local SQLite file."""
    if isinstance(client, Settings):
        settings, client = client, None
    settings = settings or Settings.from_env()
    if client is None:
        from client.temporal import connect

        configured = settings

        async def connect_from_settings() -> Client:
            return await connect(configured.temporal_address, configured.temporal_namespace)

        client = connect_from_settings
    svc = Services(
        settings=settings,
        keyring=keyring or keyring_from_env(),
        task_queue=task_queue or settings.task_queue,
        client=client,
        engine=engine,
        idempotency=idempotency or IdempotencyStore(),
        revocations=revocations,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await svc.aclose()

    app = FastAPI(title=API_TITLE, version=API_VERSION, description=DESCRIPTION, lifespan=lifespan)
    app.state.services = svc
    install_problem_handlers(app)
    app.add_middleware(BodyLimits)
    for router in (nominations, sessions, decisions, tokens, problems):
        app.include_router(router)
    # The Vietnamese browser inbox for voters, unit staff and the secretariat (server-rendered, /inbox).
    from api.inbox import inbox_router

    # It reads the roster from the same database as the engine (svc.engine: the given engine or DATABASE_URL).
    app.include_router(
        inbox_router(svc.client, svc.task_queue, svc.keyring, engine=svc.engine, revocations=svc.revocations),
        include_in_schema=False,
    )
    # The inbox's scripts (the ballot is sealed in the voter's browser) and the vendored RFC 9474 library.
    from fastapi.staticfiles import StaticFiles

    from api.inbox import STATIC_DIR

    app.mount("/inbox/static", StaticFiles(directory=STATIC_DIR), name="inbox-static")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes, tags=TAGS
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in nomination_schemas().items():
                components.setdefault(name, definition)
            problem_responses_in_openapi(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
