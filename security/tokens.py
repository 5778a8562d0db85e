"""Signed tokens (JWT, HS256) naming the actor behind every human action.

Keys come from configuration: `TDKT_AUTH_KEYS` = comma-separated `kid:secret` pairs and `TDKT_AUTH_KEY_ID`
= the kid that signs new tokens; older kids keep verifying until removed, so keys rotate. Without them the
embedded demo keeps one generated key in `.state/auth-keys.json` (mode 0600; security/keys.py says who may
generate one). The CLI and any
service verify the token; the workflows' validators then check the actor's role against their roster
snapshot again, so a valid token never grants more than the roster does.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

from security.keys import refuse_published, require_generation_allowed, write_private

ISSUER = "tdkt-engine"
ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32
# A token is a bearer secret: one that outlives a working day is refused, wherever it was minted.
DEFAULT_MAX_TOKEN_TTL = timedelta(hours=12)
MAX_TTL_VARIABLE = "TDKT_TOKEN_MAX_HOURS"
# No configuration accepts a longer lifetime: a token any configuration accepts expires within this of now.
LONGEST_ACCEPTED_TTL = timedelta(hours=24 * 7)
# A token's id (`jti`): required, so every accepted token can be revoked (client/revocation.py), and short
# enough to be a key of `revoked_tokens`.
TOKEN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
ROOT = Path(__file__).resolve().parents[1]


class AuthError(Exception):
    """An unknown, expired or forged token; the message says which."""


@dataclass(frozen=True)
class Keyring:
    keys: dict[str, str]
    current: str
    max_ttl: timedelta = field(default=DEFAULT_MAX_TOKEN_TTL)

    def __post_init__(self) -> None:
        if self.max_ttl <= timedelta(0):
            raise ValueError(f"{MAX_TTL_VARIABLE}: the longest token lifetime must be positive")
        if self.current not in self.keys:
            raise ValueError(f"TDKT_AUTH_KEY_ID: {self.current!r} is not among the keys {sorted(self.keys)}")
        short = [kid for kid, secret in self.keys.items() if len(secret.encode()) < MIN_SECRET_BYTES]
        if short:
            raise ValueError(f"TDKT_AUTH_KEYS: key(s) {short} shorter than {MIN_SECRET_BYTES} bytes")


@dataclass(frozen=True)
class Identity:
    actor: str
    expires_at: datetime
    key_id: str
    token_id: str


def keyring_from_env(env: dict[str, str] | None = None, state_dir: Path | None = None) -> Keyring:
    env = dict(os.environ) if env is None else env
    max_ttl = _max_ttl(env.get(MAX_TTL_VARIABLE))
    configured = env.get("TDKT_AUTH_KEYS")
    if configured:
        keys = {}
        for pair in configured.split(","):
            kid, sep, secret = pair.strip().partition(":")
            if not sep or not kid or not secret:
                raise ValueError("TDKT_AUTH_KEYS: expected comma-separated kid:secret pairs")
            keys[kid] = secret
        refuse_published("TDKT_AUTH_KEYS", keys.values(), env)
        return Keyring(keys=keys, current=env.get("TDKT_AUTH_KEY_ID") or next(iter(keys)), max_ttl=max_ttl)
    return _local_keyring((state_dir or ROOT / ".state") / "auth-keys.json", max_ttl, env)


def _max_ttl(configured: str | None) -> timedelta:
    if configured is None or not configured.strip():
        return DEFAULT_MAX_TOKEN_TTL
    try:
        hours = float(configured)
    except ValueError:
        raise ValueError(f"{MAX_TTL_VARIABLE}: expected a number of hours, not {configured!r}") from None
    longest = LONGEST_ACCEPTED_TTL.total_seconds() / 3600
    if not 0 < hours <= longest:
        raise ValueError(f"{MAX_TTL_VARIABLE}: expected more than 0 and at most {longest:g} hours, not {configured}")
    return timedelta(hours=hours)


def _local_keyring(path: Path, max_ttl: timedelta, env: dict[str, str]) -> Keyring:
    if not path.exists():
        require_generation_allowed("token signing key", "TDKT_AUTH_KEYS", path, env)
        kid = f"local-{secrets.token_hex(4)}"
        document = {"current": kid, "keys": {kid: secrets.token_urlsafe(48)}}
        write_private(path, json.dumps(document).encode(), replace=False)  # a concurrent creator's file wins
    data = json.loads(path.read_text(encoding="utf-8"))
    return Keyring(keys=data["keys"], current=data["current"], max_ttl=max_ttl)


def issue_token(keyring: Keyring, actor: str, ttl: timedelta = timedelta(hours=8), now: datetime | None = None) -> str:
    """A token for `actor`, valid for `ttl` (at most the keyring's longest lifetime), with an id of its own."""
    if ttl > keyring.max_ttl:
        hours = keyring.max_ttl.total_seconds() / 3600
        raise ValueError(f"a token lives at most {hours:g} hours ({MAX_TTL_VARIABLE})")
    issued = now or datetime.now(UTC)
    claims = {"sub": actor, "iss": ISSUER, "iat": issued, "exp": issued + ttl, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, keyring.keys[keyring.current], algorithm=ALGORITHM, headers={"kid": keyring.current})


def verify_token(keyring: Keyring, token: str) -> Identity:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise AuthError("the token is not a signed token (malformed)") from None
    kid = header.get("kid")
    if header.get("alg") != ALGORITHM:
        raise AuthError(f"the token uses algorithm {header.get('alg')!r}; only {ALGORITHM} is accepted")
    if kid not in keyring.keys:
        raise AuthError(f"the token was signed with an unknown key {kid!r}")
    try:
        claims = jwt.decode(
            token,
            keyring.keys[kid],
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "exp", "iss", "iat"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("the token has expired; ask for a new one") from None
    except jwt.InvalidSignatureError:
        raise AuthError("the token's signature does not verify: it is forged or altered") from None
    except jwt.PyJWTError as err:
        raise AuthError(f"the token is invalid: {err}") from None
    issued_at = datetime.fromtimestamp(claims["iat"], UTC)
    expires_at = datetime.fromtimestamp(claims["exp"], UTC)
    if expires_at - issued_at > keyring.max_ttl:
        raise AuthError(
            f"the token lives longer than {keyring.max_ttl.total_seconds() / 3600:g} hours ({MAX_TTL_VARIABLE}); "
            "ask for a new one"
        )
    token_id = claims.get("jti")
    if not isinstance(token_id, str) or not TOKEN_ID.fullmatch(token_id):
        raise AuthError("the token has no usable id (jti), so it could not be revoked; ask for a new one")
    return Identity(actor=str(claims["sub"]), expires_at=expires_at, key_id=kid, token_id=token_id)
