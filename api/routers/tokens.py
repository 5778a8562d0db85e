"""Signing out everywhere: the token carrying the request revokes itself."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Signed, Svc
from api.models import TokenRevocation, TokenRevocationBody
from api.problems import ProblemError
from client.revocation import RevocationUnavailable

router = APIRouter(tags=["tokens"])


@router.post(
    "/tokens/revoke",
    response_model=TokenRevocation,
    summary="Revoke the token carrying this request",
    responses={503: {}},
)
async def revoke_token(svc: Svc, who: Signed, body: TokenRevocationBody | None = None) -> TokenRevocation:
    """Sign out everywhere this token is used: its id (`jti`) is listed as revoked, and from then on the API
    (401 naming the id), the CLI and the inbox refuse it until it expires. Only the token carrying the
    request is revoked, never one a body names (a `jti` field is a 422 naming it); other tokens of the same
    actor keep working. An operator revokes any token by its id with `starter.py token revoke --jti` (it needs
    the signing keys). Revoking a revoked token again changes nothing: 200 with the first revocation and
    `already_revoked: true`. Another API process that checked the token within the last few seconds may
    still accept it for those seconds (docs/trust.md, Tokens and revocation)."""
    try:
        revocation, made = await svc.revocations.revoke_own(who, body.reason if body else None)
    except RevocationUnavailable as err:
        raise ProblemError("service-unavailable", str(err)) from None
    return TokenRevocation(
        jti=revocation.jti,
        revoked_at=revocation.revoked_at,
        refused_until=revocation.expires_at,
        already_revoked=not made,
    )
