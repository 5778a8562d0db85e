"""Metrics, probes, tracing and envconfig connections against the dev server and PostgreSQL.

* The worker's Prometheus endpoint (a runtime of its own on a free port) after a nomination waited in the
  council's stage and was withdrawn: the SDK's series and the engine's, with values that fit what happened.
* The API's /metrics (outbox backlog, audit anchor age, dependencies), /healthz, /readyz (200; 503 naming
  the database when DATABASE_URL points nowhere).
* `python worker.py` with WORKER_METRICS_PORT serving the endpoint; a bad metrics, profile or tracing variable
  stopping the worker at once, naming it.
* The CLI and a client connecting through an envconfig profile file (no TEMPORAL_ADDRESS at all).
* The activities that record the engine's series, each run twice as a retry would: one count each.
* Tracing on with an in-memory exporter: spans for a workflow's start and run, and for an API request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.envconfig import ClientConfigProfile
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig
from temporalio.testing import ActivityEnvironment

from activities.ballots import BallotActivities
from activities.persistence import PersistenceActivities
from api.app import create_app
from client.nominations import act
from client.settings import Settings
from client.temporal import connect
from domain.ballot_messages import MinutesEntry, MinutesResult, SessionMinutes
from domain.ballots import BallotSessionKind, Candidate
from domain.messages import ReasonedAction
from domain.nomination import Nomination
from domain.records import NominationRow, StageEventRow, TransitionRecord
from domain.stages import Stage
from domain.voting import Tally
from observability.metrics import (
    AUDIT_ANCHOR_AGE,
    BALLOTS_CAST,
    DEPENDENCY_UP,
    NOMINATIONS_FINISHED,
    NOMINATIONS_STARTED,
    OUTBOX_BACKLOG,
    STAGE_DURATION,
    metrics_runtime,
)
from observability.tracing import configure_tracing, shutdown_tracing
from tests.asgi import call
from tests.factories import POLICY_VERSION, nomination_data
from tests.integration.fresh_database import fresh_database
from tests.integration.helpers import AUTH_ENV, CENTRAL, PROPOSER, start, token_for, wait_for_stage
from worker import build_worker
from workflows.nomination import NominationWorkflow

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
FORM = "BANG_KHEN_BO"

Samples = dict[str, list[tuple[dict[str, str], float]]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse(text: str) -> Samples:
    """Every sample by its own name (a histogram's _bucket/_sum/_count, a counter's _total)."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels` (0 when none)."""
    return sum(v for found, v in samples.get(name, []) if labels.items() <= found.items())


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        return parse(answer.read().decode())


def counter(samples: Samples, name: str, **labels: str) -> float:
    # prometheus-client's parser files a counter's samples under `<name>_total`, or the name as exported.
    return value(samples, name, **labels) + value(samples, f"{name}_total", **labels)


@pytest.fixture
async def metered(client: Client, db_engine: AsyncEngine) -> AsyncIterator[tuple[Client, str, int]]:
    """A client with a metrics runtime of its own on a free port, and a worker on a task queue of its own."""
    port = free_port()
    metered_client = await connect(
        client.service_client.config.target_host,
        client.namespace,
        profile=ClientConfigProfile(),
        runtime=metrics_runtime(f"127.0.0.1:{port}"),
        interceptors=[],
    )
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    async with build_worker(metered_client, db_engine, queue):
        yield metered_client, queue, port


async def test_the_worker_endpoint_carries_the_sdk_and_engine_series(metered: tuple[Client, str, int]):
    metered_client, queue, port = metered
    before = scrape(port)
    handle = await start(metered_client, queue, FORM)
    # The form's route opens at the council: the nomination waits there, then is withdrawn.
    await wait_for_stage(metered_client, handle.id, Stage.COUNCIL_REVIEW)
    await asyncio.sleep(0.5)
    await act(metered_client, handle.id, NominationWorkflow.withdraw, ReasonedAction(actor=PROPOSER, reason="Rút"))
    await handle.result()

    after: Samples = {}
    for _ in range(50):  # the worker reports a completed workflow task once its completion is acknowledged
        after = scrape(port)
        if counter(after, "temporal_workflow_completed", workflow_type="NominationWorkflow"):
            break
        await asyncio.sleep(0.1)
    # The SDK's own series.
    assert counter(after, "temporal_workflow_completed", workflow_type="NominationWorkflow") >= 1
    assert counter(after, "temporal_request") > 0
    # The engine's: one more started and withdrawn nomination of this form than before.
    started = counter(after, NOMINATIONS_STARTED, award_form=FORM) - counter(
        before, NOMINATIONS_STARTED, award_form=FORM
    )
    assert started == 1
    finished = counter(after, NOMINATIONS_FINISHED, award_form=FORM, outcome=Stage.WITHDRAWN.value)
    assert finished - counter(before, NOMINATIONS_FINISHED, award_form=FORM, outcome=Stage.WITHDRAWN.value) == 1
    # The time in the council's stage: from the submission to the withdrawal, half a second and a little more.
    council = {"stage": Stage.COUNCIL_REVIEW.value, "award_form": FORM}
    assert value(after, f"{STAGE_DURATION}_count", **council) - value(before, f"{STAGE_DURATION}_count", **council) == 1
    assert (
        0.5 <= value(after, f"{STAGE_DURATION}_sum", **council) - value(before, f"{STAGE_DURATION}_sum", **council) < 60
    )
    # The stage histogram has the engine's buckets (a day is one of them), not the SDK's default ones.
    assert any(labels.get("le") == "86400" for labels, _ in after[f"{STAGE_DURATION}_bucket"])


async def test_the_worker_process_serves_its_metrics_on_the_configured_port(client: Client):
    port = free_port()
    async with fresh_database("tdkt_metrics") as url:
        env = dict(os.environ) | {
            "TEMPORAL_ADDRESS": client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": client.namespace,
            "TASK_QUEUE": f"metrics-{uuid.uuid4().hex[:8]}",
            "DATABASE_URL": url,
            "NOTIFY_CHANNEL": "log",
            "WORKER_METRICS_PORT": str(port),
            "WORKER_METRICS_HOST": "127.0.0.1",
        }
        worker = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py")],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            found: Samples = {}
            for _ in range(300):
                try:
                    found = await asyncio.to_thread(scrape, port)
                except OSError:
                    found = {}
                # Its pollers started, and the anchor workflow it started ran a workflow task here.
                if counter(found, "temporal_workflow_task_execution_latency_count"):
                    break
                assert worker.poll() is None, worker.communicate()[1][-2000:]
                await asyncio.sleep(0.1)
            assert counter(found, "temporal_workflow_task_execution_latency_count") >= 1
            assert any(
                labels.get("task_queue") == env["TASK_QUEUE"] for labels, _ in found.get("temporal_num_pollers", [])
            )
        finally:
            worker.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.to_thread(worker.communicate, timeout=60)
        assert worker.returncode == 0, stderr[-2000:]
        assert f"metrics_address=127.0.0.1:{port}" in stderr


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"WORKER_METRICS_PORT": "nine"}, "WORKER_METRICS_PORT='nine'"),
        ({"TEMPORAL_CONFIG_FILE": "/nonexistent/temporal.toml"}, "TEMPORAL_CONFIG_FILE"),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
    ],
    ids=["metrics port", "profile file", "traces exporter"],
)
def test_a_bad_telemetry_or_connection_variable_stops_the_worker_naming_it(
    tmp_path: Path, variables: dict[str, str], named: str
):
    env = dict(os.environ) | {
        "TEMPORAL_ADDRESS": "127.0.0.1:9",  # nothing listens: a worker that got past its settings would wait
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'engine.db'}",
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "worker.py")],
        env=env | variables,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "worker_misconfigured" in done.stderr and named in done.stderr, done.stderr


def api_settings(database_url: str, task_queue: str) -> Settings:
    return Settings(
        temporal_address="unused:7233",
        temporal_namespace="default",
        task_queue=task_queue,
        database_url=database_url,
        log_format="console",
    )


async def test_the_api_probes_and_metrics(client: Client, task_queue: str, database_url: str, db_engine: AsyncEngine):
    app = create_app(client, settings=api_settings(database_url, task_queue), engine=db_engine)
    health = await call(app, "GET", "/healthz")
    assert (health.status, health.json()) == (200, {"status": "ok"})
    ready = await call(app, "GET", "/readyz")
    assert ready.status == 200, ready
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "temporal": "ok"}}

    answer = await call(app, "GET", "/metrics")
    assert answer.status == 200 and (answer.header("content-type") or "").startswith("text/plain")
    found = parse(answer.text)
    assert found[DEPENDENCY_UP] == [({"dependency": "database"}, 1.0), ({"dependency": "temporal"}, 1.0)]
    backlog = dict((labels["status"], v) for labels, v in found[OUTBOX_BACKLOG])
    assert set(backlog) == {"PENDING", "FAILED"} and all(v >= 0 for v in backlog.values())
    # The session's worker started the anchor workflow; once it took its first anchor, the age is a few
    # intervals at most.
    for _ in range(100):
        if AUDIT_ANCHOR_AGE in found:
            break
        await asyncio.sleep(0.1)
        found = parse((await call(app, "GET", "/metrics")).text)
    ((_, age),) = found[AUDIT_ANCHOR_AGE]
    assert 0 <= age < 600
    assert any(name.startswith("process_") or name.startswith("python_") for name in found)
    # Probes stay out of the OpenAPI document staff software reads.
    assert not {"/healthz", "/readyz", "/metrics"} & set(app.openapi()["paths"])


async def test_readyz_is_503_naming_the_database_when_it_cannot_be_reached(client: Client, task_queue: str):
    broken = "postgresql+asyncpg://postgres@127.0.0.1:5432/tdkt_no_such_database"
    app = create_app(client, settings=api_settings(broken, task_queue))
    ready = await call(app, "GET", "/readyz")
    assert ready.status == 503, ready
    body = ready.json()
    assert body["status"] == "not ready"
    assert body["checks"]["temporal"] == "ok"
    assert body["checks"]["database"] != "ok" and "tdkt_no_such_database" in body["checks"]["database"]
    found = parse((await call(app, "GET", "/metrics")).text)
    assert ({"dependency": "database"}, 0.0) in found[DEPENDENCY_UP]
    assert OUTBOX_BACKLOG not in found


async def test_readyz_is_503_when_temporal_cannot_be_reached(database_url: str, db_engine: AsyncEngine):
    settings = Settings.from_env({"HOME": "/nonexistent", "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"})
    app = create_app(settings, settings=settings, engine=db_engine)
    ready = await call(app, "GET", "/readyz")
    assert ready.status == 503, ready
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["temporal"] != "ok"


# ---- envconfig ----------------------------------------------------------------------------------------------


def profile_file(tmp_path: Path, client: Client, *, address: str | None = None) -> Path:
    path = tmp_path / "temporal.toml"
    path.write_text(
        "[profile.default]\n"
        'address = "127.0.0.1:1"\n'  # not the test server: only the named profile reaches it
        "[profile.tdkt-test]\n"
        f'address = "{address or client.service_client.config.target_host}"\n'
        f'namespace = "{client.namespace}"\n'
        "[profile.tdkt-test.tls]\n"
        "disabled = true\n"
    )
    return path


def profile_env(path: Path, task_queue: str, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TDKT_TOKEN"}}
    return (
        env
        | AUTH_ENV
        | {
            "TEMPORAL_CONFIG_FILE": str(path),
            "TEMPORAL_PROFILE": "tdkt-test",
            "TASK_QUEUE": task_queue,
            "DATABASE_URL": database_url,
        }
    )


async def test_a_client_connects_through_a_profile_file(client: Client, tmp_path: Path):
    path = profile_file(tmp_path, client)
    settings = Settings.from_env(
        {"HOME": str(tmp_path), "TEMPORAL_CONFIG_FILE": str(path), "TEMPORAL_PROFILE": "tdkt-test"}
    )
    assert settings.temporal_address == client.service_client.config.target_host
    profiled = await connect(settings.temporal_address, settings.temporal_namespace, profile=settings.temporal)
    assert profiled.namespace == client.namespace
    await profiled.workflow_service.get_system_info(GetSystemInfoRequest())


async def test_the_cli_connects_through_a_profile_file(
    client: Client, task_queue: str, database_url: str, tmp_path: Path
):
    handle = await start(client, task_queue, FORM)
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    env = profile_env(profile_file(tmp_path, client), task_queue, database_url) | {"TDKT_TOKEN": token_for(CENTRAL)}
    shown = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(ROOT / "starter.py"), "--json", "status", handle.id],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["stage"] == Stage.COUNCIL_REVIEW.value

    # The same command with the profile pointing nowhere fails naming that address: the profile is what it used.
    nowhere = f"127.0.0.1:{free_port()}"
    env = profile_env(profile_file(tmp_path, client, address=nowhere), task_queue, database_url)
    failed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(ROOT / "starter.py"), "--json", "status", handle.id],
        env=env | {"TDKT_TOKEN": token_for(CENTRAL)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode != 0
    assert nowhere in failed.stderr

    # A profile file that is not there stops the command, naming the variable, in English and Vietnamese.
    missing = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(ROOT / "starter.py"), "--json", "status", handle.id],
        env=env | {"TDKT_TOKEN": token_for(CENTRAL), "TEMPORAL_CONFIG_FILE": str(tmp_path / "absent.toml")},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2, missing.stderr
    assert "TEMPORAL_CONFIG_FILE" in missing.stderr and "Cấu hình kết nối Temporal" in missing.stderr
    assert "Traceback" not in missing.stderr


# ---- recorded once per fact ---------------------------------------------------------------------------------


def metered_activity_env() -> tuple[ActivityEnvironment, MetricBuffer, Runtime]:
    """An activity context whose metric meter writes to a buffer (the runtime is kept alive with it)."""
    buffer = MetricBuffer(1000)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    env = ActivityEnvironment()
    env.metric_meter = runtime.metric_meter
    env.info = dataclasses.replace(env.info, workflow_id=f"wf-{uuid.uuid4().hex[:8]}", workflow_run_id="run-1")
    return env, buffer, runtime


def updates(buffer: MetricBuffer) -> list[tuple[str, Any, dict[str, Any]]]:
    return [
        (u.metric.name, u.value, {k: v for k, v in u.attributes.items() if k in LABELS})
        for u in buffer.retrieve_updates()
    ]


LABELS = {"award_form", "outcome", "stage", "kind"}
ENTERED = datetime(2026, 3, 2, 2, 30, tzinfo=UTC)


def transition(
    nomination: Nomination, workflow_id: str, seq: int, from_stage: Stage | None, to_stage: Stage
) -> TransitionRecord:
    return TransitionRecord(
        nomination=NominationRow(
            workflow_id=workflow_id,
            nomination=nomination,
            bloc=None,
            policy_version=POLICY_VERSION,
            stage=to_stage,
            returned_from=None,
        ),
        event=StageEventRow(
            seq=seq,
            action=f"TEST_STEP_{seq}",
            actor=PROPOSER,
            from_stage=from_stage,
            to_stage=to_stage,
            occurred_at=ENTERED + timedelta(hours=3 * (seq - 1)),
        ),
        notifications=[],
    )


async def test_a_transition_is_counted_once_however_often_its_activity_runs(db_engine: AsyncEngine):
    env, buffer, _runtime = metered_activity_env()
    activities = PersistenceActivities(db_engine)
    nomination = Nomination.model_validate(nomination_data(FORM))
    workflow_id = f"nomination-metrics-{uuid.uuid4().hex[:8]}"
    submitted = transition(nomination, workflow_id, 1, None, Stage.COUNCIL_REVIEW)
    withdrawn = transition(nomination, workflow_id, 2, Stage.COUNCIL_REVIEW, Stage.WITHDRAWN)
    for record in (submitted, submitted, withdrawn, withdrawn):  # each written, then retried
        await env.run(activities.record_transition, record)
    assert updates(buffer) == [
        (NOMINATIONS_STARTED, 1, {"award_form": FORM}),
        (STAGE_DURATION, 3 * 3600.0, {"stage": Stage.COUNCIL_REVIEW.value, "award_form": FORM}),
        (NOMINATIONS_FINISHED, 1, {"award_form": FORM, "outcome": Stage.WITHDRAWN.value}),
    ]


async def test_a_rounds_ballots_are_counted_once_however_often_its_minutes_are_recorded(
    client: Client, db_engine: AsyncEngine
):
    env, buffer, _runtime = metered_activity_env()
    activities = BallotActivities(db_engine, client)
    candidate = Candidate(
        workflow_id=f"nomination-metrics-{uuid.uuid4().hex[:8]}",
        award_form=FORM,
        nominee_name="Trần Văn Bình",
        proposing_organisation="Vụ Pháp luật hình sự – hành chính",
    )
    minutes = SessionMinutes(
        session_id=f"ballot-metrics-{uuid.uuid4().hex[:8]}",
        kind=BallotSessionKind.COUNCIL,
        scope="BTP",
        meeting_ref="HD-2026-07",
        round=1,
        policy_version=POLICY_VERSION,
        closed_at=ENTERED,
        electorate_size=9,
        entries=[
            MinutesEntry(
                candidate=candidate,
                tally=Tally(members=9, present=8, votes_for=7, votes_against=1),
                result=MinutesResult.PASSED,
                reason_vi="Đạt tỷ lệ phiếu đồng ý",
            )
        ],
        participation=[],
        ballots_cast=8,
    )
    await env.run(activities.record_ballot_minutes, minutes)
    await env.run(activities.record_ballot_minutes, minutes)  # a retry: the round is recorded already
    assert updates(buffer) == [(BALLOTS_CAST, 8, {"kind": BallotSessionKind.COUNCIL.value})]


# ---- tracing ------------------------------------------------------------------------------------------------


async def test_tracing_shows_a_workflow_start_and_run_and_an_api_request(
    client: Client, db_engine: AsyncEngine, database_url: str
):
    exporter = InMemorySpanExporter()
    assert configure_tracing("tdkt-test", exporter=exporter) is not None
    try:
        traced = await connect(
            client.service_client.config.target_host, client.namespace, profile=ClientConfigProfile()
        )  # the interceptor comes from tracing being on
        queue = f"traced-{uuid.uuid4().hex[:8]}"
        async with build_worker(traced, db_engine, queue):
            handle = await start(traced, queue, FORM)
            await wait_for_stage(traced, handle.id, Stage.COUNCIL_REVIEW)
        names = [span.name for span in exporter.get_finished_spans()]
        assert "StartWorkflow:NominationWorkflow" in names, names
        assert "RunWorkflow:NominationWorkflow" in names, names
        start_span = next(s for s in exporter.get_finished_spans() if s.name == "StartWorkflow:NominationWorkflow")
        run_span = next(s for s in exporter.get_finished_spans() if s.name == "RunWorkflow:NominationWorkflow")
        assert run_span.context.trace_id == start_span.context.trace_id  # one trace from the client to the worker
        assert (start_span.attributes or {}).get("temporalWorkflowID") == handle.id

        app = create_app(traced, settings=api_settings(database_url, queue), engine=db_engine)
        exporter.clear()
        await call(app, "GET", "/problems/not-found?q=Nguyen%20Van%20A")
        served = [s for s in exporter.get_finished_spans() if s.kind.name == "SERVER"]
        assert served, [s.name for s in exporter.get_finished_spans()]
        assert "Nguyen" not in repr([dict(s.attributes or {}) for s in served])
        exporter.clear()
        await call(app, "GET", "/healthz")
        assert not exporter.get_finished_spans()  # probes are not traced
    finally:
        shutdown_tracing()
