"""structlog setup, and a logger that ties every activity log line to its workflow run."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from temporalio import activity


def configure_logging(json: bool = False, level: int = logging.INFO) -> None:
    """Key-value lines for people, JSON lines for log shippers; both on stderr with ISO timestamps."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if json:
        # JSON needs the traceback as data; the console renderer formats exceptions itself.
        tail: list[Any] = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        tail = [structlog.dev.ConsoleRenderer(colors=False)]
    structlog.configure(
        processors=shared + tail,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def activity_logger(name: str = "activities") -> Any:
    """A logger bound to the running activity's workflow id, run id, type and attempt."""
    info = activity.info()
    return structlog.get_logger(name).bind(
        logger=name,
        workflow_id=info.workflow_id,
        run_id=info.workflow_run_id,
        activity_type=info.activity_type,
        attempt=info.attempt,
    )
