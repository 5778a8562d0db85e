"""Telemetry and connection configuration, pure parts: the envconfig profile the settings read, the worker's
metrics address, the tracing switch, the engine's series on a Temporal meter, the API's exposition."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from client.settings import Settings, TemporalConfigError
from client.temporal import connect_options, ensure_search_attributes
from observability.metrics import (
    AUDIT_ANCHOR_AGE,
    BALLOTS_CAST,
    DEPENDENCY_UP,
    NOMINATIONS_FINISHED,
    NOMINATIONS_STARTED,
    OUTBOX_BACKLOG,
    STAGE_DURATION,
    EngineMetrics,
    MetricsConfigError,
    Readings,
    api_exposition,
    worker_metrics_address,
)
from observability.tracing import TracingConfigError, drop_query_string, traces_exporter

PROFILES = """
[profile.default]
address = "temporal.internal:7233"
namespace = "tdkt"

[profile.cloud]
address = "tdkt.a1b2c.tmprl.cloud:7233"
namespace = "tdkt.a1b2c"
api_key = "not-a-real-key"

[profile.mtls]
address = "temporal.bo.gov.example:7233"
namespace = "tdkt-prod"

[profile.mtls.tls]
server_name = "temporal.bo.gov.example"
client_cert_path = "{cert}"
client_key_path = "{key}"
"""


@pytest.fixture
def profile_file(tmp_path: Path) -> Path:
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_text("-----BEGIN CERTIFICATE-----\nnot-a-cert\n-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----\n")
    path = tmp_path / "temporal.toml"
    path.write_text(PROFILES.format(cert=cert, key=key))
    return path


def no_file(tmp_path: Path) -> dict[str, str]:
    """An environment whose default profile file (under HOME) does not exist."""
    return {"HOME": str(tmp_path / "home")}


# ---- connecting through envconfig ---------------------------------------------------------------------------


def test_without_configuration_the_local_dev_server_is_the_default(tmp_path: Path):
    settings = Settings.from_env(no_file(tmp_path))
    assert (settings.temporal_address, settings.temporal_namespace) == ("localhost:7233", "default")
    assert settings.temporal.api_key is None and settings.temporal.tls is None


def test_the_plain_variables_still_choose_address_and_namespace(tmp_path: Path):
    env = no_file(tmp_path) | {"TEMPORAL_ADDRESS": "10.0.0.5:7233", "TEMPORAL_NAMESPACE": "tdkt-test"}
    settings = Settings.from_env(env)
    assert (settings.temporal_address, settings.temporal_namespace) == ("10.0.0.5:7233", "tdkt-test")


def test_the_profile_file_gives_the_default_profile(tmp_path: Path, profile_file: Path):
    settings = Settings.from_env(no_file(tmp_path) | {"TEMPORAL_CONFIG_FILE": str(profile_file)})
    assert (settings.temporal_address, settings.temporal_namespace) == ("temporal.internal:7233", "tdkt")


def test_a_cloud_profile_connects_with_its_api_key_over_tls(tmp_path: Path, profile_file: Path):
    env = no_file(tmp_path) | {"TEMPORAL_CONFIG_FILE": str(profile_file), "TEMPORAL_PROFILE": "cloud"}
    settings = Settings.from_env(env)
    assert settings.temporal_namespace == "tdkt.a1b2c"
    options = connect_options(settings.temporal)
    assert options["target_host"] == "tdkt.a1b2c.tmprl.cloud:7233"
    assert options["api_key"] == "not-a-real-key"
    assert options["tls"] is True  # an API key implies TLS with the system's roots


def test_an_mtls_profile_reads_the_client_certificate_and_key(tmp_path: Path, profile_file: Path):
    env = no_file(tmp_path) | {"TEMPORAL_CONFIG_FILE": str(profile_file), "TEMPORAL_PROFILE": "mtls"}
    options = connect_options(Settings.from_env(env).temporal)
    tls = options["tls"]
    assert isinstance(tls, TLSConfig)
    assert tls.domain == "temporal.bo.gov.example"
    assert tls.client_cert is not None and b"not-a-cert" in tls.client_cert
    assert tls.client_private_key is not None and b"not-a-key" in tls.client_private_key


def test_variables_override_the_profile(tmp_path: Path, profile_file: Path):
    env = no_file(tmp_path) | {
        "TEMPORAL_CONFIG_FILE": str(profile_file),
        "TEMPORAL_PROFILE": "mtls",
        "TEMPORAL_NAMESPACE": "tdkt-staging",
    }
    settings = Settings.from_env(env)
    assert (settings.temporal_address, settings.temporal_namespace) == ("temporal.bo.gov.example:7233", "tdkt-staging")


def test_a_missing_profile_file_is_an_error_naming_the_variable(tmp_path: Path):
    with pytest.raises(TemporalConfigError, match="TEMPORAL_CONFIG_FILE"):
        Settings.from_env(no_file(tmp_path) | {"TEMPORAL_CONFIG_FILE": str(tmp_path / "absent.toml")})


def test_an_unknown_profile_is_an_error_naming_it(tmp_path: Path, profile_file: Path):
    env = no_file(tmp_path) | {"TEMPORAL_CONFIG_FILE": str(profile_file), "TEMPORAL_PROFILE": "staging"}
    with pytest.raises(TemporalConfigError, match="'staging'"):
        Settings.from_env(env)


def test_an_unreadable_certificate_is_a_configuration_error(tmp_path: Path, profile_file: Path):
    env = no_file(tmp_path) | {"TEMPORAL_CONFIG_FILE": str(profile_file), "TEMPORAL_PROFILE": "mtls"}
    settings = Settings.from_env(env)
    os.remove(tmp_path / "client.key")
    with pytest.raises(TemporalConfigError, match="certificate or key"):
        connect_options(settings.temporal)


# ---- the worker's metrics endpoint --------------------------------------------------------------------------


def test_worker_metrics_are_off_unless_a_port_is_set():
    assert worker_metrics_address({}) is None
    assert worker_metrics_address({"WORKER_METRICS_PORT": " "}) is None
    assert worker_metrics_address({"WORKER_METRICS_PORT": "9464"}) == "0.0.0.0:9464"
    assert worker_metrics_address({"WORKER_METRICS_PORT": "9464", "WORKER_METRICS_HOST": "127.0.0.1"}) == (
        "127.0.0.1:9464"
    )
    assert worker_metrics_address({"WORKER_METRICS_PORT": "9464", "WORKER_METRICS_HOST": "::"}) == "[::]:9464"


@pytest.mark.parametrize("port", ["abc", "0", "70000", "-1"])
def test_a_bad_metrics_port_names_the_variable(port: str):
    with pytest.raises(MetricsConfigError, match="WORKER_METRICS_PORT"):
        worker_metrics_address({"WORKER_METRICS_PORT": port})


# ---- tracing's switch ---------------------------------------------------------------------------------------


def test_tracing_is_off_by_default():
    assert traces_exporter({}) is None
    assert traces_exporter({"OTEL_TRACES_EXPORTER": "none"}) is None
    assert traces_exporter({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}) is None


def test_tracing_is_on_when_an_exporter_or_an_endpoint_is_configured():
    assert traces_exporter({"OTEL_TRACES_EXPORTER": "otlp"}) == "otlp"
    assert traces_exporter({"OTEL_TRACES_EXPORTER": "console"}) == "console"
    assert traces_exporter({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}) == "otlp"
    assert traces_exporter({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}) == "otlp"
    assert traces_exporter({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}) == "otlp"


def test_what_tracing_cannot_honour_is_refused_by_name():
    with pytest.raises(TracingConfigError, match="OTEL_TRACES_EXPORTER"):
        traces_exporter({"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(TracingConfigError, match="OTEL_EXPORTER_OTLP_PROTOCOL"):
        traces_exporter({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})


def test_a_request_span_keeps_the_path_but_not_the_query_string():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span(
        "GET /nominations",
        attributes={
            "http.target": "/nominations?q=Nguyen",
            "http.url": "http://api/nominations?q=Nguyen",
            "url.query": "q=Nguyen",
        },
    ) as span:
        drop_query_string(span, {"query_string": b"q=Nguyen"})
    (finished,) = exporter.get_finished_spans()
    attributes = dict(finished.attributes or {})
    assert attributes["http.target"] == "/nominations"
    assert attributes["http.url"] == "http://api/nominations"
    assert attributes["url.query"] == ""
    assert "Nguyen" not in repr(attributes)


# ---- the engine's series ------------------------------------------------------------------------------------


def test_the_engine_series_on_a_temporal_meter():
    buffer = MetricBuffer(100)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    metrics = EngineMetrics(runtime.metric_meter)
    metrics.nomination_started("BANG_KHEN_BO")
    metrics.nomination_finished("BANG_KHEN_BO", "AWARDED")
    metrics.stage_left("COUNCIL_REVIEW", "BANG_KHEN_BO", timedelta(days=2))
    metrics.ballots_cast("COUNCIL", 7)
    metrics.ballots_cast("COUNCIL", 0)  # a round nobody voted in adds nothing
    updates = [
        (u.metric.name, u.value, {k: v for k, v in u.attributes.items() if k != "service_name"})
        for u in buffer.retrieve_updates()
    ]
    assert (NOMINATIONS_STARTED, 1, {"award_form": "BANG_KHEN_BO"}) in updates
    assert (NOMINATIONS_FINISHED, 1, {"award_form": "BANG_KHEN_BO", "outcome": "AWARDED"}) in updates
    assert (STAGE_DURATION, 172800.0, {"stage": "COUNCIL_REVIEW", "award_form": "BANG_KHEN_BO"}) in updates
    assert [u for u in updates if u[0] == BALLOTS_CAST] == [(BALLOTS_CAST, 7, {"kind": "COUNCIL"})]


def test_a_meter_that_exports_nothing_says_so():
    from temporalio.common import MetricMeter

    assert not EngineMetrics(MetricMeter.noop).recording
    assert EngineMetrics(Runtime(telemetry=TelemetryConfig(metrics=MetricBuffer(10))).metric_meter).recording


def families(body: bytes) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {
        family.name: [(dict(sample.labels), sample.value) for sample in family.samples]
        for family in text_string_to_metric_families(body.decode())
    }


def test_the_api_exposition_carries_this_scrapes_readings():
    body = api_exposition(
        Readings(database_up=True, temporal_up=True, outbox={"PENDING": 3, "FAILED": 1}, anchor_age_s=42.5),
        registry=CollectorRegistry(),
    )
    found = families(body)
    assert found[DEPENDENCY_UP] == [({"dependency": "database"}, 1.0), ({"dependency": "temporal"}, 1.0)]
    assert found[OUTBOX_BACKLOG] == [({"status": "FAILED"}, 1.0), ({"status": "PENDING"}, 3.0)]
    assert found[AUDIT_ANCHOR_AGE] == [({}, 42.5)]


def test_a_source_that_did_not_answer_leaves_its_series_out():
    found = families(api_exposition(Readings(database_up=False, temporal_up=False), registry=CollectorRegistry()))
    assert found[DEPENDENCY_UP] == [({"dependency": "database"}, 0.0), ({"dependency": "temporal"}, 0.0)]
    assert OUTBOX_BACKLOG not in found and AUDIT_ANCHOR_AGE not in found


def test_the_api_exposition_includes_the_process_series():
    found = families(api_exposition(Readings(database_up=True, temporal_up=True)))
    assert any(name.startswith("process_") or name.startswith("python_") for name in found)


class RefusingOperator:
    """An operator service that lists no custom attributes and refuses to add any, as Temporal Cloud does."""

    async def list_search_attributes(self, request: object) -> object:
        return type("Listed", (), {"custom_attributes": {}})()

    async def add_search_attributes(self, request: object) -> None:
        raise RPCError("Request unauthorized.", RPCStatusCode.PERMISSION_DENIED, b"")


async def test_search_attributes_it_may_not_add_stop_with_their_names():
    client = type("CloudClient", (), {"namespace": "tdkt.a1b2c", "operator_service": RefusingOperator()})()
    with pytest.raises(TemporalConfigError, match=r"tdkt\.a1b2c lacks the search attributes .*NominationStage"):
        await ensure_search_attributes(client)
