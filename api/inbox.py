"""A browser inbox in Vietnamese (server-rendered Jinja2, plain HTML forms), mounted at ``/inbox``.

* **Sign-in.** The user names themselves (actor id or roster e-mail) and follows the one-time link sent through
  the outbox to the roster's address (store/sign_in.py: the secret's hash kept, 15 minutes, used once, three
  per actor per 15 minutes, the same answer whoever is named); or pastes the signed token an administrator
  issued (``starter.py token issue``). Either way a signed token is kept in an HttpOnly, SameSite=Strict cookie
  scoped to ``/inbox``. Every page verifies it again (an expired or rotated-out token sends the user back to
  the sign-in form).
* **Voters** (council members, bloc representatives) see the ballot sessions in phase VOTING that await
  their ballot, each nomination's summary, and vote (FOR / AGAINST / ABSTAIN per nomination; those they are
  conflicted on are shown as not taking part). The ballot is made in the voter's browser (api/static/ballot.js):
  it takes a one-time credential through this inbox (blind signatures: the session learns who took one, never
  the token), seals every choice there with Web Crypto, and casts the sealed, anonymous ballot to the JSON API
  with no cookie and no token. This server never receives a choice: a form post of choices is refused.
* **The counting committee** (Ban kiểm phiếu) enrol a counting key made in their browser (non-extractable, kept
  in IndexedDB; only the public half is sent) and, when a session awaits the count, hand in their share of its
  key, decrypted in the browser (api/static/counting.js).
* **Receipts** are checked without the cookie (the receipt rides in the page's fragment and a cookie-less
  request), so the inbox cannot tie a receipt to whoever holds it.
* **Unit staff** see their ministry's nominations and stages (a UNIT_STAFF grant is scoped to a ministry and
  the roster names no unit inside it, so the ministry is the finest scope the data can tell apart). **Council
  secretaries** see their council's sessions with turnout and the ministry's overdue nominations (``StageDueAt``
  before now); **bloc heads** their bloc's sessions and the bloc's nominations overdue in the bloc vote; the
  **central board** (officers and its head) the nominations waiting for its appraisal or for a decision it
  records (Prime Minister, President), and those whose appraisal is overdue.

Who a person is and which roles they hold come from the database roster (the one `starter.py roster load`
wrote and the workflows read), never from the shipped config/roster.json. Whether someone may vote in a
session, and on which nominations, follows the session itself as the engine recorded it in its history: the
electorate it snapshotted when the list closed (with each voter's organisation), the roster snapshot it took
when it opened (the council's secretary records the session and does not vote) and its own conflict rule
(``SessionStart.conflict_rule``, else the kind's natural rule). The workflows' validators check every action
again; what is computed here only decides what is shown.

What anyone is shown follows the read rule of domain/access.py, as in the API and the CLI: a person the roster
does not know, or who holds no role, gets a refusal page (403); a session's page (its list and the dossiers)
opens only for those who may read the session, and a dossier's details only for those who may read it.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl, quote

import sqlalchemy as sa
import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.client import Client

from activities.ballots import BallotActivities
from activities.session_roster import SessionRosterActivities
from client import access
from client import ballots as ballot_ops
from client import bloc_year as bloc_ops
from client import nominations as nomination_ops
from client.revocation import RevocationStore, RevocationUnavailable, TokenRevoked
from domain.access import ReadScope, may_read_session, nothing_readable_error, session_refusal
from domain.ballot_messages import CredentialRequest, SessionPhase, SessionStart, SessionStatus, ShareHandIn
from domain.ballots import (
    VOTER_ROLE,
    BallotSessionKind,
    Candidate,
    Choice,
    ConflictRule,
    Electorate,
    Voter,
    conflicted,
    natural_conflict_rule,
)
from domain.bloc.year_actors import BlocYearTask
from domain.calendar import VIETNAM_TZ
from domain.catalog import policy_sets
from domain.messages import NominationStart
from domain.procedure import DECISION_CLERKS
from domain.roster import CENTRAL_SCOPE, Actor, Role, RosterSnapshot
from domain.stages import Stage
from security.sealing import SealError
from security.tokens import AuthError, Identity, Keyring, issue_token, verify_token
from store import sign_in as sign_in_links
from store.roster import read_actor
from store.schema import ballot_sessions
from workflows.search_attributes import MINISTRY, NOMINATION_STAGE, STAGE_DUE_AT

ClientFactory = Callable[[], Awaitable[Client]]
EngineSource = AsyncEngine | Callable[[], AsyncEngine]
Clock = Callable[[], datetime]

COOKIE = "tdkt_inbox_token"
PREFIX = "/inbox"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
STATIC_DIR = Path(__file__).with_name("static")  # served at /inbox/static by api/app.py
PUBLIC_URL_VARIABLE = "TDKT_PUBLIC_URL"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
# How long a link's sign-in lasts (the keyring's longest lifetime, if shorter): a working day.
LINK_SESSION_TTL = timedelta(hours=8)
log = structlog.get_logger(__name__)


def vn_time(moment: datetime) -> str:
    """A moment as Vietnam's clocks show it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(VIETNAM_TZ).strftime("%d/%m/%Y %H:%M") + " (giờ Việt Nam)"


TEMPLATES.env.filters["vn_time"] = vn_time
CHOICE_LABELS_VI = {Choice.FOR: "Đồng ý", Choice.AGAINST: "Không đồng ý", Choice.ABSTAIN: "Không biểu quyết"}
PHASE_LABELS_VI = {
    SessionPhase.COLLECTING: "Đang lập danh sách",
    SessionPhase.VOTING: "Đang bỏ phiếu",
    SessionPhase.AWAITING_CHAIR: "Chờ Chủ tịch quyết định (chưa đủ số)",
    SessionPhase.AWAITING_HEAD: "Chờ Khối trưởng quyết định (phiếu ngang nhau)",
    SessionPhase.AWAITING_COUNT: "Chờ Ban kiểm phiếu nộp mảnh khóa",
    SessionPhase.CLOSED: "Đã kết thúc",
    SessionPhase.CANCELLED: "Đã hủy",
}
KEEPER_ROLE = {BallotSessionKind.COUNCIL: Role.COUNCIL_SECRETARY, BallotSessionKind.BLOC: Role.BLOC_HEAD}
MAX_ROWS = 500
MAX_FORM_BYTES = 1024 * 1024
MAX_JSON_BYTES = 64 * 1024
SEALED_ONLY_VI = (
    "Hộp việc chỉ nhận phiếu đã niêm phong: lựa chọn được niêm phong (mã hóa) trong trình duyệt của người bỏ "
    "phiếu và gửi đi không kèm tên; máy chủ hộp việc không nhận lựa chọn nào."
)
STATUS_CONCURRENCY = 16
STATUS_TIMEOUT_S = 5.0
MAX_CACHED_SESSIONS = 1000
CENTRAL_ROLES = (Role.CENTRAL_OFFICER, Role.CENTRAL_HEAD)


def activity_type(method: Callable[..., Any]) -> str:
    """The activity type a history records for a call of `method`: its definition's name (the SDK keeps it on
    the definition, with no public accessor)."""
    name = activity._Definition.must_from_callable(method).name
    assert name is not None, "a dynamic activity has no type of its own"
    return name


# The activities whose results (in a session's history) say who may vote: the roster snapshot taken when the
# session opened and the electorate snapshotted when its list closed.
SCOPE_SNAPSHOT_ACTIVITY = activity_type(SessionRosterActivities.load_scope_snapshot)
ELECTORATE_ACTIVITY = activity_type(BallotActivities.snapshot_electorate)


def central_decision_forms() -> list[str]:
    """Award forms whose decision the central board records (Prime Minister, President), in any policy."""
    return sorted(
        {
            form.code
            for policies in policy_sets().values()
            for form in policies.award_forms.values()
            if DECISION_CLERKS.get(form.decided_by.value) == Role.CENTRAL_OFFICER
        }
    )


@dataclass(frozen=True)
class SessionRecord:
    """What a ballot session's history says about who may vote in it."""

    start: SessionStart | None = None
    snapshot: RosterSnapshot | None = None
    electorate: Electorate | None = None

    def rule(self, kind: BallotSessionKind) -> ConflictRule:
        if self.start is not None and self.start.conflict_rule is not None:
            return self.start.conflict_rule
        return natural_conflict_rule(kind)

    def records_session(self, actor_id: str, current: SessionStatus) -> bool:
        """The council's secretary (by the session's own roster snapshot) records it and casts no ballot."""
        if current.kind != BallotSessionKind.COUNCIL or self.snapshot is None:
            return False
        return actor_id in {a.id for a in self.snapshot.holders(Role.COUNCIL_SECRETARY, current.scope)}


def inbox_router(
    client_factory: ClientFactory | Client,
    task_queue: str,
    keyring: Keyring,
    *,
    engine: EngineSource | None = None,
    clock: Clock | None = None,
    revocations: RevocationStore | None = None,
    public_url: str | None = None,
) -> APIRouter:
    """The inbox's routes (mount with ``app.include_router(...)``; every path starts with /inbox).

    `engine` is the database holding the roster (an engine, or a callable giving one on first use; default
    DATABASE_URL or the local SQLite file, as the worker's); `clock` gives "now" for overdue lists;
    `revocations` the revoked tokens (default: those in `engine`'s database); `public_url` the address staff
    open the inbox at, which sign-in links name (default TDKT_PUBLIC_URL; unset, links are made only for a
    request to this machine's loopback address, so a forged Host header cannot redirect a link)."""
    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    cached: list[Client] = [client_factory] if isinstance(client_factory, Client) else []
    lock = asyncio.Lock()
    engines: list[AsyncEngine] = [engine] if isinstance(engine, AsyncEngine) else []
    records: dict[str, SessionRecord] = {}
    now = clock or (lambda: datetime.now(UTC))
    del task_queue  # nothing here starts a workflow; kept for the same wiring as the API

    def database() -> AsyncEngine:
        if not engines:
            if callable(engine):
                engines.append(engine())
            else:
                from store.db import create_engine, default_database_url

                engines.append(create_engine(default_database_url()))
        return engines[0]

    async def person(actor_id: str) -> Actor | None:
        return await read_actor(database(), actor_id)

    async def reader(actor_id: str) -> tuple[Actor | None, ReadScope]:
        return await access.reader_on_roster(database(), actor_id)

    async def session_record(c: Client, current: SessionStatus) -> SessionRecord:
        """The session's start, roster snapshot and electorate from its history; kept once the electorate is
        known (it never changes after), read again while the list is still open."""
        known = records.get(current.session_id)
        if known is not None:
            return known
        record = await read_session_record(c, current.session_id)
        if record.electorate is not None:
            if len(records) >= MAX_CACHED_SESSIONS:
                records.pop(next(iter(records)))
            records[current.session_id] = record
        return record

    async def client() -> Client:
        if not cached:
            async with lock:
                if not cached:
                    assert not isinstance(client_factory, Client)
                    cached.append(await client_factory())
        return cached[0]

    revoked = revocations or RevocationStore(database)

    async def cookie_identity(request: Request) -> None:
        """Runs before every inbox route (a dependency of the router): the cookie's identity, kept for `who`,
        unless its token is bad, expired or revoked, or the revoked tokens cannot be read (no token is accepted
        unchecked)."""
        request.state.identity = None
        token = request.cookies.get(COOKIE)
        if not token:
            return
        try:
            identity = await revoked.check(verify_token(keyring, token))
        except (AuthError, ValueError, RevocationUnavailable):
            return  # back to sign-in
        request.state.identity = identity

    router.dependencies.append(Depends(cookie_identity))  # before any route is declared: every route has it

    def who(request: Request) -> Identity | None:
        identity = getattr(request.state, "identity", None)
        return identity if isinstance(identity, Identity) else None

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)

    def to_sign_in() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/sign-in", status_code=303)

    # ---- sign-in ---------------------------------------------------------------------------------------

    @router.get("/sign-in", response_class=HTMLResponse)
    async def sign_in_form(request: Request) -> Response:
        return page(request, "sign_in.html", error=None)

    @router.post("/sign-in")
    async def sign_in(request: Request) -> Response:
        token = dict(await form_fields(request)).get("token", "").strip()
        try:
            identity = await revoked.check(verify_token(keyring, token))
        except TokenRevoked as err:
            error = f"Mã đăng nhập {err.token_id} đã bị thu hồi; đề nghị cấp mã mới."
            return page(request, "sign_in.html", status_code=401, error=error)
        except (AuthError, ValueError) as err:
            return page(request, "sign_in.html", status_code=401, error=f"Mã đăng nhập không hợp lệ: {err}")
        except RevocationUnavailable:
            error = "Chưa kiểm tra được mã đăng nhập (không đọc được cơ sở dữ liệu); xin thử lại sau."
            return page(request, "sign_in.html", status_code=503, error=error)
        return signed_in(request, token, identity)

    def signed_in(request: Request, token: str, identity: Identity) -> Response:
        """To the inbox, the token kept in the inbox's cookie (HttpOnly, SameSite=Strict, scoped to /inbox)."""
        response = RedirectResponse(PREFIX, status_code=303)
        max_age = max(int((identity.expires_at - datetime.now(UTC)).total_seconds()), 1)
        response.set_cookie(
            COOKIE,
            token,
            max_age=max_age,
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    # ---- sign-in by a one-time link sent to the roster's address ------------------------------------------

    def link_page_url(request: Request) -> str | None:
        """Where a sign-in link points: the configured public address, else this machine's own (loopback
        only: the Host header of a request from elsewhere is not trusted with a link)."""
        base = public_url or os.environ.get(PUBLIC_URL_VARIABLE, "").strip()
        if not base:
            if request.url.hostname not in LOOPBACK_HOSTS:
                return None
            base = str(request.base_url)
        return base.rstrip("/") + f"{PREFIX}/sign-in/open"

    @router.post("/sign-in/link", response_class=HTMLResponse)
    async def ask_for_link(request: Request) -> Response:
        """The same answer whoever is named (known or not, with an address or not, rate-limited or not)."""
        asked = dict(await form_fields(request)).get("who", "")
        link_url = link_page_url(request)
        if link_url is None:
            log.warning("sign_in_link_not_configured", variable=PUBLIC_URL_VARIABLE)
        else:
            try:
                outcome = await sign_in_links.request_link(database(), asked, now(), link_url)
            except SQLAlchemyError:
                return roster_unavailable(request)
            log.info("sign_in_link_requested", outcome=outcome.outcome.value)
        return page(request, "sign_in.html", error=None, link_sent=True)

    @router.get("/sign-in/open", response_class=HTMLResponse)
    async def open_link(request: Request, t: str = "") -> Response:
        """The link's page: a button that signs in (a POST), so a mail scanner opening the link uses nothing."""
        response = page(request, "sign_in_open.html", secret=t)
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    @router.post("/sign-in/open")
    async def use_link(request: Request) -> Response:
        secret = dict(await form_fields(request)).get("t", "").strip()
        try:
            actor_id = await sign_in_links.redeem(database(), secret, now())
        except SQLAlchemyError:
            return roster_unavailable(request)
        if actor_id is None:
            error = (
                "Đường dẫn đăng nhập không dùng được: đã dùng, đã hết hạn hoặc không đúng. "
                "Xin nhập mã cán bộ để nhận đường dẫn mới."
            )
            return page(request, "sign_in.html", status_code=401, error=error)
        token = issue_token(keyring, actor_id, ttl=min(LINK_SESSION_TTL, keyring.max_ttl))
        return signed_in(request, token, verify_token(keyring, token))

    @router.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        """Signing out revokes the cookie's token, wherever else it is used (the CLI, the API)."""
        token = request.cookies.get(COOKIE)
        response: Response = to_sign_in()
        if token:
            try:
                await revoked.revoke_own(verify_token(keyring, token), "signed out of the inbox")
            except (AuthError, ValueError):
                pass  # expired or not ours: nothing to revoke
            except RevocationUnavailable:
                text = (
                    "Đã đăng xuất trên trình duyệt này, nhưng chưa thu hồi được mã đăng nhập (không ghi được vào "
                    "cơ sở dữ liệu): mã vẫn dùng được ở nơi khác cho đến khi hết hạn. Xin đăng nhập và đăng xuất lại."
                )
                response = page(request, "message.html", status_code=503, title="Chưa thu hồi được mã", text=text)
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    # ---- the inbox -------------------------------------------------------------------------------------

    @router.get("", response_class=HTMLResponse)
    async def inbox(request: Request) -> Response:
        identity = who(request)
        if identity is None:
            return to_sign_in()
        try:
            actor, scope = await reader(identity.actor)
        except SQLAlchemyError:
            return roster_unavailable(request)
        c = await client()
        try:
            sessions = await running_sessions(c, database())
        except SQLAlchemyError:
            return roster_unavailable(request)
        voting = [s for s in sessions if s.phase == SessionPhase.VOTING and identity.actor not in s.voted]
        session_records = await gather_limited([session_record(c, s) for s in voting])
        # A session awaits a ballot from a voter of its electorate, who may read it (domain/access.py).
        awaiting = [
            s
            for s, rec in zip(voting, session_records, strict=True)
            if awaits_ballot(actor, identity.actor, s, rec)
            and may_read_session(scope, s.kind, s.scope, electorate_ids(rec))
        ]
        # Sessions whose count waits for this member of their counting committee (Ban kiểm phiếu).
        counting = [s for s in sessions if s.phase == SessionPhase.AWAITING_COUNT and identity.actor in s.committee]
        if nothing_readable_error(scope) is not None and not awaiting and not counting:  # a refusal, not empty
            why = "không có vai trò nào trong" if scope.on_roster else "không có trong"
            text = f"Tài khoản {identity.actor} {why} danh sách cán bộ nên không được xem hồ sơ hay phiên bỏ phiếu nào."
            return forbidden(request, identity, text)
        keeper_scopes = {(k, g.scope) for k, r in KEEPER_ROLE.items() for g in roles(actor, r)}
        kept = [s for s in sessions if (s.kind, s.scope) in keeper_scopes and may_read_session(scope, s.kind, s.scope)]
        at = now()
        overdue: list[dict[str, Any]] = []
        for kind, keeper_scope in sorted(keeper_scopes):
            if kind == BallotSessionKind.COUNCIL:
                overdue += await overdue_nominations(c, at, scope, ministry=keeper_scope)
            else:
                overdue += await overdue_nominations(c, at, scope, bloc=keeper_scope, stage=Stage.BLOC_VOTE)
        is_central = any(g.scope == CENTRAL_SCOPE for r in CENTRAL_ROLES for g in roles(actor, r))
        central_rows: list[dict[str, Any]] = []
        if is_central:
            overdue += await overdue_nominations(c, at, scope, stage=Stage.CENTRAL_REVIEW)
            central_rows = await central_nominations(c, scope)
        unit_rows: list[dict[str, Any]] = []
        for grant in roles(actor, Role.UNIT_STAFF):
            unit_rows += await unit_nominations(c, scope, grant.scope)
        # The bloc's year: what the person's organisation must sign, submit or vote on, and the head's act.
        in_bloc = bool(roles(actor, Role.BLOC_REPRESENTATIVE) or roles(actor, Role.BLOC_HEAD))
        bloc_tasks = await bloc_year_tasks(c, database(), identity.actor) if in_bloc else []
        return page(
            request,
            "inbox.html",
            identity=identity,
            actor=actor,
            in_bloc=in_bloc,
            bloc_tasks=bloc_tasks,
            awaiting=awaiting,
            counting=counting,
            kept=kept,
            overdue=list({row["workflow_id"]: row for row in overdue}.values()),
            central_rows=central_rows,
            unit_rows=unit_rows,
            is_keeper=bool(keeper_scopes),
            is_central=is_central,
            # The report page (api/report_page.py) is linked for the council secretariat and the central board.
            is_secretary=bool(roles(actor, Role.COUNCIL_SECRETARY)),
            is_unit=bool(roles(actor, Role.UNIT_STAFF)),
            is_voter=any(roles(actor, r) for r in VOTER_ROLE.values()) or bool(awaiting),
            phase_vi=PHASE_LABELS_VI,
            quote=quote,
        )

    @router.post("/bloc-years/{bloc_year_id}/sign", response_class=HTMLResponse)
    async def sign_pledge(request: Request, bloc_year_id: str) -> Response:
        """The representative signs the bloc year's pledge for their own organisation (the roster's; the
        workflow checks again)."""
        identity = who(request)
        if identity is None:
            return to_sign_in()
        try:
            status = await bloc_ops.sign_pledge(await client(), database(), bloc_year_id, identity.actor, channel="API")
        except bloc_ops.BlocYearRefused as err:
            return page(request, "message.html", 403, identity=identity, title="Không được ký giao ước", text=str(err))
        except nomination_ops.NominationNotFound:
            text = f"Không có năm thi đua {bloc_year_id}."
            return page(request, "message.html", 404, identity=identity, title="Không tìm thấy", text=text)
        except nomination_ops.ActionRefused as err:
            return page(request, "message.html", 409, identity=identity, title="Chưa ký được giao ước", text=str(err))
        except SQLAlchemyError:
            return roster_unavailable(request)
        signed = len(status.signatures)
        text = (
            f"Đơn vị đã ký giao ước thi đua năm {status.year} ({status.bloc}). Đã ký: {signed}/{len(status.members)} "
            f"đơn vị; giai đoạn: {status.phase_label_vi}."
        )
        return page(request, "message.html", identity=identity, title="Đã ký giao ước thi đua", text=text)

    @router.get("/sessions/{session_id}", response_class=HTMLResponse)
    async def ballot_form(request: Request, session_id: str) -> Response:
        identity = who(request)
        if identity is None:
            return to_sign_in()
        return await render_ballot(request, identity, session_id)

    @router.post("/sessions/{session_id}", response_class=HTMLResponse)
    async def plain_ballot_refused(request: Request, session_id: str) -> Response:
        """A form post of choices in clear (a page without its script, or anything else posting): refused
        unread. Ballots are sealed in the voter's browser and cast to the JSON API, never through here."""
        del session_id
        return page(
            request,
            "message.html",
            status_code=422,
            identity=who(request),
            title="Phiếu không được nhận",
            text=SEALED_ONLY_VI,
        )

    # ---- the voter's credential (JSON for api/static/ballot.js) ------------------------------------------

    @router.get("/sessions/{session_id}/credential")
    async def credential_info(request: Request, session_id: str) -> Response:
        """The session's public keys and the signed-in voter's conflict class (the key its class message is
        blinded under, and the candidates the voter recuses on)."""
        identity = who(request)
        if identity is None:
            return json_error(401, "Phiên đăng nhập đã hết hạn; vui lòng đăng nhập lại.")

        async def answer() -> Response:
            paper = await ballot_ops.ballot_paper(await client(), session_id, identity.actor, database())
            current = paper.status
            if current.phase != SessionPhase.VOTING or current.keys is None:
                return json_error(409, f"Phiên {session_id} không trong thời gian bỏ phiếu.")
            try:
                voter_class = ballot_ops.held_class(paper.held, session_id, identity.actor)
            except nomination_ops.ActionRefused as err:
                return json_error(403, str(err))
            return JSONResponse(
                {
                    "session_id": session_id,
                    "round": current.round,
                    "phase": current.phase.value,
                    "conflict_class": voter_class.model_dump(mode="json"),
                    "keys": current.keys.model_dump(mode="json"),
                }
            )

        return await as_json(answer)

    @router.post("/sessions/{session_id}/credentials")
    async def request_credential(request: Request, session_id: str) -> Response:
        """The signed-in voter's one-time credential: the two blinded messages go to the session (which
        records that this voter took one) and its blind signatures come back."""
        identity = who(request)
        if identity is None:
            return json_error(401, "Phiên đăng nhập đã hết hạn; vui lòng đăng nhập lại.")

        async def answer() -> Response:
            asking = await json_body(request, CredentialRequest, voter=identity.actor, channel="API")
            issued = await ballot_ops.request_credential(await client(), session_id, asking)
            return JSONResponse(issued.model_dump(mode="json"))

        return await as_json(answer)

    # ---- the counting committee (Ban kiểm phiếu) -----------------------------------------------------------

    @router.get("/counting-key", response_class=HTMLResponse)
    async def counting_key_page(request: Request) -> Response:
        identity = who(request)
        if identity is None:
            return to_sign_in()
        try:
            enrolled = await ballot_ops.enrolled_counting_key(database(), identity.actor)
        except SQLAlchemyError:
            return roster_unavailable(request)
        return page(request, "counting_key.html", identity=identity, enrolled_key=enrolled.key_id if enrolled else None)

    @router.post("/counting-key")
    async def enroll_counting_key(request: Request) -> Response:
        """The public half of the counting key the signed-in actor's browser made (SPKI PEM)."""
        identity = who(request)
        if identity is None:
            return json_error(401, "Phiên đăng nhập đã hết hạn; vui lòng đăng nhập lại.")

        async def answer() -> Response:
            body = await json_body(request, CountingKeyEnrolment)
            try:
                key_id = await ballot_ops.enroll_counting_key(
                    database(), identity.actor, body.public_pem, replace=body.replace
                )
            except SealError as err:
                return json_error(422, f"public_pem: {err}")
            except ballot_ops.DuplicateEnrollment as err:
                return json_error(409, str(err))
            return JSONResponse({"actor": identity.actor, "key_id": key_id})

        return await as_json(answer)

    @router.get("/sessions/{session_id}/hand-in", response_class=HTMLResponse)
    async def hand_in_page(request: Request, session_id: str) -> Response:
        identity = who(request)
        if identity is None:
            return to_sign_in()
        try:
            current = await ballot_ops.session_status(await client(), session_id)
        except nomination_ops.NominationNotFound:
            return page(
                request, "message.html", status_code=404, title="Không tìm thấy phiên bỏ phiếu", text=session_id
            )
        if identity.actor not in current.committee:
            text = f"Tài khoản {identity.actor} không thuộc Ban kiểm phiếu của phiên {session_id}."
            return forbidden(request, identity, text)
        return page(
            request,
            "hand_in.html",
            identity=identity,
            session=current,
            threshold=current.keys.threshold if current.keys else "?",
            phase_vi=PHASE_LABELS_VI,
        )

    @router.get("/sessions/{session_id}/share")
    async def member_share(request: Request, session_id: str) -> Response:
        """The signed-in member's share, encrypted to the counting key they enrolled."""
        identity = who(request)
        if identity is None:
            return json_error(401, "Phiên đăng nhập đã hết hạn; vui lòng đăng nhập lại.")

        async def answer() -> Response:
            current = await ballot_ops.session_status(await client(), session_id)
            if identity.actor not in current.committee:
                return json_error(403, f"Tài khoản {identity.actor} không thuộc Ban kiểm phiếu của phiên này.")
            try:
                share = await ballot_ops.member_share(database(), session_id, identity.actor)
            except LookupError as err:
                return json_error(409, str(err).strip("'\""))
            return JSONResponse(share.model_dump(mode="json"))

        return await as_json(answer)

    @router.post("/sessions/{session_id}/shares")
    async def hand_in_share(request: Request, session_id: str) -> Response:
        """The signed-in member hands in the share their browser decrypted; the session checks it against
        its commitment and counts once `threshold` shares are in."""
        identity = who(request)
        if identity is None:
            return json_error(401, "Phiên đăng nhập đã hết hạn; vui lòng đăng nhập lại.")

        async def answer() -> Response:
            handing = await json_body(request, ShareHandIn, member=identity.actor, channel="API")
            current = await ballot_ops.hand_in_share(await client(), session_id, handing)
            return JSONResponse(
                {
                    "session_id": session_id,
                    "phase": current.phase.value,
                    "round": current.round,
                    "shares_in": current.shares_in,
                    "threshold": current.keys.threshold if current.keys else 0,
                    "committee_size": len(current.committee),
                }
            )

        return await as_json(answer)

    # ---- receipts: checked without the cookie --------------------------------------------------------------

    @router.get("/receipt", response_class=HTMLResponse)
    async def receipt_page(request: Request) -> Response:
        """The check form; the receipt rides in the fragment (#r=...), which the browser never sends."""
        return page(request, "receipt.html", identity=None)

    @router.get("/receipt-state")
    async def receipt_state(r: str = "") -> Response:
        """What became of a ballot, for whoever holds its receipt; reads no cookie (receipt.js sends none)."""

        async def answer() -> Response:
            try:
                session_id, state = await ballot_ops.check_receipt(await client(), r)
            except ValueError as err:
                return json_error(422, f"r: {err}")
            return JSONResponse({"receipt": r.strip(), "session_id": session_id, "state": state.value})

        return await as_json(answer)

    # ---- helpers -------------------------------------------------------------------------------------

    async def render_ballot(
        request: Request,
        identity: Identity,
        session_id: str,
    ) -> Response:
        c = await client()
        try:
            current = await ballot_ops.session_status(c, session_id)
        except nomination_ops.NominationNotFound:
            return page(
                request, "message.html", status_code=404, title="Không tìm thấy phiên bỏ phiếu", text=session_id
            )
        try:
            actor, scope = await reader(identity.actor)
        except SQLAlchemyError:
            return roster_unavailable(request)
        record = await session_record(c, current)
        if not may_read_session(scope, current.kind, current.scope, electorate_ids(record)):
            return forbidden(request, identity, session_refusal(scope, session_id))  # not theirs: list, dossiers
        rows = candidate_rows(current, identity.actor, actor, record)
        dossiers = await gather_limited([dossier(c, cand.workflow_id, scope) for cand, _ in rows])
        already = identity.actor in current.voted
        may_vote = awaits_ballot(actor, identity.actor, current, record)
        return page(
            request,
            "ballot.html",
            identity=identity,
            session=current,
            rows=[(cand, blocked, d) for (cand, blocked), d in zip(rows, dossiers, strict=True)],
            already=already,
            may_vote=may_vote,
            error=None,
            choices=list(CHOICE_LABELS_VI.items()),
            api_base=request.scope.get("root_path", ""),
            phase_vi=PHASE_LABELS_VI,
        )

    def forbidden(request: Request, identity: Identity, text: str) -> Response:
        """A refusal page; signed in still (they may sign out and in with another token)."""
        return page(request, "message.html", status_code=403, identity=identity, title="Không được phép xem", text=text)

    def roster_unavailable(request: Request) -> Response:
        return page(
            request,
            "message.html",
            status_code=503,
            title="Không đọc được danh sách cán bộ",
            text="Cơ sở dữ liệu tạm thời không trả lời; vui lòng thử lại sau ít phút.",
        )

    return router


Body = TypeVar("Body", bound=BaseModel)


class JsonRefusal(Exception):
    """A JSON request refused before it reached the engine (its status and message)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def json_error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


class CountingKeyEnrolment(BaseModel):
    """The public half of the counting key the member's browser made (SPKI PEM, RSA-OAEP-3072)."""

    model_config = ConfigDict(extra="forbid")
    public_pem: Annotated[str, StringConstraints(min_length=100, max_length=4096)]
    replace: bool = False  # replace a key enrolled before (the shares of sessions opened before stay with it)


async def json_body(request: Request, model: type[Body], **signed_in: str) -> Body:
    """A JSON object read into `model`, with `signed_in`'s fields (who is acting, through which channel) set
    from the cookie, never from the body. Only application/json: a cross-site form cannot send it without the
    browser asking first, and the inbox's cookie is SameSite=Strict besides."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise JsonRefusal(415, "Chỉ nhận nội dung application/json.")
    raw = await request.body()
    if len(raw) > MAX_JSON_BYTES:
        raise JsonRefusal(413, f"Nội dung quá lớn (tối đa {MAX_JSON_BYTES} byte).")
    try:
        data = json.loads(raw)
    except ValueError:
        raise JsonRefusal(422, "body: không phải JSON") from None
    if not isinstance(data, dict):
        raise JsonRefusal(422, "body: cần một đối tượng JSON")
    if named := sorted(set(data) & set(signed_in)):
        raise JsonRefusal(422, f"{named[0]}: lấy từ tài khoản đang đăng nhập, không gửi trong nội dung")
    try:
        return model.model_validate(data | signed_in)
    except ValidationError as err:
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in err.errors())
        raise JsonRefusal(422, fields) from None


async def as_json(answer: Callable[[], Awaitable[Response]]) -> Response:
    """The engine's refusals as JSON errors the page shows: unknown session 404, a validator's refusal 409."""
    try:
        return await answer()
    except JsonRefusal as err:
        return json_error(err.status, err.detail)
    except nomination_ops.NominationNotFound as err:
        return json_error(404, f"Không tìm thấy phiên bỏ phiếu: {err}")
    except nomination_ops.ActionRefused as err:
        return json_error(409, str(err))
    except ValidationError as err:
        return json_error(422, "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()))
    except SQLAlchemyError:
        return json_error(503, "Cơ sở dữ liệu tạm thời không trả lời; vui lòng thử lại sau ít phút.")


def electorate_ids(record: SessionRecord) -> frozenset[str]:
    """Who the session asks for a ballot, as it snapshotted them (empty while its list is open)."""
    return record.electorate.ids() if record.electorate is not None else frozenset()


def session_voter(actor_id: str, actor: Actor | None, record: SessionRecord) -> Voter:
    """The voter as the session's electorate recorded them (organisation included); a person outside it
    (or a session whose electorate could not be read) as the database roster has them."""
    if record.electorate is not None and (voter := record.electorate.voter(actor_id)) is not None:
        return voter
    return Voter(id=actor_id, organisation=actor.organisation if actor else "?")


def candidate_rows(
    current: SessionStatus, actor_id: str, actor: Actor | None, record: SessionRecord
) -> list[tuple[Candidate, bool]]:
    """Each nomination on the list, and whether this person may not vote on it under the session's rule."""
    voter = session_voter(actor_id, actor, record)
    rule = record.rule(current.kind)
    return [(cand, conflicted(voter, cand, rule)) for cand in current.candidates]


def awaits_ballot(actor: Actor | None, actor_id: str, current: SessionStatus, record: SessionRecord) -> bool:
    """In phase VOTING, in the session's electorate, not its recording secretary, not voted yet, and something
    to vote on under the session's conflict rule."""
    if current.phase != SessionPhase.VOTING or actor_id in current.voted:
        return False
    if record.electorate is not None:
        if record.electorate.voter(actor_id) is None:
            return False
    elif actor is None or not actor.holds(VOTER_ROLE[current.kind], current.scope):
        return False  # the electorate is unreadable: the database roster stands in for it
    if record.records_session(actor_id, current):
        return False
    return any(not blocked for _, blocked in candidate_rows(current, actor_id, actor, record))


async def read_session_record(client: Client, session_id: str) -> SessionRecord:
    """The session's start input, and the results of its roster-snapshot and electorate activities, read from
    its history (decoded by the client's converter, so through the payload codec)."""
    start: SessionStart | None = None
    snapshot: RosterSnapshot | None = None
    electorate: Electorate | None = None
    scheduled: dict[int, str] = {}
    converter = client.data_converter
    try:
        async for event in client.get_workflow_handle(session_id).fetch_history_events():
            if event.HasField("workflow_execution_started_event_attributes"):
                payloads = event.workflow_execution_started_event_attributes.input.payloads
                [decoded] = await converter.decode(payloads, [SessionStart])
                start = decoded if isinstance(decoded, SessionStart) else None
            elif event.HasField("activity_task_scheduled_event_attributes"):
                name = event.activity_task_scheduled_event_attributes.activity_type.name
                if name in (SCOPE_SNAPSHOT_ACTIVITY, ELECTORATE_ACTIVITY):
                    scheduled[event.event_id] = name
            elif event.HasField("activity_task_completed_event_attributes"):
                done = event.activity_task_completed_event_attributes
                name = scheduled.get(done.scheduled_event_id, "")
                if name == SCOPE_SNAPSHOT_ACTIVITY:
                    [decoded] = await converter.decode(done.result.payloads, [RosterSnapshot])
                    snapshot = decoded if isinstance(decoded, RosterSnapshot) else None
                elif name == ELECTORATE_ACTIVITY:
                    [decoded] = await converter.decode(done.result.payloads, [Electorate])
                    electorate = decoded if isinstance(decoded, Electorate) else None
                    break  # everything needed comes before the electorate
    except Exception:  # an unreadable history: what was read so far (the roster stands in for the rest)
        pass
    return SessionRecord(start=start, snapshot=snapshot, electorate=electorate)


async def form_fields(request: Request) -> list[tuple[str, str]]:
    """An HTML form's fields (application/x-www-form-urlencoded, what plain forms send); parsed here so the
    inbox needs no python-multipart."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return []
    return parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)


def roles(actor: Actor | None, role: Role) -> list[Any]:
    return [g for g in actor.roles if g.role == role] if actor else []


async def gather_limited(calls: list[Awaitable[Any]]) -> list[Any]:
    gate = asyncio.Semaphore(STATUS_CONCURRENCY)

    async def one(call: Awaitable[Any]) -> Any:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(call) for call in calls)))


async def bloc_year_tasks(client: Client, engine: AsyncEngine, actor_id: str) -> list[BlocYearTask]:
    """What the person must do in their blocs' running years (domain.bloc.year_actors.tasks_for)."""
    return await bloc_ops.tasks_of(client, engine, actor_id)


async def running_sessions(client: Client, engine: AsyncEngine) -> list[SessionStatus]:
    """The sessions this deployment's register (PostgreSQL, written by the workers) has not seen end, as their
    status queries answer now. A session that does not answer in time is left out rather than holding the
    page."""
    ended = (SessionPhase.CLOSED.value, SessionPhase.CANCELLED.value)
    query = sa.select(ballot_sessions.c.session_id).where(ballot_sessions.c.phase.not_in(ended)).limit(MAX_ROWS)
    async with engine.connect() as conn:
        ids = list((await conn.execute(query)).scalars())

    async def one(session_id: str) -> SessionStatus | None:
        try:
            return await asyncio.wait_for(ballot_ops.session_status(client, session_id), STATUS_TIMEOUT_S)
        except Exception:  # ended meanwhile, not answering in time, or not registered on this server
            return None

    found = await gather_limited([one(i) for i in ids])
    return sorted((s for s in found if s is not None), key=lambda s: (s.deadline, s.session_id))


async def dossier(client: Client, workflow_id: str, scope: ReadScope) -> dict[str, Any]:
    """The nomination's summary: award, nominee, stage (status query) and the achievements (its input), for a
    reader who may read the nomination (anyone else gets its id alone)."""
    summary: dict[str, Any] = {"workflow_id": workflow_id}
    try:
        current = await nomination_ops.status(client, workflow_id)
        if not access.may_read_status(scope, current):
            return summary
        summary |= {
            "award": current.award_name_vi,
            "nominee": current.nominee_name,
            "reference": current.reference,
            "ministry": current.ministry,
            "stage": current.stage_label_vi,
        }
    except Exception:
        summary["error"] = "Không đọc được trạng thái hồ sơ"
    try:
        async for event in client.get_workflow_handle(workflow_id).fetch_history_events(page_size=1):
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            [start] = await client.data_converter.decode(payloads, [NominationStart])
            if isinstance(start, NominationStart):
                summary["achievements"] = start.nomination.achievements
                summary["unit"] = start.nomination.proposing_unit
            break
    except Exception:  # unreadable input: the summary goes without the achievements
        pass
    return summary


async def unit_nominations(client: Client, scope: ReadScope, ministry: str) -> list[dict[str, Any]]:
    rows = await access.list_nominations(client, scope, ministry=ministry, limit=MAX_ROWS)
    for row in rows:
        try:
            row["stage_vi"] = Stage(row["stage"]).label_vi
        except ValueError:
            row["stage_vi"] = row["stage"] or "—"
    return rows[:MAX_ROWS]


async def overdue_nominations(
    client: Client,
    at: datetime,
    scope: ReadScope,
    *,
    ministry: str | None = None,
    bloc: str | None = None,
    stage: Stage | None = None,
) -> list[dict[str, Any]]:
    """Running nominations the reader may read whose stage was due before `at`: of a ministry, of a bloc, in a
    stage."""
    clauses = [nomination_ops.visibility_query(stage=stage.value if stage else None, ministry=ministry)]
    if (readable := access.visibility_scope(scope)) is not None:
        clauses.append(readable)
    if bloc:
        clauses.append(f"Bloc = '{quoted(bloc)}'")
    clauses += ["ExecutionStatus = 'Running'", f"StageDueAt < '{at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"]
    return await listed(client, " AND ".join(clauses))


async def central_nominations(client: Client, scope: ReadScope) -> list[dict[str, Any]]:
    """What waits for the central board: its appraisal, or a decision it records (Prime Minister, President)."""
    forms = ", ".join(f"'{quoted(code)}'" for code in central_decision_forms())
    query = (
        f"{nomination_ops.visibility_query()} AND ExecutionStatus = 'Running' AND "
        f"(NominationStage = '{Stage.CENTRAL_REVIEW.value}' OR "
        f"(NominationStage = '{Stage.AWAITING_DECISION.value}' AND AwardForm IN ({forms})))"
    )
    if (readable := access.visibility_scope(scope)) is not None:
        query += f" AND {readable}"
    return await listed(client, query)


def quoted(value: str) -> str:
    """A value inside a visibility query's single quotes."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


async def listed(client: Client, query: str) -> list[dict[str, Any]]:
    rows = []
    async for wf in client.list_workflows(query, limit=MAX_ROWS):
        attrs = wf.typed_search_attributes
        memo = await wf.memo()
        stage = attrs.get(NOMINATION_STAGE)
        try:
            stage_vi = Stage(stage).label_vi if stage else "—"
        except ValueError:
            stage_vi = stage or "—"
        rows.append(
            {
                "workflow_id": wf.id,
                "ministry": attrs.get(MINISTRY),
                "stage_vi": stage_vi,
                "due_at": attrs.get(STAGE_DUE_AT),
                "nominee": memo.get("nominee"),
                "award": memo.get("award"),
            }
        )
    return rows
