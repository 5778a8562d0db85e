"""The activities of a decision: deliver it to the nominations it names, read a nomination's standing in the
register, and record the outcome.

The DecisionWorkflow's deliveries signal the nominations through the client, each signal keyed on the decision,
the delivery and the nomination, after setting each nomination's priority to the decision's (below people's
actions: domain/priority.py); a nomination that refuses the decision is raised back to people's priority. It
reads the register only for a nomination no running workflow has. All may be retried freely: a signal lands
once, a priority set again is the same, one reads, and the register's writes are keyed on the decision number
and workflow id."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.signals import signal_each
from activities.workflow_priority import priorities_on, set_priorities
from domain.decisions import DECISION_ISSUED_SIGNAL, DecisionSummary, DecisionTidings, NominationStanding
from domain.priority import WorkKind, priority_for
from observability.logs import activity_logger
from security.audit_keys import audit_keyring
from store.decisions import AlreadyDecided, ministries_of, nomination_standing, record_decision


class DecisionActivities:
    """Activities bound to one engine and one Temporal client; register every `@activity.defn` method."""

    def __init__(self, engine: AsyncEngine, client: Client) -> None:
        self._engine = engine
        self._client = client

    @activity.defn(name="deliver_decision")
    async def deliver_decision(self, tidings: DecisionTidings) -> list[str]:
        """Signal the decision to each nomination of `to`, each first set to the decision's priority so that its
        answer runs below people's actions; the ones no running workflow has."""
        delivery = tidings.delivery
        lowered = 0
        if priorities_on():
            carried_out = priority_for(WorkKind.DECISION_TIDINGS, delivery.decision.authority.value)
            unset = await set_priorities(self._client, [(wf, carried_out) for wf in tidings.to])
            lowered = len(tidings.to) - len(unset)
        deliveries = [(wf, DECISION_ISSUED_SIGNAL, delivery) for wf in tidings.to]
        untold = await signal_each(self._client, delivery.reply_to, tidings.key, deliveries)
        activity_logger(__name__).info(
            "decision_delivered",
            decision_no=delivery.decision.decision_no,
            key=tidings.key,
            told=len(deliveries) - len(untold),
            untold=len(untold),
            lowered=lowered,
        )
        return untold

    @activity.defn(name="raise_refusing_nominations")
    async def raise_refusing_nominations(self, workflow_ids: list[str]) -> None:
        """Set nominations that refused a decision back to people's priority (fair by their ministry): they still
        wait for people."""
        if not priorities_on():
            return
        ministries = await ministries_of(self._engine, workflow_ids)
        targets = [(wf, priority_for(WorkKind.NOMINATION, ministries.get(wf))) for wf in workflow_ids]
        unset = await set_priorities(self._client, targets)
        activity_logger(__name__).info(
            "refusing_nominations_raised", raised=len(targets) - len(unset), unset=len(unset)
        )

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
