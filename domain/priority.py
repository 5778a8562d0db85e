"""Who goes first on the task queue: the priority policy, as data.

Temporal's task queue priority (`priority_key`, 1 = first; the server's default range is 1-5, default 3)
orders backlogged tasks; within one priority, `fairness_key` shares dispatch between keys in proportion to
their weight, so one key's backlog cannot starve another's. A workflow's tasks (the workflow tasks that carry
people's updates and signals included) and its activities and children run at the priority it was started
with unless they set their own.

The policy:

- people's work goes first: a ballot session (a council or bloc in session, every member waiting on it) at 1;
  a nomination a person proposes, a decision, a bloc year at 2;
- a signed decision carried out at 3: the nominations a decision names take its tidings and answer below
  people's actions, so a decision of hundreds does not queue a central-board approval behind its deliveries
  (a nomination that refuses the decision is raised back to 2);
- bulk starts (an imported list, the API's batch, a year-end wave) at 4, fair by ministry, so one ministry's
  5,000-row import does not hold up another ministry's work of the same priority; once a bulk-started
  nomination's opening work is done it waits for people, and is raised to 2 (`after_opening`), so a person's
  action on it is not queued behind the rest of the import;
- background upkeep (the audit anchor) at 3, the server's default.

Pure: no Temporal here. `workflows.priorities.as_temporal` turns a `TaskPriority` into the SDK's `Priority`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# The server's default range (`matching.numPriorityLevels` 5): 1 runs first, 5 last.
HIGHEST = 1
LOWEST = 5
# Fairness keys are at most 64 bytes (the server's limit).
MAX_FAIRNESS_KEY_BYTES = 64


class WorkKind(StrEnum):
    BALLOT_SESSION = "BALLOT_SESSION"  # a council's or a bloc's meeting: its members wait on it together
    NOMINATION = "NOMINATION"  # one nomination a person proposes (the CLI's nominate, the API's create)
    DECISION = "DECISION"  # a signing authority's batch decision
    BLOC_YEAR = "BLOC_YEAR"  # a bloc's emulation year
    DECISION_TIDINGS = "DECISION_TIDINGS"  # a nomination told of a signed decision, recording it
    BULK_NOMINATION = "BULK_NOMINATION"  # a nomination started by a list (import, API batch, wave)
    UPKEEP = "UPKEEP"  # background work no one waits for (the audit chain's anchor)


@dataclass(frozen=True)
class TaskPriority:
    """A priority key (1 first) and, optionally, a fairness key and weight."""

    priority_key: int
    fairness_key: str | None = None
    fairness_weight: float | None = None

    def __post_init__(self) -> None:
        if not HIGHEST <= self.priority_key <= LOWEST:
            raise ValueError(f"priority_key {self.priority_key} outside {HIGHEST}..{LOWEST}")
        if self.fairness_key is not None and len(self.fairness_key.encode()) > MAX_FAIRNESS_KEY_BYTES:
            raise ValueError(f"fairness_key longer than {MAX_FAIRNESS_KEY_BYTES} bytes")
        if self.fairness_weight is not None and not 0.001 <= self.fairness_weight <= 1000:
            raise ValueError("fairness_weight outside 0.001..1000")


# Which kind of work gets which priority key.
PRIORITY_OF: dict[WorkKind, int] = {
    WorkKind.BALLOT_SESSION: 1,
    WorkKind.NOMINATION: 2,
    WorkKind.DECISION: 2,
    WorkKind.BLOC_YEAR: 2,
    WorkKind.UPKEEP: 3,
    WorkKind.DECISION_TIDINGS: 3,
    WorkKind.BULK_NOMINATION: 4,
}
# What a bulk-started nomination becomes once its opening work is done: a nomination waiting for people.
SETTLED_KIND: dict[WorkKind, WorkKind] = {WorkKind.BULK_NOMINATION: WorkKind.NOMINATION}


def fairness_key(scope: str) -> str:
    """The fairness key of a scope (a ministry, a bloc, an authority's scope): the scope itself, cut to the
    server's 64 bytes on a character boundary (codes are short ASCII; the cut never matters in practice)."""
    key = scope.strip()
    while len(key.encode()) > MAX_FAIRNESS_KEY_BYTES:
        key = key[:-1]
    return key


# The setting that turns the policy off (everything at the server's default).
PRIORITIES_ENV = "TDKT_TASK_PRIORITIES"


def priorities_enabled(setting: str | None) -> bool:
    """Whether the policy applies (TDKT_TASK_PRIORITIES: unset or anything but off/0/no/false), or every task
    runs at the server's default (for measuring without it)."""
    return (setting or "on").strip().lower() not in ("off", "0", "no", "false")


def priority_for(kind: WorkKind, scope: str | None = None) -> TaskPriority:
    """The priority of a kind of work; `scope` (the ministry, the bloc, ...) is its fairness key."""
    key = fairness_key(scope) if scope else None
    return TaskPriority(priority_key=PRIORITY_OF[kind], fairness_key=key or None)


def after_opening(kind: WorkKind, scope: str | None = None) -> TaskPriority | None:
    """The priority a workflow of this kind is raised to once its opening work is done (it then waits for
    people), or None when it keeps its own."""
    settled = SETTLED_KIND.get(kind)
    return None if settled is None else priority_for(settled, scope)


# ---- admission: nominations of a list in their opening work at once ----------------------------------------

# Per ministry, at most this many nominations of a list (an import, the API's batch) are started and not yet
# through their opening work (registration, the first transition, joining a session); the next row starts
# when one is. Enough to keep two workers busy, small enough that a 5,000-row list never puts more than this
# many workflow tasks per ministry ahead of anyone. TDKT_ADMISSION_WINDOW overrides it (0: no bound).
DEFAULT_ADMISSION_WINDOW = 20
ADMISSION_WINDOW_ENV = "TDKT_ADMISSION_WINDOW"


def admission_window(value: str | None) -> int:
    """The window from its setting's text (None or blank: the default). ValueError names the variable."""
    if value is None or not value.strip():
        return DEFAULT_ADMISSION_WINDOW
    try:
        window = int(value.strip())
    except ValueError:
        raise ValueError(f"{ADMISSION_WINDOW_ENV}={value!r}: a whole number (0: no bound)") from None
    if window < 0:
        raise ValueError(f"{ADMISSION_WINDOW_ENV}={value!r}: 0 (no bound) or a positive number")
    return window
