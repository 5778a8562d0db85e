"""RSA blind signatures: RFC 9474, variant RSABSSA-SHA384-PSS-Deterministic.

The signer never sees the message it signs: the requester encodes the message with EMSA-PSS (SHA-384,
MGF1-SHA-384, 48-byte random salt, RFC 8017 §9.1.1), multiplies it by r^e mod n for a random r (blind),
the signer applies its private exponent to that (blind_sign), and the requester divides r back out
(finalize). The result is an ordinary RSASSA-PSS signature over the message, which `cryptography` verifies
(verify). "Deterministic" means the message is signed as given (no message randomizer, prepare = identity):
the messages here already carry a 32-byte random token.

`cryptography` has no raw RSA and no PSS encoder, so the encoding and the integer steps are written here
after RFC 8017 and RFC 9474 §4; every signature that leaves `finalize` has passed `cryptography`'s own
RSA-PSS verification. No RFC 9474 package on PyPI is maintained, hence this module.
"""

from __future__ import annotations

import hashlib
import math
import secrets

from Crypto.Math.Numbers import Integer
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIGNING_KEY_BITS = 2048
MIN_KEY_BITS = 2048
HASH_BYTES = 48  # SHA-384
SALT_BYTES = 48  # RSABSSA-SHA384-PSS-*: salt length = hash length

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=SALT_BYTES)


class BlindError(ValueError):
    """A blind-signature step that cannot go on: unreadable key, wrong length, or a result that does not
    verify. The message names the step, never the message content."""


def generate_signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=SIGNING_KEY_BITS)


def load_public(public_pem: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(public_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError, TypeError) as exc:
        raise BlindError("the signing key is not a readable PEM public key") from exc
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_KEY_BITS:
        raise BlindError(f"the signing key is not an RSA key of at least {MIN_KEY_BITS} bits")
    return key


def _modulus_bytes(n: int) -> int:
    return (n.bit_length() + 7) // 8


def _i2osp(value: int, length: int) -> bytes:
    return value.to_bytes(length, "big")


def _os2ip(data: bytes) -> int:
    return int.from_bytes(data, "big")


def _mgf1_sha384(seed: bytes, length: int) -> bytes:
    output = bytearray()
    counter = 0
    while len(output) < length:
        output += hashlib.sha384(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return bytes(output[:length])


def emsa_pss_encode(message: bytes, em_bits: int, salt: bytes) -> bytes:
    """RFC 8017 §9.1.1 with SHA-384 and MGF1-SHA-384."""
    em_len = (em_bits + 7) // 8
    if em_len < HASH_BYTES + len(salt) + 2:
        raise BlindError("the key is too short for EMSA-PSS with SHA-384")
    m_hash = hashlib.sha384(message).digest()
    h = hashlib.sha384(b"\x00" * 8 + m_hash + salt).digest()
    db = b"\x00" * (em_len - len(salt) - HASH_BYTES - 2) + b"\x01" + salt
    masked = bytearray(a ^ b for a, b in zip(db, _mgf1_sha384(h, em_len - HASH_BYTES - 1), strict=True))
    masked[0] &= 0xFF >> (8 * em_len - em_bits)
    return bytes(masked) + h + b"\xbc"


def _blind_with(public: rsa.RSAPublicKey, message: bytes, salt: bytes, r: int) -> tuple[bytes, bytes]:
    """RFC 9474 §4.2 Blind with the salt and blinding factor given (the test vectors fix both)."""
    numbers = public.public_numbers()
    n, e = numbers.n, numbers.e
    k = _modulus_bytes(n)
    m = _os2ip(emsa_pss_encode(message, n.bit_length() - 1, salt))
    if math.gcd(m, n) != 1:
        raise BlindError("the encoded message is not invertible modulo n")
    if not 1 <= r < n or math.gcd(r, n) != 1:
        raise BlindError("the blinding factor is not invertible modulo n")
    inv = pow(r, -1, n)
    z = (m * pow(r, e, n)) % n
    return _i2osp(z, k), _i2osp(inv, k)


def blind(public_pem: str, message: bytes) -> tuple[bytes, bytes]:
    """The requester's first step: (blinded message for the signer, inverse to keep for finalize)."""
    public = load_public(public_pem)
    n = public.public_numbers().n
    salt = secrets.token_bytes(SALT_BYTES)
    while True:
        r = secrets.randbelow(n - 1) + 1
        if math.gcd(r, n) == 1:
            return _blind_with(public, message, salt, r)


def blind_sign(private: rsa.RSAPrivateKey, blinded: bytes) -> bytes:
    """RFC 9474 §4.3: s = blinded^d mod n, checked by s^e == blinded.

    The private exponentiations are CRT by pycryptodome's native Montgomery arithmetic (a sixth of the CPU of
    Python's `pow`, which a worker's event loop shares); the signer's input is also blinded once more with its
    own random factor (as RSA implementations do), so the timing does not follow the value the requester
    sent."""
    numbers = private.private_numbers()
    public = numbers.public_numbers
    n, e = public.n, public.e
    k = _modulus_bytes(n)
    if len(blinded) != k:
        raise BlindError(f"the blinded message is {len(blinded)} bytes, not {k}")
    m = _os2ip(blinded)
    if m >= n:
        raise BlindError("the blinded message is not smaller than the modulus")
    while True:
        u = secrets.randbelow(n - 1) + 1
        if math.gcd(u, n) == 1:
            break
    c = (m * pow(u, e, n)) % n
    s_p = _private_pow(c, numbers.dmp1, numbers.p)
    s_q = _private_pow(c, numbers.dmq1, numbers.q)
    h = (numbers.iqmp * (s_p - s_q)) % numbers.p
    s = ((s_q + numbers.q * h) * pow(u, -1, n)) % n
    if pow(s, e, n) != m:
        raise BlindError("the blind signature does not check against the public key")
    return _i2osp(s, k)


def _private_pow(base: int, exponent: int, prime: int) -> int:
    """base^exponent mod prime, for a secret exponent and an odd prime modulus."""
    return int(pow(Integer(base), Integer(exponent), Integer(prime)))


def finalize(public_pem: str, message: bytes, blind_signature: bytes, inv: bytes) -> bytes:
    """RFC 9474 §4.4: unblind, then verify as RSASSA-PSS; BlindError if the signer's answer is not a
    signature over `message` under `public_pem`."""
    public = load_public(public_pem)
    n = public.public_numbers().n
    k = _modulus_bytes(n)
    if len(blind_signature) != k or len(inv) != k:
        raise BlindError(f"the blind signature and the inverse must be {k} bytes each")
    z, r_inv = _os2ip(blind_signature), _os2ip(inv)
    if z >= n or not 1 <= r_inv < n:
        raise BlindError("the blind signature or the inverse is out of range")
    signature = _i2osp((z * r_inv) % n, k)
    if not verify(public_pem, message, signature):
        raise BlindError("the unblinded signature does not verify: the signer's answer is not for this message")
    return signature


def verify(public_pem: str, message: bytes, signature: bytes) -> bool:
    """RSASSA-PSS-VERIFY (SHA-384, MGF1-SHA-384, salt 48) by `cryptography`; False on any bad input."""
    try:
        public = load_public(public_pem)
        if len(signature) != _modulus_bytes(public.public_numbers().n):
            return False
        public.verify(signature, message, _PSS, hashes.SHA384())
    except InvalidSignature:
        return False
    except Exception:  # a validator calls this on untrusted input: any malformed value is simply "not valid"
        return False
    return True
