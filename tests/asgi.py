"""A minimal ASGI client for the API tests: one request through an app's ASGI interface, no server and no
extra dependency (FastAPI's TestClient and httpx's ASGITransport would need httpx)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit


class Reply:
    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes):
        self.status = status
        self.headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in headers]
        self.body = body

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name.lower()), None)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.body[:500]!r}>"


async def call(app: Any, method: str, url: str, body: Any = None, headers: Sequence[tuple[str, str]] = ()) -> Reply:
    """One request; `url` as a client sends it (percent-encoded). A body that is not bytes is sent as JSON."""
    parts = urlsplit(url)
    raw = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    sent_headers = [(k.lower(), v) for k, v in headers]
    if raw and not any(k == "content-type" for k, _ in sent_headers):
        sent_headers.append(("content-type", "application/json"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(parts.path),
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "root_path": "",
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in sent_headers],
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 8000),
    }
    done = asyncio.Event()
    pending = [{"type": "http.request", "body": raw, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop()
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            done.set()

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Reply(start["status"], list(start.get("headers", [])), content)
