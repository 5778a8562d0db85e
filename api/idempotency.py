"""Idempotency keys (``Idempotency-Key`` header) on the creating calls, on casting a ballot and on filing an
objection: a client whose answer was lost retries with the same key and gets it (a ballot's receipt, which
the voter could not get otherwise: a second ballot is refused; an objection is not filed twice).

The same key with the same request (method, path and body, compared as canonical JSON) answers with the
original response — same status, same body — and does nothing again; the same key with another request is a
409 problem. Keys are the actor's own: the store is keyed by (token actor, key); filing an objection needs no
token, so those keys are everyone's (ANONYMOUS): use a random one (a UUID). Only successful answers are kept
(an error leaves nothing to protect: the caller may fix the request and retry with the same key).

A ballot's choices must not be recoverable from what is kept: a ballot's request is fingerprinted with
`secret_fingerprint`, a keyed hash under a random key of this process (never written anywhere), not the
plain hash, which anyone could match against the few possible ballots.

The store lives in this process (bounded, entries expire after `ttl`): no migration was available for a
table. What survives a restart is Temporal's own refusal of a second workflow with the same business key
(nomination: year, ministry, reference; session: kind, scope, meeting; decision: number): a retry after a
restart finds the existing workflow and — when it is the same request — answers 200 with it. A ballot or
an objection has no such business key: retried after a restart of this API, a ballot is refused (409, the
voter has voted) and an objection is filed again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Response

from api.problems import ProblemError, invalid

MAX_KEY_CHARS = 255
REPLAYED_HEADER = "Idempotent-Replayed"
# Headers of the original answer that are given again on a replay.
KEPT_HEADERS = ("location", "content-type")


@dataclass(frozen=True)
class Stored:
    fingerprint: str
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...]
    stored_at: float


# The slot of requests made without a token (filing an objection); never an actor id (those have no spaces).
ANONYMOUS = "(no token)"
_PROCESS_KEY = secrets.token_bytes(32)


def _canonical(method: str, path: str, body: Any) -> bytes:
    return json.dumps([method.upper(), path, body], sort_keys=True, ensure_ascii=False, default=str).encode()


def fingerprint(method: str, path: str, body: Any) -> str:
    return hashlib.sha256(_canonical(method, path, body)).hexdigest()


def secret_fingerprint(method: str, path: str, body: Any) -> str:
    """As `fingerprint`, for a body whose content is secret (a ballot's choices): keyed with this process's
    random key, so that the stored value reveals nothing outside this process."""
    return hmac.new(_PROCESS_KEY, _canonical(method, path, body), hashlib.sha256).hexdigest()


def check_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY_CHARS or not key.isprintable():
        raise invalid("Idempotency-Key", f"1 to {MAX_KEY_CHARS} printable characters")
    return key


class IdempotencyStore:
    def __init__(self, ttl_seconds: float = 24 * 3600, max_entries: int = 10_000):
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], Stored] = OrderedDict()
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._waiting: dict[tuple[str, str], int] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def run(
        self, actor: str, key: str | None, request_fingerprint: str, compute: Callable[[], Awaitable[Response]]
    ) -> Response:
        """`compute()`'s response, or the one stored under (actor, key) for the same request."""
        if key is None:
            return await compute()
        slot = (actor, check_key(key))
        lock = self._locks.setdefault(slot, asyncio.Lock())
        self._waiting[slot] = self._waiting.get(slot, 0) + 1
        try:
            async with lock:  # a concurrent retry waits for the first attempt's answer
                stored = self._get(slot)
                if stored is not None:
                    if stored.fingerprint != request_fingerprint:
                        raise ProblemError(
                            "idempotency-key-reused",
                            f"Idempotency-Key {key!r} was used for a different request; nothing was done",
                        )
                    return Response(
                        stored.body,
                        status_code=stored.status,
                        headers={**dict(stored.headers), REPLAYED_HEADER: "true"},
                    )
                response = await compute()
                if 200 <= response.status_code < 300:
                    self._put(slot, response, request_fingerprint)
                return response
        finally:
            self._waiting[slot] -= 1
            if not self._waiting[slot]:
                del self._waiting[slot], self._locks[slot]

    def _get(self, slot: tuple[str, str]) -> Stored | None:
        stored = self._entries.get(slot)
        if stored is not None and time.monotonic() - stored.stored_at > self.ttl_seconds:
            del self._entries[slot]
            return None
        return stored

    def _put(self, slot: tuple[str, str], response: Response, request_fingerprint: str) -> None:
        headers = tuple((k, v) for k, v in response.headers.items() if k.lower() in KEPT_HEADERS)
        body = bytes(response.body)
        self._entries[slot] = Stored(request_fingerprint, response.status_code, body, headers, time.monotonic())
        self._entries.move_to_end(slot)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
