"""The key of the nominees' identification numbers (HMAC-SHA256, domain/identity.py).

A unit may give a person's identification number (CCCD); the client replaces it by its keyed hash before
anything starts, so the clear number is never stored nor sent to Temporal, and without the key a guessed
number cannot be checked against the record. Every client that starts nominations (CLI, API) must use the
same key, or the same person gets two keys and a duplicate goes unnoticed; the key does not rotate (a new
key would make every recorded hash unmatchable).

Configuration: `TDKT_IDENTITY_KEY` = base64 of at least 32 random bytes (`python -m security.identity_keys
new-key` prints one), or the key file `.state/identity-key.json`. Only the embedded demo and the test suite
(TDKT_GENERATE_KEYS=1, security/keys.py) generate that file when it is missing; anywhere else a missing key is
an error naming the variable and the file. The key is read only when a nomination carries an identification
number, so a deployment whose units never give one needs none.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import sys
from pathlib import Path

from security.keys import require_generation_allowed, write_private

KEY_ENV = "TDKT_IDENTITY_KEY"
MIN_KEY_BYTES = 32
ROOT = Path(__file__).resolve().parents[1]


def identity_key_from_env(env: dict[str, str] | None = None, state_dir: Path | None = None) -> bytes:
    """The configured key, or the local default's. ValueError naming the variable when it is malformed."""
    env = dict(os.environ) if env is None else env
    configured = env.get(KEY_ENV)
    if configured:
        return _decoded(configured.strip(), KEY_ENV)
    return _local_key((state_dir or ROOT / ".state") / "identity-key.json", env)


def new_key() -> str:
    """A fresh key, as TDKT_IDENTITY_KEY takes it."""
    return base64.b64encode(secrets.token_bytes(MIN_KEY_BYTES)).decode("ascii")


def _decoded(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{where}: not base64") from None
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"{where}: {len(key)} bytes; at least {MIN_KEY_BYTES} are needed")
    return key


def _local_key(path: Path, env: dict[str, str]) -> bytes:
    if not path.exists():
        require_generation_allowed("key for identification numbers", KEY_ENV, path, env)
        write_private(path, json.dumps({"key": new_key()}).encode(), replace=False)  # a concurrent creator's wins
    data = json.loads(path.read_text(encoding="utf-8"))
    return _decoded(str(data["key"]), str(path))


if __name__ == "__main__":  # python -m security.identity_keys new-key
    if sys.argv[1:] != ["new-key"]:
        print("usage: python -m security.identity_keys new-key", file=sys.stderr)
        raise SystemExit(2)
    print(new_key())
