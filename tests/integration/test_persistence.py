"""The persistence activities and the roster store against real databases: PostgreSQL (the shared
session database) and SQLite (the laptop default), through Temporal's ActivityEnvironment."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.persistence import PersistenceActivities
from domain.nomination import Nomination
from domain.roster import Actor, Role, RosterSnapshot
from domain.stages import Stage
from store.db import create_engine
from store.migrate import alembic_config, upgrade_to_head
from store.roster import SnapshotCache, load_roster, read_snapshot
from store.schema import metadata
from tests.factories import (  # noqa: F401 - re-exported
    POLICY_VERSION,
    ROSTER,
    new_nomination,
    nomination_data,
    transition_record,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TABLES = {
    "blocs",
    "ministries",
    "actors",
    "actor_roles",
    "nominations",
    "stage_events",
    "notifications",
    "ballot_sessions",
    "ballot_participation",
    "ballot_minutes",
    "ballot_papers",
    "decisions",
    "decision_items",
    "awarded_by",
    "audit_log",
    "roster_revision",
    "nominee_identity",
    "ballot_list_members",
    "revoked_tokens",
    "counting_keys",
    "ballot_session_secrets",
    "counting_shares",
    "idempotency_keys",
    "sign_in_links",
    "bloc_years",
    "bloc_pledge_signatures",
    "bloc_self_assessments",
    "bloc_score_adjustments",
    "bloc_scorecards",
    "bloc_leadership",
    "bloc_flag_handovers",
}
# The newest migration on disk: the schema a fresh database reaches.
HEAD_REVISION = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def activity_env() -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, workflow_id=f"wf-{uuid.uuid4().hex[:8]}", workflow_run_id=str(uuid.uuid4())
    )
    return env


def aware(moment: datetime) -> datetime:
    # SQLite hands timestamps back without an offset; they were stored in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def fetch(engine: AsyncEngine, table: str, workflow_id: str, order: str = "seq") -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(
            sa.select(metadata.tables[table])
            .where(metadata.tables[table].c.workflow_id == workflow_id)
            .order_by(sa.text(order))
        )
        return [dict(row) for row in result.mappings()]


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
async def engine(
    request: pytest.FixtureRequest, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AsyncEngine]:
    if request.param == "postgresql":
        url = database_url
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'engine.db'}"
        await upgrade_to_head(url)
    engine = create_engine(url)
    await load_roster(engine, ROSTER)
    try:
        yield engine
    finally:
        await engine.dispose()


# ---- migrations ---------------------------------------------------------------------------------


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))


async def schema_version(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        return str(await conn.scalar(sa.text("SELECT version_num FROM alembic_version")))


async def test_migrations_build_a_fresh_sqlite_file_and_rerun_as_no_op(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    await upgrade_to_head(url)
    await upgrade_to_head(url)  # already at head: nothing to do, no error
    engine = create_engine(url)
    try:
        assert await table_names(engine) == TABLES | {"alembic_version"}
        assert await schema_version(engine) == HEAD_REVISION
        async with engine.connect() as conn:
            unique = await conn.run_sync(lambda sync: sa.inspect(sync).get_unique_constraints("stage_events"))
        assert [u["column_names"] for u in unique] == [["workflow_id", "seq"]]
    finally:
        await engine.dispose()


async def test_postgres_session_database_is_at_head(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert await table_names(engine) >= TABLES
        assert await schema_version(engine) == HEAD_REVISION
    finally:
        await engine.dispose()


# ---- record_transition ----------------------------------------------------------------------------


async def test_record_transition_twice_writes_each_row_once(engine: AsyncEngine) -> None:
    nomination = new_nomination()
    record = transition_record(nomination, seq=1, from_stage=Stage.PROPOSED, to_stage=Stage.COUNCIL_REVIEW)
    assert len(record.notifications) == 2  # the proposing unit and the council secretariat
    activities = PersistenceActivities(engine)
    env = activity_env()
    await env.run(activities.record_transition, record)
    env.info = dataclasses.replace(env.info, attempt=2)  # a Temporal retry of the same write
    await env.run(activities.record_transition, record)

    workflow_id = record.nomination.workflow_id
    [row] = await fetch(engine, "nominations", workflow_id, order="workflow_id")
    assert row["reference"] == nomination.reference
    assert (row["year"], row["ministry"], row["bloc"]) == (2026, "BTP", "NOI_CHINH")
    assert row["award_form"] == nomination.award_form
    assert (row["nominee_kind"], row["nominee_name"]) == ("INDIVIDUAL", "Nguyễn Thị Ánh Tuyết")
    assert row["proposer"] == nomination.proposer
    assert row["policy_version"] == POLICY_VERSION
    assert (row["stage"], row["stage_label_vi"]) == ("COUNCIL_REVIEW", "Hội đồng Thi đua – Khen thưởng xét")
    assert row["status_vi"] == "Đã tiếp nhận"
    assert row["last_seq"] == 1
    assert row["payload"] == nomination.model_dump(mode="json")
    assert Nomination.model_validate(row["payload"]) == nomination

    [event] = await fetch(engine, "stage_events", workflow_id)
    assert event["seq"] == 1
    assert (event["action"], event["actor"]) == ("TEST_STEP_1", "btp.hd.thu-ky")
    assert (event["from_stage"], event["to_stage"]) == ("PROPOSED", "COUNCIL_REVIEW")
    assert event["reason"] == "Đủ điều kiện theo quy chế"
    assert event["tally"] == record.event.tally
    assert event["details"] == {"minutes_ref": "BB-01", "ghi_chú": "Họp trực tiếp"}
    assert aware(event["occurred_at"]) == record.event.occurred_at

    sent = await fetch(engine, "notifications", workflow_id, order="party")
    drafts = sorted(record.notifications, key=lambda d: d.party)
    assert [(n["party"], n["recipients"], n["subject"], n["body"]) for n in sent] == [
        (d.party, list(d.recipients), d.subject, d.body) for d in drafts
    ]
    assert {(n["seq"], n["status"], n["attempts"], n["sent_at"]) for n in sent} == {(1, "PENDING", 0, None)}
    assert ("COUNCIL:BTP", ["tam.tm@btp.example.vn"]) in [(n["party"], n["recipients"]) for n in sent]


async def test_an_older_seq_after_a_newer_one_does_not_regress_the_row(engine: AsyncEngine) -> None:
    nomination = new_nomination()
    first = transition_record(nomination, seq=1, from_stage=Stage.PROPOSED, to_stage=Stage.PUBLIC_NOTICE)
    second = transition_record(nomination, seq=2, from_stage=Stage.PUBLIC_NOTICE, to_stage=Stage.COUNCIL_REVIEW)
    activities = PersistenceActivities(engine)
    env = activity_env()
    await env.run(activities.record_transition, second)
    await env.run(activities.record_transition, first)  # a late retry of the earlier write

    workflow_id = first.nomination.workflow_id
    [row] = await fetch(engine, "nominations", workflow_id, order="workflow_id")
    assert (row["stage"], row["last_seq"]) == ("COUNCIL_REVIEW", 2)
    assert row["status_vi"] == Stage.COUNCIL_REVIEW.status_vi
    events = await fetch(engine, "stage_events", workflow_id)
    assert [(e["seq"], e["to_stage"]) for e in events] == [(1, "PUBLIC_NOTICE"), (2, "COUNCIL_REVIEW")]
    notices = await fetch(engine, "notifications", workflow_id, order="seq, party")
    assert [(n["seq"], n["party"]) for n in notices] == [
        (1, "SECRETARIAT:BTP"),  # the published notice goes to the secretariat too
        (1, "UNIT:BTP:btp.vutckt.le-thi-hoa"),
        (2, "COUNCIL:BTP"),
        (2, "UNIT:BTP:btp.vutckt.le-thi-hoa"),
    ]


async def test_a_newer_seq_moves_the_row_and_keeps_created_at(engine: AsyncEngine) -> None:
    nomination = new_nomination()
    activities = PersistenceActivities(engine)
    env = activity_env()
    first = transition_record(nomination, seq=1, from_stage=Stage.PROPOSED, to_stage=Stage.PUBLIC_NOTICE)
    await env.run(activities.record_transition, first)
    [before] = await fetch(engine, "nominations", first.nomination.workflow_id, order="workflow_id")
    corrected = nomination.model_copy(update={"achievements": "Thành tích đã bổ sung sau khi trả lại"})
    returned = transition_record(corrected, seq=2, from_stage=Stage.PUBLIC_NOTICE, to_stage=Stage.RETURNED)
    await env.run(activities.record_transition, returned)
    [after] = await fetch(engine, "nominations", first.nomination.workflow_id, order="workflow_id")
    assert (after["stage"], after["status_vi"], after["last_seq"]) == ("RETURNED", "Bị trả lại", 2)
    assert after["payload"]["achievements"] == "Thành tích đã bổ sung sau khi trả lại"
    assert after["created_at"] == before["created_at"]
    assert aware(after["updated_at"]) >= aware(before["updated_at"])


async def test_same_business_key_under_another_workflow_id_is_not_retried(engine: AsyncEngine) -> None:
    nomination = new_nomination()
    activities = PersistenceActivities(engine)
    env = activity_env()
    await env.run(
        activities.record_transition,
        transition_record(nomination, seq=1, from_stage=Stage.PROPOSED, to_stage=Stage.PUBLIC_NOTICE),
    )
    impostor = f"other-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ApplicationError) as raised:
        await env.run(
            activities.record_transition,
            transition_record(
                nomination,
                seq=1,
                from_stage=Stage.PROPOSED,
                to_stage=Stage.PUBLIC_NOTICE,
                workflow_id=impostor,
            ),
        )
    assert raised.value.type == "NominationConflict"
    assert raised.value.non_retryable
    # One transaction: the conflicting write left no event or notification behind either.
    assert await fetch(engine, "stage_events", impostor) == []
    assert await fetch(engine, "notifications", impostor) == []


async def test_activity_log_lines_carry_workflow_and_run_ids(engine: AsyncEngine) -> None:
    record = transition_record(new_nomination(), seq=1, from_stage=Stage.PROPOSED, to_stage=Stage.PUBLIC_NOTICE)
    env = activity_env()
    with capture_logs() as logs:
        await env.run(PersistenceActivities(engine).record_transition, record)
    [line] = [entry for entry in logs if entry["event"] == "transition_recorded"]
    assert line["workflow_id"] == env.info.workflow_id
    assert line["run_id"] == env.info.workflow_run_id
    assert (line["activity_type"], line["attempt"]) == (env.info.activity_type, 1)
    assert (line["seq"], line["stage_events"], line["notifications"]) == (1, 1, len(record.notifications))


# ---- roster -------------------------------------------------------------------------------------


def by_actor(actors: tuple[Actor, ...]) -> dict[str, tuple[Any, ...]]:
    return {a.id: (a.full_name, a.email, a.organisation, frozenset(a.roles)) for a in actors}


async def roster_rows(engine: AsyncEngine) -> dict[str, int]:
    """Rows holding this roster's keys (other tests may share the database, never other rosters' keys)."""
    actor_ids = [a.id for a in ROSTER.actors]
    keys = {
        "blocs": ("code", [b.code for b in ROSTER.blocs]),
        "ministries": ("code", [m.code for m in ROSTER.ministries]),
        "actors": ("id", actor_ids),
        "actor_roles": ("actor_id", actor_ids),
    }
    counts = {}
    async with engine.connect() as conn:
        for table, (column, values) in keys.items():
            t = metadata.tables[table]
            query = sa.select(sa.func.count()).select_from(t).where(t.c[column].in_(values))
            counts[table] = int(await conn.scalar(query) or 0)
    return counts


async def test_loading_the_roster_twice_gives_the_same_rows(engine: AsyncEngine) -> None:
    first = await load_roster(engine, ROSTER)
    second = await load_roster(engine, ROSTER)
    assert first == second
    assert first == {
        "blocs": len(ROSTER.blocs),
        "ministries": len(ROSTER.ministries),
        "actors": len(ROSTER.actors),
        "actor_roles": sum(len(a.roles) for a in ROSTER.actors),
    }
    assert await roster_rows(engine) == first


async def test_reloading_replaces_an_actors_roles_and_details(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'roster.db'}"
    await upgrade_to_head(url)
    engine = create_engine(url)
    try:
        await load_roster(engine, ROSTER)
        # The council secretary moves to the unit's staff and gets a new address.
        changed = ROSTER.model_copy(
            update={
                "actors": tuple(
                    a.model_copy(update={"email": "tam.moi@btp.example.vn", "roles": ()})
                    if a.id == "btp.hd.thu-ky"
                    else a
                    for a in ROSTER.actors
                )
            }
        )
        counts = await load_roster(engine, changed)
        assert counts["actor_roles"] == sum(len(a.roles) for a in ROSTER.actors) - 1
        snapshot = await read_snapshot(engine, "BTP")
        assert snapshot.actor("btp.hd.thu-ky") is None  # no role in scope any more
        assert await read_snapshot(engine, "BTP") != ROSTER.snapshot_for("BTP")
        async with engine.connect() as conn:
            email = await conn.scalar(sa.text("SELECT email FROM actors WHERE id = 'btp.hd.thu-ky'"))
        assert email == "tam.moi@btp.example.vn"
    finally:
        await engine.dispose()


async def test_the_snapshot_cache_rereads_after_every_roster_load(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'roster.db'}"
    await upgrade_to_head(url)
    engine = create_engine(url)
    statements: list[str] = []
    sa.event.listen(engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    try:
        await load_roster(engine, ROSTER)
        cache = SnapshotCache()
        first = await cache.read(engine, "BTP")
        assert first == await read_snapshot(engine, "BTP")
        statements.clear()
        assert await cache.read(engine, "BTP") is first  # unchanged roster: one query, the same snapshot
        assert len(statements) == 1 and "roster_revision" in statements[0]
        assert (cache.hits, cache.misses) == (1, 1)

        changed = ROSTER.model_copy(
            update={
                "actors": tuple(
                    a.model_copy(update={"roles": ()}) if a.id == "btp.hd.thu-ky" else a for a in ROSTER.actors
                )
            }
        )
        await load_roster(engine, changed)
        after = await cache.read(engine, "BTP")
        assert after.actor("btp.hd.thu-ky") is None and first.actor("btp.hd.thu-ky") is not None
        assert (cache.hits, cache.misses) == (1, 2)
        # Another ministry has its own entry.
        assert (await cache.read(engine, "BCA")).ministry.code == "BCA" and cache.misses == 3
    finally:
        await engine.dispose()


@pytest.mark.parametrize("ministry", [m.code for m in ROSTER.ministries])
async def test_read_snapshot_matches_the_domain_roster(engine: AsyncEngine, ministry: str) -> None:
    expected = ROSTER.snapshot_for(ministry)
    snapshot = await read_snapshot(engine, ministry)
    assert (snapshot.ministry, snapshot.bloc) == (expected.ministry, expected.bloc)
    assert by_actor(snapshot.actors) == by_actor(expected.actors)
    assert [a.id for a in snapshot.actors] == sorted(a.id for a in snapshot.actors)


async def test_read_snapshot_of_an_unknown_ministry_names_it(engine: AsyncEngine) -> None:
    with pytest.raises(KeyError, match="BKHONGCO"):
        await read_snapshot(engine, "BKHONGCO")


async def test_load_roster_snapshot_activity(engine: AsyncEngine) -> None:
    activities = PersistenceActivities(engine)
    env = activity_env()
    snapshot = await env.run(activities.load_roster_snapshot, "BTP")
    assert isinstance(snapshot, RosterSnapshot)
    assert snapshot.ministry.name == "Bộ Tư pháp"
    assert snapshot.bloc is not None and snapshot.bloc.code == "NOI_CHINH"
    assert [a.id for a in snapshot.holders(Role.COUNCIL_SECRETARY, "BTP")] == ["btp.hd.thu-ky"]
    with pytest.raises(ApplicationError) as raised:
        await env.run(activities.load_roster_snapshot, "BKHONGCO")
    assert raised.value.type == "UnknownMinistry"
    assert raised.value.non_retryable
    assert "BKHONGCO" in str(raised.value)
