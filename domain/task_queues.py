"""The task queues of one engine: its own, and its ballot sessions' beside it.

Every worker process polls both, each with its own workflow-task slots and pollers. A wave's nominations hold
their slots while their local activities wait on the database; a meeting's updates (the members' credentials
and sealed ballots, the chair's actions) are then not held behind them.
"""

from __future__ import annotations

SESSIONS_SUFFIX = "-sessions"


def session_task_queue(task_queue: str) -> str:
    """The queue the ballot sessions of the engine on `task_queue` run on."""
    return f"{task_queue}{SESSIONS_SUFFIX}"


def engine_task_queue(task_queue: str) -> str:
    """The engine's own queue, from it or from its sessions' queue (the deployment's name: its anchor workflow
    is named after it)."""
    return task_queue.removesuffix(SESSIONS_SUFFIX)
