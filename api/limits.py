"""Bounds on what a request may cost before any route reads it.

A body is read in chunks and refused (413) as soon as it passes the limit, whether or not it announced
its length; a JSON body nested deeper than any request of this API needs is refused (422 naming `body`)
before a parser recurses into it. Both answers are problem details like every other error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request

from api.problems import problem_response
from domain.errors import FieldError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 8 * 1024 * 1024
# A nomination is an object holding a nominee object and a list of document objects: depth 3; a batch adds 2.
MAX_JSON_DEPTH = 16
OPEN, CLOSE, QUOTE, ESCAPE = frozenset(b"[{"), frozenset(b"]}"), ord('"'), ord("\\")


def json_depth(body: bytes, limit: int = MAX_JSON_DEPTH) -> int:
    """The deepest nesting of arrays and objects in `body` (strings skipped), counting no further than
    limit + 1: linear in the body's length, no recursion, whatever the body holds."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == ESCAPE:
                escaped = True
            elif byte == QUOTE:
                in_string = False
        elif byte == QUOTE:
            in_string = True
        elif byte in OPEN:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif byte in CLOSE:
            depth -= 1
    return deepest


class BodyLimits:
    """ASGI middleware: at most `max_bytes` of body per request; JSON bodies at most `max_depth` deep."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_JSON_DEPTH) -> None:
        self.app, self.max_bytes, self.max_depth = app, max_bytes, max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(request, scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(request, scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if "json" in request.headers.get("content-type", "json").lower() and json_depth(body) > self.max_depth:
            message_text = f"JSON nested deeper than {self.max_depth} levels"
            response = problem_response(
                request, "invalid-input", message_text, errors=[FieldError(field="body", message=message_text)]
            )
            await response(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, request: Request, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the body is larger than {self.max_bytes} bytes"
        response = problem_response(
            request, "payload-too-large", detail, errors=[FieldError(field="body", message=detail)]
        )
        await response(scope, receive, send)
