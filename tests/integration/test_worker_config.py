"""A worker started with a bad knob stops at once and says which variable is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_bad_knob_stops_the_worker_before_it_connects(tmp_path: Path) -> None:
    env = dict(os.environ) | {
        "TDKT_MAX_CONCURRENT_ACTIVITIES": "lots",
        # Nothing listens here: a worker that got past its knobs would wait, not exit.
        "TEMPORAL_ADDRESS": "127.0.0.1:9",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'engine.db'}",
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "worker.py")], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "worker_misconfigured" in done.stdout + done.stderr
    assert "TDKT_MAX_CONCURRENT_ACTIVITIES='lots'" in done.stdout + done.stderr
    assert not (tmp_path / "engine.db").exists(), "the worker touched the database before checking its knobs"


def test_a_database_url_the_migration_cannot_use_stops_the_worker_with_the_reason(tmp_path: Path) -> None:
    env = dict(os.environ) | {
        "TEMPORAL_ADDRESS": "127.0.0.1:9",
        "DATABASE_URL": "nosuchdialect://engine@127.0.0.1/tdkt",
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "worker.py")], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "worker_migration_failed" in output and "nosuchdialect" in output, output
    assert "database_unreachable" not in output, "a migration that cannot run was waited out as an outage"
