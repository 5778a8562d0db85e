"""AuditAnchorWorkflow: the audit chain's head, anchored outside the engine's database.

One long-running workflow per deployment (id `anchor_workflow_id(task_queue)`: the worker's task queue names
the deployment whose database its activity reads). It reads the head (last id, count, hash) right away, then
whenever `interval_seconds` (at most 60) pass or a workflow signals `anchor_now` after writing its audit entry
(a ballot session's minutes, a decision), and keeps the anchors in its own state — so they live in Temporal's
history, a store the engine's database administrators do not write. It continues as new every TICKS_PER_RUN
readings (or when the server suggests it), carrying the anchors forward (thinned: domain/audit_anchors.py).

`verify-audit` reads them through the typed query `anchors` and checks the chain against them.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities.audit_anchor import AuditAnchorActivities
    from domain.audit_anchors import (
        MAX_INTERVAL_SECONDS,
        AnchorLog,
        AnchorReason,
        AnchorRequest,
        AnchorStart,
        record_head,
        went_back,
    )
    from domain.task_queues import engine_task_queue

ANCHOR_ID_PREFIX = "audit-anchor"
TICKS_PER_RUN = 360  # readings per run: about 3,000 history events
READ_TIMEOUT = timedelta(seconds=30)
# A database that is down delays the next anchor; the reading is retried until it answers.
READ_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))


def anchor_workflow_id(task_queue: str) -> str:
    """The anchor workflow of the deployment whose worker polls `task_queue`."""
    return f"{ANCHOR_ID_PREFIX}-{task_queue}"


@workflow.defn(name="AuditAnchorWorkflow")
class AuditAnchorWorkflow:
    @workflow.init
    def __init__(self, start: AnchorStart) -> None:
        self._interval = start.interval_seconds
        self._anchors = list(start.anchors)
        self._requested_by: list[str] = []  # who asked for a reading since the last one (none: no request)

    @workflow.run
    async def run(self, start: AnchorStart) -> None:
        reason = AnchorReason.START
        for _ in range(TICKS_PER_RUN):
            # Cleared before reading: a request that arrives while the head is read asks for another reading.
            requested_by, self._requested_by = self._requested_by, []
            head = await workflow.execute_activity_method(
                AuditAnchorActivities.read_audit_head, start_to_close_timeout=READ_TIMEOUT, retry_policy=READ_RETRY
            )
            previous = self._anchors[-1] if self._anchors else None
            if previous is not None and went_back(previous, head):
                workflow.logger.warning(
                    "audit chain head went back: anchored %s entries up to id %s, now %s up to id %s",
                    previous.count,
                    previous.last_id,
                    head.count,
                    head.last_id,
                )
            self._anchors = record_head(self._anchors, head, workflow.now(), reason, requested_by)
            if workflow.info().is_continue_as_new_suggested():
                break
            try:
                await workflow.wait_condition(
                    lambda: bool(self._requested_by), timeout=timedelta(seconds=self._interval)
                )
                reason = AnchorReason.REQUESTED
            except TimeoutError:
                reason = AnchorReason.TIMER
        # A new run reads the head first, so a request pending now is served at once.
        workflow.continue_as_new(AnchorStart(interval_seconds=self._interval, anchors=self._anchors))

    @workflow.signal
    def anchor_now(self, request: AnchorRequest) -> None:
        """Anchor the head now: sent by a workflow right after its audit entry is written."""
        if request.source not in self._requested_by:
            self._requested_by.append(request.source)

    @workflow.signal
    def configure(self, interval_seconds: int) -> None:
        """A new interval (from the worker's configuration at its start); out of 1..60 it is ignored."""
        if 1 <= interval_seconds <= MAX_INTERVAL_SECONDS:
            self._interval = interval_seconds
        else:
            workflow.logger.warning("anchor interval %s ignored: not in 1..%s", interval_seconds, MAX_INTERVAL_SECONDS)

    @workflow.query
    def anchors(self) -> AnchorLog:
        return AnchorLog(interval_seconds=self._interval, anchors=list(self._anchors))


async def request_anchor() -> None:
    """From inside another workflow, right after its audit entry is written: ask the deployment's anchor
    workflow to anchor the head now. A deployment whose anchor workflow is not running (a worker that never
    started it) loses nothing but this early anchor: the failure is logged, the caller carries on."""
    info = workflow.info()
    handle: workflow.ExternalWorkflowHandle[AuditAnchorWorkflow] = workflow.get_external_workflow_handle_for(
        AuditAnchorWorkflow.run, anchor_workflow_id(engine_task_queue(info.task_queue))
    )
    try:
        await handle.signal(AuditAnchorWorkflow.anchor_now, AnchorRequest(source=info.workflow_id))
    except FailureError as err:
        workflow.logger.warning("audit anchor not requested: %s", err.message)
