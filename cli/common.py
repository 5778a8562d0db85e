"""What every command group shares: exit codes, printing, payloads, and the connections a command opens.

Exit codes: 0 done · 1 failure (e.g. no server) · 2 invalid input · 3 duplicate · 4 refused (by the workflow,
or a read outside the reader's scope) · 5 not found · 7 no valid token (cli/main.py maps errors to them).
Clients and workflows are imported inside the functions: `--help` and the argument errors stay fast.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

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
ACTOR_HELP = "optional: the actor of the signed token (--token or TDKT_TOKEN); if given, must match it"
# Reading follows the roster too: the reader is the token's actor (domain/access.py).
READER_HELP = "optional: the reader named by the signed token (--token or TDKT_TOKEN); if given, must match it"

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
                f"cannot read the roster from the database ({type(err).__name__}); is DATABASE_URL right and the "
                "schema migrated (`starter.py db upgrade`)?",
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
