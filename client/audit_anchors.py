"""The anchor workflow from the client's side: started by the worker, read by `verify-audit` and the exports."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from domain.audit_anchors import DEFAULT_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS, Anchor, AnchorLog, AnchorStart
from store.tuning import TuningError
from workflows.audit_anchor import AuditAnchorWorkflow, anchor_workflow_id

INTERVAL_ENV = "TDKT_AUDIT_ANCHOR_SECONDS"
QUERY_TIMEOUT = timedelta(seconds=10)


class NoAnchors(LookupError):
    """There is no anchor workflow to read (the worker never ran on this task queue) or it does not answer."""


def anchor_interval(env: Mapping[str, str]) -> int:
    """Seconds between anchors from TDKT_AUDIT_ANCHOR_SECONDS (default 60, at most 60); TuningError naming it."""
    raw = env.get(INTERVAL_ENV, "").strip()
    if not raw:
        return DEFAULT_INTERVAL_SECONDS
    try:
        seconds = int(raw)
    except ValueError:
        raise TuningError(f"{INTERVAL_ENV}={raw!r} is not a whole number of seconds") from None
    if not 1 <= seconds <= MAX_INTERVAL_SECONDS:
        raise TuningError(f"{INTERVAL_ENV}={seconds}: the head is anchored at least every minute (1..60 seconds)")
    return seconds


async def ensure_anchor_workflow(client: Client, task_queue: str, interval_seconds: int) -> str:
    """Start the deployment's anchor workflow unless it runs, and give it `interval_seconds`; returns its id.

    Idempotent: a running one is kept (two workers starting at once share it). One that was closed (terminated
    by someone) is started again carrying its last anchors, so they are not lost from what `verify-audit` reads."""
    workflow_id = anchor_workflow_id(task_queue)
    carried: list[Anchor] = []
    handle: WorkflowHandle[AuditAnchorWorkflow, None] = client.get_workflow_handle_for(
        AuditAnchorWorkflow.run, workflow_id
    )
    try:
        description = await handle.describe()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
    else:
        if description.status != WorkflowExecutionStatus.RUNNING:
            try:
                carried = (await _query(client, workflow_id)).anchors
            except NoAnchors:
                carried = []  # unreadable: the new run starts afresh; the old run's history still holds them
    started = await client.start_workflow(
        AuditAnchorWorkflow.run,
        AnchorStart(interval_seconds=interval_seconds, anchors=carried),
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    await started.signal(AuditAnchorWorkflow.configure, interval_seconds)
    return workflow_id


async def _query(client: Client, workflow_id: str) -> AnchorLog:
    handle: WorkflowHandle[AuditAnchorWorkflow, None] = client.get_workflow_handle_for(
        AuditAnchorWorkflow.run, workflow_id
    )
    try:
        return await handle.query(AuditAnchorWorkflow.anchors, rpc_timeout=QUERY_TIMEOUT)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NoAnchors(f"no anchor workflow {workflow_id} on namespace {client.namespace}") from None
        raise NoAnchors(f"the anchor workflow {workflow_id} did not answer ({err.status.name})") from None
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as err:
        raise NoAnchors(f"the anchor workflow {workflow_id} did not answer: {err}") from None


async def read_anchors(client: Client, task_queue: str) -> AnchorLog:
    """The anchors the deployment's anchor workflow holds (NoAnchors if there is none or it does not answer)."""
    return await _query(client, anchor_workflow_id(task_queue))


async def latest_anchor(client: Client, task_queue: str) -> Anchor | None:
    """The latest anchor, for printing on an export; None when it cannot be read (the export says so)."""
    try:
        return (await read_anchors(client, task_queue)).latest
    except NoAnchors:
        return None
