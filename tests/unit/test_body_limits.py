"""Bodies are bounded before any route reads them: over the size limit → 413 as soon as the limit is passed
(announced or not), nested deeper than the limit → 422 naming `body`; never a 500 or a RecursionError."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api import create_app
from api.limits import MAX_BODY_BYTES, MAX_JSON_DEPTH, BodyLimits, json_depth
from security.tokens import Keyring
from tests.asgi import call

RING = Keyring(keys={"k1": "s" * 40}, current="k1")


@pytest.fixture
def app() -> Any:
    async def no_temporal() -> Any:
        raise AssertionError("a refused body never reaches Temporal")

    return create_app(no_temporal, keyring=RING, task_queue="unused")


def problem(reply: Any, status: int, slug: str) -> dict[str, Any]:
    assert reply.status == status, reply
    assert reply.header("content-type") == "application/problem+json"
    body = reply.json()
    assert body["type"] == f"/problems/{slug}"
    return body


async def test_a_deeply_nested_body_is_refused_naming_the_body(app: Any):
    for depth in (MAX_JSON_DEPTH + 1, 100_000):
        body = ("[" * depth + "]" * depth).encode()
        reply = await call(app, "POST", "/nominations", body, headers=[("content-type", "application/json")])
        found = problem(reply, 422, "invalid-input")
        assert found["errors"] == [{"field": "body", "message": f"JSON nested deeper than {MAX_JSON_DEPTH} levels"}]


async def test_an_announced_oversized_body_is_refused_before_it_is_read(app: Any):
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 1024, "more_body": True}

    status, body = await raw_call(app, receive, [(b"content-length", str(MAX_BODY_BYTES + 1).encode())])
    assert status == 413 and reads == 0
    assert json.loads(body)["errors"][0]["field"] == "body"


async def test_an_unannounced_stream_stops_at_the_limit():
    chunk = b"x" * (1024 * 1024)
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": chunk, "more_body": reads < 100}  # 100 MiB offered

    async def route(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the route never sees an oversized body")

    status, body = await raw_call(BodyLimits(route), receive, [(b"content-type", b"text/csv")])
    assert status == 413
    assert reads == MAX_BODY_BYTES // len(chunk) + 1  # read up to the first chunk past the limit, no further
    assert json.loads(body)["type"] == "/problems/payload-too-large"


async def test_a_body_within_the_limits_reaches_the_route_whole():
    seen: list[bytes] = []
    payload = json.dumps({"a": [{"b": [1, 2, {"c": 'brackets in a string: ]]]]{{{{ and a quote \\"'}]}]}).encode()

    async def route(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        seen.append(message["body"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    parts = [payload[:10], payload[10:]]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": parts.pop(0), "more_body": bool(parts)}

    status, _ = await raw_call(BodyLimits(route), receive, [(b"content-type", b"application/json")])
    assert status == 204 and seen == [payload]


@given(
    st.recursive(
        st.none() | st.integers() | st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)
    )
)
def test_json_depth_agrees_with_the_structure(value: Any):
    def depth(v: Any) -> int:
        if isinstance(v, list):
            return 1 + max((depth(x) for x in v), default=0)
        if isinstance(v, dict):
            return 1 + max((depth(x) for x in v.values()), default=0)
        return 0

    assert json_depth(json.dumps(value).encode(), limit=10_000) == depth(value)


async def raw_call(app: Any, receive: Any, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/nominations:import",
        "raw_path": b"/nominations:import",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 8000),
    }
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


@given(st.binary(min_size=1, max_size=200), st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_a_page_token_opens_only_as_given(raw: bytes, position: int, flip: int):
    from api.page_tokens import opened_page_token, sealed_page_token

    given_token = sealed_page_token(RING, raw)
    assert opened_page_token(RING, given_token) == raw
    decoded = bytearray(base64.urlsafe_b64decode(given_token + "=" * (-len(given_token) % 4)))
    decoded[position % len(decoded)] ^= flip
    altered = base64.urlsafe_b64encode(bytes(decoded)).decode().rstrip("=")
    assert opened_page_token(RING, altered) is None
    other = Keyring(keys={"k2": "o" * 40}, current="k2")
    assert opened_page_token(other, given_token) is None
