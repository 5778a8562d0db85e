"""The tamper-evident audit log: one global, append-only, keyed hash chain in PostgreSQL (or SQLite).

Each entry says who (actor), what (action, from and to stage), when (recorded_at, and occurred_at for a
transition), from where (channel: CLI, API or SYSTEM), on which nomination (workflow_id) and with what
outcome. Its `hash` is HMAC-SHA256, under the key its `key_id` names, over the previous entry's hash and the
canonical JSON of its content. The key lives in the worker's configuration (security/audit_keys.py; callers
pass its keyring in), never in the database: changing an entry breaks its own hash, deleting or inserting one
breaks the next entry's `prev_hash`, and whoever can write the database but does not hold the key cannot
recompute the chain.
Entries from before migration 0008 have no key_id: legacy entries hashed with plain sha256, accepted only as
the chain's prefix (the first keyed entry's HMAC covers the last of them). The chain is global rather than
per nomination: deleting every entry of one nomination is detected too.

What the chain cannot show on its own: its newest entries being deleted (the chain just gets shorter), or the
whole tail rewritten by someone who holds the key. The head is therefore anchored outside the database
(workflows/audit_anchor.py: its id, count and hash in Temporal's history at least every minute and after each
session's minutes and each decision); `verify_audit` with the anchors reports truncation and rewrites of
anything written before the latest anchor.

Appends take a PostgreSQL transaction-scoped advisory lock, so concurrent writers line up: each reads the
last hash only once the previous writer has committed (this relies on READ COMMITTED, PostgreSQL's
default), and the committed entries are always a prefix of the chain. On SQLite the database's single writer
lock does the same once the transaction has written."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.audit_anchors import GENESIS, Anchor, AuditHead
from domain.ballot_messages import MinutesResult, SessionAction, SessionMinutes
from domain.decisions import DecisionSummary, decision_workflow_id
from domain.records import TransitionRecord
from store.db import as_utc, dialect_insert
from store.schema import audit_log

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


class ChainKeyring(Protocol):
    """The keys the chain is hashed under: the current one keys new entries, every one listed verifies."""

    @property
    def current_id(self) -> str: ...

    @property
    def keys(self) -> Collection[str]: ...  # the ids of the keys that verify

    @property
    def configured_in(self) -> str: ...  # where the keys are listed, for a message that asks for a missing one

    def mac(self, key_id: str, message: bytes) -> str:
        """HMAC-SHA256 hex of `message` under the key `key_id` (KeyError for an id the keyring does not hold)."""
        ...


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
        return None if value is None else as_utc(value)

    @field_validator("details")
    @classmethod
    def _plain_json(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_plain(value, "details")
        return value


BreakCheck = Literal["hash", "prev_hash", "recomputed", "unkeyed", "unknown_key", "anchor", "truncated"]


class AuditBreak(BaseModel):
    """The first sign of tampering: the entry where it shows (for truncation, the first missing id)."""

    id: int
    workflow_id: str | None
    check: BreakCheck
    detail: str

    @property
    def kind(self) -> Literal["changed", "relinked", "recomputed", "truncated"]:
        """What happened, as far as the evidence goes: an entry changed in place, an entry deleted or
        inserted, the chain recomputed (without the key, or with it against an anchor), or its end cut off."""
        if self.check == "hash":
            return "changed"
        if self.check == "prev_hash":
            return "relinked"
        if self.check == "truncated":
            return "truncated"
        return "recomputed"

    def summary(self) -> str:
        return {
            "hash": "hash mismatch — the entry was changed after it was written",
            "prev_hash": "prev_hash mismatch — an entry before it was deleted or inserted",
            "recomputed": "recomputed without the key — its hash is plain sha256, not the HMAC under its key",
            "unkeyed": "recomputed without the key — an unkeyed entry where only keyed entries can be",
            "unknown_key": "written under a key id the keyring does not hold — it cannot be vouched for",
            "anchor": "recomputed — the chain no longer agrees with a head anchored outside the database",
            "truncated": "truncated — entries from this id on are missing; an anchor recorded more",
        }[self.check]


class AuditReport(BaseModel):
    checked: int  # entries verified intact: all of them, or those before the break
    head_hash: str  # the hash of the last intact entry (GENESIS for an empty log)
    head_id: int = 0  # its id (0 for an empty log)
    legacy: int = 0  # intact unkeyed entries from before keyed hashing (key_id NULL)
    anchors_checked: int | None = None  # anchors the chain agreed with; None: not checked against anchors
    latest_anchor: Anchor | None = None
    broken: AuditBreak | None = None

    @property
    def intact(self) -> bool:
        return self.broken is None


# ---- the canonical form and the hash ------------------------------------------------------------------


def instant(moment: datetime) -> str:
    return as_utc(moment).isoformat(timespec="microseconds")


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


def _check_prev(prev_hash: str) -> bytes:
    if not _HEX64.match(prev_hash):
        raise ValueError(f"prev_hash must be 64 lowercase hex digits, not {prev_hash!r}")
    return prev_hash.encode("ascii")


def chain_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    """sha256 hex of the previous entry's hash (64 hex digits, as ASCII) followed by the canonical entry: the
    hash of a legacy entry (from before keyed hashing)."""
    return hashlib.sha256(_check_prev(prev_hash) + canonical(entry)).hexdigest()


def keyed_hash(keyring: ChainKeyring, key_id: str, prev_hash: str, entry: dict[str, Any]) -> str:
    """HMAC-SHA256 hex, under the key `key_id`, of the same bytes chain_hash covers (KeyError for a key id the
    keyring does not hold)."""
    return keyring.mac(key_id, _check_prev(prev_hash) + canonical(entry))


# Columns that repeat a field of the hashed content (the `entry` JSON); verification checks they agree.
MIRRORED = ("workflow_id", "seq", "actor", "channel", "action", "from_stage", "to_stage", "outcome")


def content_of(entry: AuditEntry, recorded_at: datetime) -> dict[str, Any]:
    return entry.model_dump(mode="json") | {"recorded_at": instant(recorded_at)}


# ---- appending ------------------------------------------------------------------------------------------


class ChainGap(RuntimeError):
    """Raised inside the transaction (so it rolls back) when a group's entries could not all be stored in the
    order they were chained: an entry already in the log, followed by one that was stored, would leave the
    stored one linked to a hash the log does not hold. The caller writes such a group again one at a time."""


async def append_audit(
    conn: AsyncConnection,
    entry: AuditEntry,
    *,
    keyring: ChainKeyring,
    recorded_at: datetime | None = None,
) -> bool:
    """Append `entry` to the chain in the caller's transaction (call it inside the transaction that writes
    what the entry records), keyed under the keyring's current key. Returns False, appending nothing, when
    (workflow_id, seq, action) is already in the log: a retried activity never appends twice."""
    [appended] = await append_audits(conn, [entry], keyring=keyring, recorded_at=recorded_at)
    return appended


async def append_audits(
    conn: AsyncConnection,
    entries: Sequence[AuditEntry],
    *,
    keyring: ChainKeyring,
    recorded_at: datetime | None = None,
) -> list[bool]:
    """Append `entries`, in their order, in the caller's transaction: the chain's lock taken once, its head
    read once, the entries chained to it and to each other in memory and stored by one INSERT. Returns, per
    entry, whether it was appended (False: its (workflow_id, seq, action) was already in the log).

    Raises ChainGap (the caller's transaction must then roll back) when an entry already in the log is
    followed by one that is not: the stored entry would name the skipped one's unstored hash as its
    prev_hash. Entries already in the log at the end of the list are simply not appended."""
    if not entries:
        return []
    if len({(e.workflow_id, e.seq, e.action) for e in entries}) < len(entries):
        raise ValueError("an entry twice in one append: the second would be chained but not stored")
    if conn.dialect.name == "postgresql":
        # Held until the transaction ends: the next writer reads the last hash after this one commits.
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(AUDIT_LOCK_KEY)))
    # No look-up first: an entry already in the log trips the unique (workflow_id, seq, action) and the
    # INSERT below adds nothing (one round trip less per entry; the unused hash is never stored).
    prev_hash = await conn.scalar(sa.select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1))
    prev_hash = prev_hash or GENESIS
    when = as_utc(recorded_at or datetime.now(UTC))
    rows = []
    for entry in entries:
        content = content_of(entry, when)
        entry_hash = keyed_hash(keyring, keyring.current_id, prev_hash, content)
        rows.append(
            {
                "recorded_at": when,
                **{column: content[column] for column in MIRRORED},
                "entry": content,
                "prev_hash": prev_hash,
                "hash": entry_hash,
                "key_id": keyring.current_id,
            }
        )
        prev_hash = entry_hash
    # One statement for the whole list (SQLAlchemy's insertmanyvalues: INSERT ... VALUES (...), (...)); the
    # ids come from the sequence in the list's order, under the lock, so the chain's order is the id order.
    stored = {
        (row.workflow_id, row.seq, row.action): row.id
        for row in await conn.execute(_append_statement(conn), rows if len(rows) > 1 else rows[0])
    }
    ids = [stored.get((row["workflow_id"], row["seq"], row["action"])) for row in rows]
    appended = [found is not None for found in ids]
    kept = [found for found in ids if found is not None]
    if appended != sorted(appended, reverse=True) or kept != sorted(kept):
        raise ChainGap(
            f"{appended.count(False)} of {len(rows)} audit entries were already in the log, or stored out of "
            "their chained order: the group is to be written one entry at a time"
        )
    return appended


_APPEND: dict[str, Any] = {}


def _append_statement(conn: AsyncConnection) -> Any:
    """The entries' INSERT for the connection's dialect, built once (their values are the execution's
    parameters); it returns the rows it stored, so the caller learns which were already in the log."""
    name = conn.dialect.name
    if name not in _APPEND:
        _APPEND[name] = (
            dialect_insert(conn, audit_log)
            .on_conflict_do_nothing(index_elements=[audit_log.c.workflow_id, audit_log.c.seq, audit_log.c.action])
            .returning(audit_log.c.id, audit_log.c.workflow_id, audit_log.c.seq, audit_log.c.action)
        )
    return _APPEND[name]


# ---- the head, for the anchors ----------------------------------------------------------------------------


async def read_head(conn: AsyncConnection) -> AuditHead:
    """The last committed entry and the number of entries, read in one statement (one snapshot)."""
    count = sa.select(sa.func.count()).select_from(audit_log).scalar_subquery()
    row = (
        (
            await conn.execute(
                sa.select(audit_log.c.id, audit_log.c.hash, audit_log.c.key_id, count.label("entries"))
                .order_by(audit_log.c.id.desc())
                .limit(1)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return AuditHead()
    return AuditHead(last_id=row["id"], count=row["entries"], hash=row["hash"], keyed=row["key_id"] is not None)


# ---- verifying ------------------------------------------------------------------------------------------


def content_problem(row: Mapping[str, Any] | sa.RowMapping) -> str | None:
    """Why a row's columns do not match the content its hash covers (None when they do)."""
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
    return None


def _shown(anchor: Anchor) -> str:
    return f"the anchor of {anchor.anchored_at.isoformat(timespec='seconds')}"


class ChainVerifier:
    """Checks rows fed in id order against their links, their keys and the anchors; no I/O.

    Per row: the link to the previous entry, the columns against the hashed content, the hash (HMAC under the
    row's key; plain sha256 for a legacy row, allowed only before any keyed entry and before any anchor that
    saw a keyed head), then every anchor at or below its id. After the last row, `finish` reports anchors
    beyond the chain's end (truncation). The first problem found stops the walk."""

    def __init__(self, keyring: ChainKeyring, anchors: Sequence[Anchor] | None = None) -> None:
        self._keyring = keyring
        self._anchored = anchors is not None
        self._anchors = sorted(anchors or [], key=lambda a: (a.last_id, a.anchored_at))
        self._latest = max(anchors or [], key=lambda a: a.anchored_at, default=None)
        self._next = 0  # index of the first anchor not yet reached
        # A legacy entry at or after an id an anchor saw keyed was written without the key.
        self._keyed_from = min((a.last_id for a in self._anchors if a.keyed), default=None)
        self.checked = 0
        self.legacy = 0
        self.head_hash = GENESIS
        self.head_id = 0
        self._seen_keyed = False
        self._agreed = 0
        self._last_agreed: Anchor | None = None
        self.broken: AuditBreak | None = None

    def _break(self, row_id: int, workflow_id: str | None, check: BreakCheck, detail: str) -> AuditBreak:
        self.broken = AuditBreak(id=row_id, workflow_id=workflow_id, check=check, detail=detail)
        return self.broken

    def _since_agreed(self) -> str:
        if self._last_agreed is None:
            return "no earlier anchor agrees, so any entry up to it may have been rewritten"
        return f"entries after id {self._last_agreed.last_id} (the last anchored entry that agrees) were rewritten"

    def feed(self, row: Mapping[str, Any] | sa.RowMapping) -> AuditBreak | None:
        """Check one row; the break it shows, if any (after a break, feeding more is an error)."""
        assert self.broken is None, "the walk stops at the first break"
        row_id, workflow_id = int(row["id"]), row["workflow_id"]
        if row["prev_hash"] != self.head_hash:
            detail = f"prev_hash {row['prev_hash']} but the entry before it hashes to {self.head_hash}"
            return self._break(row_id, workflow_id, "prev_hash", detail)
        problem = content_problem(row)
        if problem is not None:
            return self._break(row_id, workflow_id, "hash", problem)
        if not isinstance(row["hash"], str) or not _HEX64.match(row["hash"]):
            return self._break(row_id, workflow_id, "hash", f"stored hash {row['hash']!r} is not 64 hex digits")
        content = row["entry"]
        try:
            plain_hash = chain_hash(row["prev_hash"], content)
        except ValueError as exc:
            return self._break(row_id, workflow_id, "hash", str(exc))
        key_id = row.get("key_id")
        if key_id is None:
            if self._seen_keyed:
                detail = "key_id is empty but entries before it are keyed: it was written without the key"
                return self._break(row_id, workflow_id, "unkeyed", detail)
            if self._keyed_from is not None and row_id >= self._keyed_from:
                detail = f"key_id is empty but an anchor saw a keyed entry at id {self._keyed_from}"
                return self._break(row_id, workflow_id, "unkeyed", detail)
            if plain_hash != row["hash"]:
                return self._break(
                    row_id, workflow_id, "hash", f"stored hash {row['hash']} but the entry hashes to {plain_hash}"
                )
            self.legacy += 1
        else:
            if key_id not in self._keyring.keys:
                detail = (
                    f"key id {key_id!r} is not among {sorted(self._keyring.keys)}; if it is a real old key, list it in "
                    f"{self._keyring.configured_in}"
                )
                return self._break(row_id, workflow_id, "unknown_key", detail)
            expected = keyed_hash(self._keyring, key_id, row["prev_hash"], content)
            if not hmac.compare_digest(expected, row["hash"]):
                if hmac.compare_digest(plain_hash, row["hash"]):
                    detail = (
                        f"stored hash {row['hash']} is the entry's plain sha256; under key {key_id!r} it is {expected}"
                    )
                    return self._break(row_id, workflow_id, "recomputed", detail)
                detail = f"stored hash {row['hash']} but under key {key_id!r} the entry hashes to {expected}"
                return self._break(row_id, workflow_id, "hash", detail)
            self._seen_keyed = True
        self.checked += 1
        self.head_hash, self.head_id = row["hash"], row_id
        return self._check_anchors_up_to(row_id, workflow_id)

    def _check_anchors_up_to(self, row_id: int, workflow_id: str) -> AuditBreak | None:
        while self._next < len(self._anchors) and self._anchors[self._next].last_id <= row_id:
            anchor = self._anchors[self._next]
            self._next += 1
            if anchor.last_id == 0:  # the empty chain: nothing to compare
                self._agreed += 1
                continue
            if anchor.last_id < row_id:
                detail = (
                    f"{_shown(anchor)} recorded entry {anchor.last_id} (entry number {anchor.count}), which no longer "
                    f"exists though later ones do: it was deleted and the chain re-linked; {self._since_agreed()}"
                )
                return self._break(anchor.last_id, None, "anchor", detail)
            if anchor.hash != self.head_hash or anchor.count != self.checked:
                detail = (
                    f"{_shown(anchor)} recorded entry number {anchor.count} with hash {anchor.hash}; the chain now has "
                    f"entry number {self.checked} here with hash {self.head_hash}: {self._since_agreed()}"
                )
                return self._break(row_id, workflow_id, "anchor", detail)
            self._agreed += 1
            self._last_agreed = anchor
        return None

    def finish(self) -> AuditReport:
        """The report once every row has been fed (or the walk stopped at a break)."""
        while self._next < len(self._anchors) and self._anchors[self._next].last_id == 0:
            self._next += 1  # the empty chain anchored: nothing to compare
            self._agreed += 1
        if self.broken is None and self._next < len(self._anchors):
            beyond = max(self._anchors[self._next :], key=lambda a: a.last_id)
            missing = max(beyond.count - self.checked, 1)  # the anchored entry itself, at least
            detail = (
                f"the chain ends at id {self.head_id} with {self.checked} entries, but {_shown(beyond)} recorded "
                f"{beyond.count} entries up to id {beyond.last_id}: at least {missing} entries "
                f"from id {self.head_id + 1} on are missing"
            )
            self._break(self.head_id + 1, None, "truncated", detail)
        return AuditReport(
            checked=self.checked,
            head_hash=self.head_hash,
            head_id=self.head_id,
            legacy=self.legacy,
            anchors_checked=self._agreed if self._anchored else None,
            latest_anchor=self._latest,
            broken=self.broken,
        )


async def verify_audit(
    engine: AsyncEngine,
    *,
    keyring: ChainKeyring,
    batch: int = 1000,
    anchors: Sequence[Anchor] | None = None,
) -> AuditReport:
    """Walk the chain in id order: the links, each entry's HMAC under its key and, given `anchors`, the
    anchored heads. Reports how many entries are intact and the first break."""
    verifier = ChainVerifier(keyring, anchors)
    last_id = None
    async with engine.connect() as conn:
        while True:
            query = sa.select(audit_log).order_by(audit_log.c.id).limit(batch)
            if last_id is not None:
                query = query.where(audit_log.c.id > last_id)
            rows = (await conn.execute(query)).mappings().all()
            if not rows:
                return verifier.finish()
            for row in rows:
                if verifier.feed(row) is not None:
                    return verifier.finish()
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
    results = {r: sum(1 for e in minutes.entries if e.result == r) for r in MinutesResult}
    if not results[MinutesResult.WITHDRAWN_FROM_LIST]:  # said only when a candidate was struck from the list
        del results[MinutesResult.WITHDRAWN_FROM_LIST]
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
