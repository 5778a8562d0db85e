"""What a command prints: a readable table by default, the JSON document under `--json` (for scripts).

`show(data)` takes what a command used to print as JSON (a list of rows, one record, or a scalar) and prints
it as rich tables: a list of rows as one table (a column per key, in the order the keys first appear), a
record as a field/value table with each of its lists of rows as a table of its own below it. Under `--json`
it prints exactly the JSON it always printed (indented, UTF-8, dates as ISO strings). The mode is set once per
process by cli/main.py from the parsed arguments.
"""

from __future__ import annotations

import errno
import json
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from domain.calendar import VIETNAM_TZ

NOTHING_VI = "(không có dòng nào)"
# A moment as the JSON carries it (ISO 8601 with its offset or Z); tables show it in Vietnam's time.
ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})")
# Wide enough for a nomination row on one line when the output goes to a file or a pipe (no terminal width).
PIPE_WIDTH = 200

_json_mode = False


def set_json(enabled: bool) -> None:
    global _json_mode
    _json_mode = enabled


def json_mode() -> bool:
    return _json_mode


def print_json(data: Any) -> None:
    """The JSON document, whatever the mode (what `--json` prints)."""
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def show(data: Any, *, title: str | None = None) -> None:
    """`data` as tables (default) or as JSON (`--json`)."""
    if _json_mode:
        print_json(data)
        return
    console = _console()
    for renderable in renderables(data, title=title):
        console.print(renderable)


def renderables(data: Any, *, title: str | None = None) -> list[Table | str]:
    """The tables (or the plain line) that show `data`; a list of rows with nothing in it is one line."""
    if _is_rows(data):
        rows = list(data)
        if not rows:
            return [NOTHING_VI if title is None else f"{title}: {NOTHING_VI}"]
        return [rows_table(rows, title=title)]
    if isinstance(data, Mapping):
        out: list[Table | str] = [record_table(data, title=title)]
        for key, value in data.items():
            if _is_rows(value) and value:
                out.append(rows_table(list(value), title=str(key)))
        return out
    return [cell(data)]


def rows_table(rows: Sequence[Mapping[str, Any]], *, title: str | None = None) -> Table:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(str(k) for k in row))
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", show_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(cell(row.get(column)) for column in columns))
    return table


def record_table(record: Mapping[str, Any], *, title: str | None = None) -> Table:
    """Field / value; a list of rows is named here (its count) and shown as its own table."""
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", show_edge=False, show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in record.items():
        if _is_rows(value) and value:
            table.add_row(str(key), f"{len(value)} dòng (bảng {key} bên dưới)")
        else:
            table.add_row(str(key), cell(value))
    return table


def cell(value: Any) -> str:
    """One value as text: nothing for None, lists of scalars joined, nested records as key=value pairs."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "có" if value else "không"
    if isinstance(value, datetime):
        return vn_time(value)
    if isinstance(value, str) and ISO_MOMENT.fullmatch(value):
        try:
            return vn_time(datetime.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, Mapping):
        return "; ".join(f"{k}={cell(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        if all(not isinstance(v, Mapping | list | tuple) for v in value):
            return ", ".join(cell(v) for v in value)
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def vn_time(moment: datetime) -> str:
    """A moment as Vietnam's clocks show it (a naive one is taken as UTC, as the engine stores them)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(VIETNAM_TZ).strftime("%d/%m/%Y %H:%M") + " (giờ VN)"


def _is_rows(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, Mapping) for v in value)


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich would exit 1 here; the entry point (cli/main.py) ends a closed pipe quietly with 141, as a shell
        # shows for a writer whose reader has gone.
        raise BrokenPipeError(errno.EPIPE, "the reader of the output has gone")


def _console() -> Console:
    # Made at each call: sys.stdout is the one in force (tests capture it). Plain text without a terminal.
    terminal = sys.stdout.isatty()
    return _Console(
        file=sys.stdout,
        width=None if terminal else PIPE_WIDTH,
        no_color=not terminal,
        highlight=False,
        soft_wrap=False,
    )
