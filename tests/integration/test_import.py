"""A list import against the session's dev server and worker: a 500-row file with three bad rows is
refused naming exactly those rows and columns and starts nothing; corrected, it starts 500 nominations;
imported again, it starts none (500 already started). Once through `import_command` in this process,
once through `starter.py import` as staff run it (skipped until starter.py has the `import` command).

The 500-row imports start real workflows on the session's dev server, on a task queue no worker polls:
the import is about which workflows exist (started, refused as duplicates), and a thousand nominations
run by the session's worker would keep it busy for the tests after these (whose captured logs would see
their activities). The small --skip-invalid import runs on the session's worker, to the council. The
nominations are the Supreme People's Procuracy's (VKSNDTC), for which no other test opens a council
session."""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from cli.imports import add_parsers as add_import_parser
from cli.imports import import_command
from client.importer import COLUMN_BY_FIELD, COLUMNS, HEADERS
from client.nominations import status
from domain.catalog import policy_set
from domain.errors import InvalidInput
from domain.stages import Stage
from tests.factories import current_year
from tests.integration.helpers import AUTH_ENV, token_for, wait_for_stage

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STARTER = ROOT / "starter.py"
ROWS = 500
MINISTRY = "VKSNDTC"
PROPOSER = "vksndtc.vutckt.tran-minh-quan"  # fictional, like every name below
AWARD_FORM = "BANG_KHEN_BO"
# Spreadsheet row → the column its error is reported in (row 1 is the header).
BAD_ROWS = {51: "year", 202: "dossier", 403: "reference"}
DUPLICATED_ROW = 10  # row 403 repeats this row's reference

SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ")
MIDDLE = ("Văn", "Thị", "Minh", "Thu", "Đức", "Ngọc", "Hữu", "Thanh")
GIVEN = ("An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Khánh", "Lan", "Nam", "Phương", "Quân", "Trang", "Yến")
UNITS = ("Vụ Pháp chế", "Văn phòng", "Vụ Tổ chức cán bộ", "Cục Kiểm sát thi hành án", "Vụ Hợp tác quốc tế")


def fictional_rows(token: str, count: int = ROWS) -> list[dict[str, str]]:
    form = policy_set("2026.01").form(AWARD_FORM)
    rows = []
    for n in range(1, count + 1):
        unit = UNITS[n % len(UNITS)]
        reference = f"{n}-{token}/TTr-VKS"
        rows.append(
            {
                "reference": reference,
                "year": str(current_year()),
                "ministry": MINISTRY,
                "proposing_unit": unit,
                "award_form": AWARD_FORM,
                "nominee_kind": "INDIVIDUAL",
                "nominee_full_name": f"{SURNAMES[n % 10]} {MIDDLE[n % 8]} {GIVEN[n % 13]}",
                "nominee_position": "Kiểm sát viên" if n % 2 else "Chuyên viên",
                "nominee_unit": f"{unit}, tổ {token}",  # one nominee per list: a person is proposed once a year
                "achievements": f"Hoàn thành xuất sắc nhiệm vụ năm 2026 (hồ sơ mẫu số {n}).",
                "proposer": PROPOSER,
                "dossier": "; ".join(
                    f"{k.value}|Tài liệu {k.value.lower()}|{k.value[:2]}-{n}" for k in form.required_documents
                ),
            }
        )
    return rows


def with_bad_rows(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    bad = copy.deepcopy(rows)
    bad[51 - 2]["year"] = "1999"
    bad[202 - 2]["dossier"] = "TO_TRINH|Tờ trình đề nghị|TTr-202"  # two required documents missing
    bad[403 - 2]["reference"] = bad[DUPLICATED_ROW - 2]["reference"]
    return bad


def table(rows: Sequence[dict[str, str]]) -> list[list[str]]:
    return [[row.get(c.field, "") for c in COLUMNS] for row in rows]


def write_xlsx(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(HEADERS))
    for row in table(rows):
        sheet.append(row)
    book.save(path)
    return path


def write_csv(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    import csv

    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADERS)
        writer.writerows(table(rows))
    return path


def workflow_ids(rows: Sequence[dict[str, str]]) -> list[str]:
    return [f"nomination-{r['year']}-{r['ministry']}-{r['reference']}" for r in rows]


async def how_many_exist(client: Client, ids: Sequence[str]) -> int:
    gate = asyncio.Semaphore(50)

    async def exists(workflow_id: str) -> bool:
        async with gate:
            try:
                await client.get_workflow_handle(workflow_id).describe()
                return True
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return False
                raise

    return sum(await asyncio.gather(*(exists(i) for i in ids)))


EXPECTED_LOCATIONS = [f"dòng {row}, {COLUMN_BY_FIELD[field].header}" for row, field in sorted(BAD_ROWS.items())]


def import_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_import_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["import", *argv, "--actor", PROPOSER])


@pytest.fixture(scope="module")
def idle_queue(client: Client) -> str:
    """A task queue on the session's dev server that no worker polls."""
    return f"import-idle-{uuid.uuid4().hex[:8]}"


# ---- in process ---------------------------------------------------------------------------------------


async def test_a_500_row_workbook_is_refused_then_started_then_found_started(
    client: Client, idle_queue: str, db_engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = fictional_rows(uuid.uuid4().hex[:8])
    ids = workflow_ids(good)
    path = write_xlsx(tmp_path / "danh-sach.xlsx", with_bad_rows(good))

    with pytest.raises(InvalidInput) as refused:
        await import_command(import_args(str(path)), client=client, task_queue=idle_queue, engine=db_engine)
    assert [e.field for e in refused.value.errors] == EXPECTED_LOCATIONS
    messages = [e.message for e in refused.value.errors]
    assert "phải từ 2000 trở lên" in messages[0]
    assert messages[1].startswith("missing required documents: BAO_CAO_THANH_TICH")
    assert messages[2] == f"trùng dòng {DUPLICATED_ROW} (cùng năm, bộ, ngành và số tờ trình)"
    assert "3 of 500 rows are invalid; nothing was started" in capsys.readouterr().err
    assert await how_many_exist(client, ids) == 0

    write_xlsx(path, good)
    assert await import_command(import_args(str(path)), client=client, task_queue=idle_queue, engine=db_engine) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "started 500, already started 0"
    assert await how_many_exist(client, ids) == ROWS

    assert await import_command(import_args(str(path)), client=client, task_queue=idle_queue, engine=db_engine) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "started 0, already started 500"


async def test_skip_invalid_starts_the_valid_rows_and_reports_the_others(
    client: Client, task_queue: str, db_engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = fictional_rows(uuid.uuid4().hex[:8], count=3)
    rows[1]["nominee_full_name"] = ""
    path = write_csv(tmp_path / "danh-sach.csv", rows)

    assert (
        await import_command(
            import_args(str(path), "--skip-invalid"), client=client, task_queue=task_queue, engine=db_engine
        )
        == 0
    )
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == "started 2, already started 0, invalid rows skipped 1"
    assert f"dòng 3, {COLUMN_BY_FIELD['nominee_full_name'].header}: thiếu trường bắt buộc" in err
    ids = workflow_ids(rows)
    for started, row in ((ids[0], rows[0]), (ids[2], rows[2])):
        await wait_for_stage(client, started, Stage.COUNCIL_REVIEW)
        assert (await status(client, started)).nominee_name == row["nominee_full_name"]
    assert await how_many_exist(client, [ids[1]]) == 0


# ---- through starter.py ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def import_cli_env(client: Client, idle_queue: str, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TDKT_TOKEN"}
    return (
        env
        | AUTH_ENV
        | {
            "TDKT_TOKEN": token_for(PROPOSER),
            "TEMPORAL_ADDRESS": client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": client.namespace,
            "TASK_QUEUE": idle_queue,
            "DATABASE_URL": database_url,
        }
    )


async def starter(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(STARTER), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_starter_import_of_a_500_row_csv(import_cli_env: dict[str, str], client: Client, tmp_path: Path) -> None:
    good = fictional_rows(uuid.uuid4().hex[:8])
    ids = workflow_ids(good)
    path = write_csv(tmp_path / "danh-sach.csv", with_bad_rows(good))

    refused = await starter(import_cli_env, "import", str(path))
    assert refused.returncode == 2, refused.stderr
    reported = [line.strip() for line in refused.stderr.splitlines() if line.startswith("  dòng ")]
    assert [line.split(": ", 1)[0] for line in reported] == EXPECTED_LOCATIONS, refused.stderr
    assert "3 of 500 rows are invalid; nothing was started" in refused.stderr
    assert await how_many_exist(client, ids) == 0

    write_csv(path, good)
    accepted = await starter(import_cli_env, "import", str(path))
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.splitlines()[-1] == "started 500, already started 0"
    assert await how_many_exist(client, ids) == ROWS

    again = await starter(import_cli_env, "import", str(path))
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == "started 0, already started 500"


async def test_starter_import_needs_a_token(import_cli_env: dict[str, str], tmp_path: Path) -> None:
    path = write_csv(tmp_path / "danh-sach.csv", fictional_rows(uuid.uuid4().hex[:8])[:2])
    anonymous = {k: v for k, v in import_cli_env.items() if k != "TDKT_TOKEN"}
    done = await starter(anonymous, "import", str(path))
    assert done.returncode == 7 and "signed token is required" in done.stderr


async def test_starter_import_refuses_an_unreadable_file(import_cli_env: dict[str, str], tmp_path: Path) -> None:
    wrong = tmp_path / "danh-sach.ods"
    wrong.write_bytes(b"")
    done = await starter(import_cli_env, "import", str(wrong))
    assert done.returncode == 2
    assert "FILE: không nhập được '.ods'" in done.stderr
