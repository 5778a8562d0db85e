"""Signals a workflow's activity sends to many workflows at once, each landing once however often it is retried.

A workflow that tells a hundred others something through one activity spends three events and one task on it;
sent from the workflow itself, each signal would cost it two events and an acknowledgement to take in. Each
signal here carries a request id made of the sender, the sender's key for the batch and the receiver: the server
keeps the first signal of an id and answers a repeat without adding it to the receiver's history."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import SignalWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

# Signals in flight at once from one batch.
CONCURRENCY = 32


def request_id(sender: str, key: int, receiver: str) -> str:
    return f"{sender}/{key}/{receiver}"


async def signal_each(
    client: Client, sender: str, key: int, deliveries: Sequence[tuple[str, str, BaseModel]]
) -> list[str]:
    """Send each (workflow id, signal name, message); the workflow ids that no running workflow has (ended, or
    never started), in the order given. Any other failure raises, for the activity to be retried."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def deliver(workflow_id: str, signal: str, message: BaseModel) -> bool:
        request = SignalWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id),
            signal_name=signal,
            identity=client.identity,
            request_id=request_id(sender, key, workflow_id),
        )
        request.input.payloads.extend(await client.data_converter.encode([message]))
        async with gate:
            try:
                await client.workflow_service.signal_workflow_execution(request, retry=True)
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    return False
                raise
        return True

    delivered = await asyncio.gather(*(deliver(*delivery) for delivery in deliveries))
    return [workflow_id for (workflow_id, _, _), ok in zip(deliveries, delivered, strict=True) if not ok]
