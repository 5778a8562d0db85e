"""OpenTelemetry tracing, configured by the standard OTEL_* variables and off unless they ask for it.

On when OTEL_TRACES_EXPORTER is `otlp` or `console`, or when an OTLP endpoint is set
(OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, exporter then `otlp`); off when neither is set,
when OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true. The OTLP exporter speaks http/protobuf and reads its own
OTEL_EXPORTER_OTLP_* variables (endpoint, headers, timeout, certificate); the resource reads OTEL_SERVICE_NAME and
OTEL_RESOURCE_ATTRIBUTES. What is traced: Temporal client calls, workflow and activity runs (the SDK's
TracingInterceptor, on every client `client.temporal.connect` makes, and so on the worker) and the API's requests
(FastAPI instrumentation, api/app.py). Spans carry ids and operation names, never payloads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

# The OpenTelemetry SDK and the SDK's interceptor are imported when tracing is turned on, not before: every
# CLI command imports this module through client/temporal.py, and most never trace.
if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from temporalio.client import Interceptor

TRACES_EXPORTER_ENV = "OTEL_TRACES_EXPORTER"
ENDPOINT_ENVS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
PROTOCOL_ENVS = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
EXPORTERS = ("otlp", "console")
TRACER_NAME = "tdkt-engine"

# The process's provider once configure_tracing has set one up (None: tracing is off).
_provider: TracerProvider | None = None


class TracingConfigError(ValueError):
    """An OTEL_* value this engine cannot honour; the message names the variable."""


def traces_exporter(env: Mapping[str, str]) -> str | None:
    """The exporter the environment asks for (`otlp` or `console`), or None: tracing off."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    raw = env.get(TRACES_EXPORTER_ENV, "").strip().lower()
    if not raw:
        return "otlp" if any(env.get(name, "").strip() for name in ENDPOINT_ENVS) else None
    if raw == "none":
        return None
    if raw not in EXPORTERS:
        raise TracingConfigError(f"{TRACES_EXPORTER_ENV}={raw!r}: use otlp, console or none")
    if raw == "otlp":
        for name in PROTOCOL_ENVS:
            protocol = env.get(name, "").strip()
            if protocol and protocol != "http/protobuf":
                raise TracingConfigError(f"{name}={protocol!r}: only http/protobuf is installed")
    return raw


def _exporter(kind: str) -> SpanExporter:
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout from OTEL_EXPORTER_OTLP_*


def configure_tracing(
    service_name: str,
    env: Mapping[str, str] | None = None,
    *,
    exporter: SpanExporter | None = None,
) -> TracerProvider | None:
    """The process's tracer provider, set up on the first call from `env` (default os.environ); None when
    tracing is off. `exporter` (tests: an in-memory one) turns it on whatever the environment says, its spans
    handed over as each ends. Later calls return the first call's provider."""
    global _provider
    if _provider is not None:
        return _provider
    environ = os.environ if env is None else env
    if exporter is None and traces_exporter(environ) is None:
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    if exporter is None:
        kind = traces_exporter(environ)
        assert kind is not None
        processor: SimpleSpanProcessor | BatchSpanProcessor = BatchSpanProcessor(_exporter(kind))
    else:
        processor = SimpleSpanProcessor(exporter)
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (read by the SDK's detectors) take precedence over ours.
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    _provider = provider
    return provider


def tracer_provider() -> TracerProvider | None:
    return _provider


def client_interceptors() -> list[Interceptor]:
    """The interceptors a Temporal client takes: tracing's when it is on (a worker built on that client traces
    its workflows and activities too), none otherwise."""
    if _provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(_provider.get_tracer(TRACER_NAME))]


def shutdown_tracing() -> None:
    """Flush the spans still buffered and forget the provider (a worker or API that stops; tests)."""
    global _provider
    provider, _provider = _provider, None
    if provider is not None:
        provider.shutdown()


# A query string may carry what a person typed (a search for a nominee's name): a request span keeps the path.
QUERY_ATTRIBUTES = ("http.url", "http.target", "url.full")


def drop_query_string(span: Any, scope: Mapping[str, Any]) -> None:
    """A server request hook (FastAPI instrumentation): the span's URL attributes without the query string."""
    if not scope.get("query_string") or not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    for key in QUERY_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str) and "?" in value:
            span.set_attribute(key, value.split("?", 1)[0])
    if "url.query" in attributes:
        span.set_attribute("url.query", "")
