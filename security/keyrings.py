"""Keyrings of fixed-size keys by id, in the two forms the deployment gives them: ``id:base64key[,id:base64key...]``
in a variable (with the current id in a second one), or a JSON key file ``{"current": id, "keys": {id:
base64key}}`` of mode 0600. The payload codec's keys (security/codec.py) and the audit chain's
(security/audit_keys.py) are parsed, read and written here; each module reads its own variables and names them,
its error and its wording in a KeyringFormat. No message ever holds key material."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from security.keys import write_private

KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class KeyringFormat:
    """How one kind of keyring is configured and spoken of in its errors."""

    keys_env: str  # the variable listing id:base64key entries
    key_id_env: str  # the variable naming the current id
    key_bytes: int
    error: type[Exception]  # what a bad keyring raises
    size_rule: str  # ends "the key of 'x' is 5 bytes; ...": "it must be", "AES-256 needs"
    new_key_command: str  # the command that prints a fresh id:base64key
    current_does: str  # what the current key does: "encrypts", "keys new entries"
    file_kind: str  # "a codec key file", "an audit key file"


class Keys(Protocol):
    @property
    def current_id(self) -> str: ...

    @property
    def keys(self) -> Mapping[str, bytes]: ...


K = TypeVar("K", bound=Keys)
# Builds the module's keyring from (current id, keys), raising the format's error when they do not make one.
Make = Callable[[str, dict[str, bytes]], K]


def parse_key_list(fmt: KeyringFormat, spec: str, current_id: str | None) -> tuple[str, dict[str, bytes]]:
    """The current id and the keys from the two variables' values; the format's error naming the variable."""
    keys: dict[str, bytes] = {}
    for position, entry in enumerate((e.strip() for e in spec.split(",")), start=1):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not key_id:
            raise fmt.error(f"{fmt.keys_env}: entry {position} is not of the form id:base64key")
        if not KEY_ID.fullmatch(key_id):
            raise fmt.error(f"{fmt.keys_env}: key id {key_id!r} must be 1-64 of A-Z a-z 0-9 . _ -")
        if key_id in keys:
            raise fmt.error(f"{fmt.keys_env}: key id {key_id!r} is listed twice")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise fmt.error(f"{fmt.keys_env}: the key of {key_id!r} is not valid base64") from None
        if len(key) != fmt.key_bytes:
            raise fmt.error(
                f"{fmt.keys_env}: the key of {key_id!r} is {len(key)} bytes; {fmt.size_rule} {fmt.key_bytes} "
                f"(make one with `{fmt.new_key_command}`)"
            )
        keys[key_id] = key
    if not keys:
        raise fmt.error(f"{fmt.keys_env} is set but lists no key (expected id:base64key[,id:base64key...])")
    if current_id is None or not current_id.strip():
        if len(keys) > 1:
            raise fmt.error(
                f"{fmt.keys_env} lists {len(keys)} keys: set {fmt.key_id_env} to the one that {fmt.current_does}"
            )
        current_id = next(iter(keys))
    current_id = current_id.strip()
    if current_id not in keys:
        raise fmt.error(f"{fmt.key_id_env}={current_id!r} is not one of the ids in {fmt.keys_env}: {sorted(keys)}")
    return current_id, keys


def dump_key_file(keyring: Keys) -> bytes:
    document = {
        "current": keyring.current_id,
        "keys": {key_id: base64.b64encode(key).decode("ascii") for key_id, key in keyring.keys.items()},
    }
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def read_key_file(fmt: KeyringFormat, path: Path, make: Make[K]) -> K:
    """The keyring in the key file; the format's error naming the file when it is not one."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        current = document["current"]
        encoded = document["keys"]
        if not isinstance(current, str) or not isinstance(encoded, dict):
            raise TypeError
        keys = {str(k): base64.b64decode(v, validate=True) for k, v in encoded.items()}
    except (OSError, ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise fmt.error(
            f"{path} is not {fmt.file_kind} ({{'current': id, 'keys': {{id: base64key}}}}): {type(exc).__name__}"
        ) from None
    try:
        return make(current, keys)
    except fmt.error as exc:
        raise fmt.error(f"{path}: {exc}") from None


def create_key_file(fmt: KeyringFormat, path: Path, keyring: K, make: Make[K]) -> K:
    """Write `keyring` as a new key file unless one exists; the file's keyring either way (two processes
    starting at once share one key)."""
    if not write_private(path, dump_key_file(keyring), replace=False):
        return read_key_file(fmt, path, make)
    return keyring


def replace_key_file(path: Path, keyring: Keys) -> None:
    write_private(path, dump_key_file(keyring), replace=True)
