"""The year-end wave harness's pure parts: the raw floor's route shapes and admission control (bench.wave)."""

from __future__ import annotations

import asyncio
import functools
import os

import pytest

from bench import wave, wave_plan
from bench.wave import Admission, start_admitted


def test_the_raw_floor_counts_every_lookup_and_write_as_a_local_activity() -> None:
    assert wave_plan.route_counts("council") == {
        "activities": 0,
        # roster, nominee claim, offer, roster; record_transition for SUBMIT, the verdict and the decision
        "local_activities": 7,
        "signals": 4,  # joined the session's list, its deadline, its verdict; the decision (from its workflow)
        "updates": 0,
        "timers": 2,  # the council session's deadline, awaited until the verdict; the close after the decision
    }
    for route, steps in wave_plan.ROUTE_STEPS.items():
        assert not {"A", "AS", "AU"} & set(steps), route
        counts = wave_plan.route_counts(route)
        writes = sum(1 for s in steps if s in wave_plan.TRANSITION_STEPS)
        assert counts["local_activities"] == sum(1 for s in steps if s.startswith("L")) + writes, route
        assert counts["activities"] == 0, route


def test_max_in_flight_is_parsed_and_needs_an_idle_timeout() -> None:
    assert wave.parse_args([]).max_in_flight == 0
    assert wave.parse_args(["--max-in-flight", "5"]).max_in_flight == 5
    with pytest.raises(SystemExit):
        wave.parse_args(["--max-in-flight", "5", "--idle-seconds", "0"])
    with pytest.raises(SystemExit):
        wave.parse_args(["--max-in-flight", "-1"])


async def test_admission_keeps_at_most_the_limit_in_flight_and_finishes() -> None:
    admission = Admission(3)
    running: set[int] = set()
    peak = 0

    async def start(i: int) -> None:
        nonlocal peak
        running.add(i)
        peak = max(peak, admission.in_flight)

    async def finisher() -> None:  # a nomination finishes now and then, as the harness's poll learns it
        while admission.finished < 10:
            await asyncio.sleep(0.001)
            if admission.admitted > admission.finished:
                admission.finished_so_far(admission.finished + 1)

    done = asyncio.ensure_future(finisher())
    admitted = await asyncio.wait_for(start_admitted(admission, [functools.partial(start, i) for i in range(10)]), 5)
    await asyncio.wait_for(done, 5)
    assert admitted == 10 and running == set(range(10))
    assert peak == 3


async def test_admission_without_a_limit_admits_everything_and_closing_stops_the_waiting() -> None:
    async def nothing() -> None:
        return None

    unlimited = Admission(0)
    assert await start_admitted(unlimited, [nothing] * 50) == 50

    limited = Admission(2)
    waiting = asyncio.ensure_future(start_admitted(limited, [nothing] * 5))
    await asyncio.sleep(0.01)
    assert limited.admitted == 2 and not waiting.done()  # nothing has finished
    limited.close()  # the wave is over
    assert await asyncio.wait_for(waiting, 1) == 2


async def test_a_failed_start_stops_admitting_and_is_raised() -> None:
    admission = Admission(1)

    async def fails() -> None:
        raise RuntimeError("start refused")

    async def nothing() -> None:
        return None

    with pytest.raises(RuntimeError, match="start refused"):
        await asyncio.wait_for(start_admitted(admission, [fails, nothing, nothing]), 1)
    assert admission.closed and admission.admitted == 1


def test_the_memory_sampler_counts_shared_pages_once_in_the_proportional_size() -> None:
    sampler = wave.RssSampler()
    sampler.reset([os.getpid()])
    sampler.sample()
    assert sampler.peak_sum > 0
    # The interpreter's libraries are shared with other processes: its share of them is at most their size.
    assert 0 < sampler.peak_pss_sum <= sampler.peak_sum
    sampler.reset([2**22 + 1])  # no such process (above the kernel's pid limit): nothing is counted
    sampler.sample()
    assert sampler.peak_sum == sampler.peak_pss_sum == 0.0
