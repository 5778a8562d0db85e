"""Temporal client construction and namespace setup.

Every connection the engine makes (worker, CLI, API, demo) goes through `connect`: the envconfig profile
(client/settings.py: TLS client certificates, API key, gRPC metadata), the payload codec, and the tracing
interceptor when the OTEL_* variables turn tracing on (observability/tracing.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client, Interceptor
from temporalio.envconfig import ClientConfigProfile
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from client.settings import TemporalConfigError, temporal_profile
from observability.tracing import client_interceptors
from security.codec import data_converter
from workflows.search_attributes import ALL_KEYS


def connect_options(profile: ClientConfigProfile) -> dict[str, Any]:
    """Client.connect's keyword arguments from `profile` (certificate files are read here)."""
    try:
        options: dict[str, Any] = dict(profile.to_client_connect_config())
    except OSError as err:
        raise TemporalConfigError(f"Temporal TLS certificate or key unreadable: {err}") from None
    if "target_host" not in options:
        raise TemporalConfigError("no Temporal address: set TEMPORAL_ADDRESS or `address` in the profile")
    return options


async def connect(
    address: str,
    namespace: str,
    *,
    profile: ClientConfigProfile | None = None,
    runtime: Runtime | None = None,
    interceptors: list[Interceptor] | None = None,
) -> Client:
    """A client of `namespace` at `address`, with the rest of the connection (TLS, API key, gRPC metadata) from
    `profile` (default: the environment's, TEMPORAL_CONFIG_FILE / TEMPORAL_PROFILE / TEMPORAL_*). `runtime`
    carries the worker's metrics; `interceptors` default to tracing's (none unless OTEL_* configure it)."""
    base = temporal_profile() if profile is None else profile
    options = connect_options(replace(base, address=address, namespace=namespace))
    target_host = options.pop("target_host")
    return await Client.connect(
        target_host,
        **options,
        # Payloads (nominees' personal data, sealed ballots) are encrypted in Temporal's history.
        data_converter=data_converter(),
        interceptors=client_interceptors() if interceptors is None else interceptors,
        runtime=runtime,
    )


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
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
            )
        except RPCError as err:
            # Temporal Cloud (and a cluster whose operators keep the namespace's schema) refuses this client.
            if err.status not in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED):
                raise
            raise TemporalConfigError(
                f"namespace {client.namespace} lacks the search attributes {', '.join(sorted(missing))} and this "
                f"client may not add them ({err.status.name}): add them once (Temporal Cloud: the namespace's "
                "settings or `tcld namespace search-attributes add`; docs/operations.md) and start again"
            ) from None
    return sorted(missing)
