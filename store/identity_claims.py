"""One person, one nomination per award form and year: the nominee identity claims (table nominee_identity).

The client claims the nominee's identity key (domain/identity.py) for the workflow id before it starts the
workflow (so a duplicate is answered at once, naming the holder), and the workflow claims it again when it
registers (so a start that skipped the client is caught too). The table's primary key (identity_key,
award_form, year) admits one holder, so two nominations of the same nominee started at the same moment cannot
both hold it; a claim by the same workflow id again (a retry, a replay) is answered with that id as the holder.
A claim is released in the transaction that records the nomination WITHDRAWN (store/transitions.py), so
the unit may propose the nominee again; a start refused at registration holds none."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.records import IdentityClaim, RefusedStart
from domain.stages import Stage
from store.audit import AuditEntry, ChainKeyring, Channel, append_audit
from store.db import dialect_insert
from store.schema import nominee_identity

PROPOSAL_REFUSED = "PROPOSAL_REFUSED"


async def identity_holder(engine: AsyncEngine, identity_key: str, award_form: str, year: int) -> str | None:
    """The workflow id holding this nominee for this form and year, or None."""
    async with engine.connect() as conn:
        return await conn.scalar(
            sa.select(nominee_identity.c.workflow_id).where(
                (nominee_identity.c.identity_key == identity_key)
                & (nominee_identity.c.award_form == award_form)
                & (nominee_identity.c.year == year)
            )
        )


def _claimed(claim: IdentityClaim) -> sa.ColumnElement[bool]:
    return (
        (nominee_identity.c.identity_key == claim.identity_key)
        & (nominee_identity.c.award_form == claim.award_form)
        & (nominee_identity.c.year == claim.year)
    )


async def claim_identity(engine: AsyncEngine, claim: IdentityClaim) -> tuple[str, bool]:
    """Claim the key for the claim's workflow unless another holds it; returns (the holder — the claimant when
    the claim is, or already was, its own —, whether this call made the claim)."""
    # No transaction: the INSERT commits alone and, when it inserts, answers the question, so the usual claim
    # costs one round trip instead of four (BEGIN, INSERT, SELECT, COMMIT). A conflicting INSERT waits for the
    # row that stopped it to commit, so the SELECT then sees that row, as it did inside a transaction.
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        inserted = await conn.execute(
            dialect_insert(conn, nominee_identity)
            .values(
                identity_key=claim.identity_key,
                award_form=claim.award_form,
                year=claim.year,
                workflow_id=claim.workflow_id,
                claimed_at=datetime.now(UTC),
            )
            .on_conflict_do_nothing(
                index_elements=[nominee_identity.c.identity_key, nominee_identity.c.award_form, nominee_identity.c.year]
            )
        )
        if inserted.rowcount and inserted.rowcount > 0:
            return claim.workflow_id, True
        holder = await conn.scalar(sa.select(nominee_identity.c.workflow_id).where(_claimed(claim)))
    assert holder is not None  # held by the row that stopped the insert
    return str(holder), False


async def drop_claim(engine: AsyncEngine, claim: IdentityClaim) -> None:
    """Undo a claim this client made for a workflow that did not start."""
    async with engine.begin() as conn:
        await conn.execute(
            sa.delete(nominee_identity).where(_claimed(claim) & (nominee_identity.c.workflow_id == claim.workflow_id))
        )


async def take_over(engine: AsyncEngine, claim: IdentityClaim, stale_holder: str, claimed_before: datetime) -> bool:
    """Move a claim whose holder never started (a client stopped between its claim and its start) to this
    claim's workflow, if it is still that holder's and older than `claimed_before`; whether it moved."""
    async with engine.begin() as conn:
        moved = await conn.execute(
            sa.update(nominee_identity)
            .where(
                _claimed(claim)
                & (nominee_identity.c.workflow_id == stale_holder)
                & (nominee_identity.c.claimed_at < claimed_before)
            )
            .values(workflow_id=claim.workflow_id, claimed_at=datetime.now(UTC))
        )
    return bool(moved.rowcount and moved.rowcount > 0)


async def claimed_at(engine: AsyncEngine, claim: IdentityClaim) -> datetime | None:
    async with engine.connect() as conn:
        moment = await conn.scalar(sa.select(nominee_identity.c.claimed_at).where(_claimed(claim)))
    return None if moment is None else (moment if moment.tzinfo else moment.replace(tzinfo=UTC))


async def release_identity(conn: AsyncConnection, workflow_id: str) -> int:
    """Drop the claims a nomination holds (in the caller's transaction); returns how many there were."""
    return await release_identities(conn, [workflow_id])


async def release_identities(conn: AsyncConnection, workflow_ids: Sequence[str]) -> int:
    """Drop the claims these nominations hold, in one statement (in the caller's transaction); returns how
    many there were."""
    result = await conn.execute(sa.delete(nominee_identity).where(nominee_identity.c.workflow_id.in_(workflow_ids)))
    return max(result.rowcount or 0, 0)


def refused_start_entry(refusal: RefusedStart) -> AuditEntry:
    channel = refusal.channel.upper()
    return AuditEntry(
        workflow_id=refusal.workflow_id,
        seq=0,  # before any transition: a refused start has none
        action=PROPOSAL_REFUSED,
        actor=refusal.proposer,
        channel=Channel(channel) if channel in Channel.__members__ else Channel.CLI,
        from_stage=None,
        to_stage=Stage.REFUSED.value,
        outcome=refusal.reason,
        occurred_at=refusal.occurred_at,
        details={"ministry": refusal.ministry, "award_form": refusal.award_form, "year": refusal.year},
    )


async def write_refused_start(engine: AsyncEngine, refusal: RefusedStart, keyring: ChainKeyring) -> tuple[int, bool]:
    """In one transaction: release any claim the refused workflow holds (its client may have made one for it)
    and audit the refusal (keyed on the workflow id: a retry appends nothing). Returns (claims released,
    whether the entry was appended)."""
    async with engine.begin() as conn:
        released = await release_identity(conn, refusal.workflow_id)
        appended = await append_audit(conn, refused_start_entry(refusal), keyring=keyring)
    return released, appended
