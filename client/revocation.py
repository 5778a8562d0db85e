"""Revoked tokens: a signed token whose id (`jti`) is listed in `revoked_tokens` is refused by the CLI, the API
and the inbox until it expires (and for its expiry after that).

Who may revoke: the token's own actor, presenting the token (signing out everywhere that token is used), and an
operator holding the signing keys (the CLI's `token revoke --jti`, the same trust as `token issue`). Other tokens
of the same actor keep working.

Each process remembers, for CACHE_SECONDS, that a token was not revoked when it last asked the database: a token
revoked through another process (another API replica, the CLI) may still be accepted for up to CACHE_SECONDS by
a process that checked it just before. A revocation is never undone, so a token once found revoked stays refused
in the process without asking again, and a revocation made in a process is known to that process at once.
When the database cannot be read the check fails closed: the token is refused (RevocationUnavailable).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from security.tokens import LONGEST_ACCEPTED_TTL, TOKEN_ID, AuthError, Identity, Keyring, verify_token
from store.db import dialect_insert
from store.schema import revoked_tokens

CACHE_SECONDS = 5.0
MAX_CACHED = 10_000
MAX_REASON = 500
# `revoked_by` of a revocation by id alone through the CLI with the signing keys; no actor id contains '@'.
OPERATOR = "@operator"

EngineSource = AsyncEngine | Callable[[], AsyncEngine]
Clock = Callable[[], float]


class TokenRevoked(AuthError):
    """The token is listed as revoked; the message names its id, in English and Vietnamese."""

    def __init__(self, token_id: str):
        self.token_id = token_id
        super().__init__(
            f"the token {token_id} has been revoked; ask for a new one "
            f"(mã đăng nhập {token_id} đã bị thu hồi, đề nghị cấp mã mới)"
        )


class RevocationUnavailable(Exception):
    """The revoked tokens could not be read or written (database unreachable, schema not migrated)."""


@dataclass(frozen=True)
class Revocation:
    jti: str
    actor_id: str | None  # None: revoked by id alone, whoever's it was
    revoked_by: str
    reason: str | None
    revoked_at: datetime
    expires_at: datetime


def _utc(value: datetime) -> datetime:
    # SQLite hands timezone-aware columns back naive; they were written in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _unavailable(err: Exception) -> RevocationUnavailable:
    return RevocationUnavailable(
        f"cannot read the revoked tokens from the database ({type(err).__name__}); is DATABASE_URL right and the "
        "schema migrated (`starter.py db upgrade`)?"
    )


class RevocationStore:
    """revoke / is_revoked / prune over `revoked_tokens`, with the short per-process memory the module describes."""

    def __init__(self, engine: EngineSource, *, cache_seconds: float = CACHE_SECONDS, clock: Clock | None = None):
        self._source = engine
        self.cache_seconds = cache_seconds
        self._clock = clock or time.monotonic
        self._not_revoked: OrderedDict[str, float] = OrderedDict()  # jti -> when the database said so
        self._revoked: OrderedDict[str, float] = OrderedDict()  # jti -> when this process learnt it

    def _engine(self) -> AsyncEngine:
        return self._source if isinstance(self._source, AsyncEngine) else self._source()

    def _remember(self, table: OrderedDict[str, float], jti: str, at: float) -> None:
        table[jti] = at
        table.move_to_end(jti)
        while len(table) > MAX_CACHED:
            table.popitem(last=False)

    async def is_revoked(self, jti: str) -> bool:
        if jti in self._revoked:
            return True
        checked = self._not_revoked.get(jti)
        if checked is not None and self._clock() - checked < self.cache_seconds:
            return False
        asked_at = self._clock()  # the answer holds from when it was asked, not from when it came back
        try:
            async with self._engine().connect() as conn:
                found = await conn.scalar(sa.select(revoked_tokens.c.jti).where(revoked_tokens.c.jti == jti))
        except (SQLAlchemyError, OSError) as err:
            raise _unavailable(err) from None
        if found is not None:
            self._not_revoked.pop(jti, None)
            self._remember(self._revoked, jti, asked_at)
            return True
        self._remember(self._not_revoked, jti, asked_at)
        return False

    async def check(self, identity: Identity) -> Identity:
        """The identity again if its token is not revoked; TokenRevoked naming the token's id if it is."""
        if await self.is_revoked(identity.token_id):
            raise TokenRevoked(identity.token_id)
        return identity

    async def revoke(
        self,
        jti: str,
        *,
        by: str,
        expires_at: datetime,
        actor_id: str | None = None,
        reason: str | None = None,
        now: datetime | None = None,
    ) -> tuple[Revocation, bool]:
        """Lists the token as revoked until `expires_at`; revoking it again changes nothing. Returns the
        revocation as recorded (the first, when it was already revoked) and whether this call made it. Rows of
        tokens expired by now are pruned in the same transaction."""
        if not TOKEN_ID.fullmatch(jti):
            raise ValueError(f"jti: {jti!r} is not a token id (1 to 64 letters, digits, '.', '_' or '-')")
        if expires_at.tzinfo is None:
            raise ValueError("expires_at: a timezone-aware time is required")
        if reason is not None:
            reason = reason.strip() or None
        if reason is not None and len(reason) > MAX_REASON:
            raise ValueError(f"reason: at most {MAX_REASON} characters")
        at = now or datetime.now(UTC)
        row = {
            "jti": jti,
            "actor_id": actor_id,
            "revoked_by": by,
            "reason": reason,
            "revoked_at": at,
            "expires_at": expires_at.astimezone(UTC),
        }
        try:
            async with self._engine().begin() as conn:
                await conn.execute(sa.delete(revoked_tokens).where(revoked_tokens.c.expires_at < at))
                insert = dialect_insert(conn, revoked_tokens).values(**row)
                made = await conn.execute(insert.on_conflict_do_nothing(index_elements=[revoked_tokens.c.jti]))
                stored = (await conn.execute(sa.select(revoked_tokens).where(revoked_tokens.c.jti == jti))).one()
        except (SQLAlchemyError, OSError) as err:
            raise _unavailable(err) from None
        self._not_revoked.pop(jti, None)
        self._remember(self._revoked, jti, self._clock())
        created = made.rowcount == 1
        return (
            Revocation(
                jti=stored.jti,
                actor_id=stored.actor_id,
                revoked_by=stored.revoked_by,
                reason=stored.reason,
                revoked_at=_utc(stored.revoked_at),
                expires_at=_utc(stored.expires_at),
            ),
            created,
        )

    async def revoke_own(self, identity: Identity, reason: str | None = None) -> tuple[Revocation, bool]:
        """The token's own actor revokes the token it presents (sign-out everywhere it is used)."""
        return await self.revoke(
            identity.token_id, by=identity.actor, actor_id=identity.actor, expires_at=identity.expires_at, reason=reason
        )

    async def revoke_by_id(self, jti: str, reason: str, now: datetime | None = None) -> tuple[Revocation, bool]:
        """An operator with the signing keys revokes a token by its id alone. Its expiry is unknown here, so the
        row is kept as long as any configuration lets a token live."""
        at = now or datetime.now(UTC)
        return await self.revoke(jti, by=OPERATOR, expires_at=at + LONGEST_ACCEPTED_TTL, reason=reason, now=at)

    async def prune(self, now: datetime | None = None) -> int:
        """Deletes the rows of tokens that have expired (they are refused for their expiry); returns how many."""
        try:
            async with self._engine().begin() as conn:
                done = await conn.execute(
                    sa.delete(revoked_tokens).where(revoked_tokens.c.expires_at < (now or datetime.now(UTC)))
                )
        except (SQLAlchemyError, OSError) as err:
            raise _unavailable(err) from None
        return int(done.rowcount)


async def verify_live(keyring: Keyring, store: RevocationStore, token: str) -> Identity:
    """verify_token, then the revocation check: AuthError (TokenRevoked for a revoked token), or
    RevocationUnavailable when the check cannot be made."""
    return await store.check(verify_token(keyring, token))
