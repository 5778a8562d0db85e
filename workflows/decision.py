"""DecisionWorkflow: one decision (quyết định khen thưởng) applied to every nomination it names.

Each nomination gets the decision through the `apply_decision_item` activity (a `record_decision` update
on the nomination); a nomination that refuses it is reported refused with its reason, not failed. At most
MAX_CONCURRENT nominations are in flight at a time; the results keep the order of the list. The outcome
is then written to the decision register (`record_decision`) and returned.

The workflow id is `decision_workflow_id(decision_no)`, started with REJECT_DUPLICATE: a number is used once.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.decisions import DecisionItem, DecisionRequest, DecisionSummary
    from workflows.audit_anchor import request_anchor

MAX_CONCURRENT = 20
# One update on a nomination (which persists its transition before returning) and one status query.
APPLY_TIMEOUT = timedelta(minutes=2)
RECORD_TIMEOUT = timedelta(seconds=60)
RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30), non_retryable_error_types=["AlreadyDecided"])


@workflow.defn(name="DecisionWorkflow")
class DecisionWorkflow:
    @workflow.init
    def __init__(self, request: DecisionRequest) -> None:
        self._request = request
        self._results: list[DecisionItem | None] = [None] * len(request.workflow_ids)
        self._next = 0

    @workflow.run
    async def run(self, request: DecisionRequest) -> DecisionSummary:
        lanes = min(MAX_CONCURRENT, len(request.workflow_ids))
        await asyncio.gather(*(self._lane() for _ in range(lanes)))
        summary = self.summary()
        await workflow.execute_activity(
            "persist_decision", summary, start_to_close_timeout=RECORD_TIMEOUT, retry_policy=RETRY
        )
        await request_anchor()  # the decision is in the audit chain: anchor its head now
        return summary

    async def _lane(self) -> None:
        """Takes the next nomination of the list until none is left: MAX_CONCURRENT lanes run at once."""
        while self._next < len(self._request.workflow_ids):
            index = self._next
            self._next += 1
            self._results[index] = await workflow.execute_activity(
                "apply_decision_item",
                args=[self._request.workflow_ids[index], self._request.decision],
                result_type=DecisionItem,
                start_to_close_timeout=APPLY_TIMEOUT,
                retry_policy=RETRY,
            )

    @workflow.query
    def summary(self) -> DecisionSummary:
        """The decision and the nominations done so far, in the order of the list."""
        return DecisionSummary(
            decision=self._request.decision, items=[item for item in self._results if item is not None]
        )
