"""Bring a database's schema to the newest Alembic revision.

python -m store.migrate        # DATABASE_URL, else SQLite under .state/

The worker runs this module as a child process (`upgrade_in_child`), so its own process never loads Alembic
and the migrations (~7 MB that a long-lived worker would keep for one use at start). The child exits with
UNREACHABLE_EXIT when the database did not answer, which the worker waits out; any other failure is raised.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from store.db import default_database_url, normalise_url

if TYPE_CHECKING:
    from alembic.config import Config

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ALEMBIC_INI = PROJECT_ROOT / "migrations" / "alembic.ini"
UNREACHABLE_EXIT = 75  # EX_TEMPFAIL: try again later
# What a database that is down, still starting or not yet created raises on the way in: waited out. A URL the
# engine cannot use (an unknown dialect) is a configuration error and fails at once.
UNREACHABLE_ERRORS = (OSError, ConnectionError, DBAPIError)


class DatabaseUnreachable(Exception):
    """The migration could not reach the database; the message is the child's error output, whose last line says
    why."""


class MigrationFailed(Exception):
    """The migration failed for another reason; the message is the child's error output."""


def alembic_config(url: str) -> Config:
    from alembic.config import Config  # imported here: a worker never loads Alembic (module docstring)

    config = Config(str(ALEMBIC_INI))
    # ConfigParser treats % as interpolation; a password may contain one.
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


async def upgrade_to_head(url: str) -> None:
    from alembic import command

    # Alembic's command API is synchronous and env.py calls asyncio.run, so it needs its own thread.
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")


async def upgrade_in_child(url: str) -> None:
    """`upgrade_to_head` in a child process (`python -m store.migrate`); DatabaseUnreachable when the database did
    not answer, MigrationFailed on any other failure."""
    path = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "store.migrate",
        env={**os.environ, "DATABASE_URL": url, "PYTHONPATH": path},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await child.communicate()
    message = err.decode(errors="replace").strip()
    if child.returncode == UNREACHABLE_EXIT:
        raise DatabaseUnreachable(message)
    if child.returncode != 0:
        raise MigrationFailed(f"python -m store.migrate exited with {child.returncode}: {message[-2000:]}")


def main() -> None:
    url = default_database_url()
    try:
        asyncio.run(upgrade_to_head(url))
    except UNREACHABLE_ERRORS as err:
        print(str(err).splitlines()[0] if str(err) else type(err).__name__, file=sys.stderr)
        sys.exit(UNREACHABLE_EXIT)
    print(f"schema at head: {make_url(url).render_as_string(hide_password=True)}")


if __name__ == "__main__":
    main()
