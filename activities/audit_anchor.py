"""The audit anchor workflow's activity: read the chain's head (store/audit.py) for the anchor to record."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity

from domain.audit_anchors import AuditHead
from security.audit_keys import audit_keyring
from store.audit import read_head


class AuditAnchorActivities:
    """The anchor workflow's one activity. Reading the head is read-only, so any retry is harmless."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # The worker that appends entries must hold the key: a missing one stops it at start, not at a write.
        audit_keyring()

    @activity.defn
    async def read_audit_head(self) -> AuditHead:
        async with self._engine.connect() as conn:
            return await read_head(conn)
