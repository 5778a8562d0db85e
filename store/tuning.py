"""Operator knobs for the worker and the database pool, read from the environment.

TDKT_MAX_CACHED_WORKFLOWS, TDKT_MAX_CONCURRENT_WORKFLOW_TASKS, TDKT_MAX_CONCURRENT_ACTIVITIES and
TDKT_MAX_CONCURRENT_LOCAL_ACTIVITIES set the Temporal worker's options (unset: the SDK's defaults, but a
workflow cache of DEFAULT_MAX_CACHED_WORKFLOWS per worker instead of the SDK's 1,000, and
DEFAULT_MAX_CONCURRENT_WORKFLOW_TASKS workflow tasks at once instead of its 100);
TDKT_WORKFLOW_SANDBOX=on runs the workflows in the SDK's sandbox (default off: the test suite turns it on);
DB_POOL_SIZE and DB_POOL_PRE_PING set the PostgreSQL pool. What each did in the year-end wave is in
docs/performance.md. A bad value stops the process with a message naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict, cast

WORKER_OPTION_VARIABLES: Mapping[str, str] = {
    "TDKT_MAX_CACHED_WORKFLOWS": "max_cached_workflows",
    "TDKT_MAX_CONCURRENT_WORKFLOW_TASKS": "max_concurrent_workflow_tasks",
    "TDKT_MAX_CONCURRENT_ACTIVITIES": "max_concurrent_activities",
    "TDKT_MAX_CONCURRENT_LOCAL_ACTIVITIES": "max_concurrent_local_activities",
}


class WorkerOptions(TypedDict, total=False):
    """The temporalio Worker keyword arguments an operator may set."""

    max_cached_workflows: int
    max_concurrent_workflow_tasks: int
    max_concurrent_activities: int
    max_concurrent_local_activities: int


DEFAULT_POOL_SIZE = 10
# Workflows kept in each worker's cache. The SDK's 1,000 let two worker processes hold 1,070 MB in a long wave; a
# workflow evicted from the cache replays its history at its next task (docs/performance.md, "Memory").
DEFAULT_MAX_CACHED_WORKFLOWS = 400
# Workflow tasks a worker runs at once. Task-queue priority orders only the tasks still on the server: with the
# SDK's 100 slots a person's approval waited inside the worker behind up to 100 bulk tasks sharing the event
# loop and the database pool (p99 2.7 s in a wave); with 20 it waits on the server, where it goes first
# (p99 0.57 s), at the same rate. Each task holds its slot while its local activities (a transition's write,
# the roster's reload) run, so very few slots starve the pool: 4 stalled the wave (docs/performance.md).
DEFAULT_MAX_CONCURRENT_WORKFLOW_TASKS = 20
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class TuningError(ValueError):
    """An environment variable holds a value the engine cannot use; the message names it."""


def _positive_int(env: Mapping[str, str], name: str, minimum: int = 1) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise TuningError(f"{name}={raw!r}: expected a whole number ≥ {minimum}") from None
    if value < minimum:
        raise TuningError(f"{name}={raw!r}: expected a whole number ≥ {minimum}")
    return value


def worker_options(env: Mapping[str, str]) -> WorkerOptions:
    """The Worker keyword arguments the operator set; the engine's cache size and workflow-task slots, and the
    SDK's defaults for the rest."""
    options: dict[str, int] = {
        "max_cached_workflows": DEFAULT_MAX_CACHED_WORKFLOWS,
        "max_concurrent_workflow_tasks": DEFAULT_MAX_CONCURRENT_WORKFLOW_TASKS,
    }
    for variable, option in WORKER_OPTION_VARIABLES.items():
        # A cache of 0 is legal (every task replays the history); concurrency limits need at least 1.
        value = _positive_int(env, variable, minimum=0 if option == "max_cached_workflows" else 1)
        if value is not None:
            options[option] = value
    return cast(WorkerOptions, options)


def _flag(env: Mapping[str, str], name: str, default: bool, expected: str = "on or off") -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise TuningError(f"{name}={raw!r}: expected {expected}")


def workflow_sandbox(env: Mapping[str, str]) -> bool:
    """Whether workflows run in the SDK's sandbox (TDKT_WORKFLOW_SANDBOX, default off). Off saves the sandbox's
    entry on every activation (-18 % worker CPU in the year-end wave, docs/performance.md). What the sandbox
    catches is checked before code ships instead: the test suite runs every workflow in it (tests/conftest.py
    turns it on), the replay tests replay in it, and tests/unit/test_determinism_guard.py keeps workflows/ and
    what it calls from clocks, randomness, the environment, files and global rebinding."""
    return _flag(env, "TDKT_WORKFLOW_SANDBOX", default=False)


@dataclass(frozen=True)
class PoolSettings:
    size: int = DEFAULT_POOL_SIZE
    pre_ping: bool = True


def pool_settings(env: Mapping[str, str], *, pre_ping_default: bool = True) -> PoolSettings:
    """DB_POOL_SIZE (connections kept, as many again on overflow) and DB_POOL_PRE_PING (a round trip per
    checkout that hides a restarted server from the caller; processes whose callers retry can drop it)."""
    size = _positive_int(env, "DB_POOL_SIZE") or DEFAULT_POOL_SIZE
    pre_ping = _flag(env, "DB_POOL_PRE_PING", pre_ping_default, expected="1 or 0 (true/false, yes/no, on/off)")
    return PoolSettings(size=size, pre_ping=pre_ping)
