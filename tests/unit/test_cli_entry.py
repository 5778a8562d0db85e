"""starter.py as a process: every command group is listed under the one entry point, and a reader that has gone
(`starter.py list | head`) ends the command quietly, without a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STARTER = ROOT / "starter.py"
SIGNING = {"TDKT_AUTH_KEYS": "k1:" + "s" * 40, "TDKT_AUTH_KEY_ID": "k1"}
COMMANDS = {
    "token", "nominate", "status", "list", "council-result", "bloc-result", "central", "return", "withdraw",
    "resubmit", "roster", "db", "verify-audit", "setup", "ballot", "hold", "release", "objection", "consult",
    "decision", "import", "report", "ops", "document", "bloc-year",
}  # fmt: skip


def test_every_command_group_is_listed_once() -> None:
    shown = subprocess.run(
        [sys.executable, str(STARTER), "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    listed = re.search(r"\{([^}]*)\}", shown)
    assert listed is not None, shown
    assert sorted(listed.group(1).split(",")) == sorted(COMMANDS)


def test_a_closed_pipe_ends_the_command_quietly() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before anything is written: every write meets a broken pipe
    try:
        done = subprocess.run(
            [sys.executable, str(STARTER), "token", "issue", "--for", "btp.hd.thu-ky"],
            cwd=ROOT,
            env=dict(os.environ) | SIGNING,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr, done.stderr
    assert "BrokenPipeError" not in done.stderr
    assert done.returncode == 141, done.stderr  # what a shell shows for a pipe's writer whose reader left
