"""The year-end wave harness (bench.wave) runs end to end on a tiny wave: a smoke test of the harness,
never of speed. It uses the session's dev server; the harness makes and drops its own database and starts
its own worker process."""

from __future__ import annotations

import re

import pytest
from temporalio.testing import WorkflowEnvironment

from bench import wave

pytestmark = pytest.mark.integration

REQUIRED = (
    "nominations",
    "rate",
    "raw_rate",
    "ratio",
    "p50_ms",
    "p99_ms",
    "p99_ms_loaded",
    "worker_rss_mb",
    "worker_pss_mb",
    "max_history_events",
    "lost",
    "duplicated",
)


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param([], id="all-at-once"),
        # Admission control: at most 5 of the 20 started and not finished, in the wave and the raw floor;
        # shorter waits for a list or a batch decision (each holds places), no light-load probes: ~40 s.
        pytest.param(
            ["--max-in-flight", "5", "--probe", "0", "--idle-seconds", "1", "--decision-flush-seconds", "2"],
            id="max-in-flight-5",
        ),
    ],
)
async def test_tiny_wave_loses_and_duplicates_nothing(temporal_env: WorkflowEnvironment, extra: list[str]) -> None:
    address = temporal_env.client.service_client.config.target_host
    opts = wave.parse_args(
        [
            "--nominations", "20",
            "--voters", "3",
            "--ministries", "3",
            "--workers", "1",
            "--probe", "5",
            "--address", address,
            "--timeout", "300",
            "--raw-timeout", "120",
            *extra,
        ]
    )  # fmt: skip
    figures = await wave.run(opts)
    line = wave.figures_line(figures)
    print(line)

    parsed = dict(pair.split("=", 1) for pair in line.split())
    assert set(REQUIRED) <= parsed.keys(), line
    assert all(re.fullmatch(r"[^\s=]+", value) for value in parsed.values()), line
    assert int(parsed["nominations"]) == 20
    assert int(parsed["max_in_flight"]) == opts.max_in_flight, line
    assert int(parsed["lost"]) == 0, line
    assert int(parsed["duplicated"]) == 0, line
    assert int(parsed["finished"]) == 20, line
    assert int(parsed["errors"]) == 0, line
    # The raw floor follows the nominations' real shape (activities, local activities, signals, updates).
    assert int(parsed["shape_mismatches"]) == 0, line
    for key in REQUIRED:
        float(parsed[key])  # every figure is a number
