"""The voter's side of the one-time ballot credential (used by the CLI, the demo and the tests).

The client picks a random 32-byte token, blinds token_message under the session's issuer key and
class_message under the key of the voter's conflict class, and sends only the blinded values with its
request. The issuer, who knows the voter, signs them blind; the client unblinds (finalize checks each
signature). The ballot is then cast with the token and its signature and no identity: the issuer never saw
the token, so it cannot tie the ballot to the request.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from domain.ballot_messages import ConflictClass, CredentialIssue, CredentialRequest, SessionKeys
from domain.messages import ActionChannel
from security import blind
from security.sealing import TOKEN_BYTES, SealError, b64, class_message, load_public, token_message, unb64


@dataclass(frozen=True)
class VoterCredential:
    """A finished credential: what the client needs to seal and cast one ballot in this round."""

    token: bytes
    token_signature: bytes
    class_id: str
    class_signature: bytes
    excluded: list[str]  # the candidates this voter must mark RECUSE


@dataclass(frozen=True)
class PendingCredential:
    """What the client keeps between its request and the issuer's answer. Never sent anywhere."""

    session_id: str
    round: int
    voter: str
    token: bytes
    voter_class: ConflictClass
    issuer_pem: str
    token_inv: bytes
    class_inv: bytes


def _class_of(keys: SessionKeys, class_id: str) -> ConflictClass:
    for conflict_class in keys.classes:
        if conflict_class.class_id == class_id:
            return conflict_class
    raise SealError(f"the session has no conflict class {class_id!r}")


def prepare_request(
    keys: SessionKeys, session_id: str, round: int, voter: str, class_id: str, *, channel: ActionChannel = "CLI"
) -> tuple[CredentialRequest, PendingCredential]:
    voter_class = _class_of(keys, class_id)
    # Each published key must match its key id before anything is blinded under it.
    load_public(keys.issuer, min_bits=blind.MIN_KEY_BITS, what="issuer key")
    load_public(voter_class.key, min_bits=blind.MIN_KEY_BITS, what=f"class {class_id} key")
    token = secrets.token_bytes(TOKEN_BYTES)
    blinded_token, token_inv = blind.blind(keys.issuer.public_pem, token_message(session_id, round, token))
    blinded_class, class_inv = blind.blind(
        voter_class.key.public_pem, class_message(session_id, round, token, class_id)
    )
    request = CredentialRequest(
        voter=voter, round=round, blinded_token=b64(blinded_token), blinded_class=b64(blinded_class), channel=channel
    )
    pending = PendingCredential(
        session_id=session_id,
        round=round,
        voter=voter,
        token=token,
        voter_class=voter_class,
        issuer_pem=keys.issuer.public_pem,
        token_inv=token_inv,
        class_inv=class_inv,
    )
    return request, pending


def finish(pending: PendingCredential, issue: CredentialIssue) -> VoterCredential:
    """Unblind the issuer's answer; SealError unless both signatures verify for this session, round, token
    and class."""
    if issue.session_id != pending.session_id or issue.round != pending.round:
        raise SealError("the credential answers another session or round")
    if issue.class_id != pending.voter_class.class_id:
        raise SealError(f"the credential is for class {issue.class_id!r}, the request was for another")
    if sorted(issue.excluded) != sorted(pending.voter_class.excluded):
        raise SealError("the credential's recusals differ from the session's published class")
    session_id, round, token = pending.session_id, pending.round, pending.token
    try:
        token_signature = blind.finalize(
            pending.issuer_pem,
            token_message(session_id, round, token),
            unb64(issue.blind_token_signature, "the blind token signature"),
            pending.token_inv,
        )
        class_signature = blind.finalize(
            pending.voter_class.key.public_pem,
            class_message(session_id, round, token, pending.voter_class.class_id),
            unb64(issue.blind_class_signature, "the blind class signature"),
            pending.class_inv,
        )
    except blind.BlindError as exc:
        raise SealError(f"the credential does not verify: {exc}") from None
    return VoterCredential(
        token=token,
        token_signature=token_signature,
        class_id=pending.voter_class.class_id,
        class_signature=class_signature,
        excluded=list(pending.voter_class.excluded),
    )
