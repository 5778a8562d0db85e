"""The audit chain's keys: each entry's hash is an HMAC-SHA256 under a key the database does not hold.

Keys: ``TDKT_AUDIT_KEYS`` = ``id:base64key[,id:base64key...]`` (32-byte keys) and ``TDKT_AUDIT_KEY_ID`` = the id
that keys new entries; every key listed verifies. Each audit row records the id of the key it was written under,
so old entries keep verifying after a rotation as long as their key stays listed. Without the variables, the key
file ``.state/audit-keys.json`` (``TDKT_AUDIT_KEY_FILE`` moves it), mode 0600; it is made only when the embedded
demo's switch allows it (security/keys.py). Otherwise a missing key stops the process, naming the variable and
the file.

Whoever holds the key and write access to the database can still rewrite the chain consistently: the anchors
(workflows/audit_anchor.py) catch that for everything written before the latest anchor. Keep the key away from
the database's administrators: in the worker's secret store, not in the database or its backups.

``python -m security.audit_keys new-key`` prints a fresh ``id:base64key``; ``python -m security.audit_keys rotate``
adds one to the key file and makes it current (restart the worker afterwards).
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

from security import keyrings
from security.keyrings import KEY_ID, KeyringFormat
from security.keys import MissingKey, PublishedKey, refuse_published, require_generation_allowed

KEYS_ENV = "TDKT_AUDIT_KEYS"
KEY_ID_ENV = "TDKT_AUDIT_KEY_ID"
KEY_FILE_ENV = "TDKT_AUDIT_KEY_FILE"
KEY_BYTES = 32

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_KEY_FILE = REPO_ROOT / ".state" / "audit-keys.json"


class AuditKeyError(MissingKey):
    """The audit keys cannot be read: missing (named with the variable and the file), malformed or published.
    A MissingKey, so whatever stops a process on a missing key stops it on this one. Never holds key material."""


@dataclass(frozen=True)
class AuditKeyring:
    """The keys that verify (by id), and the id of the one that keys new entries."""

    current_id: str
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        for key_id, key in self.keys.items():
            if not KEY_ID.fullmatch(key_id):
                raise AuditKeyError(f"audit key id {key_id!r} must be 1-64 of A-Z a-z 0-9 . _ -")
            if len(key) != KEY_BYTES:
                raise AuditKeyError(f"audit key {key_id!r} is {len(key)} bytes; it must be {KEY_BYTES}")
        if self.current_id not in self.keys:
            raise AuditKeyError(f"the current audit key id {self.current_id!r} is not among {sorted(self.keys)}")
        object.__setattr__(self, "keys", dict(self.keys))

    def __repr__(self) -> str:  # never print the keys
        return f"AuditKeyring(current_id={self.current_id!r}, key_ids={sorted(self.keys)!r})"

    @property
    def configured_in(self) -> str:
        return f"{KEYS_ENV} or the key file"

    def mac(self, key_id: str, message: bytes) -> str:
        """HMAC-SHA256 hex of `message` under the key `key_id` (KeyError if it is not in the keyring)."""
        return hmac.new(self.keys[key_id], message, sha256).hexdigest()

    def with_current(self, key_id: str, key: bytes) -> AuditKeyring:
        return AuditKeyring(current_id=key_id, keys={**self.keys, key_id: key})


def new_key_id() -> str:
    return f"a{secrets.token_hex(4)}"


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


FORMAT = KeyringFormat(
    keys_env=KEYS_ENV,
    key_id_env=KEY_ID_ENV,
    key_bytes=KEY_BYTES,
    error=AuditKeyError,
    size_rule="it must be",
    new_key_command="python -m security.audit_keys new-key",
    current_does="keys new entries",
    file_kind="an audit key file",
)


def _make(current_id: str, keys: dict[str, bytes]) -> AuditKeyring:
    return AuditKeyring(current_id=current_id, keys=keys)


def parse_keys(spec: str, current_id: str | None) -> AuditKeyring:
    """The keyring from `TDKT_AUDIT_KEYS` / `TDKT_AUDIT_KEY_ID` values; AuditKeyError naming the variable."""
    return _make(*keyrings.parse_key_list(FORMAT, spec, current_id))


def key_file_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get(KEY_FILE_ENV, "").strip() or DEFAULT_KEY_FILE)


def load_audit_keyring(environ: Mapping[str, str] | None = None, key_file: Path | None = None) -> AuditKeyring:
    """`TDKT_AUDIT_KEYS` (+ `TDKT_AUDIT_KEY_ID`) if set; otherwise the key file, made with one fresh key (mode
    0600) only under the embedded demo's switch. AuditKeyError naming the variable and the file otherwise."""
    env = os.environ if environ is None else environ
    spec = env.get(KEYS_ENV, "")
    if spec.strip():
        try:
            refuse_published(KEYS_ENV, (entry.partition(":")[2] for entry in spec.split(",")), env)
        except PublishedKey as err:
            raise AuditKeyError(str(err)) from None
        return parse_keys(spec, env.get(KEY_ID_ENV))
    if env.get(KEY_ID_ENV, "").strip():
        raise AuditKeyError(f"{KEY_ID_ENV} is set but {KEYS_ENV} is not: set both, or neither to use the key file")
    path = key_file or key_file_path(env)
    if path.exists():
        return read_key_file(path)
    try:
        require_generation_allowed("audit chain key", KEYS_ENV, path, env)
    except MissingKey as err:
        raise AuditKeyError(str(err)) from None
    return create_key_file(path)


_cached: dict[tuple[str, str, str], AuditKeyring] = {}


def audit_keyring() -> AuditKeyring:
    """The process's keyring from its environment, read once per configuration (a rotation takes a restart)."""
    cache_key = (os.environ.get(KEYS_ENV, ""), os.environ.get(KEY_ID_ENV, ""), str(key_file_path()))
    keyring = _cached.get(cache_key)
    if keyring is None:
        keyring = _cached[cache_key] = load_audit_keyring()
    return keyring


# ---- the key file -------------------------------------------------------------------------------------


def read_key_file(path: Path) -> AuditKeyring:
    return keyrings.read_key_file(FORMAT, path, _make)


def create_key_file(path: Path) -> AuditKeyring:
    """A key file with one fresh key; two processes starting at once share one key."""
    key_id = new_key_id()
    return keyrings.create_key_file(FORMAT, path, _make(key_id, {key_id: new_key()}), _make)


def rotate_key_file(path: Path) -> AuditKeyring:
    """Add a fresh key to the (existing) key file and make it current; the old keys stay to verify old entries."""
    if not path.exists():
        raise AuditKeyError(f"no audit key file at {path} to rotate")
    keyring = read_key_file(path).with_current(new_key_id(), new_key())
    keyrings.replace_key_file(path, keyring)
    return keyring


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["new-key"]:
        print(f"{new_key_id()}:{base64.b64encode(new_key()).decode('ascii')}")
        return 0
    if args and args[0] == "rotate" and len(args) <= 2:
        path = Path(args[1]) if len(args) == 2 else key_file_path()
        try:
            keyring = rotate_key_file(path)
        except AuditKeyError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"{path}: current audit key is now {keyring.current_id}; keys {sorted(keyring.keys)} still verify")
        print("restart the worker to key new entries with it")
        return 0
    print(
        "usage: python -m security.audit_keys new-key        # prints id:base64key for TDKT_AUDIT_KEYS\n"
        "       python -m security.audit_keys rotate [FILE]  # new current key in the key file\n"
        "                                                    # (default .state/audit-keys.json)",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
