"""The inbox's report page (``/inbox/reports``) for the council secretariat (COUNCIL_SECRETARY) and the central
board (CENTRAL_OFFICER, CENTRAL_HEAD of TW): how many nominations stand at each stage and how many ended in
each outcome, as bar charts drawn on the server (inline SVG: no script, nothing fetched, printable), each with
its table of counts, and the latest decisions recorded.

The counts are client/reports.py's (`starter.py report`'s), within the reader's scope (domain/access.py): the
central board counts every nomination, a secretary their ministry's (and whatever else their grants let them
read). Anyone else signed in gets a 403 page; no one signed in is sent to the sign-in form. Labels are
Vietnamese, times Vietnam's, and the page fits a 390 px phone (the charts scale to the screen's width).

The sign-in is the inbox's own: the same cookie, verified and checked against the revoked tokens on every
request (api/inbox.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from api.inbox import CENTRAL_ROLES, COOKIE, PREFIX, TEMPLATES, Clock, EngineSource, roles
from client import access
from client.reports import (
    IN_PROGRESS,
    OUTCOME_LABELS_VI,
    OUTCOMES,
    CountRow,
    count_nominations,
    list_decisions,
    outcome_of,
)
from client.revocation import RevocationStore, RevocationUnavailable
from domain.catalog import AUTHORITY_LABELS_VI, Authority
from domain.roster import CENTRAL_SCOPE, Actor, Role
from security.tokens import AuthError, Identity, Keyring, verify_token
from store.schema import ministries

REPORT_PATH = "/reports"
REPORT_ROLES = (Role.COUNCIL_SECRETARY, *CENTRAL_ROLES)
LATEST_DECISIONS = 10
# The chart's drawing box: 360 units wide, as wide as a 390 px phone's content; the SVG scales to its width.
CHART_WIDTH = 360
ROW_HEIGHT = 38
LABEL_HEIGHT = 14
BAR_HEIGHT = 16
VALUE_ROOM = 56  # right of the longest bar: its count
# One colour per outcome (a stage's bar takes its outcome's: in progress, awarded, ...).
OUTCOME_COLOURS = {
    IN_PROGRESS: "#2f6fb3",
    "AWARDED": "#2e8b57",
    "REJECTED": "#b23b3b",
    "WITHDRAWN": "#8a6d3b",
    "LAPSED": "#777777",
}


def may_see_reports(actor: Actor | None) -> bool:
    """A council secretary of any ministry, or the central board's officers and head."""
    if actor is None:
        return False
    if roles(actor, Role.COUNCIL_SECRETARY):
        return True
    return any(g.scope == CENTRAL_SCOPE for r in CENTRAL_ROLES for g in roles(actor, r))


@dataclass(frozen=True)
class Bar:
    code: str
    label_vi: str
    value: int
    colour: str
    y: float  # the label's baseline; the bar lies under it
    width: float

    @property
    def bar_y(self) -> float:
        return self.y + 4

    @property
    def value_x(self) -> float:
        return self.width + 6


@dataclass(frozen=True)
class BarChart:
    """A horizontal bar chart: one labelled bar a row, its count at the bar's end."""

    chart_id: str
    title_vi: str
    bars: tuple[Bar, ...]
    width: int = CHART_WIDTH

    @property
    def height(self) -> int:
        return len(self.bars) * ROW_HEIGHT + 4

    @property
    def total(self) -> int:
        return sum(b.value for b in self.bars)


def bar_chart(chart_id: str, title_vi: str, items: Sequence[tuple[str, str, int, str]]) -> BarChart:
    """(code, label, value, colour) rows as bars scaled to the largest value (a zero is no bar, its 0 shown)."""
    largest = max((value for _, _, value, _ in items), default=0)
    span = CHART_WIDTH - VALUE_ROOM
    bars = tuple(
        Bar(
            code=code,
            label_vi=label,
            value=value,
            colour=colour,
            y=index * ROW_HEIGHT + LABEL_HEIGHT,
            width=round(span * value / largest, 1) if largest else 0.0,
        )
        for index, (code, label, value, colour) in enumerate(items)
    )
    return BarChart(chart_id=chart_id, title_vi=title_vi, bars=bars)


def report_charts(rows: Sequence[CountRow]) -> tuple[BarChart, BarChart]:
    """The stage chart (stages found, in the procedure's order) and the outcome chart (every outcome, zeros too)."""
    stages = [
        (str(r.value), r.label_vi, r.total, OUTCOME_COLOURS.get(outcome_of(str(r.value)), "#777777"))
        for r in rows
        if r.dimension == "stage"
    ]
    found = {str(r.value): r.total for r in rows if r.dimension == "outcome"}
    outcomes = [(o, OUTCOME_LABELS_VI[o], found.get(o, 0), OUTCOME_COLOURS[o]) for o in OUTCOMES]
    return (
        bar_chart("chart-stage", "Hồ sơ theo giai đoạn xử lý", stages),
        bar_chart("chart-outcome", "Hồ sơ theo kết quả", outcomes),
    )


def authority_vi(authority: str) -> str:
    try:
        return AUTHORITY_LABELS_VI[Authority(authority)]
    except ValueError:
        return authority


def parse_year(raw: str) -> int | None:
    """The `year` filter: empty for every year; ValueError with a Vietnamese message otherwise."""
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit() or not 2000 <= int(raw) <= 2100:
        raise ValueError(f"Năm «{raw}» không hợp lệ: nhập năm từ 2000 đến 2100, hoặc để trống để xem mọi năm.")
    return int(raw)


def report_router(
    keyring: Keyring,
    *,
    engine: EngineSource | None = None,
    clock: Clock | None = None,
    revocations: RevocationStore | None = None,
) -> APIRouter:
    """The report page's route (every path under /inbox, as the inbox's); `engine` the database holding the
    roster and the register (an engine, or a callable giving one), as inbox_router takes it."""
    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    engines: list[AsyncEngine] = [engine] if isinstance(engine, AsyncEngine) else []
    now: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))

    def database() -> AsyncEngine:
        if not engines:
            if callable(engine):
                engines.append(engine())
            else:
                from store.db import create_engine, default_database_url

                engines.append(create_engine(default_database_url()))
        return engines[0]

    revoked = revocations or RevocationStore(database)

    async def signed_in(request: Request) -> Identity | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        try:
            return await revoked.check(verify_token(keyring, token))
        except (AuthError, ValueError, RevocationUnavailable):
            return None  # back to sign-in, as the inbox does

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)

    @router.get(REPORT_PATH, response_class=HTMLResponse)
    async def reports(request: Request, year: str = "") -> Response:
        identity = await signed_in(request)
        if identity is None:
            return RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
        try:
            actor, scope = await access.reader_on_roster(database(), identity.actor)
            if not may_see_reports(actor):
                text = (
                    f"Trang báo cáo dành cho thư ký Hội đồng Thi đua – Khen thưởng và Ban Thi đua – Khen thưởng "
                    f"Trung ương; tài khoản {identity.actor} không giữ vai trò nào trong số đó."
                )
                return page(
                    request, "message.html", status_code=403, identity=identity, title="Không được phép xem", text=text
                )
            error: str | None = None
            try:
                chosen_year = parse_year(year)
            except ValueError as err:
                chosen_year, error = None, str(err)
            rows = await count_nominations(database(), ("stage", "outcome"), year=chosen_year, scope=scope)
            decisions = await list_decisions(database(), year=chosen_year, scope=scope)
            async with database().connect() as conn:
                names = {r.code: r.name for r in await conn.execute(sa.select(ministries.c.code, ministries.c.name))}
        except SQLAlchemyError:
            return page(
                request,
                "message.html",
                status_code=503,
                identity=identity,
                title="Không đọc được số liệu",
                text="Cơ sở dữ liệu tạm thời không trả lời; vui lòng thử lại sau ít phút.",
            )
        if scope.everything:
            scope_vi = "toàn bộ hồ sơ (Ban Thi đua – Khen thưởng Trung ương)"
        else:
            readable = [names.get(code, code) for code in sorted(scope.ministries)]
            scope_vi = "hồ sơ của " + (", ".join(readable) if readable else "các đơn vị được xem")
            if scope.blocs:
                scope_vi += " và hồ sơ của khối thi đua " + ", ".join(sorted(scope.blocs))
        stage_chart, outcome_chart = report_charts(rows)
        latest = sorted(decisions, key=lambda d: d.created_at, reverse=True)[:LATEST_DECISIONS]
        return page(
            request,
            "reports.html",
            status_code=400 if error else 200,
            identity=identity,
            actor=actor,
            scope_vi=scope_vi,
            year=chosen_year,
            year_text=year.strip(),
            error=error,
            made_at=now(),
            charts=(stage_chart, outcome_chart),
            decisions=latest,
            decisions_total=len(decisions),
            authority_vi=authority_vi,
        )

    return router
