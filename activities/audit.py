"""The tamper-evident audit log: one global, append-only hash chain in PostgreSQL (or SQLite).

Each entry says who (actor), what (action, from and to stage), when (recorded_at, and occurred_at for a
transition), from where (channel: CLI, API or SYSTEM), on which nomination (workflow_id) and with what
outcome. Its `hash` is sha256 over the previous entry's hash and the canonical JSON of its content, so
changing an entry breaks its own hash and deleting or inserting one breaks the next entry's `prev_hash`.
The chain is global rather than per nomination: deleting every entry of one nomination is detected too.

What the chain cannot show on its own: the newest entries being deleted (the chain just gets shorter), or
the whole tail being rewritten by someone who recomputes every hash. Keep the head hash that
`verify_audit` reports somewhere else (a ticket, a signed e-mail) to catch those.

Appends take a PostgreSQL transaction-scoped advisory lock, so concurrent writers line up: each reads the
last hash only once the previous writer has committed (this relies on READ COMMITTED, PostgreSQL's
default). On SQLite the database's single writer lock does the same once the transaction has written."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from activities.db import dialect_insert
from activities.schema import audit_log
from domain.ballot_messages import SessionAction, SessionMinutes
from domain.decisions import DecisionSummary, decision_workflow_id
from domain.records import TransitionRecord
from domain.voting import VoteResult

GENESIS = "0" * 64
# pg_advisory_xact_lock key of the audit chain ("tdktaudt"); any constant works if nothing else uses it.
AUDIT_LOCK_KEY = 0x7464_6B74_6175_6474
# Actions of the entries written outside a nomination's transitions.
BALLOT_MINUTES = "BALLOT_MINUTES"
DECISION_ISSUED = "DECISION_ISSUED"
# A person's action on a ballot session is audited under its SessionActionKind (seq: the session's step).
# Transition details not copied into the audit log: an entry can never be erased, so an objector's
# contact stays in stage_events only (where it can be), not in the chain.
PRIVATE_DETAILS = frozenset({"contact"})

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class Channel(StrEnum):
    CLI = "CLI"
    API = "API"
    SYSTEM = "SYSTEM"


class AuditEntry(BaseModel):
    """The content of one audit entry, before it is chained (recorded_at is added when it is appended)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    workflow_id: str = Field(min_length=1, max_length=200)
    seq: int
    action: str = Field(min_length=1, max_length=48)
    actor: str | None = Field(default=None, max_length=64)
    channel: Channel
    from_stage: str | None = Field(default=None, max_length=32)
    to_stage: str | None = Field(default=None, max_length=32)
    outcome: str
    occurred_at: datetime | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else utc(value)

    @field_validator("details")
    @classmethod
    def _plain_json(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_plain(value, "details")
        return value


class AuditBreak(BaseModel):
    """The first broken link of the chain."""

    id: int
    workflow_id: str
    check: Literal["hash", "prev_hash"]
    detail: str

    def summary(self) -> str:
        if self.check == "hash":
            return "hash mismatch — the entry was changed after it was written"
        return "prev_hash mismatch — an entry before it was deleted or inserted"


class AuditReport(BaseModel):
    checked: int  # entries verified intact: all of them, or those before the break
    head_hash: str  # the hash of the last intact entry (GENESIS for an empty log)
    broken: AuditBreak | None = None

    @property
    def intact(self) -> bool:
        return self.broken is None


# ---- the canonical form and the hash ------------------------------------------------------------------


def utc(moment: datetime) -> datetime:
    # SQLite keeps no offset: a naive value was stored in UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def instant(moment: datetime) -> str:
    return utc(moment).isoformat(timespec="microseconds")


def check_plain(value: Any, path: str = "entry") -> None:
    """Raise unless `value` is JSON of str keys, str, int, bool, None, lists and objects (no floats: their
    text form is not the same everywhere, so a float would make a hash unverifiable elsewhere)."""
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        raise ValueError(f"{path}: floats are not allowed in an audit entry ({value!r})")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: keys must be strings, not {key!r}")
            check_plain(item, f"{path}.{key}")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_plain(item, f"{path}[{index}]")
        return
    raise ValueError(f"{path}: {type(value).__name__} is not plain JSON")


def canonical(entry: dict[str, Any]) -> bytes:
    """The bytes an entry's hash covers: JSON with sorted keys, no spaces, UTF-8 (not \\u escapes)."""
    check_plain(entry)
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def chain_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    """sha256 hex of the previous entry's hash (64 hex digits, as ASCII) followed by the canonical entry."""
    if not _HEX64.match(prev_hash):
        raise ValueError(f"prev_hash must be 64 lowercase hex digits, not {prev_hash!r}")
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(entry)).hexdigest()


# Columns that repeat a field of the hashed content (the `entry` JSON); verification checks they agree.
MIRRORED = ("workflow_id", "seq", "actor", "channel", "action", "from_stage", "to_stage", "outcome")


def content_of(entry: AuditEntry, recorded_at: datetime) -> dict[str, Any]:
    return entry.model_dump(mode="json") | {"recorded_at": instant(recorded_at)}


# ---- appending ------------------------------------------------------------------------------------------


async def append_audit(conn: AsyncConnection, entry: AuditEntry, *, recorded_at: datetime | None = None) -> bool:
    """Append `entry` to the chain in the caller's transaction (call it inside the transaction that writes
    what the entry records). Returns False, appending nothing, when (workflow_id, seq, action) is already
    in the log: a retried activity never appends twice."""
    if conn.dialect.name == "postgresql":
        # Held until the transaction ends: the next writer reads the last hash after this one commits.
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(AUDIT_LOCK_KEY)))
    key = (
        (audit_log.c.workflow_id == entry.workflow_id)
        & (audit_log.c.seq == entry.seq)
        & (audit_log.c.action == entry.action)
    )
    if await conn.scalar(sa.select(audit_log.c.id).where(key).limit(1)) is not None:
        return False
    prev_hash = await conn.scalar(sa.select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1))
    prev_hash = prev_hash or GENESIS
    when = utc(recorded_at or datetime.now(UTC))
    content = content_of(entry, when)
    result = await conn.execute(
        dialect_insert(conn, audit_log)
        .values(
            recorded_at=when,
            **{column: content[column] for column in MIRRORED},
            entry=content,
            prev_hash=prev_hash,
            hash=chain_hash(prev_hash, content),
        )
        .on_conflict_do_nothing(index_elements=[audit_log.c.workflow_id, audit_log.c.seq, audit_log.c.action])
    )
    return bool(result.rowcount and result.rowcount > 0)


# ---- verifying ------------------------------------------------------------------------------------------


def row_problem(row: sa.RowMapping) -> str | None:
    """Why a row's own content does not match its hash (None when it does)."""
    content = row["entry"]
    if not isinstance(content, dict):
        return "its entry is not a JSON object"
    for column in MIRRORED:
        if row[column] != content.get(column):
            return f"column {column} is {row[column]!r}, the hashed entry says {content.get(column)!r}"
    if instant(row["recorded_at"]) != content.get("recorded_at"):
        return (
            f"column recorded_at is {instant(row['recorded_at'])}, the hashed entry says {content.get('recorded_at')}"
        )
    try:
        expected = chain_hash(row["prev_hash"], content)
    except ValueError as exc:
        return str(exc)
    if expected != row["hash"]:
        return f"stored hash {row['hash']} but the entry hashes to {expected}"
    return None


async def verify_audit(engine: AsyncEngine, *, batch: int = 1000) -> AuditReport:
    """Walk the chain in id order and report how many entries are intact and the first broken link."""
    checked, expected_prev, last_id = 0, GENESIS, None
    async with engine.connect() as conn:
        while True:
            query = sa.select(audit_log).order_by(audit_log.c.id).limit(batch)
            if last_id is not None:
                query = query.where(audit_log.c.id > last_id)
            rows = (await conn.execute(query)).mappings().all()
            if not rows:
                return AuditReport(checked=checked, head_hash=expected_prev)
            for row in rows:
                if row["prev_hash"] != expected_prev:
                    detail = f"prev_hash {row['prev_hash']} but the entry before it hashes to {expected_prev}"
                    broken = AuditBreak(id=row["id"], workflow_id=row["workflow_id"], check="prev_hash", detail=detail)
                    return AuditReport(checked=checked, head_hash=expected_prev, broken=broken)
                problem = row_problem(row)
                if problem is not None:
                    broken = AuditBreak(id=row["id"], workflow_id=row["workflow_id"], check="hash", detail=problem)
                    return AuditReport(checked=checked, head_hash=expected_prev, broken=broken)
                checked += 1
                expected_prev = row["hash"]
            last_id = rows[-1]["id"]


# ---- the entries of each source -------------------------------------------------------------------------


def channel_of(details: Mapping[str, Any], actor: str | None) -> Channel:
    """The details' "channel" when it names one; else SYSTEM for an event no one acted on, CLI otherwise."""
    named = details.get("channel")
    if isinstance(named, str) and named.upper() in Channel.__members__:
        return Channel(named.upper())
    return Channel.SYSTEM if actor is None else Channel.CLI


def plain(value: Any) -> Any:
    """JSON content with any float turned into its text (the canonical form refuses floats)."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def transition_outcome(record: TransitionRecord) -> str:
    """What the transition came to, independent of how any notification words it."""
    event = record.event
    parts: list[str] = []
    if event.details.get("result"):
        parts.append(f"result {event.details['result']}")
    if event.details.get("decision_no"):
        parts.append(f"decision {event.details['decision_no']}")
    if event.reason:
        parts.append(event.reason)
    if not parts:
        start = event.from_stage.value if event.from_stage else "—"
        parts.append(f"{start} → {event.to_stage.value}")
    return "; ".join(parts)


def transition_entry(record: TransitionRecord) -> AuditEntry:
    event = record.event.model_dump(mode="json")
    details = {k: v for k, v in event["details"].items() if k not in PRIVATE_DETAILS}
    return AuditEntry(
        workflow_id=record.nomination.workflow_id,
        seq=record.event.seq,
        action=record.event.action,
        actor=record.event.actor,
        channel=channel_of(record.event.details, record.event.actor),
        from_stage=event["from_stage"],
        to_stage=event["to_stage"],
        outcome=transition_outcome(record),
        occurred_at=record.event.occurred_at,
        details=plain({"reason": record.event.reason, "tally": event["tally"], "details": details}),
    )


def minutes_entry(minutes: SessionMinutes) -> AuditEntry:
    """One entry per counted round: the counts of each candidate, never a choice."""
    results = {r: sum(1 for e in minutes.entries if e.result == r) for r in VoteResult}
    outcome = (
        f"{len(minutes.participation)} of {minutes.electorate_size} voted, {minutes.spoiled} spoiled; "
        f"{len(minutes.entries)} nominations: " + ", ".join(f"{n} {r.value}" for r, n in results.items())
    )
    candidates = [
        {
            "workflow_id": e.candidate.workflow_id,
            "members": e.tally.members,
            "present": e.tally.present,
            "votes_for": e.tally.votes_for,
            "votes_against": e.tally.votes_against,
            "written": e.tally.written,
            "abstaining": e.tally.abstaining,
            "result": e.result.value,
        }
        for e in minutes.entries
    ]
    return AuditEntry(
        workflow_id=minutes.session_id,
        seq=minutes.round,
        action=BALLOT_MINUTES,
        actor=None,
        channel=Channel.SYSTEM,
        outcome=outcome,
        occurred_at=minutes.closed_at,
        details={
            "kind": minutes.kind.value,
            "scope": minutes.scope,
            "meeting_ref": minutes.meeting_ref,
            "round": minutes.round,
            "policy_version": minutes.policy_version,
            "electorate_size": minutes.electorate_size,
            "voted": len(minutes.participation),
            "spoiled": minutes.spoiled,
            "candidates": candidates,
        },
    )


def decision_entry(summary: DecisionSummary) -> AuditEntry:
    """One entry per decision (a decision number is used once, so seq is always 1)."""
    ref = summary.decision
    accepted, refused = summary.accepted, summary.refused
    return AuditEntry(
        workflow_id=decision_workflow_id(ref.decision_no),
        seq=1,
        action=DECISION_ISSUED,
        actor=ref.actor,
        channel=Channel(ref.channel),
        outcome=f"{len(accepted)} accepted, {len(refused)} refused",
        details={
            "decision_no": ref.decision_no,
            "decision_date": ref.decision_date.isoformat(),
            "authority": ref.authority.value,
            "accepted": [i.workflow_id for i in accepted],
            "refused": [i.workflow_id for i in refused],
        },
    )


def session_action_entry(action: SessionAction) -> AuditEntry:
    """One entry per person's action on a ballot session: who, what, when, through which interface. The
    details name nominations, deadlines and reasons, never a choice."""
    return AuditEntry(
        workflow_id=action.session_id,
        seq=action.step,
        action=action.action.value,
        actor=action.actor,
        channel=Channel(action.channel),
        outcome=action.outcome,
        occurred_at=action.occurred_at,
        details=dict(action.details),
    )
