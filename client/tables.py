"""Writing a table of rows as CSV or XLSX for staff: Vietnamese readable in Excel, dates as dates, no text
that a spreadsheet would run as a formula. Used by the decision export and the reports."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

DATE_FORMAT_VI = "%d/%m/%Y"
XLSX_DATE_FORMAT = "DD/MM/YYYY"
# A text cell starting with one of these is taken for a formula by spreadsheet programs.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(text: str) -> str:
    """Text that a spreadsheet would run as a formula, kept as text (OWASP's leading apostrophe)."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_cell(value: Any) -> Any:
    if isinstance(value, date):
        return value.strftime(DATE_FORMAT_VI)
    if isinstance(value, str):
        return neutralise_formula(value)
    return value


def xlsx_cell(value: Any) -> Any:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    # Control characters cannot be stored in an XLSX cell at all (openpyxl refuses the whole file).
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def write_table_csv(path: Path, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    # utf-8-sig writes the BOM Excel needs to read Vietnamese as UTF-8 rather than the ANSI code page.
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(headers)
        for row in rows:
            writer.writerow([csv_cell(value) for value in row])


def write_table_xlsx(
    path: Path,
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    sheet_title: str,
    widths: Sequence[int] | None = None,
) -> None:
    """One sheet: bold frozen headings, dates as dates; column widths as given, else fitted to the content."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = sheet_title[:31]  # Excel's limit for a sheet name
    sheet.append(list(headers))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([xlsx_cell(value) for value in row])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, date):
                cell.number_format = XLSX_DATE_FORMAT
            elif cell.data_type == "f":
                # openpyxl stores any text starting with "=" as a formula: keep a name a name.
                cell.data_type = "s"
    sheet.freeze_panes = "A2"
    if widths is None:
        widths = [
            min(max(max([len(str(header)), *(len(str(r[i])) for r in rows if i < len(r))]) + 2, 8), 60)
            for i, header in enumerate(headers)
        ]
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    book.save(path)
