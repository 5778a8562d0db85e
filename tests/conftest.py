"""Shared fixtures. Integration tests use a real PostgreSQL (a fresh database per run) and a real
Temporal dev server; nothing here mocks either."""

from __future__ import annotations

import base64
import os
import signal
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

# One payload-encryption key for the whole test run, inherited by the CLI and worker subprocesses.
os.environ.setdefault("TDKT_CODEC_KEYS", "test-run:" + base64.b64encode(b"t" * 32).decode())
os.environ.setdefault("TDKT_CODEC_KEY_ID", "test-run")
# The audit chain's HMAC key for the whole run (the chain is keyed under it; tests that tamper know it).
os.environ.setdefault("TDKT_AUDIT_KEYS", "test-audit:" + base64.b64encode(b"a" * 32).decode())
# One key for the nominees' identification numbers (their keyed hashes), shared by the CLI subprocesses too.
os.environ.setdefault("TDKT_IDENTITY_KEY", base64.b64encode(b"i" * 32).decode())
# Every workflow of the suite runs in the SDK's sandbox (the worker's default is without: store/tuning.py), so a
# call the sandbox forbids fails a test before it could make a workflow non-deterministic in production.
os.environ.setdefault("TDKT_WORKFLOW_SANDBOX", "on")
# The suite runs the engine as the embedded demo does: missing local keys (tally, tokens) may be generated.
os.environ.setdefault("TDKT_GENERATE_KEYS", "1")

ADMIN_DSN = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@asynccontextmanager
async def new_database(prefix: str, *, migrated: bool = True) -> AsyncIterator[str]:
    """A PostgreSQL database of its own; yields its URL (asyncpg driver), migrated to head unless the test
    wants it empty, and drops it afterwards (FORCE: a test may leave connections open)."""
    import asyncpg

    from store.migrate import upgrade_to_head

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
    try:
        if migrated:
            await upgrade_to_head(url)
        yield url
    finally:
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database with the schema migrated to head; dropped at the end."""
    async with new_database("tdkt_test") as url:
        yield url


# Test files that share something fixed on the machine (files under .state/, a port): under pytest-xdist
# (`make test`: -n 2 --dist loadfile) each group runs on one process, one file after the other; every other
# file is a unit of its own. Each process has session fixtures of its own (dev server, database, counting-key
# directory). Named here, not by xdist_group marks: pytest 9 no longer reads the node id pytest-xdist 3.8
# rewrites to carry a mark's group, so `--dist loadgroup` would scatter a file's tests.
SHARED_GROUPS = {
    # The demo's counting keys, worker log and decision export under .state/: one demo at a time.
    "tests/integration/test_make_up.py": "demo",
    "tests/integration/test_demo_isolation.py": "demo",
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class FilesAndGroups(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return SHARED_GROUPS.get(path, path)

    return FilesAndGroups(config, log)


_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # The Temporal SDK's native runtime can abort the interpreter at teardown after every test passed
    # ("PyGILState_Release", exit 134: https://github.com/temporalio/sdk-python/issues/300). Report the
    # true status and skip that teardown.
    if _exit_status and not os.environ.get("TDKT_NORMAL_EXIT"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status[-1])


# ---- a test that hangs says where ---------------------------------------------------------------------------
# pytest-timeout ends a stuck test (pyproject.toml), but under xdist the stacks it prints are lost with the worker,
# and a thread's stack does not show what a coroutine awaits. So SIGUSR1 (sent by hand, or by the watchdog below
# HANG_REPORT_S into a test) writes every pending asyncio task's stack to tdkt-hang-<pid>.txt in the temp directory.
HANG_REPORT_S = 200.0


def _write_pending_tasks(_signum: int, _frame: object) -> None:
    import asyncio
    import gc
    import tempfile
    from pathlib import Path

    path = Path(tempfile.gettempdir()) / f"tdkt-hang-{os.getpid()}.txt"
    with path.open("a", encoding="utf-8") as out:
        out.write(f"==== {os.environ.get('PYTEST_CURRENT_TEST', '?')}\n")
        for task in [o for o in gc.get_objects() if isinstance(o, asyncio.Task) and not o.done()]:
            out.write(f"--- {task!r:.300}\n")
            task.print_stack(file=out)


if hasattr(signal, "SIGUSR1"):
    signal.signal(signal.SIGUSR1, _write_pending_tasks)


@pytest.fixture(autouse=True)
def hang_report() -> Any:
    timer = threading.Timer(HANG_REPORT_S, os.kill, (os.getpid(), signal.SIGUSR1))
    timer.daemon = True
    timer.start()
    yield
    timer.cancel()
