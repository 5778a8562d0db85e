"""The pure parts of a list import: reading CSV and XLSX, a row to a nomination, errors by row and column,
the shipped template; and start_all's counting and bound against a stand-in for the Temporal client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from temporalio.api.history.v1 import HistoryEvent
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import WorkflowAlreadyStartedError

from client.importer import (
    COLUMN_BY_FIELD,
    COLUMNS,
    HEADERS,
    RowError,
    parse_dossier,
    read_rows,
    row_to_raw,
    start_all,
    validate_rows,
)
from domain.catalog import policy_set
from domain.errors import InvalidInput
from domain.nomination import Nomination, workflow_id_for
from scripts import make_import_template
from scripts.make_import_template import EXAMPLE_ROWS

ROOT = Path(__file__).resolve().parents[2]
POLICY = policy_set("2026.01")
TODAY = date(2027, 3, 1)  # the template's award year (2026) and the next are both in the policy's window
SHA = "ab" * 32


def header(field: str) -> str:
    return COLUMN_BY_FIELD[field].header


def individual(**changes: str) -> dict[str, str]:
    return {k: v for k, v in (EXAMPLE_ROWS[0] | changes).items() if v != ""}


def collective(**changes: str) -> dict[str, str]:
    return {k: v for k, v in (EXAMPLE_ROWS[1] | changes).items() if v != ""}


def errors_of(*rows: dict[str, str]) -> list[RowError]:
    return validate_rows(list(enumerate(rows, start=2)), POLICY, today=TODAY)[1]


def write_csv(path: Path, lines: list[str], encoding: str = "utf-8-sig") -> Path:
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def line(row: dict[str, str], fields: list[str] | None = None, delimiter: str = ",") -> str:
    """One CSV record (quoted; it may span lines) of the row's cells in the columns' order."""
    return delimiter.join('"' + row.get(f, "").replace('"', '""') + '"' for f in fields or [c.field for c in COLUMNS])


# ---- the template ---------------------------------------------------------------------------------


def test_the_shipped_templates_hold_the_headers_and_two_valid_examples():
    csv_rows = read_rows(ROOT / "samples" / "import-template.csv")
    xlsx_rows = read_rows(ROOT / "samples" / "import-template.xlsx")
    assert csv_rows == xlsx_rows
    assert [number for number, _ in csv_rows] == [2, 3]
    valid, errors = validate_rows(csv_rows, POLICY, today=TODAY)
    assert errors == []
    assert [n.nominee.kind for _, n in valid] == ["INDIVIDUAL", "COLLECTIVE"]
    assert valid[0][1].dossier[1].content_sha256 is not None  # the example shows both identifiers
    first_line = (ROOT / "samples" / "import-template.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert first_line == ",".join(HEADERS)
    assert "Số tờ trình (reference)" in HEADERS


def test_the_shipped_templates_are_what_the_script_writes(tmp_path: Path):
    make_import_template.main(["--out-dir", str(tmp_path)])
    shipped = ROOT / "samples"
    assert (tmp_path / "import-template.csv").read_bytes() == (shipped / "import-template.csv").read_bytes()
    assert read_rows(tmp_path / "import-template.xlsx") == read_rows(shipped / "import-template.xlsx")


# ---- reading files --------------------------------------------------------------------------------


def test_csv_rows_are_numbered_as_a_spreadsheet_shows_them(tmp_path: Path):
    lines = [
        ",".join(HEADERS),
        line(individual()),
        "",  # a blank row: skipped, still counted
        line(collective(achievements="Dòng một\nDòng hai")),  # a cell on two lines is one row
        line(individual(reference="03/TTr-MAU")),
    ]
    rows = read_rows(write_csv(tmp_path / "list.csv", lines))
    assert [number for number, _ in rows] == [2, 4, 5]
    assert rows[1][1]["achievements"] == "Dòng một\nDòng hai"
    assert rows[0][1] == individual()


def test_semicolon_separated_csv_and_bare_headers_in_any_order(tmp_path: Path):
    fields = [c.field for c in reversed(COLUMNS)]
    labels = [COLUMN_BY_FIELD[f].label_vi if i % 2 else f for i, f in enumerate(fields)]
    row = individual()
    lines = [";".join(labels), line(row, fields, ";")]
    [(number, cells)] = read_rows(write_csv(tmp_path / "list.csv", lines, encoding="utf-8"))
    assert number == 2
    assert cells == row


def test_xlsx_numbers_and_dates_are_read_as_text(tmp_path: Path):
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(HEADERS))
    sheet.append([])
    values: list[Any] = [individual().get(c.field, None) for c in COLUMNS]
    values[0] = 145  # a reference typed as a number
    values[1] = 2026.0
    sheet.append(values)
    book.save(tmp_path / "list.xlsx")
    [(number, cells)] = read_rows(tmp_path / "list.xlsx")
    assert number == 3
    assert (cells["reference"], cells["year"]) == ("145", "2026")


def test_an_exported_neutralised_formula_reads_back_as_typed(tmp_path: Path):
    row = individual(proposing_unit="'-Phòng pháp chế")
    lines = [",".join(HEADERS), line(row)]
    [(_, cells)] = read_rows(write_csv(tmp_path / "list.csv", lines))
    assert cells["proposing_unit"] == "-Phòng pháp chế"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("list.xls", None, "dùng tệp .xlsx hoặc .csv"),
        ("none.csv", None, "không tồn tại"),
        ("empty.csv", "\n\n", "empty"),
        ("latin.csv", "Năm (year)".encode("cp1258"), "không phải văn bản UTF-8"),
        ("broken.xlsx", b"not a zip", "không đọc được như sổ tính XLSX"),
    ],
)
def test_unreadable_files_are_invalid_input(tmp_path: Path, name: str, content: Any, expected: str):
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    elif content is not None:
        path.write_bytes(content)
    if name == "list.xls":
        path.write_bytes(b"")
    with pytest.raises(InvalidInput, match=expected) as caught:
        read_rows(path)
    assert [e.field for e in caught.value.errors] == ["FILE"]


def test_a_wrong_header_row_names_the_unknown_repeated_and_missing_columns(tmp_path: Path):
    headers = [h for h in HEADERS if "(dossier)" not in h and "(year)" not in h]
    lines = [",".join([*headers, "Ghi chú", "reference"])]
    with pytest.raises(InvalidInput) as caught:
        read_rows(write_csv(tmp_path / "list.csv", lines))
    fields = {e.field: e.message for e in caught.value.errors}
    assert fields["header 'Ghi chú'"].startswith("cột không có trong mẫu")
    assert "đã là reference" in fields["header 'reference'"]
    assert fields[f"header {header('dossier')!r}"] == "thiếu cột"
    assert fields[f"header {header('year')!r}"] == "thiếu cột"
    assert len(fields) == 4


def test_optional_columns_may_be_left_out_of_the_header(tmp_path: Path):
    fields = [c.field for c in COLUMNS if c.required] + ["nominee_collective_name"]
    row = collective()
    lines = [",".join(fields), line(row, fields)]
    rows = read_rows(write_csv(tmp_path / "list.csv", lines))
    assert rows == [(2, row)]
    assert validate_rows(rows, POLICY, today=TODAY)[1] == []


def test_a_value_without_a_header_is_an_error_on_its_row(tmp_path: Path):
    row = individual()
    lines = [",".join(HEADERS), line(row) + ",thừa"]
    rows = read_rows(write_csv(tmp_path / "list.csv", lines))
    assert validate_rows(rows, POLICY, today=TODAY)[1] == [
        RowError(2, f"cột {len(COLUMNS) + 1}", "có giá trị trong cột không có tiêu đề")
    ]


# ---- a row to a nomination -----------------------------------------------------------------------


def test_the_dossier_cell_becomes_documents():
    assert parse_dossier(f"to_trinh | Tờ trình | 12/TTr ;; BAO_CAO_THANH_TICH|Báo cáo|{SHA.upper()}\nKHAC|A|B|C") == [
        {"kind": "TO_TRINH", "title": "Tờ trình", "reference": "12/TTr"},
        {"kind": "BAO_CAO_THANH_TICH", "title": "Báo cáo", "content_sha256": SHA},
        {"kind": "KHAC", "title": "A|B", "reference": "C"},
    ]
    assert parse_dossier("TO_TRINH|Tờ trình; TO_TRINH; TO_TRINH|Tờ trình|") == [
        {"kind": "TO_TRINH", "title": "Tờ trình"},
        {"kind": "TO_TRINH"},
        {"kind": "TO_TRINH", "title": "Tờ trình"},
    ]


def test_a_row_becomes_the_nomination_a_json_file_would_give():
    raw = row_to_raw(individual(nominee_kind="cá nhân"))
    assert raw["nominee"] == {
        "kind": "INDIVIDUAL",
        "full_name": "Trần Thị Minh Châu",
        "position": "Chuyên viên chính",
        "unit": "Vụ Pháp luật hình sự – hành chính",
    }
    nomination = Nomination.model_validate(raw)
    assert workflow_id_for(nomination) == "nomination-2026-BTP-01/TTr-MAU"
    assert row_to_raw(collective(nominee_kind="Tập thể"))["nominee"] == {
        "kind": "COLLECTIVE",
        "name": "Phòng Truyền thông pháp luật",
    }
    assert "dossier" not in row_to_raw(individual(dossier=""))


# ---- validation: rows and columns ----------------------------------------------------------------


def test_each_error_names_its_row_and_the_column_header():
    errors = errors_of(
        individual(),
        individual(reference="02/TTr", year="1999"),
        individual(reference="03/TTr", nominee_full_name=""),
        individual(reference="04/TTr", nominee_kind="PERSON"),
        individual(reference="05/TTr", dossier="TO_TRINH|Tờ trình|1; BAO_CAO_THANH_TICH; BIEN_BAN_XET_KHEN_THUONG|B"),
        individual(reference="06/TTr", award_form="GIAY_KHEN_XYZ"),
        individual(reference="07 TTr", ministry="btp"),
    )
    located = [(e.row, e.column) for e in errors]
    assert located == [
        (3, header("year")),
        (4, header("nominee_full_name")),
        (5, header("nominee_kind")),
        (6, header("dossier")),
        (6, header("dossier")),
        (7, header("award_form")),
        (8, header("reference")),
        (8, header("ministry")),
    ]
    messages = {(e.row, e.column): e.message for e in errors}
    assert "phải từ 2000 trở lên" in messages[(3, header("year"))]
    assert messages[(4, header("nominee_full_name"))] == "thiếu trường bắt buộc"
    dossier = [e.message for e in errors if e.row == 6]
    assert dossier == [
        "tài liệu 2 (title): thiếu trường bắt buộc",
        "tài liệu 3: cần mã SHA-256 (content_sha256) hoặc số, ký hiệu văn bản (reference)",
    ]
    assert "unknown award form" in messages[(7, header("award_form"))]


def test_the_catalogs_rules_apply_to_a_row():
    errors = errors_of(
        individual(dossier="TO_TRINH|Tờ trình|1"),
        collective(reference="09/TTr", award_form="CSTD_CAP_BO", dossier=EXAMPLE_ROWS[1]["dossier"]),
    )
    assert [(e.row, e.column) for e in errors] == [
        (2, header("dossier")),
        (3, header("nominee_kind")),
        (3, header("dossier")),
    ]
    assert errors[0].message.startswith("missing required documents: BAO_CAO_THANH_TICH")
    assert "is for a individual, not COLLECTIVE" in errors[1].message


def test_columns_of_the_other_kind_of_nominee_must_stay_empty():
    errors = errors_of(collective(nominee_full_name="Nguyễn Văn Bình"), individual(nominee_collective_name="Phòng X"))
    assert [(e.row, e.column, e.message) for e in errors] == [
        (2, header("nominee_full_name"), "không dùng cho đối tượng là tập thể (COLLECTIVE): để trống"),
        (3, header("nominee_collective_name"), "không dùng cho đối tượng là cá nhân (INDIVIDUAL): để trống"),
    ]


def test_a_repeated_nomination_is_an_error_on_the_later_row_only():
    valid, errors = validate_rows(
        [
            (2, individual()),
            (3, collective()),
            (4, individual(nominee_full_name="Lê Văn Khoa")),  # same year, ministry and reference as row 2
            (5, individual(reference="01/TTr-MAU", year="2027")),  # another year: another nomination
        ],
        POLICY,
        today=TODAY,
    )
    assert [number for number, _ in valid] == [2, 3, 5]
    assert errors == [RowError(4, header("reference"), "trùng dòng 2 (cùng năm, bộ, ngành và số tờ trình)")]


def test_a_row_proposed_by_someone_else_than_the_importing_actor_is_an_error():
    mine = individual()["proposer"]
    valid, errors = validate_rows(
        [(2, individual()), (3, collective(proposer="bqp.vu.nguoi-khac"))], POLICY, proposer=mine, today=TODAY
    )
    assert [number for number, _ in valid] == [2]
    assert [(e.row, e.column) for e in errors] == [(3, header("proposer"))]
    assert "không phải người nhập danh sách" in errors[0].message


def test_a_repeat_of_an_invalid_row_is_still_reported():
    errors = errors_of(individual(achievements=""), individual())
    assert [(e.row, e.column) for e in errors] == [(2, header("achievements")), (3, header("reference"))]


def test_row_error_reads_as_row_and_column():
    assert str(RowError(12, header("year"), "bad")) == "dòng 12, Năm (year): bad"
    assert str(RowError(12, "", "bad")) == "dòng 12: bad"
    assert sorted([RowError(9, "b", "x"), RowError(3, "a", "y")])[0].row == 3


# ---- start_all, against a stand-in client --------------------------------------------------------


class StandInClient:
    """Records starts; refuses an id started before, as the server does (REJECT_DUPLICATE), and shows what
    it was started with (the first history event), as the server does."""

    data_converter = pydantic_data_converter

    def __init__(self, fail: set[str] | None = None) -> None:
        self.inputs: dict[str, Any] = {}
        self.fail = fail or set()
        self.in_flight = 0
        self.max_in_flight = 0

    async def start_workflow(self, _run: Any, arg: Any, *, id: str, **_: Any) -> object:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.001)
            if id in self.fail:
                raise RuntimeError("server unavailable")
            if id in self.inputs:
                raise WorkflowAlreadyStartedError(id, "NominationWorkflow")
            self.inputs[id] = arg
            return object()
        finally:
            self.in_flight -= 1

    def get_workflow_handle(self, workflow_id: str) -> Any:
        return StandInHandle(self, workflow_id)


class StandInHandle:
    def __init__(self, client: StandInClient, workflow_id: str) -> None:
        self.client, self.workflow_id = client, workflow_id

    async def fetch_history_events(self, **_: Any) -> AsyncIterator[HistoryEvent]:
        started = HistoryEvent()
        payloads = await self.client.data_converter.encode([self.client.inputs[self.workflow_id]])
        started.workflow_execution_started_event_attributes.input.payloads.extend(payloads)
        yield started


def many(count: int) -> list[tuple[int, Nomination]]:
    # One nominee a row (another unit each): one person is nominated once per form and year.
    rows = [(n + 2, individual(reference=f"{n}/TTr-MAU", nominee_unit=f"Phòng {n}")) for n in range(count)]
    valid, errors = validate_rows(rows, POLICY, today=TODAY)
    assert errors == []
    return valid


async def test_start_all_counts_started_and_already_started_within_the_bound():
    client = StandInClient()
    nominations = many(60)
    done: list[None] = []
    first = await start_all(client, "q", nominations[:45], lambda: done.append(None), concurrency=7)  # type: ignore[arg-type]
    assert (first.started, first.already_started, first.failed) == (45, 0, [])
    assert client.max_in_flight == 7
    assert len(done) == 45
    again = await start_all(client, "q", nominations)  # type: ignore[arg-type]
    assert again.as_dict() == {"started": 15, "already_started": 45, "failed": 0}


async def test_a_reference_held_by_another_nomination_is_a_failed_row():
    client = StandInClient()
    [(row, nomination)] = many(1)
    await start_all(client, "q", [(row, nomination)])  # type: ignore[arg-type]
    other = nomination.model_copy(update={"achievements": "Một thành tích khác của một đề nghị khác."})
    counts = await start_all(client, "q", [(row, other)])  # type: ignore[arg-type]
    assert (counts.started, counts.already_started, len(counts.failed)) == (0, 0, 1)
    assert "số tờ trình đã thuộc hồ sơ khác" in counts.failed[0].message


async def test_a_row_the_server_refuses_is_reported_and_the_others_go_on():
    nominations = many(5)
    client = StandInClient(fail={workflow_id_for(nominations[3][1])})
    counts = await start_all(client, "q", nominations)  # type: ignore[arg-type]
    assert (counts.started, counts.already_started) == (4, 0)
    assert [(e.row, e.message) for e in counts.failed] == [(5, "không khởi tạo được: server unavailable")]
