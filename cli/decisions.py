"""Decisions naming many approved nominations: record one, export its awardees."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.common import (
    ACTOR_HELP,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_REFUSED,
    READER_HELP,
    CliError,
    anchor_stamp,
    build_payload,
    database,
    settings,
    show,
    temporal_client,
)
from domain.errors import FieldError, InvalidInput


def read_workflow_ids(path: str) -> list[str]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InvalidInput([FieldError(field="LIST_FILE", message=f"{path} does not exist")]) from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


async def cmd_decision_issue(args: argparse.Namespace) -> int:
    from client.decisions import issue_decision
    from domain.decisions import DecisionRequest

    request = build_payload(
        DecisionRequest,
        decision={
            "decision_no": args.number,
            "decision_date": args.date,
            "authority": args.authority.upper(),
            "actor": args.actor,
        },
        workflow_ids=read_workflow_ids(args.list_file),
    )
    summary = await issue_decision(await temporal_client(), settings().task_queue, request)
    show(summary.model_dump(mode="json"))
    print(f"accepted {len(summary.accepted)}, refused {len(summary.refused)}")
    return EXIT_OK if not summary.refused else EXIT_REFUSED


async def cmd_decision_export(args: argparse.Namespace) -> int:
    from client.access import checked_scope
    from client.decisions import export_decision

    async with database() as engine:
        try:
            scope = await checked_scope(engine, args.actor)
            # Only the awardees the reader may read (the central board: all of them).
            stamp = await anchor_stamp()
            rows = await export_decision(engine, args.number, Path(args.out), scope=scope, audit_anchor=stamp)
        except ValueError as err:
            raise InvalidInput([FieldError(field="--out", message=str(err))]) from None
        except KeyError as err:
            raise CliError(EXIT_NOT_FOUND, str(err).strip("'\"")) from None
    print(f"Đã ghi {rows} người/tập thể được khen thưởng vào {args.out}")
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    decision = sub.add_parser("decision", help="quyết định khen thưởng cho nhiều hồ sơ đã được chấp thuận")
    dsub = decision.add_subparsers(dest="decision_command", required=True)
    s = dsub.add_parser("issue", help="ghi quyết định đã ký cho danh sách mã hồ sơ (mỗi dòng một mã)")
    s.add_argument("list_file", help="tệp danh sách mã hồ sơ")
    s.add_argument("--number", required=True, help="số quyết định, ví dụ 1520/QĐ-TTg")
    s.add_argument("--date", required=True, help="ngày quyết định, YYYY-MM-DD")
    s.add_argument(
        "--authority",
        required=True,
        choices=["minister", "agency_head", "prime_minister", "president"],
        help="người quyết định: Bộ trưởng, Thủ trưởng cơ quan, Thủ tướng Chính phủ, Chủ tịch nước",
    )
    s.add_argument("--actor", help=ACTOR_HELP)
    s.set_defaults(run=cmd_decision_issue)
    s = dsub.add_parser(
        "export",
        help="danh sách được khen thưởng của quyết định ra CSV hoặc XLSX (những người người xem được phép xem)",
    )
    s.add_argument("number", help="số quyết định")
    s.add_argument("--out", required=True, help="TỆP.csv hoặc TỆP.xlsx")
    s.add_argument("--actor", help=READER_HELP)
    s.set_defaults(run=cmd_decision_export)
