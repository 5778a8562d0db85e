"""A workbook is read streaming within bounds: a zip bomb (a small upload that unpacks to hundreds of MiB) is
refused before it is opened, a sheet with too many rows stops being read at the limit, and neither costs the
reader more than a bounded amount of memory. The API answers both with a 422 naming the body, never a 5xx."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from api import create_app
from client.importer import COLUMNS, MAX_SHEET_ROWS, MAX_XLSX_UNPACKED, read_content
from domain.errors import InvalidInput
from security.tokens import Keyring, issue_token
from store.db import create_engine
from store.migrate import upgrade_to_head
from tests.asgi import call

ROOT = Path(__file__).resolve().parents[2]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RING = Keyring(keys={"k1": "s" * 40}, current="k1")


def workbook_with_rows(rows: int, filler: str = "x") -> bytes:
    """A valid workbook (the template's header) whose first sheet is rewritten to hold `rows` rows of text."""
    book = Workbook()
    book.active.append([c.header for c in COLUMNS])
    plain = io.BytesIO()
    book.save(plain)

    def cells(texts: list[str]) -> str:
        return "".join(f'<c t="inlineStr"><is><t>{text}</t></is></c>' for text in texts)

    header = f"<row>{cells([c.header for c in COLUMNS])}</row>"
    body = header + "".join(f"<row>{cells([filler] * len(COLUMNS))}</row>" for _ in range(rows))
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
        f'spreadsheetml/2006/main"><sheetData>{body}</sheetData></worksheet>'
    )
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(plain.getvalue())) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = sheet.encode() if item.filename == "xl/worksheets/sheet1.xml" else source.read(item.filename)
            target.writestr(item.filename, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return out.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    content = workbook_with_rows(40_000, "y" * 400)  # about 190 MiB of XML
    assert len(content) < 2 * 1024 * 1024
    return content


def test_a_zip_bomb_is_refused_before_it_is_opened_naming_the_limit(bomb: bytes):
    with pytest.raises(InvalidInput) as refused:
        read_content(bomb, ".xlsx", "bomb.xlsx")
    [error] = refused.value.errors
    assert f"vượt mức cho phép {MAX_XLSX_UNPACKED}" in error.message


def test_a_sheet_past_the_row_limit_stops_being_read(tmp_path: Path):
    with pytest.raises(InvalidInput) as refused:
        read_content(workbook_with_rows(MAX_SHEET_ROWS + 1), ".xlsx", "long.xlsx")
    assert f"có hơn {MAX_SHEET_ROWS} dòng" in refused.value.errors[0].message
    assert len(read_content(workbook_with_rows(5), ".xlsx", "short.xlsx")) == 5


def test_reading_hostile_workbooks_stays_within_the_memory_bound(tmp_path: Path, bomb: bytes):
    """In a process of its own: its peak resident memory, bombs and a sheet just under the row limit read."""
    (tmp_path / "bomb.xlsx").write_bytes(bomb)
    (tmp_path / "full.xlsx").write_bytes(workbook_with_rows(MAX_SHEET_ROWS, "z" * 40))
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from domain.errors import InvalidInput\n"
        "from client.importer import read_content\n"
        "outcomes = []\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        outcomes.append(len(read_content(Path(name).read_bytes(), '.xlsx', name)))\n"
        "    except InvalidInput as err:\n"
        "        outcomes.append(err.errors[0].message[-40:])\n"
        # VmHWM: this process's own peak (ru_maxrss would carry the forking test process's across exec).
        "peak = next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM'))\n"
        "print(json.dumps({'outcomes': outcomes, 'max_rss_kb': peak}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "bomb.xlsx"), str(tmp_path / "full.xlsx")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\nhostile workbooks: {report}")
    assert report["outcomes"][1] == MAX_SHEET_ROWS  # the header is no nomination
    assert report["max_rss_kb"] < 256 * 1024


async def test_the_api_answers_a_zip_bomb_with_a_422_naming_the_body(bomb: bytes, tmp_path: Path):
    async def no_temporal() -> Any:
        raise AssertionError("a refused upload never reaches Temporal")

    # The token is checked against the revoked tokens first: a migrated database of the test's own.
    url = f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
    await upgrade_to_head(url)
    engine = create_engine(url)
    app = create_app(no_temporal, keyring=RING, task_queue="unused", engine=engine)
    headers = [("content-type", XLSX), ("authorization", f"Bearer {issue_token(RING, 'btp.vutckt.le-thi-hoa')}")]
    reply = await call(app, "POST", "/nominations:import", bomb, headers=headers)
    assert reply.status == 422, reply
    problem = reply.json()
    assert problem["errors"][0]["field"] == "body" and "vượt mức cho phép" in problem["errors"][0]["message"]
    await engine.dispose()
