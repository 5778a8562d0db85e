"""The notification outbox delivered to a real SMTP server (aiosmtpd on 127.0.0.1).

The dispatcher takes every PENDING row, so these tests use their own PostgreSQL database next to the
session's one: rows written by other tests' workflows must neither be sent here nor disturb the counts."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs
from temporalio.testing import ActivityEnvironment

from activities.persistence import PersistenceActivities
from domain.notices import NotificationDraft
from domain.records import TransitionRecord
from domain.stages import Stage
from store.db import create_engine
from store.outbox import (
    LogChannel,
    OutboxDispatcher,
    OutboxMessage,
    SmtpChannel,
    channel_from_env,
    message_id,
)
from store.schema import notifications
from tests.conftest import new_database
from tests.integration.test_persistence import new_nomination, transition_record

pytestmark = pytest.mark.integration

SENDER = "tdkt-engine@btp.example.vn"


class Inbox:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        self.messages.append(email.message_from_bytes(raw, policy=email.policy.default))
        return "250 Message accepted for delivery"


class SmtpServer:
    """A local SMTP server on a fixed port that can go down and come back (a stopped aiosmtpd
    controller cannot be restarted, so each start makes a new one)."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.inbox = Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class RecordingChannel:
    """Remembers what it was asked to send; slow enough that concurrent dispatchers interleave."""

    def __init__(self) -> None:
        self.sent: list[int] = []

    async def send(self, notification: OutboxMessage) -> None:
        await asyncio.sleep(0.01)
        self.sent.append(notification.id)


@pytest.fixture(scope="module")
async def outbox_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A fresh database beside the session's, migrated to head, dropped afterwards."""
    async with new_database("tdkt_outbox") as url:
        engine = create_engine(url)
        try:
            yield engine
        finally:
            await engine.dispose()


@pytest.fixture
async def engine(outbox_engine: AsyncEngine) -> AsyncEngine:
    async with outbox_engine.begin() as conn:
        await conn.execute(sa.delete(notifications))
    return outbox_engine


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def smtp_channel(server: SmtpServer) -> SmtpChannel:
    return SmtpChannel("127.0.0.1", server.port, SENDER, timeout=5)


async def record(engine: AsyncEngine, transition: TransitionRecord) -> TransitionRecord:
    await ActivityEnvironment().run(PersistenceActivities(engine).record_transition, transition)
    return transition


async def council_transition(engine: AsyncEngine) -> TransitionRecord:
    """Two notifications: to the proposing unit and to the council secretariat."""
    transition = transition_record(
        new_nomination(), seq=1, from_stage=Stage.PUBLIC_NOTICE, to_stage=Stage.COUNCIL_REVIEW
    )
    assert len(transition.notifications) == 2
    return await record(engine, transition)


def outbox_message(**changes: Any) -> OutboxMessage:
    fields: dict[str, Any] = {
        "id": 7,
        "workflow_id": "nomination-2026-BTP-7",
        "seq": 2,
        "party": "COUNCIL:BTP",
        "recipients": ("tam.tm@btp.example.vn",),
        "subject": "[TĐKT] Tiêu đề",
        "body": "Nội dung",
        "attempts": 0,
    }
    return OutboxMessage(**(fields | changes))


async def outbox(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(notifications).order_by(notifications.c.id))
        return [dict(r) for r in rows.mappings()]


async def test_each_pending_row_is_sent_once_with_vietnamese_subject_and_stable_message_id(
    engine: AsyncEngine, smtp_server: SmtpServer
) -> None:
    transition = await council_transition(engine)
    dispatcher = OutboxDispatcher(engine, smtp_channel(smtp_server))

    assert await dispatcher.deliver_pending() == 2
    assert await dispatcher.deliver_pending() == 0

    received = {m["Message-ID"]: m for m in smtp_server.inbox.messages}
    assert len(smtp_server.inbox.messages) == 2
    workflow_id = transition.nomination.workflow_id
    for draft in transition.notifications:
        message = received[message_id(workflow_id, 1, draft.party, "btp.example.vn")]
        assert message["Subject"] == draft.subject
        assert message["Subject"].startswith("[TĐKT] Bằng khen của Bộ trưởng – Nguyễn Thị Ánh Tuyết")
        assert message["To"] == ", ".join(draft.recipients)
        assert message["From"] == SENDER
        assert message.get_content().splitlines() == draft.body.splitlines()  # CRLF on the wire
        assert "Hội đồng Thi đua – Khen thưởng xét" in message.get_content()
    rows = await outbox(engine)
    assert {(r["status"], r["attempts"], r["last_error"]) for r in rows} == {("SENT", 1, None)}
    assert all(r["sent_at"] is not None for r in rows)


async def test_message_id_is_the_same_for_a_resend(engine: AsyncEngine) -> None:
    channel = SmtpChannel("127.0.0.1", 25, SENDER)
    first = channel.build(outbox_message())
    resend = channel.build(outbox_message(id=99, attempts=4))
    other_party = channel.build(outbox_message(party="UNIT:BTP:x"))
    assert first["Message-ID"] == resend["Message-ID"]
    assert first["Message-ID"] != other_party["Message-ID"]
    assert first["Message-ID"].endswith("@btp.example.vn>")


async def test_a_mail_server_outage_keeps_rows_pending_until_it_returns(
    engine: AsyncEngine, smtp_server: SmtpServer
) -> None:
    await council_transition(engine)
    dispatcher = OutboxDispatcher(engine, smtp_channel(smtp_server))
    smtp_server.stop()

    assert await dispatcher.deliver_pending() == 0
    rows = await outbox(engine)
    assert [(r["status"], r["attempts"], r["sent_at"]) for r in rows] == [("PENDING", 1, None)] * 2
    assert all("Connection refused" in r["last_error"] for r in rows)

    smtp_server.start()
    assert await dispatcher.deliver_pending() == 2
    assert await dispatcher.deliver_pending() == 0
    rows = await outbox(engine)
    assert [(r["status"], r["attempts"], r["last_error"]) for r in rows] == [("SENT", 2, None)] * 2
    assert len(smtp_server.inbox.messages) == 2


async def test_a_row_that_keeps_failing_ends_failed(engine: AsyncEngine, smtp_server: SmtpServer) -> None:
    await council_transition(engine)
    smtp_server.stop()
    dispatcher = OutboxDispatcher(engine, smtp_channel(smtp_server), max_attempts=3)
    for _ in range(4):
        assert await dispatcher.deliver_pending() == 0
    rows = await outbox(engine)
    assert [(r["status"], r["attempts"]) for r in rows] == [("FAILED", 3)] * 2


async def test_a_party_without_email_is_marked_sent_without_mail(engine: AsyncEngine, smtp_server: SmtpServer) -> None:
    base = transition_record(new_nomination(), seq=1, from_stage=Stage.PROPOSED, to_stage=Stage.PUBLIC_NOTICE)
    silent = NotificationDraft(party="UNIT:BTP:no-email", recipients=(), subject="Không gửi", body="—")
    await record(engine, base.model_copy(update={"notifications": [silent]}))

    assert await OutboxDispatcher(engine, smtp_channel(smtp_server)).deliver_pending() == 0
    [row] = await outbox(engine)
    assert row["status"] == "SENT"
    assert "no email" in row["last_error"]
    assert smtp_server.inbox.messages == []


async def test_two_dispatchers_on_postgres_never_send_a_row_twice(engine: AsyncEngine) -> None:
    for _ in range(6):
        await council_transition(engine)
    channel = RecordingChannel()
    first, second = OutboxDispatcher(engine, channel), OutboxDispatcher(engine, channel)

    sent = await asyncio.gather(first.deliver_pending(), second.deliver_pending())

    assert sum(sent) == 12
    assert min(sent) > 0  # SKIP LOCKED let both make progress instead of queueing on one row
    assert sorted(channel.sent) == sorted(r["id"] for r in await outbox(engine))
    assert {r["status"] for r in await outbox(engine)} == {"SENT"}


class FailingForParty(RecordingChannel):
    """Refuses every message to one party, as a mail server refusing one mailbox."""

    def __init__(self, party_prefix: str) -> None:
        super().__init__()
        self.party_prefix = party_prefix

    async def send(self, notification: OutboxMessage) -> None:
        if notification.party.startswith(self.party_prefix):
            raise ConnectionError(f"mailbox of {notification.party} unavailable")
        await super().send(notification)


async def test_a_chunk_marks_what_went_out_together_and_each_failure_alone(engine: AsyncEngine) -> None:
    for _ in range(6):
        await council_transition(engine)  # 12 rows: 6 to the units, 6 to the council
    rows = await outbox(engine)
    unit_party = rows[0]["party"].split(":")[0]
    channel = FailingForParty(unit_party)
    statements: list[tuple[str, bool]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, executemany: bool) -> None:
        statements.append((statement.split()[0].upper(), executemany))

    sa.event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        result = await OutboxDispatcher(engine, channel, chunk=10).deliver_pass()
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", seen)

    failing = [r for r in rows if r["party"].startswith(unit_party)]
    assert (result.sent, result.failed) == (12 - len(failing), len(failing))
    after = {r["id"]: r for r in await outbox(engine)}
    assert all(after[r["id"]]["status"] == "PENDING" and after[r["id"]]["attempts"] == 1 for r in failing)
    assert sorted(channel.sent) == sorted(i for i, r in after.items() if r["status"] == "SENT")
    assert all(r["sent_at"] is not None and r["attempts"] == 1 for r in after.values() if r["status"] == "SENT")
    # Two chunks (10 + 2 rows): per chunk one SELECT and one UPDATE for all that went out, plus one UPDATE
    # per failure — not a transaction per row.
    # (A chunk with one success marks it with a plain UPDATE: SQLAlchemy executes a one-row list singly.)
    assert [s for s, _ in statements].count("SELECT") == 2, statements
    assert [s for s, _ in statements].count("UPDATE") == 2 + len(failing), statements
    assert ("UPDATE", True) in statements, statements


async def test_run_delivers_until_stopped(engine: AsyncEngine) -> None:
    channel = RecordingChannel()
    stop = asyncio.Event()
    loop = asyncio.create_task(OutboxDispatcher(engine, channel).run(stop, interval=0.05))
    await council_transition(engine)
    for _ in range(100):
        if len(channel.sent) == 2:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(loop, timeout=5)
    assert len(channel.sent) == 2


async def test_log_channel_logs_ids_and_counts_never_names_addresses_or_body() -> None:
    message = outbox_message(subject="[TĐKT] Đề nghị khen thưởng Nguyễn Thị Hằng", body="Nội dung riêng tư của hồ sơ")
    with capture_logs() as logs:
        await LogChannel().send(message)
    [line] = logs
    assert (line["workflow_id"], line["seq"], line["party"]) == ("nomination-2026-BTP-7", 2, "COUNCIL:BTP")
    assert line["recipients"] == 1
    assert set(line) == {"event", "log_level", "channel", "recipients", "workflow_id", "seq", "party"}
    for private in ("Nội dung riêng tư", "Nguyễn Thị Hằng", "tam.tm@btp.example.vn", "@"):
        assert private not in repr(line)


def test_channel_from_env() -> None:
    assert isinstance(channel_from_env({}), LogChannel)
    smtp = channel_from_env(
        {
            "NOTIFY_CHANNEL": "smtp",
            "SMTP_HOST": "mail.example.vn",
            "SMTP_SENDER": SENDER,
            "SMTP_USERNAME": "tdkt",
            "SMTP_PASSWORD": "bí-mật",
            "SMTP_STARTTLS": "true",
        }
    )
    assert isinstance(smtp, SmtpChannel)
    assert (smtp.host, smtp.port, smtp.starttls, smtp.username) == ("mail.example.vn", 587, True, "tdkt")
    with pytest.raises(ValueError, match="SMTP_HOST"):
        channel_from_env({"NOTIFY_CHANNEL": "smtp", "SMTP_SENDER": SENDER})
    with pytest.raises(ValueError, match="NOTIFY_CHANNEL"):
        channel_from_env({"NOTIFY_CHANNEL": "pigeon"})
