"""Reading a nomination's StageDueAt search attribute on either server."""

from __future__ import annotations

from datetime import datetime

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.converter import default

from workflows.search_attributes import STAGE_DUE_AT


async def stage_due_at(client: Client, workflow_id: str) -> datetime | None:
    """StageDueAt as the server holds it; None when unset. Read from the raw description: the time-skipping
    test server keeps an unset datetime attribute as a null value, which `describe()` cannot decode."""
    described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )
    payload = described.workflow_execution_info.search_attributes.indexed_fields.get(STAGE_DUE_AT.name)
    if payload is None:
        return None
    value = default().payload_converter.from_payloads([payload])[0]
    if isinstance(value, list):
        value = value[0] if value else None
    return datetime.fromisoformat(value) if value else None
