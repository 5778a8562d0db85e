"""`starter.py document minutes|decision|pledge|ranking`: printable documents in the administrative format
(client/documents.py loads them for the reader, documents/ renders them) written as PDF, DOCX or HTML, the
ranking also as XLSX. Each is read as the record it comes from is read (the token's actor)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cli.common import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_REFUSED,
    READER_HELP,
    CliError,
    database,
    reader,
    settings,
    temporal_client,
)
from domain.errors import FieldError, InvalidInput

if TYPE_CHECKING:
    from client.documents import Outputs

KIND_VI = {
    "minutes": "biên bản kiểm phiếu",
    "decision": "quyết định khen thưởng kèm danh sách",
    "pledge": "giao ước thi đua",
    "ranking": "bảng tổng hợp kết quả chấm điểm, xếp hạng",
}
SUFFIXES = {"pdf": ".pdf", "docx": ".docx", "html": ".html", "xlsx": ".xlsx"}


def outputs_of(args: argparse.Namespace) -> Outputs:
    """The files asked for, each with its format's suffix; none at all is invalid input naming --pdf. (Clients
    are imported inside the functions: `--help` stays fast.)"""
    from client.documents import Outputs

    paths: dict[str, Path | None] = {}
    for name, suffix in SUFFIXES.items():
        value = getattr(args, name, None)
        if value is None:
            paths[name] = None
            continue
        path = Path(value)
        if path.suffix.lower() != suffix:
            raise InvalidInput([FieldError(field=f"--{name}", message=f"tệp {path.name} phải có đuôi {suffix}")])
        paths[name] = path
    outputs = Outputs(**paths)
    if outputs.empty:
        options = "--pdf, --docx, --html" + (" hoặc --xlsx" if hasattr(args, "xlsx") else "")
        raise InvalidInput([FieldError(field="--pdf", message=f"cần ít nhất một tệp đầu ra ({options})")])
    return outputs


async def cmd_document(args: argparse.Namespace) -> int:
    from client.documents import (
        DocumentNotReady,
        decision_document_for,
        minutes_document_for,
        pledge_document_for,
        ranking_document_for,
        write_outputs,
    )

    outputs = outputs_of(args)
    scope = await reader(args)
    task_queue = settings().task_queue
    made_at = datetime.now(UTC)
    workbook: bytes | None = None
    async with database() as engine:
        try:
            if args.document_command == "decision":
                try:
                    client = await temporal_client()
                except CliError:
                    client = None  # the decision is in the database; the anchor line says it could not be read
                doc = await decision_document_for(client, engine, scope, args.id, task_queue, made_at=made_at)
            else:
                client = await temporal_client()
                if args.document_command == "minutes":
                    doc = await minutes_document_for(client, engine, scope, args.id, task_queue, made_at=made_at)
                elif args.document_command == "pledge":
                    doc = await pledge_document_for(client, engine, scope, args.id, task_queue, made_at=made_at)
                else:
                    doc, workbook = await ranking_document_for(
                        client, engine, scope, args.id, task_queue, made_at=made_at
                    )
        except DocumentNotReady as err:
            raise CliError(EXIT_REFUSED, str(err)) from None
        except KeyError as err:
            raise CliError(EXIT_NOT_FOUND, str(err).strip("'\"")) from None
    written = await write_outputs(doc, outputs, workbook)
    for path in written:
        print(f"Đã ghi {KIND_VI[args.document_command]}: {path}")
    print(doc.anchor_line)
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    document = sub.add_parser(
        "document", help="văn bản in theo thể thức Nghị định 30/2020/NĐ-CP (PDF, DOCX, HTML), kèm neo kiểm toán"
    )
    dsub = document.add_subparsers(dest="document_command", required=True)
    targets = {
        "minutes": ("SESSION_ID", "biên bản kiểm phiếu của một phiên bỏ phiếu kín đã kết thúc"),
        "decision": ("DECISION_NO", "quyết định khen thưởng kèm danh sách (những hồ sơ người đọc được xem)"),
        "pledge": ("BLOC_YEAR_ID", "giao ước thi đua của Khối kèm bảng chấm điểm và danh sách đơn vị ký"),
        "ranking": ("BLOC_YEAR_ID", "bảng tổng hợp kết quả chấm điểm, xếp hạng của Khối (cả XLSX có biểu đồ)"),
    }
    for name, (metavar, help_vi) in targets.items():
        s = dsub.add_parser(name, help=help_vi)
        s.add_argument("id", metavar=metavar)
        s.add_argument("--pdf", help="TỆP.pdf")
        s.add_argument("--docx", help="TỆP.docx")
        s.add_argument("--html", help="TỆP.html")
        if name == "ranking":
            s.add_argument("--xlsx", help="TỆP.xlsx: bảng xếp hạng với biểu đồ tổng điểm")
        s.add_argument("--actor", help=READER_HELP)
        s.set_defaults(run=cmd_document)
