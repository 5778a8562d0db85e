"""Ballot sessions in the database: the session register, the list claims (`ballot_list_members`: one open
session at most holds a nomination), the electorate, the session's keys at rest, the minutes and their audit.

Every write is keyed on the session, round, voter or candidate (never on an attempt), so a repeated write
changes nothing. No table here holds a choice, and nothing here ties a voter to a ballot. The keys arrive
already sealed: sealing and opening them is the caller's (activities/ballots.py, with security/)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.ballot_messages import (
    BallotPaper,
    ConflictClass,
    MinutesAmendment,
    PublishedPaper,
    SessionAction,
    SessionKeys,
    SessionMinutes,
    SessionPhase,
    SessionRow,
    SessionStatus,
    TieDecisionRecord,
)
from domain.ballots import RECORDER_ROLE, STAGE_OF_KIND, VOTER_ROLE, BallotSessionKind, Candidate, Voter
from domain.notices import NotificationDraft
from store.audit import ChainKeyring, append_audit, minutes_entry, session_action_entry
from store.db import as_utc, dialect_insert
from store.outbox import write_notifications
from store.schema import (
    actor_roles,
    actors,
    ballot_list_members,
    ballot_minutes,
    ballot_papers,
    ballot_participation,
    ballot_session_secrets,
    ballot_sessions,
    blocs,
    counting_keys,
    counting_shares,
    ministries,
    nominations,
)

# ---- the session register -----------------------------------------------------------------------------


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


async def register_session(
    engine: AsyncEngine, row: SessionRow, actions: Sequence[SessionAction], keyring: ChainKeyring
) -> int:
    """Upsert the session's row and, in the same transaction, audit the people's actions that led to it (each
    keyed on the session and its step: a retry appends nothing). Returns how many entries were appended."""
    now = datetime.now(UTC)
    audited = 0
    async with engine.begin() as conn:
        upsert = dialect_insert(conn, ballot_sessions).values(session_row_values(row, now))
        kept = ("session_id", "created_at")
        await conn.execute(
            upsert.on_conflict_do_update(
                index_elements=[ballot_sessions.c.session_id],
                set_={c.name: upsert.excluded[c.name] for c in ballot_sessions.columns if c.name not in kept},
            )
        )
        for action in actions:
            audited += await append_audit(conn, session_action_entry(action), keyring=keyring, recorded_at=now)
    return audited


# ---- the ballot paper -----------------------------------------------------------------------------------


async def publish_paper(engine: AsyncEngine, paper: PublishedPaper) -> None:
    """Write the round's paper, or replace it (a candidate struck since): keyed on the session and round."""
    values = {
        "session_id": paper.session_id,
        "round": paper.round,
        "status": paper.status.model_dump(mode="json"),
        "classes": {voter: held.model_dump(mode="json") for voter, held in paper.classes.items()},
        "updated_at": datetime.now(UTC),
    }
    async with engine.begin() as conn:
        upsert = dialect_insert(conn, ballot_papers).values(values)
        await conn.execute(
            upsert.on_conflict_do_update(
                index_elements=[ballot_papers.c.session_id, ballot_papers.c.round],
                set_={name: upsert.excluded[name] for name in ("status", "classes", "updated_at")},
            )
        )


async def read_paper(engine: AsyncEngine, session_id: str, voter: str) -> BallotPaper | None:
    """The session's newest round's paper for this voter, in the phase the register holds now; None when no
    paper was published (voting has not opened)."""
    query = (
        sa.select(ballot_papers.c.status, ballot_papers.c.classes, ballot_sessions.c.phase)
        .join(ballot_sessions, ballot_sessions.c.session_id == ballot_papers.c.session_id)
        .where(ballot_papers.c.session_id == session_id)
        .order_by(ballot_papers.c.round.desc())
        .limit(1)
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    phase = SessionPhase(row.phase)
    if phase == SessionPhase.COLLECTING:  # the paper is published as voting opens, the register's phase just after
        phase = SessionPhase.VOTING
    status = SessionStatus.model_validate(row.status).model_copy(update={"phase": phase})
    held = row.classes.get(voter)
    return BallotPaper(status=status, held=None if held is None else ConflictClass.model_validate(held))


# ---- the list -------------------------------------------------------------------------------------------


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


async def list_waiting(
    engine: AsyncEngine,
    session: BallotSessionKind,
    scope: str,
    session_id: str | None = None,
    named: Sequence[str] | None = None,
) -> list[Candidate]:
    """The nominations waiting at the stage in scope. With `session_id`, the session takes them up: in one
    transaction it claims each one no other open session holds, and gets back those it holds (a claim is
    keyed on the nomination, so a retry or a second session claims nothing twice). A bloc's own proposal
    (payload `origin`) waits for the session that names it: only a closed list (`named`) takes it, and only
    the nominations it names; its proposer (the bloc head, for the bloc) is no conflict in the bloc's vote."""
    scope_column = nominations.c.ministry if session == BallotSessionKind.COUNCIL else nominations.c.bloc
    waiting = (nominations.c.stage == STAGE_OF_KIND[session].value) & (scope_column == scope)
    from_bloc = nominations.c.payload["origin"].as_string().is_not(None)
    waiting &= nominations.c.workflow_id.in_(list(named)) if named is not None else ~from_bloc
    query = sa.select(
        nominations.c.workflow_id,
        nominations.c.award_form,
        nominations.c.nominee_name,
        nominations.c.ministry,
        nominations.c.proposer,
        nominations.c.payload,
    ).order_by(nominations.c.workflow_id)
    async with engine.begin() as conn:
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
    return [
        Candidate(
            workflow_id=r.workflow_id,
            award_form=r.award_form,
            nominee_name=r.nominee_name,
            nominee_actor_id=((r.payload or {}).get("nominee") or {}).get("actor_id"),
            proposing_organisation=r.ministry,
            proposer_actor_id=None if (r.payload or {}).get("origin") else r.proposer,
        )
        for r in rows
    ]


async def collecting_sessions(engine: AsyncEngine, session: BallotSessionKind, scope: str, limit: int) -> list[str]:
    """The newest `limit` sessions of the body collecting their list, newest first."""
    query = (
        sa.select(ballot_sessions.c.session_id)
        .where(
            ballot_sessions.c.kind == session.value,
            ballot_sessions.c.scope == scope,
            ballot_sessions.c.phase == SessionPhase.COLLECTING.value,
        )
        .order_by(ballot_sessions.c.created_at.desc(), ballot_sessions.c.session_id.desc())
        .limit(limit)
    )
    async with engine.connect() as conn:
        return [str(sid) for sid in (await conn.execute(query)).scalars()]


async def claim_for_session(engine: AsyncEngine, workflow_id: str, session_id: str) -> str:
    """Claim the nomination for the session unless an open session holds it; returns the holder."""
    async with engine.begin() as conn:
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


async def release_claims(
    engine: AsyncEngine, session_id: str, workflow_ids: Sequence[str] | None, keep: Sequence[str] | None = None
) -> int:
    """The session lets go of nominations: those named, or with `workflow_ids` None every one it holds but
    `keep`. Returns how many it held (a repeat releases nothing more)."""
    condition = ballot_list_members.c.session_id == session_id
    if workflow_ids is not None:
        condition &= ballot_list_members.c.workflow_id.in_(workflow_ids)
    elif keep:
        condition &= ballot_list_members.c.workflow_id.not_in(keep)
    async with engine.begin() as conn:
        return max((await conn.execute(sa.delete(ballot_list_members).where(condition))).rowcount, 0)


# ---- the electorate -------------------------------------------------------------------------------------


async def read_electorate(engine: AsyncEngine, session: BallotSessionKind, scope: str) -> list[Voter] | None:
    """Who holds the voting role of the session's kind in scope, but not the role that records the session,
    sorted by id; None when the roster does not know the scope."""
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
    async with engine.connect() as conn:
        known = await conn.scalar(sa.select(sa.func.count()).where(scope_table.c.code == scope))
        rows = (await conn.execute(query)).all()
    if not known:
        return None
    return [Voter(id=r.id, organisation=r.organisation) for r in rows]


# ---- the session's keys at rest -------------------------------------------------------------------------


async def enrolled_counting_keys(engine: AsyncEngine, members: Sequence[str]) -> dict[str, Any]:
    """The enrolled counting key rows (actor_id, key_id, public_pem) of those members who have one, by member."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(counting_keys.c.actor_id, counting_keys.c.key_id, counting_keys.c.public_pem).where(
                    counting_keys.c.actor_id.in_(members)
                )
            )
        ).all()
    return {r.actor_id: r for r in rows}


async def session_secrets(engine: AsyncEngine, session_id: str) -> Any | None:
    """The session's row of ballot_session_secrets (destroyed_at set once it has ended), or None."""
    async with engine.connect() as conn:
        return (
            await conn.execute(
                sa.select(ballot_session_secrets).where(ballot_session_secrets.c.session_id == session_id)
            )
        ).first()


async def store_session_keys(
    engine: AsyncEngine,
    session_id: str,
    keys: SessionKeys,
    *,
    wrapped_sealing_key: bytes,
    issuer_private: bytes,
    class_privates: dict[str, str],
    codec_key_id: str,
    shares: Sequence[dict[str, Any]],
) -> bool:
    """Store the session's keys and the members' encrypted shares, unless an earlier attempt stored its own
    (keyed on the session: the first stored are the session's). Whether this call stored them."""
    async with engine.begin() as conn:
        inserted = await conn.execute(
            dialect_insert(conn, ballot_session_secrets)
            .values(
                session_id=session_id,
                public_keys=keys.model_dump(mode="json"),
                wrapped_sealing_key=wrapped_sealing_key,
                issuer_private=issuer_private,
                class_privates=class_privates,
                codec_key_id=codec_key_id,
                created_at=datetime.now(UTC),
                destroyed_at=None,
            )
            .on_conflict_do_nothing(index_elements=[ballot_session_secrets.c.session_id])
        )
        if inserted.rowcount:
            await conn.execute(dialect_insert(conn, counting_shares).values(list(shares)))
    return bool(inserted.rowcount)


async def replace_round_keys(
    engine: AsyncEngine,
    session_id: str,
    keys: SessionKeys,
    *,
    issuer_private: bytes,
    class_privates: dict[str, str],
    codec_key_id: str,
) -> bool:
    """Store a runoff round's signing keys over an earlier round's only: a concurrent attempt that stored this
    round's keys first wins. Whether this call stored them."""
    async with engine.begin() as conn:
        current = (
            await conn.execute(
                sa.select(ballot_session_secrets.c.public_keys)
                .where(
                    ballot_session_secrets.c.session_id == session_id,
                    ballot_session_secrets.c.destroyed_at.is_(None),
                )
                .with_for_update()
            )
        ).scalar_one_or_none()
        if current is None or SessionKeys.model_validate(current).round >= keys.round:
            return False
        await conn.execute(
            sa.update(ballot_session_secrets)
            .where(ballot_session_secrets.c.session_id == session_id)
            .values(
                public_keys=keys.model_dump(mode="json"),
                issuer_private=issuer_private,
                class_privates=class_privates,
                codec_key_id=codec_key_id,
            )
        )
    return True


async def destroy_secrets(engine: AsyncEngine, session_id: str) -> tuple[int, int]:
    """Delete the session's wrapped sealing key, its signing keys' private halves and the members' encrypted
    shares; only the public keys stay. Returns (secret rows emptied, shares deleted); a repeat empties none."""
    async with engine.begin() as conn:
        emptied = await conn.execute(
            sa.update(ballot_session_secrets)
            .where(ballot_session_secrets.c.session_id == session_id, ballot_session_secrets.c.destroyed_at.is_(None))
            .values(
                wrapped_sealing_key=None,
                issuer_private=None,
                class_privates=None,
                codec_key_id=None,
                destroyed_at=datetime.now(UTC),
            )
        )
        shares = await conn.execute(sa.delete(counting_shares).where(counting_shares.c.session_id == session_id))
    return max(emptied.rowcount, 0), max(shares.rowcount, 0)


# ---- the minutes ----------------------------------------------------------------------------------------


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
            "ballots_cast": minutes.ballots_cast,
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


async def record_minutes(engine: AsyncEngine, minutes: SessionMinutes, keyring: ChainKeyring) -> tuple[bool, bool]:
    """The round's minutes and its one audit entry (counts only), in one transaction. Returns (whether this
    call recorded the round, whether it appended the entry): a retry does neither."""
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        first = await write_minutes(conn, minutes, now)
        audited = await append_audit(conn, minutes_entry(minutes), keyring=keyring, recorded_at=now)
    return first, audited


async def record_tie_decision(engine: AsyncEngine, record: TieDecisionRecord, keyring: ChainKeyring) -> bool:
    """The bloc head's decision: the tied candidates' rows of that round's minutes take their final result,
    and the decision is audited, in one transaction (the same rows, the same audit key on a retry). Whether
    the entry was appended."""
    now = datetime.now(UTC)
    async with engine.begin() as conn:
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
        return await append_audit(conn, session_action_entry(record.action), keyring=keyring, recorded_at=now)


def amendment_values(amendment: MinutesAmendment) -> list[dict[str, Any]]:
    return [
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


async def amend_minutes(engine: AsyncEngine, amendment: MinutesAmendment) -> list[str]:
    """Write or rewrite the amended rows of a round's minutes (the same rows again on a retry); returns each
    row's result."""
    rows = amendment_values(amendment)
    if rows:
        changed = ("members", "present", "votes_for", "votes_against", "abstaining", "result", "reason_vi")
        async with engine.begin() as conn:
            upsert = dialect_insert(conn, ballot_minutes).values(rows)
            await conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=[ballot_minutes.c.session_id, ballot_minutes.c.round, ballot_minutes.c.workflow_id],
                    set_={c: upsert.excluded[c] for c in changed},
                )
            )
    return [r["result"] for r in rows]


async def queue_session_notices(
    engine: AsyncEngine, workflow_id: str, seq: int, drafts: Sequence[NotificationDraft]
) -> int:
    """Queue the notices of a session's step in the outbox; how many rows were added (a retry adds none)."""
    if not drafts:
        return 0
    async with engine.begin() as conn:
        return await write_notifications(conn, workflow_id, seq, drafts, datetime.now(UTC))
