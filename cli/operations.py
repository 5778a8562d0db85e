"""The operator's commands: the database schema, the audit chain's check, the namespace's search attributes."""

from __future__ import annotations

import argparse

from cli.audit import add_verify_arguments, verify
from cli.common import EXIT_OK, database_url, settings, temporal_client


async def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from store.migrate import upgrade_to_head

    await upgrade_to_head(database_url())
    print("Lược đồ cơ sở dữ liệu đã ở bản mới nhất (schema at head)")
    return EXIT_OK


async def cmd_verify_audit(args: argparse.Namespace) -> int:
    # 0: intact and agreeing with every anchor; 6: the first bad entry (changed, relinked, recomputed or
    # truncated) on stderr; 1: no database or audit table, no audit key, or no anchors to read (cli/audit.py).
    return await verify(database_url(), settings(), anchors=not args.no_anchors)


async def cmd_setup(args: argparse.Namespace) -> int:
    from client.temporal import ensure_search_attributes

    added = await ensure_search_attributes(await temporal_client())
    print(f"Thuộc tính tìm kiếm đã thêm: {', '.join(added) or 'không có (đã đăng ký từ trước)'}")
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("db", help="lược đồ cơ sở dữ liệu")
    s.add_argument("action", choices=["upgrade"], help="upgrade: nâng lược đồ lên bản mới nhất")
    # The schema is the database's: migrating it needs no payload keys.
    s.set_defaults(run=cmd_db_upgrade, payload_keys=False)

    s = sub.add_parser("verify-audit", help="kiểm tra chuỗi nhật ký kiểm toán với các neo; báo mục sai đầu tiên")
    add_verify_arguments(s)
    s.set_defaults(run=cmd_verify_audit)

    s = sub.add_parser("setup", help="đăng ký các thuộc tính tìm kiếm trên namespace của Temporal")
    s.set_defaults(run=cmd_setup)
