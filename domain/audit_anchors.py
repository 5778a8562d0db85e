"""Anchors of the audit chain's head, kept outside the engine's database.

An anchor says: at `anchored_at`, the chain had `count` entries, the last one with id `last_id` and hash `hash`.
The anchor workflow (workflows/audit_anchor.py) takes one at least every minute and right after each ballot
session's minutes and each decision, and keeps them in Temporal's history — a store the engine's database
administrators do not write. `verify-audit` checks the chain against them: an anchored id that is gone or
beyond the chain's end is truncation; an anchored hash that the entry at that id no longer has is a rewrite.

A new anchor is recorded only when the head moved; while it stays put, the latest anchor's `confirmed_at`
advances instead. The workflow carries the anchors across continue-as-new, thinned (`thin`): every recent one,
and one a day (the day's last) for older days. The latest anchor alone pins every entry up to it; the older ones
date a rewrite that happened between anchors.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

GENESIS = "0" * 64
DEFAULT_INTERVAL_SECONDS = 60
MAX_INTERVAL_SECONDS = 60  # "at least every minute"
KEEP_RECENT = 300
KEEP_DAILY = 366
MAX_REQUESTERS = 5  # workflow ids remembered per anchor (the requests that asked for it)
HASH_PREFIX = 16  # hex digits printed on exports

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
VIETNAM = timezone(timedelta(hours=7))


class AnchorReason(StrEnum):
    START = "START"  # the anchor workflow's (re)start
    TIMER = "TIMER"  # the interval elapsed
    REQUESTED = "REQUESTED"  # a ballot session's minutes or a decision asked for it


def _hex64(value: str) -> str:
    if not _HEX64.fullmatch(value):
        raise ValueError("must be 64 lowercase hex digits")
    return value


Hash64 = Annotated[str, AfterValidator(_hex64)]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class AuditHead(BaseModel):
    """The chain's last committed entry: its id, its hash, how many entries the chain has, and whether the
    last entry is keyed (an HMAC; False for a legacy sha256 entry or an empty chain)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    last_id: int = Field(default=0, ge=0)
    count: int = Field(default=0, ge=0)
    hash: Hash64 = GENESIS
    keyed: bool = False


class Anchor(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    last_id: int = Field(ge=0)
    count: int = Field(ge=0)
    hash: Hash64
    keyed: bool = False
    anchored_at: datetime
    confirmed_at: datetime  # the last time the head was seen unchanged
    reason: AnchorReason
    requested_by: tuple[str, ...] = ()

    @field_validator("anchored_at", "confirmed_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return _utc(value)

    def same_head(self, head: AuditHead) -> bool:
        return (self.last_id, self.count, self.hash) == (head.last_id, head.count, head.hash)


class AnchorRequest(BaseModel):
    """Sent by a workflow right after its audit entry is written: anchor the head now."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    source: str = Field(min_length=1, max_length=200)  # the requesting workflow's id


class AnchorStart(BaseModel):
    """The anchor workflow's input, and what continue-as-new carries forward."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    interval_seconds: int = Field(default=DEFAULT_INTERVAL_SECONDS, ge=1, le=MAX_INTERVAL_SECONDS)
    anchors: list[Anchor] = Field(default_factory=list)


class AnchorLog(BaseModel):
    """What the anchor workflow answers to its query: its interval and the anchors it holds, oldest first."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    interval_seconds: int
    anchors: list[Anchor]

    @property
    def latest(self) -> Anchor | None:
        return self.anchors[-1] if self.anchors else None


def went_back(previous: Anchor, head: AuditHead) -> bool:
    """The head is behind an earlier anchor: entries were deleted (or the chain rewritten shorter)."""
    return head.last_id < previous.last_id or head.count < previous.count


def thin(anchors: Sequence[Anchor], *, recent: int = KEEP_RECENT, daily: int = KEEP_DAILY) -> list[Anchor]:
    """The `recent` newest anchors, and before them the last anchor of each UTC day for the `daily` newest
    days; oldest first."""
    anchors = list(anchors)
    if len(anchors) <= recent:
        return anchors
    older, newest = anchors[:-recent], anchors[-recent:]
    last_of_day: dict[str, Anchor] = {}
    for anchor in older:
        last_of_day[anchor.anchored_at.date().isoformat()] = anchor  # later ones of the day replace earlier
    days = sorted(last_of_day)[-daily:] if daily > 0 else []
    return [last_of_day[day] for day in days] + newest


def record_head(
    anchors: Sequence[Anchor],
    head: AuditHead,
    at: datetime,
    reason: AnchorReason,
    requested_by: Sequence[str] = (),
    *,
    recent: int = KEEP_RECENT,
    daily: int = KEEP_DAILY,
) -> list[Anchor]:
    """The anchors after reading `head` at `at`: the latest one confirmed if the head has not moved (and the
    workflows that asked for this reading added to those it names), else a new anchor appended; thinned."""
    if anchors and anchors[-1].same_head(head):
        latest = anchors[-1]
        requesters = tuple(dict.fromkeys([*latest.requested_by, *requested_by]))[:MAX_REQUESTERS]
        return [*anchors[:-1], latest.model_copy(update={"confirmed_at": _utc(at), "requested_by": requesters})]
    requesters = tuple(dict.fromkeys(requested_by))[:MAX_REQUESTERS]
    anchor = Anchor(
        last_id=head.last_id,
        count=head.count,
        hash=head.hash,
        keyed=head.keyed,
        anchored_at=at,
        confirmed_at=at,
        reason=reason,
        requested_by=requesters,
    )
    return thin([*anchors, anchor], recent=recent, daily=daily)


def anchor_stamp(anchor: Anchor | None) -> str:
    """The line printed on the minutes and decision exports (Vietnamese, for staff): the count, the head's
    hash prefix and when it was anchored, in Vietnam's time."""
    if anchor is None:
        return "Neo nhật ký kiểm toán: chưa có (chưa đọc được mốc neo từ Temporal)"
    when = anchor.anchored_at.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M:%S")
    return (
        f"Neo nhật ký kiểm toán: {anchor.count} mục (đến mục số {anchor.last_id}), "
        f"mã băm {anchor.hash[:HASH_PREFIX]}…, neo lúc {when} (UTC+7)"
    )
