"""The activities of a decision: read a nomination's standing in the register, and record the outcome.

The DecisionWorkflow tells each nomination itself (workflow to workflow); it reads the register only for a
nomination no running workflow has. Both activities may be retried freely: one reads, and the register's
writes are keyed on the decision number and workflow id."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.decisions import DecisionSummary, NominationStanding
from observability.logs import activity_logger
from security.audit_keys import audit_keyring
from store.decisions import AlreadyDecided, nomination_standing, record_decision


class DecisionActivities:
    """Activities bound to one engine; register `nomination_standing` and `persist_decision`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @activity.defn(name="nomination_standing")
    async def nomination_standing(self, workflow_id: str) -> NominationStanding | None:
        standing = await nomination_standing(self._engine, workflow_id)
        activity_logger(__name__).info(
            "nomination_standing_read", nomination=workflow_id, stage=standing.stage.value if standing else None
        )
        return standing

    @activity.defn(name="persist_decision")
    async def persist_decision(self, summary: DecisionSummary) -> None:
        log = activity_logger(__name__)
        try:
            written = await record_decision(self._engine, summary, audit_keyring())
        except AlreadyDecided as exc:
            log.error("decision_conflict", decision_no=summary.decision.decision_no, error=str(exc))
            raise ApplicationError(str(exc), type="AlreadyDecided", non_retryable=True) from None
        log.info(
            "decision_recorded",
            decision_no=summary.decision.decision_no,
            accepted=len(summary.accepted),
            refused=len(summary.refused),
            **written,
        )
