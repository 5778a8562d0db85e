"""`make up` stops what it started on Ctrl-C and when make is sent SIGTERM: make itself does not pass SIGTERM on to its
recipe, so the demo asks the kernel for SIGTERM when its parent ends (scripts/demo.py), and stops the dev
server and the workers it started. Fast: the signal is sent as soon as the dev server and the demo's worker
run, before the scenarios end (the same `finally` stops the worker `--keep` adds after them)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
UI_PORT = 8233  # the demo's dev server always serves its UI here


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to read its status has ended)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def descendants(root: int) -> dict[int, str]:
    """Every process under `root` (by parent pid, from /proc), with its command line."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        current = frontier.pop()
        for pid, parent in parents.items():
            if parent == current and pid not in found:
                found[pid] = command_line(pid)
                frontier.append(pid)
    return found


def stop(make: subprocess.Popen[bytes], how: str) -> None:
    if how == "sigterm-to-make":
        make.send_signal(signal.SIGTERM)  # to make only, as `kill <pid of make>` does
    else:
        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the foreground group, make and the demo


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")
@pytest.mark.parametrize("how", ["sigterm-to-make", "ctrl-c"])
def test_stopping_make_up_leaves_no_dev_server_or_worker(tmp_path: Path, how: str) -> None:
    if listening(UI_PORT):
        pytest.skip(f"port {UI_PORT} is taken: another dev server (a `make up` of yours?) is running")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))} | {
        "TEMPORAL_ADDRESS": f"127.0.0.1:{port}",
        "TEMPORAL_NAMESPACE": "default",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'yours.db'}",
        "DEMO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
    }
    log = (tmp_path / "make-up.log").open("wb")
    # -o: the venv counts as installed (no pip run from the test, whatever pyproject's time).
    make = subprocess.Popen(
        ["make", "-o", ".venv/.installed", "up"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a shell's foreground job
        # With SIGINT as a terminal leaves it: a run started in the background (`make test &`, CI) inherits
        # SIGINT ignored, and a program started with it ignored never sees Ctrl-C.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and make.poll() is None:
            seen.update(descendants(make.pid))
            server = [pid for pid, line in seen.items() if "start-dev" in line and str(port) in line]
            workers = [pid for pid, line in seen.items() if line.rstrip().endswith("worker.py")]
            if server and workers and listening(port):
                break
            time.sleep(0.5)
        else:
            raise AssertionError("make up did not start the dev server and a worker:\n" + read(tmp_path))
        stop(make, how)
        try:
            make.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"make up still running 60 s after {how}:\n" + read(tmp_path)) from None
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and any(alive(pid) for pid in seen):
            time.sleep(0.5)
        left = {pid: line for pid, line in seen.items() if alive(pid)}
        assert not left, f"still running after {how}: {left}\n" + read(tmp_path)
        assert not listening(port), "the dev server's port still answers"
        assert "stopped" in read(tmp_path)
    finally:
        # Only what this test started, still the same program (a pid is not reused under it).
        for pid, line in [(make.pid, command_line(make.pid)), *seen.items()]:
            if alive(pid) and command_line(pid) == line:
                os.kill(pid, signal.SIGKILL)
        log.close()


def read(tmp_path: Path) -> str:
    return (tmp_path / "make-up.log").read_text(encoding="utf-8", errors="replace")[-3000:]
