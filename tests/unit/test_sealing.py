"""Sealing ballots to the tally key: round trip, constant lengths, binding to session/voter/candidate."""

from __future__ import annotations

import base64
import json
import re
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.ballot_messages import PublicKeyInfo, SealedBallot
from domain.ballots import Choice
from runtime import sealing
from runtime.sealing import (
    SEALED_CHOICE_BYTES,
    SealError,
    ballot_key_path,
    generate_private_key,
    load_or_create_private_key,
    open_ballot,
    public_key_info,
    seal_ballot,
)

SESSION = "ballot-council-BTP-HD-2026-01"
VOTER = "btp.hd.uy-vien-1"
OTHER_VOTER = "btp.hd.uy-vien-2"
CHOICES = {
    "nomination-2026-BTP-01/TTr-BTP": Choice.FOR,
    "nomination-2026-BTP-02/TTr-BTP": Choice.AGAINST,
    "nomination-2026-BTP-03/TTr-BTP": Choice.ABSTAIN,
}
CHOICE_WORDS = [c.value for c in Choice]


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


def test_the_key_is_rsa_3072_and_its_id_is_the_spki_digest(
    private_key: rsa.RSAPrivateKey, public: PublicKeyInfo
) -> None:
    assert private_key.key_size == 3072
    assert re.fullmatch(r"[0-9a-f]{32}", public.key_id)
    assert public.public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    loaded = serialization.load_pem_public_key(public.public_pem.encode())
    assert loaded.public_numbers() == private_key.public_key().public_numbers()  # type: ignore[union-attr]
    assert public_key_info(private_key) == public  # stable


def test_seal_then_open_gives_back_the_choices(private_key: rsa.RSAPrivateKey, public: PublicKeyInfo) -> None:
    sealed = seal_ballot(public, SESSION, VOTER, CHOICES)
    assert sealed.key_id == public.key_id
    assert set(sealed.sealed_choices) == set(CHOICES)
    assert open_ballot(private_key, SESSION, VOTER, sealed) == CHOICES
    # Through JSON and back, as it travels in workflow history.
    again = SealedBallot.model_validate_json(sealed.model_dump_json())
    assert open_ballot(private_key, SESSION, VOTER, again) == CHOICES


def test_every_sealed_choice_has_the_same_length_whatever_it_says(public: PublicKeyInfo) -> None:
    lengths: dict[Choice, set[int]] = {c: set() for c in Choice}
    wrapped: set[int] = set()
    for _ in range(5):
        for choice in Choice:
            sealed = seal_ballot(public, SESSION, VOTER, {"nomination-a": choice, "nomination-b": choice})
            wrapped.add(len(sealed.wrapped_key))
            for value in sealed.sealed_choices.values():
                assert len(base64.b64decode(value)) == SEALED_CHOICE_BYTES
                lengths[choice].add(len(value))
    assert lengths[Choice.FOR] == lengths[Choice.AGAINST] == lengths[Choice.ABSTAIN] == {40}
    assert wrapped == {512}  # a 3072-bit RSA block, base64


def test_sealing_the_same_ballot_twice_gives_different_ciphertexts(public: PublicKeyInfo) -> None:
    first = seal_ballot(public, SESSION, VOTER, CHOICES)
    second = seal_ballot(public, SESSION, VOTER, CHOICES)
    assert first.wrapped_key != second.wrapped_key
    for candidate in CHOICES:
        assert first.sealed_choices[candidate] != second.sealed_choices[candidate]
    # Two candidates with the same choice in one ballot do not share a ciphertext either.
    same = seal_ballot(public, SESSION, VOTER, {"nomination-a": Choice.FOR, "nomination-b": Choice.FOR})
    assert same.sealed_choices["nomination-a"] != same.sealed_choices["nomination-b"]


def test_a_choice_moved_to_another_candidate_does_not_open(
    private_key: rsa.RSAPrivateKey, public: PublicKeyInfo
) -> None:
    sealed = seal_ballot(public, SESSION, VOTER, CHOICES)
    first, second, third = CHOICES
    swapped = dict(sealed.sealed_choices)
    swapped[first], swapped[second] = swapped[second], swapped[first]
    with pytest.raises(SealError, match="does not open"):
        open_ballot(private_key, SESSION, VOTER, with_choices(sealed, swapped))
    renamed = {("nomination-2026-BTP-99/TTr-BTP" if wf == third else wf): v for wf, v in sealed.sealed_choices.items()}
    with pytest.raises(SealError, match="does not open"):
        open_ballot(private_key, SESSION, VOTER, with_choices(sealed, renamed))


def test_a_choice_moved_to_another_voter_or_session_does_not_open(
    private_key: rsa.RSAPrivateKey, public: PublicKeyInfo
) -> None:
    mine = seal_ballot(public, SESSION, VOTER, CHOICES)
    with pytest.raises(SealError):
        open_ballot(private_key, SESSION, OTHER_VOTER, mine)  # the whole ballot filed under another voter
    with pytest.raises(SealError):
        open_ballot(private_key, "ballot-council-BTP-HD-2026-02", VOTER, mine)  # replayed in another session
    # One choice grafted from my ballot onto another voter's (with their wrapped key or with mine).
    theirs = seal_ballot(public, SESSION, OTHER_VOTER, CHOICES)
    candidate = next(iter(CHOICES))
    grafted = {**theirs.sealed_choices, candidate: mine.sealed_choices[candidate]}
    with pytest.raises(SealError):
        open_ballot(private_key, SESSION, OTHER_VOTER, with_choices(theirs, grafted))
    with pytest.raises(SealError):
        open_ballot(private_key, SESSION, OTHER_VOTER, with_choices(mine, grafted))


def test_a_flipped_bit_does_not_open(private_key: rsa.RSAPrivateKey, public: PublicKeyInfo) -> None:
    sealed = seal_ballot(public, SESSION, VOTER, CHOICES)
    candidate = next(iter(CHOICES))
    raw = bytearray(base64.b64decode(sealed.sealed_choices[candidate]))
    raw[-1] ^= 0x01
    tampered = {**sealed.sealed_choices, candidate: base64.b64encode(bytes(raw)).decode()}
    with pytest.raises(SealError, match="does not open"):
        open_ballot(private_key, SESSION, VOTER, with_choices(sealed, tampered))


def test_the_wrong_key_fails_with_seal_error(
    private_key: rsa.RSAPrivateKey, public: PublicKeyInfo, other_key: rsa.RSAPrivateKey
) -> None:
    sealed = seal_ballot(public, SESSION, VOTER, CHOICES)
    with pytest.raises(SealError, match="sealed to key"):
        open_ballot(other_key, SESSION, VOTER, sealed)
    # Relabelled with the other key's id, it still cannot be unwrapped.
    relabelled = sealed.model_copy(update={"key_id": public_key_info(other_key).key_id})
    with pytest.raises(SealError, match="does not unwrap"):
        open_ballot(other_key, SESSION, VOTER, relabelled)


def test_bad_base64_and_wrong_lengths_fail_with_seal_error(
    private_key: rsa.RSAPrivateKey, public: PublicKeyInfo
) -> None:
    sealed = seal_ballot(public, SESSION, VOTER, CHOICES)
    candidate = next(iter(CHOICES))
    with pytest.raises(SealError, match="base64"):
        open_ballot(private_key, SESSION, VOTER, sealed.model_copy(update={"wrapped_key": "abcde"}))
    with pytest.raises(SealError, match="base64"):
        open_ballot(private_key, SESSION, VOTER, with_choices(sealed, {**sealed.sealed_choices, candidate: "abcde"}))
    short = base64.b64encode(b"x" * 20).decode()
    with pytest.raises(SealError, match="wrong length"):
        open_ballot(private_key, SESSION, VOTER, with_choices(sealed, {**sealed.sealed_choices, candidate: short}))


def test_an_unknown_code_fails_with_seal_error(private_key: rsa.RSAPrivateKey, public: PublicKeyInfo) -> None:
    # A client that seals something other than F, A or B, correctly bound and encrypted.
    ballot_key = AESGCM.generate_key(bit_length=256)
    nonce = b"\x00" * 12
    candidate = "nomination-a"
    aad = sealing._associated_data(SESSION, VOTER, candidate)
    sealed = SealedBallot(
        key_id=public.key_id,
        wrapped_key=base64.b64encode(private_key.public_key().encrypt(ballot_key, sealing._OAEP)).decode(),
        sealed_choices={candidate: base64.b64encode(nonce + AESGCM(ballot_key).encrypt(nonce, b"Y", aad)).decode()},
    )
    with pytest.raises(SealError, match="unknown code") as raised:
        open_ballot(private_key, SESSION, VOTER, sealed)
    assert "Y" not in str(raised.value).replace(candidate, "")


def test_the_sealed_ballot_json_shows_no_choice(public: PublicKeyInfo) -> None:
    for choice in Choice:
        text = seal_ballot(public, SESSION, VOTER, dict.fromkeys(CHOICES, choice)).model_dump_json()
        data = json.loads(text)
        for word in CHOICE_WORDS:
            assert f'"{word}"' not in text
        # Three random base64 characters spell "FOR" once in ~260 000 positions, so a bare "FOR" is looked
        # for outside the ciphertexts; the 7-letter words cannot turn up by chance.
        assert "AGAINST" not in text and "ABSTAIN" not in text
        masked = {
            "key_id": data["key_id"],
            "wrapped_key": "",
            "sealed_choices": dict.fromkeys(data["sealed_choices"], ""),
        }
        assert not any(word in json.dumps(masked) for word in CHOICE_WORDS)
        assert set(data) == {"key_id", "wrapped_key", "sealed_choices"}


def test_sealing_refuses_an_empty_ballot_and_a_mislabelled_key(
    public: PublicKeyInfo, other_key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(SealError, match="at least one choice"):
        seal_ballot(public, SESSION, VOTER, {})
    mislabelled = PublicKeyInfo(key_id=public.key_id, public_pem=public_key_info(other_key).public_pem)
    with pytest.raises(SealError, match="does not match"):
        seal_ballot(mislabelled, SESSION, VOTER, CHOICES)


def test_the_key_file_is_created_private_once_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "state" / "ballot-key.pem"
    created = load_or_create_private_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----")  # PKCS8, unencrypted
    assert [p.name for p in path.parent.iterdir()] == ["ballot-key.pem"]  # no temporary left behind
    loaded = load_or_create_private_key(path)
    assert public_key_info(loaded) == public_key_info(created)


def test_a_key_file_that_is_not_a_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ballot-key.pem"
    path.write_text("not a key")
    with pytest.raises(SealError, match="not an unencrypted PEM private key"):
        load_or_create_private_key(path)


def test_the_key_path_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BALLOT_KEY_FILE", raising=False)
    assert ballot_key_path() == Path(sealing.__file__).resolve().parents[1] / ".state" / "ballot-key.pem"
    monkeypatch.setenv("BALLOT_KEY_FILE", str(tmp_path / "k.pem"))
    assert ballot_key_path() == tmp_path / "k.pem"
