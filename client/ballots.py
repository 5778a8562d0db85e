"""Client-side operations on ballot sessions, shared by the CLI, the API, the demo and the tests.

The voter's side of a secret ballot runs here, in the client: it asks which conflict class the voter holds,
takes a one-time credential (the token is blinded before it leaves), seals the choices to the session's
sealing key and casts the ballot anonymously. A counting committee member's share is decrypted here with
their own counting key before it is handed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from client.metadata import readable_without_codec
from client.nominations import ActionRefused, NominationNotFound, act
from client.pacing import start_priority
from domain.ballot_messages import (
    AnonymousBallot,
    BallotPaper,
    BallotReceipt,
    ChairAction,
    ConflictClass,
    CredentialIssue,
    CredentialRequest,
    ListClosing,
    MemberShare,
    SessionPhase,
    SessionStart,
    SessionStatus,
    ShareHandIn,
    TieDecision,
    session_workflow_id,
)
from domain.ballots import STAGE_OF_KIND, BallotSessionKind, Choice, ReceiptState, opener_error, receipt_state
from domain.catalog import policy_set
from domain.committee import committee_errors, default_committee, missing_key_errors
from domain.errors import FieldError, InvalidInput
from domain.messages import ActionChannel
from domain.priority import WorkKind
from domain.task_queues import session_task_queue
from security.committee import counting_key_id, decrypt_share
from security.credentials import PendingCredential, finish, prepare_request
from security.sealing import SealError, b64, seal_ballot
from store.ballots import read_paper
from store.db import dialect_insert
from store.schema import counting_keys, counting_shares, nominations
from workflows.ballot_session import BallotSessionWorkflow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


class DuplicateSession(Exception):
    pass


class DuplicateEnrollment(Exception):
    """Another counting key is enrolled for this actor, and replacing it was not asked for."""


class CountingKey(BaseModel):
    actor_id: str
    key_id: str
    public_pem: str
    enrolled_at: datetime


# ---- opening --------------------------------------------------------------------------------------------


async def check_opener(engine: AsyncEngine, start: SessionStart) -> None:
    """Refuse, before anything starts, a scope the roster does not know (InvalidInput), an opener without the
    role (ActionRefused: the council's secretary or chair, the bloc head), or a counting committee that cannot
    hold the session's key (InvalidInput naming `committee`: not the body's voting members, not the policy's
    size, or a member without an enrolled counting key)."""
    from store.roster import scope_snapshot

    try:
        snapshot = await scope_snapshot(engine, start.kind.value, start.scope)
    except KeyError as err:
        raise InvalidInput([FieldError(field="scope", message=str(err).strip("'\""))]) from None
    refusal = opener_error(snapshot, start.kind, start.scope, start.opened_by)
    if refusal is not None:
        raise ActionRefused(refusal + "; nothing was started")
    policy = policy_set(start.policy_version).counting_committee
    committee = start.committee
    if committee is None:
        committee = default_committee(snapshot, start.kind, start.scope, policy.size)
    errors = committee_errors(snapshot, start.kind, start.scope, committee, policy)
    if not errors:
        async with engine.connect() as conn:
            enrolled = set(
                (
                    await conn.execute(
                        sa.select(counting_keys.c.actor_id).where(counting_keys.c.actor_id.in_(committee))
                    )
                ).scalars()
            )
        errors = missing_key_errors(committee, enrolled)
    if errors:
        raise InvalidInput([FieldError(field="committee", message=e.removeprefix("committee: ")) for e in errors])


async def check_closed_list(engine: AsyncEngine, start: SessionStart) -> None:
    """A closed list's names and seats, before anything starts (InvalidInput naming `candidates` or `seats`):
    each named nomination exists and waits at the stage of the session's kind in its scope, none is named
    twice; seats are a bloc's and at most the candidates named. The workflow claims them as it opens and ends
    CANCELLED, naming the nomination, if one is no longer waiting or another open session holds it."""
    errors: list[FieldError] = []
    named = start.candidates
    if start.seats is not None and start.kind != BallotSessionKind.BLOC:
        errors.append(FieldError(field="seats", message="chỉ phiên bỏ phiếu của Khối mới có số suất (seats)"))
    if start.seats is not None and named is not None and start.seats > len(named):
        errors.append(
            FieldError(field="seats", message=f"{start.seats} suất nhiều hơn {len(named)} hồ sơ trong danh sách")
        )
    if named is not None:
        twice = sorted({wf for wf in named if named.count(wf) > 1})
        if twice:
            errors.append(FieldError(field="candidates", message=f"hồ sơ được nêu hai lần: {', '.join(twice)}"))
        stage = STAGE_OF_KIND[start.kind]
        scope = nominations.c.ministry if start.kind == BallotSessionKind.COUNCIL else nominations.c.bloc
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(nominations.c.workflow_id, nominations.c.stage, scope.label("scope")).where(
                        nominations.c.workflow_id.in_(named)
                    )
                )
            ).all()
        found = {r.workflow_id: r for r in rows}
        for wf in dict.fromkeys(named):
            row = found.get(wf)
            if row is None:
                errors.append(FieldError(field="candidates", message=f"{wf}: không có hồ sơ này"))
            elif row.stage != stage.value or row.scope != start.scope:
                errors.append(
                    FieldError(
                        field="candidates",
                        message=f"{wf}: hồ sơ không chờ ở bước «{stage.label_vi}» của {start.scope} "
                        f"(đang ở {row.stage}, thuộc {row.scope})",
                    )
                )
    if errors:
        raise InvalidInput(errors)


async def open_session(
    client: Client, task_queue: str, start: SessionStart, *, engine: AsyncEngine | None = None
) -> WorkflowHandle[BallotSessionWorkflow, SessionStatus]:
    """Start the session. With `engine` the opener and the counting committee are checked against the roster
    and the enrolled counting keys first, and a closed list's names and seats (check_closed_list); the
    workflow checks the opener and the committee again against its own snapshot, claims the closed list, and
    ends CANCELLED with the reason if something slipped through."""
    if engine is not None:
        await check_opener(engine, start)
        await check_closed_list(engine, start)
    session_id = session_workflow_id(start.kind, start.scope, start.meeting_ref)
    try:
        return await client.start_workflow(
            BallotSessionWorkflow.run,
            start,
            id=session_id,
            task_queue=session_task_queue(task_queue),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            # A meeting: its members wait on it together, ahead of everything else (domain/priority.py).
            priority=start_priority(WorkKind.BALLOT_SESSION, start.scope),
            # In clear for the Temporal UI without the codec server: a kind, a scope and a meeting reference.
            static_summary=readable_without_codec(
                f"Bỏ phiếu kín {start.kind.value} {start.scope} – {start.meeting_ref}"
            ),
        )
    except WorkflowAlreadyStartedError:
        raise DuplicateSession(f"ballot session {session_id} already exists; nothing was started") from None


async def session_status(client: Client, session_id: str) -> SessionStatus:
    try:
        return await client.get_workflow_handle(session_id).query(BallotSessionWorkflow.status)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NominationNotFound(f"no ballot session with id {session_id}") from None
        raise


async def close_list(client: Client, session_id: str, actor: str) -> SessionStatus:
    return await act(
        client, session_id, BallotSessionWorkflow.close_list, ListClosing(actor=actor), result_type=SessionStatus
    )


# ---- the voter's side -------------------------------------------------------------------------------------


async def voter_class(client: Client, session_id: str, voter: str) -> ConflictClass:
    """The conflict class the voter holds in the session (ActionRefused for anyone outside its electorate, or
    before voting opens)."""
    return held_class((await ballot_paper(client, session_id, voter)).held, session_id, voter)


async def ballot_paper(client: Client, session_id: str, voter: str, engine: AsyncEngine | None = None) -> BallotPaper:
    """The session's status and the voter's class, read together: from the paper the session published in the
    database when `engine` is given (the register's phase, the paper of the newest round), else, or before one is
    published, by one query. A meeting casting at once overflows the session's query buffer (the server keeps one
    query while a workflow task runs, and its client backs off 1 s, 2 s, 4 s...); the database does not."""
    if engine is not None:
        published = await read_paper(engine, session_id, voter)
        if published is not None:
            return published
    try:
        return await client.get_workflow_handle(session_id).query(BallotSessionWorkflow.ballot_paper, voter)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NominationNotFound(f"no ballot session with id {session_id}") from None
        raise


def held_class(held: ConflictClass | None, session_id: str, voter: str) -> ConflictClass:
    """The voter's class, or ActionRefused for anyone outside the session's electorate (or before it votes)."""
    if held is None:
        raise ActionRefused(
            f"voter {voter!r} holds no ballot credential class in {session_id}: not in its electorate (the "
            "council's secretary records the session and does not vote), or voting is not open"
        )
    return held


async def request_credential(client: Client, session_id: str, request: CredentialRequest) -> CredentialIssue:
    """The voter's credential request (blinded messages only); ActionRefused with the session's reason."""
    return await act(client, session_id, BallotSessionWorkflow.request_credential, request, result_type=CredentialIssue)


async def cast_anonymous(client: Client, session_id: str, ballot: AnonymousBallot) -> BallotReceipt:
    """Send an anonymous sealed ballot; ActionRefused with the session's reason."""
    return await act(client, session_id, BallotSessionWorkflow.cast_ballot, ballot, result_type=BallotReceipt)


def _ballot_choices(
    status: SessionStatus, voter: str, choices: Mapping[str, Choice], excluded: list[str]
) -> dict[str, Choice | None]:
    """What the voter's client seals: a choice on every live candidate, RECUSE (None) where the voter's class
    must recuse; refused (InvalidInput naming `choices`) when a choice is missing, names a candidate off the
    list, or is given where the voter has a conflict of interest."""
    live = [c.workflow_id for c in status.candidates]
    struck = {s.candidate.workflow_id for s in status.struck}
    barred = set(excluded)
    problems: list[str] = []
    unknown = [wf for wf in choices if wf not in live and wf not in struck]
    if unknown:
        problems.append("not on this session's list: " + ", ".join(map(repr, unknown)))
    conflicted = [wf for wf in live if wf in barred and wf in choices]
    if conflicted:
        problems.append(
            f"{voter!r} has a conflict of interest on "
            + ", ".join(map(repr, conflicted))
            + "; leave them off the ballot"
        )
    missing = [wf for wf in live if wf not in barred and wf not in choices]
    if missing:
        problems.append("no choice for " + ", ".join(map(repr, missing)))
    if problems:
        raise InvalidInput([FieldError(field="choices", message=p) for p in problems])
    return {wf: None if wf in barred else Choice(choices[wf]) for wf in live}


async def cast(
    client: Client,
    session_id: str,
    voter: str,
    choices: Mapping[str, Choice],
    *,
    channel: ActionChannel = "CLI",
    engine: AsyncEngine | None = None,
) -> BallotReceipt:
    """The voter's whole ballot, on the voter's side: the class the voter holds, a one-time credential
    (blinded, so the session never sees the token), the choices sealed to the session's key (RECUSE where the
    class recuses), and the ballot cast with no identity. The ballot is checked before the credential is
    taken, so a ballot refused here costs the voter nothing. With `engine`, the ballot paper is read from the
    database (ballot_paper)."""
    paper = await ballot_paper(client, session_id, voter, engine)
    status = paper.status
    if status.keys is None or status.phase != SessionPhase.VOTING:
        raise ActionRefused(f"ballot session {session_id} is {status.phase.value}: voting is not open")
    held = held_class(paper.held, session_id, voter)
    sealed_choices = _ballot_choices(status, voter, choices, held.excluded)
    asked = (session_id, status.round, voter)
    if asked not in _asked_for:
        _asked_for[asked] = prepare_request(
            status.keys, session_id, status.round, voter, held.class_id, channel=channel
        )
        while len(_asked_for) > _ASKED_FOR_LIMIT:
            _asked_for.pop(next(iter(_asked_for)))
    request, pending = _asked_for[asked]
    issue = await request_credential(client, session_id, request)
    try:
        credential = finish(pending, issue)
        sealed = seal_ballot(
            status.keys.sealing,
            session_id,
            status.round,
            credential.token,
            sealed_choices,
            credential.class_id,
            credential.class_signature,
        )
    except SealError as err:
        raise ActionRefused(f"the session's credential cannot be used: {err}") from None
    ballot = AnonymousBallot(
        round=status.round, token=b64(credential.token), token_signature=b64(credential.token_signature), ballot=sealed
    )
    receipt = await cast_anonymous(client, session_id, ballot)
    _asked_for.pop(asked, None)
    return receipt


# A voter's credential request of this process, kept until the ballot is cast: a cast retried after a lost answer
# (a timeout under load) asks again with the very same blinded values, which the session answers with the very
# same credential; new values would be refused, the voter having taken this round's credential already. The
# blinding secrets stay in the voter's own process, as while one cast runs.
_asked_for: dict[tuple[str, int, str], tuple[CredentialRequest, PendingCredential]] = {}
_ASKED_FOR_LIMIT = 10_000


# ---- the counting committee -------------------------------------------------------------------------------


async def enrolled_counting_key(engine: AsyncEngine, actor_id: str) -> CountingKey | None:
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(counting_keys).where(counting_keys.c.actor_id == actor_id))).first()
    return None if row is None else CountingKey.model_validate(row._asdict())


async def enroll_counting_key(engine: AsyncEngine, actor_id: str, public_pem: str, *, replace: bool = False) -> str:
    """Enroll the public half of the actor's counting key (RSA-3072+ SPKI PEM); returns its key id. The same
    key again is a no-op; another key while one is enrolled raises DuplicateEnrollment unless `replace` (the
    shares of sessions opened before stay encrypted to the old key). SealError for a key that is no such PEM."""
    key_id = counting_key_id(public_pem)
    values = {"actor_id": actor_id, "key_id": key_id, "public_pem": public_pem, "enrolled_at": datetime.now(UTC)}
    async with engine.begin() as conn:
        insert = dialect_insert(conn, counting_keys).values(values)
        if replace:
            statement = insert.on_conflict_do_update(
                index_elements=[counting_keys.c.actor_id],
                set_={"key_id": key_id, "public_pem": public_pem, "enrolled_at": values["enrolled_at"]},
            )
        else:
            statement = insert.on_conflict_do_nothing(index_elements=[counting_keys.c.actor_id])
        await conn.execute(statement)
        enrolled = await conn.scalar(sa.select(counting_keys.c.key_id).where(counting_keys.c.actor_id == actor_id))
    if enrolled != key_id:
        raise DuplicateEnrollment(
            f"{actor_id!r} already has counting key {enrolled} enrolled; replacing it must be asked for (the shares "
            "of sessions opened before stay encrypted to that key)"
        )
    return key_id


async def member_share(engine: AsyncEngine, session_id: str, member: str) -> MemberShare:
    """The member's share of the session's wrapping key, encrypted to their counting key; LookupError when
    there is none (not a member, voting not open yet, or the session ended and its shares were destroyed)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(counting_shares).where(
                    counting_shares.c.session_id == session_id, counting_shares.c.member_id == member
                )
            )
        ).first()
    if row is None:
        raise LookupError(
            f"{session_id} holds no share for {member!r} (not on its counting committee, voting not open yet, "
            "or the session has ended and its shares were destroyed)"
        )
    return MemberShare(
        session_id=session_id,
        member=member,
        index=row.idx,
        member_key_id=row.member_key_id,
        encrypted_share=row.encrypted_share,
    )


async def hand_in_share(client: Client, session_id: str, hand_in_: ShareHandIn) -> SessionStatus:
    return await act(client, session_id, BallotSessionWorkflow.hand_in_share, hand_in_, result_type=SessionStatus)


async def hand_in(
    client: Client,
    engine: AsyncEngine,
    session_id: str,
    member: str,
    counting_key: rsa.RSAPrivateKey,
    *,
    channel: ActionChannel = "CLI",
) -> SessionStatus:
    """The member's share, decrypted here with their own counting key, handed in for the count."""
    share = await member_share(engine, session_id, member)
    try:
        index, plain = decrypt_share(counting_key, share.encrypted_share)
    except SealError as err:
        raise ActionRefused(f"{member!r}: {err}") from None
    if index != share.index:
        raise ActionRefused(f"{member!r}: the decrypted share is for index {index}, the session gave {share.index}")
    return await hand_in_share(
        client, session_id, ShareHandIn(member=member, index=index, share=b64(plain), channel=channel)
    )


# ---- the chair, the bloc head, receipts ------------------------------------------------------------------


# The chair's updates: BallotSessionWorkflow.close_voting, .extend or .cancel.
ChairUpdate = UpdateMethodMultiParam[[BallotSessionWorkflow, ChairAction], SessionStatus]


async def chair_action(
    client: Client, session_id: str, update: ChairUpdate | str, action: ChairAction
) -> SessionStatus:
    """The chair's action on the session, by the update's method (a name is still taken, for tests)."""
    return await act(client, session_id, update, action, result_type=SessionStatus)


async def decide_tie(client: Client, session_id: str, decision: TieDecision) -> SessionStatus:
    """The bloc head's decision on a tie awaiting it; returns once the results have gone out (CLOSED)."""
    return await act(client, session_id, BallotSessionWorkflow.decide_tie, decision, result_type=SessionStatus)


async def check_receipt(client: Client, receipt: str) -> tuple[str, ReceiptState]:
    """(session id, what became of the ballot: counted, spoiled, not found, or the session not closed yet)."""
    session_id, sep, digest = receipt.strip().rpartition(":")
    if not sep or len(digest) != 64:
        raise ValueError("RECEIPT: expected '<session id>:<64 hex characters>' as printed by `ballot cast`")
    status = await session_status(client, session_id)
    return session_id, receipt_state(receipt, status.counted_receipts, status.spoiled_receipts)


async def verify_receipt(client: Client, receipt: str) -> tuple[str, bool | None]:
    """(session id, counted?) — None while the session has not closed yet; a spoiled ballot is not counted."""
    session_id, state = await check_receipt(client, receipt)
    if state == ReceiptState.SESSION_NOT_CLOSED:
        return session_id, None
    return session_id, state == ReceiptState.COUNTED
