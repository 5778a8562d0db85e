"""The transition writes alone: N records through `PersistenceActivities.record_transition`, C at a time, in
this process, against a fresh PostgreSQL database.

    .venv/bin/python -m bench.transition_writes [--transitions 2000] [--concurrency 40] [--per-nomination 5]

Each of C lanes takes the next nomination and writes its transitions one after another, as its workflow does
(seq 1..--per-nomination, each with the notices domain.notices drafts for it), so up to C writes are in
flight at once; with --think-ms each lane first waits a random while (the workflow's own work), so the
writes arrive out of step instead of all at once. The records are built before the clock starts; what is
timed is the activity calls (Temporal's ActivityEnvironment, as the worker's local activity runs them).

Prints, as its last line in key=value form: the client CPU per transition (time.process_time over the run,
so asyncpg, SQLAlchemy and the activity's own work), the wall time, and the statements and transactions the
engine sent (SQLAlchemy's cursor-execute and commit events: each statement is one round trip, each
transaction adds BEGIN and COMMIT). Afterwards it checks what was written: one stage event and one audit
entry per transition, the nominations' last seq, the chain verified.

To compare with an earlier commit (the writes one at a time, before store/transition_writer.py), run this
same file from a copy of that commit: `git archive <commit> | tar -x -C DIR`, copy bench/transition_writes.py
into DIR/bench/, and run `python -m bench.transition_writes` in DIR; it uses nothing but the activity.

Needs PostgreSQL (TEST_POSTGRES_ADMIN_URL, default postgresql://postgres@127.0.0.1:5432/postgres); creates
and drops its own database. The audit key: TDKT_AUDIT_KEYS if set, else one made for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import random
import secrets
import sys
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import ActivityEnvironment

# The stages a council-and-central route passes through: seq n moves from STAGES[n-1] to STAGES[n].
STAGE_NAMES = ("PROPOSED", "PUBLIC_NOTICE", "COUNCIL_REVIEW", "CENTRAL_REVIEW", "AWAITING_DECISION", "AWARDED")


@dataclass
class Counts:
    statements: int = 0
    commits: int = 0


def count_statements(engine: AsyncEngine) -> Counts:
    counts = Counts()

    def on_execute(*_: Any) -> None:
        counts.statements += 1

    def on_commit(*_: Any) -> None:
        counts.commits += 1

    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    event.listen(engine.sync_engine, "commit", on_commit)
    return counts


def records(nominations: int, per_nomination: int) -> list[list[Any]]:
    """Per nomination, its transitions in seq order, as the workflow hands them to record_transition."""
    from domain.stages import Stage
    from tests.factories import new_nomination, transition_record

    stages = [Stage(name) for name in STAGE_NAMES]
    out = []
    for _ in range(nominations):
        nomination = new_nomination()
        out.append(
            [
                transition_record(nomination, seq=seq, from_stage=stages[seq - 1], to_stage=stages[seq])
                for seq in range(1, per_nomination + 1)
            ]
        )
    return out


async def check(engine: AsyncEngine, nominations: list[list[Any]]) -> dict[str, Any]:
    from security.audit_keys import audit_keyring
    from store.audit import verify_audit

    transitions = sum(len(steps) for steps in nominations)
    async with engine.connect() as conn:
        events = await conn.scalar(sa.text("SELECT count(*) FROM stage_events"))
        duplicated = await conn.scalar(
            sa.text("SELECT count(*) FROM (SELECT 1 FROM stage_events GROUP BY workflow_id, seq HAVING count(*) > 1) d")
        )
        audited = await conn.scalar(sa.text("SELECT count(*) FROM audit_log"))
        behind = await conn.scalar(
            sa.text("SELECT count(*) FROM nominations WHERE last_seq <> :last"), {"last": len(nominations[0])}
        )
    report = await verify_audit(engine, keyring=audit_keyring())
    return {
        "stage_events": events,
        "audit_entries": audited,
        "duplicated": duplicated,
        "rows_behind": behind,
        "chain_intact": report.intact and report.checked == transitions,
    }


async def run(args: argparse.Namespace) -> int:
    from activities.persistence import PersistenceActivities
    from bench.wave import create_database, drop_database
    from store.db import create_engine
    from store.migrate import upgrade_to_head
    from store.tuning import PoolSettings

    nominations = -(-args.transitions // args.per_nomination)
    plan = records(nominations, args.per_nomination)
    transitions = sum(len(steps) for steps in plan)
    name, url = await create_database()
    try:
        await upgrade_to_head(url)
        # As the worker runs: no pre-ping, a pool as large as the lanes so no lane waits for a connection.
        engine = create_engine(url, PoolSettings(size=args.concurrency, pre_ping=False))
        try:
            activities = PersistenceActivities(engine)
            env = ActivityEnvironment()
            # Warm-up outside the figures: the pool's connections, the statements' compiled forms.
            await warm_up(engine, env, activities)
            counts = count_statements(engine)
            pending = list(reversed(plan))

            think = random.Random(7)

            async def lane() -> None:
                while pending:
                    for record in pending.pop():
                        if args.think_ms:  # the workflow's own work between two transitions: lanes out of step
                            await asyncio.sleep(think.uniform(0, args.think_ms) / 1000)
                        await env.run(activities.record_transition, record)

            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.gather(*(lane() for _ in range(args.concurrency)))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            statements, commits = counts.statements, counts.commits
            checked = await check(engine, plan)
        finally:
            await engine.dispose()
    finally:
        await drop_database(name)
    ok = (
        checked["stage_events"] == transitions
        and checked["audit_entries"] == transitions
        and checked["duplicated"] == 0
        and checked["rows_behind"] == 0
        and checked["chain_intact"]
    )
    figures = {
        "label": args.label,
        "transitions": transitions,
        "concurrency": args.concurrency,
        "cpu_ms_per_transition": round(cpu * 1000 / transitions, 3),
        "wall_s": round(wall, 2),
        "transitions_per_s": round(transitions / wall, 1),
        "statements_per_transition": round(statements / transitions, 2),
        "transactions_per_transition": round(commits / transitions, 3),
        "think_ms": args.think_ms,
        **checked,
        "ok": ok,
    }
    print(" ".join(f"{k}={v}" for k, v in figures.items()), flush=True)
    return 0 if ok else 1


async def warm_up(engine: AsyncEngine, env: ActivityEnvironment, activities: Any) -> None:
    """A few nominations written before the clock starts (then removed), so neither side pays for its first
    connections and compilations in the figures."""
    warm = records(8, 2)
    await asyncio.gather(*(env.run(activities.record_transition, steps[0]) for steps in warm))
    await asyncio.gather(*(env.run(activities.record_transition, steps[1]) for steps in warm))
    async with engine.begin() as conn:
        for table in ("audit_log", "notifications", "stage_events", "nominee_identity", "nominations"):
            await conn.execute(sa.text(f"DELETE FROM {table}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transitions", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument("--per-nomination", type=int, default=5, choices=range(1, len(STAGE_NAMES)))
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="each lane waits a random 0..think-ms before each transition (0: back to back, lanes in step)",
    )
    parser.add_argument("--label", default="run", help="a name for the line (e.g. before / after)")
    parser.add_argument(
        "--log",
        choices=("off", "json"),
        default="off",
        help="off: warnings only (the write path alone); json: the worker's INFO lines to stderr, as LOG_FORMAT=json",
    )
    args = parser.parse_args()
    from observability.logs import configure_logging

    configure_logging(json=True, level=logging.INFO if args.log == "json" else logging.WARNING)
    if not os.environ.get("TDKT_AUDIT_KEYS"):
        os.environ["TDKT_AUDIT_KEYS"] = "bench:" + base64.b64encode(secrets.token_bytes(32)).decode()
        os.environ.pop("TDKT_AUDIT_KEY_ID", None)
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
