"""`roster load`: the roster seed file into the database, the schema brought to head first."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import ValidationError

from cli.common import EXIT_OK, database, database_url, show
from domain.errors import FieldError, InvalidInput, field_errors_from


async def cmd_roster_load(args: argparse.Namespace) -> int:
    from domain.roster import Roster
    from store.migrate import upgrade_to_head
    from store.roster import load_roster

    try:
        roster = Roster.model_validate_json(Path(args.file).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput([FieldError(field="FILE", message=f"{args.file} does not exist")]) from None
    except ValidationError as exc:
        raise InvalidInput(field_errors_from(exc)) from None
    await upgrade_to_head(database_url())
    async with database() as engine:
        counts = await load_roster(engine, roster)
    show(counts)
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("roster", help="nạp tệp danh sách cán bộ vào cơ sở dữ liệu")
    s.add_argument("action", choices=["load"], help="load: nạp")
    s.add_argument("file", nargs="?", default="config/roster.json", help="tệp danh sách (mặc định config/roster.json)")
    # The roster is the database's: loading it needs no payload keys.
    s.set_defaults(run=cmd_roster_load, payload_keys=False)
