"""`starter.py report counts|decisions`: the permanent record's counts and list of decisions, as tables on screen
or as CSV or XLSX (client/reports.py builds them), for what the reader may read."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.common import EXIT_FAILURE, EXIT_OK, READER_HELP, database_url
from client.reports import (
    COUNT_HEADERS,
    COUNTS_SHEET,
    DECISION_HEADERS,
    DECISIONS_SHEET,
    DIMENSION_LABELS_VI,
    DIMENSIONS,
    count_nominations,
    count_table,
    decision_table,
    list_decisions,
    report_format,
    write_report,
)
from domain.errors import FieldError, InvalidInput

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from domain.access import ReadScope


def add_parsers(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="số liệu hồ sơ và danh sách quyết định (màn hình, CSV hoặc XLSX)")
    rsub = report.add_subparsers(dest="report_command", required=True)

    s = rsub.add_parser("counts", help="số hồ sơ theo bộ, ngành, khối, năm, hình thức, giai đoạn và kết quả")
    s.add_argument("--by", choices=DIMENSIONS, help="chỉ một chiều (mặc định: tất cả)")
    s.add_argument("--year", type=int, help="chỉ hồ sơ của năm khen thưởng này")
    s.add_argument("--out", help="TỆP.csv hoặc TỆP.xlsx (mặc định: bảng trên màn hình)")
    s.add_argument("--actor", help=READER_HELP)
    s.set_defaults(run=report_command)

    s = rsub.add_parser(
        "decisions", help="các quyết định đã ghi: số, ngày, người quyết định, số được và không được khen thưởng"
    )
    s.add_argument("--year", type=int, help="chỉ quyết định ký trong năm này")
    s.add_argument("--out", help="TỆP.csv hoặc TỆP.xlsx (mặc định: bảng trên màn hình)")
    s.add_argument("--actor", help=READER_HELP)
    s.set_defaults(run=report_command)


async def report_command(args: argparse.Namespace, *, engine: AsyncEngine | None = None) -> int:
    """`starter.py report counts|decisions` for the reader `args.actor` (the token's actor): raises InvalidInput
    (exit 2) for an --out that is neither .csv nor .xlsx and client.access.ReadRefused (exit 4) for a reader
    who may read nothing; returns 1 when the database cannot be read."""
    out = Path(args.out) if getattr(args, "out", None) else None
    if out is not None:
        try:
            report_format(out)
        except ValueError as err:
            raise InvalidInput([FieldError(field="--out", message=str(err))]) from None
    owned = engine is None
    if engine is None:
        from store.db import create_engine

        engine = create_engine(database_url())
    from sqlalchemy.exc import SQLAlchemyError

    from client.access import ReadRefused, checked_scope

    try:
        if not getattr(args, "actor", None):
            raise ReadRefused("a report is read by someone: give the reader's token (--token or TDKT_TOKEN)")
        scope = await checked_scope(engine, args.actor)
        headers, table, title, sections = await _build(args, engine, scope)
    except (SQLAlchemyError, OSError) as err:
        print(f"Lỗi — error: không đọc được cơ sở dữ liệu ({type(err).__name__}): {err}", file=sys.stderr)
        print("       (kiểm tra DATABASE_URL và đã nâng lược đồ chưa: `starter.py db upgrade`)", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        if owned:
            await engine.dispose()
    if out is not None:
        await asyncio.to_thread(write_report, out, headers, table, title)
        print(f"{len(table)} rows written to {out}")
    else:
        _print_tables(sections)
    return EXIT_OK


Section = tuple[str, Sequence[str], list[list[Any]]]  # an on-screen table: title, headers, rows


async def _build(
    args: argparse.Namespace, engine: AsyncEngine, scope: ReadScope
) -> tuple[tuple[str, ...], list[list[Any]], str, list[Section]]:
    """(headers, every row, sheet title, on-screen tables as (title, headers, rows))."""
    if args.report_command == "counts":
        dimensions = [args.by] if args.by else list(DIMENSIONS)
        table = count_table(await count_nominations(engine, dimensions, year=args.year, scope=scope))
        # On screen one table per dimension, named in its title rather than in a column.
        sections: list[Section] = [
            (
                f"Hồ sơ đề nghị theo {DIMENSION_LABELS_VI[d].lower()}"
                + (f" – năm {args.year}" if args.year is not None else ""),
                COUNT_HEADERS[1:],
                [row[1:] for row in table if row[0] == DIMENSION_LABELS_VI[d]],
            )
            for d in dimensions
        ]
        return COUNT_HEADERS, table, COUNTS_SHEET, sections
    table = decision_table(await list_decisions(engine, year=args.year, scope=scope))
    title = "Quyết định khen thưởng" + (f" – năm {args.year}" if args.year is not None else "")
    return DECISION_HEADERS, table, DECISIONS_SHEET, [(title, DECISION_HEADERS, table)]


def _print_tables(sections: Sequence[Section]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from client.decisions import DATE_FORMAT_VI

    console = Console(width=None if sys.stdout.isatty() else 160, highlight=False)
    for title, headers, rows in sections:
        table = Table(title=title, title_justify="left")
        for header in headers:
            table.add_column(header, overflow="fold")
        for row in rows:
            table.add_row(*(Text(v.strftime(DATE_FORMAT_VI) if isinstance(v, date) else str(v)) for v in row))
        if not rows:
            table.caption = "(không có)"
        console.print(table)
