"""Signing in to the inbox with a one-time link, against PostgreSQL and the dev server.

A person names themselves (actor id or roster e-mail) on the sign-in page; a link with a random secret goes
through the outbox to the roster's address (only the secret's hash is stored); opening it shows a button, and
using it signs them in with the inbox's cookie, once. An expired or used link is refused; an unknown id gets
the very answer a known one gets; a fourth request within the window makes no link.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from api import create_app
from api.inbox import COOKIE
from security.tokens import verify_token
from store import sign_in
from store.schema import actors, notifications, sign_in_links
from tests.asgi import Reply, call
from tests.integration.helpers import CENTRAL, KEYRING, PROPOSER, SECRETARY, second_engine  # noqa: F401 - the engine fixture

pytestmark = pytest.mark.integration

FORM = [("content-type", "application/x-www-form-urlencoded")]
LINK = re.compile(r"https?://\S+/inbox/sign-in/open\?t=([A-Za-z0-9_-]+)")


@pytest.fixture
def app(client: Client, engine: AsyncEngine) -> Any:
    return create_app(client, keyring=KEYRING, task_queue="sign-in-tests", engine=engine)


async def ask(app: Any, who: str) -> Reply:
    return await call(app, "POST", "/inbox/sign-in/link", urlencode({"who": who}).encode(), FORM)


async def use(app: Any, secret: str) -> Reply:
    return await call(app, "POST", "/inbox/sign-in/open", urlencode({"t": secret}).encode(), FORM)


async def links_sent_to(engine: AsyncEngine, actor_id: str) -> list[Any]:
    """The outbox rows of sign-in links to `actor_id`, oldest first."""
    query = (
        sa.select(notifications)
        .where(notifications.c.party == actor_id, notifications.c.workflow_id.like(f"{sign_in.OUTBOX_PREFIX}%"))
        .order_by(notifications.c.id)
    )
    async with engine.connect() as conn:
        return list((await conn.execute(query)).all())


async def email_of(engine: AsyncEngine, actor_id: str) -> str:
    async with engine.connect() as conn:
        return str(await conn.scalar(sa.select(actors.c.email).where(actors.c.id == actor_id)))


def secret_in(body: str) -> str:
    found = LINK.search(body)
    assert found, body
    return found.group(1)


def cookie_token(reply: Reply) -> str:
    set_cookie = reply.header("set-cookie") or ""
    assert set_cookie.startswith(f"{COOKIE}="), set_cookie
    assert "httponly" in set_cookie.lower() and "samesite=strict" in set_cookie.lower() and "Path=/inbox" in set_cookie
    return set_cookie.split(";", 1)[0].split("=", 1)[1]


async def test_a_link_sent_through_the_outbox_signs_in_once(app: Any, engine: AsyncEngine) -> None:
    before = len(await links_sent_to(engine, PROPOSER))
    answer = await ask(app, PROPOSER)
    assert answer.status == 200 and 'id="link-sent"' in answer.text and "15 phút" in answer.text

    sent = await links_sent_to(engine, PROPOSER)
    assert len(sent) == before + 1
    mail = sent[-1]
    assert list(mail.recipients) == [await email_of(engine, PROPOSER)]
    assert mail.subject == "Đường dẫn đăng nhập Hộp việc thi đua – khen thưởng"
    assert "giờ Việt Nam" in mail.body and "một lần" in mail.body
    secret = secret_in(mail.body)
    assert len(secret) >= 40

    # Only the secret's hash is kept, with the actor, a 15-minute expiry, not yet used.
    digest = hashlib.sha256(secret.encode()).hexdigest()
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(sign_in_links).where(sign_in_links.c.token_hash == digest))).one()
        stored = " ".join(str(v) for v in (await conn.execute(sa.select(sign_in_links))).all())
    assert row.actor_id == PROPOSER and row.used_at is None
    assert timedelta(minutes=14) < row.expires_at - row.created_at <= timedelta(minutes=15)
    assert secret not in stored

    # Opening the link uses nothing (a mail scanner may open it): a button that posts the secret.
    opened = await call(app, "GET", "/" + "/".join(LINK.search(mail.body).group(0).split("/")[3:]))  # type: ignore[union-attr]
    assert opened.status == 200 and 'id="use-link"' in opened.text and f'value="{secret}"' in opened.text
    assert opened.header("referrer-policy") == "no-referrer"
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(sign_in_links.c.used_at).where(sign_in_links.c.token_hash == digest)) is None

    # Using it signs in: the inbox's cookie holds a token for the actor, and the inbox opens with it.
    signed_in = await use(app, secret)
    assert signed_in.status == 303 and signed_in.header("location") == "/inbox"
    token = cookie_token(signed_in)
    identity = verify_token(KEYRING, token)
    assert identity.actor == PROPOSER
    assert identity.expires_at - datetime.now(UTC) <= timedelta(hours=8)
    inbox = await call(app, "GET", "/inbox", headers=[("cookie", f"{COOKIE}={token}")])
    assert inbox.status == 200 and f'<strong id="who">{PROPOSER}</strong>' in inbox.text
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(sign_in_links.c.used_at).where(sign_in_links.c.token_hash == digest))

    # Once only.
    again = await use(app, secret)
    assert again.status == 401 and "đã dùng, đã hết hạn hoặc không đúng" in again.text
    assert again.header("set-cookie") is None


async def test_the_roster_address_is_also_a_name_to_ask_with(app: Any, engine: AsyncEngine) -> None:
    address = await email_of(engine, SECRETARY)
    before = len(await links_sent_to(engine, SECRETARY))
    assert (await ask(app, f"  {address.upper()} ")).status == 200
    sent = await links_sent_to(engine, SECRETARY)
    assert len(sent) == before + 1 and list(sent[-1].recipients) == [address]
    assert verify_token(KEYRING, cookie_token(await use(app, secret_in(sent[-1].body)))).actor == SECRETARY


async def test_an_expired_link_is_refused(app: Any, engine: AsyncEngine) -> None:
    made = datetime.now(UTC) - timedelta(minutes=16)
    outcome = await sign_in.request_link(engine, CENTRAL, made, "http://127.0.0.1/inbox/sign-in/open")
    assert outcome.outcome == sign_in.LinkOutcome.SENT
    secret = secret_in((await links_sent_to(engine, CENTRAL))[-1].body)
    refused = await use(app, secret)
    assert refused.status == 401 and "hết hạn" in refused.text and refused.header("set-cookie") is None
    # Just before its expiry it would have worked (the store's rule, at a chosen moment).
    assert await sign_in.redeem(engine, secret, made + timedelta(minutes=14)) == CENTRAL
    assert await sign_in.redeem(engine, secret, made + timedelta(minutes=14)) is None  # and then it is used
    # A day after it expired, the next request for any link deletes its row.
    digest = hashlib.sha256(secret.encode()).hexdigest()
    later = made + sign_in.LINK_TTL + sign_in.KEEP_EXPIRED + timedelta(minutes=1)
    await sign_in.request_link(engine, f"khong-co.{uuid.uuid4().hex[:8]}", later, "http://127.0.0.1/x")
    async with engine.connect() as conn:
        left = await conn.scalar(sa.select(sa.func.count()).where(sign_in_links.c.token_hash == digest))
    assert left == 0


async def test_an_unknown_id_gets_the_same_answer_and_no_mail(app: Any, engine: AsyncEngine) -> None:
    unknown = f"khong-co.{uuid.uuid4().hex[:8]}"
    known = await ask(app, "btp.hd.uy-vien-2")
    stranger = await ask(app, unknown)
    nobody = await ask(app, f"{unknown}@example.vn")
    assert known.status == stranger.status == nobody.status == 200
    assert known.text == stranger.text == nobody.text
    assert await links_sent_to(engine, unknown) == []
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).where(sign_in_links.c.actor_id == unknown)) == 0
    # An actor without an address: the same answer again, nothing queued.
    no_mail = f"khong-thu.{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        await conn.execute(actors.insert().values(id=no_mail, full_name="Trần Văn Thử", email=None, organisation="BTP"))
    try:
        assert (await ask(app, no_mail)).text == known.text
        assert await links_sent_to(engine, no_mail) == []
        outcome = await sign_in.request_link(engine, no_mail, datetime.now(UTC), "http://127.0.0.1/x")
        assert outcome.outcome == sign_in.LinkOutcome.NO_ADDRESS
    finally:
        async with engine.begin() as conn:
            await conn.execute(actors.delete().where(actors.c.id == no_mail))


async def test_links_are_rate_limited_per_actor(app: Any, engine: AsyncEngine) -> None:
    actor = "btp.hd.chu-tich"
    first = await ask(app, actor)
    before = len(await links_sent_to(engine, actor))
    async with engine.connect() as conn:
        made = await conn.scalar(
            sa.select(sa.func.count()).where(
                sign_in_links.c.actor_id == actor,
                sign_in_links.c.created_at > datetime.now(UTC) - sign_in.RATE_WINDOW,
            )
        )
    for _ in range(sign_in.MAX_LINKS_PER_WINDOW - int(made or 0)):
        assert (await ask(app, actor)).status == 200
    limited = await ask(app, actor)
    assert limited.status == 200 and limited.text == first.text  # the same answer: nothing said
    sent = await links_sent_to(engine, actor)
    assert len(sent) == before + sign_in.MAX_LINKS_PER_WINDOW - int(made or 0)
    outcome = await sign_in.request_link(engine, actor, datetime.now(UTC), "http://127.0.0.1/x")
    assert outcome.outcome == sign_in.LinkOutcome.RATE_LIMITED
    # Another actor is not held back by this one's limit; and after the window this one may ask again.
    assert (
        await sign_in.request_link(engine, "btp.hd.uy-vien-1", datetime.now(UTC), "http://127.0.0.1/x")
    ).outcome == (sign_in.LinkOutcome.SENT)
    later = datetime.now(UTC) + sign_in.RATE_WINDOW + timedelta(seconds=1)
    assert (await sign_in.request_link(engine, actor, later, "http://127.0.0.1/x")).outcome == sign_in.LinkOutcome.SENT


async def test_a_request_from_elsewhere_without_a_public_address_makes_no_link(
    client: Client, engine: AsyncEngine
) -> None:
    """Without TDKT_PUBLIC_URL the link would name the request's Host: only a loopback host is trusted."""
    app = create_app(client, keyring=KEYRING, task_queue="sign-in-tests", engine=engine)
    actor = "btp.hd.uy-vien-2"
    before = len(await links_sent_to(engine, actor))
    answer = await call(
        app, "POST", "/inbox/sign-in/link", urlencode({"who": actor}).encode(), [*FORM, ("host", "evil.example")]
    )
    assert answer.status == 200 and 'id="link-sent"' in answer.text
    assert len(await links_sent_to(engine, actor)) == before
