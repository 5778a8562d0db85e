"""The bloc year's ranking as XLSX: the ranking table (numbers as numbers), a bar chart of the totals
(openpyxl.chart), each member's score by criterion, the review panel's adjustments, and the audit anchor."""

from __future__ import annotations

import io
from datetime import datetime

from documents.model import anchor_line, made_line
from documents.names import Names
from documents.ranking import adjustment_lines, ranking_headers, ranking_rows
from domain.audit_anchors import Anchor
from domain.bloc.policy import BlocScoringPolicy
from domain.bloc.year import BlocYearStatus

RANKING_SHEET = "Xếp hạng"
DETAIL_SHEET = "Điểm theo tiêu chí"
ADJUSTMENT_SHEET = "Chấm chéo"


def _cell(value: object) -> object:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, str):
        text = ILLEGAL_CHARACTERS_RE.sub("", value)
        # Text a spreadsheet would run as a formula stays text.
        return "'" + text if text.startswith(("=", "+", "-", "@")) else text
    return value


def ranking_xlsx(
    status: BlocYearStatus,
    policy: BlocScoringPolicy,
    names: Names,
    *,
    anchor: Anchor | None,
    made_at: datetime,
    made_by: str | None = None,
) -> bytes:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference
    from openpyxl.chart.label import DataLabelList
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    if status.standings is None:
        raise ValueError(f"bloc year {status.bloc_year_id} is {status.phase.value}: the ranking is not published yet")
    rows = ranking_rows(policy, status.standings, status.scorecards, names)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = RANKING_SHEET
    headers = ranking_headers(policy)
    sheet.append([f"Kết quả chấm điểm, xếp hạng thi đua năm {status.year} – {names.bloc(status.bloc)}"])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append([f"Bảng chấm điểm {policy.version}"])
    sheet.append(list(headers))
    header_row = 3
    for cell in sheet[header_row]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, horizontal="center", vertical="center")
    for row in rows:
        sheet.append(
            [
                row.rank if row.rank is not None else "–",
                _cell(row.name),
                *row.groups,
                row.criteria_total,
                row.bonus,
                row.penalty,
                row.total,
                _cell(row.note),
            ]
        )
    last = sheet.max_row
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=3)
    widths = [9, 36, *(12,) * len(policy.groups), 13, 11, 11, 11, 60]
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.append([])
    sheet.append([anchor_line(anchor)])
    sheet.append([made_line(made_at, made_by)])

    total_column = headers.index("Tổng điểm") + 1
    chart = BarChart()
    chart.type = "bar"  # horizontal: the members' names read along the axis
    chart.style = 10
    chart.title = f"Tổng điểm thi đua năm {status.year}"
    chart.y_axis.title = "Điểm"
    chart.x_axis.title = "Đơn vị"
    chart.x_axis.scaling.orientation = "maxMin"  # the first ranked at the top
    chart.data_labels = DataLabelList()
    chart.data_labels.showVal = True
    data = Reference(sheet, min_col=total_column, min_row=header_row, max_row=last)
    categories = Reference(sheet, min_col=2, min_row=header_row + 1, max_row=last)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(categories)
    chart.legend = None
    chart.height = max(7.5, 1.0 * len(rows) + 3)
    chart.width = 18
    sheet.add_chart(chart, f"A{last + 5}")

    detail = book.create_sheet(DETAIL_SHEET)
    criteria = [c for g in policy.groups for c in g.criteria]
    detail.append(["Đơn vị", *(f"{c.code} (tối đa {c.max_points})" for c in criteria), "Tổng điểm"])
    for cell in detail[1]:
        cell.font = Font(bold=True)
    for card in status.scorecards:
        final = {line.code: line.final_points for line in card.criteria}
        detail.append([_cell(names.ministry(card.member)), *(final.get(c.code) for c in criteria), card.total])
    detail.column_dimensions["A"].width = 36
    detail.freeze_panes = "B2"

    adjustments = book.create_sheet(ADJUSTMENT_SHEET)
    adjustments.append(["Đơn vị", "Nội dung", "Tự chấm", "Sau chấm chéo", "Lý do"])
    for cell in adjustments[1]:
        cell.font = Font(bold=True)
    for line in adjustment_lines(policy, status.scorecards, names):
        adjustments.append([_cell(v) for v in line])
    for column, width in zip("ABCDE", (36, 18, 10, 14, 70), strict=True):
        adjustments.column_dimensions[column].width = width

    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
