"""What every command group shares: exit codes, printing, payloads, and the connections a command opens.

Exit codes: 0 done · 1 failure (e.g. no server) · 2 invalid input · 3 duplicate · 4 refused (by the workflow,
or a read outside the reader's scope) · 5 not found · 7 no valid token (cli/main.py maps errors to them).
Clients and workflows are imported inside the functions: `--help` and the argument errors stay fast.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

from cli.output import show
from domain.errors import InvalidInput, field_errors_from

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine
    from temporalio.client import Client

    from client.nominations import NominationUpdate
    from client.settings import Settings
    from domain.access import ReadScope

EXIT_OK, EXIT_FAILURE, EXIT_INVALID, EXIT_DUPLICATE, EXIT_REFUSED, EXIT_NOT_FOUND = 0, 1, 2, 3, 4, 5
EXIT_UNAUTHENTICATED = 7
ACTOR_HELP = "không bắt buộc: người thực hiện theo mã đăng nhập (--token hoặc TDKT_TOKEN); nếu ghi, phải trùng với mã"
# Reading follows the roster too: the reader is the token's actor (domain/access.py).
READER_HELP = "không bắt buộc: người xem theo mã đăng nhập (--token hoặc TDKT_TOKEN); nếu ghi, phải trùng với mã"

# argparse's own messages (Python 3.11's wording) in Vietnamese: the pattern, and the Vietnamese with its groups.
ARGPARSE_MESSAGES_VI: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.DOTALL), vietnamese)
    for pattern, vietnamese in (
        (r"the following arguments are required: (.*)", r"thiếu tham số bắt buộc: \1"),
        (r"one of the arguments (.*) is required", r"cần một trong các tham số \1"),
        (r"unrecognized arguments: (.*)", r"tham số không nhận ra: \1"),
        (
            r"argument (.*?): invalid choice: (.*) \(choose from (.*)\)",
            r"tham số \1: không có lựa chọn \2 (chọn một trong \3)",
        ),
        (r"argument (.*?): invalid (\w+) value: (.*)", r"tham số \1: giá trị \3 không phải kiểu \2"),
        (r"argument (.*?): expected one argument", r"tham số \1: cần đúng một giá trị"),
        (r"argument (.*?): expected at most one argument", r"tham số \1: cần nhiều nhất một giá trị"),
        (r"argument (.*?): expected at least one argument", r"tham số \1: cần ít nhất một giá trị"),
        (r"argument (.*?): not allowed with argument (.*)", r"tham số \1: không dùng cùng tham số \2"),
        (r"argument (.*?): ignored explicit argument (.*)", r"tham số \1: giá trị \2 bị bỏ qua"),
        (r"ambiguous option: (.*) could match (.*)", r"tùy chọn \1 không rõ: có thể là \2"),
        (r"argument (.*?): (.*)", r"tham số \1: \2"),
    )
)


def argparse_message_vi(message: str) -> str:
    """argparse's error message in Vietnamese (the first pattern that matches; anything else as it is)."""
    for pattern, vietnamese in ARGPARSE_MESSAGES_VI:
        if pattern.fullmatch(message):
            return pattern.sub(vietnamese, message, count=1)
    return message


class VietnameseHelpFormatter(argparse.HelpFormatter):
    """Help with a Vietnamese usage line ("Cách dùng:")."""

    def add_usage(self, usage: str | None, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, prefix="Cách dùng: " if prefix is None else prefix)


class VietnameseArgumentParser(argparse.ArgumentParser):
    """The CLI's parser, and every subcommand's (add_subparsers makes children of the same class): headings,
    usage, -h and argparse's own errors in Vietnamese, option names unchanged. A subcommand's help line is its
    description too, so `starter.py nominate --help` says what the command does. Errors end with exit 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", VietnameseHelpFormatter)
        super().__init__(*args, **kwargs)
        self._positionals.title = "tham số vị trí"
        self._optionals.title = "tùy chọn"
        for action in self._actions:
            if isinstance(action, argparse._HelpAction):
                action.help = "in hướng dẫn này rồi thoát"

    def add_subparsers(self, **kwargs: Any) -> Any:
        kwargs.setdefault("title", "lệnh")
        subparsers = super().add_subparsers(**kwargs)
        plain_add_parser = subparsers.add_parser

        def add_parser(name: str, **options: Any) -> argparse.ArgumentParser:
            if "help" in options and "description" not in options:
                options["description"] = options["help"]
            return plain_add_parser(name, **options)

        subparsers.add_parser = add_parser  # type: ignore[method-assign]
        return subparsers

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_INVALID, f"{self.prog}: lỗi: {argparse_message_vi(message)}\n")


# A command: the parsed arguments in, the exit code out.
Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]
ModelT = TypeVar("ModelT", bound=BaseModel)


class CliError(Exception):
    """Ends the command with `code` and the message on stderr."""

    def __init__(self, code: int, message: str):
        self.code = code
        super().__init__(message)


def build_payload(model: type[ModelT], **fields: Any) -> ModelT:
    """The payload as the workflow will validate it; a field that does not fit is InvalidInput naming it."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise InvalidInput(field_errors_from(exc)) from None


# What a command prints: tables by default, JSON under --json (cli/output.py). `print_json` is the name the
# command modules used when they printed JSON only; it shows the same way.
print_json = show


def settings() -> Settings:
    from client.settings import Settings, TemporalConfigError

    try:
        return Settings.from_env()
    except TemporalConfigError as err:
        raise CliError(EXIT_INVALID, temporal_config_message(err)) from None


def temporal_config_message(err: Exception) -> str:
    """A Temporal profile that cannot be used (client/settings.py): what is wrong, and in Vietnamese who fixes it."""
    return (
        f"{err}\nCấu hình kết nối Temporal không dùng được (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE, TEMPORAL_*): "
        "đề nghị quản trị hệ thống kiểm tra."
    )


def database_url() -> str:
    from store.db import default_database_url

    return settings().database_url or default_database_url()


@asynccontextmanager
async def database() -> AsyncIterator[AsyncEngine]:
    """The engine on DATABASE_URL (else the local default), disposed of when the command is done with it."""
    from store.db import create_engine

    engine = create_engine(database_url())
    try:
        yield engine
    finally:
        await engine.dispose()


async def temporal_client() -> Client:
    from client.settings import TemporalConfigError
    from client.temporal import connect

    current = settings()
    try:
        return await connect(current.temporal_address, current.temporal_namespace, profile=current.temporal)
    except TemporalConfigError as err:  # a certificate or key of the profile that cannot be read
        raise CliError(EXIT_INVALID, temporal_config_message(err)) from None
    except RuntimeError:
        raise CliError(EXIT_FAILURE, no_server_message(current.temporal_address)) from None


def no_server_message(address: str) -> str:
    """What to do when no Temporal server answers: where the CLI looked and the two ways out (the transport's
    own error says nothing a person can act on)."""
    return (
        f"cannot reach Temporal at {address} (TEMPORAL_ADDRESS). Start the local stack with `make up`, or set "
        "TEMPORAL_ADDRESS to your Temporal cluster's host:port.\n"
        f"Không kết nối được máy chủ Temporal tại {address} (biến TEMPORAL_ADDRESS): chạy `make up` để bật máy "
        "chủ trên máy này, hoặc đặt TEMPORAL_ADDRESS là địa chỉ cụm Temporal của đơn vị."
    )


async def reader(args: argparse.Namespace) -> ReadScope:
    """What the token's actor may read, from the database roster (domain/access.py); ReadRefused (exit 4)
    for an actor who may read nothing."""
    from sqlalchemy.exc import SQLAlchemyError

    from client.access import checked_scope

    async with database() as engine:
        try:
            return await checked_scope(engine, args.actor)
        except (SQLAlchemyError, OSError) as err:
            raise CliError(
                EXIT_FAILURE,
                f"không đọc được danh sách cán bộ từ cơ sở dữ liệu ({type(err).__name__}): kiểm tra DATABASE_URL "
                "và đã nâng lược đồ chưa (`starter.py db upgrade`)",
            ) from None


async def act(workflow_id: str, update: NominationUpdate, payload: BaseModel) -> int:
    """A human action on a nomination (the workflow's update by method), its receipt printed."""
    from client.nominations import act as send

    receipt = await send(await temporal_client(), workflow_id, update, payload)
    show(receipt.model_dump(mode="json"))
    return EXIT_OK


async def anchor_stamp() -> str:
    """The audit chain's latest anchor as printed on exports (it says so when Temporal cannot be read)."""
    from client.audit_anchors import latest_anchor
    from domain.audit_anchors import anchor_stamp as stamp

    try:
        client = await temporal_client()
    except CliError:
        return stamp(None)
    return stamp(await latest_anchor(client, settings().task_queue))
