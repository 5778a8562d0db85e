"""Tokens live at most the configured lifetime (12 hours unless TDKT_TOKEN_MAX_HOURS says otherwise): one that
outlives it is neither issued nor accepted, wherever it was minted; each token carries an id of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from security.tokens import ALGORITHM, ISSUER, AuthError, Keyring, issue_token, keyring_from_env, verify_token

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s" * 40
RING = Keyring(keys={"k1": SECRET}, current="k1")


def minted(lifetime: timedelta, **claims: object) -> str:
    """A token signed with the genuine key but minted outside issue_token (no lifetime check)."""
    now = datetime.now(UTC)
    body = {"sub": "btp.hd.thu-ky", "iss": ISSUER, "iat": now, "exp": now + lifetime} | claims
    return jwt.encode(body, SECRET, algorithm=ALGORITHM, headers={"kid": "k1"})


def test_the_default_longest_lifetime_is_twelve_hours():
    assert RING.max_ttl == timedelta(hours=12)
    assert verify_token(RING, issue_token(RING, "btp.hd.thu-ky", timedelta(hours=12))).actor == "btp.hd.thu-ky"
    with pytest.raises(ValueError, match="at most 12 hours"):
        issue_token(RING, "btp.hd.thu-ky", timedelta(hours=12, seconds=1))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=12 * 3600 + 1, max_value=10 * 365 * 24 * 3600))
def test_a_longer_lived_token_signed_with_the_genuine_key_is_refused(seconds: int):
    with pytest.raises(AuthError, match="lives longer than 12 hours"):
        verify_token(RING, minted(timedelta(seconds=seconds)))


def test_a_token_without_its_issue_time_is_refused():
    token = jwt.encode(
        {"sub": "btp.hd.thu-ky", "iss": ISSUER, "exp": datetime.now(UTC) + timedelta(hours=1)},
        SECRET,
        algorithm=ALGORITHM,
        headers={"kid": "k1"},
    )
    with pytest.raises(AuthError, match="iat"):
        verify_token(RING, token)


def test_each_token_has_an_id_of_its_own():
    first, second = (verify_token(RING, issue_token(RING, "btp.hd.thu-ky")) for _ in range(2))
    assert first.token_id and second.token_id and first.token_id != second.token_id


def test_the_longest_lifetime_comes_from_configuration():
    env = {"TDKT_AUTH_KEYS": f"k1:{SECRET}", "TDKT_TOKEN_MAX_HOURS": "2"}
    ring = keyring_from_env(env)
    assert ring.max_ttl == timedelta(hours=2)
    with pytest.raises(AuthError, match="longer than 2 hours"):
        verify_token(ring, minted(timedelta(hours=3)))
    for bad in ("0", "-1", "many", "1000"):
        with pytest.raises(ValueError, match="TDKT_TOKEN_MAX_HOURS"):
            keyring_from_env(env | {"TDKT_TOKEN_MAX_HOURS": bad})


def test_the_cli_refuses_to_issue_a_ten_year_token():
    env = dict(os.environ) | {"TDKT_AUTH_KEYS": f"k1:{SECRET}", "TDKT_AUTH_KEY_ID": "k1"}
    args = [sys.executable, str(ROOT / "starter.py"), "token", "issue", "--for", "btp.hd.thu-ky"]
    refused = subprocess.run([*args, "--ttl-hours", "87600"], env=env, capture_output=True, text=True, cwd=ROOT)
    assert refused.returncode == 2, refused.stderr
    assert "--ttl-hours" in refused.stderr and "12 hours" in refused.stderr
    assert not refused.stdout.strip()
    issued = subprocess.run([*args, "--ttl-hours", "8"], env=env, capture_output=True, text=True, cwd=ROOT)
    assert issued.returncode == 0, issued.stderr
    assert verify_token(RING, issued.stdout.strip().splitlines()[-1]).actor == "btp.hd.thu-ky"
