"""Stuck work at a glance: the running nominations that are held, overdue or past their due date, read from
Temporal's visibility alone (the search attributes the workflows keep current: OnHold, Overdue, AwaitingRole,
StageDueAt) — no payload is decoded, so no personal data is read and no codec key is needed for it.

The reader sees what their read scope allows (client/access.py): the central board every nomination, a
ministry's secretariat its ministry's, a bloc's head its bloc's candidates; someone who may read nothing is
refused before anything is asked of Temporal.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict
from temporalio.client import Client, WorkflowExecution

from client.access import ReadRefused, ministry_filter_error, visibility_scope
from domain.access import ReadScope
from domain.operator_view import local_time_vi, stuck_marks
from domain.stages import Stage
from workflows.nomination import NominationWorkflow
from workflows.search_attributes import (
    AWAITING_ROLE,
    AWARD_FORM,
    AWARD_YEAR,
    MINISTRY,
    NOMINATION_STAGE,
    ON_HOLD,
    OVERDUE,
    STAGE_DUE_AT,
)


class StuckRow(BaseModel):
    """One nomination of the stuck table: why it is there (marks), where it stands and whose action it awaits."""

    model_config = ConfigDict(frozen=True)
    workflow_id: str
    marks: tuple[str, ...]
    stage: str | None
    stage_vi: str | None
    ministry: str | None
    award_form: str | None
    year: int | None
    awaiting_role: str | None
    due_at: datetime | None
    due_vi: str | None  # the due date in Vietnam's time


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stuck_query(now: datetime, ministry: str | None = None) -> str:
    """The visibility query of running nominations held, overdue, or due before `now` (the same clauses work in
    the Temporal UI and `temporal workflow list --query`)."""
    clauses = [
        f"WorkflowType = '{NominationWorkflow.__name__}'",
        "ExecutionStatus = 'Running'",
        f"(OnHold = true OR Overdue = true OR StageDueAt < '{_utc(now)}')",
    ]
    if ministry:
        clauses.append("Ministry = '" + ministry.replace("\\", "\\\\").replace("'", "\\'") + "'")
    return " AND ".join(clauses)


def stuck_row(wf: WorkflowExecution, now: datetime) -> StuckRow:
    attrs = wf.typed_search_attributes
    stage = attrs.get(NOMINATION_STAGE)
    due = attrs.get(STAGE_DUE_AT)
    return StuckRow(
        workflow_id=wf.id,
        marks=stuck_marks(bool(attrs.get(ON_HOLD)), bool(attrs.get(OVERDUE)), due, now),
        stage=stage,
        stage_vi=Stage(stage).label_vi if stage is not None and stage in Stage.__members__ else None,
        ministry=attrs.get(MINISTRY),
        award_form=attrs.get(AWARD_FORM),
        year=attrs.get(AWARD_YEAR),
        awaiting_role=attrs.get(AWAITING_ROLE),
        due_at=due,
        due_vi=local_time_vi(due) if due is not None else None,
    )


def _order(row: StuckRow) -> tuple[int, datetime, str]:
    # Overdue first, then late, then held only; earliest due date first within each; then by id.
    rank = 0 if "QUÁ HẠN" in row.marks else 1 if "TRỄ HẠN" in row.marks else 2
    return rank, row.due_at or datetime.max.replace(tzinfo=UTC), row.workflow_id


async def stuck_nominations(
    client: Client,
    scope: ReadScope,
    now: datetime,
    *,
    ministry: str | None = None,
    limit: int | None = None,
) -> list[StuckRow]:
    """The reader's stuck nominations as of `now`, overdue first. ReadRefused for a ministry the reader may not
    read."""
    if ministry and (refusal := ministry_filter_error(scope, ministry)) is not None:
        raise ReadRefused(refusal)
    query = stuck_query(now, ministry)
    narrowed = visibility_scope(scope)
    if narrowed is not None:
        query = f"{query} AND {narrowed}"
    rows = [stuck_row(wf, now) async for wf in client.list_workflows(query, limit=limit)]
    # Visibility may still hold a value the workflow has just changed: keep only rows with a reason to be here.
    return sorted((row for row in rows if row.marks), key=_order)
