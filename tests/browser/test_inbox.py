"""The browser inbox end to end in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

A BANG_KHEN_BO nomination reaches the council; the secretary opens a session and closes its list; in the
browser a council member signs in with a token, finds the session, votes FOR on every nomination and sees
the receipt; the secretary sees the turnout; the other two members vote through runtime.ballots; the
nomination moves to AWAITING_DECISION and the unit's staff see its new stage in the browser.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from temporalio.client import Client

from domain.ballot_messages import SessionStart
from domain.ballots import BallotSessionKind, Choice, Voter, conflicted
from domain.stages import Stage
from runtime import ballots as ballot_ops
from runtime.auth import Keyring, issue_token
from tests.integration.helpers import SECRETARY, start, wait_for_stage

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
try:
    from playwright.async_api import Browser, Page, async_playwright, expect
except ImportError:  # pragma: no cover - depends on the environment
    async_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        async_playwright is None, reason="playwright is not installed (pip install -e '.[dev]' installs it)"
    ),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (apt-get install -y chromium)"),
]

VOTER = "btp.hd.uy-vien-1"
OTHER_VOTERS = ["btp.hd.chu-tich", "btp.hd.uy-vien-2"]
UNIT_STAFF = "btp.vutckt.le-thi-hoa"
KEYRING = Keyring(keys={"browser-test": "b" * 48}, current="browser-test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
async def base_url(client: Client, task_queue: str, db_engine: Any) -> AsyncIterator[str]:
    """The FastAPI app with the inbox mounted, served by uvicorn on this test's event loop."""
    import uvicorn

    from api.app import create_app

    app = create_app(client, keyring=KEYRING, task_queue=task_queue, engine=db_engine)  # the inbox is mounted
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _client(client: Client) -> Client:
    return client


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


async def signed_in(browser: Browser, base_url: str, actor: str) -> Page:
    context = await browser.new_context(base_url=base_url, locale="vi-VN")
    page = await context.new_page()
    await page.goto("/inbox")
    await expect(page).to_have_url(f"{base_url}/inbox/sign-in")
    await page.fill("#token", issue_token(KEYRING, actor))
    await page.click("button[type=submit]")
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
    return handle.id


async def test_a_bad_token_is_refused(browser: Browser, base_url: str):
    context = await browser.new_context(base_url=base_url)
    page = await context.new_page()
    await page.goto("/inbox/sign-in")
    await page.fill("#token", "not-a-token")
    await page.click("button[type=submit]")
    await expect(page.locator(".error")).to_contain_text("Mã đăng nhập không hợp lệ")
    assert not [c for c in await context.cookies() if c["name"] == "tdkt_inbox_token"]
    await context.close()


async def test_a_council_member_votes_in_the_browser(client: Client, task_queue: str, browser: Browser, base_url: str):
    nomination = await start(client, task_queue, "BANG_KHEN_BO")
    await wait_for_stage(client, nomination.id, Stage.COUNCIL_REVIEW)
    session_id = await council_session_voting_on(client, task_queue, nomination.id)

    # The council member signs in with a token, finds the session awaiting their ballot.
    page = await signed_in(browser, base_url, VOTER)
    cookie = next(c for c in await page.context.cookies() if c["name"] == "tdkt_inbox_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    row = page.locator(f'#awaiting tr[data-session-id="{session_id}"]')
    await expect(row).to_be_visible()
    await row.get_by_role("link", name="Bỏ phiếu").click()

    # The dossier summary, then FOR on every nomination they may vote on.
    mine = page.locator(f'fieldset[data-workflow-id="{nomination.id}"]')
    await expect(mine).to_contain_text("Bằng khen")
    votable = page.locator("#ballot fieldset:not([disabled])")
    assert await votable.count() >= 1
    for index in range(await votable.count()):
        await votable.nth(index).get_by_label("Đồng ý", exact=True).check()
    await page.get_by_role("button", name="Gửi phiếu").click()

    await expect(page.locator("#receipt")).to_contain_text(f"{session_id}:")
    receipt = (await page.locator("#receipt").inner_text()).strip()
    assert len(receipt.rpartition(":")[2]) == 64
    await expect(page.locator("#counted")).to_contain_text("chưa kết thúc")
    status = await ballot_ops.session_status(client, session_id)
    assert VOTER in status.voted

    # The session no longer awaits this member; a second ballot is not offered.
    await page.goto("/inbox")
    await expect(page.locator(f'#awaiting tr[data-session-id="{session_id}"]')).to_have_count(0)

    # The secretariat sees the session's turnout.
    secretary = await signed_in(browser, base_url, SECRETARY)
    await expect(secretary.locator(f'#sessions tr[data-session-id="{session_id}"] .turnout')).to_have_text(
        f"1/{status.electorate_size}"
    )
    await secretary.context.close()

    # The other members vote through runtime.ballots; the session closes and the nomination moves on.
    for voter in OTHER_VOTERS:
        ballot = {
            c.workflow_id: Choice.FOR
            for c in status.candidates
            if not conflicted(Voter(id=voter, organisation="BTP"), c)
        }
        await ballot_ops.cast(client, session_id, voter, ballot)
    moved = await wait_for_stage(client, nomination.id, Stage.AWAITING_DECISION)
    assert moved.stage_label_vi == "Chờ quyết định khen thưởng"

    # The receipt is counted now that the session has closed.
    for _ in range(50):
        await page.goto(f"/inbox/receipt?r={quote(receipt, safe='')}")
        if "đã được kiểm" in await page.locator("#counted").inner_text():
            break
        await asyncio.sleep(0.2)
    await expect(page.locator("#counted")).to_have_text("Phiếu đã được kiểm.")
    await page.context.close()

    # The unit's staff see the nomination's new stage (visibility catches up within moments).
    unit = await signed_in(browser, base_url, UNIT_STAFF)
    stage_cell = unit.locator(f'#nominations tr[data-workflow-id="{nomination.id}"] .stage')
    for _ in range(50):
        if await stage_cell.count() and "Chờ quyết định khen thưởng" in await stage_cell.inner_text():
            break
        await asyncio.sleep(0.2)
        await unit.reload()
    await expect(stage_cell).to_have_text("Chờ quyết định khen thưởng")
    await unit.context.close()
