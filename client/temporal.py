"""Temporal client construction and namespace setup."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from security.codec import data_converter
from workflows.search_attributes import ALL_KEYS


async def connect(address: str, namespace: str) -> Client:
    # Payloads (nominees' personal data, sealed ballots) are encrypted in Temporal's history.
    return await Client.connect(address, namespace=namespace, data_converter=data_converter())


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register the engine's custom search attributes on the namespace; returns those it added."""
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        existing = set(listed.custom_attributes)
    except RPCError as err:
        # The time-skipping test server implements adding search attributes but not listing them.
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        existing = set()
    missing = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in ALL_KEYS
        if key.name not in existing
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    return sorted(missing)
