"""The engine's metrics: their names, where each is recorded, and how the worker and the API expose them.

* **Worker** (WORKER_METRICS_PORT, off when unset): the SDK's Prometheus endpoint (`Runtime` telemetry:
  `temporal_*` series of the worker and its client) carries the engine's series recorded by activities through
  the activity's metric meter (never from workflow code, so a replay records nothing twice):
  nominations started and finished by award form and outcome, time per stage, ballots cast. Each is recorded
  once per fact: when its transition's stage event or its round's minutes are written for the first time, so a
  retried activity adds nothing.
* **API** (`GET /metrics`, prometheus-client): what it reads at scrape time from the database and Temporal —
  the outbox backlog, the audit anchor's age, whether each dependency answers — and the process's own series.

Labels are award forms, stages, outcomes and session kinds: no ids, no names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from temporalio import activity
from temporalio.common import MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

WORKER_METRICS_PORT_ENV = "WORKER_METRICS_PORT"
WORKER_METRICS_HOST_ENV = "WORKER_METRICS_HOST"
DEFAULT_METRICS_HOST = "0.0.0.0"  # a container's port is published by its orchestrator, not by binding

# Recorded by the worker's activities (the SDK's meter; its counters carry no `_total` suffix, as its own).
NOMINATIONS_STARTED = "tdkt_nominations_started"
NOMINATIONS_FINISHED = "tdkt_nominations_finished"
STAGE_DURATION = "tdkt_stage_duration_seconds"
BALLOTS_CAST = "tdkt_ballots_cast"
# Read by the API at scrape time (prometheus-client).
OUTBOX_BACKLOG = "tdkt_outbox_backlog"
AUDIT_ANCHOR_AGE = "tdkt_audit_anchor_age_seconds"
DEPENDENCY_UP = "tdkt_dependency_up"

# A stage lasts from minutes (an objection-free public notice ends at its deadline) to months (a council that
# meets quarterly): buckets from ten minutes to a quarter.
HOUR, DAY = 3600.0, 86400.0
STAGE_BUCKETS_S: tuple[float, ...] = (
    600.0,
    HOUR,
    6 * HOUR,
    DAY,
    3 * DAY,
    7 * DAY,
    14 * DAY,
    30 * DAY,
    60 * DAY,
    90 * DAY,
)


class MetricsConfigError(ValueError):
    """A metrics variable that cannot be used; the message names it."""


def worker_metrics_address(env: Mapping[str, str]) -> str | None:
    """host:port for the worker's Prometheus endpoint from WORKER_METRICS_PORT (unset or empty: no endpoint)
    and WORKER_METRICS_HOST (default 0.0.0.0)."""
    raw = env.get(WORKER_METRICS_PORT_ENV, "").strip()
    if not raw:
        return None
    try:
        port = int(raw)
    except ValueError:
        raise MetricsConfigError(f"{WORKER_METRICS_PORT_ENV}={raw!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise MetricsConfigError(f"{WORKER_METRICS_PORT_ENV}={port}: a port is 1..65535")
    host = env.get(WORKER_METRICS_HOST_ENV, "").strip() or DEFAULT_METRICS_HOST
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def metrics_runtime(bind_address: str) -> Runtime:
    """A Temporal runtime serving Prometheus metrics on `bind_address` (one per process: the worker's client
    is connected with it). Durations in seconds, as Prometheus names them."""
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=bind_address,
                durations_as_seconds=True,
                histogram_bucket_overrides={STAGE_DURATION: STAGE_BUCKETS_S},
            )
        )
    )


class EngineMetrics:
    """The engine's series on a Temporal metric meter (an activity's: activity_metrics())."""

    def __init__(self, meter: MetricMeter) -> None:
        # False when the runtime exports no metrics (WORKER_METRICS_PORT unset): callers skip what they would
        # read only to record.
        self.recording = meter is not MetricMeter.noop
        self._started = meter.create_counter(NOMINATIONS_STARTED, "Nominations taken up (first stage recorded)")
        self._finished = meter.create_counter(
            NOMINATIONS_FINISHED, "Nominations that reached a final stage, by outcome (the final stage)"
        )
        self._stage = meter.create_histogram_float(
            STAGE_DURATION, "Time a nomination spent in a stage, recorded when it leaves the stage", "s"
        )
        self._ballots = meter.create_counter(BALLOTS_CAST, "Anonymous ballots received, counted per round")

    def nomination_started(self, award_form: str) -> None:
        self._started.add(1, {"award_form": award_form})

    def nomination_finished(self, award_form: str, outcome: str) -> None:
        self._finished.add(1, {"award_form": award_form, "outcome": outcome})

    def stage_left(self, stage: str, award_form: str, spent: timedelta) -> None:
        self._stage.record(max(spent.total_seconds(), 0.0), {"stage": stage, "award_form": award_form})

    def ballots_cast(self, kind: str, count: int) -> None:
        if count > 0:
            self._ballots.add(count, {"kind": kind})


def activity_metrics() -> EngineMetrics:
    """The engine's series on the running activity's meter (a no-op meter when the worker exports none)."""
    return EngineMetrics(activity.metric_meter())


@dataclass(frozen=True)
class Readings:
    """What the API read for one scrape; None where the source did not answer (the series is then left out,
    and its dependency reads 0)."""

    database_up: bool
    temporal_up: bool
    outbox: Mapping[str, int] | None = None  # status -> rows
    anchor_age_s: float | None = None


class _ReadingsCollector(Collector):
    def __init__(self, readings: Readings) -> None:
        self._readings = readings

    def collect(self) -> Iterator[Metric]:
        readings = self._readings
        up = GaugeMetricFamily(DEPENDENCY_UP, "1 when the dependency answered this scrape", labels=["dependency"])
        up.add_metric(["database"], 1.0 if readings.database_up else 0.0)
        up.add_metric(["temporal"], 1.0 if readings.temporal_up else 0.0)
        yield up
        if readings.outbox is not None:
            backlog = GaugeMetricFamily(
                OUTBOX_BACKLOG, "Outbox notifications not sent: PENDING to go out, FAILED given up", labels=["status"]
            )
            for status, count in sorted(readings.outbox.items()):
                backlog.add_metric([status], float(count))
            yield backlog
        if readings.anchor_age_s is not None:
            yield GaugeMetricFamily(
                AUDIT_ANCHOR_AGE,
                "Seconds since the audit chain's head was last anchored or confirmed in Temporal",
                value=readings.anchor_age_s,
            )


def api_exposition(readings: Readings, registry: CollectorRegistry = REGISTRY) -> bytes:
    """The API's /metrics body: the process's series from `registry`, then this scrape's readings."""
    own = CollectorRegistry(auto_describe=False)
    own.register(_ReadingsCollector(readings))
    return generate_latest(registry) + generate_latest(own)
