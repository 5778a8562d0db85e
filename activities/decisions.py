"""The activities of a decision: deliver it to the nominations it names, read a nomination's standing in the
register, and record the outcome.

The DecisionWorkflow's deliveries signal the nominations through the client, each signal keyed on the decision,
the delivery and the nomination; it reads the register only for a nomination no running workflow has. All may be
retried freely: a signal lands once, one reads, and the register's writes are keyed on the decision number and
workflow id."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.signals import signal_each
from domain.decisions import DECISION_ISSUED_SIGNAL, DecisionSummary, DecisionTidings, NominationStanding
from observability.logs import activity_logger
from security.audit_keys import audit_keyring
from store.decisions import AlreadyDecided, nomination_standing, record_decision


class DecisionActivities:
    """Activities bound to one engine and one Temporal client; register every `@activity.defn` method."""

    def __init__(self, engine: AsyncEngine, client: Client) -> None:
        self._engine = engine
        self._client = client

    @activity.defn(name="deliver_decision")
    async def deliver_decision(self, tidings: DecisionTidings) -> list[str]:
        """Signal the decision to each nomination of `to`; the ones no running workflow has."""
        delivery = tidings.delivery
        deliveries = [(wf, DECISION_ISSUED_SIGNAL, delivery) for wf in tidings.to]
        untold = await signal_each(self._client, delivery.reply_to, tidings.key, deliveries)
        activity_logger(__name__).info(
            "decision_delivered",
            decision_no=delivery.decision.decision_no,
            key=tidings.key,
            told=len(deliveries) - len(untold),
            untold=len(untold),
        )
        return untold

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
