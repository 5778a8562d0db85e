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
    receipt = await cast(await temporal_client(), args.session_id, args.actor, read_choices(args.ballot_file))
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
                    f"{args.actor} has counting key {enrolled.key_id} enrolled, not the key in {path} "
                    f"({mine.key_id}); --replace makes a new key and enrolls it instead",
                )
            if enrolled is None:  # a file made by an enrolment cut short: enroll the key it holds
                await enroll_counting_key(engine, args.actor, mine.public_pem)
            print(f"counting key {mine.key_id} of {args.actor} is enrolled; private half in {path}")
            print(mine.key_id)
            return EXIT_OK
        if enrolled is not None and not args.replace:
            raise CliError(
                EXIT_DUPLICATE,
                f"{args.actor} has counting key {enrolled.key_id} enrolled already (in the inbox, or in another "
                "file); --replace makes a new key and enrolls it instead",
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
    print(f"counting key {info.key_id} of {args.actor} is enrolled; private half in {path} (keep it; mode 0600)")
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
    ballot = sub.add_parser("ballot", help="secret-ballot sessions of councils and blocs")
    bsub = ballot.add_subparsers(dest="ballot_command", required=True)

    s = bsub.add_parser("open", help="the council secretary or bloc head opens a session")
    s.add_argument("--kind", choices=["council", "bloc"], required=True)
    s.add_argument("--scope", required=True, help="ministry code (council) or bloc code (bloc)")
    s.add_argument("--meeting", required=True, help="meeting reference, e.g. HD-2026-12")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.add_argument("--deadline", help="ISO date-time (Vietnam time if no offset)")
    s.add_argument("--deadline-hours", type=float)
    s.add_argument("--reminder-hours", type=float, default=24, help="remind non-voters this long before")
    s.add_argument("--runoff-hours", type=float, default=24, help="length of a runoff round after a tie")
    s.add_argument(
        "--committee",
        action="append",
        metavar="ACTOR",
        help="a member of the counting committee (Ban kiểm phiếu), once per member; default: the policy's "
        "(the body's first voting members). Each needs an enrolled counting key (`ballot enroll`)",
    )
    s.set_defaults(run=cmd_ballot_open)

    s = bsub.add_parser("close-list", help="close the list of nominations and open the voting")
    s.add_argument("session_id")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.set_defaults(run=cmd_ballot_close_list)

    s = bsub.add_parser("cast", help='cast one sealed ballot: BALLOT_FILE is {"choices": {"<workflow id>": "FOR"}}')
    s.add_argument("session_id")
    s.add_argument("ballot_file")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.set_defaults(run=cmd_ballot_cast)

    key_file_help = "the counting key's file (default: $TDKT_COUNTING_KEY_DIR or ~/.config/tdkt/counting-ACTOR.pem)"
    s = bsub.add_parser(
        "enroll",
        help="a voting member makes their counting key here (private half in a local file, mode 0600) and "
        "enrolls its public half; prints the key id",
    )
    s.add_argument("--key-file", help=key_file_help)
    s.add_argument(
        "--replace",
        action="store_true",
        help="make a new key in place of the enrolled one (the old file is kept beside it: shares of sessions "
        "opened before open only with it)",
    )
    s.add_argument("--actor", help=ACTOR_HELP)
    s.set_defaults(run=cmd_ballot_enroll)

    s = bsub.add_parser(
        "hand-in", help="a counting committee member hands in their share of the session key for the count"
    )
    s.add_argument("--session", required=True, help="the ballot session's id")
    s.add_argument("--key-file", help=key_file_help)
    s.add_argument("--actor", help=ACTOR_HELP)
    s.set_defaults(run=cmd_ballot_hand_in)

    s = bsub.add_parser("status", help="turnout while voting; tallies once closed")
    s.add_argument("session_id")
    s.add_argument("--actor", help=READER_HELP)
    s.set_defaults(run=cmd_ballot_status)

    for name, what in (
        ("close", "the chair closes the voting once a quorum has voted"),
        ("extend", "the chair moves the deadline"),
        ("cancel", "the chair cancels the session"),
    ):
        s = bsub.add_parser(name, help=what)
        s.add_argument("session_id")
        s.add_argument("--actor", help=ACTOR_HELP)
        if name == "extend":
            s.add_argument("--deadline", required=True)
        if name == "cancel":
            s.add_argument("--reason", required=True)
        s.set_defaults(run=cmd_ballot_chair)

    s = bsub.add_parser(
        "decide-tie", help="the bloc head chooses among candidates still tied after the policy's runoff rounds"
    )
    s.add_argument("session_id")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.add_argument(
        "--choose",
        action="append",
        required=True,
        metavar="WORKFLOW_ID",
        help="a tied nomination taking a seat; once per seat left (`ballot status` shows tied, seats_left)",
    )
    s.set_defaults(run=cmd_ballot_decide_tie)

    s = bsub.add_parser("verify", help="check that the ballot behind a receipt was counted")
    s.add_argument("receipt")
    s.set_defaults(run=cmd_ballot_verify)
