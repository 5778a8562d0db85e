"""The next-page token of GET /nominations: Temporal's own token behind an HMAC tag of this deployment's
current token key, so a token this API did not give (forged, altered) is refused before it reaches Temporal,
which would otherwise retry it for seconds."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from security.tokens import Keyring

PAGE_TOKEN_TAG = 16  # bytes of HMAC-SHA256 before Temporal's own token


def _page_token_mac(keyring: Keyring, raw: bytes) -> bytes:
    secret = keyring.keys[keyring.current].encode()
    return hmac.new(secret, b"nominations-page\x1f" + raw, hashlib.sha256).digest()[:PAGE_TOKEN_TAG]


def sealed_page_token(keyring: Keyring, raw: bytes) -> str:
    """Temporal's next-page token under this deployment's tag, URL-safe."""
    return base64.urlsafe_b64encode(_page_token_mac(keyring, raw) + raw).decode().rstrip("=")


def opened_page_token(keyring: Keyring, text: str) -> bytes | None:
    """Temporal's token inside `text`, or None when the tag is not this deployment's (or `text` is no token)."""
    try:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (ValueError, binascii.Error):
        return None
    tag, raw = decoded[:PAGE_TOKEN_TAG], decoded[PAGE_TOKEN_TAG:]
    if not raw or not hmac.compare_digest(tag, _page_token_mac(keyring, raw)):
        return None
    return raw
