"""DecisionWorkflow: one decision (quyết định khen thưởng) applied to every nomination it names.

Each nomination is told by signal (`NominationWorkflow.decision_issued`), records the decision as its
`record_decision` update would, and answers by signal (`item_decided`): accepted, or refused with its reason.
A nomination no running workflow has is answered from the register (never was, or has ended). At most
MAX_CONCURRENT nominations are asked at a time; the results keep the order of the list. The outcome is then
written to the decision register (`persist_decision`) and returned.

The workflow id is `decision_workflow_id(decision_no)`, started with REJECT_DUPLICATE: a number is used once.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.decisions import DecisionActivities
    from domain.decisions import DecisionDelivery, DecisionItem, DecisionRequest, DecisionSummary, unanswered_item
    from domain.operator_view import decision_details_vi
    from workflows.audit_anchor import request_anchor

# A module reference, not a name: the nominations answer this workflow by signal.
from workflows import nomination as nomination_workflow

MAX_CONCURRENT = 20
RECORD_TIMEOUT = timedelta(seconds=60)
LOOKUP_TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30), non_retryable_error_types=["AlreadyDecided"])


@workflow.defn(name="DecisionWorkflow")
class DecisionWorkflow:
    @workflow.init
    def __init__(self, request: DecisionRequest) -> None:
        self._request = request
        self._results: list[DecisionItem | None] = [None] * len(request.workflow_ids)
        self._next = 0
        self._listed = frozenset(request.workflow_ids)
        self._answers: dict[str, DecisionItem] = {}  # by workflow id, as the nominations send them

    @workflow.run
    async def run(self, request: DecisionRequest) -> DecisionSummary:
        lanes = min(MAX_CONCURRENT, len(request.workflow_ids))
        self._show_progress()
        await asyncio.gather(*(self._lane() for _ in range(lanes)))
        summary = self.summary()
        await workflow.execute_activity_method(
            DecisionActivities.persist_decision, summary, start_to_close_timeout=RECORD_TIMEOUT, retry_policy=RETRY
        )
        await request_anchor()  # the decision is in the audit chain: anchor its head now
        return summary

    async def _lane(self) -> None:
        """Takes the next nomination of the list until none is left: MAX_CONCURRENT lanes run at once."""
        while self._next < len(self._request.workflow_ids):
            index = self._next
            self._next += 1
            self._results[index] = await self._deliver(self._request.workflow_ids[index])
            self._show_progress()

    def _show_progress(self) -> None:
        """The current details operators read in the UI: how many nominations have answered (counts only)."""
        answered = [item for item in self._results if item is not None]
        accepted = sum(item.accepted for item in answered)
        total = len(self._results)
        workflow.set_current_details(
            decision_details_vi(self._request.decision.decision_no, total, len(answered), accepted)
        )

    async def _deliver(self, workflow_id: str) -> DecisionItem:
        nominations = nomination_workflow.NominationWorkflow
        nomination: workflow.ExternalWorkflowHandle[nomination_workflow.NominationWorkflow]
        nomination = workflow.get_external_workflow_handle_for(nominations.run, workflow_id)
        delivery = DecisionDelivery(decision=self._request.decision, reply_to=workflow.info().workflow_id)
        try:
            await nomination.signal(nominations.decision_issued, delivery)
        except FailureError:
            # No running workflow has this id: the register says whether it never was or has ended (and how).
            standing = await workflow.execute_local_activity_method(
                DecisionActivities.nomination_standing,
                workflow_id,
                start_to_close_timeout=LOOKUP_TIMEOUT,
                retry_policy=RETRY,
            )
            return unanswered_item(workflow_id, standing, self._request.decision)
        await workflow.wait_condition(lambda: workflow_id in self._answers)
        return self._answers[workflow_id]

    @workflow.signal
    def item_decided(self, item: DecisionItem) -> None:
        """A nomination's answer to the decision: accepted, or refused with its reason."""
        if item.workflow_id in self._listed:
            self._answers[item.workflow_id] = item
        else:
            workflow.logger.warning("ignoring an answer from %s, not on this decision", item.workflow_id)

    @workflow.query
    def summary(self) -> DecisionSummary:
        """The decision and the nominations done so far, in the order of the list."""
        return DecisionSummary(
            decision=self._request.decision, items=[item for item in self._results if item is not None]
        )
