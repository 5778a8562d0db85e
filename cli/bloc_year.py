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
    group = sub.add_parser("bloc-year", help="the bloc's year: pledge, self-assessment, ranking, honouring, election")
    bsub = group.add_subparsers(dest="bloc_year_command", required=True)

    s = bsub.add_parser("start", help="the bloc head opens the bloc's year (head and deputy by rotation unless given)")
    s.add_argument("--bloc", required=True, help="the bloc's code, e.g. NOI_CHINH")
    s.add_argument("--year", required=True, type=int)
    s.add_argument("--head", help="the year's head organisation (default: the rotation order's)")
    s.add_argument("--deputy", help="the year's deputy organisation (with --head)")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.set_defaults(run=cmd_start)

    def acting(name: str, what: str) -> argparse.ArgumentParser:
        p = bsub.add_parser(name, help=what)
        p.add_argument("bloc_year_id", help="bloc-year-<bloc>-<year>")
        p.add_argument("--actor", help=ACTOR_HELP)
        p.set_defaults(run=cmd_act)
        return p

    s = acting("publish", "the head publishes the year's pledge (giao ước thi đua) with its scoring table")
    s.add_argument("--policy-version", help="the scoring table's version (default: the newest in force)")
    s = acting("sign", "a member's representative signs the pledge for their organisation")
    s.add_argument("--member", help="the organisation signing (default: the one the representative belongs to)")
    acting("call", "the head calls for the self-assessments: the submission window opens")
    s = acting("submit", "a member's representative submits its self-assessment (bản tự chấm điểm)")
    s.add_argument("--file", required=True, help="assessment.json: {scores: {CODE: {points, evidence}}, ...}")
    s = acting("adjust", "a review panel member adjusts a member's score, with the reason (chấm chéo)")
    s.add_argument("--file", help="adjustment.json (or the flags below)")
    s.add_argument("--member")
    s.add_argument("--kind", choices=["criterion", "bonus", "penalty"], default="criterion")
    s.add_argument("--code", help="the criterion's or the item's code")
    s.add_argument("--points", help="a criterion's points")
    s.add_argument("--occurrences", type=int, help="a bonus or penalty item's count (0 removes it)")
    s.add_argument("--reason", help="why (required)")
    acting("close-review", "the head closes the review: scores final, the ranking published")
    s = acting("open-honouring", "the head opens the next tier's honouring vote (a secret-ballot session of the bloc)")
    s.add_argument("--meeting", required=True, help="the conference's reference, e.g. HNTK-2026")
    s.add_argument("--deadline", help="ISO date-time (Vietnam time if no offset)")
    s.add_argument("--deadline-hours", type=float)
    s.add_argument("--committee", action="append", metavar="ACTOR", help="a counting committee member, once each")
    s = acting("elect", "the head records next year's head and deputy (by rotation or the conference's ballot)")
    s.add_argument("--method", choices=["rotation", "ballot"], required=True)
    s.add_argument("--head")
    s.add_argument("--deputy")
    s.add_argument("--minutes", help="the ballot's minutes reference (required for --method ballot)")

    s = bsub.add_parser(
        "status", help="the bloc year's status (its bloc's head and representatives, the central board)"
    )
    s.add_argument("bloc_year_id")
    s.add_argument("--actor", help=READER_HELP)
    s.set_defaults(run=cmd_status)

    s = bsub.add_parser("ranking", help="the ranking table (bảng xếp hạng) once the review has closed")
    s.add_argument("bloc_year_id")
    s.add_argument("--xlsx", metavar="PATH", help="write the ranking as an XLSX report instead of printing it")
    s.add_argument("--actor", help=READER_HELP)
    s.set_defaults(run=cmd_ranking)

    s = bsub.add_parser("todo", help="what your organisation must do now in its bloc's years (sign, submit, vote)")
    s.add_argument("--actor", help=READER_HELP)
    s.set_defaults(run=cmd_todo)
