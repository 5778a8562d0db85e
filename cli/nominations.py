"""A nomination's path: propose it, read it, and the actions of the bodies it passes through."""

from __future__ import annotations

import argparse
import json
import os
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cli.common import (
    ACTOR_HELP,
    EXIT_OK,
    EXIT_REFUSED,
    READER_HELP,
    CliError,
    act,
    build_payload,
    database,
    reader,
    settings,
    show,
    temporal_client,
)
from domain.calendar import VIETNAM_TZ
from domain.catalog import current_policy_version, policy_set
from domain.errors import FieldError, InvalidInput
from domain.messages import CentralApproval, MeetingResult, ReasonedAction, Resubmission
from domain.nomination import Nomination, parse_nomination
from domain.stages import Stage
from domain.voting import tally_errors

if TYPE_CHECKING:
    from client.nominations import NominationUpdate

SHORT_NOTICE_SWITCH = "TDKT_ALLOW_SHORT_NOTICE"


def read_nomination(path: str, *, new: bool = True) -> Nomination:
    """A nomination file, validated in full; for a `new` nomination the award year too (today in Vietnam)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput([FieldError(field="FILE", message=f"{path} does not exist")]) from None
    except json.JSONDecodeError as err:
        raise InvalidInput([FieldError(field="FILE", message=f"not valid JSON: {err}")]) from None
    today = datetime.now(VIETNAM_TZ).date()
    return parse_nomination(raw, policy_set(current_policy_version(today)), today=today if new else None)


def meeting_result(args: argparse.Namespace) -> MeetingResult:
    """The typed-in counts as a payload; counts that cannot fit each other are refused here, each naming its
    field (tally.present, ...), before anything is asked of the server."""
    tally = {
        "members": args.members,
        "present": args.present,
        "votes_for": args.votes_for,
        "votes_against": args.votes_against,
        "written": args.written,
    }
    problems = tally_errors(**tally)
    if problems:
        raise InvalidInput(problems)
    return build_payload(MeetingResult, actor=args.actor, tally=tally, minutes_ref=args.minutes)


async def cmd_nominate(args: argparse.Namespace) -> int:
    if args.public_notice_seconds is not None and os.environ.get(SHORT_NOTICE_SWITCH) != "1":
        message = f"demo and tests only (the law's notice is 10 working days): set {SHORT_NOTICE_SWITCH}=1 to allow"
        raise InvalidInput([FieldError(field="--public-notice-seconds", message=message)])
    nomination = read_nomination(args.file)  # validate before connecting: a bad file starts nothing
    if nomination.proposer != args.actor:
        raise CliError(
            EXIT_REFUSED,
            f"proposer: {nomination.proposer!r} không phải người đứng tên mã đăng nhập {args.actor!r}; đơn vị chỉ "
            "đề nghị với tư cách chính mình; chưa hồ sơ nào được khởi động\n"
            f"(proposer: {nomination.proposer!r} is not the token's actor {args.actor!r}; nothing was started)",
        )
    from client.nominations import start_nomination

    # Checked against the database roster and the identity claims before anything starts: an unknown ministry
    # exits 2, a proposer without the role 4, a nominee another nomination holds for the form and year 3.
    async with database() as engine:
        client = await temporal_client()
        handle = await start_nomination(
            client, nomination, settings().task_queue, public_notice_seconds=args.public_notice_seconds, engine=engine
        )
    print(handle.id)
    return EXIT_OK


async def cmd_status(args: argparse.Namespace) -> int:
    from client.access import nomination_status

    client = await temporal_client()
    scope = await reader(args)
    show((await nomination_status(client, scope, args.workflow_id)).model_dump(mode="json"))
    return EXIT_OK


async def cmd_list(args: argparse.Namespace) -> int:
    from client.access import ReadRefused, list_nominations, ministry_filter_error

    client = await temporal_client()
    scope = await reader(args)
    if args.ministry and (refusal := ministry_filter_error(scope, args.ministry)) is not None:
        raise ReadRefused(refusal)
    rows = await list_nominations(client, scope, stage=args.stage, ministry=args.ministry, year=args.year)
    show(rows)
    return EXIT_OK


async def record_meeting(args: argparse.Namespace, stage: Stage, update: NominationUpdate) -> int:
    """Counts that do not fit the body as the roster seats it (members must be exactly its voting members)
    are refused here (exit 2) before the workflow refuses them again."""
    from client.meetings import check_meeting_counts

    payload = meeting_result(args)
    client = await temporal_client()
    async with database() as engine:
        await check_meeting_counts(client, engine, args.workflow_id, stage, payload.tally.model_dump())
    return await act(args.workflow_id, update, payload)


async def cmd_council_result(args: argparse.Namespace) -> int:
    from workflows.nomination import NominationWorkflow

    return await record_meeting(args, Stage.COUNCIL_REVIEW, NominationWorkflow.record_council_result)


async def cmd_bloc_result(args: argparse.Namespace) -> int:
    from workflows.nomination import NominationWorkflow

    return await record_meeting(args, Stage.BLOC_VOTE, NominationWorkflow.record_bloc_result)


async def cmd_central(args: argparse.Namespace) -> int:
    from workflows.nomination import NominationWorkflow

    if args.approve:
        # Without --decision-no the nomination waits for the signing authority's (batch) decision.
        decision_date = (args.decision_date or date.today().isoformat()) if args.decision_no else None
        payload = build_payload(
            CentralApproval, actor=args.actor, decision_no=args.decision_no, decision_date=decision_date
        )
        return await act(args.workflow_id, NominationWorkflow.approve, payload)
    if not args.reason:
        raise InvalidInput([FieldError(field="--reason", message="required with --reject and --return")])
    reasoned = build_payload(ReasonedAction, actor=args.actor, reason=args.reason)
    update = NominationWorkflow.reject if args.reject else NominationWorkflow.return_dossier
    return await act(args.workflow_id, update, reasoned)


async def cmd_return(args: argparse.Namespace) -> int:
    from workflows.nomination import NominationWorkflow

    payload = build_payload(ReasonedAction, actor=args.actor, reason=args.reason)
    return await act(args.workflow_id, NominationWorkflow.return_dossier, payload)


async def cmd_withdraw(args: argparse.Namespace) -> int:
    from workflows.nomination import NominationWorkflow

    payload = build_payload(ReasonedAction, actor=args.actor, reason=args.reason)
    return await act(args.workflow_id, NominationWorkflow.withdraw, payload)


async def cmd_resubmit(args: argparse.Namespace) -> int:
    from client.nominations import protect_personal_id
    from workflows.nomination import NominationWorkflow

    nomination = protect_personal_id(read_nomination(args.file, new=False))
    payload = build_payload(Resubmission, actor=args.actor, nomination=nomination.model_dump(mode="json"))
    return await act(args.workflow_id, NominationWorkflow.resubmit, payload)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("nominate", help="kiểm tra tệp hồ sơ đề nghị và khởi động quy trình xét")
    s.add_argument("file", help="tệp hồ sơ đề nghị (JSON)")
    s.add_argument("--actor", help=ACTOR_HELP + "; người đề nghị trong tệp phải là người này")
    s.add_argument(
        "--public-notice-seconds",
        type=int,
        default=None,
        help=f"chỉ dùng khi trình diễn, kiểm thử ({SHORT_NOTICE_SWITCH}=1): rút thời gian công khai còn chừng này giây",
    )
    s.set_defaults(run=cmd_nominate)

    s = sub.add_parser("status", help="giai đoạn, các bước đã qua và việc đang chờ của một hồ sơ")
    s.add_argument("workflow_id", help="mã hồ sơ (workflow id)")
    s.add_argument("--actor", help=READER_HELP)
    s.set_defaults(run=cmd_status)

    s = sub.add_parser("list", help="các hồ sơ người xem được phép xem (theo chỉ mục của Temporal)")
    s.add_argument("--stage", help="chỉ hồ sơ ở giai đoạn này (mã giai đoạn)")
    s.add_argument("--ministry", help="chỉ hồ sơ của bộ, ngành này (mã)")
    s.add_argument("--year", type=int)
    s.add_argument("--actor", help=READER_HELP)
    s.set_defaults(run=cmd_list)

    for name, run, who in (
        ("council-result", cmd_council_result, "Thư ký Hội đồng"),
        ("bloc-result", cmd_bloc_result, "Khối trưởng"),
    ):
        s = sub.add_parser(name, help=f"{who} ghi kết quả cuộc họp xét")
        s.add_argument("workflow_id", help="mã hồ sơ (workflow id)")
        s.add_argument("--actor", help=ACTOR_HELP)
        s.add_argument("--members", type=int, required=True, help="số thành viên")
        s.add_argument("--present", type=int, required=True, help="số thành viên có mặt")
        s.add_argument("--for", dest="votes_for", type=int, required=True, help="số phiếu đồng ý")
        s.add_argument("--against", dest="votes_against", type=int, required=True, help="số phiếu không đồng ý")
        s.add_argument("--written", type=int, default=0, help="số phiếu bằng văn bản của thành viên vắng mặt")
        s.add_argument("--minutes", default=None, help="số, ký hiệu biên bản")
        s.set_defaults(run=run)

    s = sub.add_parser(
        "central", help="cán bộ Ban Thi đua – Khen thưởng Trung ương chấp thuận, không chấp thuận hoặc trả lại"
    )
    s.add_argument("workflow_id", help="mã hồ sơ (workflow id)")
    s.add_argument("--actor", help=ACTOR_HELP)
    choice = s.add_mutually_exclusive_group(required=True)
    choice.add_argument("--approve", action="store_true", help="chấp thuận")
    choice.add_argument("--reject", action="store_true", help="không chấp thuận")
    choice.add_argument("--return", dest="return_", action="store_true", help="trả lại để bổ sung")
    s.add_argument("--decision-no", help="số quyết định")
    s.add_argument("--decision-date", help="ngày quyết định, YYYY-MM-DD (mặc định: hôm nay)")
    s.add_argument("--reason", help="lý do")
    s.set_defaults(run=cmd_central)

    s = sub.add_parser("return", help="cơ quan đang giữ hồ sơ trả lại để bổ sung")
    s.add_argument("workflow_id", help="mã hồ sơ (workflow id)")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.add_argument("--reason", required=True, help="lý do")
    s.set_defaults(run=cmd_return)

    s = sub.add_parser("withdraw", help="đơn vị đề nghị rút hồ sơ")
    s.add_argument("workflow_id", help="mã hồ sơ (workflow id)")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.add_argument("--reason", required=True, help="lý do")
    s.set_defaults(run=cmd_withdraw)

    s = sub.add_parser("resubmit", help="đơn vị đề nghị nộp lại hồ sơ đã sửa sau khi bị trả lại")
    s.add_argument("workflow_id", help="mã hồ sơ (workflow id)")
    s.add_argument("file", help="tệp hồ sơ đã sửa (JSON)")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.set_defaults(run=cmd_resubmit)
