"""Signed tokens: who acts. `token issue` and `token revoke`, and the check every other command runs first."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from cli.common import EXIT_FAILURE, EXIT_OK, EXIT_UNAUTHENTICATED, CliError, database, show
from cli.output import vn_time
from domain.errors import FieldError, InvalidInput

if TYPE_CHECKING:
    from client.revocation import RevocationStore
    from security.tokens import Identity


def signed_identity(args: argparse.Namespace) -> Identity:
    """The identity of the token given (--token or TDKT_TOKEN): signature, issuer, expiry and lifetime checked
    (security/tokens.py); whether it was revoked is the caller's to check. Exit 7 without one."""
    from security.tokens import AuthError, keyring_from_env, verify_token

    token = args.token or os.environ.get("TDKT_TOKEN")
    if not token:
        raise CliError(
            EXIT_UNAUTHENTICATED,
            "cần mã đăng nhập đã ký (--token hoặc TDKT_TOKEN); quản trị viên cấp mã bằng "
            "`starter.py token issue --for ACTOR`\n(a signed token is required)",
        )
    try:
        return verify_token(keyring_from_env(), token)
    except (AuthError, ValueError) as err:
        raise CliError(EXIT_UNAUTHENTICATED, f"mã đăng nhập không dùng được — unauthenticated: {err}") from None


async def with_revocations(work: Callable[[RevocationStore], Coroutine[Any, Any, Any]]) -> Any:
    """`work` over the revoked tokens in the database (DATABASE_URL); exit 1 when they cannot be read: no
    token is accepted unchecked."""
    from client.revocation import RevocationStore, RevocationUnavailable

    async with database() as engine:
        try:
            return await work(RevocationStore(engine))
        except RevocationUnavailable as err:
            raise CliError(EXIT_FAILURE, str(err)) from None


async def authenticate(args: argparse.Namespace) -> None:
    """Every human action carries an authenticated actor: the token's, never a bare --actor. A revoked token
    is no valid token (exit 7, naming its id)."""
    from client.revocation import TokenRevoked

    identity = signed_identity(args)
    try:
        await with_revocations(lambda revocations: revocations.check(identity))
    except TokenRevoked as err:
        raise CliError(EXIT_UNAUTHENTICATED, f"mã đăng nhập không dùng được — unauthenticated: {err}") from None
    if args.actor is not None and args.actor != identity.actor:
        raise CliError(
            EXIT_UNAUTHENTICATED,
            f"mã đăng nhập là của {identity.actor!r}, không phải của {args.actor!r}\n"
            f"(the token is for {identity.actor!r}, not {args.actor!r})",
        )
    args.actor = identity.actor


async def cmd_token_issue(args: argparse.Namespace) -> int:
    from security.tokens import issue_token, keyring_from_env, verify_token

    if args.ttl_hours <= 0:
        raise InvalidInput([FieldError(field="--ttl-hours", message="must be positive")])
    keyring = keyring_from_env()  # a missing or published key is a configuration error, not the lifetime's
    try:
        token = issue_token(keyring, args.subject, timedelta(hours=args.ttl_hours))
    except ValueError as err:
        raise InvalidInput([FieldError(field="--ttl-hours", message=str(err))]) from None
    print(token)
    # Its id is what `token revoke --jti` takes; on stderr, so that stdout stays the token alone.
    issued = verify_token(keyring, token)
    print(
        f"token id (jti): {issued.token_id}; for {issued.actor}; expires {issued.expires_at.isoformat()}",
        file=sys.stderr,
    )
    return EXIT_OK


async def cmd_token_revoke(args: argparse.Namespace) -> int:
    """Your own token (the one given), or, with the signing keys, any token by its id. Revoking a revoked
    token again changes nothing and says when it was revoked."""
    from client.revocation import MAX_REASON
    from security.tokens import TOKEN_ID, keyring_from_env

    reason = (args.reason or "").strip() or None
    if reason is not None and len(reason) > MAX_REASON:
        raise InvalidInput([FieldError(field="--reason", message=f"at most {MAX_REASON} characters")])
    if args.jti is not None:
        if not TOKEN_ID.fullmatch(args.jti):
            message = "not a token id (1 to 64 letters, digits, '.', '_' or '-'; `token issue` prints it)"
            raise InvalidInput([FieldError(field="--jti", message=message)])
        if reason is None:
            raise InvalidInput([FieldError(field="--reason", message="required with --jti: say why it is revoked")])
        keyring_from_env()  # revoking by id alone is for whoever holds the signing keys, as issuing is
        jti = args.jti
        made = await with_revocations(lambda revocations: revocations.revoke_by_id(jti, reason))
    else:
        identity = signed_identity(args)
        made = await with_revocations(lambda revocations: revocations.revoke_own(identity, reason))
    revocation, created = made
    show(
        {
            "jti": revocation.jti,
            "actor": revocation.actor_id,
            "revoked_at": revocation.revoked_at.isoformat(),
            "refused_until": revocation.expires_at.isoformat(),
            "already_revoked": not created,
        }
    )
    if not created:
        print(
            f"Mã {revocation.jti} đã bị thu hồi từ {vn_time(revocation.revoked_at)} "
            f"(token {revocation.jti} was already revoked)",
            file=sys.stderr,
        )
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("token", help="cấp hoặc thu hồi mã đăng nhập đã ký")
    tokens = s.add_subparsers(dest="token_command", required=True)
    s = tokens.add_parser("issue", help="cấp mã đăng nhập đã ký để dùng tại máy (cần khóa ký)")
    s.add_argument("--for", dest="subject", required=True, help="mã cán bộ mà mã đăng nhập đứng tên")
    s.add_argument("--ttl-hours", type=float, default=8, help="thời hạn của mã, tính bằng giờ (mặc định 8)")
    s.set_defaults(run=cmd_token_issue, payload_keys=False)
    s = tokens.add_parser(
        "revoke",
        help="thu hồi mã đăng nhập trước khi hết hạn: mã của chính mình (--token hoặc TDKT_TOKEN), hoặc bất kỳ "
        "mã nào theo số hiệu (--jti, cần khóa ký)",
    )
    # SUPPRESS: when not given here, the top-level --token (or TDKT_TOKEN) stands.
    s.add_argument("--token", default=argparse.SUPPRESS, help="mã của anh/chị cần thu hồi (mặc định: $TDKT_TOKEN)")
    s.add_argument(
        "--jti",
        help="quản trị: số hiệu mã cần thu hồi (`token issue` in ra); cần khóa ký và --reason",
    )
    s.add_argument("--reason", help="lý do thu hồi (bắt buộc khi dùng --jti)")
    s.set_defaults(run=cmd_token_revoke, payload_keys=False)
