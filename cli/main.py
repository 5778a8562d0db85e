"""The staff and operator CLI (`starter.py`): the parser of every command group, authentication, and the
errors mapped to exit codes (cli/common.py lists them)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from cli import (
    ballots,
    bloc_year,
    decisions,
    documents,
    imports,
    nominations,
    operations,
    ops,
    output,
    procedure,
    reports,
    roster,
    tokens,
)
from cli.common import (
    EXIT_DUPLICATE,
    EXIT_FAILURE,
    EXIT_INVALID,
    EXIT_NOT_FOUND,
    EXIT_REFUSED,
    CliError,
    Command,
    VietnameseArgumentParser,
)
from domain.errors import InvalidInput

# What a shell reports for a process ended by SIGPIPE (128 + 13): the reader of our output has gone.
EXIT_BROKEN_PIPE = 141


def parser() -> argparse.ArgumentParser:
    p = VietnameseArgumentParser(
        prog="starter.py",
        description="Công cụ dòng lệnh của hệ thống xét đề nghị thi đua – khen thưởng (TĐKT).",
        epilog="Mã thoát: 0 xong · 1 lỗi (ví dụ không có máy chủ) · 2 dữ liệu không hợp lệ · 3 đã có · "
        "4 bị từ chối · 5 không tìm thấy · 7 không có mã đăng nhập hợp lệ.",
    )
    p.add_argument("--token", help="mã đăng nhập đã ký của người thực hiện (mặc định: $TDKT_TOKEN)")
    sub = p.add_subparsers(dest="command", required=True)
    # In the order `--help` lists them.
    tokens.add_parsers(sub)
    nominations.add_parsers(sub)
    roster.add_parsers(sub)
    operations.add_parsers(sub)
    ops.add_parsers(sub)
    ballots.add_parsers(sub)
    procedure.add_parsers(sub)
    decisions.add_parsers(sub)
    imports.add_parsers(sub)
    reports.add_parsers(sub)
    documents.add_parsers(sub)
    bloc_year.add_parsers(sub)
    add_json_option(p)
    return p


def add_json_option(p: argparse.ArgumentParser, *, top: bool = True) -> None:
    """`--json` before the command (`starter.py --json list`) or after it (`starter.py list --json`): the
    JSON document for scripts instead of tables. A subcommand's flag has no default of its own, so it never
    resets one given before it."""
    p.add_argument(
        "--json",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="in JSON (cho script) thay cho bảng",
    )
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):  # aliases share a parser: once each
                add_json_option(child, top=False)


async def _authenticated(command: Command, args: argparse.Namespace) -> int:
    if hasattr(args, "actor"):  # every command that acts or reads as someone takes --actor
        await tokens.authenticate(args)
    return await command(args)


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    output.set_json(args.json)
    command: Command = args.run
    from client.access import ReadRefused
    from client.ballots import DuplicateSession
    from client.bloc_year import DuplicateBlocYear
    from client.decisions import DuplicateDecision
    from client.nominations import ActionRefused, DuplicateNomination, NominationNotFound
    from security.codec import CodecError, load_keyring
    from security.keys import MissingKey, PublishedKey

    try:
        if getattr(args, "payload_keys", True):
            load_keyring()  # payload keys first: a missing key stops here, before anything is read or sent
        return asyncio.run(_authenticated(command, args))
    except InvalidInput as err:
        print("Dữ liệu không hợp lệ — invalid input:", file=sys.stderr)
        for error in err.errors:
            print(f"  {error.field}: {error.message}", file=sys.stderr)
        return EXIT_INVALID
    except (DuplicateNomination, DuplicateSession, DuplicateDecision, DuplicateBlocYear) as err:
        print(f"Đã có — duplicate: {err}", file=sys.stderr)
        return EXIT_DUPLICATE
    except (ActionRefused, ReadRefused) as err:
        print(f"Bị từ chối — refused: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except NominationNotFound as err:
        print(f"Không tìm thấy — not found: {err}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except CliError as err:
        print(f"Lỗi — error: {err}", file=sys.stderr)
        return err.code
    except (CodecError, MissingKey, PublishedKey) as err:  # keys missing, published or not in the keyring
        print(f"Lỗi cấu hình khóa — configuration: {err}", file=sys.stderr)
        return EXIT_FAILURE


def main() -> None:
    try:
        code = run(sys.argv[1:])
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader closed the pipe (`starter.py list | head`): what is left unwritten goes nowhere, quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_BROKEN_PIPE
    sys.stderr.flush()
    # End without interpreter teardown, where the SDK's native runtime can abort.
    os._exit(code)
