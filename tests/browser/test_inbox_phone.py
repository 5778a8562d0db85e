"""The inbox on a 390 px phone in headless Chromium: signed in by a one-time link from the outbox, the sessions
awaiting the voter with their deadlines in Vietnam's time, nothing wider than the screen, and a long ballot
agreed with "Đồng ý tất cả", which marks every nomination FOR and asks before the ballot is sealed and sent.

Screenshots (written to docs/img only with TDKT_UPDATE_SCREENSHOTS=1): docs/img/inbox-390.png (the inbox),
docs/img/ballot-390-confirm.png (the ballot with the confirmation open).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.async_api import Browser, Page, ViewportSize, expect
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from api.inbox import vn_time
from client import ballots as ballot_ops
from domain.ballot_messages import ChairAction, SessionPhase, SessionStart
from domain.ballots import BallotSessionKind
from domain.calendar import VIETNAM_TZ
from domain.stages import Stage
from security.tokens import Keyring
from store import sign_in
from store.schema import notifications
from tests.browser.conftest import needs_chromium, serving
from tests.integration.helpers import (
    PROPOSER,
    SECRETARY,
    clear_stage,
    start,
    wait_for_stage,
    wait_session_phase,
)

pytestmark = [pytest.mark.integration, *needs_chromium]

VOTER = "btp.hd.uy-vien-2"
CHAIR = "btp.hd.chu-tich"
COMMITTEE = ["btp.hd.chu-tich", "btp.hd.uy-vien-1", "btp.hd.uy-vien-2"]
KEYRING = Keyring(keys={"phone-test": "p" * 48}, current="phone-test")
PHONE = ViewportSize(width=390, height=844)
LINK = re.compile(r"https?://\S+/inbox/sign-in/open\?t=[A-Za-z0-9_-]+")
NOMINATIONS = 4


@pytest.fixture(scope="module")
async def served(client: Client, task_queue: str, db_engine: AsyncEngine) -> AsyncIterator[str]:
    """The app (inbox and JSON API) served by uvicorn on this test's event loop, on the loopback address (so
    sign-in links name it without TDKT_PUBLIC_URL)."""
    from api.app import create_app

    app = create_app(client, keyring=KEYRING, task_queue=task_queue, engine=db_engine)
    async with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
async def long_session(client: Client, task_queue: str, db_engine: AsyncEngine) -> AsyncIterator[str]:
    """A council session voting on several nominations of BTP (its list closed once all have joined); what
    other tests left waiting in BTP's council is withdrawn first, or the session would take it up too."""
    await clear_stage(client, db_engine, "BTP", Stage.COUNCIL_REVIEW, PROPOSER)
    handles = [await start(client, task_queue, "BANG_KHEN_BO") for _ in range(NOMINATIONS)]
    for handle in handles:
        await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    opened = await ballot_ops.open_session(
        client,
        task_queue,
        SessionStart(
            kind=BallotSessionKind.COUNCIL,
            scope="BTP",
            meeting_ref=f"HD-PHONE-{uuid.uuid4().hex[:8]}",
            opened_by=SECRETARY,
            deadline=datetime.now(UTC) + timedelta(minutes=20),
            policy_version="2025.07",
            reminder_before_seconds=0,
            committee=COMMITTEE,
        ),
    )
    wanted = {h.id for h in handles}
    for _ in range(300):
        listed = await ballot_ops.session_status(client, opened.id)
        if wanted <= {c.workflow_id for c in listed.candidates}:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"the nominations did not all join {opened.id}")
    await ballot_ops.close_list(client, opened.id, SECRETARY)
    await wait_session_phase(client, opened.id, lambda s: s.phase == SessionPhase.VOTING and s.keys is not None)
    try:
        yield opened.id
    finally:
        current = await ballot_ops.session_status(client, opened.id)
        if current.phase not in (SessionPhase.CLOSED, SessionPhase.CANCELLED):
            chair = ChairAction(actor=CHAIR, reason="Kết thúc phiên thử nghiệm trên điện thoại")
            await ballot_ops.chair_action(client, opened.id, "cancel", chair)


async def latest_link(engine: AsyncEngine, actor_id: str) -> str:
    query = (
        sa.select(notifications.c.body)
        .where(notifications.c.party == actor_id, notifications.c.workflow_id.like(f"{sign_in.OUTBOX_PREFIX}%"))
        .order_by(notifications.c.id.desc())
        .limit(1)
    )
    async with engine.connect() as conn:
        body = await conn.scalar(query)
    found = LINK.search(body or "")
    assert found, body
    return found.group(0)


async def phone_signed_in_by_link(browser: Browser, base_url: str, engine: AsyncEngine, actor: str) -> Page:
    """A 390 px phone (its clock in UTC: the times shown are the server's, in Vietnam's time) signed in by the
    one-time link the sign-in page sends."""
    context = await browser.new_context(
        base_url=base_url, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
        locale="vi-VN", timezone_id="UTC",
    )  # fmt: skip
    page = await context.new_page()
    await page.goto("/inbox")
    await expect(page).to_have_url(f"{base_url}/inbox/sign-in")
    await page.fill("#who", actor)
    await page.click("#ask-link")
    await expect(page.locator("#link-sent")).to_contain_text("một lần, trong 15 phút")
    await page.goto(await latest_link(engine, actor))
    await page.click("#use-link")
    await expect(page).to_have_url(f"{base_url}/inbox")
    await expect(page.locator("#who")).to_have_text(actor)
    return page


async def assert_fits(page: Page) -> None:
    """Nothing on the page is wider than the phone: no horizontal scroll."""
    widths = await page.evaluate("[document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]")
    assert widths[0] <= PHONE["width"] and widths[1] <= PHONE["width"] and widths[2] == PHONE["width"], widths


async def test_the_inbox_fits_a_phone_with_vietnam_times(
    screenshots: Path, client: Client, browser: Browser, served: str, db_engine: AsyncEngine, long_session: str
) -> None:
    page = await phone_signed_in_by_link(browser, served, db_engine, VOTER)
    status = await ballot_ops.session_status(client, long_session)
    row = page.locator(f'#awaiting tr[data-session-id="{long_session}"]')
    deadline = row.locator(".deadline")
    await expect(deadline).to_have_text(vn_time(status.deadline))
    assert vn_time(status.deadline).endswith("(giờ Việt Nam)")
    local = status.deadline.astimezone(VIETNAM_TZ)
    assert local.strftime("%d/%m/%Y %H:%M") in await deadline.inner_text()
    assert status.deadline.astimezone(UTC).strftime("%H:%M") != local.strftime("%H:%M")  # not UTC's clock
    await expect(row).to_contain_text(str(NOMINATIONS))
    # On a phone each row is a block of labelled lines; the table's heading row is not shown.
    assert await deadline.evaluate("e => getComputedStyle(e).display") == "block"
    assert await deadline.evaluate("e => getComputedStyle(e, '::before').content") == '"Hạn bỏ phiếu: "'
    await assert_fits(page)
    await page.screenshot(path=str(screenshots / "inbox-390.png"), full_page=True)
    await page.context.close()


async def test_agree_all_marks_every_nomination_and_asks_before_sending(
    screenshots: Path, client: Client, browser: Browser, served: str, db_engine: AsyncEngine, long_session: str
) -> None:
    page = await phone_signed_in_by_link(browser, served, db_engine, VOTER)
    await page.locator(f'#awaiting tr[data-session-id="{long_session}"]').get_by_role("link", name="Bỏ phiếu").click()
    agree_all = page.get_by_role("button", name="Đồng ý tất cả")
    await expect(agree_all).to_be_enabled()  # the session's keys and the voter's class were read
    open_sets = page.locator("#ballot fieldset[data-workflow-id]:not([disabled])")
    votable = await open_sets.count()
    assert votable >= NOMINATIONS
    await page.get_by_label("Không đồng ý", exact=True).first.check()  # a choice agree-all then overrides

    await agree_all.click()
    confirm = page.locator("#confirm-all")
    await expect(confirm).to_be_visible()
    await expect(confirm).to_contain_text(f"cả {votable} đề nghị")
    assert await page.locator('#ballot input[value="FOR"]:checked').count() == votable
    assert (
        await page.locator('#ballot input[value="AGAINST"]:checked, #ballot input[value="ABSTAIN"]:checked').count()
        == 0
    )
    await assert_fits(page)
    await page.screenshot(path=str(screenshots / "ballot-390-confirm.png"))
    # Nothing is sent before the voter confirms: no credential taken, no ballot cast.
    status = await ballot_ops.session_status(client, long_session)
    assert VOTER not in status.voted and status.ballots_cast == 0

    # "Xem lại" closes the question and leaves the marks for the voter to change.
    await page.get_by_role("button", name="Xem lại từng đề nghị").click()
    await expect(confirm).to_be_hidden()
    assert await page.locator('#ballot input[value="FOR"]:checked').count() == votable
    assert VOTER not in (await ballot_ops.session_status(client, long_session)).voted

    await agree_all.click()
    await page.get_by_role("button", name="Xác nhận và gửi phiếu").click()
    await expect(page.locator("#receipt")).to_contain_text(f"{long_session}:", timeout=30_000)
    await expect(agree_all).to_be_hidden()
    status = await ballot_ops.session_status(client, long_session)
    assert VOTER in status.voted and status.ballots_cast == 1
    await assert_fits(page)
    await page.context.close()
