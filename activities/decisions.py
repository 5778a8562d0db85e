"""The activities of a decision: apply it to one nomination (a workflow update), and record the outcome.

A nomination that refuses the decision is a result (DecisionItem accepted=False with the reason), never an
error. Both activities may be retried freely: a nomination already AWARDED by this same decision number is
reported accepted, and the register's writes are keyed on the decision number and workflow id."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from client.nominations import ActionRefused, NominationNotFound, act, status
from domain.decisions import DecisionItem, DecisionRef, DecisionSummary
from domain.messages import NominationStatus
from domain.stages import Stage
from observability.logs import activity_logger
from security.audit_keys import audit_keyring
from store.decisions import AlreadyDecided, record_decision

RECORD_DECISION_UPDATE = "record_decision"


def accepted_item(current: NominationStatus) -> DecisionItem:
    return DecisionItem(
        workflow_id=current.workflow_id,
        accepted=True,
        nominee_name=current.nominee_name,
        award_name_vi=current.award_name_vi,
        ministry=current.ministry,
    )


def awarded_by_this(current: NominationStatus, decision: DecisionRef) -> bool:
    return current.stage == Stage.AWARDED and current.decision_no == decision.decision_no


class DecisionActivities:
    """Activities bound to one engine and one Temporal client; register `apply_decision_item` and
    `record_decision`."""

    def __init__(self, engine: AsyncEngine, client: Client) -> None:
        self._engine = engine
        self._client = client

    @activity.defn(name="apply_decision_item")
    async def apply_decision_item(self, workflow_id: str, decision: DecisionRef) -> DecisionItem:
        log = activity_logger(__name__)
        try:
            await act(self._client, workflow_id, RECORD_DECISION_UPDATE, decision)
        except NominationNotFound as exc:
            log.info("decision_item_refused", nomination=workflow_id, decision_no=decision.decision_no, reason=str(exc))
            return DecisionItem(workflow_id=workflow_id, accepted=False, reason=str(exc))
        except ActionRefused as exc:
            # A retry of an attempt whose update went through is refused as "already decided" (or "ended"):
            # it is still this decision's nomination.
            try:
                current = await status(self._client, workflow_id)
            except NominationNotFound:
                current = None
            if current is not None and awarded_by_this(current, decision):
                log.info("decision_item_already_applied", nomination=workflow_id, decision_no=decision.decision_no)
                return accepted_item(current)
            log.info("decision_item_refused", nomination=workflow_id, decision_no=decision.decision_no, reason=str(exc))
            return DecisionItem(workflow_id=workflow_id, accepted=False, reason=str(exc))
        current = await status(self._client, workflow_id)
        log.info("decision_item_accepted", nomination=workflow_id, decision_no=decision.decision_no)
        return accepted_item(current)

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
