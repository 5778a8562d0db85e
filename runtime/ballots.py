"""Client-side operations on ballot sessions, shared by the CLI, the demo and the tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.ballot_messages import (
    BallotCast,
    BallotReceipt,
    ChairAction,
    ListClosing,
    PublicKeyInfo,
    SessionStart,
    SessionStatus,
    TieDecision,
    session_workflow_id,
)
from domain.ballots import Choice, ReceiptState, opener_error, receipt_state
from domain.errors import FieldError, InvalidInput
from runtime.nominations import ActionRefused, NominationNotFound, act
from runtime.sealing import seal_ballot
from workflows.ballot_session import BallotSessionWorkflow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


class DuplicateSession(Exception):
    pass


async def check_opener(engine: AsyncEngine, start: SessionStart) -> None:
    """Refuse, before anything starts, a scope the roster does not know (InvalidInput) or an opener without
    the role (ActionRefused): the council's secretary or chair, the bloc head."""
    from activities.session_roster import scope_snapshot

    try:
        snapshot = await scope_snapshot(engine, start.kind.value, start.scope)
    except KeyError as err:
        raise InvalidInput([FieldError(field="scope", message=str(err).strip("'\""))]) from None
    refusal = opener_error(snapshot, start.kind, start.scope, start.opened_by)
    if refusal is not None:
        raise ActionRefused(refusal + "; nothing was started")


async def open_session(
    client: Client, task_queue: str, start: SessionStart, *, engine: AsyncEngine | None = None
) -> WorkflowHandle[BallotSessionWorkflow, SessionStatus]:
    """Start the session. With `engine` the opener is checked against the roster first (the workflow checks
    again against its own snapshot and ends CANCELLED with the reason if an opener slipped through)."""
    if engine is not None:
        await check_opener(engine, start)
    session_id = session_workflow_id(start.kind, start.scope, start.meeting_ref)
    try:
        return await client.start_workflow(
            BallotSessionWorkflow.run,
            start,
            id=session_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"Bỏ phiếu kín {start.kind.value} {start.scope} – {start.meeting_ref}",
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
    return await act(client, session_id, "close_list", ListClosing(actor=actor), result_type=SessionStatus)


async def cast(client: Client, session_id: str, voter: str, choices: Mapping[str, Choice]) -> BallotReceipt:
    """Seal the choices to the session's tally key here, on the voter's side, then send the ballot."""
    status = await session_status(client, session_id)
    if status.key_id is None or status.public_pem is None:
        raise ActionRefused(f"ballot session {session_id} has no tally key yet; try again in a moment")
    key = PublicKeyInfo(key_id=status.key_id, public_pem=status.public_pem)
    sealed = seal_ballot(key, session_id, voter, choices)
    return await act(
        client, session_id, "cast_ballot", BallotCast(voter=voter, ballot=sealed), result_type=BallotReceipt
    )


async def chair_action(client: Client, session_id: str, update: str, action: ChairAction) -> SessionStatus:
    return await act(client, session_id, update, action, result_type=SessionStatus)


async def decide_tie(client: Client, session_id: str, decision: TieDecision) -> SessionStatus:
    """The bloc head's decision on a tie awaiting it; returns once the results have gone out (CLOSED)."""
    return await act(client, session_id, "decide_tie", decision, result_type=SessionStatus)


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
