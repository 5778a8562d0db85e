"""The counting committee (Ban kiểm phiếu): a member's counting key, their encrypted share of a session's key,
and the hand-in of that share, decrypted, for the count."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from api.deps import Services, SessionId, Svc, Who, on_session, payload
from api.models import CountingKeyBody, CountingKeyEnrolled, ShareBody, ShareReceipt
from api.problems import ProblemError, invalid
from client import ballots as ballot_ops
from domain.ballot_messages import MemberShare, SessionStatus, ShareHandIn
from security.sealing import SealError

router = APIRouter(tags=["ballot sessions"])


async def committee_member(svc: Services, session_id: str, member: str) -> SessionStatus:
    """The session's status, for a member of its counting committee (403 naming the actor otherwise)."""
    status = await on_session(session_id, ballot_ops.session_status(await svc.client(), session_id))
    if member not in status.committee:
        raise ProblemError(
            "forbidden",
            f"{member!r} không thuộc Ban kiểm phiếu của phiên {session_id} nên không giữ mảnh khóa nào",
            detail_en=f"{member!r} is not on the counting committee (Ban kiểm phiếu) of {session_id}; "
            "it holds no share",
        )
    return status


@router.get(
    "/ballot-sessions/{session_id}/share",
    response_model=MemberShare,
    summary="A counting committee member's share, encrypted to their counting key",
    responses={403: {}, 404: {}, 409: {}},
)
async def member_share(session_id: SessionId, svc: Svc, who: Who) -> MemberShare:
    """For the token's actor, a member of the session's counting committee (403 otherwise): their share of the
    key that wraps the session's sealing key, encrypted (RSA-OAEP-SHA256) to the counting key they enrolled
    (`member_key_id`). Only the member's private key opens it; they hand it in with POST .../shares once the
    round's voting is over. 409 before the session's keys are made (voting not yet open) or after they were
    destroyed (the session ended)."""
    await committee_member(svc, session_id, who.actor)
    try:
        return await ballot_ops.member_share(svc.engine(), session_id, who.actor)
    except LookupError as err:
        raise ProblemError("action-refused", str(err).strip("'\"")) from None


@router.post(
    "/ballot-sessions/{session_id}/shares",
    response_model=ShareReceipt,
    summary="A counting committee member hands in their share for the count",
    responses={403: {}, 404: {}, 409: {}},
)
async def hand_in_share(session_id: SessionId, body: ShareBody, svc: Svc, who: Who) -> ShareReceipt:
    """The token's actor, a member of the session's counting committee (403 otherwise), hands in their share,
    decrypted on their side. Only while the session is AWAITING_COUNT (409 before: voting is still open);
    a share that does not match the commitment published in the session's keys, or a second hand-in, is
    refused (409). The count runs once `threshold` shares are in: the session's key is rebuilt in memory only."""
    await committee_member(svc, session_id, who.actor)
    handing = payload(ShareHandIn, member=who.actor, **body.model_dump())
    status = await on_session(session_id, ballot_ops.hand_in_share(await svc.client(), session_id, handing))
    return ShareReceipt(
        session_id=session_id,
        phase=status.phase,
        round=status.round,
        shares_in=status.shares_in,
        threshold=status.keys.threshold if status.keys else 0,
        committee_size=len(status.committee),
    )


@router.post(
    "/counting-keys",
    status_code=201,
    response_model=CountingKeyEnrolled,
    summary="Enroll one's counting key (Ban kiểm phiếu)",
    responses={200: {"model": CountingKeyEnrolled, "description": "this very key was enrolled before"}, 409: {}},
)
async def enroll_counting_key(body: CountingKeyBody, svc: Svc, who: Who) -> Response:
    """The token's actor enrolls the public half of their own counting key (RSA-3072 SubjectPublicKeyInfo PEM,
    RSA-OAEP-SHA256); the private half never leaves them. A session's counting committee member needs one
    before the session opens: their share of the session's key is encrypted to it. The same key again answers
    200; another key while one is enrolled is a 409 unless `replace` is true — and shares of sessions opened
    before the replacement stay encrypted to the old key, which alone opens them."""
    engine = svc.engine()
    before = await ballot_ops.enrolled_counting_key(engine, who.actor)
    try:
        key_id = await ballot_ops.enroll_counting_key(engine, who.actor, body.public_pem, replace=body.replace)
    except SealError as err:
        raise invalid("public_pem", str(err)) from None
    except ballot_ops.DuplicateEnrollment as err:
        raise ProblemError("duplicate", str(err)) from None
    same = before is not None and before.key_id == key_id
    answer = CountingKeyEnrolled(
        actor=who.actor, key_id=key_id, replaced=None if same or before is None else before.key_id
    )
    return JSONResponse(answer.model_dump(), status_code=200 if same else 201)
