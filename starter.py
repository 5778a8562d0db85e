"""The staff and operator CLI. Connection settings are the worker's (TEMPORAL_ADDRESS, ...).

Exit codes: 0 done · 1 failure (e.g. no server) · 2 invalid input · 3 duplicate nomination ·
4 action refused by the workflow · 5 nomination not found.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Coroutine
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from domain.catalog import current_policy_version, policy_set
from domain.errors import FieldError, InvalidInput, field_errors_from
from domain.messages import CentralApproval, MeetingResult, ReasonedAction, Resubmission
from domain.nomination import Nomination, parse_nomination

if TYPE_CHECKING:
    from temporalio.client import Client

    from runtime.settings import Settings

EXIT_OK, EXIT_FAILURE, EXIT_INVALID, EXIT_DUPLICATE, EXIT_REFUSED, EXIT_NOT_FOUND = 0, 1, 2, 3, 4, 5


class CliError(Exception):
    def __init__(self, code: int, message: str):
        self.code = code
        super().__init__(message)


def read_nomination(path: str) -> Nomination:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput([FieldError(field="FILE", message=f"{path} does not exist")]) from None
    except json.JSONDecodeError as err:
        raise InvalidInput([FieldError(field="FILE", message=f"not valid JSON: {err}")]) from None
    return parse_nomination(raw, policy_set(current_policy_version(date.today())))


def build_payload(model: type[BaseModel], **fields: Any) -> BaseModel:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise InvalidInput(field_errors_from(exc)) from None


def meeting_result(args: argparse.Namespace) -> BaseModel:
    tally = {
        "members": args.members,
        "present": args.present,
        "votes_for": args.votes_for,
        "votes_against": args.votes_against,
        "written": args.written,
    }
    return build_payload(MeetingResult, actor=args.actor, tally=tally, minutes_ref=args.minutes)


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


# ---- commands --------------------------------------------------------------------------------------


async def cmd_nominate(args: argparse.Namespace) -> int:
    nomination = read_nomination(args.file)  # validate before connecting: a bad file starts nothing
    from runtime.nominations import start_nomination

    client = await _client()
    handle = await start_nomination(
        client, nomination, _settings().task_queue, public_notice_seconds=args.public_notice_seconds
    )
    print(handle.id)
    return EXIT_OK


async def cmd_status(args: argparse.Namespace) -> int:
    from runtime.nominations import status

    print_json((await status(await _client(), args.workflow_id)).model_dump(mode="json"))
    return EXIT_OK


async def cmd_list(args: argparse.Namespace) -> int:
    from runtime.nominations import list_nominations

    rows = await list_nominations(await _client(), stage=args.stage, ministry=args.ministry, year=args.year)
    print_json(rows)
    return EXIT_OK


async def _act(workflow_id: str, update: str, payload: BaseModel) -> int:
    from runtime.nominations import act

    receipt = await act(await _client(), workflow_id, update, payload)
    print_json(receipt.model_dump(mode="json"))
    return EXIT_OK


async def cmd_council_result(args: argparse.Namespace) -> int:
    return await _act(args.workflow_id, "record_council_result", meeting_result(args))


async def cmd_bloc_result(args: argparse.Namespace) -> int:
    return await _act(args.workflow_id, "record_bloc_result", meeting_result(args))


async def cmd_central(args: argparse.Namespace) -> int:
    if args.approve:
        if not args.decision_no:
            raise InvalidInput([FieldError(field="--decision-no", message="required with --approve")])
        decision_date = args.decision_date or date.today().isoformat()
        payload = build_payload(
            CentralApproval, actor=args.actor, decision_no=args.decision_no, decision_date=decision_date
        )
        return await _act(args.workflow_id, "approve", payload)
    if not args.reason:
        raise InvalidInput([FieldError(field="--reason", message="required with --reject and --return")])
    reasoned = build_payload(ReasonedAction, actor=args.actor, reason=args.reason)
    return await _act(args.workflow_id, "reject" if args.reject else "return_dossier", reasoned)


async def cmd_return(args: argparse.Namespace) -> int:
    payload = build_payload(ReasonedAction, actor=args.actor, reason=args.reason)
    return await _act(args.workflow_id, "return_dossier", payload)


async def cmd_withdraw(args: argparse.Namespace) -> int:
    payload = build_payload(ReasonedAction, actor=args.actor, reason=args.reason)
    return await _act(args.workflow_id, "withdraw", payload)


async def cmd_resubmit(args: argparse.Namespace) -> int:
    nomination = read_nomination(args.file)
    payload = build_payload(Resubmission, actor=args.actor, nomination=nomination.model_dump(mode="json"))
    return await _act(args.workflow_id, "resubmit", payload)


async def cmd_roster_load(args: argparse.Namespace) -> int:
    from activities.db import create_engine, default_database_url
    from activities.migrate import upgrade_to_head
    from activities.roster_store import load_roster
    from domain.roster import Roster

    try:
        roster = Roster.model_validate_json(Path(args.file).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput([FieldError(field="FILE", message=f"{args.file} does not exist")]) from None
    except ValidationError as exc:
        raise InvalidInput(field_errors_from(exc)) from None
    url = _settings().database_url or default_database_url()
    await upgrade_to_head(url)
    engine = create_engine(url)
    try:
        counts = await load_roster(engine, roster)
    finally:
        await engine.dispose()
    print_json(counts)
    return EXIT_OK


async def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from activities.db import default_database_url
    from activities.migrate import upgrade_to_head

    await upgrade_to_head(_settings().database_url or default_database_url())
    print("schema at head")
    return EXIT_OK


async def cmd_setup(args: argparse.Namespace) -> int:
    from runtime.temporal import ensure_search_attributes

    added = await ensure_search_attributes(await _client())
    print(f"search attributes added: {', '.join(added) or 'none (already registered)'}")
    return EXIT_OK


# ---- plumbing --------------------------------------------------------------------------------------


def _settings() -> Settings:
    from runtime.settings import Settings

    return Settings.from_env()


async def _client() -> Client:
    from runtime.temporal import connect

    settings = _settings()
    try:
        return await connect(settings.temporal_address, settings.temporal_namespace)
    except RuntimeError as err:
        raise CliError(EXIT_FAILURE, f"cannot reach Temporal at {settings.temporal_address}: {err}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="starter.py", description="Award nomination engine (TĐKT) CLI")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("nominate", help="validate a nomination file and start its workflow")
    s.add_argument("file")
    s.add_argument(
        "--public-notice-seconds",
        type=int,
        default=None,
        help="demo only: shorten the public notice to this many seconds",
    )
    s.set_defaults(run=cmd_nominate)

    s = sub.add_parser("status", help="a nomination's stage, transitions and what it waits for (JSON)")
    s.add_argument("workflow_id")
    s.set_defaults(run=cmd_status)

    s = sub.add_parser("list", help="nominations from Temporal visibility")
    s.add_argument("--stage")
    s.add_argument("--ministry")
    s.add_argument("--year", type=int)
    s.set_defaults(run=cmd_list)

    for name, run, who in (
        ("council-result", cmd_council_result, "council secretary"),
        ("bloc-result", cmd_bloc_result, "bloc head"),
    ):
        s = sub.add_parser(name, help=f"the {who} records a meeting's result")
        s.add_argument("workflow_id")
        s.add_argument("--actor", required=True)
        s.add_argument("--members", type=int, required=True)
        s.add_argument("--present", type=int, required=True)
        s.add_argument("--for", dest="votes_for", type=int, required=True)
        s.add_argument("--against", dest="votes_against", type=int, required=True)
        s.add_argument("--written", type=int, default=0, help="absent members' written ballots")
        s.add_argument("--minutes", default=None, help="minutes reference (biên bản)")
        s.set_defaults(run=run)

    s = sub.add_parser("central", help="a central-board officer approves, rejects or returns")
    s.add_argument("workflow_id")
    s.add_argument("--actor", required=True)
    choice = s.add_mutually_exclusive_group(required=True)
    choice.add_argument("--approve", action="store_true")
    choice.add_argument("--reject", action="store_true")
    choice.add_argument("--return", dest="return_", action="store_true")
    s.add_argument("--decision-no")
    s.add_argument("--decision-date", help="YYYY-MM-DD (default: today)")
    s.add_argument("--reason")
    s.set_defaults(run=cmd_central)

    s = sub.add_parser("return", help="the body holding the nomination returns it for supplement")
    s.add_argument("workflow_id")
    s.add_argument("--actor", required=True)
    s.add_argument("--reason", required=True)
    s.set_defaults(run=cmd_return)

    s = sub.add_parser("withdraw", help="the proposing unit withdraws its nomination")
    s.add_argument("workflow_id")
    s.add_argument("--actor", required=True)
    s.add_argument("--reason", required=True)
    s.set_defaults(run=cmd_withdraw)

    s = sub.add_parser("resubmit", help="the proposing unit resubmits a corrected dossier after a return")
    s.add_argument("workflow_id")
    s.add_argument("file")
    s.add_argument("--actor", required=True)
    s.set_defaults(run=cmd_resubmit)

    s = sub.add_parser("roster", help="load the roster seed file into the database")
    s.add_argument("action", choices=["load"])
    s.add_argument("file", nargs="?", default="config/roster.json")
    s.set_defaults(run=cmd_roster_load)

    s = sub.add_parser("db", help="database schema")
    s.add_argument("action", choices=["upgrade"])
    s.set_defaults(run=cmd_db_upgrade)

    s = sub.add_parser("setup", help="register the search attributes on the namespace")
    s.set_defaults(run=cmd_setup)
    return p


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    command: Callable[[argparse.Namespace], Coroutine[Any, Any, int]] = args.run
    from runtime.nominations import ActionRefused, DuplicateNomination, NominationNotFound

    try:
        return asyncio.run(command(args))
    except InvalidInput as err:
        print("invalid input:", file=sys.stderr)
        for error in err.errors:
            print(f"  {error.field}: {error.message}", file=sys.stderr)
        return EXIT_INVALID
    except DuplicateNomination as err:
        print(f"duplicate: {err}", file=sys.stderr)
        return EXIT_DUPLICATE
    except ActionRefused as err:
        print(f"refused: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except NominationNotFound as err:
        print(f"not found: {err}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except CliError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.code


def main() -> None:
    code = run(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # End without interpreter teardown, where the SDK's native runtime can abort (sdk-python#300).
    os._exit(code)


if __name__ == "__main__":
    main()
