"""Who may start a nomination, one person one nomination per award form and year, and impossible inputs, end
to end on the session's dev server, worker and PostgreSQL: through the API (in-process), the CLI (real
processes, real exit codes), the import, and starts that skip the clients' checks (the workflow refuses them
itself and ends REFUSED, completed, never failed). Every name and number here is invented."""

from __future__ import annotations

import argparse
import asyncio
import json
import unicodedata
import uuid
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from api import create_app
from cli.imports import import_command
from client.nominations import ActionRefused, act, start_nomination, started_input
from domain.catalog import current_policy_version
from domain.messages import NominationStart, NominationStatus, ReasonedAction
from domain.nomination import Nomination, workflow_id_for
from domain.stages import Stage
from security.tokens import Keyring, issue_token
from store.identity_claims import PROPOSAL_REFUSED
from store.schema import audit_log, nominations, nominee_identity
from tests.asgi import Reply, call
from tests.factories import current_year, nomination_data
from tests.integration.helpers import CENTRAL, PROPOSER, cli_environment, token_for
from tests.integration.test_cli import cli, write
from workflows.nomination import NominationWorkflow
from workflows.search_attributes import NOMINATION_STAGE

pytestmark = pytest.mark.integration

RING = Keyring(keys={"proposals-test": "p" * 40}, current="proposals-test")
BTP_STAFF = PROPOSER  # UNIT_STAFF of BTP
KTNN_STAFF = "ktnn.vutckt.hoang-anh"  # UNIT_STAFF of KTNN
BTP_CHAIR = "btp.hd.chu-tich"
OFF_ROSTER = "khach.ngoai.danh-sach"
FUTURE_YEAR = current_year() + 5  # 2031 in the issue, run in 2026
PROBLEM = "application/problem+json"


def token(actor: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {issue_token(RING, actor)}")]


@pytest.fixture(scope="module")
def cli_env(client: Client, task_queue: str, database_url: str) -> dict[str, str]:
    """The CLI's environment: the session's dev server, task queue and database (as test_cli's)."""
    return cli_environment(client, task_queue, database_url)


@pytest.fixture(scope="module")
def app(client: Client, task_queue: str, db_engine: AsyncEngine) -> Any:
    return create_app(client, keyring=RING, task_queue=task_queue, engine=db_engine)


def nominee(full_name: str, unit: str) -> dict[str, str]:
    return {"kind": "INDIVIDUAL", "full_name": full_name, "position": "Kiểm toán viên", "unit": unit}


def ktnn_nomination(**overrides: Any) -> dict[str, Any]:
    """A valid KTNN nomination, proposed by KTNN's unit staff unless overridden."""
    tag = uuid.uuid4().hex[:8]
    data = nomination_data(
        "BANG_KHEN_BO",
        ministry="KTNN",
        reference=f"{tag}/TTr-KTNN",
        proposing_unit="Vụ Tổ chức cán bộ",
        proposer=KTNN_STAFF,
        nominee=nominee("Đinh Quang Vũ", f"Kiểm toán Nhà nước khu vực {tag}"),
    )
    data.update(overrides)
    return data


def problem(reply: Reply, status: int, slug: str) -> dict[str, Any]:
    assert reply.status == status, reply
    assert reply.header("content-type") == PROBLEM, reply.headers
    body = reply.json()
    assert body["type"] == f"/problems/{slug}"
    return dict(body)


async def never_started(client: Client, workflow_id: str) -> None:
    """No workflow with this id exists: nothing was started."""
    with pytest.raises(RPCError) as missing:
        await client.get_workflow_handle(workflow_id).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


async def refused_result(client: Client, workflow_id: str) -> NominationStatus:
    """The workflow ended COMPLETED (never FAILED) at REFUSED; its result is its status."""
    handle = client.get_workflow_handle(workflow_id, result_type=NominationStatus)
    final = await asyncio.wait_for(handle.result(), timeout=60)
    described = await handle.describe()
    assert described.status == WorkflowExecutionStatus.COMPLETED
    assert final.stage == Stage.REFUSED and final.status_vi == "Không tiếp nhận"
    assert final.stage_label_vi == "Không tiếp nhận đề nghị"
    assert final.transitions == [] and final.refusal_reason
    assert described.typed_search_attributes.get(NOMINATION_STAGE) == Stage.REFUSED.value
    return final


async def nothing_registered(db_engine: AsyncEngine, workflow_id: str) -> None:
    """A refused start leaves no nominations row and no claim; the audit chain keeps who tried and why."""
    async with db_engine.connect() as conn:
        assert (
            await conn.execute(sa.select(nominations).where(nominations.c.workflow_id == workflow_id))
        ).first() is None
        claims = sa.select(nominee_identity).where(nominee_identity.c.workflow_id == workflow_id)
        assert (await conn.execute(claims)).first() is None
        entries = (await conn.execute(sa.select(audit_log).where(audit_log.c.workflow_id == workflow_id))).all()
    assert [(e.action, e.to_stage) for e in entries] == [(PROPOSAL_REFUSED, "REFUSED")]


async def withdraw_via_api(app: Any, workflow_id: str, actor: str) -> None:
    reply = await call(
        app, "POST", f"/nominations/{workflow_id}/withdraw", {"reason": "Dọn dẹp sau kiểm thử"}, token(actor)
    )
    assert reply.status == 200 and reply.json()["stage"] == "WITHDRAWN", reply


# ---- who may propose -------------------------------------------------------------------------------------


async def test_a_btp_staffer_cannot_file_a_ktnn_nomination_through_the_api(app: Any, client: Client) -> None:
    data = ktnn_nomination(proposer=BTP_STAFF)
    reply = await call(app, "POST", "/nominations", data, token(BTP_STAFF))
    detail = problem(reply, 403, "forbidden")["detail"]
    for named in (BTP_STAFF, "UNIT_STAFF", "cán bộ đơn vị đề xuất", "KTNN"):
        assert named in detail, detail
    await never_started(client, workflow_id_for(Nomination.model_validate(data)))


@pytest.mark.parametrize("actor", [BTP_CHAIR, CENTRAL, OFF_ROSTER])
async def test_only_unit_staff_propose(app: Any, client: Client, actor: str) -> None:
    """A council chair, a central-board officer and someone not on the roster at all may not start one."""
    data = nomination_data(proposer=actor)
    reply = await call(app, "POST", "/nominations", data, token(actor))
    detail = problem(reply, 403, "forbidden")["detail"]
    assert actor in detail and "UNIT_STAFF for BTP" in detail, detail
    await never_started(client, workflow_id_for(Nomination.model_validate(data)))


async def test_a_batch_with_one_unauthorised_nomination_starts_none(app: Any, client: Client) -> None:
    mine, theirs = nomination_data(), ktnn_nomination(proposer=BTP_STAFF)
    reply = await call(app, "POST", "/nominations:batch", {"nominations": [mine, theirs]}, token(BTP_STAFF))
    body = problem(reply, 403, "forbidden")
    assert [e["field"] for e in body["errors"]] == ["nominations.1.proposer"]
    for data in (mine, theirs):
        await never_started(client, workflow_id_for(Nomination.model_validate(data)))


async def test_the_cli_refuses_a_btp_staffer_filing_for_ktnn_exit_4(
    cli_env: dict[str, str],
    client: Client,
    tmp_path: Path,
) -> None:
    data = ktnn_nomination(proposer=BTP_STAFF)
    done = await cli(cli_env, "nominate", write(tmp_path, "ktnn.json", data), token=token_for(BTP_STAFF))
    assert done.returncode == 4, done.stderr
    for named in (BTP_STAFF, "UNIT_STAFF for KTNN", "cán bộ đơn vị đề xuất", "nothing was started"):
        assert named in done.stderr, done.stderr
    await never_started(client, workflow_id_for(Nomination.model_validate(data)))


async def test_a_start_that_skips_the_client_is_refused_by_the_workflow(
    client: Client, task_queue: str, db_engine: AsyncEngine
) -> None:
    """Started straight on Temporal (no client check): the workflow checks the proposer against its own roster
    snapshot and ends REFUSED, completed; nothing reaches the record but the audit entry."""
    nomination = Nomination.model_validate(ktnn_nomination(proposer=BTP_STAFF))
    workflow_id = workflow_id_for(nomination)
    version = current_policy_version(date.today())
    await client.start_workflow(
        NominationWorkflow.run,
        NominationStart(nomination=nomination, policy_version=version),
        id=workflow_id,
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    final = await refused_result(client, workflow_id)
    assert final.refusal_reason is not None and final.refusal_reason.startswith("proposer: ")
    assert BTP_STAFF in final.refusal_reason and "UNIT_STAFF for KTNN" in final.refusal_reason
    await nothing_registered(db_engine, workflow_id)


# ---- impossible inputs --------------------------------------------------------------------------------------


async def test_a_future_award_year_is_invalid_input(
    app: Any,
    client: Client,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    data = nomination_data(year=FUTURE_YEAR)
    reply = await call(app, "POST", "/nominations", data, token(BTP_STAFF))
    errors = problem(reply, 422, "invalid-input")["errors"]
    assert [e["field"] for e in errors] == ["year"] and "in the future" in errors[0]["message"]
    done = await cli(cli_env, "nominate", write(tmp_path, "future.json", data))
    assert done.returncode == 2 and "  year: " in done.stderr and "in the future" in done.stderr, done.stderr
    too_old = nomination_data(year=current_year() - 2)  # the policy's window reaches back one year
    reply = await call(app, "POST", "/nominations", too_old, token(BTP_STAFF))
    assert [e["field"] for e in problem(reply, 422, "invalid-input")["errors"]] == ["year"]
    for started in (data, too_old):
        await never_started(client, workflow_id_for(Nomination.model_validate(started)))


async def test_an_unknown_ministry_is_invalid_input(
    app: Any,
    client: Client,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    data = nomination_data(ministry="BXYZ")
    reply = await call(app, "POST", "/nominations", data, token(BTP_STAFF))
    errors = problem(reply, 422, "invalid-input")["errors"]
    assert [e["field"] for e in errors] == ["ministry"] and "BXYZ is not in the roster" in errors[0]["message"]
    done = await cli(cli_env, "nominate", write(tmp_path, "bxyz.json", data))
    assert done.returncode == 2 and "  ministry: BXYZ is not in the roster" in done.stderr, done.stderr
    assert "nomination-" not in done.stdout  # no workflow id printed
    await never_started(client, workflow_id_for(Nomination.model_validate(data)))


async def test_an_unknown_ministry_or_a_future_year_started_directly_ends_refused_not_failed(
    client: Client, task_queue: str, db_engine: AsyncEngine
) -> None:
    unknown = Nomination.model_validate(nomination_data(ministry="BXYZ"))
    future = Nomination.model_validate(nomination_data(year=FUTURE_YEAR))
    for nomination in (unknown, future):
        await start_nomination(client, nomination, task_queue)  # no engine: the client checks nothing
    assert (await refused_result(client, workflow_id_for(unknown))).refusal_reason == (
        "ministry: BXYZ is not in the roster"
    )
    reason = (await refused_result(client, workflow_id_for(future))).refusal_reason
    assert reason is not None and reason.startswith(f"year: {FUTURE_YEAR} is in the future")
    for nomination in (unknown, future):
        await nothing_registered(db_engine, workflow_id_for(nomination))


# ---- one person, one nomination per award form and year ------------------------------------------------------


async def test_the_same_nominee_in_nfc_and_nfd_under_two_references_is_a_duplicate(
    app: Any,
    client: Client,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    unit = f"Vụ Phổ biến pháp luật {uuid.uuid4().hex[:6]}"
    composed = nomination_data(nominee=nominee(unicodedata.normalize("NFC", "Trần Thị Hằng"), unit))
    first = await call(app, "POST", "/nominations", composed, token(BTP_STAFF))
    assert first.status == 201, first
    holder = first.json()["workflow_id"]

    # The same person typed decomposed (NFD), in capitals and with extra spaces, under another reference.
    decomposed = nomination_data(
        nominee=nominee(unicodedata.normalize("NFD", "TRẦN  THỊ   HẰNG"), unicodedata.normalize("NFD", f" {unit} "))
    )
    assert decomposed["reference"] != composed["reference"]
    second = await call(app, "POST", "/nominations", decomposed, token(BTP_STAFF))
    assert holder in problem(second, 409, "duplicate")["detail"]
    done = await cli(cli_env, "nominate", write(tmp_path, "nfd.json", decomposed))
    assert done.returncode == 3 and holder in done.stderr, done.stderr
    await never_started(client, workflow_id_for(Nomination.model_validate(decomposed)))

    # Stored composed, whatever was typed: the record holds one spelling of a name.
    status = await call(app, "GET", f"/nominations/{holder}", headers=token(BTP_STAFF))
    assert status.json()["nominee_name"] == unicodedata.normalize("NFC", "Trần Thị Hằng")

    # Withdrawn, the nomination gives the nominee back: the unit may propose them again.
    await withdraw_via_api(app, holder, BTP_STAFF)
    again = await call(app, "POST", "/nominations", decomposed, token(BTP_STAFF))
    assert again.status == 201, again
    await withdraw_via_api(app, again.json()["workflow_id"], BTP_STAFF)


async def test_two_starts_of_one_nominee_that_skip_the_client_leave_one_holder(
    client: Client, task_queue: str, db_engine: AsyncEngine
) -> None:
    """Both started at once on Temporal: the claim in PostgreSQL admits one; the other ends REFUSED naming it."""
    person = nominee("Phan Thị Thu Hà", f"Cục Bổ trợ tư pháp {uuid.uuid4().hex[:6]}")
    pair = [Nomination.model_validate(nomination_data(nominee=person)) for _ in range(2)]
    await asyncio.gather(*(start_nomination(client, n, task_queue) for n in pair))
    ids = [workflow_id_for(n) for n in pair]
    async with db_engine.connect() as conn:
        for _ in range(300):
            held = (
                (
                    await conn.execute(
                        sa.select(nominee_identity.c.workflow_id).where(nominee_identity.c.workflow_id.in_(ids))
                    )
                )
                .scalars()
                .all()
            )
            if held:
                break
            await asyncio.sleep(0.1)
    [holder] = held
    [other] = [wf for wf in ids if wf != holder]
    reason = (await refused_result(client, other)).refusal_reason
    assert reason is not None and reason.startswith("nominee: duplicate") and holder in reason
    await nothing_registered(db_engine, other)
    await act(client, holder, "withdraw", ReasonedAction(actor=BTP_STAFF, reason="Dọn dẹp sau kiểm thử"))


async def test_a_personal_id_is_kept_only_as_its_keyed_hash_and_identifies_the_person(
    app: Any, client: Client, db_engine: AsyncEngine
) -> None:
    number = f"0012{uuid.uuid4().int % 10**8:08d}"
    first_data = nomination_data(nominee=nominee("Lý Thị Ngọc", "Vụ Hợp tác quốc tế") | {"personal_id": number})
    first = await call(app, "POST", "/nominations", first_data, token(BTP_STAFF))
    assert first.status == 201, first
    holder = first.json()["workflow_id"]

    # What Temporal holds (the start input, decoded): the keyed hash, never the number.
    started = await started_input(client, holder, NominationStart)
    assert started is not None and number not in started.model_dump_json()
    assert started.nomination.nominee.personal_id is None  # type: ignore[union-attr]
    assert started.nomination.nominee.personal_id_hmac  # type: ignore[union-attr]
    for _ in range(300):
        async with db_engine.connect() as conn:
            row = (
                await conn.execute(sa.select(nominations.c.payload).where(nominations.c.workflow_id == holder))
            ).first()
        if row is not None:
            break
        await asyncio.sleep(0.1)
    assert row is not None and number not in json.dumps(row.payload)

    # The same number under another spelling of the name and another unit: the same person.
    same_person = nomination_data(nominee=nominee("Lý Ngọc", "Văn phòng Bộ") | {"personal_id": number})
    duplicate = await call(app, "POST", "/nominations", same_person, token(BTP_STAFF))
    assert holder in problem(duplicate, 409, "duplicate")["detail"]
    # A unit never sends the hash itself: the engine computes it.
    forged = nomination_data(nominee=nominee("Lý Thị Ngọc", "Vụ Hợp tác quốc tế") | {"personal_id_hmac": "0" * 64})
    refused = await call(app, "POST", "/nominations", forged, token(BTP_STAFF))
    assert [e["field"] for e in problem(refused, 422, "invalid-input")["errors"]] == ["nominee.personal_id_hmac"]
    await withdraw_via_api(app, holder, BTP_STAFF)


# ---- the import -------------------------------------------------------------------------------------------------

CSV_HEADER = (
    "reference,year,ministry,proposing_unit,award_form,nominee_kind,nominee_full_name,nominee_position,"
    "nominee_unit,achievements,proposer,dossier"
)


def csv_row(reference: str, ministry: str, full_name: str, unit: str, proposer: str = BTP_STAFF) -> str:
    dossier = (
        "TO_TRINH|Tờ trình|TT-1; BAO_CAO_THANH_TICH|Báo cáo thành tích|BC-1; BIEN_BAN_XET_KHEN_THUONG|Biên bản|BB-1"
    )
    return (
        f"{reference},{current_year()},{ministry},Vụ Pháp chế,BANG_KHEN_BO,INDIVIDUAL,{full_name},Chuyên viên,"
        f"{unit},Hoàn thành xuất sắc nhiệm vụ.,{proposer},{dossier}"
    )


async def import_csv(app: Any, lines: list[str], actor: str = BTP_STAFF) -> Reply:
    body = ("\n".join([CSV_HEADER, *lines]) + "\n").encode("utf-8")
    return await call(app, "POST", "/nominations:import", body, [*token(actor), ("content-type", "text/csv")])


async def test_the_import_checks_every_row(app: Any, client: Client) -> None:
    tag = uuid.uuid4().hex[:6]
    # A row for another ministry: the whole file is refused, nothing starts.
    refused = await import_csv(
        app,
        [
            csv_row(f"1-{tag}/TTr", "BTP", "Vũ Văn Long", f"Phòng {tag}"),
            csv_row(f"2-{tag}/TTr", "KTNN", "Vũ Văn Long", f"Phòng {tag}"),
        ],
    )
    assert [e["field"] for e in problem(refused, 403, "forbidden")["errors"]] == ["dòng 3, Người lập hồ sơ (proposer)"]
    await never_started(client, f"nomination-{current_year()}-BTP-1-{tag}/TTr")

    # An unknown ministry and the same person twice in one file: invalid rows, named.
    invalid = await import_csv(
        app,
        [
            csv_row(f"3-{tag}/TTr", "BXYZ", "Vũ Văn Long", f"Phòng {tag}"),
            csv_row(f"4-{tag}/TTr", "BTP", "Vũ Văn Long", f"Phòng {tag}"),
            csv_row(f"5-{tag}/TTr", "BTP", unicodedata.normalize("NFD", "vũ văn long"), f"Phòng {tag}"),
        ],
    )
    fields = [e["field"] for e in problem(invalid, 422, "invalid-input")["errors"]]
    assert fields == ["dòng 2, Bộ/ngành (ministry)", "dòng 4, Cá nhân/Tập thể (nominee_kind)"], fields

    # A nominee another nomination holds: that row fails naming the holder, the others start.
    holder = await call(
        app, "POST", "/nominations", nomination_data(nominee=nominee("Vũ Văn Long", f"Phòng {tag}")), token(BTP_STAFF)
    )
    assert holder.status == 201, holder
    held_by = holder.json()["workflow_id"]
    result = await import_csv(
        app,
        [
            csv_row(f"6-{tag}/TTr", "BTP", "Vũ Văn Long", f"Phòng {tag}"),
            csv_row(f"7-{tag}/TTr", "BTP", "Vũ Thị Lan", f"Phòng {tag}"),
        ],
    )
    assert result.status == 200, result
    items = result.json()["items"]
    assert [(i["row"], i["outcome"]) for i in items] == [(2, "FAILED"), (3, "STARTED")]
    assert held_by in items[0]["detail"]
    for workflow_id in (held_by, items[1]["workflow_id"]):
        await withdraw_via_api(app, workflow_id, BTP_STAFF)


# ---- search ---------------------------------------------------------------------------------------------------


async def test_search_ignores_case_unicode_form_and_diacritics(app: Any) -> None:
    tag = uuid.uuid4().hex[:6]
    created = await call(
        app, "POST", "/nominations", nomination_data(nominee=nominee("Đoàn Thị Hằng", f"Vụ {tag}")), token(BTP_STAFF)
    )
    assert created.status == 201, created
    workflow_id = created.json()["workflow_id"]
    for q in ("Hang", "hằng", unicodedata.normalize("NFD", "HẰNG"), "doan thi hang", "Đoàn"):
        for _ in range(100):  # visibility is eventually consistent
            reply = await call(app, "GET", f"/nominations?ministry=BTP&limit=1000&q={quote(q)}", headers=token(CENTRAL))
            assert reply.status == 200, reply
            if workflow_id in [row["workflow_id"] for row in reply.json()]:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"q={q!r} did not find {workflow_id}")
    other = await call(
        app, "GET", f"/nominations?ministry=BTP&limit=1000&q={quote('Hùng ' + tag)}", headers=token(CENTRAL)
    )
    assert workflow_id not in [row["workflow_id"] for row in other.json()]
    await withdraw_via_api(app, workflow_id, BTP_STAFF)


async def test_the_cli_import_refuses_a_file_with_a_row_for_another_ministry(
    client: Client, task_queue: str, db_engine: AsyncEngine, tmp_path: Path
) -> None:
    """`starter.py import` (in process): a row the importing actor may not propose stops the whole file (exit 4
    in starter.py, ActionRefused here), every such row named, nothing started."""
    tag = uuid.uuid4().hex[:6]
    path = tmp_path / "danh-sach.csv"
    lines = [
        csv_row(f"8-{tag}/TTr", "BTP", "Tạ Văn Minh", f"Phòng {tag}"),
        csv_row(f"9-{tag}/TTr", "KTNN", "Tạ Văn Minh", f"Phòng {tag}"),
    ]
    path.write_text("\n".join([CSV_HEADER, *lines]) + "\n", encoding="utf-8")
    with pytest.raises(ActionRefused) as refused:
        args = argparse.Namespace(file=str(path), actor=BTP_STAFF, skip_invalid=False)
        await import_command(args, client=client, task_queue=task_queue, engine=db_engine)
    assert "dòng 3, Người lập hồ sơ (proposer)" in str(refused.value) and "UNIT_STAFF for KTNN" in str(refused.value)
    await never_started(client, f"nomination-{current_year()}-BTP-8-{tag}/TTr")
