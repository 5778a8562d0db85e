"""Every recorded history replays against the current workflow code: a change that would break
running nominations (non-determinism) fails here, in CI, before it reaches a worker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory

from worker import build_replayer

HISTORIES = sorted(p for p in (Path(__file__).parent / "histories").glob("*/*.json") if p.name != "workflow-ids.json")


def workflow_id_of(path: Path) -> str:
    """The id the history ran under (workflow-ids.json beside it); the file's name where none is recorded."""
    index = path.parent / "workflow-ids.json"
    ids = json.loads(index.read_text(encoding="utf-8")) if index.exists() else {}
    return str(ids.get(path.stem, path.stem))


def test_histories_were_recorded():
    assert len(HISTORIES) >= 12, "record histories with: python -m tests.replay.record_histories LABEL"


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: f"{p.parent.name}/{p.stem}")
async def test_history_replays_on_current_code(path: Path):
    history = WorkflowHistory.from_json(workflow_id_of(path), path.read_text(encoding="utf-8"))
    result = await build_replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
