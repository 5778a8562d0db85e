"""The grouped transition writer (store/transition_writer.py) against real PostgreSQL: transitions recorded
concurrently are written in groups, one transaction each, and leave exactly what writing them one at a time
would; a repeat appends nothing, in one group or across groups; a record that breaks a constraint fails
alone; a cancelled caller's record is written whole or not at all. Also once on SQLite (the embedded demo).

Each test has databases of its own (the audit chain is verified from its start), made fresh per module and
emptied before each test."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.persistence import PersistenceActivities
from domain.records import TransitionRecord
from domain.stages import Stage
from security.audit_keys import audit_keyring
from store.audit import append_audit, transition_entry, verify_audit
from store.db import create_engine
from store.migrate import upgrade_to_head
from store.schema import audit_log, nominations, nominee_identity, notifications, stage_events
from store.transition_writer import drain_transition_writer, transition_writer
from tests.conftest import new_database
from tests.integration.test_persistence import new_nomination, transition_record

pytestmark = pytest.mark.integration

TABLES = (audit_log, notifications, stage_events, nominee_identity, nominations)
# What a write stamps with its own moment (and the ids and hashes that follow from those): left out when two
# databases written at different moments are compared.
STAMPED = {"id", "created_at", "updated_at", "recorded_at", "prev_hash", "hash"}


async def empty(engine: AsyncEngine) -> AsyncEngine:
    async with engine.begin() as conn:
        for table in TABLES:
            await conn.execute(sa.delete(table))
    return engine


@pytest.fixture(scope="module")
async def grouped_engine() -> AsyncIterator[AsyncEngine]:
    async with new_database("tdkt_writer") as url:
        engine = create_engine(url)
        try:
            yield engine
        finally:
            await engine.dispose()


@pytest.fixture(scope="module")
async def single_engine() -> AsyncIterator[AsyncEngine]:
    """A second database, written one transition at a time: what the grouped writes must equal."""
    async with new_database("tdkt_writer_single") as url:
        engine = create_engine(url)
        try:
            yield engine
        finally:
            await engine.dispose()


@pytest.fixture
async def engine(grouped_engine: AsyncEngine) -> AsyncEngine:
    return await empty(grouped_engine)


@pytest.fixture
async def reference(single_engine: AsyncEngine) -> AsyncEngine:
    return await empty(single_engine)


def activity_env(attempt: int = 1) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, workflow_id=f"wf-{uuid.uuid4().hex[:8]}", workflow_run_id=str(uuid.uuid4()), attempt=attempt
    )
    return env


def steps(count: int) -> list[TransitionRecord]:
    """`count` transitions of one new nomination, seq 1..count."""
    nomination = new_nomination()
    stages = [Stage.PROPOSED, Stage.PUBLIC_NOTICE, Stage.COUNCIL_REVIEW, Stage.RETURNED]
    return [
        transition_record(nomination, seq=seq, from_stage=stages[(seq - 1) % 3], to_stage=stages[(seq - 1) % 3 + 1])
        for seq in range(1, count + 1)
    ]


class Transactions:
    """How many transactions an engine committed (SQLAlchemy's commit event) while the block ran."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.count = 0

    def _commit(self, *_: Any) -> None:
        self.count += 1

    def __enter__(self) -> Transactions:
        event.listen(self._engine.sync_engine, "commit", self._commit)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self._engine.sync_engine, "commit", self._commit)


async def record_concurrently(engine: AsyncEngine, records: Iterable[TransitionRecord], attempt: int = 1) -> list[Any]:
    activities = PersistenceActivities(engine)
    return await asyncio.gather(
        *(activity_env(attempt).run(activities.record_transition, r) for r in records), return_exceptions=True
    )


async def record_one_at_a_time(engine: AsyncEngine, records: Iterable[TransitionRecord]) -> None:
    activities = PersistenceActivities(engine)
    for record in records:
        await activity_env().run(activities.record_transition, record)


async def contents(engine: AsyncEngine) -> dict[str, list[dict[str, Any]]]:
    """Every row of the transition tables without what the moment of writing stamps on it: the audit log in
    the chain's order (each entry's content without its recorded_at), the others in key order."""
    out: dict[str, list[dict[str, Any]]] = {}
    async with engine.connect() as conn:
        for table in TABLES:
            keys = ("id",) if table is audit_log else ("workflow_id", "seq", "party", "identity_key")
            query = sa.select(table).order_by(*(table.c[k] for k in keys if k in table.c))
            rows = []
            for row in (await conn.execute(query)).mappings():
                values = {k: v for k, v in row.items() if k not in STAMPED}
                if table is audit_log:
                    values["entry"] = {k: v for k, v in values["entry"].items() if k != "recorded_at"}
                rows.append(values)
            out[table.name] = rows
    return out


async def assert_chain_intact(engine: AsyncEngine, entries: int) -> None:
    report = await verify_audit(engine, keyring=audit_keyring())
    assert (report.intact, report.checked) == (True, entries), report.broken


async def audit_ids(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        return list((await conn.scalars(sa.select(audit_log.c.id).order_by(audit_log.c.id))).all())


# ---- many at once: the same as one at a time -------------------------------------------------------------


async def test_fifty_concurrent_writes_leave_what_one_at_a_time_leaves(
    engine: AsyncEngine, reference: AsyncEngine
) -> None:
    many = [step for _ in range(45) for step in steps(1)]  # 45 nominations, one transition each
    several = steps(4)  # one nomination's four transitions, handed in out of order among the others
    records = [*many[:10], several[2], *many[10:20], several[0], several[3], *many[20:35], several[1]]
    records += many[35:]
    records += steps(2)[1:]  # a nomination whose seq 2 arrives without its seq 1
    assert len(records) == 50

    with Transactions(engine) as grouped:
        results = await record_concurrently(engine, records)
    assert results == [None] * 50
    assert grouped.count < 50 / 10, "the 50 writes were grouped into a few transactions"
    await record_one_at_a_time(reference, records)

    written, expected = await contents(engine), await contents(reference)
    assert written == expected
    assert len(written["stage_events"]) == 50
    assert len(written["audit_log"]) == 50
    ids = await audit_ids(engine)
    assert ids == list(range(ids[0], ids[0] + 50)), "each group's entries are stored together, in one run of ids"
    assert [(e["workflow_id"], e["seq"]) for e in written["audit_log"]] == [
        (r.nomination.workflow_id, r.event.seq) for r in records
    ], "the chain's order is the order the records were handed in"
    [row] = [r for r in written["nominations"] if r["workflow_id"] == several[0].nomination.workflow_id]
    assert (row["last_seq"], row["stage"]) == (4, several[3].nomination.stage.value)
    await assert_chain_intact(engine, 50)


async def test_a_group_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'engine.db'}"
    await upgrade_to_head(url)
    engine = create_engine(url)
    try:
        several = steps(3)
        records = [step for _ in range(20) for step in steps(1)] + [several[2], several[0], several[1]]
        assert await record_concurrently(engine, records) == [None] * len(records)
        written = await contents(engine)
        assert len(written["stage_events"]) == len(written["audit_log"]) == len(records)
        await assert_chain_intact(engine, len(records))
    finally:
        await engine.dispose()


# ---- repeats: appended once ----------------------------------------------------------------------------


async def test_a_repeat_in_one_group_and_across_groups_appends_once(engine: AsyncEngine) -> None:
    [record] = steps(1)
    others = [step for _ in range(8) for step in steps(1)]
    workflow_id = record.nomination.workflow_id
    with capture_logs() as logs, Transactions(engine) as grouped:
        # The same transition three times among others (a retry racing its first attempt), in one group.
        results = await record_concurrently(engine, [record, *others[:4], record, *others[4:], record])
    assert results == [None] * 11
    assert grouped.count < 11
    lines = [line for line in logs if line["event"] == "transition_recorded" and line["seq"] == 1]
    assert len(lines) == 11
    # Exactly one of the three calls wrote the transition; the other two found it written.
    mine = [line for line in lines if line["stage_events"] == 0]
    assert len(mine) == 2
    assert all((line["notifications"], line["audit_entries"]) == (0, 0) for line in mine)

    # Again, in a later group, alongside new work: nothing more for it.
    later = [step for _ in range(3) for step in steps(1)]
    assert await record_concurrently(engine, [record, *later, record], attempt=2) == [None] * 5

    written = await contents(engine)
    assert [e["seq"] for e in written["stage_events"] if e["workflow_id"] == workflow_id] == [1]
    assert [e["seq"] for e in written["audit_log"] if e["workflow_id"] == workflow_id] == [1]
    notices = [n["party"] for n in written["notifications"] if n["workflow_id"] == workflow_id]
    assert sorted(notices) == sorted(d.party for d in record.notifications)
    assert len(written["audit_log"]) == 1 + 8 + 3
    await assert_chain_intact(engine, 12)


# ---- one bad record fails alone -------------------------------------------------------------------------


async def test_a_record_that_breaks_a_constraint_fails_alone(engine: AsyncEngine) -> None:
    nomination = new_nomination()
    [held] = [transition_record(nomination, seq=1, from_stage=Stage.PROPOSED, to_stage=Stage.PUBLIC_NOTICE)]
    await record_one_at_a_time(engine, [held])
    # The same business key under another workflow id: the nominations row's unique key refuses it.
    impostor = transition_record(
        nomination,
        seq=1,
        from_stage=Stage.PROPOSED,
        to_stage=Stage.PUBLIC_NOTICE,
        workflow_id="other-" + uuid.uuid4().hex[:8],
    )
    good = [step for _ in range(12) for step in steps(1)]
    with capture_logs() as logs:
        results = await record_concurrently(engine, [*good[:6], impostor, *good[6:]])
    assert [r for r in results if r is not None] == [results[6]]
    failure = results[6]
    assert isinstance(failure, ApplicationError)
    assert (failure.type, failure.non_retryable) == ("NominationConflict", True)
    assert any(line["event"] == "transition_group_split" for line in logs), "the failed group was split"

    written = await contents(engine)
    assert sorted(r["workflow_id"] for r in written["nominations"]) == sorted(
        r.nomination.workflow_id for r in [held, *good]
    )
    assert all(row["workflow_id"] != impostor.nomination.workflow_id for rows in written.values() for row in rows)
    assert len(written["audit_log"]) == 13
    await assert_chain_intact(engine, 13)


async def test_an_entry_already_in_the_chain_mid_group_is_not_left_as_a_gap(engine: AsyncEngine) -> None:
    """A transition whose stage event is new but whose audit entry is already in the log (written by some
    earlier path): in a group, chaining past it would link the next entry to a hash never stored, so the
    group is written one at a time instead; the chain stays intact."""
    records = [step for _ in range(5) for step in steps(1)]
    async with engine.begin() as conn:
        assert await append_audit(conn, transition_entry(records[2]), keyring=audit_keyring())
    with capture_logs() as logs:
        assert await record_concurrently(engine, records) == [None] * 5
    assert any(line["event"] == "transition_group_split" for line in logs)
    written = await contents(engine)
    assert len(written["stage_events"]) == 5
    assert len(written["audit_log"]) == 5
    await assert_chain_intact(engine, 5)


# ---- cancelled callers -----------------------------------------------------------------------------------


async def test_a_cancelled_callers_record_is_written_whole_or_not_at_all(engine: AsyncEngine) -> None:
    """Cancelled while queued: dropped. Cancelled once the writer has taken it: written with its group. Never
    a part of one (its rows and its audit entry are one transaction)."""
    records = [step for _ in range(30) for step in steps(1)]
    activities = PersistenceActivities(engine)
    began = asyncio.Event()
    listener = lambda *_: began.set()  # noqa: E731 - the writer's transaction has begun: its group is taken
    event.listen(engine.sync_engine, "begin", listener)
    try:
        calls = [asyncio.create_task(activity_env().run(activities.record_transition, r)) for r in records]
        await asyncio.sleep(0)  # each call has queued its record; the writer has not run yet
        for call in calls[::3]:
            call.cancel()
        await began.wait()
        for call in calls[1::3]:
            call.cancel()
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        await drain_transition_writer(engine)
    finally:
        event.remove(engine.sync_engine, "begin", listener)
    assert [type(o).__name__ for o in outcomes] == ["CancelledError", "CancelledError", "NoneType"] * 10

    written = await contents(engine)
    whole: list[TransitionRecord] = []
    none: list[TransitionRecord] = []
    for record in records:
        workflow_id = record.nomination.workflow_id
        present = [sum(1 for row in written[t.name] if row["workflow_id"] == workflow_id) for t in TABLES]
        assert present in ([1, len(record.notifications), 1, 0, 1], [0, 0, 0, 0, 0]), present
        (whole if present[0] else none).append(record)
    assert none == records[::3], "cancelled while queued: not written"
    assert len(whole) == 20, "taken before its caller was cancelled: written, as those still awaited"
    await assert_chain_intact(engine, 20)


async def test_the_activities_of_one_engine_share_its_writer(engine: AsyncEngine) -> None:
    assert transition_writer(engine, audit_keyring) is transition_writer(engine, audit_keyring)
    first, second = PersistenceActivities(engine), PersistenceActivities(engine)
    records = [step for _ in range(20) for step in steps(1)]
    with Transactions(engine) as grouped:
        await asyncio.gather(
            *(activity_env().run((first if i % 2 else second).record_transition, r) for i, r in enumerate(records))
        )
    assert grouped.count < 20 / 5
    await assert_chain_intact(engine, 20)
