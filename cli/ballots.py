"""Secret-ballot sessions of councils and blocs: the organisers' commands, the voter's sealed ballot, the
counting committee's keys and shares, receipts."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.common import (
    ACTOR_HELP,
    EXIT_DUPLICATE,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_REFUSED,
    READER_HELP,
    CliError,
    anchor_stamp,
    build_payload,
    database,
    reader,
    settings,
    show,
    temporal_client,
)
from domain.ballots import Choice
from domain.calendar import VIETNAM_TZ
from domain.catalog import current_policy_version
from domain.errors import FieldError, InvalidInput

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    from domain.ballot_messages import SessionStatus


def parse_deadline(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput([FieldError(field="--deadline", message=f"not an ISO date-time: {text!r}")]) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=VIETNAM_TZ)


async def cmd_ballot_open(args: argparse.Namespace) -> int:
    from client.ballots import open_session
    from domain.ballot_messages import SessionStart

    if (args.deadline is None) == (args.deadline_hours is None):
        raise InvalidInput([FieldError(field="--deadline", message="give --deadline or --deadline-hours")])
    deadline = (
        parse_deadline(args.deadline) if args.deadline else datetime.now(UTC) + timedelta(hours=args.deadline_hours)
    )
    start = build_payload(
        SessionStart,
        kind=args.kind.upper(),
        scope=args.scope,
        meeting_ref=args.meeting,
        opened_by=args.actor,
        deadline=deadline,
        policy_version=current_policy_version(date.today()),
        reminder_before_seconds=int(args.reminder_hours * 3600),
        runoff_seconds=int(args.runoff_hours * 3600),
        committee=args.committee,
    )
    if deadline <= datetime.now(UTC):
        raise InvalidInput([FieldError(field="--deadline", message="must lie in the future")])
    async with database() as engine:  # the opener's role is checked against the roster before anything starts
        handle = await open_session(await temporal_client(), settings().task_queue, start, engine=engine)
    print(handle.id)
    return EXIT_OK


async def cmd_ballot_close_list(args: argparse.Namespace) -> int:
    from client.ballots import close_list

    show((await close_list(await temporal_client(), args.session_id, args.actor)).model_dump(mode="json"))
    return EXIT_OK


def read_choices(path: str) -> dict[str, Choice]:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput([FieldError(field="BALLOT_FILE", message=f"{path} does not exist")]) from None
    except json.JSONDecodeError as err:
        raise InvalidInput([FieldError(field="BALLOT_FILE", message=f"not valid JSON: {err}")]) from None
    choices = raw.get("choices") if isinstance(raw, dict) else None
    if not isinstance(choices, dict) or not choices:
        raise InvalidInput([FieldError(field="choices", message='expected {"choices": {"<workflow id>": "FOR"}}')])
    bad = [wf for wf, c in choices.items() if c not in Choice.__members__]
    if bad:
        allowed = ", ".join(Choice.__members__)
        raise InvalidInput([FieldError(field=f"choices.{wf}", message=f"must be one of {allowed}") for wf in bad])
    return {wf: Choice(c) for wf, c in choices.items()}


async def cmd_ballot_cast(args: argparse.Namespace) -> int:
    from client.ballots import cast

    # Sealed here: the voter's one-time credential is blind-signed, then the ballot goes without their name.
    choices = read_choices(args.ballot_file)
    async with database() as engine:  # the ballot paper is read from the register
        receipt = await cast(await temporal_client(), args.session_id, args.actor, choices, engine=engine)
    show(receipt.model_dump(mode="json"))
    print(receipt.receipt)
    return EXIT_OK


def _counting_key_file(args: argparse.Namespace) -> Path:
    from security.committee import counting_key_path

    return Path(args.key_file).expanduser() if args.key_file else counting_key_path(args.actor)


def _load_counting_key(path: Path) -> RSAPrivateKey:
    from security.committee import load_counting_key
    from security.sealing import SealError

    try:
        return load_counting_key(path)
    except SealError as err:
        raise InvalidInput([FieldError(field="--key-file", message=str(err))]) from None


async def cmd_ballot_enroll(args: argparse.Namespace) -> int:
    """The member's counting key is made here and its private half never leaves this file; the engine keeps
    the public half, to which each session encrypts the member's share of its key."""
    from client.ballots import enroll_counting_key, enrolled_counting_key
    from security.committee import generate_counting_key, save_counting_key
    from security.sealing import public_key_info

    path = _counting_key_file(args)
    async with database() as engine:
        enrolled = await enrolled_counting_key(engine, args.actor)
        if path.exists() and not args.replace:
            mine = public_key_info(_load_counting_key(path))
            if enrolled is not None and enrolled.key_id != mine.key_id:
                raise CliError(
                    EXIT_DUPLICATE,
                    f"{args.actor} đã đăng ký khóa kiểm phiếu {enrolled.key_id}, không phải khóa trong {path} "
                    f"({mine.key_id}); dùng --replace để tạo và đăng ký khóa mới thay thế\n"
                    f"({args.actor} has counting key {enrolled.key_id} enrolled, not the key in {path})",
                )
            if enrolled is None:  # a file made by an enrolment cut short: enroll the key it holds
                await enroll_counting_key(engine, args.actor, mine.public_pem)
            print(f"Đã đăng ký khóa kiểm phiếu {mine.key_id} của {args.actor}; nửa bí mật ở {path}")
            print(mine.key_id)
            return EXIT_OK
        if enrolled is not None and not args.replace:
            raise CliError(
                EXIT_DUPLICATE,
                f"{args.actor} đã đăng ký khóa kiểm phiếu {enrolled.key_id} (trong hộp việc hoặc ở tệp khác); "
                "dùng --replace để tạo và đăng ký khóa mới thay thế\n"
                f"({args.actor} has counting key {enrolled.key_id} enrolled already)",
            )
        kept = None
        if path.exists():  # --replace: the old key still opens the shares issued to it before
            old = public_key_info(_load_counting_key(path))
            kept = path.with_name(f"{path.name}.{old.key_id}.replaced")
            path.rename(kept)
        key = generate_counting_key()
        save_counting_key(path, key)  # first the private half on this side, then the public half enrolled
        info = public_key_info(key)
        await enroll_counting_key(engine, args.actor, info.public_pem, replace=args.replace)
    print(f"Đã đăng ký khóa kiểm phiếu {info.key_id} của {args.actor}; nửa bí mật ở {path} (giữ kỹ; quyền 0600)")
    if enrolled is not None:
        where = f" ({kept})" if kept is not None else ""
        print(
            f"replaced key {enrolled.key_id}: the shares of sessions opened before are encrypted to it and open "
            f"only with its private half{where} (`ballot hand-in --key-file`)"
        )
    print(info.key_id)
    return EXIT_OK


async def cmd_ballot_hand_in(args: argparse.Namespace) -> int:
    """A counting committee member hands in their share once the round's voting is over (AWAITING_COUNT):
    decrypted here with the member's counting key, it goes to the session alone."""
    from client.ballots import hand_in
    from client.nominations import ActionRefused

    path = _counting_key_file(args)
    if not path.exists():
        message = f"no counting key at {path}; `ballot enroll` makes one (before the session opens)"
        raise InvalidInput([FieldError(field="--key-file", message=message)])
    key = _load_counting_key(path)
    async with database() as engine:
        try:
            status = await hand_in(await temporal_client(), engine, args.session, args.actor, key)
        except LookupError as err:  # no share for this actor: not a member, too early, or the session ended
            raise ActionRefused(str(err)) from None
    show(committee_summary(status))
    needed = f" (cần {status.keys.threshold})" if status.keys else ""
    print(
        f"Ban kiểm phiếu: {status.shares_in}/{len(status.committee)} đã nộp mảnh khóa{needed}; "
        f"phiên {status.phase.value}"
    )
    return EXIT_OK


def committee_summary(status: SessionStatus) -> dict[str, Any]:
    """What a status says of the count, without the keys' PEMs."""
    return {
        "session_id": status.session_id,
        "phase": status.phase.value,
        "round": status.round,
        "ballots_cast": status.ballots_cast,
        "committee": status.committee,
        "shares_in": status.shares_in,
        "threshold": status.keys.threshold if status.keys else None,
    }


async def cmd_ballot_status(args: argparse.Namespace) -> int:
    from client.access import session_status
    from domain.ballot_messages import SessionPhase

    # Who voted is listed for the organisers only; a voter sees themselves, others the count (domain/access.py).
    client = await temporal_client()
    status = await session_status(client, await reader(args), args.session_id)
    shown = status.model_dump(mode="json", exclude={"keys"}) | committee_summary(status)
    if status.phase == SessionPhase.CLOSED:  # the minutes are in the audit chain: the anchor that pins it
        shown["audit_anchor"] = await anchor_stamp()
    show(shown)
    return EXIT_OK


async def cmd_ballot_chair(args: argparse.Namespace) -> int:
    """`ballot close`, `extend` or `cancel`: the chair's update of the same name (close: close_voting)."""
    from client.ballots import chair_action
    from domain.ballot_messages import ChairAction
    from workflows.ballot_session import BallotSessionWorkflow

    update = {
        "close": BallotSessionWorkflow.close_voting,
        "extend": BallotSessionWorkflow.extend,
        "cancel": BallotSessionWorkflow.cancel,
    }[args.ballot_command]
    fields: dict[str, Any] = {"actor": args.actor, "reason": getattr(args, "reason", None)}
    if args.ballot_command == "extend":
        fields["new_deadline"] = parse_deadline(args.deadline)
    action = build_payload(ChairAction, **fields)
    status = await chair_action(await temporal_client(), args.session_id, update, action)
    show(status.model_dump(mode="json", exclude={"keys"}) | committee_summary(status))
    return EXIT_OK


async def cmd_ballot_decide_tie(args: argparse.Namespace) -> int:
    from client.ballots import decide_tie
    from domain.ballot_messages import TieDecision

    decision = build_payload(TieDecision, actor=args.actor, choose=args.choose)
    status = await decide_tie(await temporal_client(), args.session_id, decision)
    show(status.model_dump(mode="json", exclude={"keys"}) | committee_summary(status))
    return EXIT_OK


async def cmd_ballot_verify(args: argparse.Namespace) -> int:
    from client.ballots import check_receipt
    from domain.ballots import ReceiptState

    try:
        session_id, state = await check_receipt(await temporal_client(), args.receipt)
    except ValueError as err:
        raise InvalidInput([FieldError(field="RECEIPT", message=str(err))]) from None
    if state == ReceiptState.SESSION_NOT_CLOSED:
        print(f"{session_id}: not closed yet; receipts are published when the count is done")
        return EXIT_REFUSED
    if state == ReceiptState.SPOILED:
        print(f"{session_id}: SPOILED: the ballot was received but its sealed content could not be opened; not counted")
        return EXIT_NOT_FOUND
    print(f"{session_id}: {'counted' if state == ReceiptState.COUNTED else 'NOT FOUND among the counted ballots'}")
    return EXIT_OK if state == ReceiptState.COUNTED else EXIT_NOT_FOUND


def add_parsers(sub: argparse._SubParsersAction) -> None:
    ballot = sub.add_parser("ballot", help="phiên bỏ phiếu kín của Hội đồng và Khối thi đua")
    bsub = ballot.add_subparsers(dest="ballot_command", required=True)

    s = bsub.add_parser("open", help="Thư ký Hội đồng hoặc Khối trưởng mở phiên bỏ phiếu")
    s.add_argument("--kind", choices=["council", "bloc"], required=True, help="council: Hội đồng; bloc: Khối")
    s.add_argument("--scope", required=True, help="mã bộ, ngành (Hội đồng) hoặc mã khối (Khối)")
    s.add_argument("--meeting", required=True, help="số hiệu cuộc họp, ví dụ HD-2026-12")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.add_argument("--deadline", help="hạn bỏ phiếu, ngày giờ ISO (giờ Việt Nam nếu không ghi múi giờ)")
    s.add_argument("--deadline-hours", type=float, help="hạn bỏ phiếu, tính bằng số giờ kể từ bây giờ")
    s.add_argument("--reminder-hours", type=float, default=24, help="nhắc người chưa bỏ phiếu trước hạn chừng này giờ")
    s.add_argument(
        "--runoff-hours", type=float, default=24, help="thời gian một vòng bỏ phiếu lại khi số phiếu ngang nhau (giờ)"
    )
    s.add_argument(
        "--committee",
        action="append",
        metavar="ACTOR",
        help="thành viên Ban kiểm phiếu, ghi mỗi người một lần; mặc định: theo quy định (các thành viên biểu quyết "
        "đầu tiên của cơ quan). Mỗi người cần đã đăng ký khóa kiểm phiếu (`ballot enroll`)",
    )
    s.set_defaults(run=cmd_ballot_open)

    s = bsub.add_parser("close-list", help="chốt danh sách hồ sơ và bắt đầu bỏ phiếu")
    s.add_argument("session_id", help="mã phiên bỏ phiếu")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.set_defaults(run=cmd_ballot_close_list)

    s = bsub.add_parser("cast", help='bỏ một phiếu đã niêm phong: BALLOT_FILE là {"choices": {"<mã hồ sơ>": "FOR"}}')
    s.add_argument("session_id", help="mã phiên bỏ phiếu")
    s.add_argument("ballot_file", help="tệp phiếu (JSON)")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.set_defaults(run=cmd_ballot_cast)

    key_file_help = "tệp khóa kiểm phiếu (mặc định: $TDKT_COUNTING_KEY_DIR hoặc ~/.config/tdkt/counting-ACTOR.pem)"
    s = bsub.add_parser(
        "enroll",
        help="thành viên biểu quyết tạo khóa kiểm phiếu tại máy này (nửa bí mật trong tệp cục bộ, quyền 0600) và "
        "đăng ký nửa công khai; in ra mã khóa",
    )
    s.add_argument("--key-file", help=key_file_help)
    s.add_argument(
        "--replace",
        action="store_true",
        help="tạo khóa mới thay khóa đã đăng ký (tệp cũ được giữ bên cạnh: mảnh khóa của các phiên mở trước "
        "chỉ mở được bằng nó)",
    )
    s.add_argument("--actor", help=ACTOR_HELP)
    s.set_defaults(run=cmd_ballot_enroll)

    s = bsub.add_parser("hand-in", help="thành viên Ban kiểm phiếu nộp mảnh khóa của phiên để kiểm phiếu")
    s.add_argument("--session", required=True, help="mã phiên bỏ phiếu")
    s.add_argument("--key-file", help=key_file_help)
    s.add_argument("--actor", help=ACTOR_HELP)
    s.set_defaults(run=cmd_ballot_hand_in)

    s = bsub.add_parser("status", help="số người đã bỏ phiếu khi đang bỏ phiếu; kết quả kiểm phiếu khi đã kết thúc")
    s.add_argument("session_id", help="mã phiên bỏ phiếu")
    s.add_argument("--actor", help=READER_HELP)
    s.set_defaults(run=cmd_ballot_status)

    for name, what in (
        ("close", "Chủ tịch kết thúc bỏ phiếu khi đã đủ số"),
        ("extend", "Chủ tịch gia hạn bỏ phiếu"),
        ("cancel", "Chủ tịch hủy phiên"),
    ):
        s = bsub.add_parser(name, help=what)
        s.add_argument("session_id", help="mã phiên bỏ phiếu")
        s.add_argument("--actor", help=ACTOR_HELP)
        if name == "extend":
            s.add_argument(
                "--deadline", required=True, help="hạn mới, ngày giờ ISO (giờ Việt Nam nếu không ghi múi giờ)"
            )
        if name == "cancel":
            s.add_argument("--reason", required=True, help="lý do")
        s.set_defaults(run=cmd_ballot_chair)

    s = bsub.add_parser("decide-tie", help="Khối trưởng chọn trong các hồ sơ vẫn ngang phiếu sau các vòng bỏ phiếu lại")
    s.add_argument("session_id", help="mã phiên bỏ phiếu")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.add_argument(
        "--choose",
        action="append",
        required=True,
        metavar="WORKFLOW_ID",
        help="hồ sơ ngang phiếu được chọn; mỗi suất còn lại một lần (`ballot status` cho biết tied, seats_left)",
    )
    s.set_defaults(run=cmd_ballot_decide_tie)

    s = bsub.add_parser("verify", help="kiểm tra phiếu ứng với mã biên nhận đã được kiểm")
    s.add_argument("receipt", help="mã biên nhận phiếu bầu")
    s.set_defaults(run=cmd_ballot_verify)
