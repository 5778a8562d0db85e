"""A browser inbox in Vietnamese (server-rendered Jinja2, plain HTML forms), mounted at ``/inbox``.

* **Sign-in.** The user pastes the signed token an administrator issued (``starter.py token issue``); it is
  verified with runtime.auth and kept in an HttpOnly, SameSite=Strict cookie scoped to ``/inbox``. Every
  page verifies it again (an expired or rotated-out token sends the user back to the sign-in form).
* **Voters** (council members, bloc representatives) see the ballot sessions in phase VOTING that await
  their ballot, each nomination's summary, and cast one ballot (FOR / AGAINST / ABSTAIN per nomination;
  those they are conflicted on are shown but not votable). The choices are sealed here, server-side, with
  runtime.ballots.cast, exactly as the CLI does; the receipt is shown after casting.
* **Unit staff** see their ministry's nominations and stages; **the secretariat** (council secretary, bloc
  head) sees its sessions with turnout and the overdue nominations (``StageDueAt`` before now).

Who belongs where comes from the roster (config/roster.json unless one is given); the workflows' validators
check every action against their own roster snapshot again, so the roster here only decides what is shown.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from temporalio.client import Client

from domain.ballot_messages import SessionPhase, SessionStatus
from domain.ballots import BallotSessionKind, Candidate, Choice, ConflictRule, Voter, conflicted, natural_conflict_rule
from domain.messages import NominationStart
from domain.roster import Actor, Role, Roster
from domain.stages import Stage
from runtime import ballots as ballot_ops
from runtime import nominations as nomination_ops
from runtime.auth import AuthError, Identity, Keyring, verify_token
from workflows.search_attributes import NOMINATION_STAGE, STAGE_DUE_AT

ClientFactory = Callable[[], Awaitable[Client]]

COOKIE = "tdkt_inbox_token"
PREFIX = "/inbox"
ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
SESSIONS_QUERY = "WorkflowType = 'BallotSessionWorkflow' AND ExecutionStatus = 'Running'"
CHOICE_LABELS_VI = {Choice.FOR: "Đồng ý", Choice.AGAINST: "Không đồng ý", Choice.ABSTAIN: "Không biểu quyết"}
PHASE_LABELS_VI = {
    SessionPhase.COLLECTING: "Đang lập danh sách",
    SessionPhase.VOTING: "Đang bỏ phiếu",
    SessionPhase.AWAITING_CHAIR: "Chờ Chủ tịch quyết định (chưa đủ số)",
    SessionPhase.CLOSED: "Đã kết thúc",
    SessionPhase.CANCELLED: "Đã hủy",
}
VOTER_ROLE = {BallotSessionKind.COUNCIL: Role.COUNCIL_MEMBER, BallotSessionKind.BLOC: Role.BLOC_REPRESENTATIVE}
KEEPER_ROLE = {BallotSessionKind.COUNCIL: Role.COUNCIL_SECRETARY, BallotSessionKind.BLOC: Role.BLOC_HEAD}
MAX_ROWS = 500
MAX_FORM_BYTES = 1024 * 1024
STATUS_CONCURRENCY = 16


def load_roster(path: Path | None = None) -> Roster:
    path = path or ROOT / "config" / "roster.json"
    return Roster.model_validate(json.loads(path.read_text(encoding="utf-8")))


def inbox_router(
    client_factory: ClientFactory | Client,
    task_queue: str,
    keyring: Keyring,
    *,
    roster: Roster | None = None,
) -> APIRouter:
    """The inbox's routes (mount with ``app.include_router(...)``; every path starts with /inbox)."""
    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    people = roster or load_roster()
    actors = {a.id: a for a in people.actors}
    cached: list[Client] = [client_factory] if isinstance(client_factory, Client) else []
    lock = asyncio.Lock()
    del task_queue  # nothing here starts a workflow; kept for the same wiring as the API

    async def client() -> Client:
        if not cached:
            async with lock:
                if not cached:
                    assert not isinstance(client_factory, Client)
                    cached.append(await client_factory())
        return cached[0]

    def who(request: Request) -> Identity | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        try:
            return verify_token(keyring, token)
        except (AuthError, ValueError):
            return None

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
            identity = verify_token(keyring, token)
        except (AuthError, ValueError) as err:
            return page(request, "sign_in.html", status_code=401, error=f"Mã đăng nhập không hợp lệ: {err}")
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

    @router.post("/sign-out")
    async def sign_out() -> Response:
        response = to_sign_in()
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    # ---- the inbox -------------------------------------------------------------------------------------

    @router.get("", response_class=HTMLResponse)
    async def inbox(request: Request) -> Response:
        identity = who(request)
        if identity is None:
            return to_sign_in()
        actor = actors.get(identity.actor)
        c = await client()
        sessions = await running_sessions(c)
        awaiting = [s for s in sessions if awaits_ballot(actor, identity.actor, s)]
        keeper_scopes = {(k, g.scope) for k, r in KEEPER_ROLE.items() for g in roles(actor, r)}
        kept = [s for s in sessions if (s.kind, s.scope) in keeper_scopes]
        overdue: list[dict[str, Any]] = []
        ministries_kept = sorted({scope for kind, scope in keeper_scopes if kind == BallotSessionKind.COUNCIL})
        for ministry in ministries_kept:
            overdue += await overdue_nominations(c, ministry)
        unit_rows: list[dict[str, Any]] = []
        for grant in roles(actor, Role.UNIT_STAFF):
            unit_rows += await unit_nominations(c, grant.scope)
        return page(
            request,
            "inbox.html",
            identity=identity,
            actor=actor,
            awaiting=awaiting,
            kept=kept,
            overdue=overdue,
            unit_rows=unit_rows,
            is_keeper=bool(keeper_scopes),
            is_unit=bool(roles(actor, Role.UNIT_STAFF)),
            is_voter=any(roles(actor, r) for r in VOTER_ROLE.values()),
            phase_vi=PHASE_LABELS_VI,
            quote=quote,
        )

    @router.get("/sessions/{session_id}", response_class=HTMLResponse)
    async def ballot_form(request: Request, session_id: str) -> Response:
        identity = who(request)
        if identity is None:
            return to_sign_in()
        return await render_ballot(request, identity, session_id, error=None, chosen={})

    @router.post("/sessions/{session_id}", response_class=HTMLResponse)
    async def cast_ballot(request: Request, session_id: str) -> Response:
        identity = who(request)
        if identity is None:
            return to_sign_in()
        chosen: dict[str, Choice] = {}
        for key, value in await form_fields(request):
            if key.startswith("choice:") and value in Choice.__members__:
                chosen[key.removeprefix("choice:")] = Choice(value)
        c = await client()
        try:
            current = await ballot_ops.session_status(c, session_id)
        except nomination_ops.NominationNotFound:
            return page(
                request, "message.html", status_code=404, title="Không tìm thấy phiên bỏ phiếu", text=session_id
            )
        votable = [cand.workflow_id for cand, blocked in candidate_rows(current, identity.actor) if not blocked]
        missing = [wf for wf in votable if wf not in chosen]
        if missing:
            error = f"Vui lòng chọn ý kiến cho tất cả {len(votable)} đề nghị (còn thiếu {len(missing)})."
            return await render_ballot(request, identity, session_id, error=error, chosen=chosen, status_code=422)
        ballot = {wf: chosen[wf] for wf in votable}
        try:
            receipt = await ballot_ops.cast(c, session_id, identity.actor, ballot)
        except nomination_ops.ActionRefused as err:
            error = f"Phiếu không được chấp nhận: {err}"
            return await render_ballot(request, identity, session_id, error=error, chosen=chosen, status_code=409)
        return RedirectResponse(f"{PREFIX}/receipt?r={quote(receipt.receipt, safe='')}", status_code=303)

    @router.get("/receipt", response_class=HTMLResponse)
    async def receipt_page(request: Request, r: str = "") -> Response:
        identity = who(request)
        if identity is None:
            return to_sign_in()
        counted: bool | None = None
        error = None
        session_id = None
        if r:
            try:
                session_id, counted = await ballot_ops.verify_receipt(await client(), r)
            except (ValueError, nomination_ops.NominationNotFound) as err:
                error = str(err)
        return page(
            request, "receipt.html", identity=identity, receipt=r, session_id=session_id, counted=counted, error=error
        )

    # ---- helpers -------------------------------------------------------------------------------------

    async def render_ballot(
        request: Request,
        identity: Identity,
        session_id: str,
        *,
        error: str | None,
        chosen: dict[str, Choice],
        status_code: int = 200,
    ) -> Response:
        c = await client()
        try:
            current = await ballot_ops.session_status(c, session_id)
        except nomination_ops.NominationNotFound:
            return page(
                request, "message.html", status_code=404, title="Không tìm thấy phiên bỏ phiếu", text=session_id
            )
        rows = candidate_rows(current, identity.actor)
        dossiers = await gather_limited([dossier(c, cand.workflow_id) for cand, _ in rows])
        already = identity.actor in current.voted
        may_vote = awaits_ballot(actors.get(identity.actor), identity.actor, current)
        return page(
            request,
            "ballot.html",
            status_code=status_code,
            identity=identity,
            session=current,
            rows=[(cand, blocked, d) for (cand, blocked), d in zip(rows, dossiers, strict=True)],
            already=already,
            may_vote=may_vote,
            error=error,
            chosen=chosen,
            choices=list(CHOICE_LABELS_VI.items()),
            phase_vi=PHASE_LABELS_VI,
        )

    def candidate_rows(current: SessionStatus, voter_id: str) -> list[tuple[Candidate, bool]]:
        actor = actors.get(voter_id)
        voter = Voter(id=voter_id, organisation=actor.organisation if actor else "?")
        rule: ConflictRule = natural_conflict_rule(current.kind)
        return [(cand, conflicted(voter, cand, rule)) for cand in current.candidates]

    def awaits_ballot(actor: Actor | None, actor_id: str, current: SessionStatus) -> bool:
        """In phase VOTING, in the electorate (by the roster), not voted yet, and something to vote on."""
        if actor is None or current.phase != SessionPhase.VOTING or actor_id in current.voted:
            return False
        if not actor.holds(VOTER_ROLE[current.kind], current.scope):
            return False
        return any(not blocked for _, blocked in candidate_rows(current, actor_id))

    return router


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


async def running_sessions(client: Client) -> list[SessionStatus]:
    ids = [wf.id async for wf in client.list_workflows(SESSIONS_QUERY, limit=MAX_ROWS)]

    async def one(session_id: str) -> SessionStatus | None:
        try:
            return await ballot_ops.session_status(client, session_id)
        except Exception:  # ended between the listing and the query, or not yet answering
            return None

    found = await gather_limited([one(i) for i in ids])
    return sorted((s for s in found if s is not None), key=lambda s: (s.deadline, s.session_id))


async def dossier(client: Client, workflow_id: str) -> dict[str, Any]:
    """The nomination's summary: award, nominee, stage (status query) and the achievements (its input)."""
    summary: dict[str, Any] = {"workflow_id": workflow_id}
    try:
        current = await nomination_ops.status(client, workflow_id)
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


async def unit_nominations(client: Client, ministry: str) -> list[dict[str, Any]]:
    rows = await nomination_ops.list_nominations(client, ministry=ministry)
    for row in rows:
        try:
            row["stage_vi"] = Stage(row["stage"]).label_vi
        except ValueError:
            row["stage_vi"] = row["stage"] or "—"
    return rows[:MAX_ROWS]


async def overdue_nominations(client: Client, ministry: str) -> list[dict[str, Any]]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    query = (
        f"{nomination_ops.visibility_query(ministry=ministry)} AND ExecutionStatus = 'Running' AND StageDueAt < '{now}'"
    )
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
                "stage_vi": stage_vi,
                "due_at": attrs.get(STAGE_DUE_AT),
                "nominee": memo.get("nominee"),
                "award": memo.get("award"),
            }
        )
    return rows
