"""The secret ballot, tested as the operator: after a session closes, gather everything an operator holds — the
worker's disk (.state and every key file there), every row of every table, every history event of every
workflow decoded through the codec, the logs — and show that nothing ties a voter to a sealed ballot or a
receipt, that nothing there opens a ballot, and that the count got the ballots in receipt order, not in the
order they were cast. (The counting committee's private keys are the members' own, not the operator's.)"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

import security.credentials
from client.ballots import cast, close_list, hand_in, open_session, session_status
from client.nominations import ActionRefused, NominationNotFound, act
from domain.ballot_messages import AnonymousBallot, CountRequest, SessionPhase, SessionStart, SessionStatus
from domain.ballots import BallotSessionKind, Choice
from domain.messages import ReasonedAction
from domain.stages import Stage
from security.codec import CodecError
from security.committee import rebuild_sealing_key
from security.sealing import SealError, open_ballot, receipt_hex, unb64
from store.schema import ballot_session_secrets
from tests.integration.helpers import counting_key_of, start, wait_for_stage

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCOPE = "KTNN"
SECRETARY = "ktnn.hd.thu-ky"
PROPOSER = "ktnn.vutckt.hoang-anh"
VOTERS = ["ktnn.hd.chu-tich", "ktnn.hd.uy-vien-1", "ktnn.hd.uy-vien-2"]
PEM_PRIVATE = re.compile(r"-----BEGIN (?:RSA )?PRIVATE KEY-----.+?-----END (?:RSA )?PRIVATE KEY-----", re.DOTALL)


# ---- what the operator holds ----------------------------------------------------------------------------------


def _payloads(message: Message, found: list[Payload]) -> None:
    """Every Payload anywhere in a history event: inputs, results, signals, updates, memos, failures."""
    if isinstance(message, Payload):
        found.append(message)
        return
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if isinstance(value, Message):
            _payloads(value, found)
        else:
            for item in value.values() if hasattr(value, "values") else value:
                if isinstance(item, Message):
                    _payloads(item, found)


async def decoded_events(client: Client, workflow_id: str) -> list[tuple[Any, list[str]]]:
    """Each history event with its payloads decrypted through the codec (as the codec server shows them)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    codec = client.data_converter.payload_codec
    assert codec is not None
    events = []
    for event in history.events:
        found: list[Payload] = []
        _payloads(event, found)
        decoded = await codec.decode(found) if found else []
        events.append((event, [p.data.decode("utf-8", errors="replace") for p in decoded]))
    return events


async def every_workflow(client: Client) -> list[str]:
    return sorted({w.id async for w in client.list_workflows()})


async def database_rows(engine: AsyncEngine) -> list[str]:
    """Every row of every table, one JSON text per row (bytes as base64)."""

    def plain(value: Any) -> Any:
        return base64.b64encode(value).decode() if isinstance(value, bytes | memoryview) else str(value)

    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        rows: list[str] = []
        for table in tables:
            result = await conn.execute(sa.text(f'SELECT * FROM "{table}"'))
            rows += [f"{table}: " + json.dumps(dict(r._mapping), default=plain, ensure_ascii=False) for r in result]
    return rows


def small_file(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size < 1_000_000
    except FileNotFoundError:  # gone since the listing (another process's temporary file)
        return False


def private_keys_in(texts: list[str], files: list[Path]) -> list[rsa.RSAPrivateKey]:
    """Every RSA private key readable in the texts and files (PEM, and DER where a file holds one)."""
    keys: list[rsa.RSAPrivateKey] = []
    blobs = [m.group(0).encode() for t in texts for m in PEM_PRIVATE.finditer(t.replace("\\n", "\n"))]
    for path in files:
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # a temporary file another process (make test runs two) renamed meanwhile
            continue
        blobs += [m.group(0).encode() for m in PEM_PRIVATE.finditer(data.decode("latin-1"))] or [data]
    for blob in blobs:
        for load in (serialization.load_pem_private_key, serialization.load_der_private_key):
            try:
                key = load(blob, password=None)
            except (ValueError, TypeError):
                continue
            if isinstance(key, rsa.RSAPrivateKey):
                keys.append(key)
            break
    return keys


# ---- the session -----------------------------------------------------------------------------------------------


async def in_council(client: Client, task_queue: str) -> str:
    handle = await start(
        client,
        task_queue,
        "BANG_KHEN_BO",
        ministry=SCOPE,
        proposer=PROPOSER,
        reference=f"{uuid.uuid4().hex[:6]}/TTr-KTNN",
    )
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    return handle.id


async def clear_the_council(client: Client, engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        found = list(
            (
                await conn.execute(
                    sa.text("SELECT workflow_id FROM nominations WHERE stage = 'COUNCIL_REVIEW' AND ministry = :m"),
                    {"m": SCOPE},
                )
            ).scalars()
        )
    for workflow_id in found:
        with contextlib.suppress(ActionRefused, NominationNotFound):
            await act(client, workflow_id, "withdraw", ReasonedAction(actor=PROPOSER, reason="Dọn danh sách"))


async def wait_until(client: Client, session_id: str, done: Any, timeout: float = 30) -> SessionStatus:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        current = await session_status(client, session_id)
        if done(current):
            return current
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{session_id} is {current.phase}")
        await asyncio.sleep(0.1)


class DescendingTokens:
    """Stands in for `secrets` in the voter's client: each voter's token is chosen so that, in the order they
    cast, their receipts fall — the count must still get them rising (receipt order), not in cast order."""

    def __init__(self, session_id: str, count: int) -> None:
        tokens = [secrets.token_bytes(32) for _ in range(count)]
        self.tokens = sorted(tokens, key=lambda t: receipt_hex(session_id, 1, t), reverse=True)

    def token_bytes(self, n: int) -> bytes:
        assert n == 32
        return self.tokens.pop(0)


async def test_an_operator_holding_everything_cannot_open_a_ballot_nor_tie_it_to_a_voter(
    client: Client,
    task_queue: str,
    db_engine: AsyncEngine,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
):
    caplog.set_level(logging.DEBUG)
    await clear_the_council(client, db_engine)
    first, second = await in_council(client, task_queue), await in_council(client, task_queue)
    start_ = SessionStart(
        kind=BallotSessionKind.COUNCIL,
        scope=SCOPE,
        meeting_ref=f"HD-{uuid.uuid4().hex[:8]}",
        opened_by=SECRETARY,
        deadline=datetime.now(UTC) + timedelta(minutes=10),
        policy_version="2025.07",
        reminder_before_seconds=0,
    )
    handle = await open_session(client, task_queue, start_, engine=db_engine)
    session_id = handle.id
    await wait_until(client, session_id, lambda s: {c.workflow_id for c in s.candidates} >= {first, second})
    opened = await close_list(client, session_id, SECRETARY)
    assert opened.keys is not None

    # What the test (not the operator) keeps to show the check could fail: the wrapped key while it exists.
    async with db_engine.connect() as conn:
        wrapped = await conn.scalar(
            sa.select(ballot_session_secrets.c.wrapped_sealing_key).where(
                ballot_session_secrets.c.session_id == session_id
            )
        )
    assert wrapped

    tokens = DescendingTokens(session_id, len(VOTERS))
    monkeypatch.setattr(security.credentials, "secrets", tokens)
    ballots = {
        VOTERS[0]: {first: Choice.FOR, second: Choice.AGAINST},
        VOTERS[1]: {first: Choice.ABSTAIN, second: Choice.FOR},
        VOTERS[2]: {first: Choice.FOR, second: Choice.FOR},
    }
    receipts = [(await cast(client, session_id, voter, choices)).receipt for voter, choices in ballots.items()]
    monkeypatch.undo()
    assert receipts == sorted(receipts, reverse=True)  # cast in falling receipt order
    await wait_until(client, session_id, lambda s: s.phase == SessionPhase.AWAITING_COUNT)
    for member in opened.committee[:2]:
        await hand_in(client, db_engine, session_id, member, counting_key_of(member))
    closed = await wait_until(client, session_id, lambda s: s.phase == SessionPhase.CLOSED)
    assert sorted(closed.counted_receipts or []) == sorted(receipts)

    # ---- everything the operator holds ----
    rows = await database_rows(db_engine)
    histories: dict[str, list[tuple[Any, list[str]]]] = {}
    for workflow_id in await every_workflow(client):
        try:
            histories[workflow_id] = await decoded_events(client, workflow_id)
        except CodecError:  # another test's payloads under a key this deployment lacks: unreadable to all
            continue
    payloads = [text for events in histories.values() for _, texts in events for text in texts]
    out, err = capfd.readouterr()
    logs = [*out.splitlines(), *err.splitlines(), *(r.getMessage() for r in caplog.records)]
    state = ROOT / ".state"
    disk = [p for p in state.rglob("*") if small_file(p)] if state.exists() else []
    assert any("ballots_counted" in line for line in logs)  # the worker's log lines are really here
    session_events = histories[session_id]

    # (a) No payload, row or log line carries a voter id with a sealed ballot or a receipt.
    digests = [r.rpartition(":")[2] for r in receipts]
    everyone = set(VOTERS) | {SECRETARY}

    def ties(text: str) -> bool:
        ballot_like = "sealed_choices" in text or "wrapped_key" in text or any(d in text for d in digests)
        return ballot_like and any(v in text for v in everyone)

    cast_updates = [
        texts
        for event, texts in session_events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        and event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == "cast_ballot"
    ]
    assert len(cast_updates) == len(VOTERS) and all(any("sealed_choices" in t for t in ts) for ts in cast_updates)
    cast_results = [
        texts
        for event, texts in session_events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED
        and any(d in t for t in texts for d in digests)
    ]
    assert len(cast_results) == len(VOTERS)
    for texts in [*cast_updates, *cast_results]:
        assert not any(ties(t) for t in texts), texts
    count_inputs = [
        texts
        for event, texts in session_events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == "open_and_count"
    ]
    assert len(count_inputs) == 1
    assert not any(v in t for t in count_inputs[0] for v in everyone), "the count's input names a voter"
    for row in rows:
        assert not ties(row), row
    for line in logs:
        assert not ties(line), line
    # Participation names who took a credential, never a receipt; the minutes keep no receipt either.
    assert [r for r in rows if r.startswith("ballot_participation:") and session_id in r]
    assert not [r for r in rows if any(d in r for d in digests)]

    # (b) Nothing the operator holds opens a ballot: every RSA private key found in the rows, the payloads, the
    # logs and the disk fails on every sealed ballot; the shares in history are useless, the wrapped key gone.
    found_keys = private_keys_in([*rows, *payloads, *logs], disk)
    ballots_cast = [
        AnonymousBallot.model_validate(json.loads(t)) for ts in cast_updates for t in ts if "sealed_choices" in t
    ]
    assert len(ballots_cast) == len(VOTERS)
    for key in found_keys:
        for ballot in ballots_cast:
            with pytest.raises(SealError):
                open_ballot(key, session_id, 1, unb64(ballot.token, "token"), ballot.ballot)
    handed = [
        json.loads(t)
        for event, ts in session_events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        and event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == "hand_in_share"
        for t in ts
        if '"share"' in t
    ]
    shares = [(h["index"], base64.b64decode(h["share"])) for h in handed]
    assert len(shares) == 2
    wrapped_b64 = base64.b64encode(wrapped).decode()
    assert not any(wrapped_b64 in text for text in [*rows, *payloads, *logs]), "the wrapped key outlived the session"
    async with db_engine.connect() as conn:
        secrets_row = (
            await conn.execute(
                sa.select(ballot_session_secrets).where(ballot_session_secrets.c.session_id == session_id)
            )
        ).one()
    assert secrets_row.wrapped_sealing_key is None and secrets_row.issuer_private is None
    assert secrets_row.class_privates is None and secrets_row.destroyed_at is not None
    # The check is a real one: with the wrapped key the session had, those shares would open every ballot.
    sealing = rebuild_sealing_key(session_id, wrapped, shares, 2)
    opened_by_test = open_ballot(sealing, session_id, 1, unb64(ballots_cast[0].token, "token"), ballots_cast[0].ballot)
    assert set(opened_by_test.choices) == {first, second}

    # (c) The count got the ballots in receipt order, not in the order they were cast.
    request = CountRequest.model_validate(json.loads(next(t for t in count_inputs[0] if '"ballots"' in t)))
    counted_order = [f"{session_id}:{receipt_hex(session_id, 1, unb64(b.token, 'token'))}" for b in request.ballots]
    assert counted_order == sorted(receipts)
    assert counted_order != receipts
