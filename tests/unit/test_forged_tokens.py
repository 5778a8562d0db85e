"""Forged tokens, generated: every way of altering a genuine token, or of making one without the signing
key, is refused with AuthError; the genuine token still verifies. How many are refused: 3 properties ×
1,000 examples plus the fixed cases."""

from __future__ import annotations

import base64
import json
import warnings
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt.warnings import InsecureKeyLengthWarning

from security.tokens import ALGORITHM, ISSUER, AuthError, Keyring, issue_token, verify_token


def hs512_with_the_right_secret() -> str:
    """A token the right secret signs with HS512; the secret is short for HS512, which is the forger's concern."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(
            {"sub": ACTOR, "iss": ISSUER, "exp": 4102444800}, "s" * 40, algorithm="HS512", headers={"kid": "k1"}
        )


RING = Keyring(keys={"k1": "s" * 40, "k0": "o" * 40}, current="k1")
ACTOR = "btp.hd.thu-ky"
GENUINE = issue_token(RING, ACTOR, timedelta(hours=12))
EXAMPLES = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
actors = st.from_regex(r"[a-z0-9][a-z0-9._-]{1,40}", fullmatch=True)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_the_genuine_token_verifies():
    assert verify_token(RING, GENUINE).actor == ACTOR


@EXAMPLES
@given(st.integers(min_value=0), st.integers(min_value=1, max_value=255))
def test_a_token_with_any_byte_changed_is_refused(position: int, flip: int):
    raw = bytearray(GENUINE.encode())
    index = position % len(raw)
    raw[index] ^= flip
    altered = raw.decode("latin-1")
    if altered == GENUINE:  # pragma: no cover - a non-zero xor always changes the byte
        return
    try:
        identity = verify_token(RING, altered)
    except AuthError:
        return
    # Base64url's last character can carry unused bits: a change there may decode to the very same bytes.
    segments, genuine_segments = altered.split("."), GENUINE.split(".")
    assert [unb64(s) for s in segments] == [unb64(s) for s in genuine_segments], altered
    assert identity.actor == ACTOR


@EXAMPLES
@given(actors, st.integers(min_value=-3650, max_value=3650))
def test_claims_rewritten_without_the_key_are_refused(actor: str, days: int):
    header, _, signature = GENUINE.split(".")
    now = datetime.now(UTC)
    claims = {
        "sub": actor,
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(days=days)).timestamp()),
    }
    forged = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
    with pytest.raises(AuthError):
        verify_token(RING, forged)


@EXAMPLES
@given(actors, st.binary(min_size=32, max_size=64), st.sampled_from(["k1", "k0", "k9", ""]))
def test_tokens_signed_with_any_other_secret_are_refused(actor: str, secret: bytes, kid: str):
    claims = {"sub": actor, "iss": ISSUER, "exp": datetime.now(UTC) + timedelta(hours=1)}
    forged = jwt.encode(claims, secret, algorithm=ALGORITHM, headers={"kid": kid})
    with pytest.raises(AuthError):
        verify_token(RING, forged)


@pytest.mark.parametrize(
    "forged",
    [
        # The "none" algorithm: no signature at all.
        b64(json.dumps({"alg": "none", "kid": "k1"}).encode())
        + "."
        + b64(json.dumps({"sub": ACTOR, "iss": ISSUER, "exp": 4102444800}).encode())
        + ".",
        # HS512 with the right secret: only HS256 is accepted.
        hs512_with_the_right_secret(),
        # Another issuer, the right key.
        jwt.encode(
            {"sub": ACTOR, "iss": "other", "exp": 4102444800}, "s" * 40, algorithm=ALGORITHM, headers={"kid": "k1"}
        ),
        # No expiry.
        jwt.encode({"sub": ACTOR, "iss": ISSUER}, "s" * 40, algorithm=ALGORITHM, headers={"kid": "k1"}),
        # Expired a second ago.
        issue_token(RING, ACTOR, timedelta(hours=1), now=datetime.now(UTC) - timedelta(hours=1, seconds=1)),
        "",
        "not-a-token",
        GENUINE.rsplit(".", 1)[0],  # signature dropped
    ],
    ids=["alg-none", "hs512", "issuer", "no-exp", "expired", "empty", "garbage", "unsigned"],
)
def test_well_known_forgeries_are_refused(forged: str):
    with pytest.raises(AuthError):
        verify_token(RING, forged)
