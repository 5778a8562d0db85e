"""The access log names the path, never the query string: a query may carry a token or a nominee's name
(a token there is refused, but the request line would still be logged). A cast ballot's line names no client
address either: the ballot is anonymous, and the address the voter's credential request came from (logged
with it) would tie the two together."""

from __future__ import annotations

import logging
import re

ACCESS_LOGGER = "uvicorn.access"
ANONYMOUS_PATH = re.compile(r"^/ballot-sessions/[^/]+/ballots/?$")


class WithoutQueryString(logging.Filter):
    """uvicorn's access record is (client, method, full path, HTTP version, status): drop `?...` from the path."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            client, method, full_path, version, status = args
            path, query_marker, _ = str(full_path).partition("?")
            if ANONYMOUS_PATH.match(path):
                client = "-"
            record.args = (client, method, path + ("?…" if query_marker else ""), version, status)
        return True


def install() -> None:
    logging.getLogger(ACCESS_LOGGER).addFilter(WithoutQueryString())
