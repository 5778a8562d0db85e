"""Chaos tests stop the machine's PostgreSQL and kill processes: they run only with TDKT_CHAOS=1 (`make chaos`)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "chaos: injects faults (kills the worker, restarts the dev server, stops PostgreSQL); TDKT_CHAOS=1"
    )
