"""The bloc's year (`bloc-year`): start it, each person's act (publish, sign, call, submit, adjust,
close-review, open-honouring, elect), its status, the ranking table (and its XLSX), and what the person's
organisation must do now (`todo`). Each act is authorised against the database roster before it is sent; the
workflow checks again."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.ballots import parse_deadline
from cli.common import (
    ACTOR_HELP,
    EXIT_OK,
    READER_HELP,
    database,
    print_json,
    reader,
    settings,
    temporal_client,
)
from domain.errors import FieldError, InvalidInput

if TYPE_CHECKING:
    from domain.bloc.year import BlocYearStatus


def summary(status: BlocYearStatus) -> dict[str, Any]:
    """What an act prints: the year's phase and counts (the whole status is `bloc-year status`)."""
    return {
        "bloc_year_id": status.bloc_year_id,
        "phase": status.phase.value,
        "phase_label_vi": status.phase_label_vi,
        "head": status.leadership.head,
        "deputy": status.leadership.deputy,
        "members": len(status.members),
        "signed": [s.member for s in status.signatures],
        "submitted": [a.member for a in status.assessments],
        "assessment_deadline": status.assessment_deadline.isoformat() if status.assessment_deadline else None,
        "adjustments": len(status.adjustments),
    }


def read_json_file(path: str, field: str = "--file") -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput([FieldError(field=field, message=f"{path} không tồn tại")]) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InvalidInput([FieldError(field=field, message=f"không phải JSON hợp lệ: {err}")]) from None


async def cmd_start(args: argparse.Namespace) -> int:
    from client.bloc_year import start_bloc_year

    async with database() as engine:
        workflow_id = await start_bloc_year(
            await temporal_client(),
            engine,
            settings().task_queue,
            bloc=args.bloc,
            year=args.year,
            opened_by=args.actor,
            head=args.head,
            deputy=args.deputy,
        )
    print(workflow_id)
    return EXIT_OK


async def cmd_act(args: argparse.Namespace) -> int:
    """Every act but start: the client function of the command, the year's summary printed."""
    from client import bloc_year as ops
    from domain.bloc.year import ElectionMethod

    client = await temporal_client()
    async with database() as engine:
        command = args.bloc_year_command
        if command == "publish":
            status = await ops.publish_pledge(
                client, engine, args.bloc_year_id, args.actor, policy_version=args.policy_version
            )
        elif command == "sign":
            status = await ops.sign_pledge(client, engine, args.bloc_year_id, args.actor, member=args.member)
        elif command == "call":
            status = await ops.call_for_assessments(client, engine, args.bloc_year_id, args.actor)
        elif command == "submit":
            raw = read_json_file(args.file)
            status = await ops.submit_assessment(client, engine, args.bloc_year_id, args.actor, raw)
        elif command == "adjust":
            status = await ops.adjust_score(client, engine, args.bloc_year_id, args.actor, adjustment_of(args))
        elif command == "close-review":
            status = await ops.close_review(client, engine, args.bloc_year_id, args.actor)
        elif command == "open-honouring":
            status = await ops.open_honouring(
                client,
                engine,
                args.bloc_year_id,
                args.actor,
                deadline=honouring_deadline(args),
                meeting_ref=args.meeting,
                committee=args.committee,
            )
        else:  # elect
            status = await ops.record_election(
                client,
                engine,
                args.bloc_year_id,
                args.actor,
                method=ElectionMethod(args.method.upper()),
                head=args.head,
                deputy=args.deputy,
                minutes_ref=args.minutes,
            )
    print_json(summary(status))
    return EXIT_OK


def adjustment_of(args: argparse.Namespace) -> Any:
    """The panel's adjustment from --file, or from the flags (what domain.bloc.scoring.parse_adjustment reads)."""
    if args.file:
        return read_json_file(args.file)
    raw: dict[str, Any] = {"kind": args.kind.upper(), "member": args.member, "code": args.code, "reason": args.reason}
    if args.kind.upper() == "CRITERION":
        raw["points"] = args.points
    else:
        raw["occurrences"] = args.occurrences
    return {k: v for k, v in raw.items() if v is not None}


def honouring_deadline(args: argparse.Namespace) -> datetime:
    if (args.deadline is None) == (args.deadline_hours is None):
        raise InvalidInput([FieldError(field="--deadline", message="give --deadline or --deadline-hours")])
    if args.deadline:
        return parse_deadline(args.deadline)
    return datetime.now(UTC) + timedelta(hours=args.deadline_hours)


async def cmd_status(args: argparse.Namespace) -> int:
    from client.bloc_year import readable_status

    status = await readable_status(await temporal_client(), await reader(args), args.bloc_year_id)
    print_json(status.model_dump(mode="json"))
    return EXIT_OK


async def cmd_ranking(args: argparse.Namespace) -> int:
    from client.bloc_year import RANKING_HEADERS, ranking_rows, ranking_workbook, readable_status

    client = await temporal_client()
    scope = await reader(args)
    status = await readable_status(client, scope, args.bloc_year_id)
    rows = ranking_rows(status)
    if args.xlsx:
        path = Path(args.xlsx)
        if path.suffix.lower() != ".xlsx":
            raise InvalidInput([FieldError(field="--xlsx", message="the file name must end in .xlsx")])
        async with database() as engine:
            workbook = await ranking_workbook(client, engine, scope, status, settings().task_queue)
        path.write_bytes(workbook)
        print(f"{path}: {len(rows)} dòng", flush=True)
        return EXIT_OK
    print_json([dict(zip(RANKING_HEADERS, row, strict=True)) for row in rows])
    return EXIT_OK


async def cmd_todo(args: argparse.Namespace) -> int:
    from client.bloc_year import tasks_of

    await reader(args)  # someone the roster lets read nothing is refused (exit 4)
    async with database() as engine:
        tasks = await tasks_of(await temporal_client(), engine, args.actor)
    print_json([t.model_dump(mode="json") for t in tasks])
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser(
        "bloc-year", help="năm thi đua của Khối: giao ước, tự chấm điểm, xếp hạng, suy tôn, bầu Khối trưởng"
    )
    bsub = group.add_subparsers(dest="bloc_year_command", required=True)

    s = bsub.add_parser(
        "start", help="Khối trưởng mở năm thi đua của Khối (Trưởng, Phó khối theo luân phiên nếu không ghi)"
    )
    s.add_argument("--bloc", required=True, help="mã khối, ví dụ NOI_CHINH")
    s.add_argument("--year", required=True, type=int, help="năm thi đua")
    s.add_argument("--head", help="đơn vị Trưởng khối của năm (mặc định: theo thứ tự luân phiên)")
    s.add_argument("--deputy", help="đơn vị Phó khối của năm (cùng với --head)")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.set_defaults(run=cmd_start)

    def acting(name: str, what: str) -> argparse.ArgumentParser:
        p = bsub.add_parser(name, help=what)
        p.add_argument("bloc_year_id", help="mã năm thi đua: bloc-year-<khối>-<năm>")
        p.add_argument("--actor", help=ACTOR_HELP)
        p.set_defaults(run=cmd_act)
        return p

    s = acting("publish", "Trưởng khối công bố giao ước thi đua của năm cùng bảng chấm điểm")
    s.add_argument("--policy-version", help="phiên bản bảng chấm điểm (mặc định: bản mới nhất đang có hiệu lực)")
    s = acting("sign", "đại diện đơn vị thành viên ký giao ước cho đơn vị mình")
    s.add_argument("--member", help="đơn vị ký (mặc định: đơn vị của người đại diện)")
    acting("call", "Trưởng khối đề nghị các đơn vị tự chấm điểm: mở thời hạn nộp")
    s = acting("submit", "đại diện đơn vị thành viên nộp bản tự chấm điểm")
    s.add_argument(
        "--file", required=True, help="tệp tự chấm điểm assessment.json: {scores: {MÃ: {points, evidence}}, ...}"
    )
    s = acting("adjust", "thành viên tổ chấm chéo điều chỉnh điểm của một đơn vị, kèm lý do")
    s.add_argument("--file", help="tệp điều chỉnh adjustment.json (hoặc các tùy chọn dưới đây)")
    s.add_argument("--member", help="đơn vị được điều chỉnh điểm")
    s.add_argument(
        "--kind",
        choices=["criterion", "bonus", "penalty"],
        default="criterion",
        help="criterion: tiêu chí; bonus: điểm thưởng; penalty: điểm trừ",
    )
    s.add_argument("--code", help="mã tiêu chí hoặc mã mục")
    s.add_argument("--points", help="số điểm của tiêu chí")
    s.add_argument("--occurrences", type=int, help="số lần của mục thưởng hoặc trừ (0 là bỏ mục)")
    s.add_argument("--reason", help="lý do (bắt buộc)")
    acting("close-review", "Trưởng khối kết thúc chấm chéo: chốt điểm, công bố xếp hạng")
    s = acting("open-honouring", "Trưởng khối mở bỏ phiếu suy tôn của bậc tiếp theo (phiên bỏ phiếu kín của Khối)")
    s.add_argument("--meeting", required=True, help="số hiệu hội nghị, ví dụ HNTK-2026")
    s.add_argument("--deadline", help="hạn bỏ phiếu, ngày giờ ISO (giờ Việt Nam nếu không ghi múi giờ)")
    s.add_argument("--deadline-hours", type=float, help="hạn bỏ phiếu, tính bằng số giờ kể từ bây giờ")
    s.add_argument("--committee", action="append", metavar="ACTOR", help="thành viên Ban kiểm phiếu, mỗi người một lần")
    s = acting("elect", "Trưởng khối ghi Trưởng, Phó khối năm sau (theo luân phiên hoặc bỏ phiếu tại hội nghị)")
    s.add_argument(
        "--method", choices=["rotation", "ballot"], required=True, help="rotation: luân phiên; ballot: bỏ phiếu"
    )
    s.add_argument("--head", help="đơn vị Trưởng khối năm sau")
    s.add_argument("--deputy", help="đơn vị Phó khối năm sau")
    s.add_argument("--minutes", help="số biên bản kiểm phiếu (bắt buộc với --method ballot)")

    s = bsub.add_parser(
        "status",
        help="tình hình năm thi đua (cho Trưởng khối, đại diện các đơn vị trong khối, "
        "Ban Thi đua – Khen thưởng Trung ương)",
    )
    s.add_argument("bloc_year_id", help="mã năm thi đua: bloc-year-<khối>-<năm>")
    s.add_argument("--actor", help=READER_HELP)
    s.set_defaults(run=cmd_status)

    s = bsub.add_parser("ranking", help="bảng xếp hạng, sau khi kết thúc chấm chéo")
    s.add_argument("bloc_year_id", help="mã năm thi đua: bloc-year-<khối>-<năm>")
    s.add_argument("--xlsx", metavar="PATH", help="ghi bảng xếp hạng ra tệp XLSX thay cho in ra màn hình")
    s.add_argument("--actor", help=READER_HELP)
    s.set_defaults(run=cmd_ranking)

    s = bsub.add_parser(
        "todo", help="việc đơn vị anh/chị cần làm bây giờ trong năm thi đua của Khối (ký, nộp, bỏ phiếu)"
    )
    s.add_argument("--actor", help=READER_HELP)
    s.set_defaults(run=cmd_todo)
