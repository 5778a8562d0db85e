"""Check the audit log's hash chain.

python audit_cli.py verify      # DATABASE_URL, else SQLite under .state/

Exit codes: 0 the chain is intact · 1 failure (no database, schema not migrated) · 6 the chain is broken
(the first broken link on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from activities.audit import AuditReport

EXIT_OK, EXIT_FAILURE, EXIT_BROKEN = 0, 1, 6


def report_lines(report: AuditReport) -> tuple[list[str], bool]:
    """What to print for a report (the verdict first, then the particulars) and whether the chain is intact."""
    if report.broken is None:
        return [f"audit chain intact: {report.checked} entries", f"head hash: {report.head_hash}"], True
    broken = report.broken
    return [
        f"audit chain broken at entry {broken.id} ({broken.workflow_id}): {broken.summary()}",
        f"  {broken.detail}",
        f"  {report.checked} entries before it are intact; the last of them hashes to {report.head_hash}",
    ], False


async def verify(url: str) -> int:
    import sqlalchemy as sa

    from activities.audit import verify_audit
    from activities.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        if "audit_log" not in tables:
            print("error: the database has no audit_log table; run `starter.py db upgrade`", file=sys.stderr)
            return EXIT_FAILURE
        report = await verify_audit(engine)
    finally:
        await engine.dispose()
    lines, intact = report_lines(report)
    print("\n".join(lines), file=sys.stdout if intact else sys.stderr)
    return EXIT_OK if intact else EXIT_BROKEN


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="audit_cli.py", description="The audit log's hash chain.")
    commands = top.add_subparsers(dest="command", required=True)
    commands.add_parser("verify", help="walk the chain; exit 6 at the first broken link")
    return top


def run(argv: list[str]) -> int:
    parser().parse_args(argv)
    from activities.db import default_database_url

    try:
        return asyncio.run(verify(default_database_url()))
    except Exception as err:  # the database is down, the URL is wrong, ...
        first_line = (str(err).splitlines() or [""])[0]
        print(f"error: {type(err).__name__}: {first_line}", file=sys.stderr)
        return EXIT_FAILURE


def main() -> None:
    code = run(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # End without interpreter teardown, as starter.py does (sdk-python#300).
    os._exit(code)


if __name__ == "__main__":
    main()
