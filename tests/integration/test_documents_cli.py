"""`starter.py document ...` as staff run it, against the dev server and PostgreSQL: the minutes of a council
session counted for real, a decision recorded in the register; the PDF's text read back with `pdftotext`, the
DOCX with python-docx. Who may read the record decides who may print it."""

from __future__ import annotations

import asyncio
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
from tests.integration.test_cli import cli, cli_env  # noqa: F401 - cli_env is the module's fixture
from tests.unit.test_documents import docx_text, squash

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) is not installed"),
]
OUTSIDER = "ktnn.vutckt.hoang-anh"  # unit staff of another ministry: reads nothing of BTP's


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
