"""The browser inbox end to end in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

A BANG_KHEN_BO nomination reaches the council. A council member, on its counting committee (Ban kiểm phiếu),
enrolls a counting key made in the browser; the secretary opens a session naming the committee and closes its
list. In the browser the member votes: the page takes a blind-signed credential through the inbox, seals the
choices there and casts the anonymous ballot to the JSON API without cookie or token, and shows the receipt.
The other members vote through client.ballots. The session awaits the count: the member hands in their share
in the browser (decrypted there with the key from IndexedDB), another through the client; the session counts,
the nomination moves on, the receipt reads COUNTED, and the unit's staff see the new stage.

Every request the app received is recorded (an ASGI wrapper in front of it): no choice in the clear ever
reached it, the ballot came with no cookie, token or voter id, and no request carrying the cookie named the
receipt or the token.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import serialization
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from client import ballots as ballot_ops
from domain.ballot_messages import ChairAction, SessionPhase, SessionStart
from domain.ballots import BallotSessionKind, Choice, Voter, conflicted
from domain.stages import Stage
from security.tokens import Keyring, issue_token
from tests.browser.conftest import needs_chromium, serving
from tests.integration.helpers import SECRETARY, counting_key_of, start, wait_for_stage, wait_session_phase

pytestmark = [pytest.mark.integration, *needs_chromium]

VOTER = "btp.hd.uy-vien-1"
OTHER_VOTERS = ["btp.hd.chu-tich", "btp.hd.uy-vien-2"]
COMMITTEE = [VOTER, *OTHER_VOTERS]
UNIT_STAFF = "btp.vutckt.le-thi-hoa"
KEYRING = Keyring(keys={"browser-test": "b" * 48}, current="browser-test")
# A choice in the clear, however it might travel: a form field, a JSON value, a one-byte code, a field name.
CLEAR_CHOICE = re.compile(rb'\b(FOR|AGAINST|ABSTAIN)\b|"[FABX]"|\bchoices?\b')

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    @property
    def cookie(self) -> bool:
        return "tdkt_inbox_token" in self.headers.get("cookie", "")

    def carries(self, text: str) -> bool:
        return any(text.encode() in part for part in (self.path.encode(), self.query.encode(), self.body))


class Recording:
    """An ASGI wrapper that keeps every HTTP request the app is sent, its whole body read first (so a body
    the app would refuse unread is recorded too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.received: list[Received] = []

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = scope.get("query_string", b"").decode("latin-1")
        self.received.append(Received(scope["method"], scope["path"], query, headers, body))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


@pytest.fixture(scope="module")
async def served(client: Client, task_queue: str, db_engine: AsyncEngine) -> AsyncIterator[tuple[str, Recording]]:
    """The FastAPI app (inbox and JSON API) behind the recorder, served by uvicorn on this test's event loop."""
    from api.app import create_app

    app = Recording(create_app(client, keyring=KEYRING, task_queue=task_queue, engine=db_engine))
    async with serving(app) as url:
        yield url, app


async def signed_in(browser: Browser, base_url: str, actor: str) -> Page:
    context = await browser.new_context(base_url=base_url, locale="vi-VN")
    page = await context.new_page()
    await page.goto("/inbox")
    await expect(page).to_have_url(f"{base_url}/inbox/sign-in")
    await page.fill("#token", issue_token(KEYRING, actor))
    await page.click("#use-token")
    await expect(page).to_have_url(f"{base_url}/inbox")
    await expect(page.locator("#who")).to_have_text(actor)
    return page


async def council_session_voting_on(client: Client, task_queue: str, workflow_id: str) -> str:
    start_msg = SessionStart(
        kind=BallotSessionKind.COUNCIL,
        scope="BTP",
        meeting_ref=f"HD-WEB-{uuid.uuid4().hex[:8]}",
        opened_by=SECRETARY,
        deadline=datetime.now(UTC) + timedelta(minutes=10),
        policy_version="2025.07",
        reminder_before_seconds=0,
        committee=COMMITTEE,
    )
    handle = await ballot_ops.open_session(client, task_queue, start_msg)
    for _ in range(200):
        listed = await ballot_ops.session_status(client, handle.id)
        if workflow_id in {c.workflow_id for c in listed.candidates}:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"{workflow_id} did not join {handle.id}")
    await ballot_ops.close_list(client, handle.id, SECRETARY)
    await wait_session_phase(client, handle.id, lambda s: s.phase == SessionPhase.VOTING and s.keys is not None)
    return handle.id


async def test_a_bad_token_is_refused(browser: Browser, served: tuple[str, Recording]):
    base_url, _ = served
    context = await browser.new_context(base_url=base_url)
    page = await context.new_page()
    await page.goto("/inbox/sign-in")
    await page.fill("#token", "not-a-token")
    await page.click("#use-token")
    await expect(page.locator(".error")).to_contain_text("Mã đăng nhập không hợp lệ")
    assert not [c for c in await context.cookies() if c["name"] == "tdkt_inbox_token"]
    await context.close()


async def test_the_inbox_takes_no_plain_choices(browser: Browser, served: tuple[str, Recording]):
    """A form post of choices to the inbox (what the old ballot page sent) is refused, whoever posts it."""
    base_url, _ = served
    page = await signed_in(browser, base_url, VOTER)
    answer = await page.request.post(
        "/inbox/sessions/ballot-council-BTP-HD-PLAIN", form={"choice:nomination-x": "FOR"}, max_redirects=0
    )
    assert answer.status == 422
    assert "chỉ nhận phiếu đã niêm phong" in await answer.text()
    await page.context.close()


async def enroll_in_browser(page: Page) -> str:
    """The member makes a counting key in the browser and enrolls it, replacing the run's key file for them
    (the inbox offers the replacement when another key is enrolled). Returns the enrolled key id."""
    await page.goto("/inbox/counting-key")
    await expect(page.locator("main")).to_contain_text("Khóa được tạo và giữ ngay trong trình duyệt này")
    await expect(page.locator("#browser-key")).to_have_text("chưa có")
    await page.get_by_role("button", name=re.compile("Tạo \\(nếu chưa có\\) và đăng ký")).click()
    await expect(page.locator("#replace")).to_be_visible(timeout=30_000)  # RSA-3072 generation, then a 409
    await page.get_by_role("button", name="Thay bằng khóa của trình duyệt này").click()
    await expect(page.locator("#counting-status")).to_contain_text("Đã đăng ký khóa kiểm phiếu")
    key_id = (await page.locator("#enrolled-key").inner_text()).strip()
    await expect(page.locator("#browser-key")).to_have_text(key_id)
    return key_id


async def test_a_ballot_sealed_in_the_browser_is_counted_once_the_committee_hands_in(
    client: Client, task_queue: str, db_engine: AsyncEngine, browser: Browser, served: tuple[str, Recording]
):
    base_url, recorder = served
    nomination = await start(client, task_queue, "BANG_KHEN_BO")
    await wait_for_stage(client, nomination.id, Stage.COUNCIL_REVIEW)
    page = await signed_in(browser, base_url, VOTER)
    file_key = counting_key_of(VOTER).public_key()
    file_pem = file_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    key_id = await enroll_in_browser(page)
    try:
        enrolled = await ballot_ops.enrolled_counting_key(db_engine, VOTER)
        assert enrolled is not None and enrolled.key_id == key_id
        await vote_and_count(client, db_engine, browser, page, base_url, recorder, nomination.id, task_queue)
    finally:  # later tests hand in this member's share with the run's key file
        await ballot_ops.enroll_counting_key(db_engine, VOTER, file_pem.decode(), replace=True)
    await page.context.close()


async def vote_and_count(
    client: Client,
    db_engine: AsyncEngine,
    browser: Browser,
    page: Page,
    base_url: str,
    recorder: Recording,
    nomination_id: str,
    task_queue: str,
) -> None:
    session_id = await council_session_voting_on(client, task_queue, nomination_id)
    first_request = len(recorder.received)

    # The member finds the session awaiting their ballot and votes FOR on every nomination they may vote on.
    await page.goto("/inbox")
    row = page.locator(f'#awaiting tr[data-session-id="{session_id}"]')
    await expect(row).to_contain_text("giờ Việt Nam")
    await row.get_by_role("link", name="Bỏ phiếu").click()
    mine = page.locator(f'fieldset[data-workflow-id="{nomination_id}"]')
    await expect(mine).to_contain_text("Bằng khen")
    send = page.get_by_role("button", name="Gửi phiếu")
    await expect(send).to_be_enabled()  # the session's keys and the voter's class were read
    votable = page.locator("#ballot fieldset:not([disabled])")
    assert await votable.count() >= 1
    for index in range(await votable.count()):
        await votable.nth(index).get_by_label("Đồng ý", exact=True).check()
    await send.click()
    await expect(page.locator("#receipt")).to_contain_text(f"{session_id}:", timeout=20_000)
    receipt = (await page.locator("#receipt").inner_text()).strip()
    digest = receipt.rpartition(":")[2]
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    status = await ballot_ops.session_status(client, session_id)
    assert VOTER in status.voted and status.ballots_cast == 1

    # The session no longer awaits this member; the secretary sees who took a ballot.
    await page.goto("/inbox")
    await expect(page.locator(f'#awaiting tr[data-session-id="{session_id}"]')).to_have_count(0)
    secretary = await signed_in(browser, base_url, SECRETARY)
    await expect(secretary.locator(f'#sessions tr[data-session-id="{session_id}"] .turnout')).to_have_text(
        f"1/{status.electorate_size}"
    )
    await secretary.context.close()

    # The other members vote through client.ballots; the round's voting is over, the count awaits shares.
    for voter in OTHER_VOTERS:
        ballot = {
            c.workflow_id: Choice.FOR
            for c in status.candidates
            if not conflicted(Voter(id=voter, organisation="BTP"), c)
        }
        await ballot_ops.cast(client, session_id, voter, ballot)
    waiting = await wait_session_phase(client, session_id, lambda s: s.phase == SessionPhase.AWAITING_COUNT)
    assert waiting.keys is not None and waiting.keys.threshold == 2

    # The member hands in their share in the browser: listed in the inbox, decrypted with the key in IndexedDB.
    await page.goto("/inbox")
    counting = page.locator(f'#counting-shares tr[data-session-id="{session_id}"]')
    await expect(page.locator("#counting-shares h2")).to_have_text("Ban kiểm phiếu: chờ nộp mảnh khóa")
    await expect(counting.locator(".shares")).to_have_text("0/2")
    await counting.get_by_role("link", name="Nộp mảnh khóa").click()
    await page.get_by_role("button", name="Nộp mảnh khóa").click()
    await expect(page.locator("#shares-in")).to_have_text("Đã nộp 1/2 mảnh khóa", timeout=20_000)
    assert (await ballot_ops.session_status(client, session_id)).shares_in == 1

    # A second member through the client (CLI): the count runs, the nomination moves on.
    await ballot_ops.hand_in(client, db_engine, session_id, OTHER_VOTERS[0], counting_key_of(OTHER_VOTERS[0]))
    moved = await wait_for_stage(client, nomination_id, Stage.AWAITING_DECISION)
    assert moved.stage_label_vi == "Chờ quyết định khen thưởng"
    closed = await wait_session_phase(client, session_id, lambda s: s.phase == SessionPhase.CLOSED)
    assert receipt in (closed.counted_receipts or [])

    # The receipt, checked in the browser without the cookie, reads counted.
    await page.goto(f"/inbox/receipt#r={quote(receipt, safe='')}")
    await expect(page.locator("#counted")).to_have_text("Phiếu đã được kiểm.")

    unit = await signed_in(browser, base_url, UNIT_STAFF)
    stage_cell = unit.locator(f'#nominations tr[data-workflow-id="{nomination_id}"] .stage')
    for _ in range(50):
        if await stage_cell.count() and "Chờ quyết định khen thưởng" in await stage_cell.inner_text():
            break
        await asyncio.sleep(0.2)
        await unit.reload()
    await expect(stage_cell).to_have_text("Chờ quyết định khen thưởng")
    await unit.context.close()

    assert_nothing_in_the_clear(recorder.received[first_request:], session_id, digest)


def assert_nothing_in_the_clear(received: list[Received], session_id: str, digest: str) -> None:
    """What the app received while the member voted, handed in and checked the receipt."""
    assert received, "the recorder saw no request"
    for seen in received:
        assert not CLEAR_CHOICE.search(seen.body), f"{seen.method} {seen.path} carried a choice in the clear"
        assert not CLEAR_CHOICE.search(seen.query.encode()), f"{seen.method} {seen.path}?{seen.query}"

    casts = [r for r in received if r.method == "POST" and r.path == f"/ballot-sessions/{session_id}/ballots"]
    assert len(casts) == 1, [(r.method, r.path) for r in received]
    [cast] = casts
    assert "cookie" not in cast.headers and "authorization" not in cast.headers
    assert VOTER.encode() not in cast.body
    ballot = json.loads(cast.body)
    assert set(ballot) == {"round", "token", "token_signature", "ballot"}
    assert {len(base64.b64decode(v)) for v in ballot["ballot"]["sealed_choices"].values()} == {29}

    credentials = [r for r in received if r.path == f"/inbox/sessions/{session_id}/credentials"]
    assert len(credentials) == 1 and credentials[0].cookie
    # Nothing the inbox saw with the member's cookie names the token or the receipt: the ballot is not theirs.
    with_cookie = [r for r in received if r.cookie]
    assert with_cookie
    for seen in with_cookie:
        assert not seen.carries(ballot["token"]) and not seen.carries(digest), f"{seen.method} {seen.path}"
    checks = [r for r in received if r.path == "/inbox/receipt-state"]
    assert checks and all(not r.cookie and digest in r.query for r in checks)
    shares = [r for r in received if r.path == f"/inbox/sessions/{session_id}/shares"]
    assert len(shares) == 1 and shares[0].cookie and set(json.loads(shares[0].body)) == {"index", "share"}


async def test_a_ballot_that_did_not_go_out_is_sent_after_a_reload(
    client: Client, task_queue: str, browser: Browser, served: tuple[str, Recording]
):
    """The credential is taken (the session counts the voter as having one) but the ballot does not reach the
    API: the tab keeps the credential, never the choices, and after a reload the voter sends the ballot."""
    base_url, _ = served
    nomination = await start(client, task_queue, "BANG_KHEN_BO")
    await wait_for_stage(client, nomination.id, Stage.COUNCIL_REVIEW)
    session_id = await council_session_voting_on(client, task_queue, nomination.id)
    page = await signed_in(browser, base_url, VOTER)
    try:
        await page.goto(f"/inbox/sessions/{quote(session_id, safe='')}")
        await page.route("**/ballot-sessions/*/ballots", lambda route: route.abort())
        await expect(page.get_by_role("button", name="Gửi phiếu")).to_be_enabled()
        await page.get_by_label("Không đồng ý", exact=True).first.check()
        await page.get_by_role("button", name="Gửi phiếu").click()
        await expect(page.locator("#ballot-status")).to_contain_text("Phiếu chưa được gửi", timeout=20_000)
        status = await ballot_ops.session_status(client, session_id)
        assert VOTER in status.voted and status.ballots_cast == 0
        kept = await page.evaluate(f"sessionStorage.getItem('tdkt-credential:{session_id}')")
        assert kept and not CLEAR_CHOICE.search(kept.encode())

        await page.unroute("**/ballot-sessions/*/ballots")
        await page.reload()
        await expect(page.locator("#already")).to_be_visible()
        await expect(page.locator("#ballot-status")).to_contain_text("còn giữ thẻ bỏ phiếu chưa dùng")
        await page.get_by_label("Không đồng ý", exact=True).first.check()
        await page.get_by_role("button", name="Gửi phiếu").click()
        await expect(page.locator("#receipt")).to_contain_text(f"{session_id}:", timeout=20_000)
        assert (await ballot_ops.session_status(client, session_id)).ballots_cast == 1
        assert await page.evaluate("sessionStorage.length") == 0
    finally:
        chair = ChairAction(actor=OTHER_VOTERS[0], reason="Kết thúc phiên thử nghiệm")
        await ballot_ops.chair_action(client, session_id, "cancel", chair)
        await page.context.close()
