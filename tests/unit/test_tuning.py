"""Operator knobs from the environment: values, defaults and errors that name the variable."""

from __future__ import annotations

import pytest

from store.tuning import (
    DEFAULT_MAX_CACHED_WORKFLOWS,
    DEFAULT_MAX_CONCURRENT_WORKFLOW_TASKS,
    DEFAULT_POOL_SIZE,
    PoolSettings,
    TuningError,
    pool_settings,
    worker_options,
    workflow_sandbox,
)
from worker import sandbox_runner, workflow_runner


def test_unset_knobs_leave_the_sdk_defaults_but_the_cache_and_the_workflow_task_slots() -> None:
    engine_default = {
        "max_cached_workflows": DEFAULT_MAX_CACHED_WORKFLOWS,
        "max_concurrent_workflow_tasks": DEFAULT_MAX_CONCURRENT_WORKFLOW_TASKS,
    }
    assert worker_options({}) == engine_default
    assert worker_options({"TDKT_MAX_CACHED_WORKFLOWS": " "}) == engine_default


def test_each_worker_knob_maps_to_its_option() -> None:
    env = {
        "TDKT_MAX_CACHED_WORKFLOWS": "700",
        "TDKT_MAX_CONCURRENT_WORKFLOW_TASKS": "10",
        "TDKT_MAX_CONCURRENT_ACTIVITIES": "40",
        "TDKT_MAX_CONCURRENT_LOCAL_ACTIVITIES": "50",
        "UNRELATED": "x",
    }
    assert worker_options(env) == {
        "max_cached_workflows": 700,
        "max_concurrent_workflow_tasks": 10,
        "max_concurrent_activities": 40,
        "max_concurrent_local_activities": 50,
    }


def test_a_cache_of_zero_is_allowed_but_no_zero_concurrency() -> None:
    assert worker_options({"TDKT_MAX_CACHED_WORKFLOWS": "0"})["max_cached_workflows"] == 0
    with pytest.raises(TuningError, match="TDKT_MAX_CONCURRENT_ACTIVITIES='0'"):
        worker_options({"TDKT_MAX_CONCURRENT_ACTIVITIES": "0"})


@pytest.mark.parametrize("value", ["many", "1.5", "-3"])
def test_a_bad_worker_knob_names_the_variable(value: str) -> None:
    with pytest.raises(TuningError, match=f"TDKT_MAX_CONCURRENT_WORKFLOW_TASKS='{value}'"):
        worker_options({"TDKT_MAX_CONCURRENT_WORKFLOW_TASKS": value})


def test_pool_defaults_and_overrides() -> None:
    assert pool_settings({}) == PoolSettings(size=DEFAULT_POOL_SIZE, pre_ping=True)
    assert pool_settings({}, pre_ping_default=False) == PoolSettings(size=DEFAULT_POOL_SIZE, pre_ping=False)
    assert pool_settings({"DB_POOL_SIZE": "20", "DB_POOL_PRE_PING": "off"}) == PoolSettings(size=20, pre_ping=False)
    assert pool_settings({"DB_POOL_PRE_PING": "Yes"}, pre_ping_default=False).pre_ping is True


@pytest.mark.parametrize(
    ("env", "named"),
    [({"DB_POOL_SIZE": "0"}, "DB_POOL_SIZE='0'"), ({"DB_POOL_PRE_PING": "maybe"}, "DB_POOL_PRE_PING='maybe'")],
)
def test_a_bad_pool_setting_names_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(TuningError, match=named):
        pool_settings(env)


@pytest.mark.parametrize(
    ("value", "sandboxed"), [(None, False), ("", False), ("on", True), ("1", True), ("off", False), ("No", False)]
)
def test_the_workflow_sandbox_is_off_unless_turned_on(value: str | None, sandboxed: bool) -> None:
    env = {} if value is None else {"TDKT_WORKFLOW_SANDBOX": value}
    assert workflow_sandbox(env) is sandboxed
    runner = workflow_runner(env)
    assert isinstance(runner, type(sandbox_runner())) is sandboxed


def test_a_bad_sandbox_setting_names_the_variable() -> None:
    with pytest.raises(TuningError, match="TDKT_WORKFLOW_SANDBOX='sometimes': expected on or off"):
        workflow_sandbox({"TDKT_WORKFLOW_SANDBOX": "sometimes"})
