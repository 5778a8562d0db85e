"""The browser tests drive Debian's /usr/bin/chromium through Playwright; those that need the engine use the same
dev server, worker and PostgreSQL as the integration tests."""

from __future__ import annotations

import asyncio
import mimetypes
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import *  # noqa: F403  (fixtures: temporal_env, client, db_engine, task_queue, ...)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STATIC = Path(__file__).resolve().parents[2] / "api" / "static"
# An origin the tests serve by request interception: localhost is a secure context, so Web Crypto is there.
STATIC_ORIGIN = "http://localhost"

try:
    from playwright.async_api import Browser, Page, Route, async_playwright
except ImportError:  # pragma: no cover - depends on the environment
    async_playwright = None  # type: ignore[assignment]

needs_chromium = [
    pytest.mark.skipif(
        async_playwright is None, reason="playwright is not installed (pip install -e '.[dev]' installs it)"
    ),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing (apt-get install -y chromium)"),
]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


async def _serve_static(route: Route) -> None:
    path = route.request.url.removeprefix(STATIC_ORIGIN).split("?")[0]
    if path in ("", "/"):
        await route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>tdkt</title>")
        return
    file = (STATIC / path.removeprefix("/static/")).resolve()
    if not path.startswith("/static/") or STATIC not in file.parents or not file.is_file():
        await route.fulfill(status=404, body="not found")
        return
    content_type = "text/javascript" if file.suffix == ".js" else mimetypes.guess_type(file.name)[0] or "text/plain"
    await route.fulfill(status=200, content_type=content_type, body=file.read_bytes())


@pytest.fixture
async def static_page(browser: Browser) -> AsyncIterator[Page]:
    """A blank page on a secure origin whose /static/ is api/static (no server: requests are intercepted)."""
    context = await browser.new_context()
    await context.route(f"{STATIC_ORIGIN}/**", _serve_static)
    page = await context.new_page()
    await page.goto(f"{STATIC_ORIGIN}/")
    try:
        yield page
    finally:
        await context.close()


async def in_browser(page: Page, body: str, arg: Any = None) -> Any:
    """Run `body` (an async function body with `m`, the ballot-crypto module, and `arg` in scope)."""
    script = f"async (arg) => {{ const m = await import('/static/ballot-crypto.js'); {body} }}"
    return await page.evaluate(script, arg)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """`app` served by uvicorn on the caller's event loop, on the loopback address (so sign-in links name it
    without TDKT_PUBLIC_URL); its base URL, the server stopped on leaving."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the phone tests save their screenshots: docs/img when TDKT_UPDATE_SCREENSHOTS=1 (to refresh the
    docs' pictures), a temporary directory otherwise, so that a test run never changes the checkout."""
    if os.environ.get("TDKT_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        return DOCS_IMG
    return tmp_path_factory.mktemp("screenshots")
