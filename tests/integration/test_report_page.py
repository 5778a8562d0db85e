"""The inbox's report page (/inbox/reports, api/report_page.py) through the app's ASGI interface, on a database of
its own seeded as test_reports.py seeds it (so the counts are exact whatever other tests recorded): the SVG
bars' counts by stage and by outcome for a central officer (every nomination) and for BTP's council secretary
(BTP's only), the year filter, decisions' times in Vietnam's time, the link from the inbox for those roles
only, a 403 for unit staff and the sign-in form for no one signed in."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from api import create_app
from api.inbox import COOKIE
from api.report_page import CHART_WIDTH
from security.tokens import Keyring, issue_token
from store.db import create_engine
from store.schema import decisions
from tests.asgi import call
from tests.conftest import new_database
from tests.integration.helpers import CENTRAL, PROPOSER, SECRETARY
from tests.integration.test_reports import seed

pytestmark = pytest.mark.integration

RING = Keyring(keys={"report-page-test": "r" * 40}, current="report-page-test")
BAR = re.compile(r'<g class="bar" data-code="([A-Z_]+)" data-label="([^"]*)" data-value="(\d+)">')
VIETNAM = timezone(timedelta(hours=7))


@pytest.fixture(scope="module")
async def seeded() -> AsyncIterator[AsyncEngine]:
    async with new_database("tdkt_report_page") as url:
        engine = create_engine(url)
        try:
            await seed(engine)
            yield engine
        finally:
            await engine.dispose()


@pytest.fixture
def app(client: Client, task_queue: str, seeded: AsyncEngine) -> Any:
    return create_app(client, keyring=RING, task_queue=task_queue, engine=seeded)


async def get(app: Any, url: str, actor_id: str | None) -> tuple[int, str, str | None]:
    headers = [("cookie", f"{COOKIE}={issue_token(RING, actor_id)}")] if actor_id else []
    reply = await call(app, "GET", url, headers=headers)
    return reply.status, reply.text, reply.header("location")


def bars(page: str, chart_id: str) -> dict[str, int]:
    """The chart's bars as the SVG draws them: code → count."""
    figure = page.split(f'<figure class="chart" id="{chart_id}">', 1)[1].split("</figure>", 1)[0]
    svg = figure.split("<svg", 1)[1].split("</svg>", 1)[0]
    return {code: int(value) for code, _, value in BAR.findall(svg)}


async def test_a_central_officer_sees_every_nomination_counted(app: Any, seeded: AsyncEngine) -> None:
    status, page, _ = await get(app, "/inbox/reports", CENTRAL)
    assert status == 200, page
    assert f'viewBox="0 0 {CHART_WIDTH} ' in page and 'width="100%"' in page  # scales down to a phone's width
    assert bars(page, "chart-stage") == {
        "COUNCIL_REVIEW": 1,
        "CENTRAL_REVIEW": 1,
        "AWAITING_DECISION": 1,
        "AWARDED": 1,
        "REJECTED": 1,
        "WITHDRAWN": 1,
        "LAPSED": 1,
    }
    assert bars(page, "chart-outcome") == {"IN_PROGRESS": 3, "AWARDED": 1, "REJECTED": 1, "WITHDRAWN": 1, "LAPSED": 1}
    text = html.unescape(page)
    for expected in (
        "Báo cáo thống kê hồ sơ đề nghị khen thưởng",
        "Hồ sơ theo giai đoạn xử lý",
        'data-label="Đã khen thưởng"',
        "Phạm vi: toàn bộ hồ sơ (Ban Thi đua – Khen thưởng Trung ương); mọi năm.",
        "(giờ Việt Nam)",
    ):
        assert expected in text, expected
    # Each decision's recorded moment as Vietnam's clocks showed it.
    async with seeded.connect() as conn:
        recorded = (await conn.execute(sa.select(decisions.c.decision_no, decisions.c.created_at))).all()
    assert len(recorded) == 3
    for number, created_at in recorded:
        row = text.split(f'<tr data-decision-no="{number}">', 1)[1].split("</tr>", 1)[0]
        shown = created_at.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M")
        assert f"{shown} (giờ Việt Nam)" in row, row

    # One year: 2025's withdrawn nomination is left out.
    status, page, _ = await get(app, "/inbox/reports?year=2026", CENTRAL)
    assert status == 200
    assert bars(page, "chart-outcome") == {"IN_PROGRESS": 3, "AWARDED": 1, "REJECTED": 1, "WITHDRAWN": 0, "LAPSED": 1}
    assert "WITHDRAWN" not in bars(page, "chart-stage")
    status, page, _ = await get(app, "/inbox/reports?year=abc", CENTRAL)
    assert status == 400 and "Năm «abc» không hợp lệ" in html.unescape(page)

    # The inbox links the page for the central board.
    status, inbox, _ = await get(app, "/inbox", CENTRAL)
    assert status == 200 and 'href="/inbox/reports"' in inbox


async def test_a_council_secretary_sees_the_ministry_s_nominations_only(app: Any) -> None:
    status, page, _ = await get(app, "/inbox/reports", SECRETARY)
    assert status == 200, page
    assert bars(page, "chart-stage") == {"COUNCIL_REVIEW": 1, "AWARDED": 1, "REJECTED": 1, "WITHDRAWN": 1}
    assert bars(page, "chart-outcome") == {"IN_PROGRESS": 1, "AWARDED": 1, "REJECTED": 1, "WITHDRAWN": 1, "LAPSED": 0}
    assert "Phạm vi: hồ sơ của Bộ Tư pháp" in html.unescape(page)
    assert 'data-decision-no="1520/QĐ-TTg"' not in page  # no BTP nomination on it
    status, inbox, _ = await get(app, "/inbox", SECRETARY)
    assert status == 200 and 'href="/inbox/reports"' in inbox


async def test_unit_staff_are_refused_and_no_one_signed_in_is_sent_to_sign_in(app: Any) -> None:
    status, page, _ = await get(app, "/inbox/reports", PROPOSER)
    assert status == 403, page
    assert "Không được phép xem" in page and "<svg" not in page
    status, inbox, _ = await get(app, "/inbox", PROPOSER)
    assert status == 200 and 'href="/inbox/reports"' not in inbox  # not linked for unit staff
    status, _, location = await get(app, "/inbox/reports", None)
    assert status == 303 and location == "/inbox/sign-in"
