"""Idempotency keys (``Idempotency-Key`` header) on the creating calls, on casting a ballot and on filing an
objection: a client whose answer was lost retries with the same key and gets it (a ballot's receipt, which
the voter could not get otherwise: a second ballot is refused; an objection is not filed twice).

The same key with the same request (method, path and body, compared as canonical JSON) answers with the
original response — same status, same body — and does nothing again; the same key with another request is a
409 problem. Keys are the actor's own: answers are kept by (token actor, key); filing an objection needs no
token, so those keys are everyone's (ANONYMOUS): use a random one (a UUID). Only successful answers are kept
(an error leaves nothing to protect: the caller may fix the request and retry with the same key).

Where they are kept: in the database (table `idempotency_keys`, store/idempotency.py) for `ttl` (24 h), so a
retry after a restart of the API, or sent to another replica, is answered the same. The app attaches its
database to the store (`attach`); a store given no database keeps answers in this process only (bounded).
Concurrent retries in one process wait for the first attempt; across replicas the first answer written is
the one kept and replayed (the workflow id is the business key behind it, so the work is never done twice).
When the database cannot be read a request with a key is answered 503 (retry later with the same key),
never acted on unprotected.

A ballot's choices must not be recoverable from what is kept: a ballot's request is fingerprinted with
`secret_fingerprint`, an HMAC under a key derived from the API's current token-signing key (which the
database does not hold), not the plain hash, which anyone could match against the few possible ballots.
After the signing key is rotated, a ballot retried with a key kept before the rotation no longer matches
(409): the ballot itself was cast and counted, and its receipt was the first answer.
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
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Response
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from api.problems import ProblemError, invalid
from security.tokens import Keyring
from store import idempotency as kept

MAX_KEY_CHARS = 255
REPLAYED_HEADER = "Idempotent-Replayed"
# Headers of the original answer that are given again on a replay.
KEPT_HEADERS = ("location", "content-type")
# Expired rows are deleted at most this often by each process (a row past its time never counts anyway).
PRUNE_EVERY_SECONDS = 3600.0

# The slot of requests made without a token (filing an objection); never an actor id (those have no spaces).
ANONYMOUS = "(no token)"

EngineSource = Callable[[], AsyncEngine]
Clock = Callable[[], datetime]


def _canonical(method: str, path: str, body: Any) -> bytes:
    return json.dumps([method.upper(), path, body], sort_keys=True, ensure_ascii=False, default=str).encode()


def fingerprint(method: str, path: str, body: Any) -> str:
    return hashlib.sha256(_canonical(method, path, body)).hexdigest()


def fingerprint_secret(keyring: Keyring) -> bytes:
    """The key of `secret_fingerprint`: derived from the current token-signing key, the same in every replica
    and across restarts, never stored."""
    return hmac.new(keyring.keys[keyring.current].encode(), b"tdkt idempotency fingerprint", hashlib.sha256).digest()


def check_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY_CHARS or not key.isprintable():
        raise invalid("Idempotency-Key", f"1 to {MAX_KEY_CHARS} printable characters")
    return key


def _unavailable(err: Exception) -> ProblemError:
    return ProblemError(
        "service-unavailable",
        f"cannot read the idempotency keys from the database ({type(err).__name__}); retry later with the same "
        "Idempotency-Key",
    )


class IdempotencyStore:
    """`run` answers a request once per (actor, key): in the database once `attach`ed (or given `engine`), else
    in this process."""

    def __init__(
        self,
        ttl_seconds: float = 24 * 3600,
        max_entries: int = 10_000,
        *,
        engine: EngineSource | None = None,
        secret: bytes | None = None,
        clock: Clock | None = None,
    ):
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._engine = engine
        self._secret = secret
        self._clock = clock or (lambda: datetime.now(UTC))
        self._memory: OrderedDict[tuple[str, str], kept.KeptAnswer] = OrderedDict()
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._waiting: dict[tuple[str, str], int] = {}
        self._pruned_at: float | None = None

    def attach(self, engine: EngineSource, keyring: Keyring) -> None:
        """Keep answers in `engine`'s database and key secret fingerprints from `keyring`, unless this store was
        given its own."""
        self._engine = self._engine or engine
        self._secret = self._secret or fingerprint_secret(keyring)

    @property
    def durable(self) -> bool:
        return self._engine is not None

    def __len__(self) -> int:
        """Answers kept in this process (a durable store keeps none here)."""
        return len(self._memory)

    def secret_fingerprint(self, method: str, path: str, body: Any) -> str:
        """As `fingerprint`, for a body whose content is secret (a ballot's choices): keyed, so that the kept
        value reveals nothing to whoever reads the database. Unattached, the key is this process's own."""
        if self._secret is None:
            self._secret = secrets.token_bytes(32)
        return "hmac:" + hmac.new(self._secret, _canonical(method, path, body), hashlib.sha256).hexdigest()

    async def run(
        self, actor: str, key: str | None, request_fingerprint: str, compute: Callable[[], Awaitable[Response]]
    ) -> Response:
        """`compute()`'s response, or the one kept under (actor, key) for the same request."""
        if key is None:
            return await compute()
        slot = (actor, check_key(key))
        lock = self._locks.setdefault(slot, asyncio.Lock())
        self._waiting[slot] = self._waiting.get(slot, 0) + 1
        try:
            async with lock:  # a concurrent retry waits for the first attempt's answer
                found = await self._find(slot)
                if found is not None:
                    return self._replay(found, key, request_fingerprint)
                response = await compute()
                if 200 <= response.status_code < 300:
                    stays = await self._keep(slot, response, request_fingerprint)
                    if stays.fingerprint != request_fingerprint or stays.body != bytes(response.body):
                        # Another replica answered this key first: its answer is the one every retry gets.
                        return self._replay(stays, key, request_fingerprint)
                return response
        finally:
            self._waiting[slot] -= 1
            if not self._waiting[slot]:
                del self._waiting[slot], self._locks[slot]

    @staticmethod
    def _replay(found: kept.KeptAnswer, key: str, request_fingerprint: str) -> Response:
        if found.fingerprint != request_fingerprint:
            raise ProblemError(
                "idempotency-key-reused",
                f"Idempotency-Key {key!r} was used for a different request; nothing was done",
            )
        return Response(found.body, status_code=found.status, headers={**dict(found.headers), REPLAYED_HEADER: "true"})

    async def _find(self, slot: tuple[str, str]) -> kept.KeptAnswer | None:
        now = self._clock()
        if self._engine is None:
            found = self._memory.get(slot)
            if found is not None and found.expires_at <= now:
                del self._memory[slot]
                return None
            return found
        try:
            return await kept.find(self._engine(), *slot, now)
        except (SQLAlchemyError, OSError) as err:
            raise _unavailable(err) from None

    async def _keep(self, slot: tuple[str, str], response: Response, request_fingerprint: str) -> kept.KeptAnswer:
        now = self._clock()
        answer = kept.KeptAnswer(
            fingerprint=request_fingerprint,
            status=response.status_code,
            body=bytes(response.body),
            headers=tuple((k, v) for k, v in response.headers.items() if k.lower() in KEPT_HEADERS),
            created_at=now,
            expires_at=now + timedelta(seconds=self.ttl_seconds),
        )
        if self._engine is None:
            self._memory[slot] = answer
            self._memory.move_to_end(slot)
            while len(self._memory) > self.max_entries:
                self._memory.popitem(last=False)
            return answer
        engine = self._engine()
        try:
            stays = await kept.keep(engine, *slot, answer)
            if self._pruned_at is None or time.monotonic() - self._pruned_at > PRUNE_EVERY_SECONDS:
                self._pruned_at = time.monotonic()
                await kept.prune(engine, now)
        except (SQLAlchemyError, OSError):
            # Done, but not kept: the caller gets this answer; a retry after a restart may act again, where the
            # business key (the workflow id) refuses a second workflow.
            return answer
        return stays
