"""Check the audit log's keyed hash chain against the heads anchored outside the database.

python audit_cli.py verify                # DATABASE_URL (else SQLite under .state/), TDKT_AUDIT_KEYS (else
                                          # .state/audit-keys.json), the anchors from the anchor workflow of
                                          # TASK_QUEUE on TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE
python audit_cli.py verify --no-anchors   # the chain and its keys alone (Temporal not needed); cannot see
                                          # its newest entries cut off, nor a rewrite by someone with the key

Exit codes (the same for `starter.py verify-audit`):
  0  intact: every link and key checks, and the chain agrees with every anchor
  1  failure: no database or no audit table, the audit key missing, or no anchors to read (the anchor workflow
     is missing or does not answer; --no-anchors checks without them)
  6  broken: the first bad entry on stderr — changed (hash mismatch), deleted or inserted (prev_hash mismatch),
     recomputed (without the key: plain sha256 or unkeyed; with it: an anchored hash the entry no longer has),
     or truncated (an anchor recorded entries the chain no longer has: the first missing id)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from cli.audit import EXIT_FAILURE, add_verify_arguments, verify


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="audit_cli.py", description="The audit log's keyed hash chain.")
    commands = top.add_subparsers(dest="command", required=True)
    add_verify_arguments(
        commands.add_parser("verify", help="walk the chain and check it against the anchors; exit 6 at the first break")
    )
    return top


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from store.db import default_database_url

    try:
        return asyncio.run(verify(default_database_url(), anchors=not args.no_anchors))
    except Exception as err:  # the database or Temporal is down, the URL is wrong, ...
        first_line = (str(err).splitlines() or [""])[0]
        print(f"error: {type(err).__name__}: {first_line}", file=sys.stderr)
        return EXIT_FAILURE


def main() -> None:
    code = run(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # End without interpreter teardown, as the CLI does: the SDK's native runtime can abort there.
    os._exit(code)


if __name__ == "__main__":
    main()
