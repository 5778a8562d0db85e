"""A list import meeting nominations that exist already, on the session's dev server: a row whose very
nomination was started before counts as already started, a row whose year, ministry and reference another
(different) nomination holds is a failed row, not "already started". The workflows start on a task queue no
worker polls: what matters is which workflows exist and what they were started with."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from cli.imports import import_command
from client.importer import COLUMN_BY_FIELD
from client.nominations import started_input
from domain.messages import NominationStart
from tests.integration.test_import import fictional_rows, import_args, workflow_ids, write_csv

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def idle_queue() -> str:
    return f"import-conflicts-{uuid.uuid4().hex[:8]}"


async def test_a_reference_held_by_another_nomination_is_a_failed_row_not_already_started(
    client: Client, idle_queue: str, db_engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = fictional_rows(uuid.uuid4().hex[:8], count=3)
    ids = workflow_ids(rows)
    # Before the list: row 2's very nomination, and under row 3's reference another nomination.
    other = {**rows[1], "achievements": "Một nomination khác đã giữ số tờ trình này."}
    first = write_csv(tmp_path / "truoc.csv", [rows[0], other])
    assert await import_command(import_args(str(first)), client=client, task_queue=idle_queue, engine=db_engine) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "started 2, already started 0"

    path = write_csv(tmp_path / "danh-sach.csv", rows)
    assert await import_command(import_args(str(path)), client=client, task_queue=idle_queue, engine=db_engine) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == "started 1, already started 1, failed 1"
    reference = COLUMN_BY_FIELD["reference"].header
    assert f"dòng 3, {reference}: số tờ trình đã thuộc hồ sơ khác: {ids[1]}" in err, err
    # The other nomination is untouched; row 4 started.
    held = await started_input(client, ids[1], NominationStart)
    assert held is not None and held.nomination.achievements == other["achievements"]
    assert await started_input(client, ids[2], NominationStart) is not None

    # Again: nothing new; the conflict is still reported.
    assert await import_command(import_args(str(path)), client=client, task_queue=idle_queue, engine=db_engine) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "started 0, already started 2, failed 1"
