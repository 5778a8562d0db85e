"""One-time sign-in links for the inbox (table `sign_in_links`).

A link carries a random secret (32 bytes, URL-safe); only its SHA-256 is stored, with the actor it signs in,
when it expires (15 minutes after it was made) and when it was used. Issuing writes the link's row and its
e-mail to the outbox (`notifications`, sent by the dispatcher to the roster's address) in one transaction.
Redeeming marks the row used in the same statement that finds it, so a link signs in once, however many
requests race for it.

Whoever asks learns nothing about the roster: `request_link` answers the same whether the id is unknown, has
no address, is rate-limited or was sent a link (the outcome is returned for logs and tests, never shown).
At most `MAX_LINKS_PER_WINDOW` links are made per actor per `RATE_WINDOW`. Each request also deletes the links
that expired more than `KEEP_EXPIRED` ago (kept that long for the rate limit and for inquiries).
"""

from __future__ import annotations

import enum
import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.calendar import VIETNAM_TZ
from domain.notices import NotificationDraft
from store.db import as_utc
from store.outbox import write_notifications
from store.schema import actors, sign_in_links

LINK_TTL = timedelta(minutes=15)
RATE_WINDOW = timedelta(minutes=15)
MAX_LINKS_PER_WINDOW = 3
SECRET_BYTES = 32
# The outbox row of a link: its own key (the notifications table is keyed on workflow id, step and party).
OUTBOX_PREFIX = "sign-in-link-"
MAX_ASKED_LENGTH = 254  # an e-mail address at most
KEEP_EXPIRED = timedelta(days=1)


class LinkOutcome(enum.Enum):
    """What became of a request for a link: for logs and tests only, never for the person asking."""

    SENT = "sent"
    UNKNOWN = "unknown"  # no actor with that id or address
    NO_ADDRESS = "no-address"  # the roster has no e-mail for them
    RATE_LIMITED = "rate-limited"


@dataclass(frozen=True)
class LinkRequest:
    outcome: LinkOutcome
    actor_id: str | None = None


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def link_email(url: str, expires_at: datetime) -> tuple[str, str]:
    """The e-mail's subject and body (Vietnamese; the expiry in Vietnam's time)."""
    until = as_utc(expires_at).astimezone(VIETNAM_TZ).strftime("%H:%M ngày %d/%m/%Y")
    subject = "Đường dẫn đăng nhập Hộp việc thi đua – khen thưởng"
    body = (
        "Anh/chị (hoặc ai đó nhập mã cán bộ của anh/chị) vừa đề nghị đăng nhập Hộp việc thi đua – khen thưởng.\n\n"
        f"Mở đường dẫn sau để đăng nhập (dùng được một lần, hết hạn lúc {until}, giờ Việt Nam):\n{url}\n\n"
        "Nếu anh/chị không đề nghị, hãy bỏ qua thư này: không ai đăng nhập được nếu không mở đường dẫn."
    )
    return subject, body


async def request_link(
    engine: AsyncEngine,
    asked: str,
    now: datetime,
    link_url: str,
    *,
    ttl: timedelta = LINK_TTL,
    max_per_window: int = MAX_LINKS_PER_WINDOW,
) -> LinkRequest:
    """A one-time link for the actor named by `asked` (their id, or their roster e-mail), queued to their
    address. `link_url` is the page the link opens; the secret is appended as its `t` parameter."""
    asked = unicodedata.normalize("NFC", asked.strip())[:MAX_ASKED_LENGTH]
    if not asked:
        return LinkRequest(LinkOutcome.UNKNOWN)
    now = as_utc(now)
    async with engine.begin() as conn:
        await conn.execute(sign_in_links.delete().where(sign_in_links.c.expires_at < now - KEEP_EXPIRED))
        match = sa.or_(actors.c.id == asked, sa.func.lower(actors.c.email) == asked.lower())
        # The actor's row locked (PostgreSQL): two requests at once are counted one after the other.
        query = sa.select(actors.c.id, actors.c.email).where(match).order_by(actors.c.id).limit(1).with_for_update()
        row = (await conn.execute(query)).first()
        if row is None:
            return LinkRequest(LinkOutcome.UNKNOWN)
        if not row.email:
            return LinkRequest(LinkOutcome.NO_ADDRESS, row.id)
        recent = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(sign_in_links)
            .where(sign_in_links.c.actor_id == row.id, sign_in_links.c.created_at > now - RATE_WINDOW)
        )
        if (recent or 0) >= max_per_window:
            return LinkRequest(LinkOutcome.RATE_LIMITED, row.id)
        secret = secrets.token_urlsafe(SECRET_BYTES)
        digest = secret_hash(secret)
        expires_at = now + ttl
        await conn.execute(
            sign_in_links.insert().values(
                token_hash=digest, actor_id=row.id, created_at=now, expires_at=expires_at, used_at=None
            )
        )
        separator = "&" if "?" in link_url else "?"
        subject, body = link_email(f"{link_url}{separator}t={secret}", expires_at)
        draft = NotificationDraft(party=row.id, recipients=(row.email,), subject=subject, body=body)
        await write_notifications(conn, OUTBOX_PREFIX + digest[:32], 1, [draft], now)
    return LinkRequest(LinkOutcome.SENT, row.id)


async def redeem(engine: AsyncEngine, secret: str, now: datetime) -> str | None:
    """The actor the link signs in, marking it used; None for a link unknown, used already or expired."""
    if not secret or len(secret) > 128:
        return None
    now = as_utc(now)
    statement = (
        sign_in_links.update()
        .where(
            sign_in_links.c.token_hash == secret_hash(secret),
            sign_in_links.c.used_at.is_(None),
            sign_in_links.c.expires_at > now,
        )
        .values(used_at=now)
        .returning(sign_in_links.c.actor_id)
    )
    async with engine.begin() as conn:
        return (await conn.execute(statement)).scalar_one_or_none()
