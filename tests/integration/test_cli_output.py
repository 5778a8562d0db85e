"""What starter.py prints, as a person and a script see it: tables by default, the same JSON document as before
under `--json` (before or after the command), a reader gone mid-output without a traceback, and with no
server a message naming TEMPORAL_ADDRESS and `make up` instead of a transport error."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import Client

from tests.factories import nomination_data
from tests.integration.helpers import CENTRAL, PROPOSER, cli_environment, token_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
STARTER = str(ROOT / "starter.py")


@pytest.fixture(scope="module")
def env(client: Client, task_queue: str, database_url: str) -> dict[str, str]:
    # the central board reads everything
    return cli_environment(client, task_queue, database_url, TDKT_TOKEN=token_for(CENTRAL))


async def starter(
    env: dict[str, str], *args: str, stdout: int = subprocess.PIPE, stderr: int = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        lambda: subprocess.run(
            [sys.executable, STARTER, *args], env=env, cwd=ROOT, text=True, timeout=60, stdout=stdout, stderr=stderr
        )
    )


@pytest.fixture(scope="module")
async def workflow_id(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> str:
    """A nomination started through the CLI and listed by the visibility store."""
    data = nomination_data("BANG_KHEN_BO")
    path = tmp_path_factory.mktemp("cli-output") / "n.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    started = await starter(env | {"TDKT_TOKEN": token_for(PROPOSER)}, "nominate", str(path))
    assert started.returncode == 0, started.stderr
    workflow_id = started.stdout.strip().splitlines()[-1]
    for _ in range(100):  # visibility is eventually consistent
        listed = await starter(env, "--json", "list", "--ministry", "BTP", "--year", "2026")
        if listed.returncode == 0 and workflow_id in {row["workflow_id"] for row in json.loads(listed.stdout)}:
            return workflow_id
        await asyncio.sleep(0.2)
    raise AssertionError(f"{workflow_id} never listed")


async def test_list_and_status_print_tables_by_default(env: dict[str, str], workflow_id: str) -> None:
    listed = await starter(env, "list", "--ministry", "BTP", "--year", "2026")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    # A header line naming the columns, then one line per row: the id and its stage on the same line.
    header = lines[0].split()
    assert {"workflow_id", "stage", "ministry"} <= set(header), lines[0]
    row = next(line for line in lines if workflow_id in line)
    assert "BTP" in row.split()
    with pytest.raises(json.JSONDecodeError):
        json.loads(listed.stdout)

    status = await starter(env, "status", workflow_id)
    assert status.returncode == 0, status.stderr
    fields = {line.split()[0]: line.split()[1:] for line in status.stdout.splitlines() if line.strip()}
    assert fields["workflow_id"] == [workflow_id]
    assert fields["ministry"] == ["BTP"]
    assert fields["stage"][0] in {"PROPOSED", "COUNCIL_REVIEW"}
    # The transitions are a table of their own below the record, titled by the field's name.
    assert "transitions" in fields and any(line.strip() == "transitions" for line in status.stdout.splitlines())
    assert not status.stdout.lstrip().startswith("{")


async def test_json_before_or_after_the_command_is_the_document(env: dict[str, str], workflow_id: str) -> None:
    before = await starter(env, "--json", "status", workflow_id)
    after = await starter(env, "status", workflow_id, "--json")
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    document = json.loads(before.stdout)
    assert document["workflow_id"] == workflow_id and document["ministry"] == "BTP"
    assert isinstance(document["transitions"], list)
    assert json.loads(after.stdout)["workflow_id"] == workflow_id
    rows = json.loads((await starter(env, "list", "--ministry", "BTP", "--year", "2026", "--json")).stdout)
    assert isinstance(rows, list) and all(isinstance(r, dict) for r in rows)
    assert workflow_id in {r["workflow_id"] for r in rows}


@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
async def test_list_to_a_closed_pipe_ends_quietly(env: dict[str, str], workflow_id: str, as_json: bool) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # `list | head` whose head has already gone: every write meets a broken pipe
    try:
        done = await starter(
            env,
            *(["--json"] if as_json else []),
            "list",
            "--ministry",
            "BTP",
            stdout=write_end,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 141, done.stderr


async def test_list_through_head_shows_the_first_lines(env: dict[str, str], workflow_id: str) -> None:
    """A real `starter.py list | head -n 1` in a shell: the header line, and the shell sees no error."""
    done = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-o", "pipefail", "-c", f"{sys.executable} {STARTER} list --ministry BTP | head -n 1"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert "workflow_id" in done.stdout and len(done.stdout.splitlines()) == 1
    # The writer ends 0 (it finished before head left) or 141 (head left first): never a crash.
    assert done.returncode in {0, 141}, done.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", [["list"], ["status", "nomination-2026-BTP-1"]], ids=["list", "status"])
async def test_no_server_names_the_address_variable_and_make_up(env: dict[str, str], command: list[str]) -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    done = await starter(env | {"TEMPORAL_ADDRESS": address}, *command)
    assert done.returncode == 1, done.stderr
    assert address in done.stderr and "TEMPORAL_ADDRESS" in done.stderr and "make up" in done.stderr
    assert "Traceback" not in done.stderr
    # Not the transport's own words (tonic / hyper errors) but what to do.
    for transport in ("transport error", "tcp connect error", "Connection refused", "Failed client connect"):
        assert transport not in done.stderr, done.stderr
    assert done.stdout == ""
