"""`ops stuck`: the operators' table of held, overdue and late nominations (client/operations.py)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cli.common import EXIT_OK, READER_HELP, reader, temporal_client

if TYPE_CHECKING:
    from client.operations import StuckRow

COLUMNS = (
    ("Tình trạng", lambda r: ", ".join(r.marks)),
    ("Mã hồ sơ", lambda r: r.workflow_id),
    ("Giai đoạn", lambda r: r.stage or ""),
    ("Bộ", lambda r: r.ministry or ""),
    ("Hình thức", lambda r: r.award_form or ""),
    ("Chờ vai trò", lambda r: r.awaiting_role or ""),
    ("Hạn (giờ Việt Nam)", lambda r: r.due_vi or ""),
)
NOTHING_STUCK_VI = "Không có hồ sơ nào tạm dừng, quá hạn hay trễ hạn."


def table(rows: list[StuckRow]) -> str:
    """A plain-text table (one line per nomination), widths from the content."""
    cells = [[header for header, _ in COLUMNS]] + [[cell(r) for _, cell in COLUMNS] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)).rstrip() for line in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


async def cmd_stuck(args: argparse.Namespace) -> int:
    from client.operations import stuck_nominations

    client = await temporal_client()
    scope = await reader(args)
    rows = await stuck_nominations(client, scope, datetime.now(UTC), ministry=args.ministry, limit=args.limit)
    if getattr(args, "json", False):
        print(json.dumps([r.model_dump(mode="json") for r in rows], ensure_ascii=False, indent=2))
    elif rows:
        print(table(rows))
    else:
        print(NOTHING_STUCK_VI)
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    ops = sub.add_parser("ops", help="vận hành: việc bị tắc trong nháy mắt")
    commands = ops.add_subparsers(dest="ops_command", required=True)
    s = commands.add_parser(
        "stuck",
        help="hồ sơ đang chạy bị tạm dừng (TẠM DỪNG), quá hạn (QUÁ HẠN) hoặc trễ hạn (TRỄ HẠN), quá hạn trước",
    )
    s.add_argument("--ministry", help="chỉ hồ sơ của bộ, ngành này")
    s.add_argument("--limit", type=int, help="đọc nhiều nhất chừng này hồ sơ từ Temporal")
    s.add_argument("--actor", help=READER_HELP)
    s.set_defaults(run=cmd_stuck)
