"""A CLI whose payload key is not the one a nomination was encrypted under says so — naming the key id and
the variable — instead of crashing with a traceback, and generates no key of its own."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import Client

from domain.stages import Stage
from tests.integration.conftest import ROOT
from tests.integration.helpers import AUTH_ENV, CENTRAL, start, token_for, wait_for_stage

pytestmark = pytest.mark.integration


async def test_a_cli_with_another_payload_key_says_which_key_is_missing(
    client: Client, task_queue: str, database_url: str, tmp_path: Path
):
    handle = await start(client, task_queue, "BANG_KHEN_BO")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TDKT_CODEC", "TDKT_GENERATE"))}
    env |= AUTH_ENV | {
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": client.namespace,
        "TASK_QUEUE": task_queue,
        "DATABASE_URL": database_url,
        "TDKT_CODEC_KEYS": "other:" + base64.b64encode(b"o" * 32).decode(),
        "TDKT_CODEC_KEY_FILE": str(tmp_path / "codec-keys.json"),
        "TDKT_TOKEN": token_for(CENTRAL),
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(ROOT / "starter.py"), "status", handle.id],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 1, done.stderr
    assert "not in the keyring" in done.stderr and "test-run" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "codec-keys.json").exists()
