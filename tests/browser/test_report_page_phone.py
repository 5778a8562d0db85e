"""The inbox's report page on a 390 px phone in headless Chromium, for a central officer on a database seeded as
tests/integration/test_report_page.py seeds it: the SVG charts drawn within the screen's width with their bars'
counts, labels in Vietnamese, the decisions' times in Vietnam's time, nothing wider than the screen.

Screenshot (kept for the docs): docs/img/reports-390.png."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.async_api import Browser, ViewportSize, expect
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from api.inbox import COOKIE
from domain.calendar import VIETNAM_TZ
from security.tokens import Keyring, issue_token
from store.schema import decisions
from tests.browser.conftest import needs_chromium, serving
from tests.integration.helpers import CENTRAL
from tests.integration.test_report_page import seeded  # noqa: F401 - a fixture

pytestmark = [pytest.mark.integration, *needs_chromium]

KEYRING = Keyring(keys={"report-phone-test": "q" * 48}, current="report-phone-test")
PHONE = ViewportSize(width=390, height=844)


@pytest.fixture
async def served(client: Client, task_queue: str, seeded: AsyncEngine) -> AsyncIterator[str]:  # noqa: F811
    from api.app import create_app

    app = create_app(client, keyring=KEYRING, task_queue=task_queue, engine=seeded)
    async with serving(app) as url:
        yield url


async def test_the_report_page_fits_a_phone(
    screenshots: Path,
    browser: Browser,
    served: str,
    seeded: AsyncEngine,  # noqa: F811
) -> None:
    context = await browser.new_context(
        base_url=served, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
        locale="vi-VN", timezone_id="UTC",
    )  # fmt: skip
    token = issue_token(KEYRING, CENTRAL)
    await context.add_cookies([{"name": COOKIE, "value": token, "domain": "127.0.0.1", "path": "/inbox"}])
    page = await context.new_page()
    await page.goto("/inbox")
    await page.click("#reports-link a")
    await expect(page).to_have_url(f"{served}/inbox/reports")
    await expect(page.locator("h2").first).to_have_text("Báo cáo thống kê hồ sơ đề nghị khen thưởng")

    for chart_id, bars in (("chart-stage", 7), ("chart-outcome", 5)):
        svg = page.locator(f"#{chart_id} svg")
        await expect(svg).to_be_visible()
        await expect(page.locator(f"#{chart_id} g.bar")).to_have_count(bars)
        box = await svg.bounding_box()
        assert box is not None and 300 <= box["width"] <= PHONE["width"], box
    awarded = page.locator('#chart-outcome g.bar[data-code="AWARDED"]')
    await expect(awarded).to_have_attribute("data-value", "1")
    await expect(awarded).to_contain_text("Đã khen thưởng")
    await expect(page.locator('#chart-outcome g.bar[data-code="IN_PROGRESS"] text').last).to_have_text("3")

    async with seeded.connect() as conn:
        number, created_at = (
            await conn.execute(sa.select(decisions.c.decision_no, decisions.c.created_at).limit(1))
        ).one()
    recorded = page.locator(f'#latest-decisions tr[data-decision-no="{number}"] .recorded')
    await expect(recorded).to_contain_text(created_at.astimezone(VIETNAM_TZ).strftime("%d/%m/%Y %H:%M"))
    await expect(recorded).to_contain_text("(giờ Việt Nam)")

    widths = await page.evaluate("[document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]")
    assert widths[0] <= PHONE["width"] and widths[1] <= PHONE["width"] and widths[2] == PHONE["width"], widths
    await page.screenshot(path=str(screenshots / "reports-390.png"), full_page=True)
    await context.close()
