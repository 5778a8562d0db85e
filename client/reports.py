"""Reports from the permanent record: counts of nominations and the list of decisions, on screen or
exported to CSV or XLSX (headings in Vietnamese, the same cell rules as a decision's export); the command
is `starter.py report` (cli/reports.py).

Counts come from the `nominations` table (one row per nomination, its current stage): for each value of
a dimension, the total and how many are in progress, awarded, rejected, withdrawn or lapsed (the outcome).
Without --by every dimension is reported, one after the other.

Reports follow the roster (domain/access.py): they count and list only what the reader — the token's actor —
may read; the central board reads everything, an actor not on the roster is refused.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.catalog import AUTHORITY_LABELS_VI, Authority, policy_sets
from domain.stages import FINAL_STAGES, Stage

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from domain.access import ReadScope

REPORT_FORMATS = (".csv", ".xlsx")

DIMENSIONS: tuple[str, ...] = ("ministry", "bloc", "year", "award_form", "stage", "outcome")
DIMENSION_LABELS_VI: dict[str, str] = {
    "ministry": "Bộ/ngành",
    "bloc": "Khối thi đua",
    "year": "Năm",
    "award_form": "Hình thức khen thưởng",
    "stage": "Giai đoạn",
    "outcome": "Kết quả",
}
IN_PROGRESS = "IN_PROGRESS"
OUTCOMES: tuple[str, ...] = (IN_PROGRESS, "AWARDED", "REJECTED", "WITHDRAWN", "LAPSED")
OUTCOME_LABELS_VI: dict[str, str] = {
    IN_PROGRESS: "Đang xử lý",
    "AWARDED": "Đã khen thưởng",
    "REJECTED": "Không được khen thưởng",
    "WITHDRAWN": "Đơn vị rút đề nghị",
    "LAPSED": "Quá hạn bổ sung hồ sơ",
}
NO_BLOC_VI = "(không thuộc khối thi đua)"
COUNT_HEADERS: tuple[str, ...] = ("Tiêu chí", "Mã", "Tên", "Tổng số", *(OUTCOME_LABELS_VI[o] for o in OUTCOMES))
DECISION_HEADERS: tuple[str, ...] = (
    "STT",
    "Số quyết định",
    "Ngày quyết định",
    "Cấp quyết định",
    "Người ghi nhận",
    "Số hồ sơ được khen thưởng",
    "Số hồ sơ bị từ chối",
    "Thời điểm ghi nhận",
)
COUNTS_SHEET = "Thống kê hồ sơ"
DECISIONS_SHEET = "Quyết định khen thưởng"
DATETIME_FORMAT_VI = "%d/%m/%Y %H:%M"


def outcome_of(stage: str) -> str:
    """A final stage is the outcome; every other stage is still in progress."""
    return stage if stage in {s.value for s in FINAL_STAGES} else IN_PROGRESS


@dataclass(frozen=True)
class CountRow:
    dimension: str  # one of DIMENSIONS
    value: str | int | None  # the code (ministry, bloc, form, stage, outcome) or the year; None: no bloc
    label_vi: str
    total: int
    outcomes: dict[str, int]  # every key of OUTCOMES, zeros included


@dataclass(frozen=True)
class DecisionListRow:
    decision_no: str
    decision_date: date
    authority: str
    actor: str
    accepted: int
    refused: int
    created_at: datetime


# ---- queries -------------------------------------------------------------------------------------------


def _award_form_names() -> tuple[dict[str, str], list[str]]:
    """Each form's Vietnamese name (the newest policy's wording) and the catalog's order of forms."""
    names: dict[str, str] = {}
    order: list[str] = []
    for version in sorted(policy_sets(), reverse=True):
        for code, form in policy_sets()[version].award_forms.items():
            names.setdefault(code, form.name_vi)
            if code not in order:
                order.append(code)
    return names, order


def _sort_key(dimension: str, value: Any, form_order: list[str]) -> tuple[Any, ...]:
    if value is None:
        return (1, "")
    if dimension == "award_form":
        return (0, form_order.index(value) if value in form_order else len(form_order), value)
    if dimension == "stage":
        members = list(Stage.__members__)
        return (0, members.index(value) if value in members else len(members), value)
    if dimension == "outcome":
        return (0, OUTCOMES.index(value), value)
    return (0, value)


async def count_nominations(
    engine: AsyncEngine, by: Sequence[str] = DIMENSIONS, *, year: int | None = None, scope: ReadScope | None = None
) -> list[CountRow]:
    """For each dimension in `by` (in that order), one row per value found, ordered by code (forms and
    stages in the catalog's order, a missing bloc last), with the total and the count per outcome. With
    `scope`, only the nominations that reader may read are counted."""
    import sqlalchemy as sa

    from client.access import register_scope
    from store.schema import blocs, ministries, nominations

    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown:
        raise ValueError(f"unknown dimension(s) {unknown}; known: {list(DIMENSIONS)}")
    columns = [nominations.c.ministry, nominations.c.bloc, nominations.c.year, nominations.c.award_form]
    query = sa.select(*columns, nominations.c.stage, sa.func.count().label("n")).group_by(*columns, nominations.c.stage)
    if year is not None:
        query = query.where(nominations.c.year == year)
    readable = register_scope(scope) if scope is not None else None
    if readable is not None:
        query = query.where(readable)
    async with engine.connect() as conn:
        groups = (await conn.execute(query)).all()
        ministry_names = {r.code: r.name for r in await conn.execute(sa.select(ministries.c.code, ministries.c.name))}
        bloc_names = {r.code: r.name for r in await conn.execute(sa.select(blocs.c.code, blocs.c.name))}
    form_names, form_order = _award_form_names()

    def label(dimension: str, value: Any) -> str:
        if dimension == "ministry":
            return ministry_names.get(value, value)
        if dimension == "bloc":
            return NO_BLOC_VI if value is None else bloc_names.get(value, value)
        if dimension == "year":
            return str(value)
        if dimension == "award_form":
            return form_names.get(value, value)
        if dimension == "stage":
            return Stage(value).label_vi if value in Stage.__members__ else value
        return OUTCOME_LABELS_VI[value]

    rows: list[CountRow] = []
    for dimension in by:
        tallies: dict[Any, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
        for group in groups:
            outcome = outcome_of(group.stage)
            value = outcome if dimension == "outcome" else getattr(group, dimension)
            tallies[value][outcome] += int(group.n)
        for value in sorted(tallies, key=lambda v: _sort_key(dimension, v, form_order)):
            counts = tallies[value]
            rows.append(CountRow(dimension, value, label(dimension, value), sum(counts.values()), counts))
    return rows


async def list_decisions(
    engine: AsyncEngine, *, year: int | None = None, scope: ReadScope | None = None
) -> list[DecisionListRow]:
    """Every recorded decision, by date then number (`year`: decisions dated in that year). With `scope`, a
    reader who does not read everything sees the decisions naming a nomination they may read, each counting
    only those nominations (accepted and refused)."""
    import sqlalchemy as sa

    from client.access import readable_workflow_ids
    from store.schema import decision_items, decisions

    query = sa.select(decisions).order_by(decisions.c.decision_date, decisions.c.decision_no)
    if year is not None:
        query = query.where(decisions.c.decision_date.between(date(year, 1, 1), date(year, 12, 31)))
    counted: dict[str, tuple[int, int]] | None = None
    async with engine.connect() as conn:
        found = (await conn.execute(query)).all()
        if scope is not None and not scope.everything:
            listed = sa.select(
                decision_items.c.decision_no,
                decision_items.c.workflow_id,
                decision_items.c.accepted,
                decision_items.c.ministry,
            ).where(decision_items.c.decision_no.in_([r.decision_no for r in found]))
            items = (await conn.execute(listed)).all()
    if scope is not None and not scope.everything:
        named = {i.workflow_id: i.ministry for i in items}
        readable = await readable_workflow_ids(engine, scope, [i.workflow_id for i in items], named)
        tallies: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for item in items:
            if item.workflow_id in readable:
                tallies[item.decision_no][0 if item.accepted else 1] += 1
        counted = {number: (accepted, refused) for number, (accepted, refused) in tallies.items()}
        found = [r for r in found if r.decision_no in counted]
    return [
        DecisionListRow(
            decision_no=r.decision_no,
            decision_date=r.decision_date,
            authority=r.authority,
            actor=r.actor,
            accepted=r.accepted if counted is None else counted[r.decision_no][0],
            refused=r.refused if counted is None else counted[r.decision_no][1],
            # SQLite hands timestamps back without an offset; they were stored in UTC.
            created_at=r.created_at if r.created_at.tzinfo else r.created_at.replace(tzinfo=UTC),
        )
        for r in found
    ]


# ---- tables --------------------------------------------------------------------------------------------


def count_table(rows: Iterable[CountRow]) -> list[list[Any]]:
    """Rows under COUNT_HEADERS."""
    return [
        [
            DIMENSION_LABELS_VI[r.dimension],
            "" if r.value is None else r.value,
            r.label_vi,
            r.total,
            *(r.outcomes[o] for o in OUTCOMES),
        ]
        for r in rows
    ]


def _authority_vi(authority: str) -> str:
    try:
        return AUTHORITY_LABELS_VI[Authority(authority)]
    except ValueError:
        return authority


def decision_table(rows: Iterable[DecisionListRow]) -> list[list[Any]]:
    """Rows under DECISION_HEADERS; the time recorded is Vietnam's local time, as text."""
    from domain.calendar import VIETNAM_TZ

    return [
        [
            stt,
            r.decision_no,
            r.decision_date,
            _authority_vi(r.authority),
            r.actor,
            r.accepted,
            r.refused,
            r.created_at.astimezone(VIETNAM_TZ).strftime(DATETIME_FORMAT_VI),
        ]
        for stt, r in enumerate(rows, start=1)
    ]


# ---- files ---------------------------------------------------------------------------------------------


def report_format(path: Path) -> str:
    """'.csv' or '.xlsx' by the suffix (any case); anything else is a ValueError naming it."""
    suffix = path.suffix.lower()
    if suffix not in REPORT_FORMATS:
        shown = repr(path.suffix) if path.suffix else "no suffix"
        raise ValueError(f"cannot write a report to {shown} ({path.name}): use .csv or .xlsx")
    return suffix


def write_report_csv(path: Path, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from client.tables import write_table_csv

    write_table_csv(path, headers, rows)


def write_report_xlsx(path: Path, headers: Sequence[str], rows: Sequence[Sequence[Any]], sheet_title: str) -> None:
    from client.tables import write_table_xlsx

    write_table_xlsx(path, headers, rows, sheet_title)
    if sheet_title in (COUNTS_SHEET, DECISIONS_SHEET) and rows:
        add_chart_sheets(path, headers, rows, sheet_title)


CHART_SHEET_PREFIX = "Biểu đồ – "


def add_chart_sheets(path: Path, headers: Sequence[str], rows: Sequence[Sequence[Any]], sheet_title: str) -> None:
    """Chart sheets after the table (openpyxl.chart, stacked bars drawn from the table's cells): the counts get
    one per dimension (outcomes per value), the decisions one (awarded and refused per decision)."""
    from openpyxl import load_workbook
    from openpyxl.chart import BarChart, Reference, Series

    book = load_workbook(path)
    table = book[sheet_title[:31]]

    def bars(title: str, first: int, last: int, label_column: int, value_columns: Sequence[int]) -> BarChart:
        chart = BarChart()
        chart.type = "bar"
        chart.grouping = "stacked"
        chart.overlap = 100
        chart.title = title
        chart.x_axis.scaling.orientation = "maxMin"  # the table's order, top to bottom
        for column in value_columns:
            values = Reference(table, min_col=column, min_row=first, max_row=last)
            chart.series.append(Series(values, title=str(headers[column - 1])))
        chart.set_categories(Reference(table, min_col=label_column, min_row=first, max_row=last))
        return chart

    if sheet_title == COUNTS_SHEET:
        spans: dict[str, list[int]] = {}
        for offset, row in enumerate(rows):
            spans.setdefault(str(row[0]), []).append(offset + 2)  # row 1 holds the headings
        outcome_columns = list(range(5, 5 + len(OUTCOMES)))
        for label, lines in spans.items():
            sheet = book.create_chartsheet((CHART_SHEET_PREFIX + label.replace("/", "-"))[:31])
            sheet.add_chart(bars(f"Hồ sơ đề nghị theo {label.lower()}", lines[0], lines[-1], 3, outcome_columns))
    else:
        sheet = book.create_chartsheet(CHART_SHEET_PREFIX + "Quyết định")
        sheet.add_chart(bars("Hồ sơ trong từng quyết định", 2, len(rows) + 1, 2, [6, 7]))
    book.save(path)


def write_report(path: Path, headers: Sequence[str], rows: Sequence[Sequence[Any]], sheet_title: str) -> None:
    if report_format(path) == ".csv":
        write_report_csv(path, headers, rows)
    else:
        write_report_xlsx(path, headers, rows, sheet_title)
