"""`starter.py document ...` as staff run it, against the dev server and PostgreSQL: the minutes of a council
session counted for real, a decision recorded in the register; the PDF's text read back with `pdftotext`, the
DOCX with python-docx. Who may read the record decides who may print it."""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from client.ballots import cast, close_list
from domain.ballot_messages import SessionPhase
from domain.ballots import BallotSessionKind
from store.schema import decision_items, decisions
from tests.integration.helpers import CENTRAL, PROPOSER, SECRETARY, count_now, token_for
from tests.integration.test_ballot_sessions import (
    MEMBERS,
    ballot_for,
    in_council,
    session_start,
    wait_phase,
)
from tests.integration.test_bloc_year_interfaces import assessment, representatives  # noqa: F401 - a fixture
from tests.integration.test_cli import cli, cli_env  # noqa: F401 - cli_env is the module's fixture
from tests.unit.test_documents import docx_text, squash

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) is not installed"),
]
OUTSIDER = "ktnn.vutckt.hoang-anh"  # unit staff of another ministry: reads nothing of BTP's
BLOC = "NOI_CHINH"
BLOC_HEAD = "tandtc.khoi.truong"


def pdf_text(path: Path) -> str:
    return squash(subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True).stdout.decode())


async def test_the_minutes_of_a_counted_session(
    cli_env: dict[str, str],  # noqa: F811
    client: Client,
    task_queue: str,
    db_engine: AsyncEngine,
    tmp_path: Path,
):
    from client.ballots import open_session, session_status

    nomination = await in_council(client, task_queue, "BANG_KHEN_BO")
    handle = await open_session(client, task_queue, session_start(BallotSessionKind.COUNCIL, "BTP", SECRETARY))
    session_id = handle.id
    for _ in range(100):
        if nomination in {c.workflow_id for c in (await session_status(client, session_id)).candidates}:
            break
        await asyncio.sleep(0.1)
    voting = await close_list(client, session_id, SECRETARY)
    pdf, docx = tmp_path / "bb.pdf", tmp_path / "bb.docx"

    # Nothing to print while the session votes.
    early = await cli(cli_env, "document", "minutes", session_id, "--pdf", str(pdf), "--actor", SECRETARY)
    assert early.returncode == 4 and "CLOSED" in early.stderr, early.stderr
    assert not pdf.exists()

    for member in MEMBERS:
        await cast(client, session_id, member, ballot_for(voting, member))
    await wait_phase(client, session_id, SessionPhase.AWAITING_COUNT)
    await count_now(client, db_engine, session_id)
    closed = await wait_phase(client, session_id, SessionPhase.CLOSED)
    assert closed.results is not None
    mine = next(e for e in closed.results if e.candidate.workflow_id == nomination)

    args = ("document", "minutes", session_id, "--pdf", str(pdf), "--docx", str(docx))
    made = await cli(cli_env, *args, "--actor", SECRETARY)
    assert made.returncode == 0, made.stderr
    assert f"Đã ghi biên bản kiểm phiếu: {pdf}" in made.stdout and "Neo kiểm toán:" in made.stdout
    text = pdf_text(pdf)
    for expected in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "BỘ TƯ PHÁP",
        "BIÊN BẢN",
        "/BB-HĐTĐKT",
        mine.candidate.nominee_name,
        # The counting committee signs, by the roster's names.
        "Đỗ Quang Vinh",
        "Ngô Thanh Bình",
        "Vũ Thị Lan",
        f"số phiếu thu vào: {closed.ballots_cast}",
        "Neo kiểm toán:",
        f"theo yêu cầu của {SECRETARY}",
    ):
        assert squash(expected) in text, f"{expected!r} not in the minutes"
    assert "btp.hd.uy-vien-1" not in text  # counts, never who voted
    assert mine.candidate.nominee_name in docx_text(docx.read_bytes())

    # A member of the council reads the session and may print it; someone of another ministry may not.
    by_member = await cli(cli_env, *args, "--actor", "btp.hd.uy-vien-1")
    assert by_member.returncode == 0, by_member.stderr
    refused = await cli(cli_env, *args, "--actor", OUTSIDER)
    assert refused.returncode == 4 and "may not read ballot session" in refused.stderr, refused.stderr
    missing = await cli(cli_env, "document", "minutes", f"{session_id}-none", "--pdf", str(pdf), "--actor", CENTRAL)
    assert missing.returncode == 5, missing.stderr
    nothing = await cli(cli_env, "document", "minutes", session_id, "--actor", SECRETARY)
    assert nothing.returncode == 2 and "--pdf" in nothing.stderr
    wrong = await cli(cli_env, "document", "minutes", session_id, "--pdf", str(tmp_path / "x.doc"), "--actor", CENTRAL)
    assert wrong.returncode == 2 and "--pdf" in wrong.stderr


async def test_a_decision_with_its_list(
    cli_env: dict[str, str],  # noqa: F811
    db_engine: AsyncEngine,
    tmp_path: Path,
):
    number = f"{uuid.uuid4().int % 10000}/QĐ-TTg"
    now = datetime.now(UTC)
    awardees = [
        ("nomination-2026-BTP-DOC-1", "Nguyễn Thị Hạnh", "BTP"),
        ("nomination-2026-BCA-DOC-2", "Trần Văn Lộc", "BCA"),
    ]
    async with db_engine.begin() as conn:
        await conn.execute(
            sa.insert(decisions).values(
                decision_no=number,
                decision_date=date(2026, 2, 5),
                authority="PRIME_MINISTER",
                actor=CENTRAL,
                workflow_id=f"decision-{number}",
                accepted=2,
                refused=0,
                created_at=now,
            )
        )
        for position, (workflow_id, name, ministry) in enumerate(awardees):
            await conn.execute(
                sa.insert(decision_items).values(
                    decision_no=number,
                    workflow_id=workflow_id,
                    position=position,
                    accepted=True,
                    nominee_name=name,
                    award_name_vi="Bằng khen của Thủ tướng Chính phủ",
                    ministry=ministry,
                    recorded_at=now,
                )
            )
    pdf = tmp_path / "qd.pdf"
    html = tmp_path / "qd.html"
    board = await cli(
        cli_env, "document", "decision", number, "--pdf", str(pdf), "--html", str(html), token=token_for(CENTRAL)
    )
    assert board.returncode == 0, board.stderr
    text = pdf_text(pdf)
    number_part, symbol = number.split("/")
    for expected in (
        "QUYẾT ĐỊNH",
        "THỦ TƯỚNG CHÍNH PHỦ",
        f"Số: {number_part}/{symbol}",
        "ngày 05 tháng 02 năm 2026",
        "Về việc tặng Bằng khen của Thủ tướng Chính phủ",
        "Nguyễn Thị Hạnh",
        "Trần Văn Lộc",
        "DANH SÁCH",
        "Neo kiểm toán:",
    ):
        assert expected in text, f"{expected!r} not in the decision"
    assert "Bằng khen của Thủ tướng Chính phủ" in html.read_text(encoding="utf-8")

    # BTP's unit staff read BTP's awardee only: the list printed for them says it is cut.
    staff = await cli(cli_env, "document", "decision", number, "--pdf", str(pdf), token=token_for(PROPOSER))
    assert staff.returncode == 0, staff.stderr
    text = pdf_text(pdf)
    assert "Nguyễn Thị Hạnh" in text and "Trần Văn Lộc" not in text
    assert "Bản in này gồm 1/2 tập thể, cá nhân" in text
    outsider = await cli(cli_env, "document", "decision", number, "--pdf", str(pdf), token=token_for(OUTSIDER))
    assert outsider.returncode == 4 and "may read none of the awardees" in outsider.stderr, outsider.stderr
    unknown = await cli(cli_env, "document", "decision", "0/QĐ-NONE", "--pdf", str(pdf), token=token_for(CENTRAL))
    assert unknown.returncode == 5 and "no decision 0/QĐ-NONE" in unknown.stderr, unknown.stderr


async def test_the_bloc_year_s_pledge_and_ranking(
    cli_env: dict[str, str],  # noqa: F811
    representatives: dict[str, str],  # noqa: F811
    client: Client,
    task_queue: str,
    db_engine: AsyncEngine,
    tmp_path: Path,
):
    from openpyxl import load_workbook

    from client.bloc_year import (
        adjust_score,
        bloc_year_status,
        call_for_assessments,
        close_review,
        publish_pledge,
        sign_pledge,
        start_bloc_year,
        submit_assessment,
    )
    from domain.bloc.year import BlocYearPhase

    year = random.Random().randrange(2040, 2060)  # years of its own: other modules take 2060 onwards
    workflow_id = await start_bloc_year(client, db_engine, task_queue, bloc=BLOC, year=year, opened_by=BLOC_HEAD)
    members = (await publish_pledge(client, db_engine, workflow_id, BLOC_HEAD)).members
    for member in members[:-1]:
        await sign_pledge(client, db_engine, workflow_id, representatives[member], member=member)
    pdf, docx, xlsx = tmp_path / "gu.pdf", tmp_path / "gu.docx", tmp_path / "xh.xlsx"
    rep = representatives[members[0]]

    pledge = await cli(
        cli_env, "document", "pledge", workflow_id, "--pdf", str(pdf), "--docx", str(docx), "--actor", rep
    )
    assert pledge.returncode == 0, pledge.stderr
    text = pdf_text(pdf)
    for expected in (
        "GIAO ƯỚC THI ĐUA",
        f"Năm {year}",
        "KHỐI THI ĐUA CÁC BỘ, NGÀNH NỘI CHÍNH TRUNG ƯƠNG",
        "Hoàn thành các chỉ tiêu, nhiệm vụ trọng tâm của năm",
        "Tòa án nhân dân tối cao",
        "Đinh Văn Khải",  # the head's representative signed for the head's organisation
        "Chưa ký",
        f"Đã ký: {len(members) - 1}/{len(members)} đơn vị.",
        "Neo kiểm toán:",
    ):
        assert squash(expected) in text, f"{expected!r} not in the pledge"
    assert "Đinh Văn Khải" in docx_text(docx.read_bytes())
    outsider = await cli(cli_env, "document", "pledge", workflow_id, "--pdf", str(pdf), "--actor", PROPOSER)
    assert outsider.returncode == 4 and "may not read bloc year" in outsider.stderr, outsider.stderr

    last = members[-1]
    await sign_pledge(client, db_engine, workflow_id, representatives[last], member=last)
    await call_for_assessments(client, db_engine, workflow_id, BLOC_HEAD)
    for member in members:
        await submit_assessment(client, db_engine, workflow_id, representatives[member], assessment(member, year))
    for _ in range(300):
        if (await bloc_year_status(client, workflow_id)).phase == BlocYearPhase.REVIEW:
            break
        await asyncio.sleep(0.1)
    ranking = ("document", "ranking", workflow_id, "--pdf", str(pdf), "--xlsx", str(xlsx))
    early = await cli(cli_env, *ranking, "--actor", rep)
    assert early.returncode == 4 and "chưa có kết quả xếp hạng" in early.stderr, early.stderr
    reason = "Minh chứng hoàn thành chỉ tiêu trọng tâm được Khối xác nhận"
    adjustment = {"kind": "CRITERION", "member": members[0], "code": "NV1", "points": "25", "reason": reason}
    await adjust_score(client, db_engine, workflow_id, BLOC_HEAD, adjustment)
    await close_review(client, db_engine, workflow_id, BLOC_HEAD)

    printed = await cli(cli_env, *ranking, "--actor", rep)
    assert printed.returncode == 0, printed.stderr
    assert f"Đã ghi bảng tổng hợp kết quả chấm điểm, xếp hạng: {xlsx}" in printed.stdout
    text = pdf_text(pdf)
    first = (await bloc_year_status(client, workflow_id)).standings
    assert first is not None and first.rows[0].member == members[0]
    for expected in ("BẢNG TỔNG HỢP", f"thi đua năm {year}", "ĐIỀU CHỈNH ĐIỂM KHI CHẤM CHÉO", reason, "KHỐI TRƯỞNG"):
        assert squash(expected) in text, f"{expected!r} not in the ranking"
    book = load_workbook(xlsx)
    sheet = book.worksheets[0]
    assert len(sheet._charts) == 1  # the totals' bar chart
    assert sheet.cell(row=4, column=1).value == 1
    unknown = await cli(cli_env, "document", "ranking", f"bloc-year-{BLOC}-2001", "--pdf", str(pdf), "--actor", CENTRAL)
    assert unknown.returncode == 5, unknown.stderr
