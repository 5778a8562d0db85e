"""The session's sealing key, held by the counting committee (Ban kiểm phiếu) k of n.

When voting opens the session makes an RSA-3072 sealing key pair; the private half is kept only wrapped
(AES-256-GCM) under a fresh 32-byte key K. K is split with Shamir's scheme (pycryptodome, GF(2^128), 16-byte
secrets: each half of K with the same indices 1..n), and each member's share is encrypted to the RSA-OAEP
counting key the member enrolled. Any `threshold` members' shares rebuild K and so the sealing key, in memory,
at the count; fewer reveal nothing of K. A commitment (sha256 over the framed share) published with the
session's keys lets the workflow refuse a wrong share at hand-in. Byte formats: docs/ballot-crypto.md.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from Crypto.Protocol.SecretSharing import Shamir
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.ballot_messages import PublicKeyInfo
from security.keys import write_private
from security.sealing import (
    NONCE_BYTES,
    OAEP,
    SealError,
    b64,
    frame,
    generate_private_key,
    key_id_of,
    public_key_info,
    unb64,
)

COUNTING_KEY_BITS = 3072
WRAP_KEY_BYTES = 32
HALF = 16
SHARE_BYTES = 2 * HALF  # the shares of K[:16] and K[16:]
MAX_MEMBERS = 15  # the index travels in one byte; ShareHandIn.index is 1..15
SESSION_KEY_CONTEXT = "tdkt-session-key/2"
COMMITMENT_CONTEXT = "tdkt-share-commitment/2"
COUNTING_KEY_DIR_VARIABLE = "TDKT_COUNTING_KEY_DIR"


@dataclass(frozen=True)
class SessionSecret:
    """What opening voting makes: the sealing key's public half, its private half wrapped under K, and the
    n shares of K as (index, 32 bytes). The shares leave only encrypted to each member's counting key."""

    sealing: PublicKeyInfo
    wrapped_private: bytes
    shares: list[tuple[int, bytes]]


def _check_committee(size: int, threshold: int) -> None:
    if not 1 <= size <= MAX_MEMBERS:
        raise SealError(f"a counting committee has 1 to {MAX_MEMBERS} members, not {size}")
    if not 1 <= threshold <= size:
        raise SealError(f"the threshold must be between 1 and the committee's size {size}, not {threshold}")


def make_session_secret(session_id: str, size: int, threshold: int) -> SessionSecret:
    _check_committee(size, threshold)
    sealing_key = generate_private_key()
    wrap_key = secrets.token_bytes(WRAP_KEY_BYTES)
    der = sealing_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    nonce = secrets.token_bytes(NONCE_BYTES)
    wrapped = nonce + AESGCM(wrap_key).encrypt(nonce, der, frame(SESSION_KEY_CONTEXT, session_id))
    low = Shamir.split(threshold, size, wrap_key[:HALF])
    high = Shamir.split(threshold, size, wrap_key[HALF:])
    shares = [(index, share_low + share_high) for (index, share_low), (_, share_high) in zip(low, high, strict=True)]
    return SessionSecret(sealing=public_key_info(sealing_key), wrapped_private=wrapped, shares=shares)


def rebuild_sealing_key(
    session_id: str, wrapped_private: bytes, shares: Sequence[tuple[int, bytes]], threshold: int
) -> rsa.RSAPrivateKey:
    """The sealing key from `threshold` shares (the lowest indices given are used); SealError when there are
    fewer, or when they do not unwrap it (a wrong share, or the wrong session)."""
    distinct: dict[int, bytes] = {}
    for index, share in shares:
        if not 1 <= index <= MAX_MEMBERS:
            raise SealError(f"a share index is 1 to {MAX_MEMBERS}, not {index}")
        if len(share) != SHARE_BYTES:
            raise SealError(f"the share of index {index} is {len(share)} bytes, not {SHARE_BYTES}")
        if index in distinct and distinct[index] != share:
            raise SealError(f"two different shares for index {index}")
        distinct[index] = share
    if threshold < 1:
        raise SealError(f"the threshold must be at least 1, not {threshold}")
    if len(distinct) < threshold:
        raise SealError(f"the sealing key needs {threshold} shares, only {len(distinct)} were handed in")
    used = sorted(distinct.items())[:threshold]  # pycryptodome combines exactly k shares
    low = Shamir.combine([(index, share[:HALF]) for index, share in used])
    high = Shamir.combine([(index, share[HALF:]) for index, share in used])
    if len(wrapped_private) <= NONCE_BYTES:
        raise SealError("the wrapped sealing key is too short")
    nonce, ciphertext = wrapped_private[:NONCE_BYTES], wrapped_private[NONCE_BYTES:]
    try:
        der = AESGCM(low + high).decrypt(nonce, ciphertext, frame(SESSION_KEY_CONTEXT, session_id))
    except InvalidTag:
        raise SealError(
            "the shares handed in do not unwrap this session's sealing key (a wrong share, or another session's)"
        ) from None
    # The GCM tag proves these bytes are the key make_session_secret wrapped: OpenSSL's RSA consistency check
    # (~150 ms of primality tests for 3072 bits) would only repeat that.
    key = serialization.load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SealError("the unwrapped sealing key is not an RSA private key")
    return key


def share_commitment(session_id: str, member_id: str, index: int, share: bytes) -> str:
    return hashlib.sha256(frame(COMMITMENT_CONTEXT, session_id, member_id, index, b64(share))).hexdigest()


def _load_counting_public(member_public_pem: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(member_public_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError, TypeError) as exc:
        raise SealError("the counting key is not a readable PEM public key") from exc
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < COUNTING_KEY_BITS:
        raise SealError(f"the counting key is not an RSA key of at least {COUNTING_KEY_BITS} bits")
    return key


def counting_key_id(member_public_pem: str) -> str:
    """The key id of an enrolled counting key (SealError if it is not an RSA-3072+ SPKI PEM)."""
    return key_id_of(_load_counting_public(member_public_pem))


def encrypt_share(member_public_pem: str, index: int, share: bytes) -> str:
    if not 1 <= index <= MAX_MEMBERS:
        raise SealError(f"a share index is 1 to {MAX_MEMBERS}, not {index}")
    if len(share) != SHARE_BYTES:
        raise SealError(f"a share is {SHARE_BYTES} bytes")
    return b64(_load_counting_public(member_public_pem).encrypt(bytes([index]) + share, OAEP))


def decrypt_share(member_private: rsa.RSAPrivateKey, encrypted_b64: str) -> tuple[int, bytes]:
    blob = unb64(encrypted_b64, "the encrypted share")
    try:
        plain = member_private.decrypt(blob, OAEP)
    except ValueError:
        raise SealError(
            "the share does not decrypt with this counting key (another member's, or another key)"
        ) from None
    if len(plain) != 1 + SHARE_BYTES or not 1 <= plain[0] <= MAX_MEMBERS:
        raise SealError("the decrypted share is not an index byte and 32 share bytes")
    return plain[0], plain[1:]


def generate_counting_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=COUNTING_KEY_BITS)


def counting_key_path(actor_id: str) -> Path:
    """TDKT_COUNTING_KEY_DIR (or ~/.config/tdkt/) / counting-<actor>.pem."""
    if not actor_id or "/" in actor_id or "\\" in actor_id or actor_id.startswith("."):
        raise SealError("an actor id for a counting key file has no path separators and does not start with '.'")
    configured = os.environ.get(COUNTING_KEY_DIR_VARIABLE)
    directory = Path(configured).expanduser() if configured else Path.home() / ".config" / "tdkt"
    return directory / f"counting-{actor_id}.pem"


def load_counting_key(path: Path) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except FileNotFoundError:
        raise SealError(f"no counting key file at {path}") from None
    except (ValueError, TypeError) as exc:
        raise SealError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < COUNTING_KEY_BITS:
        raise SealError(f"{path} does not hold an RSA private key of at least {COUNTING_KEY_BITS} bits")
    return key


def save_counting_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    """Write the key (PKCS8 PEM, mode 0600); FileExistsError if a file is already there: a counting key
    that was enrolled must never be replaced by accident, the shares sealed to it would be lost."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} already exists; a counting key file is never overwritten")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    if not write_private(path, pem, replace=False):
        raise FileExistsError(f"{path} already exists; a counting key file is never overwritten")
