"""The pure parts of a decision's export: format by suffix, rows, CSV (with BOM) and XLSX files."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from client.decisions import (
    EXPORT_COLUMNS,
    ExportedItem,
    export_format,
    export_rows,
    neutralise_formula,
    write_csv,
    write_xlsx,
)
from domain.catalog import Authority

ITEMS = [
    ExportedItem("nomination-2026-BTP-12/TTr-BTP", "Nguyễn Thị Ánh Tuyết", "Bằng khen cấp bộ", "Bộ Tư pháp"),
    ExportedItem("nomination-2026-BTP-13/TTr-BTP", "Phòng Phổ biến giáo dục pháp luật", "Bằng khen cấp bộ", "BTP"),
]


def rows() -> list[list]:
    return export_rows("125/QĐ-BTP", date(2026, 12, 20), Authority.MINISTER, ITEMS)


@pytest.mark.parametrize(("name", "kind"), [("a.csv", ".csv"), ("a.xlsx", ".xlsx"), ("QD.CSV", ".csv")])
def test_format_follows_the_suffix(name: str, kind: str):
    assert export_format(Path(name)) == kind


@pytest.mark.parametrize(("name", "named"), [("a.xls", "'.xls'"), ("a.json", "'.json'"), ("quyet-dinh", "no suffix")])
def test_other_suffixes_are_refused_by_name(name: str, named: str):
    with pytest.raises(ValueError, match=named):
        export_format(Path(name))


def test_rows_number_the_items_in_order_with_the_authority_in_vietnamese():
    assert rows() == [
        [
            1,
            "nomination-2026-BTP-12/TTr-BTP",
            "Nguyễn Thị Ánh Tuyết",
            "Bằng khen cấp bộ",
            "Bộ Tư pháp",
            "125/QĐ-BTP",
            date(2026, 12, 20),
            "Bộ trưởng",
        ],
        [
            2,
            "nomination-2026-BTP-13/TTr-BTP",
            "Phòng Phổ biến giáo dục pháp luật",
            "Bằng khen cấp bộ",
            "BTP",
            "125/QĐ-BTP",
            date(2026, 12, 20),
            "Bộ trưởng",
        ],
    ]
    assert export_rows("1/QĐ-TTg", date(2026, 1, 2), "PRIME_MINISTER", [])[:1] == []
    assert export_rows("1/QĐ-TTg", date(2026, 1, 2), "PRIME_MINISTER", ITEMS[:1])[0][-1] == "Thủ tướng Chính phủ"


def test_csv_has_a_bom_vietnamese_headings_and_vietnamese_dates(tmp_path: Path):
    path = tmp_path / "qd.csv"
    write_csv(path, rows())
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert "Họ tên / Tập thể".encode() in raw
    with path.open(encoding="utf-8-sig", newline="") as f:
        read = list(csv.reader(f))
    assert read[0] == list(EXPORT_COLUMNS)
    assert read[1] == [
        "1",
        "nomination-2026-BTP-12/TTr-BTP",
        "Nguyễn Thị Ánh Tuyết",
        "Bằng khen cấp bộ",
        "Bộ Tư pháp",
        "125/QĐ-BTP",
        "20/12/2026",
        "Bộ trưởng",
    ]
    assert len(read) == 3


def test_xlsx_reads_back_with_a_real_date(tmp_path: Path):
    path = tmp_path / "qd.xlsx"
    write_xlsx(path, rows())
    sheet = load_workbook(path).active
    assert sheet is not None
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0] == list(EXPORT_COLUMNS)
    assert values[2][:6] == [
        2,
        "nomination-2026-BTP-13/TTr-BTP",
        "Phòng Phổ biến giáo dục pháp luật",
        "Bằng khen cấp bộ",
        "BTP",
        "125/QĐ-BTP",
    ]
    assert values[2][6] == datetime(2026, 12, 20)
    assert sheet.cell(row=2, column=7).number_format == "DD/MM/YYYY"
    assert len(values) == 3


def test_a_name_that_looks_like_a_formula_stays_text(tmp_path: Path):
    hostile = ExportedItem("nomination-x", '=HYPERLINK("http://example.invalid","x")', "+1", "-BTP")
    table = export_rows("1/QĐ-BTP", date(2026, 12, 20), Authority.MINISTER, [hostile])

    write_csv(tmp_path / "x.csv", table)
    with (tmp_path / "x.csv").open(encoding="utf-8-sig", newline="") as f:
        row = list(csv.reader(f))[1]
    assert row[2:5] == ['\'=HYPERLINK("http://example.invalid","x")', "'+1", "'-BTP"]

    write_xlsx(tmp_path / "x.xlsx", table)
    sheet = load_workbook(tmp_path / "x.xlsx").active
    assert sheet is not None
    cell = sheet.cell(row=2, column=3)
    assert cell.data_type == "s"
    assert cell.value == '=HYPERLINK("http://example.invalid","x")'


def test_neutralise_leaves_ordinary_text_alone():
    assert neutralise_formula("Nguyễn Văn A") == "Nguyễn Văn A"
    assert neutralise_formula("@cmd") == "'@cmd"
    assert neutralise_formula("") == ""


def test_control_characters_do_not_break_the_workbook(tmp_path: Path):
    table = export_rows("1/QĐ-BTP", date(2026, 12, 20), "MINISTER", [ExportedItem("w", "Tên\x07 lạ", None, None)])
    write_xlsx(tmp_path / "c.xlsx", table)
    sheet = load_workbook(tmp_path / "c.xlsx").active
    assert sheet is not None
    assert sheet.cell(row=2, column=3).value == "Tên lạ"
    assert sheet.cell(row=2, column=4).value is None  # empty text is an empty cell
