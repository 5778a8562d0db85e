"""The audit chain's check, for `starter.py verify-audit` and `audit_cli.py verify`.

With the anchors (read from the anchor workflow of TASK_QUEUE on TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE) the
chain is checked against the heads anchored outside the database; --no-anchors checks the chain and its keys
alone (Temporal not needed), and cannot see its newest entries cut off, nor a rewrite by someone with the key.

Exit codes:
  0  intact: every link and key checks, and the chain agrees with every anchor
  1  failure: no database or no audit table, the audit key missing, or no anchors to read (the anchor workflow
     is missing or does not answer; --no-anchors checks without them)
  6  broken: the first bad entry on stderr — changed (hash mismatch), deleted or inserted (prev_hash mismatch),
     recomputed (without the key: plain sha256 or unkeyed; with it: an anchored hash the entry no longer has),
     or truncated (an anchor recorded entries the chain no longer has: the first missing id)
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from client.settings import Settings
    from domain.audit_anchors import AnchorLog
    from store.audit import AuditReport

EXIT_OK, EXIT_FAILURE, EXIT_BROKEN = 0, 1, 6
# An anchor not confirmed for this many intervals (plus a minute) means the anchor workflow is not running.
STALE_INTERVALS = 3


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def report_lines(report: AuditReport, log: AnchorLog | None = None) -> tuple[list[str], bool]:
    """What to print for a report (the verdict first, then the particulars) and whether the chain is intact."""
    if report.broken is not None:
        broken = report.broken
        return [
            f"audit chain broken at entry {broken.id} ({broken.workflow_id or 'missing'}): {broken.summary()}",
            f"  {broken.detail}",
            f"  {report.checked} entries before it are intact; the last of them hashes to {report.head_hash}",
        ], False
    lines = [f"audit chain intact: {report.checked} entries", f"head hash: {report.head_hash} (entry {report.head_id})"]
    if report.legacy:
        lines.append(f"legacy: the first {report.legacy} entries are unkeyed sha256 (written before keyed hashing)")
    if report.anchors_checked is None:
        lines.append("anchors: not checked (--no-anchors): a cut-off end or a rewrite with the key would not show")
        return lines, True
    latest = report.latest_anchor
    if latest is None:
        lines.append("anchors: none recorded yet")
        return lines, True
    lines.append(
        f"anchors: {report.anchors_checked} agree; latest {latest.count} entries up to entry {latest.last_id}, "
        f"hash {latest.hash[:16]}…, anchored {_when(latest.anchored_at)}, confirmed {_when(latest.confirmed_at)}"
    )
    if report.checked > latest.count:
        lines.append(f"  {report.checked - latest.count} entries written since the latest anchor (not yet anchored)")
    if log is not None:
        stale_after = timedelta(seconds=log.interval_seconds * STALE_INTERVALS + 60)
        if datetime.now(UTC) - latest.confirmed_at > stale_after:
            lines.append(
                f"warning: the latest anchor was last confirmed at {_when(latest.confirmed_at)}; the anchor workflow "
                "is not keeping up — is the worker running?"
            )
    return lines, True


async def read_log(settings: Settings) -> AnchorLog:
    from client.audit_anchors import read_anchors
    from client.temporal import connect

    client = await connect(settings.temporal_address, settings.temporal_namespace)
    return await read_anchors(client, settings.task_queue)


async def verify(url: str, settings: Settings | None = None, *, anchors: bool = True) -> int:
    """Verify the chain in the database at `url`; with `anchors`, against the anchor workflow that `settings`
    (default: from the environment) point at."""
    import sqlalchemy as sa

    from client.audit_anchors import NoAnchors
    from client.settings import Settings
    from security.audit_keys import AuditKeyError, audit_keyring
    from store.audit import verify_audit
    from store.db import create_engine

    try:
        keyring = audit_keyring()
    except AuditKeyError as err:
        print(f"Lỗi khóa nhật ký kiểm toán — error: {err}", file=sys.stderr)
        return EXIT_FAILURE
    log = None
    if anchors:
        try:
            log = await read_log(settings or Settings.from_env())
        except NoAnchors as err:
            print(
                f"Lỗi — error: {err}; không kiểm tra được chuỗi nhật ký với các neo "
                "(hãy chạy worker, hoặc chỉ kiểm tra chuỗi bằng --no-anchors)",
                file=sys.stderr,
            )
            return EXIT_FAILURE
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        if "audit_log" not in tables:
            print("Lỗi — error: cơ sở dữ liệu chưa có bảng audit_log; chạy `starter.py db upgrade`", file=sys.stderr)
            return EXIT_FAILURE
        report = await verify_audit(engine, keyring=keyring, anchors=log.anchors if log is not None else None)
    finally:
        await engine.dispose()
    lines, intact = report_lines(report, log)
    print("\n".join(lines), file=sys.stdout if intact else sys.stderr)
    return EXIT_OK if intact else EXIT_BROKEN


def add_verify_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--no-anchors",
        action="store_true",
        help="chỉ kiểm tra các mắt xích và khóa, không đọc neo từ Temporal (yếu hơn: xem tài liệu của mô-đun)",
    )
