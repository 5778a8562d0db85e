"""Write the import template: samples/import-template.xlsx and samples/import-template.csv.

    python -m scripts.make_import_template [--out-dir samples]

A header row (client.importer.COLUMNS) and two fictional example rows (an individual, a collective),
valid under the policy in force; the XLSX adds drop-down lists for the nominee kind and the award form
and a second sheet explaining every column, the award forms and the document kinds.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from datetime import date, datetime
from pathlib import Path

from client.importer import COLUMNS, HEADERS
from domain.catalog import DOCUMENT_LABELS_VI, current_policy_version, policy_set

ROOT = Path(__file__).resolve().parents[1]
DATA_SHEET = "Danh sách đề nghị"
HELP_SHEET = "Hướng dẫn"
# Every name and number below is invented.
_REPORT_SHA256 = hashlib.sha256("Báo cáo thành tích năm 2026 – mẫu".encode()).hexdigest()
EXAMPLE_ROWS: tuple[dict[str, str], ...] = (
    {
        "reference": "01/TTr-MAU",
        "year": "2026",
        "ministry": "BTP",
        "proposing_unit": "Vụ Pháp luật hình sự – hành chính",
        "award_form": "BANG_KHEN_BO",
        "nominee_kind": "INDIVIDUAL",
        "nominee_full_name": "Trần Thị Minh Châu",
        "nominee_position": "Chuyên viên chính",
        "nominee_unit": "Vụ Pháp luật hình sự – hành chính",
        "achievements": "Chủ trì thẩm định 12 dự thảo văn bản quy phạm pháp luật đúng hạn, chất lượng.",
        "proposer": "btp.vutckt.le-thi-hoa",
        "dossier": (
            "TO_TRINH|Tờ trình đề nghị tặng Bằng khen của Bộ trưởng|01/TTr-MAU; "
            f"BAO_CAO_THANH_TICH|Báo cáo thành tích năm 2026|{_REPORT_SHA256}; "
            "BIEN_BAN_XET_KHEN_THUONG|Biên bản họp xét khen thưởng của Vụ|BB-01/MAU"
        ),
    },
    {
        "reference": "02/TTr-MAU",
        "year": "2026",
        "ministry": "BTP",
        "proposing_unit": "Cục Phổ biến, giáo dục pháp luật",
        "award_form": "TAP_THE_LDXS",
        "nominee_kind": "COLLECTIVE",
        "nominee_collective_name": "Phòng Truyền thông pháp luật",
        "achievements": "Hoàn thành xuất sắc nhiệm vụ năm 2026; tổ chức 40 hội nghị phổ biến pháp luật.",
        "proposer": "btp.vutckt.le-thi-hoa",
        "dossier": (
            "TO_TRINH|Tờ trình đề nghị công nhận Tập thể lao động xuất sắc|02/TTr-MAU; "
            "BAO_CAO_THANH_TICH|Báo cáo thành tích của tập thể năm 2026|BC-02/MAU; "
            "BIEN_BAN_BINH_XET|Biên bản bình xét thi đua|BB-02/MAU"
        ),
    },
)
_WIDTHS = {"achievements": 60, "dossier": 90, "proposing_unit": 34, "nominee_unit": 34}


def example_table() -> list[list[str]]:
    return [[row.get(c.field, "") for c in COLUMNS] for row in EXAMPLE_ROWS]


def write_csv(path: Path) -> None:
    # The BOM lets Excel read Vietnamese as UTF-8.
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADERS)
        writer.writerows(example_table())


def write_xlsx(path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    policy = policy_set(current_policy_version(date.today()))
    forms = [f for f in policy.award_forms.values() if f.accepts_nominations]
    book = Workbook()
    # Fixed metadata: regenerating the template changes nothing a reader sees.
    book.properties.creator = "tdkt-engine"
    book.properties.created = book.properties.modified = datetime(2026, 1, 1)

    sheet = book.active
    assert sheet is not None
    sheet.title = DATA_SHEET
    sheet.append(list(HEADERS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in example_table():
        sheet.append(row)
    sheet.freeze_panes = "A2"
    for index, column in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = _WIDTHS.get(column.field, 22)
    letter = {c.field: get_column_letter(i) for i, c in enumerate(COLUMNS, start=1)}
    for field, choices in (
        ("nominee_kind", ["INDIVIDUAL", "COLLECTIVE"]),
        ("award_form", [f.code for f in forms]),
    ):
        validation = DataValidation(type="list", formula1='"' + ",".join(choices) + '"', allow_blank=True)
        validation.add(f"{letter[field]}2:{letter[field]}5000")
        sheet.add_data_validation(validation)

    guide = book.create_sheet(HELP_SHEET)
    bold = Font(bold=True)
    guide.append(["Cột", "Bắt buộc", "Nội dung"])
    for column in COLUMNS:
        guide.append([column.header, "có" if column.required else "tùy trường hợp", column.example])
    guide.append([])
    guide.append(["Mỗi dòng là một hồ sơ đề nghị; dòng trống được bỏ qua. Cá nhân: điền họ tên, chức vụ, đơn vị."])
    guide.append(["Tập thể: chỉ điền tên tập thể. Các tài liệu trong ô hồ sơ cách nhau bằng dấu chấm phẩy (;)."])
    guide.append([])
    guide.append(["Hình thức khen thưởng", "Đối tượng", "Tài liệu bắt buộc"])
    for form in forms:
        guide.append(
            [f"{form.code} – {form.name_vi}", form.subject, ", ".join(k.value for k in form.required_documents)]
        )
    guide.append([])
    guide.append(["Loại tài liệu", "Tên"])
    for kind, label in DOCUMENT_LABELS_VI.items():
        guide.append([kind.value, label])
    for row in guide.iter_rows():
        if row and row[0].value in ("Cột", "Hình thức khen thưởng", "Loại tài liệu"):
            for cell in row:
                cell.font = bold
    for letter_, width in (("A", 52), ("B", 16), ("C", 90)):
        guide.column_dimensions[letter_].width = width
    book.save(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "samples")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(args.out_dir / "import-template.csv")
    write_xlsx(args.out_dir / "import-template.xlsx")
    print(f"wrote {args.out_dir / 'import-template.csv'} and {args.out_dir / 'import-template.xlsx'}")


if __name__ == "__main__":
    main()
