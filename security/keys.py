"""Where keys may come from. Production keys come from configuration (environment variables naming them, or
key files an operator put in place). Only the embedded demo — and the test suite, which runs the same way —
may generate missing local keys under `.state/`, and says so with TDKT_GENERATE_KEYS=1. Anywhere else a
missing key stops the process at start, naming the variable and the file to provide.

The keys published in this repository (docker-compose.yml's development values) are refused unless the
development switch TDKT_ALLOW_DEV_KEYS=1 is set: a copy of the compose file cannot reach production unnoticed.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

GENERATE_SWITCH = "TDKT_GENERATE_KEYS"
DEV_KEYS_SWITCH = "TDKT_ALLOW_DEV_KEYS"
# The secret halves of the development keys docker-compose.yml publishes (tests/unit/test_keys.py keeps this
# list in step with the file).
PUBLISHED_DEV_SECRETS = frozenset(
    {
        "ZGV2LW9ubHkta2V5LWNoYW5nZS1tZS1pbi1wcm9kISE=",  # TDKT_CODEC_KEYS dev
        "dev-only-signing-secret-change-me-in-production",  # TDKT_AUTH_KEYS dev
        "ZGV2LW9ubHktYXVkaXQta2V5LWNoYW5nZS1tZSEhISE=",  # TDKT_AUDIT_KEYS dev
        "dev-only-codec-token-change-me",  # TDKT_CODEC_TOKEN
    }
)


class MissingKey(ValueError):
    """A key the process needs is neither configured nor on disk, and this is not the embedded demo."""


class PublishedKey(ValueError):
    """A key whose value is published in this repository, without the development switch."""


def may_generate(env: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if env is None else env
    return environ.get(GENERATE_SWITCH, "").strip() == "1"


def require_generation_allowed(what: str, variable: str, path: Path, env: Mapping[str, str] | None = None) -> None:
    """Raise MissingKey unless the embedded demo's switch allows making `path` now."""
    if not may_generate(env):
        raise MissingKey(
            f"no {what}: set {variable}, or put the key file at {path} "
            f"(only the embedded demo makes local keys — `make up` leaves them for the CLI — or {GENERATE_SWITCH}=1)"
        )


def refuse_published(variable: str, secrets: Iterable[str], env: Mapping[str, str] | None = None) -> None:
    """Raise PublishedKey if any of `secrets` is one of the repository's published development keys."""
    environ = os.environ if env is None else env
    if environ.get(DEV_KEYS_SWITCH, "").strip() == "1":
        return
    if any(secret.strip() in PUBLISHED_DEV_SECRETS for secret in secrets):
        raise PublishedKey(
            f"{variable}: this key is published in docker-compose.yml and must not protect real data; "
            f"set your own (or {DEV_KEYS_SWITCH}=1 for a development stack)"
        )


def write_private(path: Path, content: bytes, *, replace: bool) -> bool:
    """Write a key file with mode 0600 through a private temporary file. With replace=False it is hard-linked
    into place and False is returned if another process created `path` first (the caller reads the winner's)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)  # whatever the umask
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        temporary.unlink(missing_ok=True)
