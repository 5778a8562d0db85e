"""The priority policy (domain/priority.py) as the SDK's `Priority`, for the clients' starts and the
workflows' children."""

from __future__ import annotations

from temporalio.common import Priority

from domain.priority import TaskPriority, WorkKind, priority_for


def as_temporal(priority: TaskPriority) -> Priority:
    return Priority(
        priority_key=priority.priority_key,
        fairness_key=priority.fairness_key,
        fairness_weight=priority.fairness_weight,
    )


def priority_of(kind: WorkKind, scope: str | None = None) -> Priority:
    """The SDK priority the policy gives this kind of work in this scope."""
    return as_temporal(priority_for(kind, scope))
