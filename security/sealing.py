"""Sealing an anonymous ballot to the session's sealing key, and opening it to count.

Hybrid encryption: each ballot gets a fresh AES-256-GCM key, wrapped to the session's RSA-3072 sealing key
with OAEP(SHA-256). Each choice is one byte (F FOR, A AGAINST, B ABSTAIN, X RECUSE), so every sealed choice
has the same length whatever it says, under its own random 12-byte nonce, with associated data that binds it
to (session, round, receipt, candidate): moved to another candidate, ballot, round or session, it no longer
opens. No voter id appears anywhere: the receipt is the digest of the voter's secret one-time token.

The class credential (which conflict class the voter holds, and the class key's blind signature over
class_message) is sealed under the same ballot key, so only the count learns it. Its plaintext has one
length for every class (class ids are `k` + 2 digits, signatures 256 bytes). Byte formats:
docs/ballot-crypto.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.ballot_messages import PublicKeyInfo, SealedBallot
from domain.ballots import Choice

RSA_BITS = 3072
AES_KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
TOKEN_BYTES = 32
SEALED_CHOICE_BYTES = NONCE_BYTES + 1 + TAG_BYTES  # every sealed choice, whatever it says
CLASS_SIGNATURE_BYTES = 256  # RSA-2048 class keys
KEY_ID_HEX = 32

TOKEN_CONTEXT = "tdkt-ballot-token/2"
CLASS_CONTEXT = "tdkt-ballot-class/2"
CHOICE_CONTEXT = "tdkt-ballot-choice/2"
CREDENTIAL_CONTEXT = "tdkt-ballot-credential/2"

_CLASS_ID = re.compile(r"k[0-9]{2}")
RECUSE_CODE = b"X"
_CODES: dict[Choice, bytes] = {Choice.FOR: b"F", Choice.AGAINST: b"A", Choice.ABSTAIN: b"B"}
_CHOICES: dict[bytes, Choice | None] = {**{code: choice for choice, code in _CODES.items()}, RECUSE_CODE: None}

OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


class SealError(ValueError):
    """Something that cannot be sealed or opened. The message never contains a choice."""


@dataclass(frozen=True)
class OpenedBallot:
    """An opened ballot, held only in the counting activity's memory. None = RECUSE (code X)."""

    choices: dict[str, Choice | None]
    class_id: str
    class_signature: bytes


def frame(*parts: str | int) -> bytes:
    """The JSON framing every message and AAD uses (the browser's JSON.stringify gives the same bytes)."""
    return json.dumps(list(parts), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SealError(f"{what} is not valid base64") from None


def generate_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)


def key_id_of(public_key: rsa.RSAPublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:KEY_ID_HEX]


def public_pem_of(public_key: rsa.RSAPublicKey) -> str:
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode("ascii")


def public_key_info(private_key: rsa.RSAPrivateKey) -> PublicKeyInfo:
    public = private_key.public_key()
    return PublicKeyInfo(key_id=key_id_of(public), public_pem=public_pem_of(public))


def load_public(public: PublicKeyInfo, *, min_bits: int = RSA_BITS, what: str = "sealing key") -> rsa.RSAPublicKey:
    """The RSA public key of `public`, checked against its key id."""
    try:
        key = serialization.load_pem_public_key(public.public_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError, TypeError) as exc:
        raise SealError(f"the {what} {public.key_id} is not a readable PEM public key") from exc
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < min_bits:
        raise SealError(f"the {what} {public.key_id} is not an RSA key of at least {min_bits} bits")
    if key_id_of(key) != public.key_id:
        raise SealError(f"the {what}'s id {public.key_id} does not match its PEM ({key_id_of(key)})")
    return key


_load_public = load_public


def _check_token(token: bytes) -> str:
    if not isinstance(token, bytes) or len(token) != TOKEN_BYTES:
        raise SealError(f"a ballot token is {TOKEN_BYTES} bytes")
    return b64(token)


def token_message(session_id: str, round: int, token: bytes) -> bytes:
    return frame(TOKEN_CONTEXT, session_id, round, _check_token(token))


def class_message(session_id: str, round: int, token: bytes, class_id: str) -> bytes:
    return frame(CLASS_CONTEXT, session_id, round, _check_token(token), class_id)


def receipt_hex(session_id: str, round: int, token: bytes) -> str:
    return hashlib.sha256(token_message(session_id, round, token)).hexdigest()


def receipt_of(session_id: str, round: int, token: bytes) -> str:
    return f"{session_id}:{receipt_hex(session_id, round, token)}"


def _choice_aad(session_id: str, round: int, receipt: str, candidate: str) -> bytes:
    return frame(CHOICE_CONTEXT, session_id, round, receipt, candidate)


def _credential_aad(session_id: str, round: int, receipt: str) -> bytes:
    return frame(CREDENTIAL_CONTEXT, session_id, round, receipt)


def _credential_plaintext(class_id: str, class_signature: bytes) -> bytes:
    if not isinstance(class_id, str) or not _CLASS_ID.fullmatch(class_id):
        raise SealError("a class id is 'k' and two digits")
    if len(class_signature) != CLASS_SIGNATURE_BYTES:
        raise SealError(f"a class signature is {CLASS_SIGNATURE_BYTES} bytes")
    body = {"class_id": class_id, "signature": b64(class_signature)}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def seal_ballot(
    sealing: PublicKeyInfo,
    session_id: str,
    round: int,
    token: bytes,
    choices: Mapping[str, Choice | None],
    class_id: str,
    class_signature: bytes,
) -> SealedBallot:
    """Seal one ballot (candidate workflow id -> choice, None = RECUSE) with its class credential."""
    if not choices:
        raise SealError("a sealed ballot needs at least one choice")
    key = load_public(sealing)
    receipt = receipt_hex(session_id, round, token)
    credential = _credential_plaintext(class_id, class_signature)
    ballot_key = AESGCM.generate_key(bit_length=AES_KEY_BYTES * 8)
    aead = AESGCM(ballot_key)
    sealed: dict[str, str] = {}
    for candidate, choice in choices.items():
        if choice is None:
            code = RECUSE_CODE
        else:
            try:
                code = _CODES[Choice(choice)]
            except ValueError:
                raise SealError(
                    f"the choice for candidate {candidate!r} is not one of FOR, AGAINST, ABSTAIN or none (recuse)"
                ) from None
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed[candidate] = b64(nonce + aead.encrypt(nonce, code, _choice_aad(session_id, round, receipt, candidate)))
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed_credential = nonce + aead.encrypt(nonce, credential, _credential_aad(session_id, round, receipt))
    return SealedBallot(
        key_id=sealing.key_id,
        wrapped_key=b64(key.encrypt(ballot_key, OAEP)),
        sealed_choices=sealed,
        sealed_credential=b64(sealed_credential),
    )


def _open_credential(aead: AESGCM, session_id: str, round: int, receipt: str, value: str) -> tuple[str, bytes]:
    blob = unb64(value, "the sealed credential")
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise SealError("the sealed credential has the wrong length")
    try:
        plain = aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _credential_aad(session_id, round, receipt))
    except InvalidTag:
        raise SealError(
            "the sealed credential does not open for this ballot (tampered, or moved from another ballot, "
            "round or session)"
        ) from None
    try:
        body = json.loads(plain)
        class_id, signature = body["class_id"], body["signature"]
    except (ValueError, TypeError, KeyError):
        raise SealError("the sealed credential is not {class_id, signature}") from None
    if set(body) != {"class_id", "signature"} or not isinstance(class_id, str) or not isinstance(signature, str):
        raise SealError("the sealed credential is not {class_id, signature}")
    if not _CLASS_ID.fullmatch(class_id):
        raise SealError("the sealed credential's class id is not 'k' and two digits")
    class_signature = unb64(signature, "the sealed credential's signature")
    if len(class_signature) != CLASS_SIGNATURE_BYTES:
        raise SealError("the sealed credential's signature has the wrong length")
    return class_id, class_signature


def open_ballot(
    private: rsa.RSAPrivateKey, session_id: str, round: int, token: bytes, sealed: SealedBallot
) -> OpenedBallot:
    """Open a ballot cast with `token` in (session, round); SealError when any part does not open.

    The class signature is returned as sealed: the count verifies it under the class key it names."""
    ours = key_id_of(private.public_key())
    if sealed.key_id != ours:
        raise SealError(f"the ballot is sealed to key {sealed.key_id}, not to this session's sealing key {ours}")
    if sealed.sealed_credential is None:
        raise SealError("the ballot has no sealed credential")
    receipt = receipt_hex(session_id, round, token)
    wrapped = unb64(sealed.wrapped_key, "the wrapped key")
    try:
        ballot_key = private.decrypt(wrapped, OAEP)
    except ValueError:
        raise SealError("the ballot key does not unwrap with the sealing key") from None
    if len(ballot_key) != AES_KEY_BYTES:
        raise SealError("the ballot key has the wrong length")
    aead = AESGCM(ballot_key)
    class_id, class_signature = _open_credential(aead, session_id, round, receipt, sealed.sealed_credential)
    opened: dict[str, Choice | None] = {}
    for candidate, value in sealed.sealed_choices.items():
        blob = unb64(value, f"the sealed choice for candidate {candidate!r}")
        if len(blob) != SEALED_CHOICE_BYTES:
            raise SealError(f"the sealed choice for candidate {candidate!r} has the wrong length")
        try:
            code = aead.decrypt(
                blob[:NONCE_BYTES], blob[NONCE_BYTES:], _choice_aad(session_id, round, receipt, candidate)
            )
        except InvalidTag:
            raise SealError(
                f"the sealed choice for candidate {candidate!r} does not open in this ballot (tampered, or moved "
                "from another candidate, ballot, round or session)"
            ) from None
        if code not in _CHOICES:
            raise SealError(f"the sealed choice for candidate {candidate!r} holds an unknown code")
        opened[candidate] = _CHOICES[code]
    return OpenedBallot(choices=opened, class_id=class_id, class_signature=class_signature)
