"""/docs (Swagger UI) and /redoc (ReDoc) work without the network: their pages name only this API's own
addresses, and every script, stylesheet and icon they name is served by the API itself (vendored under
api/static/vendor with its licence)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from api import create_app
from api.docs_ui import VENDOR_DIR
from tests.asgi import call
from tests.integration.test_api import RING

pytestmark = pytest.mark.integration


class Links(HTMLParser):
    """Every address a page makes the browser load: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.loaded.append(value)


@pytest.fixture(scope="module")
def app() -> Any:
    async def no_temporal() -> Client:
        raise AssertionError("the documentation pages need no Temporal")

    return create_app(no_temporal, keyring=RING, task_queue="docs-offline")


@pytest.mark.parametrize(
    ("page", "script", "media"),
    [
        ("/docs", "/docs/assets/swagger-ui/swagger-ui-bundle.js", "text/css"),
        ("/redoc", "/docs/assets/redoc/redoc.standalone.js", None),
    ],
)
async def test_the_page_loads_only_local_assets_and_they_are_served(
    app: Any, page: str, script: str, media: str | None
) -> None:
    shown = await call(app, "GET", page)
    assert shown.status == 200 and (shown.header("content-type") or "").startswith("text/html")
    html = shown.body.decode()
    links = Links()
    links.feed(html)
    assert script in links.loaded, links.loaded
    # Nothing from another host: no absolute URL anywhere in the page (scripts, styles, fonts, the spec).
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE), html
    assert "/openapi.json" in html
    # And the browser is told so: nothing but this API, whatever a bundle names itself (ReDoc's CDN logo).
    policy = shown.header("content-security-policy") or ""
    assert "default-src 'self'" in policy and "img-src 'self' data:" in policy
    assert not re.search(r"https?:", policy), policy
    media_types = []
    for address in links.loaded:
        assert address.startswith("/docs/assets/"), address
        asset = await call(app, "GET", address)
        assert asset.status == 200, address
        on_disk = VENDOR_DIR / address.removeprefix("/docs/assets/")
        assert asset.body == on_disk.read_bytes(), address
        media_types.append(asset.header("content-type") or "")
    if media is not None:
        assert any(t.startswith(media) for t in media_types), media_types
    assert (await call(app, "GET", "/openapi.json")).status == 200


async def test_swagger_ui_sends_nothing_to_the_online_validator(app: Any) -> None:
    html = (await call(app, "GET", "/docs")).body.decode()
    assert '"validatorUrl": null' in html
    redirect = await call(app, "GET", "/docs/oauth2-redirect")
    assert redirect.status == 200 and b"oauth2" in redirect.body.lower()


def test_the_vendored_files_carry_their_licences() -> None:
    for name, bundle in (("swagger-ui", "swagger-ui-bundle.js"), ("redoc", "redoc.standalone.js")):
        folder: Path = VENDOR_DIR / name
        assert (folder / "LICENSE").read_text(encoding="utf-8").strip(), name
        assert (folder / f"{bundle}.LICENSE.txt").exists(), name
        assert (folder / bundle).stat().st_size > 500_000, name  # the real bundle, not a placeholder
    readme = (VENDOR_DIR / "README.md").read_text(encoding="utf-8")
    assert "swagger-ui-dist" in readme and "redoc" in readme
