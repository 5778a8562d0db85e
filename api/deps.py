"""What every router shares: the services behind the routes, who the bearer token says acts (revocation
checked), what that actor may read, and the path, header and body pieces the routes have in common."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from api.idempotency import IdempotencyStore
from api.limits import MAX_BODY_BYTES
from api.problems import ProblemError, invalid, unauthenticated
from client import access
from client.nominations import NominationNotFound
from client.revocation import RevocationStore, RevocationUnavailable, TokenRevoked
from client.settings import Settings
from domain.access import ReadScope
from security.tokens import AuthError, Identity, Keyring, verify_token

ClientFactory = Callable[[], Awaitable[Client]]
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class Services:
    """The Temporal client (connected on first use), the database (read model, roster, exports), the token
    keyring, the revoked tokens (in the same database), the task queue new workflows start on, and the
    idempotency store."""

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
                        address = self.settings.temporal_address
                        raise ProblemError(
                            "service-unavailable",
                            f"không kết nối được máy chủ Temporal tại {address}: {err}",
                            detail_en=f"cannot reach Temporal at {address}: {err}",
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
            "cần mã đăng nhập đã ký: Authorization: Bearer <mã> (quản trị viên cấp mã bằng "
            "`starter.py token issue --for ACTOR`)",
            en="a signed token is required: Authorization: Bearer <token> (an administrator issues one with "
            "`starter.py token issue --for ACTOR`)",
        )
    try:
        return verify_token(svc.keyring, credentials.credentials.strip())
    except (AuthError, ValueError) as err:
        raise unauthenticated(f"mã đăng nhập không dùng được: {err}", en=f"unauthenticated: {err}") from None


async def authenticate(
    svc: Annotated[Services, Depends(services)], identity: Annotated[Identity, Depends(signed_identity)]
) -> Identity:
    """The bearer token's identity, unless the token was revoked (401 naming its id). When the revoked tokens
    cannot be read the token is not accepted unchecked: 503."""
    try:
        return await svc.revocations.check(identity)
    except TokenRevoked as err:
        raise unauthenticated(f"mã đăng nhập không dùng được: {err}", en=f"unauthenticated: {err}") from None
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
    """The token's actor; a body naming another actor is refused (403) before anything is sent."""
    named = getattr(body, "actor", None)
    if named is not None and named != who.actor:
        raise ProblemError(
            "forbidden",
            f"mã đăng nhập là của {who.actor!r}, không phải của {named!r}; chưa làm gì",
            detail_en=f"the token is for {who.actor!r}, not {named!r}; nothing was done",
        )
    return who.actor


def payload(model: type[M], **fields: Any) -> M:
    """A domain payload: its own validation (pydantic.ValidationError → 422 naming the fields). A person's
    action is marked as taken through the API, for the audit record."""
    if "channel" in model.model_fields:
        fields["channel"] = "API"
    return model.model_validate(fields)


def fields_of(body: BaseModel | None) -> dict[str, Any]:
    """A body's fields but the actor (the token's actor acts, actor_of); none for no body."""
    if body is None:
        return {}
    return {name: getattr(body, name) for name in type(body).model_fields if name != "actor"}


async def on_session(session_id: str, work: Awaitable[T]) -> T:
    """A ballot session that does not exist is a 404 naming it."""
    try:
        return await work
    except NominationNotFound:
        raise ProblemError(
            "not-found", f"không có phiên bỏ phiếu {session_id}", detail_en=f"no ballot session {session_id}"
        ) from None


def known_id(workflow_id: str) -> str:
    workflow_id = workflow_id.strip()
    if not workflow_id:
        raise ProblemError("not-found", "đường dẫn không có mã hồ sơ", detail_en="no workflow id in the path")
    return workflow_id


async def json_body(request: Request) -> Any:
    """A body the route validates itself (in full, naming every field at fault), parsed as JSON."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise invalid("body", f"lớn hơn {MAX_BODY_BYTES} byte", en=f"larger than {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise invalid("body", f"không phải JSON hợp lệ: {err}", en=f"not valid JSON: {err}") from None


# How many workflow starts one request (a batch, an import) runs at once.
BATCH_CONCURRENCY = 16
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
