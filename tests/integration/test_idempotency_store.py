"""Idempotency keys survive a restart of the API: the answer is kept in PostgreSQL (`idempotency_keys`), so the
same key with the same request is answered again by a new app, a different request under it is still a 409,
a secret body's fingerprint is keyed (nothing in the row can be matched against the possible ballots), an
expired answer no longer counts, and a database that cannot be read answers 503 instead of acting unprotected."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from api import create_app
from api.idempotency import ANONYMOUS, IdempotencyStore, fingerprint
from api.problems import ProblemError
from security.tokens import Keyring
from store.db import create_engine
from store.schema import idempotency_keys
from tests.asgi import call
from tests.integration.test_api import RING, api_nomination, assert_problem, token

pytestmark = pytest.mark.integration
PROPOSER = "btp.vutckt.le-thi-hoa"


async def kept_row(engine: AsyncEngine, actor: str, key: str) -> dict[str, Any] | None:
    query = sa.select(idempotency_keys).where(idempotency_keys.c.actor == actor, idempotency_keys.c.key == key)
    async with engine.connect() as conn:
        row = (await conn.execute(query)).mappings().first()
    return None if row is None else dict(row)


async def runs_of(client: Client, workflow_id: str) -> int:
    for _ in range(50):  # visibility is eventually consistent
        runs = [wf async for wf in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
        if runs:
            return len(runs)
        await asyncio.sleep(0.1)
    return 0


async def test_the_same_key_after_a_restart_replays_the_first_answer(
    client: Client, task_queue: str, db_engine: AsyncEngine
) -> None:
    data = api_nomination()
    key = f"restart-{uuid.uuid4().hex}"
    headers = [*token(PROPOSER), ("idempotency-key", key)]
    first_app = create_app(client, keyring=RING, task_queue=task_queue, engine=db_engine)
    first = await call(first_app, "POST", "/nominations", data, headers)
    assert first.status == 201, first.body
    row = await kept_row(db_engine, PROPOSER, key)
    assert row is not None and row["status"] == 201 and bytes(row["body"]) == first.body
    assert row["fingerprint"] == fingerprint("POST", "/nominations", data)

    # A new app with a new store, as after a restart of the API (or another replica).
    restarted = create_app(
        client, keyring=RING, task_queue=task_queue, engine=db_engine, idempotency=IdempotencyStore()
    )
    again = await call(restarted, "POST", "/nominations", data, headers)
    assert again.status == 201 and again.body == first.body
    assert again.header("idempotent-replayed") == "true"
    assert again.header("location") == first.header("location")
    assert await runs_of(client, first.json()["workflow_id"]) == 1

    # The same key with another body: 409 as before the restart, and the kept answer is unchanged.
    changed = {**data, "achievements": "Một thành tích khác hẳn"}
    assert_problem(await call(restarted, "POST", "/nominations", changed, headers), 409, "idempotency-key-reused")
    assert await kept_row(db_engine, PROPOSER, key) == row
    # Another actor's same key is another slot (here: the same reference by someone else, a duplicate).
    colleague = await call(restarted, "POST", "/nominations", data, [*token("btp.vutckt.pham-van-duc"), headers[-1]])
    assert_problem(colleague, 409, "duplicate")


def answer(counter: list[int], status: int = 201) -> Any:
    async def compute() -> Response:
        counter.append(1)
        return JSONResponse({"receipt": f"r-{len(counter)}"}, status_code=status)

    return compute


async def test_a_secret_body_is_kept_only_as_a_keyed_fingerprint(db_engine: AsyncEngine) -> None:
    body = {"sealed": "AAAA", "token": "t-1"}
    path = f"/ballot-sessions/s-{uuid.uuid4().hex[:6]}/ballots"
    key = f"ballot-{uuid.uuid4().hex}"
    calls: list[int] = []
    store = IdempotencyStore(engine=lambda: db_engine)
    store.attach(lambda: db_engine, RING)
    first = await store.run(ANONYMOUS, key, store.secret_fingerprint("POST", path, body), answer(calls))
    row = await kept_row(db_engine, ANONYMOUS, key)
    assert row is not None
    plain = hashlib.sha256(repr(body).encode()).hexdigest()
    assert row["fingerprint"].startswith("hmac:") and fingerprint("POST", path, body) not in row["fingerprint"]
    assert plain not in row["fingerprint"]

    # Restarted with the same signing keys: the same ballot is the same request; its receipt is given again.
    restarted = IdempotencyStore()
    restarted.attach(lambda: db_engine, RING)
    again = await restarted.run(ANONYMOUS, key, restarted.secret_fingerprint("POST", path, body), answer(calls))
    assert calls == [1] and again.body == first.body and again.headers["idempotent-replayed"] == "true"
    other = {**body, "sealed": "BBBB"}
    with pytest.raises(ProblemError) as refused:
        await restarted.run(ANONYMOUS, key, restarted.secret_fingerprint("POST", path, other), answer(calls))
    assert refused.value.kind.slug == "idempotency-key-reused" and calls == [1]
    # Under another signing key the fingerprints differ: the database alone never tells which ballot it was.
    elsewhere = IdempotencyStore()
    elsewhere.attach(lambda: db_engine, Keyring(keys={"other": "o" * 40}, current="other"))
    assert elsewhere.secret_fingerprint("POST", path, body) != restarted.secret_fingerprint("POST", path, body)


async def test_errors_are_not_kept_and_an_expired_answer_no_longer_counts(db_engine: AsyncEngine) -> None:
    key, calls = f"expiry-{uuid.uuid4().hex}", list[int]()
    now = [datetime(2026, 12, 6, 8, 0, tzinfo=UTC)]
    store = IdempotencyStore(ttl_seconds=60, engine=lambda: db_engine, clock=lambda: now[0])
    failed = await store.run("someone", key, "f-1", answer(calls, status=409))
    assert failed.status_code == 409 and await kept_row(db_engine, "someone", key) is None
    done = await store.run("someone", key, "f-2", answer(calls))
    assert done.status_code == 201 and (await kept_row(db_engine, "someone", key) or {})["fingerprint"] == "f-2"
    with pytest.raises(ProblemError):
        await store.run("someone", key, "f-3", answer(calls))
    now[0] += timedelta(seconds=61)  # past its time: the key is free again, the new answer replaces the old
    fresh = await store.run("someone", key, "f-3", answer(calls))
    assert fresh.status_code == 201 and len(calls) == 3
    assert (await kept_row(db_engine, "someone", key) or {})["fingerprint"] == "f-3"


async def test_concurrent_retries_act_once(db_engine: AsyncEngine) -> None:
    key, calls = f"race-{uuid.uuid4().hex}", list[int]()
    store = IdempotencyStore(engine=lambda: db_engine)
    answers = await asyncio.gather(*(store.run("someone", key, "same", answer(calls)) for _ in range(5)))
    assert calls == [1]
    assert {bytes(a.body) for a in answers} == {b'{"receipt":"r-1"}'}
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 4


async def test_an_unreadable_database_is_a_503_and_nothing_is_done() -> None:
    unreachable = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    calls: list[int] = []
    try:
        store = IdempotencyStore(engine=lambda: unreachable)
        with pytest.raises(ProblemError) as unavailable:
            await store.run("someone", "k-1", "f", answer(calls))
        assert unavailable.value.kind.slug == "service-unavailable" and calls == []
        assert "Idempotency-Key" in str(unavailable.value)
        # Without a key there is nothing to look up: the request is simply done.
        assert (await store.run("someone", None, "f", answer(calls))).status_code == 201 and calls == [1]
    finally:
        await unreachable.dispose()
