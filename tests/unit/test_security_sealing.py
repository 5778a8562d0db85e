"""Sealing anonymous ballots: round trip, constant lengths, the byte formats the browser must match, and a
sealed choice or credential that is moved (candidate, ballot, round, session) or tampered with not opening."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.ballot_messages import PublicKeyInfo, SealedBallot
from domain.ballots import Choice
from security import sealing
from security.sealing import (
    SEALED_CHOICE_BYTES,
    OpenedBallot,
    SealError,
    class_message,
    generate_private_key,
    open_ballot,
    public_key_info,
    receipt_hex,
    receipt_of,
    seal_ballot,
    token_message,
)

SESSION = "ballot-council-BTP-HD-2026-01"
ROUND = 1
A, B, C = "nomination-2026-BTP-01/TTr-BTP", "nomination-2026-BTP-02/TTr-BTP", "nomination-2026-BTP-03/TTr-BTP"
CHOICES: dict[str, Choice | None] = {A: Choice.FOR, B: Choice.AGAINST, C: None}
CHOICE_WORDS = [c.value for c in Choice] + ["RECUSE"]


def token() -> bytes:
    return secrets.token_bytes(32)


def signature() -> bytes:
    return secrets.token_bytes(256)


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return generate_private_key()


@pytest.fixture(scope="module")
def public(private_key: rsa.RSAPrivateKey) -> PublicKeyInfo:
    return public_key_info(private_key)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return generate_private_key()


def with_choices(sealed: SealedBallot, choices: dict[str, str]) -> SealedBallot:
    return sealed.model_copy(update={"sealed_choices": choices})


def test_the_messages_and_receipt_have_the_contract_bytes() -> None:
    t = bytes(range(32))
    t64 = base64.b64encode(t).decode()
    assert token_message(SESSION, 2, t) == f'["tdkt-ballot-token/2","{SESSION}",2,"{t64}"]'.encode()
    assert class_message(SESSION, 2, t, "k03") == f'["tdkt-ballot-class/2","{SESSION}",2,"{t64}","k03"]'.encode()
    digest = hashlib.sha256(token_message(SESSION, 2, t)).hexdigest()
    assert receipt_hex(SESSION, 2, t) == digest
    assert receipt_of(SESSION, 2, t) == f"{SESSION}:{digest}"
    assert receipt_hex(SESSION, 1, t) != digest  # the round is bound
    with pytest.raises(SealError, match="32 bytes"):
        token_message(SESSION, 1, b"short")


def test_the_key_is_rsa_3072_and_its_id_is_the_spki_digest(
    private_key: rsa.RSAPrivateKey, public: PublicKeyInfo
) -> None:
    assert private_key.key_size == 3072
    assert re.fullmatch(r"[0-9a-f]{32}", public.key_id)
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public.key_id == hashlib.sha256(der).hexdigest()[:32]
    assert public_key_info(private_key) == public


def test_seal_then_open_gives_back_the_choices_and_the_credential(
    private_key: rsa.RSAPrivateKey, public: PublicKeyInfo
) -> None:
    t, sig = token(), signature()
    sealed = seal_ballot(public, SESSION, ROUND, t, CHOICES, "k03", sig)
    assert sealed.key_id == public.key_id
    assert set(sealed.sealed_choices) == set(CHOICES)
    assert sealed.sealed_credential is not None
    expected = OpenedBallot(choices=CHOICES, class_id="k03", class_signature=sig)
    assert open_ballot(private_key, SESSION, ROUND, t, sealed) == expected
    again = SealedBallot.model_validate_json(sealed.model_dump_json())  # as it travels in workflow history
    assert open_ballot(private_key, SESSION, ROUND, t, again) == expected


def test_every_sealed_choice_has_the_same_length_whatever_it_says(public: PublicKeyInfo) -> None:
    lengths: set[int] = set()
    wrapped: set[int] = set()
    for choice in [*Choice, None]:
        for _ in range(3):
            sealed = seal_ballot(public, SESSION, ROUND, token(), {A: choice, B: choice}, "k00", signature())
            wrapped.add(len(sealed.wrapped_key))
            for value in sealed.sealed_choices.values():
                assert len(base64.b64decode(value)) == SEALED_CHOICE_BYTES
                lengths.add(len(value))
    assert lengths == {40}
    assert wrapped == {512}  # a 3072-bit RSA block, base64


def test_the_sealed_credential_has_the_same_length_for_every_class(public: PublicKeyInfo) -> None:
    lengths = {
        len(seal_ballot(public, SESSION, ROUND, token(), CHOICES, class_id, signature()).sealed_credential or "")
        for class_id in ["k00", "k01", "k17", "k99"]
        for _ in range(3)
    }
    assert len(lengths) == 1 and lengths != {0}


def test_sealing_twice_gives_different_ciphertexts(public: PublicKeyInfo) -> None:
    t, sig = token(), signature()
    first = seal_ballot(public, SESSION, ROUND, t, CHOICES, "k00", sig)
    second = seal_ballot(public, SESSION, ROUND, t, CHOICES, "k00", sig)
    assert first.wrapped_key != second.wrapped_key
    assert first.sealed_credential != second.sealed_credential
    for candidate in CHOICES:
        assert first.sealed_choices[candidate] != second.sealed_choices[candidate]
    same = seal_ballot(public, SESSION, ROUND, t, {A: Choice.FOR, B: Choice.FOR}, "k00", sig)
    assert same.sealed_choices[A] != same.sealed_choices[B]


def test_a_choice_moved_to_another_candidate_does_not_open(
    private_key: rsa.RSAPrivateKey, public: PublicKeyInfo
) -> None:
    t = token()
    sealed = seal_ballot(public, SESSION, ROUND, t, CHOICES, "k00", signature())
    swapped = dict(sealed.sealed_choices)
    swapped[A], swapped[B] = swapped[B], swapped[A]
    with pytest.raises(SealError, match="does not open"):
        open_ballot(private_key, SESSION, ROUND, t, with_choices(sealed, swapped))
    renamed = {("nomination-2026-BTP-99/TTr-BTP" if wf == C else wf): v for wf, v in sealed.sealed_choices.items()}
    with pytest.raises(SealError, match="does not open"):
        open_ballot(private_key, SESSION, ROUND, t, with_choices(sealed, renamed))


def test_a_ballot_moved_to_another_receipt_round_or_session_does_not_open(
    private_key: rsa.RSAPrivateKey, public: PublicKeyInfo
) -> None:
    t = token()
    mine = seal_ballot(public, SESSION, ROUND, t, CHOICES, "k00", signature())
    with pytest.raises(SealError, match="does not open"):
        open_ballot(private_key, SESSION, ROUND, token(), mine)  # filed under another token (receipt)
    with pytest.raises(SealError, match="does not open"):
        open_ballot(private_key, SESSION, ROUND + 1, t, mine)  # replayed in the runoff round
    with pytest.raises(SealError, match="does not open"):
        open_ballot(private_key, "ballot-council-BTP-HD-2026-02", ROUND, t, mine)  # in another session
    # One choice, or the credential, grafted from my ballot onto another (with their wrapped key or mine).
    other_token = token()
    theirs = seal_ballot(public, SESSION, ROUND, other_token, CHOICES, "k00", signature())
    grafted = {**theirs.sealed_choices, A: mine.sealed_choices[A]}
    with pytest.raises(SealError, match="does not open"):
        open_ballot(private_key, SESSION, ROUND, other_token, with_choices(theirs, grafted))
    with pytest.raises(SealError, match="does not open"):
        open_ballot(private_key, SESSION, ROUND, other_token, with_choices(mine, grafted))
    credential_moved = theirs.model_copy(update={"sealed_credential": mine.sealed_credential})
    with pytest.raises(SealError, match="credential does not open"):
        open_ballot(private_key, SESSION, ROUND, other_token, credential_moved)


def test_a_flipped_bit_does_not_open(private_key: rsa.RSAPrivateKey, public: PublicKeyInfo) -> None:
    t = token()
    sealed = seal_ballot(public, SESSION, ROUND, t, CHOICES, "k00", signature())
    raw = bytearray(base64.b64decode(sealed.sealed_choices[A]))
    raw[-1] ^= 0x01
    tampered = {**sealed.sealed_choices, A: base64.b64encode(bytes(raw)).decode()}
    with pytest.raises(SealError, match="does not open"):
        open_ballot(private_key, SESSION, ROUND, t, with_choices(sealed, tampered))
    credential = bytearray(base64.b64decode(sealed.sealed_credential or ""))
    credential[20] ^= 0x01
    bad_credential = sealed.model_copy(update={"sealed_credential": base64.b64encode(bytes(credential)).decode()})
    with pytest.raises(SealError, match="credential does not open"):
        open_ballot(private_key, SESSION, ROUND, t, bad_credential)


def test_the_wrong_key_fails_with_seal_error(
    private_key: rsa.RSAPrivateKey, public: PublicKeyInfo, other_key: rsa.RSAPrivateKey
) -> None:
    t = token()
    sealed = seal_ballot(public, SESSION, ROUND, t, CHOICES, "k00", signature())
    with pytest.raises(SealError, match="sealed to key"):
        open_ballot(other_key, SESSION, ROUND, t, sealed)
    relabelled = sealed.model_copy(update={"key_id": public_key_info(other_key).key_id})
    with pytest.raises(SealError, match="does not unwrap"):
        open_ballot(other_key, SESSION, ROUND, t, relabelled)


def test_bad_base64_wrong_lengths_and_a_missing_credential_fail_with_seal_error(
    private_key: rsa.RSAPrivateKey, public: PublicKeyInfo
) -> None:
    t = token()
    sealed = seal_ballot(public, SESSION, ROUND, t, CHOICES, "k00", signature())
    with pytest.raises(SealError, match="base64"):
        open_ballot(private_key, SESSION, ROUND, t, sealed.model_copy(update={"wrapped_key": "abcde"}))
    with pytest.raises(SealError, match="base64"):
        open_ballot(private_key, SESSION, ROUND, t, with_choices(sealed, {**sealed.sealed_choices, A: "abcde"}))
    short = base64.b64encode(b"x" * 20).decode()
    with pytest.raises(SealError, match="wrong length"):
        open_ballot(private_key, SESSION, ROUND, t, with_choices(sealed, {**sealed.sealed_choices, A: short}))
    with pytest.raises(SealError, match="no sealed credential"):
        open_ballot(private_key, SESSION, ROUND, t, sealed.model_copy(update={"sealed_credential": None}))


def _hand_sealed(
    private_key: rsa.RSAPrivateKey, public: PublicKeyInfo, t: bytes, code: bytes, credential: bytes
) -> SealedBallot:
    """A client that seals something other than the contract allows, correctly bound and encrypted."""
    ballot_key = AESGCM.generate_key(bit_length=256)
    aead = AESGCM(ballot_key)
    receipt = receipt_hex(SESSION, ROUND, t)
    nonce = secrets.token_bytes(12)
    choice = nonce + aead.encrypt(nonce, code, sealing._choice_aad(SESSION, ROUND, receipt, A))
    nonce = secrets.token_bytes(12)
    sealed_credential = nonce + aead.encrypt(nonce, credential, sealing._credential_aad(SESSION, ROUND, receipt))
    return SealedBallot(
        key_id=public.key_id,
        wrapped_key=base64.b64encode(private_key.public_key().encrypt(ballot_key, sealing.OAEP)).decode(),
        sealed_choices={A: base64.b64encode(choice).decode()},
        sealed_credential=base64.b64encode(sealed_credential).decode(),
    )


def test_an_unknown_code_or_a_malformed_credential_fails_with_seal_error(
    private_key: rsa.RSAPrivateKey, public: PublicKeyInfo
) -> None:
    t = token()
    good_credential = json.dumps(
        {"class_id": "k00", "signature": base64.b64encode(signature()).decode()}, separators=(",", ":")
    ).encode()
    with pytest.raises(SealError, match="unknown code") as raised:
        open_ballot(private_key, SESSION, ROUND, t, _hand_sealed(private_key, public, t, b"Y", good_credential))
    assert "Y" not in str(raised.value).replace(A, "")
    for credential, message in [
        (b"not json", "is not {class_id, signature}"),
        (b'{"class_id":"k00"}', "is not {class_id, signature}"),
        (good_credential.replace(b"k00", b"kk0"), "class id"),
        (json.dumps({"class_id": "k00", "signature": "AAAA"}).encode(), "signature has the wrong length"),
    ]:
        with pytest.raises(SealError, match=re.escape(message)):
            open_ballot(private_key, SESSION, ROUND, t, _hand_sealed(private_key, public, t, b"F", credential))


def test_the_sealed_ballot_and_every_error_message_show_no_choice(
    private_key: rsa.RSAPrivateKey, public: PublicKeyInfo
) -> None:
    for choice in [*Choice, None]:
        t = token()
        sealed = seal_ballot(public, SESSION, ROUND, t, dict.fromkeys(CHOICES, choice), "k00", signature())
        text = sealed.model_dump_json()
        for word in CHOICE_WORDS:
            assert f'"{word}"' not in text
        assert "AGAINST" not in text and "ABSTAIN" not in text and "RECUSE" not in text
        assert set(json.loads(text)) == {"key_id", "wrapped_key", "sealed_choices", "sealed_credential"}
        assert receipt_hex(SESSION, ROUND, t) not in text and base64.b64encode(t).decode() not in text
        # Each way of failing to open: the message names the candidate or part, never what it held.
        failures = [
            sealed.model_copy(update={"sealed_choices": {**sealed.sealed_choices, A: sealed.sealed_choices[B]}}),
            sealed.model_copy(update={"key_id": "0" * 32}),
        ]
        for broken in failures:
            with pytest.raises(SealError) as raised:
                open_ballot(private_key, SESSION, ROUND, t, broken)
            for word in CHOICE_WORDS:
                assert word not in str(raised.value)


def test_sealing_refuses_bad_input(public: PublicKeyInfo, other_key: rsa.RSAPrivateKey) -> None:
    t = token()
    with pytest.raises(SealError, match="at least one choice"):
        seal_ballot(public, SESSION, ROUND, t, {}, "k00", signature())
    mislabelled = PublicKeyInfo(key_id=public.key_id, public_pem=public_key_info(other_key).public_pem)
    with pytest.raises(SealError, match="does not match"):
        seal_ballot(mislabelled, SESSION, ROUND, t, CHOICES, "k00", signature())
    with pytest.raises(SealError, match="'k' and two digits"):
        seal_ballot(public, SESSION, ROUND, t, CHOICES, "k100", signature())
    with pytest.raises(SealError, match="256 bytes"):
        seal_ballot(public, SESSION, ROUND, t, CHOICES, "k00", b"\x00" * 255)
    with pytest.raises(SealError, match="32 bytes"):
        seal_ballot(public, SESSION, ROUND, b"\x00" * 31, CHOICES, "k00", signature())
    with pytest.raises(SealError, match="not one of FOR"):
        seal_ballot(public, SESSION, ROUND, t, {A: "MAYBE"}, "k00", signature())  # type: ignore[dict-item]
    small = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(SealError, match="at least 3072"):
        seal_ballot(public_key_info(small), SESSION, ROUND, t, CHOICES, "k00", signature())
