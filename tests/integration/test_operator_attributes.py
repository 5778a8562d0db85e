"""Stuck work at a glance, on the dev server and PostgreSQL: a held nomination and an overdue one, found by the
search attributes OnHold, Overdue and AwaitingRole with the `temporal` CLI (as an operator types the query)
and with the client; their current details (TẠM DỪNG / QUÁ HẠN, what is awaited, Vietnam's times); a static
summary and details readable without the codec server and free of personal data; and `starter.py ops stuck`.

The overdue one on the dev server waits in KTNN's council on a ballot session whose deadline is seconds away:
when it passes the nomination escalates (Overdue), and when the chair cancels the session the stage has no due
date any more and Overdue is cleared. On the time-skipping server, an appraisal overdue in the central board's
stage stays overdue while held (the hold says why nothing moves) and is cleared when a consultation gives the
stage a new due date.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionDescription
from temporalio.converter import default
from temporalio.testing import WorkflowEnvironment

from client.ballots import chair_action, close_list, open_session, session_status
from client.nominations import act, status
from domain.ballot_messages import ChairAction, SessionPhase, SessionStart
from domain.ballots import BallotSessionKind
from domain.calendar import VIETNAM_TZ as ZONE
from domain.messages import ConsultationRequest, HoldRequest, NominationStatus, ReasonedAction
from domain.stages import Stage
from security.codec import ENCODING
from tests.integration.conftest import temporal_binary
from tests.integration.helpers import AUTH_ENV, CENTRAL, PROPOSER, SECRETARY, start, token_for, wait_for_stage
from tests.integration.test_deadlines_under_hold import enter_stage, last_action_becomes
from tests.integration.test_timers import move_clock_to
from workflows.search_attributes import AWAITING_ROLE, ON_HOLD, OVERDUE, STAGE_DUE_AT

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NOMINEE = "Nguyễn Thị Ánh Tuyết"  # tests/factories.py's individual nominee
KTNN_STAFF, KTNN_SECRETARY, KTNN_CHAIR = "ktnn.vutckt.hoang-anh", "ktnn.hd.thu-ky", "ktnn.hd.chu-tich"
HOLD = HoldRequest.model_validate(
    {"actor": SECRETARY, "ground": "INSPECTION", "reason": "Thanh tra theo đơn của ông Trần Văn Bình"}
)


async def eventually(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll `check` (sync or async) until it returns something truthy: visibility follows the workflow with a
    short delay."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while True:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: still {last!r}")
        await asyncio.sleep(0.2)


def temporal_list(client: Client, query: str) -> list[str]:
    """`temporal workflow list --query …` against the test's server, as an operator runs it: the ids found."""
    done = subprocess.run(
        [
            temporal_binary(),
            "workflow",
            "list",
            "--address",
            client.service_client.config.target_host,
            "--namespace",
            client.namespace,
            "--query",
            query,
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout.strip()
    if not text:
        return []
    listed = json.loads(text)
    rows = listed if isinstance(listed, list) else [listed]
    return [row["execution"]["workflowId"] for row in rows]


def cli_env(client: Client, task_queue: str, database_url: str, actor: str) -> dict[str, str]:
    return (
        {k: v for k, v in os.environ.items() if k != "TDKT_TOKEN"}
        | AUTH_ENV
        | {
            "TEMPORAL_ADDRESS": client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": client.namespace,
            "TASK_QUEUE": task_queue,
            "DATABASE_URL": database_url,
            "TDKT_TOKEN": token_for(actor),
        }
    )


def ops_stuck(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "starter.py"), "ops", "stuck", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def stuck_rows(env: dict[str, str], workflow_id: str) -> list[dict[str, Any]]:
    done = ops_stuck(env, "--json")
    assert done.returncode == 0, done.stderr
    return [row for row in json.loads(done.stdout) if row["workflow_id"] == workflow_id]


async def current_details(client: Client, workflow_id: str) -> str:
    metadata = await client.get_workflow_handle(workflow_id).query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    return metadata.current_details


async def described(client: Client, workflow_id: str) -> WorkflowExecutionDescription:
    return await client.get_workflow_handle(workflow_id).describe()


async def attributes(client: Client, workflow_id: str) -> tuple[Any, ...]:
    attrs = (await described(client, workflow_id)).typed_search_attributes
    return attrs.get(ON_HOLD), attrs.get(OVERDUE), attrs.get(AWAITING_ROLE), attrs.get(STAGE_DUE_AT)


async def assert_summary_readable_without_codec(client: Client, workflow_id: str) -> None:
    """The static summary and details are plain `json/plain` payloads (the UI shows them without the codec
    server) and hold the form, ministry and year, never the nominee; the memo stays encrypted."""
    description = await described(client, workflow_id)
    metadata = description.raw_description.execution_config.user_metadata
    for payload in (metadata.summary, metadata.details):
        assert payload.metadata["encoding"] == b"json/plain"
        text = json.loads(payload.data)
        assert NOMINEE not in text and "Ánh Tuyết" not in text
    summary, details = await description.static_summary(), await description.static_details()
    assert summary is not None and details is not None
    assert "BTP" in summary or "KTNN" in summary
    assert "Quy trình:" in details
    memo = description.raw_description.workflow_execution_info.memo.fields
    assert {field.metadata["encoding"] for field in memo.values()} == {ENCODING}


async def test_a_held_nomination_is_found_by_its_attributes_details_and_the_stuck_table(
    client: Client, task_queue: str, db_engine: AsyncEngine, database_url: str
):
    handle = await start(client, task_queue, "BANG_KHEN_BO")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    await assert_summary_readable_without_codec(client, handle.id)
    # Before the hold: waiting for the council's secretary, neither held nor overdue.
    assert await eventually(
        lambda: _equals(attributes(client, handle.id), (False, False, "COUNCIL_SECRETARY", None)), "attributes"
    )
    details = await current_details(client, handle.id)
    assert details.startswith(f"**{Stage.COUNCIL_REVIEW.label_vi}**") and "TẠM DỪNG" not in details

    await act(client, handle.id, "hold", HOLD)
    on_hold = f"WorkflowId = '{handle.id}' AND OnHold = true AND AwaitingRole = 'COUNCIL_SECRETARY'"
    assert await eventually(lambda: temporal_list(client, on_hold) == [handle.id], "temporal workflow list")
    assert temporal_list(client, f"WorkflowId = '{handle.id}' AND Overdue = true") == []
    assert await attributes(client, handle.id) == (True, False, "COUNCIL_SECRETARY", None)
    details = await current_details(client, handle.id)
    held = (await status(client, handle.id)).hold
    assert held is not None
    since = held.since.astimezone(ZONE).strftime("%H:%M ngày %d/%m/%Y")
    assert details.startswith(f"**TẠM DỪNG** từ {since} — người được đề nghị đang bị thanh tra, kiểm tra")
    assert "Trần Văn Bình" not in details and NOMINEE not in details  # the hold's reason is not shown

    env = cli_env(client, task_queue, database_url, CENTRAL)
    [row] = await eventually(lambda: stuck_rows(env, handle.id), "ops stuck --json")
    assert row["marks"] == ["TẠM DỪNG"]
    assert (row["stage"], row["ministry"], row["awaiting_role"], row["due_at"]) == (
        "COUNCIL_REVIEW",
        "BTP",
        "COUNCIL_SECRETARY",
        None,
    )
    assert NOMINEE not in json.dumps(row, ensure_ascii=False)
    table = ops_stuck(env)
    assert table.returncode == 0, table.stderr
    [line] = [line for line in table.stdout.splitlines() if handle.id in line]
    assert line.startswith("TẠM DỪNG") and "COUNCIL_SECRETARY" in line
    assert table.stdout.splitlines()[0].startswith("Tình trạng")

    # Someone who may not read BTP's nominations does not see it; someone off the roster is refused.
    ktnn = stuck_rows(cli_env(client, task_queue, database_url, KTNN_STAFF), handle.id)
    assert ktnn == []
    refused = ops_stuck(cli_env(client, task_queue, database_url, KTNN_STAFF), "--ministry", "BTP")
    assert refused.returncode == 4 and "BTP" in refused.stderr

    await act(client, handle.id, "release", ReasonedAction(actor=CENTRAL, reason="Đã có kết luận thanh tra"))
    assert await eventually(lambda: temporal_list(client, on_hold) == [], "no longer on hold")
    assert await attributes(client, handle.id) == (False, False, "COUNCIL_SECRETARY", None)
    assert "TẠM DỪNG" not in await current_details(client, handle.id)
    assert await eventually(lambda: stuck_rows(env, handle.id) == [], "off the stuck table")
    await act(client, handle.id, "withdraw", ReasonedAction(actor=PROPOSER, reason="Kết thúc kiểm thử"))


async def test_an_overdue_nomination_is_found_until_its_due_date_is_gone(
    client: Client, task_queue: str, db_engine: AsyncEngine, database_url: str
):
    handle = await start(
        client,
        task_queue,
        "BANG_KHEN_BO",
        ministry="KTNN",
        proposer=KTNN_STAFF,
        reference=f"{uuid.uuid4().hex[:6]}/TTr-KTNN",
    )
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    deadline = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=8)
    session = await open_session(
        client,
        task_queue,
        SessionStart(
            kind=BallotSessionKind.COUNCIL,
            scope="KTNN",
            meeting_ref=f"OPS-{uuid.uuid4().hex[:6]}",
            opened_by=KTNN_SECRETARY,
            deadline=deadline,
            policy_version="2026.01",
            reminder_before_seconds=0,
        ),
    )
    await eventually(
        lambda: _listed(session_status(client, session.id), handle.id), "the nomination on the session's list"
    )
    voting = await close_list(client, session.id, KTNN_SECRETARY)
    assert voting.phase == SessionPhase.VOTING

    escalated = await eventually(lambda: _escalated(status(client, handle.id)), "the escalation", timeout=40)
    assert escalated.due_at == deadline
    overdue = f"WorkflowId = '{handle.id}' AND Overdue = true AND AwaitingRole = 'COUNCIL_SECRETARY'"
    assert await eventually(lambda: temporal_list(client, overdue) == [handle.id], "temporal workflow list")
    just_after = (deadline + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    late = f"WorkflowId = '{handle.id}' AND StageDueAt < '{just_after}'"
    assert temporal_list(client, late) == [handle.id]
    assert await attributes(client, handle.id) == (False, True, "COUNCIL_SECRETARY", deadline)
    details = await current_details(client, handle.id)
    due_vi = deadline.astimezone(ZONE).strftime("%H:%M ngày %d/%m/%Y")
    assert details.startswith(f"**QUÁ HẠN** từ {due_vi} — giai đoạn {Stage.COUNCIL_REVIEW.label_vi}")
    assert f"Hạn: {due_vi} (giờ Việt Nam)" in details and "COUNCIL_SECRETARY" in details
    await assert_summary_readable_without_codec(client, handle.id)

    env = cli_env(client, task_queue, database_url, CENTRAL)
    [row] = await eventually(lambda: stuck_rows(env, handle.id), "ops stuck --json")
    assert row["marks"] == ["QUÁ HẠN"] and row["ministry"] == "KTNN" and row["due_vi"] == due_vi
    # The council's own secretary sees it too (their ministry); BTP's does not.
    assert stuck_rows(cli_env(client, task_queue, database_url, KTNN_SECRETARY), handle.id)
    assert stuck_rows(cli_env(client, task_queue, database_url, SECRETARY), handle.id) == []

    # The chair cancels the session: the stage is no longer due at its deadline, so no longer overdue.
    await eventually(
        lambda: _phase(session_status(client, session.id), SessionPhase.AWAITING_CHAIR), "the session awaits its chair"
    )
    # The session says it too, with counts only.
    session_details = await current_details(client, session.id)
    assert session_details.startswith("**QUÁ HẠN** — hết hạn bỏ phiếu mà chưa đủ túc số")
    assert "Danh sách: 1 hồ sơ · đã bỏ phiếu: 0/" in session_details
    await chair_action(client, session.id, "cancel", ChairAction(actor=KTNN_CHAIR, reason="Không đủ túc số"))
    assert await eventually(
        lambda: _startswith(current_details(client, session.id), "Đã hủy phiên"), "the session's details"
    )
    assert await eventually(lambda: temporal_list(client, overdue) == [], "no longer overdue")
    assert await attributes(client, handle.id) == (False, False, "COUNCIL_SECRETARY", None)
    assert "QUÁ HẠN" not in await current_details(client, handle.id)
    assert await eventually(lambda: stuck_rows(env, handle.id) == [], "off the stuck table")
    await act(client, handle.id, "withdraw", ReasonedAction(actor=KTNN_STAFF, reason="Kết thúc kiểm thử"))


async def raw_attributes(client: Client, workflow_id: str) -> dict[str, Any]:
    """The search attributes as the server holds them, decoded one by one (the time-skipping server keeps an
    unset one as a null value, which `describe()` cannot decode): name -> value, None when unset."""
    described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )
    fields = described.workflow_execution_info.search_attributes.indexed_fields
    found: dict[str, Any] = {}
    for key in (ON_HOLD, OVERDUE, AWAITING_ROLE, STAGE_DUE_AT):
        payload = fields.get(key.name)
        value = default().payload_converter.from_payloads([payload])[0] if payload is not None else None
        if isinstance(value, list):
            value = value[0] if value else None
        found[key.name] = value
    return found


async def test_an_overdue_appraisal_stays_overdue_while_held_and_is_cleared_by_a_new_due_date(
    skipping_env: WorkflowEnvironment, own_engine: AsyncEngine
):
    from worker import build_worker

    client = skipping_env.client
    queue = f"ops-{uuid.uuid4().hex[:8]}"
    async with build_worker(client, own_engine, queue):
        workflow_id, due = await enter_stage(skipping_env, queue, Stage.CENTRAL_REVIEW)
        due_vi = due.astimezone(ZONE).strftime("%H:%M ngày %d/%m/%Y")
        waiting = {"OnHold": False, "Overdue": False, "AwaitingRole": "CENTRAL_OFFICER", "StageDueAt": due.isoformat()}
        assert await raw_attributes(client, workflow_id) == waiting
        assert "QUÁ HẠN" not in await current_details(client, workflow_id)

        await move_clock_to(skipping_env, due + timedelta(minutes=2))
        await last_action_becomes(client, workflow_id, "ESCALATED")
        overdue = await eventually(
            lambda: _overdue(raw_attributes(client, workflow_id)), "Overdue after the escalation"
        )
        assert overdue == waiting | {"Overdue": True}
        details = await current_details(client, workflow_id)
        assert details.startswith(f"**QUÁ HẠN** từ {due_vi} — giai đoạn {Stage.CENTRAL_REVIEW.label_vi}")
        assert "cán bộ Ban TĐKT Trung ương (CENTRAL_OFFICER)" in details

        # Held: no due date, still overdue, waiting for the secretariat that held it to release it.
        await act(client, workflow_id, "hold", HOLD)
        held = await raw_attributes(client, workflow_id)
        assert held == {"OnHold": True, "Overdue": True, "AwaitingRole": "COUNCIL_SECRETARY", "StageDueAt": None}
        details = await current_details(client, workflow_id)
        assert details.startswith("**QUÁ HẠN**") and "\n\n**TẠM DỪNG** từ " in details and "Hạn:" not in details

        await act(client, workflow_id, "release", ReasonedAction(actor=CENTRAL, reason="Đã có kết luận thanh tra"))
        released = await raw_attributes(client, workflow_id)
        assert (released["OnHold"], released["Overdue"], released["AwaitingRole"]) == (False, True, "CENTRAL_OFFICER")

        # A consultation gives the appraisal a longer period: a new due date, no longer overdue.
        consult = ConsultationRequest(actor=CENTRAL, agencies=["Bộ Nội vụ"], reason="Lấy ý kiến cơ quan quản lý")
        await act(client, workflow_id, "request_consultation", consult)
        extended = await status(client, workflow_id)
        assert extended.due_at is not None and extended.due_at > due
        assert await raw_attributes(client, workflow_id) == waiting | {"StageDueAt": extended.due_at.isoformat()}
        assert not (await current_details(client, workflow_id)).startswith("**QUÁ HẠN**")


# ---- small async predicates for `eventually` -------------------------------------------------------------------


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def _listed(session: Any, workflow_id: str) -> bool:
    return any(c.workflow_id == workflow_id for c in (await session).candidates)


async def _phase(session: Any, phase: SessionPhase) -> bool:
    return bool((await session).phase == phase)


async def _escalated(current: Any) -> NominationStatus | None:
    found: NominationStatus = await current
    return found if any(t.action == "ESCALATED" for t in found.transitions) else None


async def _startswith(text: Any, prefix: str) -> bool:
    return str(await text).startswith(prefix)


async def _overdue(attributes: Any) -> dict[str, Any] | None:
    found: dict[str, Any] = await attributes
    return found if found["Overdue"] else None
