"""Every recorded history replays against the current workflow code: a change that would break
running nominations (non-determinism) fails here, in CI, before it reaches a worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory

from worker import build_replayer

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*/*.json"))


def test_histories_were_recorded():
    assert len(HISTORIES) >= 16, "record histories with: python -m tests.replay.record_histories LABEL"


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: f"{p.parent.name}/{p.stem}")
async def test_history_replays_on_current_code(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
    result = await build_replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
