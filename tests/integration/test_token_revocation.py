"""Revoking a signed token by its id (client/revocation.py): refused by the CLI, the API and the inbox; the
actor's other tokens keep working; a revocation outlives the process; revoking twice changes nothing; nobody
revokes another's token through the API. Real PostgreSQL, the dev server, the API through ASGI, the CLI as a
subprocess."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from api import create_app
from api.inbox import COOKIE
from client.revocation import (
    CACHE_SECONDS,
    OPERATOR,
    RevocationStore,
    RevocationUnavailable,
    TokenRevoked,
)
from security.tokens import ALGORITHM, ISSUER, AuthError, Keyring, issue_token, verify_token
from store.db import create_engine
from store.schema import revoked_tokens
from tests.asgi import Reply, call
from tests.integration.helpers import AUTH_ENV, CENTRAL, KEYRING, PROPOSER, SECRETARY, second_engine  # noqa: F401 - the engine fixture

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = "application/problem+json"


def jti(token: str) -> str:
    return verify_token(KEYRING, token).token_id


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def cookie(token: str) -> list[tuple[str, str]]:
    return [("cookie", f"{COOKIE}={token}")]


@pytest.fixture
def app(client: Client, engine: AsyncEngine) -> Any:
    # No route used here starts a workflow: no worker behind the task queue is needed.
    return create_app(client, keyring=KEYRING, task_queue="revocation-tests", engine=engine)


async def listing(app: Any, token: str) -> Reply:
    return await call(app, "GET", "/nominations", headers=bearer(token))


def assert_revoked_problem(reply: Reply, token_id: str) -> None:
    assert reply.status == 401, reply
    assert reply.header("content-type") == PROBLEM
    problem = reply.json()
    assert problem["type"] == "/problems/unauthenticated"
    assert token_id in problem["detail"] and "revoked" in problem["detail"], problem
    assert "invalid_token" in (reply.header("www-authenticate") or "")


# ---- the store ------------------------------------------------------------------------------------------------


def test_every_accepted_token_has_an_id_that_fits_the_revocation_table() -> None:
    now = datetime.now(UTC)
    claims = {"sub": CENTRAL, "iss": ISSUER, "iat": now, "exp": now + timedelta(hours=1)}
    secret = AUTH_ENV["TDKT_AUTH_KEYS"].split(":", 1)[1]
    for bad in ({}, {"jti": ""}, {"jti": "x" * 65}, {"jti": "a b"}, {"jti": 7}):
        token = jwt.encode(claims | bad, secret, algorithm=ALGORITHM, headers={"kid": KEYRING.current})
        with pytest.raises(AuthError, match=r"jti|JWT ID"):
            verify_token(KEYRING, token)
    column = revoked_tokens.c.jti.type
    assert isinstance(column, sa.String) and column.length is not None
    assert len(jti(issue_token(KEYRING, CENTRAL))) <= column.length


async def test_revoking_twice_changes_nothing_and_the_first_revocation_stands(engine: AsyncEngine) -> None:
    identity = verify_token(KEYRING, issue_token(KEYRING, SECRETARY))
    store = RevocationStore(engine)
    first, made = await store.revoke_own(identity, "máy tính bị mất")
    again, made_again = await store.revoke_own(identity, "another reason")
    by_operator, made_by_operator = await RevocationStore(engine).revoke_by_id(identity.token_id, "duplicate")
    assert (made, made_again, made_by_operator) == (True, False, False)
    assert again == first == by_operator
    assert (first.actor_id, first.revoked_by, first.reason) == (SECRETARY, SECRETARY, "máy tính bị mất")
    assert first.expires_at == identity.expires_at
    async with engine.connect() as conn:
        rows = await conn.scalar(
            sa.select(sa.func.count()).select_from(revoked_tokens).where(revoked_tokens.c.jti == identity.token_id)
        )
    assert rows == 1
    with pytest.raises(TokenRevoked, match=identity.token_id):
        await store.check(identity)


async def test_a_revocation_outlives_the_process_that_made_it(database_url: str, engine: AsyncEngine) -> None:
    revoked, other = (verify_token(KEYRING, issue_token(KEYRING, PROPOSER)) for _ in range(2))
    await RevocationStore(engine).revoke_own(revoked)
    restarted = create_engine(database_url)  # a new process: a new engine, nothing remembered
    try:
        store = RevocationStore(restarted)
        assert await store.is_revoked(revoked.token_id)
        assert not await store.is_revoked(other.token_id)
        assert await store.check(other) == other
    finally:
        await restarted.dispose()


async def test_another_process_may_accept_a_revoked_token_only_within_its_cache_window(engine: AsyncEngine) -> None:
    """The worst case docs/trust.md states: a process that found a token not revoked just before it was revoked
    elsewhere accepts it for at most CACHE_SECONDS more."""
    now = [1000.0]
    elsewhere = RevocationStore(engine, clock=lambda: now[0])
    identity = verify_token(KEYRING, issue_token(KEYRING, CENTRAL))
    assert not await elsewhere.is_revoked(identity.token_id)
    await RevocationStore(engine).revoke_own(identity)  # through another process
    now[0] += CACHE_SECONDS - 0.01
    assert not await elsewhere.is_revoked(identity.token_id)  # still within the window
    now[0] += 0.01
    assert await elsewhere.is_revoked(identity.token_id)
    now[0] += 10 * CACHE_SECONDS
    assert await elsewhere.is_revoked(identity.token_id)  # never forgotten once learnt


async def test_rows_of_expired_tokens_are_pruned_and_live_ones_kept(engine: AsyncEngine) -> None:
    store = RevocationStore(engine)
    now = datetime.now(UTC)
    live = verify_token(KEYRING, issue_token(KEYRING, CENTRAL))
    await store.revoke_own(live)
    # An expired token is refused for its expiry; its row is no longer needed (each revocation prunes too).
    expired_id = f"expired-{uuid.uuid4().hex}"
    await store.revoke(expired_id, by=CENTRAL, expires_at=now - timedelta(minutes=1), actor_id=CENTRAL)
    assert await store.prune() >= 1
    async with engine.connect() as conn:
        kept = set((await conn.scalars(sa.select(revoked_tokens.c.jti))).all())
    assert live.token_id in kept and expired_id not in kept
    # An operator's revocation by id alone is kept as long as any configuration lets a token live.
    operator, _ = await store.revoke_by_id(f"operator-{uuid.uuid4().hex}", "lost laptop")
    assert operator.actor_id is None and operator.revoked_by == OPERATOR
    assert operator.expires_at - operator.revoked_at == timedelta(hours=168)


async def test_a_token_is_refused_when_the_revocations_cannot_be_read() -> None:
    unreachable = create_engine("postgresql+asyncpg://postgres@127.0.0.1:5432/tdkt_no_such_database")
    try:
        with pytest.raises(RevocationUnavailable, match="DATABASE_URL"):
            await RevocationStore(unreachable).is_revoked("anything")
    finally:
        await unreachable.dispose()


# ---- the API -------------------------------------------------------------------------------------------------


async def test_the_api_refuses_a_revoked_token_naming_it_and_the_actors_other_tokens_still_work(
    client: Client, app: Any, database_url: str
) -> None:
    revoked, other = issue_token(KEYRING, CENTRAL), issue_token(KEYRING, CENTRAL)
    assert (await listing(app, revoked)).status == 200

    first = await call(app, "POST", "/tokens/revoke", {"reason": "đăng xuất mọi nơi"}, bearer(revoked))
    assert first.status == 200, first
    assert first.json()["jti"] == jti(revoked) and first.json()["already_revoked"] is False
    assert_revoked_problem(await listing(app, revoked), jti(revoked))
    assert (await listing(app, other)).status == 200

    # Revoking again (with the revoked token itself, or with no body) changes nothing.
    again = await call(app, "POST", "/tokens/revoke", None, bearer(revoked))
    assert again.status == 200 and again.json() == {**first.json(), "already_revoked": True}

    # A new API process on a new engine: the revocation holds, the other token still works.
    restarted_engine = create_engine(database_url)
    try:
        restarted = create_app(client, keyring=KEYRING, task_queue="revocation-tests", engine=restarted_engine)
        assert_revoked_problem(await listing(restarted, revoked), jti(revoked))
        assert (await listing(restarted, other)).status == 200
    finally:
        await restarted_engine.dispose()


async def test_a_forged_jti_cannot_revoke_someone_elses_token_through_the_api(app: Any) -> None:
    victim, attacker = issue_token(KEYRING, SECRETARY), issue_token(KEYRING, PROPOSER)
    victim_id = jti(victim)

    # A body naming another token's id is refused, naming the field; nothing is revoked.
    named = await call(app, "POST", "/tokens/revoke", {"jti": victim_id}, bearer(attacker))
    assert named.status == 422, named
    assert [e["field"] for e in named.json()["errors"]] == ["jti"]

    # A token carrying the victim's id but not the deployment's signature: 401, nothing revoked.
    header, payload, signature = attacker.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    altered = base64.urlsafe_b64encode(json.dumps(claims | {"jti": victim_id}).encode()).decode().rstrip("=")
    rogue_ring = Keyring(keys={KEYRING.current: "r" * 40}, current=KEYRING.current)
    rogue = jwt.encode(
        {"sub": PROPOSER, "iss": ISSUER, "iat": datetime.now(UTC), "exp": datetime.now(UTC) + timedelta(hours=1)}
        | {"jti": victim_id},
        rogue_ring.keys[rogue_ring.current],
        algorithm=ALGORITHM,
        headers={"kid": KEYRING.current},
    )
    for forged in (f"{header}.{altered}.{signature}", rogue):
        reply = await call(app, "POST", "/tokens/revoke", None, bearer(forged))
        assert reply.status == 401 and "signature" in reply.json()["detail"], reply

    async with app.state.services.engine().connect() as conn:
        listed = await conn.scalar(sa.select(revoked_tokens.c.jti).where(revoked_tokens.c.jti == victim_id))
    assert listed is None
    fresh = RevocationStore(app.state.services.engine())
    assert not await fresh.is_revoked(victim_id) and not await fresh.is_revoked(jti(attacker))


async def test_token_revocation_is_in_the_openapi_document(app: Any) -> None:
    document = (await call(app, "GET", "/openapi.json")).json()
    operation = document["paths"]["/tokens/revoke"]["post"]
    assert operation["security"] and operation["tags"] == ["tokens"]
    assert {"200", "401", "422", "503"} <= set(operation["responses"])
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    schemas = document["components"]["schemas"]
    referenced = body.get("$ref") or next(s["$ref"] for s in body.get("anyOf", []) if "$ref" in s)
    revocation_body = schemas[referenced.rsplit("/", 1)[1]]
    assert set(revocation_body["properties"]) == {"reason"} and revocation_body["additionalProperties"] is False


# ---- the inbox -----------------------------------------------------------------------------------------------


async def test_the_inbox_sends_a_revoked_cookie_back_to_sign_in_and_signing_out_revokes_the_token(app: Any) -> None:
    token, other = issue_token(KEYRING, CENTRAL), issue_token(KEYRING, CENTRAL)
    assert (await call(app, "GET", "/inbox", headers=cookie(token))).status == 200

    signed_out = await call(app, "POST", "/inbox/sign-out", b"", cookie(token))
    assert signed_out.status == 303 and signed_out.header("location") == "/inbox/sign-in"
    assert f"{COOKIE}=" in (signed_out.header("set-cookie") or "")  # the cookie is cleared

    # The same token, wherever it is used: the inbox sends it back to sign-in, the API refuses it.
    again = await call(app, "GET", "/inbox", headers=cookie(token))
    assert again.status == 303 and again.header("location") == "/inbox/sign-in"
    refused = await call(app, "GET", f"/inbox/sessions/ballot-council-BTP-{jti(token)[:8]}", headers=cookie(token))
    assert refused.status == 303 and refused.header("location") == "/inbox/sign-in"
    assert_revoked_problem(await listing(app, token), jti(token))

    # Signing in with it again is refused, naming the token's id.
    form = urlencode({"token": token}).encode()
    sign_in = await call(app, "POST", "/inbox/sign-in", form, [("content-type", "application/x-www-form-urlencoded")])
    assert sign_in.status == 401 and jti(token) in sign_in.text and "thu hồi" in sign_in.text

    # The actor's other token still signs in.
    assert (await call(app, "GET", "/inbox", headers=cookie(other))).status == 200


async def test_a_token_revoked_through_the_api_is_refused_by_the_inbox(app: Any) -> None:
    token = issue_token(KEYRING, CENTRAL)
    assert (await call(app, "POST", "/tokens/revoke", None, bearer(token))).status == 200
    refused = await call(app, "GET", "/inbox", headers=cookie(token))
    assert refused.status == 303 and refused.header("location") == "/inbox/sign-in"


# ---- the CLI -------------------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(client: Client, database_url: str, db_engine: AsyncEngine) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TDKT_TOKEN"}
    return (
        env
        | AUTH_ENV
        | {
            "TEMPORAL_ADDRESS": client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": client.namespace,
            "DATABASE_URL": database_url,
        }
    )


async def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(ROOT / "starter.py"), "--json", *args],  # the JSON document, not tables
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_the_cli_refuses_a_revoked_token_naming_it_and_revoking_twice_is_harmless(
    cli_env: dict[str, str], app: Any
) -> None:
    issued = await cli(cli_env, "token", "issue", "--for", CENTRAL, "--ttl-hours", "1")
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert f"token id (jti): {jti(token)}" in issued.stderr  # what an operator revokes by
    other = issue_token(KEYRING, CENTRAL)
    assert (await cli(cli_env, "--token", token, "list")).returncode == 0

    revoked = await cli(cli_env, "token", "revoke", "--token", token, "--reason", "đăng xuất")
    assert revoked.returncode == 0, revoked.stderr
    answer = json.loads(revoked.stdout)
    assert answer["jti"] == jti(token) and answer["actor"] == CENTRAL and answer["already_revoked"] is False

    again = await cli(cli_env | {"TDKT_TOKEN": token}, "token", "revoke")  # the token from TDKT_TOKEN
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {**answer, "already_revoked": True}
    assert "already revoked" in again.stderr

    refused = await cli(cli_env, "--token", token, "list")
    assert refused.returncode == 7, refused.stderr
    assert jti(token) in refused.stderr and "revoked" in refused.stderr and "thu hồi" in refused.stderr
    assert "Traceback" not in refused.stderr
    acting = await cli(cli_env, "--token", token, "withdraw", "nomination-2026-BTP-1", "--reason", "x")
    assert acting.returncode == 7 and jti(token) in acting.stderr
    assert (await cli(cli_env, "--token", other, "list")).returncode == 0  # the actor's other token
    assert_revoked_problem(await listing(app, token), jti(token))  # and the API, in another process


async def test_an_operator_with_the_signing_keys_revokes_any_token_by_its_id(cli_env: dict[str, str], app: Any) -> None:
    lost, kept = issue_token(KEYRING, SECRETARY), issue_token(KEYRING, SECRETARY)

    for args, field in (
        (("--jti", "not an id!", "--reason", "lost"), "--jti"),
        (("--jti", jti(lost)), "--reason"),
        (("--jti", jti(lost), "--reason", "x" * 501), "--reason"),
    ):
        bad = await cli(cli_env, "token", "revoke", *args)
        assert bad.returncode == 2 and f"  {field}:" in bad.stderr, bad.stderr

    done = await cli(cli_env, "token", "revoke", "--jti", jti(lost), "--reason", "máy tính bị mất")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["jti"] == jti(lost) and answer["actor"] is None and answer["already_revoked"] is False

    refused = await cli(cli_env, "--token", lost, "ballot", "status", "ballot-council-BTP-x")
    assert refused.returncode == 7 and jti(lost) in refused.stderr, refused.stderr
    assert_revoked_problem(await listing(app, lost), jti(lost))
    assert (await listing(app, kept)).status == 200
    own_again = await cli(cli_env, "--token", lost, "token", "revoke")  # the owner, after the operator
    assert own_again.returncode == 0 and json.loads(own_again.stdout)["already_revoked"] is True
