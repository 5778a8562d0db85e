"""Reads follow the roster, end to end on the dev server and PostgreSQL: the API (list, detail, ballot
sessions, decisions and their export), the CLI (status, list, report, ballot status, decision export) and the
inbox show each person only what domain/access.py lets them read, and refuse an actor not on the roster."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from api import create_app
from api.inbox import COOKIE
from client import ballots as ballot_ops
from client.nominations import ActionRefused, act
from domain.access import bloc_vote_forms
from domain.ballot_messages import SessionPhase, SessionStart
from domain.ballots import BallotSessionKind, Choice
from domain.catalog import policy_set
from domain.messages import ReasonedAction
from domain.stages import Stage
from security.tokens import Keyring, issue_token
from tests.asgi import Reply, call
from tests.factories import POLICY_VERSION
from tests.integration.helpers import AUTH_ENV, CENTRAL, count_now, meeting, passing_tally, start, wait_for_stage
from tests.integration.helpers import token_for as cli_token

pytestmark = pytest.mark.integration

RING = Keyring(keys={"read-test": "r" * 40}, current="read-test")
BTP_STAFF = "btp.vutckt.le-thi-hoa"
KTNN_STAFF = "ktnn.vutckt.hoang-anh"
BLOC_REP = "btp.khoi.dai-dien"
STRANGER = "nguoi.ngoai-danh-sach"  # holds a valid token, but the roster does not know them
KTNN_SECRETARY, KTNN_CHAIR = "ktnn.hd.thu-ky", "ktnn.hd.chu-tich"
KTNN_MEMBERS = ("ktnn.hd.chu-tich", "ktnn.hd.uy-vien-1", "ktnn.hd.uy-vien-2")
SEATS = 3  # voting members of each council in config/roster.json (the chair and two members)


def token(actor: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {issue_token(RING, actor)}")]


def problem(reply: Reply, status: int) -> str:
    assert reply.status == status, reply
    assert reply.header("content-type") == "application/problem+json", reply.headers
    return str(reply.json()["detail"])


@pytest.fixture(scope="module")
def cli_env(client: Client, task_queue: str, database_url: str) -> dict[str, str]:
    """starter.py's environment: this run's server, task queue, database and token keys; no token of its own."""
    return (
        {k: v for k, v in os.environ.items() if k != "TDKT_TOKEN"}
        | AUTH_ENV
        | {
            "TEMPORAL_ADDRESS": client.service_client.config.target_host,
            "TEMPORAL_NAMESPACE": client.namespace,
            "TASK_QUEUE": task_queue,
            "DATABASE_URL": database_url,
        }
    )


ROOT = Path(__file__).resolve().parents[2]


async def cli(env: dict[str, str], *args: str, token: str) -> subprocess.CompletedProcess[str]:
    """starter.py as a person runs it, with their token ("" for none)."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(ROOT / "starter.py"), "--json", *args],  # the JSON document, not tables
        env=env | ({"TDKT_TOKEN": token} if token else {}),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def app(client: Client, task_queue: str, db_engine: AsyncEngine) -> Any:
    return create_app(client, keyring=RING, task_queue=task_queue, engine=db_engine)


def nominee_for(award_form: str) -> dict[str, Any]:
    """A fictional nominee of its own for each nomination (one person, one nomination per form and year)."""
    tag = uuid.uuid4().hex[:6].upper()
    if policy_set(POLICY_VERSION).form(award_form).subject == "COLLECTIVE":
        return {"kind": "COLLECTIVE", "name": f"Phòng Kiểm thử Quyền đọc {tag}"}
    return {"kind": "INDIVIDUAL", "full_name": f"Lâm Thị Quyền Đọc {tag}", "position": "Chuyên viên", "unit": "Vụ A"}


async def started(client: Client, task_queue: str, ministry: str, award_form: str) -> str:
    proposer = {"BTP": BTP_STAFF, "KTNN": KTNN_STAFF}[ministry]
    handle = await start(
        client,
        task_queue,
        award_form,
        ministry=ministry,
        proposer=proposer,
        reference=f"{uuid.uuid4().hex[:8]}/TTr-{ministry}",
        nominee=nominee_for(award_form),
    )
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    return handle.id


@pytest.fixture(scope="module")
async def ours(client: Client, task_queue: str) -> AsyncIterator[dict[str, str]]:
    """A BTP ministry form, a KTNN ministry form and a KTNN bloc form (Cờ thi đua của Chính phủ), all in the
    council; withdrawn at the end so that no other test's session finds them waiting."""
    made = {
        "btp": await started(client, task_queue, "BTP", "BANG_KHEN_BO"),
        "ktnn": await started(client, task_queue, "KTNN", "BANG_KHEN_BO"),
        "ktnn_bloc": await started(client, task_queue, "KTNN", "CO_THI_DUA_CP"),
    }
    yield made
    for workflow_id in made.values():
        proposer = BTP_STAFF if "-BTP-" in workflow_id else KTNN_STAFF
        with contextlib.suppress(ActionRefused):  # ended already (awarded by a test's decision)
            await act(client, workflow_id, "withdraw", ReasonedAction(actor=proposer, reason="Dọn dẹp sau kiểm thử"))


async def listed(app: Any, actor: str, query: str, expected: set[str]) -> list[dict[str, Any]]:
    """GET /nominations?query as `actor`, once visibility shows every id in `expected` (newest first)."""
    rows: list[dict[str, Any]] = []
    for _ in range(100):
        reply = await call(app, "GET", f"/nominations?{query}&limit=1000", headers=token(actor))
        assert reply.status == 200, reply
        rows = reply.json()
        if expected <= {r["workflow_id"] for r in rows}:
            return rows
        await asyncio.sleep(0.2)
    raise AssertionError(f"{expected} not listed for {actor}: {[r['workflow_id'] for r in rows]}")


# ---- nominations through the API ---------------------------------------------------------------------------


async def test_a_unit_staffer_reads_their_ministry_and_not_another(app: Any, ours: dict[str, str]) -> None:
    btp, ktnn = ours["btp"], ours["ktnn"]
    assert (await call(app, "GET", f"/nominations/{btp}", headers=token(BTP_STAFF))).status == 200
    refused = problem(await call(app, "GET", f"/nominations/{ktnn}", headers=token(BTP_STAFF)), 403)
    assert refused == f"actor {BTP_STAFF!r} may not read nomination {ktnn}"
    assert (await call(app, "GET", f"/nominations/{ktnn}", headers=token(KTNN_STAFF))).status == 200
    # A KTNN id that does not exist gets the very same refusal: existence is not told to a BTP reader.
    ghost = f"nomination-2026-KTNN-{uuid.uuid4().hex[:8]}/TTr-KTNN"
    assert problem(await call(app, "GET", f"/nominations/{ghost}", headers=token(BTP_STAFF)), 403) == (
        f"actor {BTP_STAFF!r} may not read nomination {ghost}"
    )
    # One of their own ministry that does not exist is simply not found.
    missing = f"nomination-2026-BTP-{uuid.uuid4().hex[:8]}/TTr-BTP"
    problem(await call(app, "GET", f"/nominations/{missing}", headers=token(BTP_STAFF)), 404)

    rows = await listed(app, BTP_STAFF, "year=2026", {btp})
    assert {r["ministry"] for r in rows} == {"BTP"} and ktnn not in {r["workflow_id"] for r in rows}
    elsewhere = problem(await call(app, "GET", "/nominations?ministry=KTNN", headers=token(BTP_STAFF)), 403)
    assert elsewhere == f"actor {BTP_STAFF!r} may not read nominations of KTNN"
    ktnn_rows = await listed(app, KTNN_STAFF, "year=2026", {ktnn, ours["ktnn_bloc"]})
    assert {r["ministry"] for r in ktnn_rows} == {"KTNN"}


async def test_a_bloc_representative_reads_the_bloc_s_candidates_only(app: Any, ours: dict[str, str]) -> None:
    bloc_form, ministry_form = ours["ktnn_bloc"], ours["ktnn"]
    assert (await call(app, "GET", f"/nominations/{bloc_form}", headers=token(BLOC_REP))).status == 200
    problem(await call(app, "GET", f"/nominations/{ministry_form}", headers=token(BLOC_REP)), 403)
    problem(await call(app, "GET", f"/nominations/{ours['btp']}", headers=token(BLOC_REP)), 403)
    # Other tests on this server leave nominations of their own: every row is a bloc-vote candidate or one of the
    # bloc's own proposals (any form), and this test's ministry-only form is not among them.
    rows = await listed(app, BLOC_REP, "year=2026", {bloc_form})
    await assert_bloc_readable(app, rows)
    assert ministry_form not in {r["workflow_id"] for r in rows}
    # Filtered to a ministry of the bloc: that ministry's bloc candidates.
    of_ktnn = await listed(app, BLOC_REP, "ministry=KTNN", {bloc_form})
    assert {r["ministry"] for r in of_ktnn} == {"KTNN"}
    await assert_bloc_readable(app, of_ktnn)


async def assert_bloc_readable(app: Any, rows: list[dict[str, Any]]) -> None:
    """Each row is a form that goes through the bloc vote or the bloc's own proposal (as the board reads it)."""
    for row in rows:
        if row["award_form"] not in bloc_vote_forms():
            detail = await call(app, "GET", f"/nominations/{row['workflow_id']}", headers=token(CENTRAL))
            assert detail.status == 200 and detail.json()["origin_bloc"] == "NOI_CHINH", row


async def test_the_central_board_reads_every_ministry(app: Any, ours: dict[str, str]) -> None:
    for workflow_id in ours.values():
        assert (await call(app, "GET", f"/nominations/{workflow_id}", headers=token(CENTRAL))).status == 200
    rows = await listed(app, CENTRAL, "year=2026", set(ours.values()))
    assert {"BTP", "KTNN"} <= {r["ministry"] for r in rows}


async def test_an_actor_off_the_roster_reads_nothing(app: Any, ours: dict[str, str]) -> None:
    expected = f"actor {STRANGER!r} is not on the roster: they may read nothing"
    assert problem(await call(app, "GET", "/nominations", headers=token(STRANGER)), 403) == expected
    assert problem(await call(app, "GET", f"/nominations/{ours['btp']}", headers=token(STRANGER)), 403) == expected
    for path in ("/ballot-sessions/ballot-council-BTP-khong-co", "/decisions/khong-co", "/decisions/khong-co/export"):
        assert problem(await call(app, "GET", path, headers=token(STRANGER)), 403) == expected


# ---- a ballot session ----------------------------------------------------------------------------------------


async def session_view(app: Any, session_id: str, actor: str) -> dict[str, Any]:
    reply = await call(app, "GET", f"/ballot-sessions/{session_id}", headers=token(actor))
    assert reply.status == 200, reply
    return dict(reply.json())


async def test_a_session_s_voter_list_is_its_organisers_a_voter_sees_themselves(
    app: Any, client: Client, task_queue: str, db_engine: AsyncEngine, ours: dict[str, str], cli_env: dict[str, str]
) -> None:
    nomination = await started(client, task_queue, "KTNN", "BANG_KHEN_BO")
    start_ = SessionStart(
        kind=BallotSessionKind.COUNCIL,
        scope="KTNN",
        meeting_ref=f"READ-{uuid.uuid4().hex[:8]}",
        opened_by=KTNN_SECRETARY,
        deadline=datetime.now(UTC) + timedelta(hours=1),
        policy_version=POLICY_VERSION,
        reminder_before_seconds=0,
    )
    session_id = (await ballot_ops.open_session(client, task_queue, start_, engine=db_engine)).id
    for _ in range(300):
        if nomination in {c.workflow_id for c in (await ballot_ops.session_status(client, session_id)).candidates}:
            break
        await asyncio.sleep(0.1)
    voting = await ballot_ops.close_list(client, session_id, KTNN_SECRETARY)
    assert voting.phase == SessionPhase.VOTING

    def choices(voter: str) -> dict[str, Choice]:
        return {c.workflow_id: Choice.FOR for c in voting.candidates if c.nominee_actor_id != voter}

    first = KTNN_MEMBERS[1]
    await ballot_ops.cast(client, session_id, first, choices(first))

    for organiser in (KTNN_SECRETARY, KTNN_CHAIR):
        seen = await session_view(app, session_id, organiser)
        assert (seen["voted"], seen["voted_count"], seen["participation"]) == ([first], 1, "FULL"), organiser
    mine = await session_view(app, session_id, first)
    assert (mine["voted"], mine["voted_count"], mine["you_voted"]) == ([first], 1, True)
    not_yet = await session_view(app, session_id, KTNN_MEMBERS[2])
    assert (not_yet["voted"], not_yet["voted_count"], not_yet["you_voted"]) == ([], 1, False)
    board = await session_view(app, session_id, CENTRAL)
    assert (board["voted"], board["voted_count"], board["participation"]) == ([], 1, "COUNTS")
    assert nomination in {c["workflow_id"] for c in board["candidates"]}
    for outsider in (KTNN_STAFF, "btp.hd.thu-ky", BLOC_REP):
        detail = problem(await call(app, "GET", f"/ballot-sessions/{session_id}", headers=token(outsider)), 403)
        assert detail == f"actor {outsider!r} may not read ballot session {session_id}"

    # The CLI's `ballot status` shows the same to each reader.
    member = await cli(cli_env, "ballot", "status", session_id, token=cli_token(KTNN_MEMBERS[2]))
    assert member.returncode == 0, member.stderr
    shown = json.loads(member.stdout)
    assert (shown["voted"], shown["voted_count"], shown["you_voted"]) == ([], 1, False)
    secretary = json.loads((await cli(cli_env, "ballot", "status", session_id, token=cli_token(KTNN_SECRETARY))).stdout)
    assert secretary["voted"] == [first]
    unit = await cli(cli_env, "ballot", "status", session_id, token=cli_token(KTNN_STAFF))
    assert unit.returncode == 4 and f"may not read ballot session {session_id}" in unit.stderr
    stranger = await cli(cli_env, "ballot", "status", session_id, token=cli_token(STRANGER))
    assert stranger.returncode == 4 and "not on the roster" in stranger.stderr
    assert (await cli(cli_env, "ballot", "status", session_id, token="")).returncode == 7

    # The inbox: the session's page (its list and dossiers) is not the unit staffer's, nor a stranger's.
    for outsider in (KTNN_STAFF, STRANGER):
        page = await call(
            app,
            "GET",
            f"/inbox/sessions/{quote(session_id)}",
            headers=[("cookie", f"{COOKIE}={issue_token(RING, outsider)}")],
        )
        assert page.status == 403, page
        assert "Lâm Thị Quyền Đọc" not in page.text
    member_page = await call(
        app,
        "GET",
        f"/inbox/sessions/{quote(session_id)}",
        headers=[("cookie", f"{COOKIE}={issue_token(RING, KTNN_MEMBERS[2])}")],
    )
    assert member_page.status == 200 and nomination in member_page.text

    for voter in (KTNN_MEMBERS[0], KTNN_MEMBERS[2]):
        await ballot_ops.cast(client, session_id, voter, choices(voter))
    await count_now(client, db_engine, session_id)  # everyone voted: the counting committee hands in its shares
    for _ in range(300):
        closed = await session_view(app, session_id, KTNN_MEMBERS[2])
        if closed["phase"] == "CLOSED":
            break
        await asyncio.sleep(0.1)
    assert (closed["phase"], closed["voted"], closed["voted_count"]) == ("CLOSED", [KTNN_MEMBERS[2]], 3)
    await act(client, nomination, "withdraw", ReasonedAction(actor=KTNN_STAFF, reason="Dọn dẹp sau kiểm thử"))


async def test_the_inbox_refuses_an_actor_off_the_roster(app: Any) -> None:
    page = await call(app, "GET", "/inbox", headers=[("cookie", f"{COOKIE}={issue_token(RING, STRANGER)}")])
    assert page.status == 403 and "không có trong danh sách cán bộ" in page.text


# ---- decisions, exports and reports ---------------------------------------------------------------------------


def csv_rows(path: Path) -> list[list[str]]:
    """The numbered rows of an export (what follows the list, e.g. an audit anchor, is not a row)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        return [row for row in list(csv.reader(f))[1:] if row and row[0].isdigit()]


def count_rows(path: Path) -> list[list[str]]:
    """The rows of a `report counts` file (one per value of the dimension)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        return [row for row in list(csv.reader(f))[1:] if row]


async def test_a_decision_s_rows_reports_and_the_cli_follow_the_reader(
    app: Any, client: Client, ours: dict[str, str], cli_env: dict[str, str], tmp_path: Path
) -> None:
    btp, ktnn = ours["btp"], ours["ktnn"]
    await act(client, btp, "record_council_result", meeting("btp.hd.thu-ky", **passing_tally(SEATS)))
    await wait_for_stage(client, btp, Stage.AWAITING_DECISION)
    number = f"{uuid.uuid4().hex[:6]}/QĐ-BTP"
    # The BTP secretariat records the minister's decision: BTP's nomination is awarded, KTNN's refused.
    body = {"decision_no": number, "decision_date": "2026-12-20", "authority": "MINISTER", "workflow_ids": [btp, ktnn]}
    issued = await call(app, "POST", "/decisions", body, token("btp.hd.thu-ky"))
    assert issued.status == 201, issued
    assert [(i["workflow_id"], i["accepted"]) for i in issued.json()["items"]] == [(btp, True), (ktnn, False)]

    async def rows_for(actor: str) -> list[tuple[str, bool]]:
        reply = await call(app, "GET", f"/decisions/{quote(number)}", headers=token(actor))
        assert reply.status == 200, reply
        return [(i["workflow_id"], i["accepted"]) for i in reply.json()["items"]]

    assert await rows_for(CENTRAL) == [(btp, True), (ktnn, False)]
    assert await rows_for(BTP_STAFF) == [(btp, True)]
    assert await rows_for(KTNN_STAFF) == [(ktnn, False)]
    assert await rows_for(BLOC_REP) == []

    async def exported(actor: str) -> list[str]:
        reply = await call(app, "GET", f"/decisions/{quote(number)}/export?format=csv", headers=token(actor))
        assert reply.status == 200, reply
        path = tmp_path / f"{actor}.csv"
        path.write_bytes(reply.body)
        return [row[1] for row in csv_rows(path)]

    assert await exported(BTP_STAFF) == [btp] and await exported(CENTRAL) == [btp]
    assert await exported(KTNN_STAFF) == []

    # The CLI: the same export, status, list, and reports for each reader.
    out = tmp_path / "ktnn-cli.csv"
    ktnn_export = await cli(cli_env, "decision", "export", number, "--out", str(out), token=cli_token(KTNN_STAFF))
    assert ktnn_export.returncode == 0 and "Đã ghi 0 người/tập thể" in ktnn_export.stdout, ktnn_export.stderr
    btp_export = await cli(cli_env, "decision", "export", number, "--out", str(out), token=cli_token(BTP_STAFF))
    assert btp_export.returncode == 0 and [r[1] for r in csv_rows(out)] == [btp]

    status = await cli(cli_env, "status", ktnn, token=cli_token(BTP_STAFF))
    assert status.returncode == 4 and f"may not read nomination {ktnn}" in status.stderr
    assert (await cli(cli_env, "status", ktnn, token=cli_token(KTNN_STAFF))).returncode == 0
    assert (await cli(cli_env, "status", ktnn, token="")).returncode == 7
    stranger = await cli(cli_env, "list", token=cli_token(STRANGER))
    assert stranger.returncode == 4 and f"actor {STRANGER!r} is not on the roster" in stranger.stderr
    elsewhere = await cli(cli_env, "list", "--ministry", "KTNN", token=cli_token(BTP_STAFF))
    assert elsewhere.returncode == 4 and "may not read nominations of KTNN" in elsewhere.stderr
    own = await cli(cli_env, "list", "--year", "2026", token=cli_token(BTP_STAFF))
    assert own.returncode == 0, own.stderr
    assert {row["ministry"] for row in json.loads(own.stdout)} == {"BTP"}

    counts = tmp_path / "counts.csv"
    btp_counts = await cli(
        cli_env, "report", "counts", "--by", "ministry", "--out", str(counts), token=cli_token(BTP_STAFF)
    )
    assert btp_counts.returncode == 0, btp_counts.stderr
    assert [row[1] for row in count_rows(counts)] == ["BTP"]
    await cli(cli_env, "report", "counts", "--by", "ministry", "--out", str(counts), token=cli_token(CENTRAL))
    assert {"BTP", "KTNN"} <= {row[1] for row in count_rows(counts)}
    bloc_counts = await cli(
        cli_env, "report", "counts", "--by", "award_form", "--out", str(counts), token=cli_token(BLOC_REP)
    )
    assert bloc_counts.returncode == 0, bloc_counts.stderr
    # This test's CO_THI_DUA_CP is counted, its BANG_KHEN_BO (a ministry-only form) never; other forms may be the
    # bloc's own proposals left by other tests.
    bloc_forms = {row[1] for row in count_rows(counts)}
    assert "CO_THI_DUA_CP" in bloc_forms and "BANG_KHEN_BO" not in bloc_forms, bloc_forms
    decisions = tmp_path / "decisions.csv"
    ktnn_decisions = await cli(cli_env, "report", "decisions", "--out", str(decisions), token=cli_token(KTNN_STAFF))
    assert ktnn_decisions.returncode == 0, ktnn_decisions.stderr
    # The decision counts only KTNN's row for KTNN: none awarded, one refused.
    assert [row[1:2] + row[5:7] for row in csv_rows(decisions) if row[1] == number] == [[number, "0", "1"]]
    report_stranger = await cli(cli_env, "report", "counts", token=cli_token(STRANGER))
    assert report_stranger.returncode == 4 and "not on the roster" in report_stranger.stderr
