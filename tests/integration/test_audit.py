"""The audit chain against real databases: appended with every transition, minutes round and decision, keyed
under the run's audit key, verified, tampered with (an edit, a deletion, a recomputation) and appended to
concurrently on PostgreSQL. The anchors are tested end to end in test_audit_anchors.py.

Tampering needs a chain no other test writes to, so this module uses a fresh database beside the
session's (and empties its audit_log before each test)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.ballots import BallotActivities
from activities.decisions import DecisionActivities
from activities.persistence import PersistenceActivities
from domain.ballot_messages import MinutesEntry, Participation, SessionMinutes
from domain.ballots import BallotSessionKind, Candidate
from domain.catalog import Authority
from domain.decisions import DecisionItem, DecisionRef, DecisionSummary
from domain.records import TransitionRecord
from domain.stages import Stage
from domain.voting import Tally, VoteResult
from security.audit_keys import audit_keyring
from store.audit import GENESIS, AuditEntry, Channel, append_audit, chain_hash, keyed_hash, verify_audit
from store.db import create_engine
from store.migrate import alembic_config, upgrade_to_head
from store.schema import audit_log, metadata
from tests.conftest import new_database
from tests.factories import POLICY_VERSION
from tests.integration.test_persistence import new_nomination, transition_record

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HANOI = timezone(timedelta(hours=7))
CHOICE_WORD = r"\b(FOR|AGAINST|ABSTAIN)\b"


@pytest.fixture(scope="module")
async def audit_url(database_url: str) -> AsyncIterator[str]:
    """A fresh database beside the session's, migrated to head, dropped afterwards."""
    async with new_database("tdkt_audit") as url:
        yield url


@pytest.fixture(scope="module")
async def audit_engine(audit_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(audit_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def engine(audit_engine: AsyncEngine) -> AsyncEngine:
    """The module's database with an empty audit log: the chain starts again from the genesis hash."""
    async with audit_engine.begin() as conn:
        await conn.execute(sa.delete(audit_log))
    return audit_engine


def activity_env(attempt: int = 1) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, workflow_id=f"wf-{uuid.uuid4().hex[:8]}", workflow_run_id=str(uuid.uuid4()), attempt=attempt
    )
    return env


def steps(count: int, **event: Any) -> list[TransitionRecord]:
    """`count` transitions of one new nomination, seq 1..count (the stages alternate; only the seq matters)."""
    nomination = new_nomination()
    stages = [Stage.PROPOSED, Stage.COUNCIL_REVIEW, Stage.RETURNED]
    records = []
    for seq in range(1, count + 1):
        record = transition_record(nomination, seq=seq, from_stage=stages[(seq - 1) % 3], to_stage=stages[seq % 3])
        if event:
            record = record.model_copy(update={"event": record.event.model_copy(update=event)})
        records.append(record)
    return records


async def record_all(engine: AsyncEngine, records: list[TransitionRecord]) -> None:
    activities = PersistenceActivities(engine)
    for record in records:
        await activity_env().run(activities.record_transition, record)


async def chain(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(sa.select(audit_log).order_by(audit_log.c.id))).mappings()]


def assert_linked(rows: list[dict[str, Any]]) -> None:
    """Each row follows the one before and is keyed under the run's current audit key (an HMAC, not sha256)."""
    keyring = audit_keyring()
    previous = GENESIS
    for row in rows:
        assert row["prev_hash"] == previous
        assert row["key_id"] == keyring.current_id
        assert row["hash"] == keyed_hash(keyring, row["key_id"], previous, row["entry"])
        assert row["hash"] != chain_hash(previous, row["entry"])
        previous = row["hash"]


# ---- appended with every new transition ------------------------------------------------------------------


async def test_each_new_transition_appends_one_entry_and_a_retry_none(engine: AsyncEngine) -> None:
    records = steps(3)
    await record_all(engine, records)
    activities = PersistenceActivities(engine)
    await activity_env(attempt=2).run(activities.record_transition, records[1])  # a Temporal retry
    await activity_env(attempt=3).run(activities.record_transition, records[2])

    rows = await chain(engine)
    workflow_id = records[0].nomination.workflow_id
    assert [(r["workflow_id"], r["seq"], r["action"]) for r in rows] == [
        (workflow_id, 1, "TEST_STEP_1"),
        (workflow_id, 2, "TEST_STEP_2"),
        (workflow_id, 3, "TEST_STEP_3"),
    ]
    first = rows[0]
    assert (first["actor"], first["channel"]) == ("btp.hd.thu-ky", "CLI")
    assert (first["from_stage"], first["to_stage"]) == ("PROPOSED", "COUNCIL_REVIEW")
    assert first["outcome"] == "Đủ điều kiện theo quy chế"  # the event's reason
    assert first["entry"]["details"]["tally"] == records[0].event.tally
    assert first["entry"]["details"]["details"] == {"minutes_ref": "BB-01", "ghi_chú": "Họp trực tiếp"}
    assert first["entry"]["occurred_at"].startswith("2026-03-02T03:30:00")  # 10:30 in Hanoi, in UTC
    assert first["entry"]["recorded_at"] == first["recorded_at"].astimezone(UTC).isoformat(timespec="microseconds")
    assert_linked(rows)

    report = await verify_audit(engine, keyring=audit_keyring())
    assert (report.intact, report.checked, report.head_hash) == (True, 3, rows[-1]["hash"])


async def test_the_channel_comes_from_the_details_or_the_missing_actor(engine: AsyncEngine) -> None:
    [by_api] = steps(1, details={"channel": "API"})
    [timer] = steps(1, actor=None, reason=None, details={"due_at": "2026-03-16T10:00:00+07:00"})
    await record_all(engine, [by_api, timer])
    rows = await chain(engine)
    assert [(r["actor"], r["channel"]) for r in rows] == [("btp.hd.thu-ky", "API"), (None, "SYSTEM")]
    assert rows[1]["outcome"] == "PROPOSED → COUNCIL_REVIEW"


async def test_a_transaction_that_fails_appends_nothing(engine: AsyncEngine) -> None:
    """The entry goes in with the stage event or not at all (a business-key conflict rolls both back)."""
    [original] = steps(1)
    await record_all(engine, [original])
    impostor = transition_record(
        original.nomination.nomination,
        seq=1,
        from_stage=Stage.PROPOSED,
        to_stage=Stage.COUNCIL_REVIEW,
        workflow_id=f"other-{uuid.uuid4().hex[:8]}",
    )
    with pytest.raises(Exception, match="already recorded"):
        await record_all(engine, [impostor])
    assert [r["workflow_id"] for r in await chain(engine)] == [original.nomination.workflow_id]


async def test_append_audit_is_idempotent_on_workflow_seq_action(engine: AsyncEngine) -> None:
    entry = AuditEntry(workflow_id="w-1", seq=1, action="X", actor="a", channel=Channel.API, outcome="ok")
    async with engine.begin() as conn:
        assert await append_audit(conn, entry, keyring=audit_keyring()) is True
    async with engine.begin() as conn:
        assert (
            await append_audit(conn, entry.model_copy(update={"outcome": "different"}), keyring=audit_keyring())
            is False
        )
        assert await append_audit(conn, entry.model_copy(update={"action": "Y"}), keyring=audit_keyring()) is True
    assert [(r["action"], r["outcome"]) for r in await chain(engine)] == [("X", "ok"), ("Y", "ok")]


# ---- tampering -----------------------------------------------------------------------------------------------


async def test_an_edited_entry_is_reported_as_a_hash_mismatch(engine: AsyncEngine) -> None:
    await record_all(engine, steps(2) + steps(2))
    rows = await chain(engine)
    target = rows[1]
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(audit_log).where(audit_log.c.id == target["id"]).values(outcome="Không đủ điều kiện")
        )
    report = await verify_audit(engine, keyring=audit_keyring())
    assert report.broken is not None
    assert (report.broken.id, report.broken.workflow_id, report.broken.check) == (
        target["id"],
        target["workflow_id"],
        "hash",
    )
    assert "outcome" in report.broken.detail
    assert (report.checked, report.head_hash) == (1, rows[0]["hash"])

    # Edited consistently (column, JSON and the row's own hash) by someone without the key: plain sha256 is
    # not the entry's HMAC, so the entry itself is named.
    forged = target["entry"] | {"outcome": "Không đủ điều kiện"}
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(audit_log)
            .where(audit_log.c.id == target["id"])
            .values(entry=forged, hash=chain_hash(target["prev_hash"], forged))
        )
    report = await verify_audit(engine, keyring=audit_keyring())
    assert report.broken is not None
    assert (report.broken.id, report.broken.check, report.broken.kind) == (target["id"], "recomputed", "recomputed")

    # By someone with the key, the entry alone checks: the next entry no longer follows it.
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(audit_log)
            .where(audit_log.c.id == target["id"])
            .values(hash=keyed_hash(audit_keyring(), target["key_id"], target["prev_hash"], forged))
        )
    report = await verify_audit(engine, keyring=audit_keyring())
    assert report.broken is not None
    assert (report.broken.id, report.broken.check) == (rows[2]["id"], "prev_hash")

    # Put back as it was: intact again.
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(audit_log)
            .where(audit_log.c.id == target["id"])
            .values(outcome=target["outcome"], entry=target["entry"], hash=target["hash"])
        )
    assert (await verify_audit(engine, keyring=audit_keyring())).intact


async def test_an_edited_entry_json_is_reported_as_a_hash_mismatch(engine: AsyncEngine) -> None:
    await record_all(engine, steps(3))
    rows = await chain(engine)
    tampered = rows[2]["entry"] | {"details": {"reason": "khác", "tally": None, "details": {}}}
    async with engine.begin() as conn:
        await conn.execute(sa.update(audit_log).where(audit_log.c.id == rows[2]["id"]).values(entry=tampered))
    report = await verify_audit(engine, keyring=audit_keyring())
    assert report.broken is not None
    assert (report.broken.id, report.broken.check, report.checked) == (rows[2]["id"], "hash", 2)


async def test_a_deleted_entry_is_reported_at_the_next_one(engine: AsyncEngine) -> None:
    await record_all(engine, steps(5))
    rows = await chain(engine)
    async with engine.begin() as conn:
        await conn.execute(sa.delete(audit_log).where(audit_log.c.id == rows[2]["id"]))
    report = await verify_audit(engine, keyring=audit_keyring())
    assert report.broken is not None
    assert (report.broken.id, report.broken.workflow_id, report.broken.check) == (
        rows[3]["id"],
        rows[3]["workflow_id"],
        "prev_hash",
    )
    assert report.checked == 2


async def test_deleting_every_entry_of_one_nomination_is_detected(engine: AsyncEngine) -> None:
    first, second, third = steps(2), steps(3), steps(1)
    await record_all(engine, first + second + third)
    gone = second[0].nomination.workflow_id
    async with engine.begin() as conn:
        await conn.execute(sa.delete(audit_log).where(audit_log.c.workflow_id == gone))
    report = await verify_audit(engine, keyring=audit_keyring())
    assert report.broken is not None
    assert (report.broken.workflow_id, report.broken.check) == (third[0].nomination.workflow_id, "prev_hash")


async def test_an_inserted_entry_is_detected(engine: AsyncEngine) -> None:
    await record_all(engine, steps(2))
    rows = await chain(engine)
    # A row slipped in with a made-up prev_hash (it cannot take an id between the others, so it goes last:
    # claiming to follow the genesis it does not follow).
    entry = rows[0]["entry"] | {"seq": 99}
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(audit_log).values(
                {k: v for k, v in rows[0].items() if k not in ("id", "entry", "seq", "hash")}
                | {"seq": 99, "entry": entry, "hash": chain_hash(rows[0]["prev_hash"], entry)}
            )
        )
    report = await verify_audit(engine, keyring=audit_keyring())
    assert report.broken is not None
    assert (report.broken.check, report.checked) == ("prev_hash", 2)


async def test_verify_pages_through_a_long_chain(engine: AsyncEngine) -> None:
    await record_all(engine, steps(7))
    assert (await verify_audit(engine, keyring=audit_keyring(), batch=3)).checked == 7
    rows = await chain(engine)
    async with engine.begin() as conn:
        await conn.execute(sa.delete(audit_log).where(audit_log.c.id == rows[4]["id"]))
    report = await verify_audit(engine, keyring=audit_keyring(), batch=2)
    assert report.broken is not None
    assert (report.broken.id, report.checked) == (rows[5]["id"], 4)


# ---- concurrency -------------------------------------------------------------------------------------------


async def test_concurrent_appends_keep_the_chain_intact_on_postgresql(engine: AsyncEngine) -> None:
    records = [step for _ in range(20) for step in steps(1)]
    activities = PersistenceActivities(engine)
    await asyncio.gather(*(activity_env().run(activities.record_transition, r) for r in records))
    rows = await chain(engine)
    assert sorted(r["workflow_id"] for r in rows) == sorted(r.nomination.workflow_id for r in records)
    assert_linked(rows)
    report = await verify_audit(engine, keyring=audit_keyring())
    assert (report.intact, report.checked) == (True, 20)

    # Again, with retries of the same writes racing the first attempts: still one entry each.
    more = [step for _ in range(10) for step in steps(1)]
    await asyncio.gather(*(activity_env(attempt=a).run(activities.record_transition, r) for r in more for a in (1, 2)))
    report = await verify_audit(engine, keyring=audit_keyring())
    assert (report.intact, report.checked) == (True, 30)


# ---- ballot minutes and decisions ----------------------------------------------------------------------------


def minutes(session_id: str) -> SessionMinutes:
    tally = Tally(members=9, present=8, votes_for=7, votes_against=1)
    return SessionMinutes(
        session_id=session_id,
        kind=BallotSessionKind.COUNCIL,
        scope="BTP",
        meeting_ref="HD-2026-01",
        round=1,
        policy_version=POLICY_VERSION,
        closed_at=datetime(2026, 3, 10, 17, 0, tzinfo=HANOI),
        electorate_size=9,
        entries=[
            MinutesEntry(
                candidate=Candidate(
                    workflow_id=f"nomination-2026-BTP-{i}",
                    award_form="BANG_KHEN_BO",
                    nominee_name="Nguyễn Văn B",
                    proposing_organisation="BTP",
                ),
                tally=tally,
                result=VoteResult.PASSED,
                reason_vi="Đạt tỷ lệ theo quy chế",
            )
            for i in range(2)
        ],
        participation=[
            Participation(voter_id=f"btp.hd.uy-vien-{i}", voted_at=datetime(2026, 3, 10, tzinfo=HANOI), receipt="r")
            for i in range(8)
        ],
    )


async def test_each_minutes_round_appends_one_entry_of_counts(engine: AsyncEngine) -> None:
    ballots = BallotActivities(engine, cast(Client, None))  # recording the minutes needs no Temporal client
    session = f"ballot-council-BTP-{uuid.uuid4().hex[:8]}"
    await activity_env().run(ballots.record_ballot_minutes, minutes(session))
    await activity_env(attempt=2).run(ballots.record_ballot_minutes, minutes(session))
    [row] = await chain(engine)
    assert (row["workflow_id"], row["seq"], row["action"], row["channel"], row["actor"]) == (
        session,
        1,
        "BALLOT_MINUTES",
        "SYSTEM",
        None,
    )
    assert row["outcome"] == "8 of 9 voted, 0 spoiled; 2 nominations: 2 PASSED, 0 FAILED, 0 NO_QUORUM"
    assert "uy-vien" not in str(row["entry"])
    assert not re.search(CHOICE_WORD, str(row["entry"]) + row["outcome"])
    assert (await verify_audit(engine, keyring=audit_keyring())).intact


async def test_each_decision_appends_one_entry(engine: AsyncEngine) -> None:
    decisions = DecisionActivities(engine, cast(Client, None))  # recording needs no Temporal client
    number = f"{uuid.uuid4().int % 10**6}/QĐ-TTg"
    summary = DecisionSummary(
        decision=DecisionRef(
            decision_no=number,
            decision_date=date(2026, 12, 20),
            authority=Authority.PRIME_MINISTER,
            actor="tw.ban-tdkt.can-bo-1",
        ),
        items=[
            DecisionItem(workflow_id=f"nomination-audit-{uuid.uuid4().hex[:8]}", accepted=True),
            DecisionItem(workflow_id="nomination-khong-co", accepted=False, reason="no nomination"),
        ],
    )
    await activity_env().run(decisions.persist_decision, summary)
    await activity_env(attempt=2).run(decisions.persist_decision, summary)
    [row] = await chain(engine)
    assert (row["workflow_id"], row["seq"], row["action"], row["actor"], row["channel"]) == (
        f"decision-{number}",
        1,
        "DECISION_ISSUED",
        "tw.ban-tdkt.can-bo-1",
        "CLI",
    )
    assert row["outcome"] == "1 accepted, 1 refused"
    assert (await verify_audit(engine, keyring=audit_keyring())).intact


# ---- the CLI -------------------------------------------------------------------------------------------------


def audit_cli(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "audit_cli.py"), "verify", *args],
        env=os.environ | {"DATABASE_URL": url} | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_audit_cli_verify_exits_0_when_intact_and_6_at_the_first_broken_link(
    engine: AsyncEngine, audit_url: str
) -> None:
    await record_all(engine, steps(3))
    done = await asyncio.to_thread(audit_cli, audit_url, "--no-anchors")
    assert (done.returncode, done.stdout.splitlines()[0]) == (0, "audit chain intact: 3 entries"), done.stderr
    assert done.stdout.splitlines()[-1].startswith("anchors: not checked (--no-anchors)")

    rows = await chain(engine)
    async with engine.begin() as conn:
        await conn.execute(sa.update(audit_log).where(audit_log.c.id == rows[1]["id"]).values(actor="someone.else"))
    done = await asyncio.to_thread(audit_cli, audit_url, "--no-anchors")
    assert done.returncode == 6, done.stdout + done.stderr
    assert done.stderr.splitlines()[0] == (
        f"audit chain broken at entry {rows[1]['id']} ({rows[1]['workflow_id']}): "
        "hash mismatch — the entry was changed after it was written"
    )


# ---- the schema and the migration ------------------------------------------------------------------------


async def test_audit_cli_without_an_anchor_workflow_fails_naming_it_and_without_the_key_names_the_variable(
    engine: AsyncEngine, audit_url: str, client: Client
) -> None:
    await record_all(engine, steps(1))
    queue = f"no-anchor-{uuid.uuid4().hex[:8]}"
    temporal = {"TEMPORAL_ADDRESS": client.service_client.config.target_host, "TEMPORAL_NAMESPACE": client.namespace}
    done = await asyncio.to_thread(audit_cli, audit_url, **temporal, TASK_QUEUE=queue)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"no anchor workflow audit-anchor-{queue}" in done.stderr and "--no-anchors" in done.stderr

    no_key = {"TDKT_AUDIT_KEYS": "", "TDKT_GENERATE_KEYS": "", "TDKT_AUDIT_KEY_FILE": str(ROOT / ".state" / "none")}
    done = await asyncio.to_thread(audit_cli, audit_url, "--no-anchors", **no_key)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "TDKT_AUDIT_KEYS" in done.stderr and str(ROOT / ".state" / "none") in done.stderr
    assert "Traceback" not in done.stderr


def test_the_audit_revision_0008_is_on_the_single_alembic_line() -> None:
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    heads = scripts.get_heads()
    assert len(heads) == 1
    assert "0008" in {revision.revision for revision in scripts.walk_revisions("base", heads[0])}


async def test_the_audit_migration_matches_the_schema_on_postgresql(audit_engine: AsyncEngine) -> None:
    async with audit_engine.connect() as conn:
        diff = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), metadata))
    assert [d for d in diff if "audit_log" in repr(d)] == []


async def test_the_audit_migration_upgrades_and_downgrades_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"

    async def state() -> tuple[bool, str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                names = set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
                version = str(await conn.scalar(sa.text("SELECT version_num FROM alembic_version")))
                if "audit_log" in names:
                    unique = await conn.run_sync(lambda sync: sa.inspect(sync).get_unique_constraints("audit_log"))
                    assert [u["column_names"] for u in unique] == [["workflow_id", "seq", "action"]]
            return "audit_log" in names, version
        finally:
            await engine.dispose()

    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    await upgrade_to_head(url)
    assert await state() == (True, head)
    await asyncio.to_thread(command.downgrade, alembic_config(url), "0003")
    assert await state() == (False, "0003")
    await upgrade_to_head(url)
    assert await state() == (True, head)

    # The chain works on SQLite too (a single writer).
    engine = create_engine(url)
    try:
        await record_all(engine, steps(3))
        rows = await chain(engine)
        assert_linked(rows)
        assert (await verify_audit(engine, keyring=audit_keyring())).checked == 3
        async with engine.begin() as conn:
            await conn.execute(sa.delete(audit_log).where(audit_log.c.id == rows[1]["id"]))
        report = await verify_audit(engine, keyring=audit_keyring())
        assert report.broken is not None
        assert (report.broken.id, report.broken.check) == (rows[2]["id"], "prev_hash")
        # Keyed entries cannot go below 0008, where nothing would say which key they were written under.
        with pytest.raises(RuntimeError, match="keyed entries"):
            await asyncio.to_thread(command.downgrade, alembic_config(url), "0007")
    finally:
        await engine.dispose()


async def test_entries_from_before_0008_verify_as_a_legacy_prefix(tmp_path: Path) -> None:
    """A database with sha256 entries written before keyed hashing: upgraded, they still verify, the keyed
    entries continue the chain from them, and a legacy entry slipped in after a keyed one is refused."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'legacy.db'}"
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0007")
    engine = create_engine(url)
    try:
        legacy: list[dict[str, Any]] = []
        previous = GENESIS
        async with engine.begin() as conn:
            for seq in (1, 2):
                when = datetime(2026, 11, 29, 9, seq, tzinfo=UTC)
                content = AuditEntry(
                    workflow_id="w-legacy", seq=seq, action="OLD", channel=Channel.SYSTEM, outcome="ok"
                ).model_dump(mode="json") | {"recorded_at": when.isoformat(timespec="microseconds")}
                row = {
                    "recorded_at": when,
                    **{c: content[c] for c in ("workflow_id", "seq", "actor", "channel", "action")},
                    **{c: content[c] for c in ("from_stage", "to_stage", "outcome")},
                    "entry": content,
                    "prev_hash": previous,
                    "hash": chain_hash(previous, content),
                }
                await conn.execute(
                    sa.text(
                        "INSERT INTO audit_log (recorded_at, workflow_id, seq, actor, channel, action, from_stage, "
                        "to_stage, outcome, entry, prev_hash, hash) VALUES (:recorded_at, :workflow_id, :seq, :actor, "
                        ":channel, :action, :from_stage, :to_stage, :outcome, :entry, :prev_hash, :hash)"
                    ),
                    row | {"entry": json.dumps(content, ensure_ascii=False)},
                )
                legacy.append(row)
                previous = row["hash"]
        await upgrade_to_head(url)
        await record_all(engine, steps(2))
        report = await verify_audit(engine, keyring=audit_keyring())
        assert (report.intact, report.checked, report.legacy) == (True, 4, 2)
        rows = await chain(engine)
        assert [r["key_id"] for r in rows] == [None, None, audit_keyring().current_id, audit_keyring().current_id]
        assert rows[2]["prev_hash"] == legacy[-1]["hash"]  # the first keyed entry covers the legacy head

        # The last entry turned into a legacy one (no key id, plain sha256): refused.
        async with engine.begin() as conn:
            await conn.execute(
                sa.update(audit_log)
                .where(audit_log.c.id == rows[3]["id"])
                .values(key_id=None, hash=chain_hash(rows[3]["prev_hash"], rows[3]["entry"]))
            )
        report = await verify_audit(engine, keyring=audit_keyring())
        assert report.broken is not None
        assert (report.broken.id, report.broken.check) == (rows[3]["id"], "unkeyed")
    finally:
        await engine.dispose()
