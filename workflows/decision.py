"""DecisionWorkflow: one decision (quyết định khen thưởng) applied to every nomination it names.

The nominations are told in groups of MAX_CONCURRENT, in the order of the list: one activity signals a group
(`NominationWorkflow.decision_issued`), first setting each one's priority to the decision's, below people's
actions (domain/priority.py); each nomination records the decision as its `record_decision` update would and
answers by signal (`item_decided`): accepted, or refused with its reason. The next group is told once this one
has answered; those that refused are raised back to people's priority. A nomination no running workflow has is
answered from the register (never was, or has ended). The results keep the order of the list. The outcome is
then written to the decision register (`persist_decision`) and returned.

The workflow id is `decision_workflow_id(decision_no)`, started with REJECT_DUPLICATE: a number is used once.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.decisions import DecisionActivities
    from domain.decisions import (
        DecisionDelivery,
        DecisionItem,
        DecisionRequest,
        DecisionSummary,
        DecisionTidings,
        unanswered_item,
    )
    from domain.operator_view import decision_details_vi
    from workflows.audit_anchor import request_anchor

MAX_CONCURRENT = 20  # nominations told at a time: a decision of 1,000 does not flood the people's queue
RECORD_TIMEOUT = timedelta(seconds=60)
LOOKUP_TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30), non_retryable_error_types=["AlreadyDecided"])


@workflow.defn(name="DecisionWorkflow")
class DecisionWorkflow:
    @workflow.init
    def __init__(self, request: DecisionRequest) -> None:
        self._request = request
        self._results: list[DecisionItem | None] = [None] * len(request.workflow_ids)
        self._listed = frozenset(request.workflow_ids)
        self._answers: dict[str, DecisionItem] = {}  # by workflow id, as the nominations send them

    @workflow.run
    async def run(self, request: DecisionRequest) -> DecisionSummary:
        self._show_progress()
        listed = request.workflow_ids
        for key, first in enumerate(range(0, len(listed), MAX_CONCURRENT), start=1):
            await self._decide_group(key, first, listed[first : first + MAX_CONCURRENT])
            self._show_progress()
        summary = self.summary()
        await workflow.execute_activity_method(
            DecisionActivities.persist_decision, summary, start_to_close_timeout=RECORD_TIMEOUT, retry_policy=RETRY
        )
        await request_anchor()  # the decision is in the audit chain: anchor its head now
        return summary

    def _show_progress(self) -> None:
        """The current details operators read in the UI: how many nominations have answered (counts only)."""
        answered = [item for item in self._results if item is not None]
        accepted = sum(item.accepted for item in answered)
        total = len(self._results)
        workflow.set_current_details(
            decision_details_vi(self._request.decision.decision_no, total, len(answered), accepted)
        )

    async def _decide_group(self, key: int, first: int, group: list[str]) -> None:
        """Tell the nominations of `group` (listed from position `first`) and wait for each one's answer; one that
        no running workflow has is answered from the register (it never was, or has ended, and how)."""
        delivery = DecisionDelivery(decision=self._request.decision, reply_to=workflow.info().workflow_id)
        untold = set(
            await workflow.execute_activity_method(
                DecisionActivities.deliver_decision,
                DecisionTidings(delivery=delivery, key=key, to=group),
                start_to_close_timeout=RECORD_TIMEOUT,
                retry_policy=RETRY,
            )
        )
        for position, workflow_id in enumerate(group, start=first):
            if workflow_id in untold:
                standing = await workflow.execute_local_activity_method(
                    DecisionActivities.nomination_standing,
                    workflow_id,
                    start_to_close_timeout=LOOKUP_TIMEOUT,
                    retry_policy=RETRY,
                )
                self._results[position] = unanswered_item(workflow_id, standing, self._request.decision)
        await workflow.wait_condition(lambda: all(wf in self._answers or wf in untold for wf in group))
        for position, workflow_id in enumerate(group, start=first):
            if workflow_id not in untold:
                self._results[position] = self._answers[workflow_id]
        refusing = [wf for wf in group if wf not in untold and not self._answers[wf].accepted]
        if refusing:  # told at the decision's priority, they still wait for people
            await workflow.execute_activity_method(
                DecisionActivities.raise_refusing_nominations,
                refusing,
                start_to_close_timeout=RECORD_TIMEOUT,
                retry_policy=RETRY,
            )

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
