"""Decisions end to end: a DecisionWorkflow applies one decision number to many nominations, records the
outcome in PostgreSQL and exports the awarded ones.

The session worker (worker.build_worker) does not carry the DecisionWorkflow, so this module runs its own
worker for it on a separate task queue; the nominations keep running on the session's `task_queue`."""

from __future__ import annotations

import asyncio
import csv
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.decisions import DecisionActivities
from client.decisions import EXPORT_COLUMNS, DuplicateDecision, decision_progress, export_decision, issue_decision
from client.nominations import act, status
from domain.catalog import Authority
from domain.decisions import DecisionItem, DecisionRef, DecisionRequest, DecisionSummary, decision_workflow_id
from domain.messages import CentralApproval, NominationStatus, ReasonedAction
from domain.stages import Stage
from store.db import create_engine
from store.migrate import alembic_config, upgrade_to_head
from store.schema import awarded_by, decision_items, decisions, metadata
from tests.integration.helpers import CENTRAL, PROPOSER, SECRETARY, assert_row_agrees, meeting, start, wait_for_stage
from worker import sandbox_runner
from workflows.decision import MAX_CONCURRENT, DecisionWorkflow

pytestmark = pytest.mark.integration

DECISION_DATE = date(2026, 12, 20)
DECISION_TABLES = (decisions, decision_items, awarded_by)
AWAITING_HINT = (
    "a ministry-level form waits in AWAITING_DECISION after the council (and a Prime Minister's form after a "
    "central approval without a number) for its decision"
)


@pytest.fixture(scope="module")
async def decision_queue(client: Client, db_engine: AsyncEngine, task_queue: str) -> AsyncIterator[str]:
    """A worker for DecisionWorkflow and its activities on a queue of its own (nominations: `task_queue`)."""
    queue = f"test-decisions-{uuid.uuid4().hex[:8]}"
    activities = DecisionActivities(db_engine, client)
    worker = Worker(
        client,
        task_queue=queue,
        workflows=[DecisionWorkflow],
        activities=[
            activities.deliver_decision,
            activities.raise_refusing_nominations,
            activities.nomination_standing,
            activities.persist_decision,
        ],
        workflow_runner=sandbox_runner(),
    )
    task = asyncio.create_task(worker.run())
    try:
        yield queue
    finally:
        await worker.shutdown()
        await asyncio.gather(task, return_exceptions=True)


def number(suffix: str = "QĐ-BTP") -> str:
    return f"{uuid.uuid4().hex[:6]}/{suffix}"


def ref(decision_no: str, authority: Authority = Authority.MINISTER, actor: str = SECRETARY) -> DecisionRef:
    return DecisionRef(decision_no=decision_no, decision_date=DECISION_DATE, authority=authority, actor=actor)


def request(decision: DecisionRef, workflow_ids: list[str]) -> DecisionRequest:
    return DecisionRequest(decision=decision, workflow_ids=workflow_ids)


async def in_council(client: Client, task_queue: str, award_form: str = "BANG_KHEN_BO") -> str:
    handle = await start(client, task_queue, award_form)
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    return handle.id


async def awaiting_decision(client: Client, task_queue: str, award_form: str = "BANG_KHEN_BO") -> str:
    """A nomination waiting for its decision: past the council (and, for the Prime Minister's forms, the
    central board's approval without a decision number)."""
    workflow_id = await in_council(client, task_queue, award_form)
    receipt = await act(client, workflow_id, "record_council_result", meeting(SECRETARY))
    if receipt.stage == Stage.CENTRAL_REVIEW:
        receipt = await act(client, workflow_id, "approve", CentralApproval(actor=CENTRAL))
    assert receipt.stage == Stage.AWAITING_DECISION, f"{workflow_id} went to {receipt.stage}: {AWAITING_HINT}"
    return workflow_id


async def table_rows(engine: AsyncEngine, table: sa.Table, decision_no: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        query = sa.select(table).where(table.c.decision_no == decision_no)
        query = query.order_by(table.c.position if "position" in table.c else table.c.workflow_id)
        return [dict(r) for r in (await conn.execute(query)).mappings()]


def read_csv(path: Path) -> list[list[str]]:
    assert path.read_bytes().startswith(b"\xef\xbb\xbf"), "the CSV needs a UTF-8 BOM for Excel"
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def read_xlsx(path: Path) -> list[list[Any]]:
    sheet = load_workbook(path).active
    assert sheet is not None
    return [list(r) for r in sheet.iter_rows(values_only=True)]


# ---- the schema -------------------------------------------------------------------------------------


async def test_the_decision_migration_matches_the_schema_and_downgrades(db_engine: AsyncEngine, tmp_path: Path):
    async with db_engine.connect() as conn:
        diff = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), metadata))
    ours = {t.name for t in DECISION_TABLES}
    assert [d for d in diff if ours & tables_named(d)] == []

    url = f"sqlite+aiosqlite:///{tmp_path / 'decisions.db'}"
    await upgrade_to_head(url)
    assert await sqlite_tables(url) >= ours
    await asyncio.to_thread(command.downgrade, alembic_config(url), "0002")
    assert await sqlite_tables(url) & ours == set()
    await upgrade_to_head(url)
    assert await sqlite_tables(url) >= ours


def tables_named(diff: Any) -> set[str]:
    """The tables an Alembic autogenerate difference (a tuple, or a list of tuples) is about."""
    found: set[str] = set()
    for entry in diff if isinstance(diff, list) else [diff]:
        for part in entry:
            if isinstance(part, sa.Table):
                found.add(part.name)
            elif isinstance(part, str):
                found.add(part)
            elif getattr(part, "table", None) is not None:
                found.add(part.table.name)
    return found


async def sqlite_tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


# ---- needs only the DecisionWorkflow (no nomination reaches a decision) --------------------------------


async def test_refusals_are_results_in_list_order_across_lanes(
    client: Client, decision_queue: str, db_engine: AsyncEngine, tmp_path: Path
):
    """More nominations than lanes, none of them decidable: every one refused, in the order listed, and
    the decision still recorded (nothing awarded) and exported with no rows."""
    unknown = [f"nomination-2026-BTP-khong-co-{i:02d}" for i in range(MAX_CONCURRENT * 2 + 3)]
    decision = ref(number())
    summary = await issue_decision(client, decision_queue, request(decision, unknown))

    assert [i.workflow_id for i in summary.items] == unknown
    assert summary.accepted == []
    assert all(i.reason and "no nomination" in i.reason for i in summary.items)
    assert await decision_progress(client, decision.decision_no) == summary

    [row] = await table_rows(db_engine, decisions, decision.decision_no)
    assert (row["accepted"], row["refused"]) == (0, len(unknown))
    assert row["workflow_id"] == decision_workflow_id(decision.decision_no)
    items = await table_rows(db_engine, decision_items, decision.decision_no)
    assert [(r["position"], r["workflow_id"], r["accepted"]) for r in items] == [
        (i, w, False) for i, w in enumerate(unknown, start=1)
    ]
    assert await table_rows(db_engine, awarded_by, decision.decision_no) == []

    assert await export_decision(db_engine, decision.decision_no, tmp_path / "empty.csv") == 0
    assert read_csv(tmp_path / "empty.csv") == [list(EXPORT_COLUMNS)]


async def test_a_decision_number_is_used_once(client: Client, decision_queue: str):
    decision = ref(number())
    await issue_decision(client, decision_queue, request(decision, ["nomination-2026-BTP-khong-co"]))

    with pytest.raises(DuplicateDecision, match="already been issued"):
        await issue_decision(client, decision_queue, request(decision, ["nomination-2026-BTP-khac"]))
    # The number is compared as written on the decision: surrounding blanks do not make a new one.
    padded = DecisionRef.model_validate(decision.model_dump() | {"decision_no": f"  {decision.decision_no} "})
    with pytest.raises(DuplicateDecision):
        await issue_decision(client, decision_queue, request(padded, ["nomination-2026-BTP-khac"]))


async def test_export_names_what_it_cannot_do(db_engine: AsyncEngine, tmp_path: Path):
    with pytest.raises(KeyError, match="999/QĐ-BTP"):
        await export_decision(db_engine, "999/QĐ-BTP", tmp_path / "x.csv")
    with pytest.raises(ValueError, match=r"\.pdf"):
        await export_decision(db_engine, "999/QĐ-BTP", tmp_path / "x.pdf")


async def test_item_refusals_for_unknown_and_ended_nominations(client: Client, task_queue: str, decision_queue: str):
    """No running workflow has either id: the register tells one that never was from one that has ended."""
    withdrawn = await in_council(client, task_queue)
    await act(client, withdrawn, "withdraw", ReasonedAction(actor=PROPOSER, reason="Đơn vị rút hồ sơ"))
    ended = await client.get_workflow_handle(withdrawn, result_type=NominationStatus).result()
    assert ended.stage == Stage.WITHDRAWN
    missing = "nomination-2026-BTP-khong-co"

    summary = await issue_decision(client, decision_queue, request(ref(number()), [missing, withdrawn]))

    assert summary.items[0] == DecisionItem(
        workflow_id=missing, accepted=False, reason=f"no nomination with workflow id {missing}"
    )
    item = summary.items[1]
    assert item.workflow_id == withdrawn and not item.accepted and item.reason is not None
    assert "has ended (WITHDRAWN" in item.reason, item.reason
    assert (await status(client, withdrawn)).stage == Stage.WITHDRAWN


async def test_record_decision_is_idempotent_and_awards_a_nomination_once(db_engine: AsyncEngine):
    activities = DecisionActivities(db_engine, cast(Client, None))  # recording needs no Temporal client
    env = ActivityEnvironment()
    first, second = f"nomination-2026-BTP-{uuid.uuid4().hex[:8]}", f"nomination-2026-BTP-{uuid.uuid4().hex[:8]}"
    names = {"nominee_name": "Nguyễn Văn Bình", "award_name_vi": "Bằng khen cấp bộ", "ministry": "BTP"}
    summary = DecisionSummary(
        decision=ref(number()),
        items=[
            DecisionItem(workflow_id=first, accepted=True, **names),
            DecisionItem(workflow_id=second, accepted=False, reason="the nomination is not yet approved"),
        ],
    )
    await env.run(activities.persist_decision, summary)
    await env.run(activities.persist_decision, summary)  # a retry changes nothing

    no = summary.decision.decision_no
    [row] = await table_rows(db_engine, decisions, no)
    assert (row["accepted"], row["refused"], row["authority"], row["actor"]) == (1, 1, "MINISTER", SECRETARY)
    assert row["decision_date"] == DECISION_DATE
    assert [
        (r["workflow_id"], r["position"], r["accepted"]) for r in await table_rows(db_engine, decision_items, no)
    ] == [
        (first, 1, True),
        (second, 2, False),
    ]
    assert [(r["workflow_id"], r["decision_no"]) for r in await table_rows(db_engine, awarded_by, no)] == [(first, no)]

    # A second decision accepting the same nomination is a bug somewhere upstream: refused, nothing written.
    other = DecisionSummary(decision=ref(number()), items=[DecisionItem(workflow_id=first, accepted=True, **names)])
    with pytest.raises(ApplicationError) as raised:
        await env.run(activities.persist_decision, other)
    assert raised.value.type == "AlreadyDecided" and raised.value.non_retryable
    assert first in raised.value.message and no in raised.value.message
    for table in (decisions, decision_items, awarded_by):
        assert await table_rows(db_engine, table, other.decision.decision_no) == []


# ---- nominations waiting in AWAITING_DECISION ------------------------------------------------------------


async def test_decision_over_a_mixed_list(
    client: Client, task_queue: str, decision_queue: str, db_engine: AsyncEngine, tmp_path: Path
):
    first, second, earlier = await asyncio.gather(*(awaiting_decision(client, task_queue) for _ in range(3)))
    not_approved = await in_council(client, task_queue)
    unknown = "nomination-2026-BTP-khong-ton-tai"

    earlier_decision = ref(number())
    before = await issue_decision(client, decision_queue, request(earlier_decision, [earlier]))
    assert [i.accepted for i in before.items] == [True], before.items

    decision = ref(number())
    listed = [first, not_approved, earlier, unknown, second]
    summary = await issue_decision(client, decision_queue, request(decision, listed))

    assert [i.workflow_id for i in summary.items] == listed
    assert [i.accepted for i in summary.items] == [True, False, False, False, True], summary.items
    by_id = {i.workflow_id: i for i in summary.items}
    assert "not yet approved" in (by_id[not_approved].reason or "")
    earlier_reason = by_id[earlier].reason or ""
    assert "already decided" in earlier_reason or "ended" in earlier_reason, earlier_reason
    assert "no nomination" in (by_id[unknown].reason or "")
    for item in summary.accepted:
        assert (item.nominee_name, item.award_name_vi, item.ministry) == (
            "Nguyễn Thị Ánh Tuyết",
            "Bằng khen cấp bộ",
            "BTP",
        )
    assert await decision_progress(client, decision.decision_no) == summary

    # The nominations: two awarded by this decision, one by the earlier one, one untouched.
    for workflow_id, decision_no in ((first, decision.decision_no), (second, decision.decision_no)):
        final = await client.get_workflow_handle(workflow_id, result_type=NominationStatus).result()
        assert final.stage == Stage.AWARDED and final.decision_no == decision_no
        assert final.decided_by_vi == "Bộ trưởng"
        await assert_row_agrees(db_engine, client, workflow_id)
    assert (await status(client, earlier)).decision_no == earlier_decision.decision_no
    assert (await status(client, not_approved)).stage == Stage.COUNCIL_REVIEW

    # The register.
    [row] = await table_rows(db_engine, decisions, decision.decision_no)
    assert (row["accepted"], row["refused"]) == (2, 3)
    assert (row["decision_date"], row["authority"], row["actor"]) == (DECISION_DATE, "MINISTER", SECRETARY)
    items = await table_rows(db_engine, decision_items, decision.decision_no)
    assert [(r["position"], r["workflow_id"], r["accepted"]) for r in items] == [
        (1, first, True),
        (2, not_approved, False),
        (3, earlier, False),
        (4, unknown, False),
        (5, second, True),
    ]
    assert items[1]["reason"] == by_id[not_approved].reason
    assert sorted(
        (r["workflow_id"], r["decision_no"]) for r in await table_rows(db_engine, awarded_by, decision.decision_no)
    ) == sorted([(first, decision.decision_no), (second, decision.decision_no)])
    assert [r["workflow_id"] for r in await table_rows(db_engine, awarded_by, earlier_decision.decision_no)] == [
        earlier
    ]

    # The exports: the awarded nominations only, in the order listed.
    expected = [
        [str(stt), workflow_id, "Nguyễn Thị Ánh Tuyết", "Bằng khen cấp bộ", "Bộ Tư pháp", decision.decision_no]
        for stt, workflow_id in ((1, first), (2, second))
    ]
    assert await export_decision(db_engine, decision.decision_no, tmp_path / "qd.csv") == 2
    table = read_csv(tmp_path / "qd.csv")
    assert table[0] == list(EXPORT_COLUMNS)
    assert [r[:6] for r in table[1:]] == expected
    assert {tuple(r[6:]) for r in table[1:]} == {("20/12/2026", "Bộ trưởng")}

    assert await export_decision(db_engine, decision.decision_no, tmp_path / "qd.xlsx") == 2
    sheet = read_xlsx(tmp_path / "qd.xlsx")
    assert sheet[0] == list(EXPORT_COLUMNS)
    assert [[str(r[0]), *r[1:6]] for r in sheet[1:]] == expected
    assert {(r[6], r[7]) for r in sheet[1:]} == {(datetime(2026, 12, 20), "Bộ trưởng")}


async def test_the_authority_must_be_the_forms(client: Client, task_queue: str, decision_queue: str):
    ministry_form = await awaiting_decision(client, task_queue)
    decision = ref(number("QĐ-TTg"), Authority.PRIME_MINISTER, CENTRAL)
    summary = await issue_decision(client, decision_queue, request(decision, [ministry_form]))
    [item] = summary.items
    assert not item.accepted and "PRIME_MINISTER" in (item.reason or "")
    assert (await status(client, ministry_form)).stage == Stage.AWAITING_DECISION


async def priority_of(client: Client, workflow_id: str) -> tuple[int, str]:
    info = (await client.get_workflow_handle(workflow_id).describe()).raw_description.workflow_execution_info
    return info.priority.priority_key, info.priority.fairness_key


async def test_a_decisions_tidings_run_below_peoples_actions_and_a_refusal_is_raised_back(
    client: Client, task_queue: str, decision_queue: str
):
    """The nominations a decision names take it at the decision's priority (3, below people's 2, fair by its
    authority); one that refuses it still waits for people and is back at 2, fair by its ministry."""
    awarded = await awaiting_decision(client, task_queue)
    refusing = await awaiting_decision(client, task_queue, "BANG_KHEN_TTG")  # the Prime Minister's form
    assert await priority_of(client, refusing) == (2, "BTP")

    summary = await issue_decision(client, decision_queue, request(ref(number()), [awarded, refusing]))

    assert [i.accepted for i in summary.items] == [True, False], summary.items
    assert await priority_of(client, awarded) == (3, Authority.MINISTER.value)
    assert (await status(client, refusing)).stage == Stage.AWAITING_DECISION
    assert await priority_of(client, refusing) == (2, "BTP")


async def test_prime_minister_certificate_decided_after_central_approval(
    client: Client, task_queue: str, decision_queue: str, db_engine: AsyncEngine
):
    workflow_id = await awaiting_decision(client, task_queue, "BANG_KHEN_TTG")
    decision = ref(number("QĐ-TTg"), Authority.PRIME_MINISTER, CENTRAL)
    summary = await issue_decision(client, decision_queue, request(decision, [workflow_id]))
    [item] = summary.accepted
    assert item.award_name_vi == "Bằng khen của Thủ tướng Chính phủ"
    current = await wait_for_stage(client, workflow_id, Stage.AWARDED)
    assert current.decision_no == decision.decision_no
    assert current.decided_by_vi == "Thủ tướng Chính phủ"
    [row] = await table_rows(db_engine, awarded_by, decision.decision_no)
    assert row["workflow_id"] == workflow_id


async def test_a_decision_delivered_again_stays_accepted(
    client: Client, task_queue: str, decision_queue: str, db_engine: AsyncEngine
):
    """The same decision told to a nomination again (another run of it) finds the nomination awarded by that
    very decision: accepted again, whether the nomination still runs or has ended and only the register
    answers; another decision naming it is refused, and the nomination keeps its decision."""
    workflow_id = await awaiting_decision(client, task_queue)
    decided = request(ref(number()), [workflow_id])
    decision_no = decided.decision.decision_no

    first = await issue_decision(client, decision_queue, decided)
    assert [i.accepted for i in first.items] == [True], first.items
    again = await client.execute_workflow(
        DecisionWorkflow.run, decided, id=f"{decision_workflow_id(decision_no)}-again", task_queue=decision_queue
    )
    assert again.items == first.items

    ended = await client.get_workflow_handle(workflow_id, result_type=NominationStatus).result()
    assert ended.stage == Stage.AWARDED and ended.decision_no == decision_no
    from_register = await client.execute_workflow(
        DecisionWorkflow.run, decided, id=f"{decision_workflow_id(decision_no)}-later", task_queue=decision_queue
    )
    assert from_register.items == first.items

    other = await issue_decision(client, decision_queue, request(ref(number()), [workflow_id]))
    [refused] = other.items
    assert not refused.accepted and "already decided" in (refused.reason or ""), refused
    assert (await status(client, workflow_id)).decision_no == decision_no
    [row] = await table_rows(db_engine, awarded_by, decision_no)
    assert row["workflow_id"] == workflow_id
