"""The voter's side of the one-time credential: the issuer sees only blinded values; finished credentials
verify, for their own session and round only; two credentials of one voter cannot be linked to each other or
to the request that made them; a credential carries through sealing to the count."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from domain.ballot_messages import ConflictClass, CredentialIssue, CredentialRequest, SessionKeys
from domain.ballots import Choice
from security import blind
from security.committee import make_session_secret, rebuild_sealing_key, share_commitment
from security.credentials import PendingCredential, VoterCredential, finish, prepare_request
from security.sealing import (
    SealError,
    class_message,
    open_ballot,
    public_key_info,
    receipt_hex,
    seal_ballot,
    token_message,
)

SESSION = "ballot-council-BTP-HD-2026-01"
VOTER = "btp.hd.uy-vien-1"
A, B = "nomination-2026-BTP-01/TTr-BTP", "nomination-2026-BTP-02/TTr-BTP"
COMMITTEE = ["btp.hd.uy-vien-1", "btp.hd.uy-vien-2", "btp.hd.uy-vien-3"]


@dataclass(frozen=True)
class Issuer:
    """The session's side, as the sign_credential activity holds it (test stand-in)."""

    keys: SessionKeys
    issuer: rsa.RSAPrivateKey
    classes: dict[str, rsa.RSAPrivateKey]
    wrapped_private: bytes
    shares: list[tuple[int, bytes]]

    def sign(self, request: CredentialRequest, class_id: str, *, round: int | None = None) -> CredentialIssue:
        excluded = next(c.excluded for c in self.keys.classes if c.class_id == class_id)
        return CredentialIssue(
            session_id=SESSION,
            round=request.round if round is None else round,
            class_id=class_id,
            excluded=excluded,
            blind_token_signature=b64(blind.blind_sign(self.issuer, unb64(request.blinded_token))),
            blind_class_signature=b64(blind.blind_sign(self.classes[class_id], unb64(request.blinded_class))),
        )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(value: str) -> bytes:
    return base64.b64decode(value)


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    secret = make_session_secret(SESSION, 3, 2)
    signing = blind.generate_signing_key()
    classes = {"k00": blind.generate_signing_key(), "k01": blind.generate_signing_key()}
    keys = SessionKeys(
        sealing=secret.sealing,
        issuer=public_key_info(signing),
        classes=[
            ConflictClass(class_id="k00", key=public_key_info(classes["k00"]), excluded=[]),
            ConflictClass(class_id="k01", key=public_key_info(classes["k01"]), excluded=[B]),
        ],
        committee=COMMITTEE,
        threshold=2,
        commitments=[
            share_commitment(SESSION, member, index, share)
            for member, (index, share) in zip(COMMITTEE, secret.shares, strict=True)
        ],
    )
    return Issuer(keys, signing, classes, secret.wrapped_private, secret.shares)


def credential(issuer: Issuer, class_id: str = "k00", round: int = 1) -> tuple[CredentialRequest, VoterCredential]:
    request, pending = prepare_request(issuer.keys, SESSION, round, VOTER, class_id)
    return request, finish(pending, issuer.sign(request, class_id))


def test_the_request_shows_the_issuer_only_blinded_values(issuer: Issuer) -> None:
    request, pending = prepare_request(issuer.keys, SESSION, 1, VOTER, "k01", channel="API")
    assert request.voter == VOTER and request.round == 1 and request.channel == "API"
    blinded_token, blinded_class = unb64(request.blinded_token), unb64(request.blinded_class)
    assert len(blinded_token) == len(blinded_class) == 256
    token = pending.token
    secrets_of_the_voter = [
        token,
        b64(token).encode(),
        token_message(SESSION, 1, token),
        class_message(SESSION, 1, token, "k01"),
        receipt_hex(SESSION, 1, token).encode(),
    ]
    wire = request.model_dump_json().encode()
    for secret in secrets_of_the_voter:
        assert secret not in blinded_token and secret not in blinded_class and secret not in wire


def test_a_finished_credential_verifies_under_the_issuer_and_its_class_key(issuer: Issuer) -> None:
    request, cred = credential(issuer, "k01")
    assert cred.class_id == "k01" and cred.excluded == [B] and len(cred.token) == 32
    assert blind.verify(issuer.keys.issuer.public_pem, token_message(SESSION, 1, cred.token), cred.token_signature)
    k01 = issuer.keys.classes[1].key.public_pem
    assert blind.verify(k01, class_message(SESSION, 1, cred.token, "k01"), cred.class_signature)
    # The class signature does not pass for another class: a voter cannot claim fewer recusals.
    k00 = issuer.keys.classes[0].key.public_pem
    assert not blind.verify(k00, class_message(SESSION, 1, cred.token, "k00"), cred.class_signature)
    assert not blind.verify(k01, class_message(SESSION, 1, cred.token, "k00"), cred.class_signature)
    # What the issuer returned is not what the ballot carries.
    assert unb64(issuer.sign(request, "k01").blind_token_signature) != cred.token_signature


def test_a_credential_does_not_verify_for_another_round_or_session(issuer: Issuer) -> None:
    _, cred = credential(issuer)
    issuer_pem = issuer.keys.issuer.public_pem
    assert blind.verify(issuer_pem, token_message(SESSION, 1, cred.token), cred.token_signature)
    assert not blind.verify(issuer_pem, token_message(SESSION, 2, cred.token), cred.token_signature)
    assert not blind.verify(
        issuer_pem, token_message("ballot-council-BTP-HD-2026-02", 1, cred.token), cred.token_signature
    )
    k00 = issuer.keys.classes[0].key.public_pem
    assert not blind.verify(k00, class_message(SESSION, 2, cred.token, "k00"), cred.class_signature)


def test_finish_refuses_an_answer_that_does_not_fit_the_request(issuer: Issuer) -> None:
    request, pending = prepare_request(issuer.keys, SESSION, 1, VOTER, "k01")
    good = issuer.sign(request, "k01")
    with pytest.raises(SealError, match="another session or round"):
        finish(pending, good.model_copy(update={"round": 2}))
    with pytest.raises(SealError, match="another session or round"):
        finish(pending, good.model_copy(update={"session_id": "ballot-council-BTP-HD-2026-02"}))
    with pytest.raises(SealError, match="for class 'k00'"):
        finish(pending, good.model_copy(update={"class_id": "k00"}))
    with pytest.raises(SealError, match="recusals differ"):
        finish(pending, good.model_copy(update={"excluded": []}))
    # The class message signed with the wrong class's key (fewer recusals) does not verify. The message blinded
    # under k01's modulus is taken modulo k00's first: about half the time it is not smaller than it.
    other = issuer.classes["k00"]
    blinded = unb64(request.blinded_class)
    fitted = (int.from_bytes(blinded, "big") % other.private_numbers().public_numbers.n).to_bytes(len(blinded), "big")
    wrong_key = good.model_copy(update={"blind_class_signature": b64(blind.blind_sign(other, fitted))})
    with pytest.raises(SealError, match="does not verify"):
        finish(pending, wrong_key)
    tampered = bytearray(unb64(good.blind_token_signature))
    tampered[0] ^= 0x01
    with pytest.raises(SealError, match="does not verify"):
        finish(pending, good.model_copy(update={"blind_token_signature": b64(bytes(tampered))}))
    assert finish(pending, good).class_id == "k01"


def test_two_credentials_of_one_voter_share_nothing(issuer: Issuer) -> None:
    first_request, first = credential(issuer)
    second_request, second = credential(issuer)
    assert first.token != second.token
    assert first_request.blinded_token != second_request.blinded_token
    assert first_request.blinded_class != second_request.blinded_class
    assert first.token_signature != second.token_signature
    # Neither request holds the other's token, or its own.
    for request in (first_request, second_request):
        for cred in (first, second):
            assert cred.token not in unb64(request.blinded_token)
            assert token_message(SESSION, 1, cred.token) not in unb64(request.blinded_token)


def test_prepare_refuses_an_unknown_class_or_a_mislabelled_key(issuer: Issuer) -> None:
    with pytest.raises(SealError, match="no conflict class 'k07'"):
        prepare_request(issuer.keys, SESSION, 1, VOTER, "k07")
    forged_issuer = issuer.keys.issuer.model_copy(update={"public_pem": issuer.keys.classes[0].key.public_pem})
    with pytest.raises(SealError, match="does not match its PEM"):
        prepare_request(issuer.keys.model_copy(update={"issuer": forged_issuer}), SESSION, 1, VOTER, "k00")


def test_a_credential_carries_through_the_sealed_ballot_to_the_count(issuer: Issuer) -> None:
    _, cred = credential(issuer, "k01")
    choices: dict[str, Choice | None] = {A: Choice.FOR, B: None}  # B is excluded for k01: RECUSE
    sealed = seal_ballot(issuer.keys.sealing, SESSION, 1, cred.token, choices, cred.class_id, cred.class_signature)
    key = rebuild_sealing_key(SESSION, issuer.wrapped_private, issuer.shares[1:], issuer.keys.threshold)
    opened = open_ballot(key, SESSION, 1, cred.token, sealed)
    assert opened.choices == choices
    class_key = next(c for c in issuer.keys.classes if c.class_id == opened.class_id)
    assert blind.verify(
        class_key.key.public_pem, class_message(SESSION, 1, cred.token, opened.class_id), opened.class_signature
    )
    assert class_key.excluded == [B]


def test_the_pending_credential_is_never_part_of_the_request(issuer: Issuer) -> None:
    request, pending = prepare_request(issuer.keys, SESSION, 1, VOTER, "k00")
    assert isinstance(pending, PendingCredential)
    assert set(CredentialRequest.model_fields) == {"voter", "round", "blinded_token", "blinded_class", "channel"}
    wire = request.model_dump_json()
    assert b64(pending.token_inv) not in wire and b64(pending.class_inv) not in wire
