"""Sealing ballot choices to the tally key, and opening them to count.

Superseded by security/sealing.py (the anonymous ballot); kept only until its last users move there.

Hybrid encryption: each ballot gets a fresh AES-256-GCM key, wrapped to the tally's RSA-3072 public key
with OAEP(SHA-256). Each choice is one byte (F, A or B), so every sealed choice has the same length
whatever it says, and is encrypted under its own random 12-byte nonce with associated data that binds it
to (session, voter, candidate): a sealed choice moved to another candidate, voter or session no longer
opens. Only the counting activity holds the private key.

A SealedBallot carries `key_id` (the first 32 hex digits of sha256 over the public key's DER
SubjectPublicKeyInfo), `wrapped_key` (base64) and, per candidate workflow id, base64(nonce || ciphertext).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.ballot_messages import PublicKeyInfo, SealedBallot
from domain.ballots import Choice
from runtime.keys import require_generation_allowed, write_private

RSA_BITS = 3072
AES_KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
SEALED_CHOICE_BYTES = NONCE_BYTES + 1 + TAG_BYTES  # every sealed choice, whatever it says
KEY_ID_HEX = 32
AAD_CONTEXT = "tdkt-ballot-choice/1"

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_KEY_PATH = REPO_ROOT / ".state" / "ballot-key.pem"

_CODES: dict[Choice, bytes] = {Choice.FOR: b"F", Choice.AGAINST: b"A", Choice.ABSTAIN: b"B"}
_CHOICES: dict[bytes, Choice] = {code: choice for choice, code in _CODES.items()}

_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


class SealError(ValueError):
    """A ballot that cannot be sealed or opened. The message never contains a choice."""


def generate_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)


def key_id_of(public_key: rsa.RSAPublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:KEY_ID_HEX]


def public_key_info(private_key: rsa.RSAPrivateKey) -> PublicKeyInfo:
    public = private_key.public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return PublicKeyInfo(key_id=key_id_of(public), public_pem=pem.decode("ascii"))


def _associated_data(session_id: str, voter_id: str, candidate: str) -> bytes:
    # JSON framing keeps ("a|b", "c") and ("a", "b|c") apart.
    return json.dumps([AAD_CONTEXT, session_id, voter_id, candidate], ensure_ascii=False).encode("utf-8")


def _load_public(public: PublicKeyInfo) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(public.public_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise SealError(f"the tally key {public.key_id} is not a readable PEM public key") from exc
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < RSA_BITS:
        raise SealError(f"the tally key {public.key_id} is not an RSA key of at least {RSA_BITS} bits")
    if key_id_of(key) != public.key_id:
        raise SealError(f"the tally key's id {public.key_id} does not match its PEM ({key_id_of(key)})")
    return key


def seal_ballot(public: PublicKeyInfo, session_id: str, voter_id: str, choices: Mapping[str, Choice]) -> SealedBallot:
    """Seal one voter's choices (candidate workflow id -> choice) to the tally key for this session."""
    if not choices:
        raise SealError("a sealed ballot needs at least one choice")
    key = _load_public(public)
    ballot_key = AESGCM.generate_key(bit_length=AES_KEY_BYTES * 8)
    aead = AESGCM(ballot_key)
    sealed: dict[str, str] = {}
    for candidate, choice in choices.items():
        try:
            code = _CODES[Choice(choice)]
        except ValueError:
            raise SealError(f"the choice for candidate {candidate!r} is not one of FOR, AGAINST, ABSTAIN") from None
        nonce = secrets.token_bytes(NONCE_BYTES)
        ciphertext = aead.encrypt(nonce, code, _associated_data(session_id, voter_id, candidate))
        sealed[candidate] = base64.b64encode(nonce + ciphertext).decode("ascii")
    return SealedBallot(
        key_id=public.key_id,
        wrapped_key=base64.b64encode(key.encrypt(ballot_key, _OAEP)).decode("ascii"),
        sealed_choices=sealed,
    )


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SealError(f"{what} is not valid base64") from None


def open_ballot(
    private_key: rsa.RSAPrivateKey, session_id: str, voter_id: str, sealed: SealedBallot
) -> dict[str, Choice]:
    """Open a sealed ballot cast by `voter_id` in `session_id`; SealError when any part does not open."""
    ours = key_id_of(private_key.public_key())
    if sealed.key_id != ours:
        raise SealError(f"ballot of {voter_id!r} is sealed to key {sealed.key_id}, not to the tally key {ours}")
    wrapped = _b64(sealed.wrapped_key, f"the wrapped key of {voter_id!r}")
    try:
        ballot_key = private_key.decrypt(wrapped, _OAEP)
    except ValueError:
        raise SealError(f"the ballot key of {voter_id!r} does not unwrap with the tally key") from None
    if len(ballot_key) != AES_KEY_BYTES:
        raise SealError(f"the ballot key of {voter_id!r} has the wrong length")
    aead = AESGCM(ballot_key)
    opened: dict[str, Choice] = {}
    for candidate, value in sealed.sealed_choices.items():
        blob = _b64(value, f"the sealed choice for candidate {candidate!r}")
        if len(blob) != SEALED_CHOICE_BYTES:
            raise SealError(f"the sealed choice for candidate {candidate!r} has the wrong length")
        nonce, ciphertext = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
        try:
            code = aead.decrypt(nonce, ciphertext, _associated_data(session_id, voter_id, candidate))
        except InvalidTag:
            raise SealError(
                f"the sealed choice for candidate {candidate!r} does not open for voter {voter_id!r} in this "
                "session (tampered, or moved from another candidate, voter or session)"
            ) from None
        choice = _CHOICES.get(code)
        if choice is None:
            raise SealError(f"the sealed choice for candidate {candidate!r} holds an unknown code")
        opened[candidate] = choice
    return opened


def ballot_key_path() -> Path:
    """BALLOT_KEY_FILE if set, else .state/ballot-key.pem in the repository. Every worker that counts
    must read the same key file as the one that published the session's public key."""
    configured = os.environ.get("BALLOT_KEY_FILE")
    return Path(configured).expanduser() if configured else DEFAULT_KEY_PATH


def _load_private(path: Path) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise SealError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SealError(f"{path} holds a {type(key).__name__}, not an RSA private key")
    return key


def load_or_create_private_key(path: Path) -> rsa.RSAPrivateKey:
    """Read the tally key from a PEM file (PKCS8, unencrypted), or create it with mode 0600.

    Creation writes a private temporary file and hard-links it into place, so two processes starting
    at once end up with the same key: the loser of the race reads the winner's file."""
    if path.exists():
        return _load_private(path)
    require_generation_allowed("ballot tally key", "BALLOT_KEY_FILE", path)
    key = generate_private_key()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    if not write_private(path, pem, replace=False):
        return _load_private(path)
    return key
