"""/docs and /redoc render in Chromium with every request to another host refused: Swagger UI lists the API's
operations and ReDoc its title, loaded only from the API itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Route
from temporalio.client import Client

from tests.browser.conftest import needs_chromium, serving
from tests.integration.test_api import RING

pytestmark = [pytest.mark.integration, *needs_chromium]


@pytest.fixture(scope="module")
async def docs_url() -> AsyncIterator[str]:
    """The API served by uvicorn; the documentation pages need no Temporal and no database."""
    from api.app import create_app

    async def no_temporal() -> Client:
        raise AssertionError("the documentation pages need no Temporal")

    app = create_app(no_temporal, keyring=RING, task_queue="docs-offline")
    async with serving(app) as url:
        yield url


@pytest.mark.parametrize(
    ("path", "rendered"),
    [("/docs", ".opblock-summary-path"), ("/redoc", "h1")],
    ids=["swagger-ui", "redoc"],
)
async def test_the_documentation_renders_with_no_way_out(
    browser: Browser, docs_url: str, path: str, rendered: str
) -> None:
    refused: list[str] = []
    context = await browser.new_context()

    async def only_the_api(route: Route) -> None:
        if urlsplit(route.request.url).netloc == urlsplit(docs_url).netloc or route.request.url.startswith(
            ("data:", "blob:")
        ):
            await route.continue_()
        else:  # the network beyond the API is not there
            refused.append(route.request.url)
            await route.abort("internetdisconnected")

    await context.route("**/*", only_the_api)
    try:
        page = await context.new_page()
        await page.goto(docs_url + path)
        await page.wait_for_selector(rendered, timeout=30_000)
        text = await page.inner_text("body")
        if path == "/docs":
            assert "/nominations" in text  # the operations are listed from /openapi.json
        else:
            assert "TĐKT nomination engine API" in text
        assert refused == [], refused
    finally:
        await context.close()
