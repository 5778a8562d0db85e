"""A running workflow's task priority, set by an activity through the client.

The priority orders the workflow's next tasks on the task queue (domain/priority.py says who goes first). Setting
one is idempotent, so a retried activity sets it again harmlessly; it changes an order only, so a workflow whose
priority could not be set (it has ended, or the server refused) runs on at the one it had."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence

from google.protobuf.field_mask_pb2 import FieldMask
from temporalio.api.common.v1 import Priority as PriorityProto
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflow.v1 import WorkflowExecutionOptions
from temporalio.api.workflowservice.v1 import UpdateWorkflowExecutionOptionsRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.priority import PRIORITIES_ENV, TaskPriority, priorities_enabled

log = logging.getLogger(__name__)


def priorities_on() -> bool:
    """Whether this process applies the priority policy (TDKT_TASK_PRIORITIES)."""
    return priorities_enabled(os.environ.get(PRIORITIES_ENV))


# Requests in flight at once from one activity.
CONCURRENCY = 32


async def set_priorities(client: Client, targets: Sequence[tuple[str, TaskPriority]]) -> list[str]:
    """Give each (workflow id, priority) its priority; the workflow ids whose priority was not set, in the order
    given."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def set_one(workflow_id: str, priority: TaskPriority) -> bool:
        request = UpdateWorkflowExecutionOptionsRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id),
            workflow_execution_options=WorkflowExecutionOptions(
                priority=PriorityProto(
                    priority_key=priority.priority_key,
                    fairness_key=priority.fairness_key or "",
                    fairness_weight=priority.fairness_weight or 0.0,
                )
            ),
            update_mask=FieldMask(paths=["priority"]),
        )
        async with gate:
            try:
                await client.workflow_service.update_workflow_execution_options(request, retry=True)
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:  # no such workflow: its caller learns that its own way
                    log.warning("priority not set (%s)", err.status.name if err.status else type(err).__name__)
                return False
        return True

    done = await asyncio.gather(*(set_one(*target) for target in targets))
    return [workflow_id for (workflow_id, _), ok in zip(targets, done, strict=True) if not ok]
