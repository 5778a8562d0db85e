"""Bring a database's schema to the newest Alembic revision.

python -m store.migrate        # DATABASE_URL, else SQLite under .state/
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from store.db import default_database_url, normalise_url

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "migrations" / "alembic.ini"


def alembic_config(url: str) -> Config:
    config = Config(str(ALEMBIC_INI))
    # ConfigParser treats % as interpolation; a password may contain one.
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


async def upgrade_to_head(url: str) -> None:
    # Alembic's command API is synchronous and env.py calls asyncio.run, so it needs its own thread.
    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")


def main() -> None:
    url = default_database_url()
    asyncio.run(upgrade_to_head(url))
    print(f"schema at head: {make_url(url).render_as_string(hide_password=True)}")


if __name__ == "__main__":
    main()
