"""The activities of a ballot session: the session register, the list of waiting nominations and who holds
each (`ballot_list_members`: one open session at most), the electorate, the tally key, counting and the
minutes.

Every write is keyed on the session, round, voter or candidate (never on the attempt), so Temporal may
retry freely. Choices exist here only inside `open_and_count`: they are opened, counted and dropped; no
log line, error, return value or table ever holds one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.audit import append_audit, minutes_entry, session_action_entry
from activities.db import dialect_insert
from activities.logging import activity_logger
from activities.persistence import as_utc
from activities.schema import (
    NOTIFICATION_PENDING,
    actor_roles,
    actors,
    ballot_list_members,
    ballot_minutes,
    ballot_participation,
    ballot_sessions,
    blocs,
    ministries,
    nominations,
    notifications,
)
from domain.ballot_messages import (
    JOIN_LIST_UPDATE,
    CountRequest,
    CountResult,
    MinutesAmendment,
    PublicKeyInfo,
    SessionAction,
    SessionMinutes,
    SessionPhase,
    SessionRow,
    TieDecisionRecord,
)
from domain.ballots import (
    RECORDER_ROLE,
    STAGE_OF_KIND,
    VOTER_ROLE,
    Ballot,
    BallotSessionKind,
    Candidate,
    Electorate,
    Voter,
    ballot_errors,
    count,
)
from domain.notices import NotificationDraft
from runtime.sealing import SealError, ballot_key_path, load_or_create_private_key, open_ballot, public_key_info

# An offer tries the newest few sessions collecting their list (one may close its list meanwhile).
OFFER_SESSIONS = 3
# At most 10 updates may be in flight per workflow: a join turned away for load is sent again this long.
JOIN_BUSY_SECONDS = 20.0


def session_kind(kind: str) -> BallotSessionKind:
    try:
        return BallotSessionKind(kind)
    except ValueError:
        raise ApplicationError(
            f"unknown ballot session kind {kind!r}; expected one of " + ", ".join(k.value for k in BallotSessionKind),
            type="UnknownKind",
            non_retryable=True,
        ) from None


def claiming(insert: Any) -> Any:
    """An insert of claims that takes a nomination over only from a session whose register says it has ended
    (its own letting go may have run before a late claim landed); an open session's claim stands."""
    ended = sa.select(ballot_sessions.c.session_id).where(
        ballot_sessions.c.phase.in_([SessionPhase.CLOSED.value, SessionPhase.CANCELLED.value])
    )
    return insert.on_conflict_do_update(
        index_elements=[ballot_list_members.c.workflow_id],
        set_={"session_id": insert.excluded.session_id, "joined_at": insert.excluded.joined_at},
        where=ballot_list_members.c.session_id.in_(ended),
    )


def session_row_values(row: SessionRow, now: datetime) -> dict[str, Any]:
    return {
        "session_id": row.session_id,
        "kind": row.kind.value,
        "scope": row.scope,
        "meeting_ref": row.meeting_ref,
        "phase": row.phase.value,
        "opened_by": row.opened_by,
        "deadline": as_utc(row.deadline),
        "policy_version": row.policy_version,
        "candidates": row.candidates,
        "electorate_size": row.electorate_size,
        "voted": row.voted,
        "created_at": now,
        "updated_at": now,
    }


def minutes_values(minutes: SessionMinutes) -> list[dict[str, Any]]:
    return [
        {
            "session_id": minutes.session_id,
            "round": minutes.round,
            "workflow_id": entry.candidate.workflow_id,
            "members": entry.tally.members,
            "present": entry.tally.present,
            "votes_for": entry.tally.votes_for,
            "votes_against": entry.tally.votes_against,
            "abstaining": entry.tally.abstaining,
            "result": entry.result.value,
            "reason_vi": entry.reason_vi,
            "policy_version": minutes.policy_version,
            "closed_at": as_utc(minutes.closed_at),
            "spoiled": minutes.spoiled,
        }
        for entry in minutes.entries
    ]


def participation_values(minutes: SessionMinutes) -> list[dict[str, Any]]:
    return [
        {
            "session_id": minutes.session_id,
            "round": minutes.round,
            "voter_id": p.voter_id,
            "voted_at": as_utc(p.voted_at),
            "receipt": p.receipt,
        }
        for p in minutes.participation
    ]


async def write_minutes(conn: AsyncConnection, minutes: SessionMinutes, now: datetime) -> bool:
    """The minutes' writes; True when this call recorded the round (False: a retry found it recorded)."""
    recorded = sa.select(ballot_minutes.c.session_id).where(
        ballot_minutes.c.session_id == minutes.session_id, ballot_minutes.c.round == minutes.round
    )
    already = (await conn.execute(recorded.limit(1))).first() is not None
    participation = participation_values(minutes)
    if participation:
        await conn.execute(
            dialect_insert(conn, ballot_participation)
            .values(participation)
            .on_conflict_do_nothing(
                index_elements=[
                    ballot_participation.c.session_id,
                    ballot_participation.c.round,
                    ballot_participation.c.voter_id,
                ]
            )
        )
    entries = minutes_values(minutes)
    if entries:
        await conn.execute(
            dialect_insert(conn, ballot_minutes)
            .values(entries)
            .on_conflict_do_nothing(
                index_elements=[ballot_minutes.c.session_id, ballot_minutes.c.round, ballot_minutes.c.workflow_id]
            )
        )
    if already:
        # A retry: the session row may since have moved on (a later register call); leave it.
        return False
    await conn.execute(
        sa.update(ballot_sessions)
        .where(ballot_sessions.c.session_id == minutes.session_id)
        .values(
            phase=SessionPhase.CLOSED.value,
            electorate_size=minutes.electorate_size,
            voted=len(minutes.participation),
            updated_at=now,
        )
    )
    return True


def notification_rows(
    workflow_id: str, seq: int, drafts: list[NotificationDraft], now: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "workflow_id": workflow_id,
            "seq": seq,
            "party": draft.party,
            "recipients": list(draft.recipients),
            "subject": draft.subject,
            "body": draft.body,
            "status": NOTIFICATION_PENDING,
            "attempts": 0,
            "last_error": None,
            "created_at": now,
            "sent_at": None,
        }
        for draft in drafts
    ]


def count_sealed(private_key: rsa.RSAPrivateKey, request: CountRequest) -> tuple[CountResult, dict[str, str]]:
    """Open and count; returns the result and, per spoiled voter, why (never a choice)."""
    opened: list[Ballot] = []
    why_spoiled: dict[str, str] = {}
    for voter_id, sealed in sorted(request.ballots.items()):
        try:
            ballot = Ballot(voter_id=voter_id, choices=open_ballot(private_key, request.session_id, voter_id, sealed))
        except SealError as exc:
            why_spoiled[voter_id] = str(exc)
            continue
        # A choice on a struck candidate is void, never a reason to spoil the ballot.
        problems = ballot_errors(ballot, request.electorate, request.candidates, request.rule, struck=request.struck)
        if problems:
            why_spoiled[voter_id] = "; ".join(problems)
            continue
        opened.append(ballot)
    tallies = count(opened, request.candidates, request.electorate, request.rule, struck=request.struck)
    return CountResult(tallies=tallies, spoiled=sorted(why_spoiled)), why_spoiled


class BallotActivities:
    """Activities bound to one engine, one Temporal client and the tally key file; register every
    `@activity.defn` method of an instance on the worker."""

    def __init__(self, engine: AsyncEngine, client: Client, key_path: Path | None = None) -> None:
        self._engine = engine
        self._client = client
        self._key_path = key_path
        self._key: rsa.RSAPrivateKey | None = None
        self._key_lock = asyncio.Lock()

    async def _private_key(self) -> rsa.RSAPrivateKey:
        """The tally key, read (or created) on first use; file I/O and key generation off the loop."""
        if self._key is None:
            async with self._key_lock:
                if self._key is None:
                    path = self._key_path or ballot_key_path()
                    try:
                        self._key = await asyncio.to_thread(load_or_create_private_key, path)
                    except SealError as exc:
                        raise ApplicationError(str(exc), type="BadBallotKey", non_retryable=True) from None
        return self._key

    # ---- the session register ------------------------------------------------------------------------

    @activity.defn(name="register_ballot_session")
    async def register_ballot_session(self, row: SessionRow, actions: list[SessionAction] | None = None) -> None:
        """Upsert the session's row and, in the same transaction, audit the people's actions that led to it
        (each keyed on the session and its step: a retry appends nothing). Sessions always pass both
        arguments (the SDK decodes untyped when the count differs); one scheduled before the audit passes the
        row only."""
        now = datetime.now(UTC)
        audited = 0
        async with self._engine.begin() as conn:
            upsert = dialect_insert(conn, ballot_sessions).values(session_row_values(row, now))
            kept = ("session_id", "created_at")
            await conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=[ballot_sessions.c.session_id],
                    set_={c.name: upsert.excluded[c.name] for c in ballot_sessions.columns if c.name not in kept},
                )
            )
            for action in actions or []:
                audited += await append_audit(conn, session_action_entry(action), recorded_at=now)
        activity_logger(__name__).info(
            "ballot_session_registered",
            session_id=row.session_id,
            phase=row.phase.value,
            candidates=row.candidates,
            electorate_size=row.electorate_size,
            voted=row.voted,
            actions=[a.action.value for a in actions or []],
            audited=audited,
        )

    # ---- the list -----------------------------------------------------------------------------------

    @activity.defn(name="waiting_candidates")
    async def waiting_candidates(self, kind: str, scope: str, session_id: str | None = None) -> list[Candidate]:
        """The nominations waiting at the stage in scope. With `session_id`, the session takes them up: in one
        transaction it claims each one no other open session holds, and gets back those it holds (a claim is
        keyed on the nomination, so a retry or a second session claims nothing twice)."""
        session = session_kind(kind)
        scope_column = nominations.c.ministry if session == BallotSessionKind.COUNCIL else nominations.c.bloc
        waiting = (nominations.c.stage == STAGE_OF_KIND[session].value) & (scope_column == scope)
        query = sa.select(
            nominations.c.workflow_id,
            nominations.c.award_form,
            nominations.c.nominee_name,
            nominations.c.ministry,
            nominations.c.proposer,
            nominations.c.payload,
        ).order_by(nominations.c.workflow_id)
        async with self._engine.begin() as conn:
            if session_id is None:
                rows = (await conn.execute(query.where(waiting))).all()
            else:
                claims = sa.select(
                    nominations.c.workflow_id,
                    sa.literal(session_id, sa.String(200)),
                    sa.literal(datetime.now(UTC), sa.DateTime(timezone=True)),
                ).where(waiting)
                await conn.execute(
                    claiming(
                        dialect_insert(conn, ballot_list_members).from_select(
                            ["workflow_id", "session_id", "joined_at"], claims
                        )
                    )
                )
                held = query.join(
                    ballot_list_members, ballot_list_members.c.workflow_id == nominations.c.workflow_id
                ).where(waiting, ballot_list_members.c.session_id == session_id)
                rows = (await conn.execute(held)).all()
        candidates = [
            Candidate(
                workflow_id=r.workflow_id,
                award_form=r.award_form,
                nominee_name=r.nominee_name,
                nominee_actor_id=((r.payload or {}).get("nominee") or {}).get("actor_id"),
                proposing_organisation=r.ministry,
                proposer_actor_id=r.proposer,
            )
            for r in rows
        ]
        activity_logger(__name__).info(
            "waiting_candidates", kind=session.value, scope=scope, session_id=session_id, found=len(candidates)
        )
        return candidates

    @activity.defn(name="offer_to_open_session")
    async def offer_to_open_session(self, kind: str, scope: str, candidate: Candidate) -> str | None:
        """Put a nomination that reached the stage on the list of the newest session of its body collecting
        one; returns the session whose list holds it (this one, or another that took it up already), or None.

        The nomination is claimed for the session first, then the session is asked to list it (its update
        refuses once the list is closed: the claim is let go and the next session collecting is tried)."""
        session = session_kind(kind)
        log = activity_logger(__name__)
        wf = candidate.workflow_id
        query = (
            sa.select(ballot_sessions.c.session_id)
            .where(
                ballot_sessions.c.kind == session.value,
                ballot_sessions.c.scope == scope,
                ballot_sessions.c.phase == SessionPhase.COLLECTING.value,
            )
            .order_by(ballot_sessions.c.created_at.desc(), ballot_sessions.c.session_id.desc())
            .limit(OFFER_SESSIONS)
        )
        async with self._engine.connect() as conn:
            collecting = [str(sid) for sid in (await conn.execute(query)).scalars()]
        for session_id in collecting:
            holder = await self._claim(wf, session_id)
            if holder != session_id and not await self._running(holder):
                # The session holding it ended without letting go (it was terminated): the claim is void.
                log.warning("stale_list_claim", session_id=holder, candidate=wf)
                await self._release(holder, [wf])
                holder = await self._claim(wf, session_id)
            if holder != session_id:
                log.info("candidate_already_listed", session_id=holder, candidate=wf)
                return holder
            if await self._join(session_id, candidate):
                log.info("candidate_offered", session_id=session_id, candidate=wf)
                return session_id
            await self._release(session_id, [wf])
        log.info("no_open_session", kind=session.value, scope=scope, candidate=wf, collecting=len(collecting))
        return None

    async def _claim(self, workflow_id: str, session_id: str) -> str:
        """Claim the nomination for the session unless an open session holds it; returns the holder."""
        async with self._engine.begin() as conn:
            await conn.execute(
                claiming(
                    dialect_insert(conn, ballot_list_members).values(
                        workflow_id=workflow_id, session_id=session_id, joined_at=datetime.now(UTC)
                    )
                )
            )
            holder = await conn.scalar(
                sa.select(ballot_list_members.c.session_id).where(ballot_list_members.c.workflow_id == workflow_id)
            )
        return str(holder)

    async def _release(self, session_id: str, workflow_ids: list[str]) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                sa.delete(ballot_list_members).where(
                    ballot_list_members.c.session_id == session_id, ballot_list_members.c.workflow_id.in_(workflow_ids)
                )
            )
        return max(result.rowcount, 0)

    async def _running(self, session_id: str) -> bool:
        try:
            described = await self._client.get_workflow_handle(session_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return described.status == WorkflowExecutionStatus.RUNNING

    async def _join(self, session_id: str, candidate: Candidate) -> bool:
        """Ask the session to list the candidate: True once listed, False when it refuses (its list is closed)
        or has ended."""
        handle = self._client.get_workflow_handle(session_id)
        delay, waited = 0.05, 0.0
        while True:
            try:
                await handle.execute_update(JOIN_LIST_UPDATE, candidate)
                return True
            except WorkflowUpdateFailedError:
                return False  # the validator refused: the list is closed (or the session is ending)
            except RPCError as err:
                if err.status == RPCStatusCode.RESOURCE_EXHAUSTED and waited < JOIN_BUSY_SECONDS:
                    await asyncio.sleep(delay)
                    waited += delay
                    delay = min(delay * 2, 2.0)
                    continue
                # Not found, already completed, aborted as it ended: a session that has ended lists nothing.
                if not await self._running(session_id):
                    return False
                raise  # turned away in passing: the activity is retried (claiming is idempotent)

    @activity.defn(name="release_from_list")
    async def release_from_list(self, session_id: str, workflow_ids: list[str] | None, keep: list[str] | None) -> int:
        """The session lets go of nominations: those named (they left its list), or with `workflow_ids` None
        every one it holds but `keep` (its list closed, or it ended). Keyed on the session: a retry deletes
        nothing more."""
        condition = ballot_list_members.c.session_id == session_id
        if workflow_ids is not None:
            condition &= ballot_list_members.c.workflow_id.in_(workflow_ids)
        elif keep:
            condition &= ballot_list_members.c.workflow_id.not_in(keep)
        async with self._engine.begin() as conn:
            released = max((await conn.execute(sa.delete(ballot_list_members).where(condition))).rowcount, 0)
        activity_logger(__name__).info(
            "list_released",
            session_id=session_id,
            named=None if workflow_ids is None else len(workflow_ids),
            kept=len(keep or []),
            released=released,
        )
        return released

    # ---- the electorate and the key -----------------------------------------------------------------

    @activity.defn(name="snapshot_electorate")
    async def snapshot_electorate(self, kind: str, scope: str) -> Electorate:
        session = session_kind(kind)
        role = VOTER_ROLE[session]
        scope_table = ministries if session == BallotSessionKind.COUNCIL else blocs
        query = (
            sa.select(actors.c.id, actors.c.organisation)
            .join(actor_roles, actor_roles.c.actor_id == actors.c.id)
            .where(actor_roles.c.role == role.value, actor_roles.c.scope == scope)
            .order_by(actors.c.id)
        )
        recorder = RECORDER_ROLE.get(session)
        if recorder is not None:
            records = sa.select(actor_roles.c.actor_id).where(
                actor_roles.c.role == recorder.value, actor_roles.c.scope == scope
            )
            query = query.where(actors.c.id.not_in(records))
        async with self._engine.connect() as conn:
            known = await conn.scalar(sa.select(sa.func.count()).where(scope_table.c.code == scope))
            rows = (await conn.execute(query)).all()
        what = "ministry" if session == BallotSessionKind.COUNCIL else "bloc"
        if not known:
            raise ApplicationError(
                f"{what} {scope!r} is not in the roster; load it with `starter.py roster load`",
                type="UnknownScope",
                non_retryable=True,
            )
        if not rows:
            but = f" but {recorder.value}, who records the session and does not vote" if recorder else ""
            raise ApplicationError(
                f"no one holds {role.value} for {what} {scope!r}{but}, so a {session.value} ballot has no voters; "
                "add them to the roster and load it again",
                type="EmptyElectorate",
                non_retryable=True,
            )
        try:
            electorate = Electorate(
                voters=tuple(Voter(id=r.id, organisation=r.organisation) for r in rows), kind=session
            )
        except ValidationError as exc:
            raise ApplicationError(
                f"the {role.value} holders of {what} {scope!r} do not form an electorate: "
                + "; ".join(str(e["msg"]) for e in exc.errors()),
                type="InvalidElectorate",
                non_retryable=True,
            ) from None
        activity_logger(__name__).info("electorate_snapshotted", kind=session.value, scope=scope, size=electorate.size)
        return electorate

    @activity.defn(name="ballot_public_key")
    async def ballot_public_key(self) -> PublicKeyInfo:
        info = public_key_info(await self._private_key())
        activity_logger(__name__).info("ballot_public_key", key_id=info.key_id)
        return info

    # ---- counting and the minutes -------------------------------------------------------------------

    @activity.defn(name="open_and_count")
    async def open_and_count(self, request: CountRequest) -> CountResult:
        log = activity_logger(__name__)
        key = await self._private_key()
        try:
            # RSA unwrapping is CPU work: keep the worker's event loop free.
            result, why_spoiled = await asyncio.to_thread(count_sealed, key, request)
        except ValueError as exc:
            raise ApplicationError(
                f"session {request.session_id} round {request.round} cannot be counted: {exc}",
                type="CountFailed",
                non_retryable=True,
            ) from None
        for voter_id, reason in sorted(why_spoiled.items()):
            log.warning(
                "ballot_spoiled", session_id=request.session_id, round=request.round, voter=voter_id, reason=reason
            )
        log.info(
            "ballots_counted",
            session_id=request.session_id,
            round=request.round,
            ballots=len(request.ballots),
            counted=len(request.ballots) - len(result.spoiled),
            spoiled=len(result.spoiled),
            candidates=len(request.candidates),
        )
        return result

    @activity.defn(name="record_ballot_minutes")
    async def record_ballot_minutes(self, minutes: SessionMinutes) -> None:
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            first = await write_minutes(conn, minutes, now)
            # One audit entry per round, counts only (idempotent: a retry appends nothing).
            audited = await append_audit(conn, minutes_entry(minutes), recorded_at=now)
        activity_logger(__name__).info(
            "ballot_minutes_recorded",
            session_id=minutes.session_id,
            round=minutes.round,
            entries=len(minutes.entries),
            participation=len(minutes.participation),
            spoiled=minutes.spoiled,
            first_write=first,
            audited=audited,
        )

    @activity.defn(name="record_tie_decision")
    async def record_tie_decision(self, record: TieDecisionRecord) -> None:
        """The bloc head's decision: the tied candidates' rows of that round's minutes take their final result,
        and the decision is audited, in one transaction (idempotent: the same rows, the same audit key)."""
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            for entry in record.entries:
                await conn.execute(
                    sa.update(ballot_minutes)
                    .where(
                        ballot_minutes.c.session_id == record.session_id,
                        ballot_minutes.c.round == record.round,
                        ballot_minutes.c.workflow_id == entry.candidate.workflow_id,
                    )
                    .values(result=entry.result.value, reason_vi=entry.reason_vi)
                )
            audited = await append_audit(conn, session_action_entry(record.action), recorded_at=now)
        activity_logger(__name__).info(
            "tie_decision_recorded",
            session_id=record.session_id,
            round=record.round,
            tied=record.tied,
            head_decision=record.head_decision,
            audited=audited,
        )

    @activity.defn(name="amend_ballot_minutes")
    async def amend_ballot_minutes(self, amendment: MinutesAmendment) -> None:
        """Rows of a round's minutes that a strike changed after they were written (a candidate struck while a
        bloc tie awaited its head, or while the results were recorded, says WITHDRAWN_FROM_LIST with the
        reason; the ranking that follows may move others): written or rewritten, idempotent."""
        rows = [
            {
                "session_id": amendment.session_id,
                "round": amendment.round,
                "workflow_id": entry.candidate.workflow_id,
                "members": entry.tally.members,
                "present": entry.tally.present,
                "votes_for": entry.tally.votes_for,
                "votes_against": entry.tally.votes_against,
                "abstaining": entry.tally.abstaining,
                "result": entry.result.value,
                "reason_vi": entry.reason_vi,
                "policy_version": amendment.policy_version,
                "closed_at": as_utc(amendment.closed_at),
                "spoiled": amendment.spoiled,
            }
            for entry in amendment.entries
        ]
        if rows:
            changed = ("members", "present", "votes_for", "votes_against", "abstaining", "result", "reason_vi")
            async with self._engine.begin() as conn:
                upsert = dialect_insert(conn, ballot_minutes).values(rows)
                await conn.execute(
                    upsert.on_conflict_do_update(
                        index_elements=[
                            ballot_minutes.c.session_id,
                            ballot_minutes.c.round,
                            ballot_minutes.c.workflow_id,
                        ],
                        set_={c: upsert.excluded[c] for c in changed},
                    )
                )
        activity_logger(__name__).info(
            "ballot_minutes_amended",
            session_id=amendment.session_id,
            round=amendment.round,
            entries=len(rows),
            results=sorted({r["result"] for r in rows}),
        )

    @activity.defn(name="write_session_notifications")
    async def write_session_notifications(self, workflow_id: str, seq: int, drafts: list[NotificationDraft]) -> None:
        written = 0
        if drafts:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    dialect_insert(conn, notifications)
                    .values(notification_rows(workflow_id, seq, drafts, datetime.now(UTC)))
                    .on_conflict_do_nothing(
                        index_elements=[notifications.c.workflow_id, notifications.c.seq, notifications.c.party]
                    )
                )
                written = max(result.rowcount, 0)
        activity_logger(__name__).info("session_notifications_written", seq=seq, drafts=len(drafts), written=written)
