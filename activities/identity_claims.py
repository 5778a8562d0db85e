"""The activities of the nominee identity claims (store/identity_claims.py): one person, one nomination per
award form and year."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from domain.records import IdentityClaim, RefusedStart
from observability.logs import activity_logger
from security.audit_keys import audit_keyring
from store.identity_claims import claim_identity, write_refused_start


class IdentityActivities:
    """Register `claim_nominee_identity` and `record_refused_start`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @activity.defn(name="claim_nominee_identity")
    async def claim_nominee_identity(self, claim: IdentityClaim) -> str:
        holder, _ = await claim_identity(self._engine, claim)
        activity_logger(__name__).info("nominee_identity_claimed", held_by_claimant=holder == claim.workflow_id)
        return holder

    @activity.defn(name="record_refused_start")
    async def record_refused_start(self, refusal: RefusedStart) -> None:
        # A start refused at registration holds no nominee (its client may have claimed one for it).
        released, appended = await write_refused_start(self._engine, refusal, audit_keyring())
        activity_logger(__name__).info("proposal_refused_recorded", appended=appended, claims_released=released)
