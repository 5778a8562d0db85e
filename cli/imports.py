"""`starter.py import`: a spreadsheet (XLSX or CSV) of nominations, every row validated, then all started
behind a progress bar (client/importer.py holds the rules)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cli.common import EXIT_FAILURE, EXIT_OK, CliError, database_url, settings, temporal_client
from client.importer import RowError, StartCounts, check_rows, read_rows, start_all, validate_rows
from domain.catalog import current_policy_version, policy_set
from domain.errors import FieldError, InvalidInput

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine
    from temporalio.client import Client

    from domain.nomination import Nomination


def add_parsers(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "import",
        help="kiểm tra từng dòng của bảng tính hồ sơ đề nghị (XLSX hoặc CSV), rồi khởi động tất cả",
        description=(
            "Các cột như trong samples/import-template.xlsx. Nếu có dòng không hợp lệ, mọi dòng và cột sai đều "
            "được báo và không hồ sơ nào được khởi động (mã thoát 2), trừ khi dùng --skip-invalid. Hồ sơ đã khởi "
            "động trước đó (cùng năm, bộ, ngành và số hiệu, cùng nội dung) được tính là đã khởi động; dòng có số "
            "hiệu mà hồ sơ khác đang giữ thì lỗi (mã thoát 1)."
        ),
    )
    s.add_argument("file", help="TỆP.xlsx hoặc TỆP.csv (UTF-8)")
    s.add_argument(
        "--actor",
        help="không bắt buộc: người thực hiện theo mã đăng nhập, nếu ghi phải trùng với mã; "
        "là người đề nghị của mọi dòng",
    )
    s.add_argument("--skip-invalid", action="store_true", help="báo các dòng không hợp lệ và khởi động các dòng hợp lệ")
    s.set_defaults(run=import_command)


async def import_command(
    args: argparse.Namespace,
    *,
    client: Client | None = None,
    task_queue: str | None = None,
    engine: AsyncEngine | None = None,
) -> int:
    """`starter.py import`. Raises InvalidInput (exit 2), before anything is started, for an
    unreadable file and for invalid rows (with --skip-invalid: only when no row is valid) — an unknown
    ministry included —, and ActionRefused (exit 4) naming every row whose ministry the importing actor may
    not propose for; returns 0, or 1 when the server cannot be reached, refuses a row, or another nomination
    holds a row's reference or nominee.

    `client`, `task_queue` and `engine` default to the environment's (TEMPORAL_ADDRESS, ..., TASK_QUEUE,
    DATABASE_URL: the database roster the rows are checked against)."""
    if not args.actor:  # starter.py sets it from the verified token
        raise InvalidInput([FieldError(field="--actor", message="the importing actor (the token's) is required")])
    from domain.calendar import VIETNAM_TZ

    today = datetime.now(VIETNAM_TZ).date()
    policy = policy_set(current_policy_version(today))
    rows = read_rows(args.file)
    if not rows:
        message = f"{Path(args.file).name} has a header row but no nominations"
        raise InvalidInput([FieldError(field="FILE", message=message)])
    valid, errors = validate_rows(rows, policy, proposer=args.actor, today=today)

    from store.db import create_engine

    own_engine = engine is None
    if engine is None:
        engine = create_engine(database_url())
    try:
        return await _check_and_start(args, rows, valid, errors, client, task_queue or settings().task_queue, engine)
    finally:
        if own_engine:
            await engine.dispose()


async def _check_and_start(
    args: argparse.Namespace,
    rows: Sequence[tuple[int, Mapping[str, str]]],
    valid: list[tuple[int, Nomination]],
    errors: list[RowError],
    client: Client | None,
    task_queue: str,
    engine: AsyncEngine,
) -> int:
    unknown, refused = await check_rows(engine, valid)
    if refused:
        from client.nominations import ActionRefused

        print(
            f"{len(refused)} of {len(rows)} rows propose where the importing actor may not; nothing was started",
            file=sys.stderr,
        )
        raise ActionRefused("; ".join(str(e) for e in refused))
    if unknown:
        bad = {e.row for e in unknown}
        valid = [(number, nomination) for number, nomination in valid if number not in bad]
        errors = sorted(errors + unknown)
    invalid_rows = len({e.row for e in errors})
    if errors and not (args.skip_invalid and valid):
        if valid:
            print(
                f"{invalid_rows}/{len(rows)} dòng không hợp lệ; chưa hồ sơ nào được khởi động (sửa các dòng đó, "
                f"hoặc dùng --skip-invalid để khởi động {len(valid)} dòng hợp lệ)\n"
                f"({invalid_rows} of {len(rows)} rows are invalid; nothing was started)",
                file=sys.stderr,
            )
        else:
            print(f"Không dòng nào trong {len(rows)} dòng hợp lệ; chưa hồ sơ nào được khởi động", file=sys.stderr)
        raise InvalidInput([FieldError(field=e.location, message=e.message) for e in errors])
    if errors:
        print(f"Bỏ qua {invalid_rows} dòng không hợp lệ:", file=sys.stderr)
        for error in errors:
            print(f"  {error}", file=sys.stderr)

    if client is None:
        try:
            client = await temporal_client()
        except CliError as err:
            print(f"Lỗi — error: {err}", file=sys.stderr)
            return EXIT_FAILURE
    counts = await _start_with_progress(client, task_queue, valid, engine)

    summary = f"started {counts.started}, already started {counts.already_started}"
    if errors:
        summary += f", invalid rows skipped {invalid_rows}"
    if counts.failed:
        summary += f", failed {len(counts.failed)}"
        for failure in counts.failed:
            print(f"  {failure}", file=sys.stderr)
    print(summary)
    return EXIT_FAILURE if counts.failed else EXIT_OK


async def _start_with_progress(
    client: Client, task_queue: str, valid: Sequence[tuple[int, Nomination]], engine: AsyncEngine
) -> StartCounts:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task("Khởi tạo hồ sơ đề nghị", total=len(valid))
        return await start_all(client, task_queue, valid, lambda: bar.advance(task), engine=engine)
