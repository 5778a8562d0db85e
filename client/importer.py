"""Importing a list of nominations from a spreadsheet (XLSX) or CSV file (`starter.py import`, cli/imports.py;
the API's upload).

Every row is validated first, with the same rules as `starter.py nominate` (domain.nomination.
parse_nomination, under the policy in force today); if any row is invalid the rows and columns at fault are
reported (row number as the spreadsheet shows it, the column's header) and nothing is started, unless the
caller skips the invalid rows. Then the nominations start, at most `CONCURRENCY` at a time, at the bulk
priority and paced per ministry by the admission window (client.pacing: at most TDKT_ADMISSION_WINDOW,
default 20, of a ministry's rows in their opening work at once; each then raised to people's priority).
A nomination started before with the very same content (same year, ministry and reference: the workflow
id) is counted as "already started", so importing the same file again starts nothing new; a row whose year,
ministry and reference another, different nomination holds is a failed row ("another nomination holds this reference").

One row is one nomination; `samples/import-template.xlsx` and `.csv` show the columns (COLUMNS below).
A header is the Vietnamese label with the field in brackets, e.g. "Số tờ trình (reference)"; the bare
field name or the bare label is accepted too, in any order. The dossier is one cell:
`KIND|title|reference; KIND|title|reference` — the last part is the document's content_sha256 when it is
64 hexadecimal digits, else its reference (titles may not contain ';').
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from domain.catalog import PolicySet
from domain.errors import FieldError, InvalidInput
from domain.messages import ActionChannel
from domain.nomination import Nomination, parse_nomination, workflow_id_for

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine
    from temporalio.client import Client

IMPORT_FORMATS = (".csv", ".xlsx")
CONCURRENCY = 20
# A workbook is read streaming, within bounds, so an upload costs little memory whatever it holds: its parts
# may unpack to at most this many bytes (a 10,000-row list is a few MiB; a zip bomb is refused before it is
# opened), and at most MAX_SHEET_ROWS rows and MAX_SHEET_COLUMNS columns of the first sheet are read.
MAX_XLSX_UNPACKED = 32 * 1024 * 1024
MAX_SHEET_ROWS = 10_000
MAX_SHEET_COLUMNS = 64
# A text cell starting with one of these is a formula to spreadsheet programs; exports put an apostrophe
# before it (client.decisions.neutralise_formula), which a CSV read back keeps.
_FORMULA_PREFIXES = ("=", "+", "-", "@")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_BRACKETED = re.compile(r"\(\s*([A-Za-z_]+)\s*\)\s*$")


@dataclass(frozen=True)
class Column:
    field: str
    label_vi: str
    required: bool  # the header row must have this column (the others are conditional or optional)
    example: str  # what the template's instructions sheet says about it

    @property
    def header(self) -> str:
        return f"{self.label_vi} ({self.field})"


COLUMNS: tuple[Column, ...] = (
    Column("reference", "Số tờ trình", True, "số hiệu của đơn vị, ví dụ 145/TTr-BTP (chữ, số và / . - _)"),
    Column("year", "Năm", True, "năm xét khen thưởng, ví dụ 2026"),
    Column("ministry", "Bộ/ngành", True, "mã bộ, ngành, ví dụ BTP"),
    Column("proposing_unit", "Đơn vị đề nghị", True, "tên đơn vị trình"),
    Column("award_form", "Hình thức khen thưởng", True, "mã hình thức, ví dụ BANG_KHEN_BO"),
    Column("nominee_kind", "Cá nhân/Tập thể", True, "INDIVIDUAL (cá nhân) hoặc COLLECTIVE (tập thể)"),
    Column("nominee_full_name", "Họ và tên", False, "cá nhân: họ và tên"),
    Column("nominee_position", "Chức vụ", False, "cá nhân: chức vụ"),
    Column("nominee_unit", "Đơn vị công tác", False, "cá nhân: đơn vị công tác"),
    Column("nominee_collective_name", "Tên tập thể", False, "tập thể: tên tập thể"),
    Column("nominee_actor_id", "Mã người dùng của cá nhân", False, "không bắt buộc: mã trong danh sách người dùng"),
    Column("achievements", "Thành tích", True, "tóm tắt thành tích"),
    Column("proposer", "Người lập hồ sơ", True, "mã người dùng của cán bộ lập hồ sơ"),
    Column(
        "dossier",
        "Hồ sơ kèm theo",
        True,
        "LOẠI|tiêu đề|số hiệu; LOẠI|tiêu đề|số hiệu (hoặc mã SHA-256 gồm 64 ký tự hex thay cho số hiệu)",
    ),
)
COLUMN_BY_FIELD: dict[str, Column] = {c.field: c for c in COLUMNS}
HEADERS: tuple[str, ...] = tuple(c.header for c in COLUMNS)

_TOP_LEVEL = ("reference", "year", "ministry", "proposing_unit", "award_form", "achievements", "proposer")
_NOMINEE_FIELDS = {
    "nominee_full_name": "full_name",
    "nominee_position": "position",
    "nominee_unit": "unit",
    "nominee_collective_name": "name",
    "nominee_actor_id": "actor_id",
}
_COLUMN_OF_NOMINEE_FIELD = {v: k for k, v in _NOMINEE_FIELDS.items()} | {"kind": "nominee_kind"}
_KIND_ALIASES = {"CÁ NHÂN": "INDIVIDUAL", "TẬP THỂ": "COLLECTIVE"}
_KIND_WORDS = {"INDIVIDUAL": "cá nhân (INDIVIDUAL)", "COLLECTIVE": "tập thể (COLLECTIVE)"}


@dataclass(frozen=True, order=True)
class RowError:
    """What is wrong with one cell (or, with no column, with the row): `row` as the spreadsheet numbers it."""

    row: int
    column: str
    message: str

    @property
    def location(self) -> str:
        return f"dòng {self.row}, {self.column}" if self.column else f"dòng {self.row}"

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


# ---- reading -------------------------------------------------------------------------------------------


def _file_error(message: str) -> InvalidInput:
    return InvalidInput([FieldError(field="FILE", message=message)])


def cell_text(value: Any) -> str:
    """A cell as text: numbers without a spurious '.0', dates as ISO, whitespace stripped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _unquote_formula(text: str) -> str:
    """Undo an export's neutralised formula ("'-x" was written for "-x")."""
    return text[1:] if len(text) > 1 and text[0] == "'" and text[1] in _FORMULA_PREFIXES else text


def _csv_grid(content: bytes, name: str) -> list[tuple[int, list[str]]]:
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a BOM.
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _file_error(f"{name} không phải văn bản UTF-8: hãy lưu dưới dạng 'CSV UTF-8'") from None
    first_line = text.split("\n", 1)[0]
    # Excel in a Vietnamese locale separates with ';' (the decimal separator is ','), else ','.
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        # A record spanning several lines (a quoted cell with line breaks) is still one spreadsheet row.
        return [(number, [_unquote_formula(cell_text(c)) for c in record]) for number, record in enumerate(reader, 1)]
    except csv.Error as err:
        raise _file_error(f"{name} không đọc được như tệp CSV (bản ghi {reader.line_num}): {err}") from None


def _xlsx_grid(content: bytes, name: str) -> list[tuple[int, list[str]]]:
    from zipfile import BadZipFile, ZipFile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with ZipFile(io.BytesIO(content)) as archive:  # a small file may unpack to gigabytes: look first
            unpacked = sum(member.file_size for member in archive.infolist())
        if unpacked > MAX_XLSX_UNPACKED:
            raise _file_error(f"{name} giải nén ra {unpacked} byte, vượt mức cho phép {MAX_XLSX_UNPACKED}")
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (BadZipFile, InvalidFileException, KeyError, OSError) as err:
        raise _file_error(f"{name} không đọc được như sổ tính XLSX: {err}") from None
    try:
        sheet = book.worksheets[0]  # the data sheet comes first (the template's instructions follow it)
        grid: list[tuple[int, list[str]]] = []
        rows = sheet.iter_rows(max_col=MAX_SHEET_COLUMNS, values_only=True)
        for number, values in enumerate(rows, start=1):
            texts = [cell_text(value) for value in values]
            if not any(texts):
                continue
            if len(grid) == MAX_SHEET_ROWS + 1:  # the header and MAX_SHEET_ROWS nominations
                raise _file_error(f"{name} có hơn {MAX_SHEET_ROWS} dòng: hãy chia nhỏ danh sách")
            grid.append((number, texts))
        return grid
    finally:
        book.close()


def _field_of_header(text: str) -> str | None:
    bracketed = _BRACKETED.search(text)
    if bracketed:
        name = bracketed.group(1).lower()
        return name if name in COLUMN_BY_FIELD else None
    lowered = text.strip().lower()
    for column in COLUMNS:
        if lowered in (column.field, column.label_vi.lower()):
            return column.field
    return None


def _header_fields(row_number: int, header: list[str]) -> list[str | None]:
    fields: list[str | None] = []
    errors: list[FieldError] = []
    seen: dict[str, int] = {}
    for index, text in enumerate(header, start=1):
        if not text:
            fields.append(None)
            continue
        name = _field_of_header(text)
        if name is None:
            errors.append(
                FieldError(field=f"header {text!r}", message=f"cột không có trong mẫu (dòng {row_number}, cột {index})")
            )
        elif name in seen:
            errors.append(
                FieldError(field=f"header {text!r}", message=f"cột {seen[name]} đã là {name} (dòng {row_number})")
            )
        else:
            seen[name] = index
        fields.append(name)
    missing = [c for c in COLUMNS if c.required and c.field not in seen]
    errors += [FieldError(field=f"header {c.header!r}", message="thiếu cột") for c in missing]
    if errors:
        raise InvalidInput(errors)
    return fields


def read_rows(path: Path | str) -> list[tuple[int, dict[str, str]]]:
    """The file's nominations as (spreadsheet row number, {field: cell text}); empty cells and rows left out.

    The header is the first non-empty row (or, in an XLSX, of the first sheet). A value in a column
    without a header is kept under the key "column N" so that validation reports it. Raises InvalidInput
    for a file that cannot be read or whose header row is wrong."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMPORT_FORMATS:
        shown = repr(path.suffix) if path.suffix else "không có phần mở rộng"
        raise _file_error(f"không nhập được {shown} ({path.name}): dùng tệp .xlsx hoặc .csv")
    if not path.is_file():
        raise _file_error(f"{path} không tồn tại")
    return read_content(path.read_bytes(), suffix, path.name)


def read_content(content: bytes, suffix: str, name: str) -> list[tuple[int, dict[str, str]]]:
    """read_rows for a file's content (an upload): `suffix` ".csv" or ".xlsx", `name` how messages call it."""
    if suffix not in IMPORT_FORMATS:
        raise _file_error(f"không nhập được {suffix!r} ({name}): dùng tệp .xlsx hoặc .csv")
    grid = _csv_grid(content, name) if suffix == ".csv" else _xlsx_grid(content, name)
    grid = [(number, cells) for number, cells in grid if any(cells)]
    if not grid:
        raise _file_error(f"{name} trống: cần một dòng tiêu đề ({', '.join(HEADERS)})")
    (header_row, header), data = grid[0], grid[1:]
    fields = _header_fields(header_row, header)
    rows = []
    for number, cells in data:
        values: dict[str, str] = {}
        for index, text in enumerate(cells):
            if not text:
                continue
            column = fields[index] if index < len(fields) else None
            values[column or f"cột {index + 1}"] = text
        rows.append((number, values))
    return rows


# ---- one row to a nomination --------------------------------------------------------------------------


def parse_dossier(cell: str) -> list[dict[str, str]]:
    """`KIND|title|reference; KIND|title|sha256` → documents as the nomination file spells them.

    Missing parts are left out, so validation names them (e.g. "document 2 (title): Field required")."""
    documents = []
    for part in re.split(r"[;\n]", cell):
        if not part.strip():
            continue
        pieces = [p.strip() for p in part.split("|")]
        document = {"kind": pieces[0].upper()}
        if len(pieces) == 2:
            document["title"] = pieces[1]
        elif len(pieces) >= 3:
            document["title"] = "|".join(pieces[1:-1])  # a title may contain '|'; the last part identifies
            identifier = pieces[-1]
            if _SHA256.fullmatch(identifier):
                document["content_sha256"] = identifier.lower()
            elif identifier:
                document["reference"] = identifier
        documents.append({k: v for k, v in document.items() if v})
    return documents


def row_to_raw(cells: Mapping[str, str]) -> dict[str, Any]:
    """A row's cells as the raw nomination parse_nomination takes (a nomination file's JSON shape)."""
    raw: dict[str, Any] = {name: cells[name] for name in _TOP_LEVEL if cells.get(name)}
    nominee: dict[str, str] = {}
    kind = cells.get("nominee_kind", "").strip().upper()
    if kind:
        nominee["kind"] = _KIND_ALIASES.get(kind, kind)
    for column, key in _NOMINEE_FIELDS.items():
        if cells.get(column):
            nominee[key] = cells[column]
    raw["nominee"] = nominee
    if cells.get("dossier"):
        raw["dossier"] = parse_dossier(cells["dossier"])
    return raw


def _column_and_message(error: FieldError, raw: Mapping[str, Any]) -> tuple[str, str]:
    """A pydantic path of the raw nomination (`nominee.full_name`, `dossier.1.title`) as the column's header
    and a message that says which document it is about."""
    parts = error.field.split(".")
    head = parts[0]
    message = error.message
    if head == "nominee":
        column = _COLUMN_OF_NOMINEE_FIELD.get(parts[1], "nominee_kind") if len(parts) > 1 else "nominee_kind"
        if message in ("trường không có trong mẫu", "Extra inputs are not permitted"):
            kind = raw.get("nominee", {}).get("kind", "")
            message = f"không dùng cho đối tượng là {_KIND_WORDS.get(kind, kind)}: để trống"
        return COLUMN_BY_FIELD[column].header, message
    if head == "dossier":
        if len(parts) > 1 and parts[1].isdigit():
            where = f"tài liệu {int(parts[1]) + 1}"
            if len(parts) > 2:
                where += f" ({'.'.join(parts[2:])})"
            message = f"{where}: {message}"
        return COLUMN_BY_FIELD["dossier"].header, message
    if head in COLUMN_BY_FIELD:
        return COLUMN_BY_FIELD[head].header, message
    return "", f"{error.field}: {message}" if error.field != "(root)" else message


def _business_key(raw: Mapping[str, Any]) -> tuple[int | str, str, str] | None:
    year, ministry, reference = (raw.get(k) for k in ("year", "ministry", "reference"))
    if not (year and ministry and reference):
        return None
    return (int(year) if str(year).isdigit() else str(year), str(ministry), str(reference))


def validate_rows(
    rows: Iterable[tuple[int, Mapping[str, str]]],
    policy: PolicySet,
    proposer: str | None = None,
    *,
    today: date,
) -> tuple[list[tuple[int, Nomination]], list[RowError]]:
    """Every row through parse_nomination (`today`, in Vietnam, bounds the award year); returns the valid
    rows' nominations and every error, in row order. A row repeating an earlier row's year, ministry and
    reference, or its nominee for the same award form and year, is an error on the later row. With
    `proposer` (the importing actor), a row proposed by anyone else is an error too."""
    from client.nominations import request_identity

    valid: list[tuple[int, Nomination]] = []
    errors: list[RowError] = []
    first_row_of: dict[tuple[int | str, str, str], int] = {}
    first_row_of_nominee: dict[tuple[str, str, int], int] = {}
    for number, cells in rows:
        row_errors = [
            RowError(number, name, "có giá trị trong cột không có tiêu đề")
            for name in cells
            if name not in COLUMN_BY_FIELD
        ]
        raw = row_to_raw(cells)
        nomination: Nomination | None = None
        try:
            nomination = parse_nomination(raw, policy, today=today)
        except InvalidInput as err:
            row_errors += [RowError(number, *_column_and_message(e, raw)) for e in err.errors]
        key = _business_key(raw)
        repeated = key is not None and key in first_row_of
        if key is not None and key in first_row_of:
            row_errors.append(
                RowError(
                    number,
                    COLUMN_BY_FIELD["reference"].header,
                    f"trùng dòng {first_row_of[key]} (cùng năm, bộ, ngành và số tờ trình)",
                )
            )
        elif key is not None:
            first_row_of[key] = number
        if nomination is not None and not repeated:
            nominee = request_identity(nomination)
            if nominee in first_row_of_nominee:
                message = (
                    f"trùng đối tượng, hình thức và năm với dòng {first_row_of_nominee[nominee]}: mỗi đối tượng "
                    "chỉ một hồ sơ cho một hình thức trong một năm"
                )
                row_errors.append(RowError(number, COLUMN_BY_FIELD["nominee_kind"].header, message))
            else:
                first_row_of_nominee[nominee] = number
        if nomination is not None and proposer is not None and nomination.proposer != proposer:
            message = (
                f"{nomination.proposer} không phải người nhập danh sách {proposer}: đơn vị chỉ đề nghị dưới tên mình"
            )
            row_errors.append(RowError(number, COLUMN_BY_FIELD["proposer"].header, message))
        if row_errors:
            errors += row_errors
        elif nomination is not None:
            valid.append((number, nomination))
    return valid, errors


# ---- starting ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowOutcome:
    """What became of one valid row: STARTED, ALREADY_STARTED (this very nomination had been started) or
    FAILED (`detail` says why: another nomination holds its reference, or the server refused it)."""

    row: int
    workflow_id: str
    outcome: Literal["STARTED", "ALREADY_STARTED", "FAILED"]
    detail: str | None = None


@dataclass
class StartCounts:
    started: int = 0
    already_started: int = 0
    failed: list[RowError] = field(default_factory=list)  # not started: another nomination, or the server
    outcomes: list[RowOutcome] = field(default_factory=list)  # every row, in row order

    def as_dict(self) -> dict[str, int]:
        return {"started": self.started, "already_started": self.already_started, "failed": len(self.failed)}


async def check_rows(
    engine: AsyncEngine, nominations: Sequence[tuple[int, Nomination]]
) -> tuple[list[RowError], list[RowError]]:
    """Every valid row against the database roster, before anything starts: (invalid rows — a ministry the
    roster does not know —, refused rows — a proposer the roster does not let propose for the row's
    ministry). A nominee already held by another nomination is reported when its row starts (FAILED)."""
    from client.nominations import DuplicateNominee, ProposalRefused, check_proposal, protect_personal_id

    invalid: list[RowError] = []
    refused: list[RowError] = []
    for number, nomination in nominations:
        try:
            await check_proposal(engine, protect_personal_id(nomination))
        except InvalidInput as err:
            invalid += [RowError(number, *_column_and_message(e, {})) for e in err.errors]
        except ProposalRefused as err:
            refused.append(RowError(number, COLUMN_BY_FIELD["proposer"].header, str(err)))
        except DuplicateNominee:
            continue
    return invalid, refused


def held_by_another(workflow_id: str) -> str:
    return (
        f"số tờ trình đã thuộc hồ sơ khác: {workflow_id} đã được khởi tạo với nội dung khác (cùng năm, bộ, "
        "ngành và số tờ trình); không khởi tạo"
    )


async def start_all(
    client: Client,
    task_queue: str,
    nominations: Sequence[tuple[int, Nomination]],
    progress: Callable[[], None] | None = None,
    *,
    concurrency: int = CONCURRENCY,
    channel: ActionChannel = "CLI",
    engine: AsyncEngine | None = None,
) -> StartCounts:
    """Start every (row, nomination), at most `concurrency` at once and within the task queue's admission
    window per ministry (client.nominations.start_listed); `progress()` is called once per row done (started
    and through its opening work, or failed). A nomination whose workflow id exists counts as already
    started only when the existing workflow was started with this very nomination
    (client.nominations.start_or_existing, as the API's creating calls); another nomination under the same
    year, ministry and reference, or holding the row's nominee for its award form and year, is a failed row
    naming it. With `engine` each row is checked against the roster and the identity claims first
    (check_rows has said the same for the whole file)."""
    from client.nominations import DuplicateNomination, DuplicateNominee, start_listed

    counts = StartCounts()
    gate = asyncio.Semaphore(concurrency)

    def failed(number: int, workflow_id: str, error: RowError) -> None:
        counts.failed.append(error)
        counts.outcomes.append(RowOutcome(number, workflow_id, "FAILED", error.message))

    async def start_one(number: int, nomination: Nomination) -> None:
        workflow_id = workflow_id_for(nomination)
        async with gate:
            try:
                _, created = await start_listed(client, task_queue, nomination, channel=channel, engine=engine)
            except DuplicateNominee as duplicate:
                failed(number, workflow_id, RowError(number, COLUMN_BY_FIELD["nominee_kind"].header, str(duplicate)))
            except DuplicateNomination:
                failed(
                    number,
                    workflow_id,
                    RowError(number, COLUMN_BY_FIELD["reference"].header, held_by_another(workflow_id)),
                )
            except Exception as err:  # reported on its row; the other rows go on
                failed(number, workflow_id, RowError(number, "", f"không khởi tạo được: {err}"))
            else:
                if created:
                    counts.started += 1
                else:
                    counts.already_started += 1
                counts.outcomes.append(RowOutcome(number, workflow_id, "STARTED" if created else "ALREADY_STARTED"))
        if progress is not None:
            progress()

    await asyncio.gather(*(start_one(number, nomination) for number, nomination in nominations))
    counts.failed.sort()
    counts.outcomes.sort(key=lambda outcome: outcome.row)
    return counts
