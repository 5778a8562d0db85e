"""Swagger UI at /docs and ReDoc at /redoc, from files this API serves itself (api/static/vendor/swagger-ui and
api/static/vendor/redoc, vendored with their licences): the pages work on a network with no way out, and no
third-party host sees who reads the API's documentation. FastAPI's own pages would load both from a CDN."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
ASSETS = "/docs/assets"
SWAGGER_JS = f"{ASSETS}/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = f"{ASSETS}/swagger-ui/swagger-ui.css"
FAVICON = f"{ASSETS}/swagger-ui/favicon-32x32.png"
REDOC_JS = f"{ASSETS}/redoc/redoc.standalone.js"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
# The pages may load nothing from elsewhere, even what the bundles name themselves (ReDoc's "powered by" logo
# on a CDN): the browser refuses it before any request. Inline styles and the pages' inline start-up script are
# FastAPI's; ReDoc runs its search in a worker made from a blob.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'self'"
)


def _local_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = DOCS_CSP
    return page


def install_docs(app: FastAPI) -> None:
    """/docs, /docs/oauth2-redirect, /redoc and the assets under /docs/assets; the app is made with
    docs_url=None and redoc_url=None so these are the only ones."""
    openapi_url = app.openapi_url or "/openapi.json"
    for name in ("swagger-ui", "redoc"):
        app.mount(f"{ASSETS}/{name}", StaticFiles(directory=VENDOR_DIR / name), name=f"docs-{name}")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _local_only(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{app.title} — Swagger UI",
                swagger_js_url=SWAGGER_JS,
                swagger_css_url=SWAGGER_CSS,
                swagger_favicon_url=FAVICON,
                oauth2_redirect_url=OAUTH2_REDIRECT,
                # No online validator badge: it would send the document to validator.swagger.io.
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _local_only(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{app.title} — ReDoc",
                redoc_js_url=REDOC_JS,
                redoc_favicon_url=FAVICON,
                with_google_fonts=False,
            )
        )
