"""The bodies of POST /tokens/revoke: the token carrying the request revokes itself (client/revocation.py)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from client.revocation import MAX_REASON


class TokenRevocationBody(BaseModel):
    # No other field: the token revoked is the one carrying the request, never one the body names (a `jti`
    # here is refused naming it).
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(
        default=None, max_length=MAX_REASON, description="optional: why (kept with the revocation)"
    )


class TokenRevocation(BaseModel):
    jti: str = Field(description="the revoked token's id")
    revoked_at: datetime
    refused_until: datetime = Field(
        description="the token's own expiry: the revocation is kept until then; after it the token is expired"
    )
    already_revoked: bool = Field(description="true when the token had been revoked before: nothing changed")
