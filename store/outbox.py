"""The notification outbox: rows written with the transition or session step they announce, sent by a
dispatcher loop.

Delivery is at-least-once (a crash between sending and marking SENT resends); each email carries a
Message-ID derived from (workflow_id, seq, party) so receivers can drop the duplicate."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import smtplib
import ssl
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Protocol

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.notices import NotificationDraft
from store.db import dialect_insert
from store.schema import NOTIFICATION_FAILED, NOTIFICATION_PENDING, NOTIFICATION_SENT, notifications

MAX_ATTEMPTS = 10
NO_RECIPIENTS_NOTE = "skipped: the party has no email address in the roster"

log = structlog.get_logger(__name__)


def notification_rows(
    workflow_id: str, seq: int, drafts: Sequence[NotificationDraft], now: datetime
) -> list[dict[str, Any]]:
    """The PENDING outbox rows of a step's notices, one per party."""
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


async def write_notifications(
    conn: AsyncConnection, workflow_id: str, seq: int, drafts: Sequence[NotificationDraft], now: datetime
) -> int:
    """Queue a step's notices in the caller's transaction; returns how many rows were added (keyed on
    workflow id, seq and party: a retry adds none)."""
    added = await queue_notifications(conn, notification_rows(workflow_id, seq, drafts, now))
    return sum(added.values())


async def queue_notifications(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> Counter[tuple[str, int]]:
    """Queue outbox rows (as notification_rows makes them, of any number of steps) in the caller's
    transaction, in one statement; returns how many were added per (workflow_id, seq). A row whose
    (workflow_id, seq, party) is already queued is not added again."""
    if not rows:
        return Counter()
    result = await conn.execute(_queue_statement(conn), list(rows) if len(rows) > 1 else rows[0])
    return Counter((row.workflow_id, row.seq) for row in result)


_QUEUE: dict[str, Any] = {}


def _queue_statement(conn: AsyncConnection) -> Any:
    """The outbox's INSERT for the connection's dialect, built once (the rows are the execution's parameters)."""
    name = conn.dialect.name
    if name not in _QUEUE:
        _QUEUE[name] = (
            dialect_insert(conn, notifications)
            .on_conflict_do_nothing(
                index_elements=[notifications.c.workflow_id, notifications.c.seq, notifications.c.party]
            )
            .returning(notifications.c.workflow_id, notifications.c.seq)
        )
    return _QUEUE[name]


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    workflow_id: str
    seq: int
    party: str
    recipients: tuple[str, ...]
    subject: str
    body: str
    attempts: int

    @classmethod
    def from_row(cls, row: Any) -> OutboxMessage:
        return cls(
            id=row.id,
            workflow_id=row.workflow_id,
            seq=row.seq,
            party=row.party,
            recipients=tuple(row.recipients or ()),
            subject=row.subject,
            body=row.body,
            attempts=row.attempts,
        )

    def fields_for_log(self) -> dict[str, Any]:
        # Bodies name nominees and outcomes: keep them out of logs.
        return {"workflow_id": self.workflow_id, "seq": self.seq, "party": self.party}


class Channel(Protocol):
    async def send(self, notification: OutboxMessage) -> None: ...


class LogChannel:
    """Development channel: a log line per notification instead of an email. Subjects name nominees and
    recipients are addresses, so the line carries ids and counts only; the text stays in the outbox table."""

    async def send(self, notification: OutboxMessage) -> None:
        log.info(
            "notification_delivered",
            channel="log",
            recipients=len(notification.recipients),
            **notification.fields_for_log(),
        )


def message_id(workflow_id: str, seq: int, party: str, domain: str) -> str:
    digest = hashlib.sha256(f"{workflow_id}\x1f{seq}\x1f{party}".encode()).hexdigest()[:40]
    return f"<tdkt.{digest}@{domain}>"


class SmtpChannel:
    """Plain smtplib in a thread: no extra dependency, one short connection per message."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password = username, password
        self.starttls, self.timeout = starttls, timeout
        self.domain = sender.rpartition("@")[2] or "tdkt.invalid"

    def build(self, notification: OutboxMessage) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(notification.recipients)
        message["Subject"] = notification.subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id(notification.workflow_id, notification.seq, notification.party, self.domain)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to the engine
        message.set_content(notification.body, charset="utf-8", cte="quoted-printable")  # 7-bit safe relays
        return message

    async def send(self, notification: OutboxMessage) -> None:
        if not notification.recipients:
            return
        await asyncio.to_thread(self._send_sync, self.build(notification))

    def _send_sync(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password or "")
            refused = smtp.send_message(message)
        if refused:
            log.warning("smtp_recipients_refused", recipients=len(refused), message_id=message["Message-ID"])


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def channel_from_env(env: dict[str, str] | None = None) -> Channel:
    """NOTIFY_CHANNEL=log (default) or smtp, configured by SMTP_HOST, SMTP_PORT, SMTP_SENDER,
    SMTP_USERNAME, SMTP_PASSWORD, SMTP_STARTTLS."""
    env = dict(os.environ) if env is None else env
    kind = env.get("NOTIFY_CHANNEL", "log").strip().lower() or "log"
    if kind == "log":
        return LogChannel()
    if kind != "smtp":
        raise ValueError(f"NOTIFY_CHANNEL must be 'log' or 'smtp', not {kind!r}")
    missing = [name for name in ("SMTP_HOST", "SMTP_SENDER") if not env.get(name)]
    if missing:
        raise ValueError(f"NOTIFY_CHANNEL=smtp needs {', '.join(missing)}")
    starttls = _flag(env.get("SMTP_STARTTLS"))
    return SmtpChannel(
        host=env["SMTP_HOST"],
        port=int(env.get("SMTP_PORT") or (587 if starttls else 25)),
        sender=env["SMTP_SENDER"],
        username=env.get("SMTP_USERNAME") or None,
        password=env.get("SMTP_PASSWORD") or None,
        starttls=starttls,
    )


@dataclass
class PassResult:
    sent: int = 0
    failed: int = 0
    skipped: int = 0


class OutboxDispatcher:
    """Sends PENDING notifications in id order, up to `chunk` rows per short transaction: the rows are
    locked, sent one by one and marked together (one round trip for all that went out), so a wave's
    thousands of notices cost a few statements per chunk, not four per notice. On PostgreSQL
    `FOR UPDATE SKIP LOCKED` lets several workers share the outbox. If the process dies mid-chunk, that
    chunk's rows stay PENDING and go out again: delivery is at least once, and the Message-ID
    (workflow id, seq, party) lets receivers drop the repeat."""

    def __init__(
        self,
        engine: AsyncEngine,
        channel: Channel,
        batch_size: int = 50,
        max_attempts: int = MAX_ATTEMPTS,
        chunk: int = 10,
    ) -> None:
        self.engine = engine
        self.channel = channel
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.chunk = chunk

    def _next_pending(self, after_id: int, limit: int) -> sa.Select[Any]:
        query = (
            sa.select(notifications)
            .where(notifications.c.status == NOTIFICATION_PENDING, notifications.c.id > after_id)
            .order_by(notifications.c.id)
            .limit(limit)
        )
        if self.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return query

    async def deliver_pending(self) -> int:
        """One pass over at most batch_size pending rows; returns how many were sent."""
        return (await self.deliver_pass()).sent

    async def deliver_pass(self) -> PassResult:
        result = PassResult()
        after_id = 0  # a row that fails is retried on the next pass, not again in this one
        remaining = self.batch_size
        while remaining > 0:
            limit = min(self.chunk, remaining)
            async with self.engine.begin() as conn:
                rows = (await conn.execute(self._next_pending(after_id, limit))).all()
                if not rows:
                    break
                sent: list[dict[str, Any]] = []
                for row in rows:
                    message = OutboxMessage.from_row(row)
                    after_id = message.id
                    await self._deliver(conn, message, sent, result)
                if sent:
                    await conn.execute(
                        sa.update(notifications)
                        .where(notifications.c.id == sa.bindparam("row_id"))
                        .values(
                            status=NOTIFICATION_SENT,
                            sent_at=sa.bindparam("sent_now"),
                            attempts=sa.bindparam("attempts_now"),
                            last_error=None,
                        ),
                        sent,
                    )
            remaining -= len(rows)
            if len(rows) < limit:
                break
        return result

    async def _deliver(
        self, conn: AsyncConnection, message: OutboxMessage, sent: list[dict[str, Any]], result: PassResult
    ) -> None:
        """Send one message; a success joins `sent` (marked with the chunk), anything else is marked now."""
        update = sa.update(notifications).where(notifications.c.id == message.id)
        if not message.recipients:
            now = datetime.now(UTC)
            await conn.execute(update.values(status=NOTIFICATION_SENT, sent_at=now, last_error=NO_RECIPIENTS_NOTE))
            log.info("notification_skipped", reason="no recipients", **message.fields_for_log())
            result.skipped += 1
            return
        try:
            await self.channel.send(message)
        except Exception as exc:
            attempts = message.attempts + 1
            status = NOTIFICATION_FAILED if attempts >= self.max_attempts else NOTIFICATION_PENDING
            error = f"{type(exc).__name__}: {exc}"[:2000]
            await conn.execute(update.values(attempts=attempts, last_error=error, status=status))
            # The error text may quote addresses (a refused recipient): the row keeps it, the log its type.
            log.warning(
                "notification_failed",
                attempts=attempts,
                status=status,
                error=type(exc).__name__,
                **message.fields_for_log(),
            )
            result.failed += 1
            return
        sent.append({"row_id": message.id, "sent_now": datetime.now(UTC), "attempts_now": message.attempts + 1})
        result.sent += 1

    async def run(self, stop: asyncio.Event, interval: float = 1.0, max_backoff: float = 30.0) -> None:
        """Deliver until `stop` is set. A pass that only failed (mail server or database down) doubles
        the pause, up to max_backoff, so an outage does not burn every row's attempts in seconds."""
        delay = interval
        while not stop.is_set():
            try:
                outcome = await self.deliver_pass()
            except Exception:
                log.exception("outbox_pass_failed")
                outcome = PassResult(failed=1)
            delay = min(delay * 2, max_backoff) if outcome.failed and not outcome.sent else interval
            if outcome.sent + outcome.failed + outcome.skipped >= self.batch_size and not outcome.failed:
                continue  # a backlog: keep draining without pausing
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
