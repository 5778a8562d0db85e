"""The printable documents over HTTP (api/routers/documents.py), through the app's ASGI interface against the dev
server, the worker and PostgreSQL: the minutes of a council session counted for real, a decision recorded in
the register, a bloc year's pledge and ranking. Each answer's media type and Content-Disposition, its text
read back (the PDF with `pdftotext`, the DOCX with python-docx), and the read rules as problems: 403 outside
the record's readers, 404 for nothing by that id, 409 before the session closes or the ranking is published."""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import uuid
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from api import create_app
from api.routers.documents import MEDIA_TYPES
from client.ballots import cast, close_list
from domain.ballot_messages import SessionPhase, TieDecision
from domain.ballots import BallotSessionKind
from store.schema import actors, decision_items, decisions
from tests.asgi import Reply, call
from tests.integration.helpers import CENTRAL, PROPOSER, SECRETARY, count_now
from tests.integration.test_api import RING, assert_problem, token
from tests.integration.test_ballot_sessions import (
    MEMBERS,
    ballot_for,
    in_council,
    session_start,
    tied_twice,
    wait_phase,
)
from tests.integration.test_bloc_year_interfaces import assessment, representatives  # noqa: F401 - a fixture
from tests.unit.test_documents import docx_text, squash

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) is not installed"),
]
OUTSIDER = "ktnn.vutckt.hoang-anh"  # unit staff of another ministry: reads nothing of BTP's
BLOC = "NOI_CHINH"
BLOC_HEAD = "tandtc.khoi.truong"


@pytest.fixture(scope="module")
def app(client: Client, task_queue: str, db_engine: AsyncEngine) -> Any:
    return create_app(client, keyring=RING, task_queue=task_queue, engine=db_engine)


def pdf_text(data: bytes) -> str:
    done = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True)
    return squash(done.stdout.decode())


def assert_file(reply: Reply, fmt: str, stem: str) -> None:
    assert reply.status == 200, reply
    assert reply.header("content-type") == MEDIA_TYPES[fmt], reply.headers
    disposition = reply.header("content-disposition") or ""
    kind = "inline" if fmt == "html" else "attachment"
    assert disposition.startswith(f'{kind}; filename="{stem}') and f'.{fmt}"' in disposition, disposition
    assert "filename*=UTF-8''" in disposition


async def test_the_routes_are_documented(app: Any) -> None:
    paths = (await call(app, "GET", "/openapi.json")).json()["paths"]
    for path in (
        "/ballot-sessions/{session_id}/minutes",
        "/decisions/{decision_no}/document",
        "/bloc-years/{bloc_year_id}/pledge",
        "/bloc-years/{bloc_year_id}/ranking",
    ):
        for fmt, media in MEDIA_TYPES.items():
            get = paths[f"{path}.{fmt}"]["get"]
            assert get["tags"] == ["documents"] and get["security"] == [{"bearerAuth": []}]
            assert list(get["responses"]["200"]["content"]) == [media.split(";")[0]]
            assert {"403", "404", "409"} <= set(get["responses"])
    # The ranking's spreadsheet stays the bloc years' own route.
    assert paths["/bloc-years/{bloc_year_id}/ranking.xlsx"]["get"]["tags"] == ["bloc years"]


async def test_the_minutes_of_a_counted_session(app: Any, client: Client, task_queue: str, db_engine: AsyncEngine):
    from client.ballots import open_session, session_status

    nomination = await in_council(client, task_queue, "BANG_KHEN_BO")
    handle = await open_session(client, task_queue, session_start(BallotSessionKind.COUNCIL, "BTP", SECRETARY))
    session_id = handle.id
    for _ in range(100):
        if nomination in {c.workflow_id for c in (await session_status(client, session_id)).candidates}:
            break
        await asyncio.sleep(0.1)
    voting = await close_list(client, session_id, SECRETARY)
    url = f"/ballot-sessions/{session_id}/minutes"

    early = assert_problem(await call(app, "GET", f"{url}.pdf", headers=token(SECRETARY)), 409, "action-refused")
    assert "CLOSED" in early["detail"]

    for member in MEMBERS:
        await cast(client, session_id, member, ballot_for(voting, member))
    await wait_phase(client, session_id, SessionPhase.AWAITING_COUNT)
    await count_now(client, db_engine, session_id)
    closed = await wait_phase(client, session_id, SessionPhase.CLOSED)
    assert closed.results is not None
    mine = next(e for e in closed.results if e.candidate.workflow_id == nomination)

    pdf = await call(app, "GET", f"{url}.pdf", headers=token(SECRETARY))
    assert_file(pdf, "pdf", f"bien-ban-kiem-phieu-{session_id}")
    text = pdf_text(pdf.body)
    for expected in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "BIÊN BẢN",
        "/BB-HĐTĐKT",
        mine.candidate.nominee_name,
        "Đỗ Quang Vinh",  # the counting committee signs, by the roster's names
        f"số phiếu thu vào: {closed.ballots_cast}",
        "Neo kiểm toán:",
        f"theo yêu cầu của {SECRETARY}",
    ):
        assert squash(expected) in text, f"{expected!r} not in the minutes"
    assert "btp.hd.uy-vien-1" not in text  # counts, never who voted

    docx = await call(app, "GET", f"{url}.docx", headers=token("btp.hd.uy-vien-1"))  # a member reads it too
    assert_file(docx, "docx", f"bien-ban-kiem-phieu-{session_id}")
    assert mine.candidate.nominee_name in docx_text(docx.body)
    html = await call(app, "GET", f"{url}.html", headers=token(CENTRAL))
    assert_file(html, "html", f"bien-ban-kiem-phieu-{session_id}")
    assert "<html" in html.text and mine.candidate.nominee_name in html.text

    refused = assert_problem(await call(app, "GET", f"{url}.pdf", headers=token(OUTSIDER)), 403, "forbidden")
    assert OUTSIDER in refused["detail"] and session_id in refused["detail"]
    missing = await call(app, "GET", f"/ballot-sessions/{session_id}-none/minutes.pdf", headers=token(CENTRAL))
    assert_problem(missing, 404, "not-found")
    assert_problem(await call(app, "GET", f"{url}.pdf"), 401, "unauthenticated")


async def test_the_minutes_name_the_bloc_head_who_decided_a_tie(
    app: Any, client: Client, task_queue: str, db_engine: AsyncEngine
):
    from client.ballots import decide_tie

    session_id, btp, ktnn = await tied_twice(client, task_queue, db_engine)
    await wait_phase(client, session_id, SessionPhase.AWAITING_HEAD)
    url = f"/ballot-sessions/{session_id}/minutes.pdf"
    assert_problem(await call(app, "GET", url, headers=token(BLOC_HEAD)), 409, "action-refused")
    closed = await decide_tie(client, session_id, TieDecision(actor=BLOC_HEAD, choose=[ktnn]))
    assert closed.head_decision is not None
    assert closed.head_decision.actor == BLOC_HEAD and closed.head_decision.chosen == [ktnn]
    assert closed.head_decision.round == 2 and sorted(closed.head_decision.tied) == sorted([btp, ktnn])
    assert closed.results is not None
    nominee = {e.candidate.workflow_id: e.candidate.nominee_name for e in closed.results}
    async with db_engine.connect() as conn:
        head_name = await conn.scalar(sa.select(actors.c.full_name).where(actors.c.id == BLOC_HEAD))

    minutes = await call(app, "GET", url, headers=token(BLOC_HEAD))
    assert_file(minutes, "pdf", f"bien-ban-kiem-phieu-{session_id}")
    text = pdf_text(minutes.body)
    assert "/BB-KTĐ" in text
    assert squash(f"Trưởng Khối {head_name} đã quyết định chọn {nominee[ktnn]} lúc") in text, text
    assert squash("có số phiếu ngang nhau tại vị trí cuối chỉ tiêu (1 suất còn lại)") in text


async def test_a_decision_with_its_list(app: Any, db_engine: AsyncEngine):
    number = f"{uuid.uuid4().int % 10000}/QĐ-TTg"
    now = datetime.now(UTC)
    awardees = [
        ("nomination-2026-BTP-DOCAPI-1", "Nguyễn Thị Hạnh", "BTP"),
        ("nomination-2026-BCA-DOCAPI-2", "Trần Văn Lộc", "BCA"),
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
    stem = "quyet-dinh-" + number.replace("/", "-")
    # The number's '/' as it is, or URL-encoded: the same document.
    for path in (f"/decisions/{quote(number)}/document", f"/decisions/{quote(number, safe='')}/document"):
        board = await call(app, "GET", f"{path}.pdf", headers=token(CENTRAL))
        assert board.status == 200, board
        assert board.header("content-type") == "application/pdf"
        disposition = board.header("content-disposition") or ""
        assert f"filename*=UTF-8''{quote(stem)}.pdf" in disposition, disposition
        text = pdf_text(board.body)
        for expected in ("QUYẾT ĐỊNH", "THỦ TƯỚNG CHÍNH PHỦ", "Nguyễn Thị Hạnh", "Trần Văn Lộc", "DANH SÁCH"):
            assert expected in text, f"{expected!r} not in the decision"
    path = f"/decisions/{quote(number)}/document"
    docx = await call(app, "GET", f"{path}.docx", headers=token(CENTRAL))
    assert docx.status == 200 and docx.header("content-type") == MEDIA_TYPES["docx"], docx
    assert "Trần Văn Lộc" in docx_text(docx.body)

    # BTP's unit staff read BTP's awardee only: the list printed for them says it is cut.
    staff = await call(app, "GET", f"{path}.pdf", headers=token(PROPOSER))
    assert staff.status == 200, staff
    text = pdf_text(staff.body)
    assert "Nguyễn Thị Hạnh" in text and "Trần Văn Lộc" not in text
    assert "Bản in này gồm 1/2 tập thể, cá nhân" in text
    outsider = assert_problem(await call(app, "GET", f"{path}.pdf", headers=token(OUTSIDER)), 403, "forbidden")
    assert OUTSIDER in outsider["detail"] and number in outsider["detail"]
    unknown = await call(app, "GET", f"/decisions/{quote('0/QĐ-NONE')}/document.pdf", headers=token(CENTRAL))
    assert "0/QĐ-NONE" in assert_problem(unknown, 404, "not-found")["detail"]
    # The decision's own route still reads the decision's workflow (none was started here: only its rows).
    progress = await call(app, "GET", f"/decisions/{quote(number)}", headers=token(CENTRAL))
    assert number in assert_problem(progress, 404, "not-found")["detail"]


async def test_the_bloc_year_s_pledge_and_ranking(
    app: Any,
    representatives: dict[str, str],  # noqa: F811
    client: Client,
    task_queue: str,
    db_engine: AsyncEngine,
):
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

    year = random.Random().randrange(2033, 2040)  # years of their own: the CLI's test takes 2040-2059
    workflow_id = await start_bloc_year(client, db_engine, task_queue, bloc=BLOC, year=year, opened_by=BLOC_HEAD)
    url = f"/bloc-years/{workflow_id}"
    unpublished = await call(app, "GET", f"{url}/pledge.pdf", headers=token(BLOC_HEAD))
    assert "chưa công bố giao ước" in assert_problem(unpublished, 409, "action-refused")["detail"]

    members = (await publish_pledge(client, db_engine, workflow_id, BLOC_HEAD)).members
    for member in members[:-1]:
        await sign_pledge(client, db_engine, workflow_id, representatives[member], member=member)
    rep = representatives[members[0]]
    pledge = await call(app, "GET", f"{url}/pledge.pdf", headers=token(rep))
    assert_file(pledge, "pdf", f"giao-uoc-thi-dua-{workflow_id}")
    text = pdf_text(pledge.body)
    for expected in ("GIAO ƯỚC THI ĐUA", f"Năm {year}", "Chưa ký", f"Đã ký: {len(members) - 1}/{len(members)} đơn vị."):
        assert squash(expected) in text, f"{expected!r} not in the pledge"
    docx = await call(app, "GET", f"{url}/pledge.docx", headers=token(CENTRAL))
    assert_file(docx, "docx", f"giao-uoc-thi-dua-{workflow_id}")
    assert "GIAO ƯỚC THI ĐUA" in docx_text(docx.body).upper()
    outsider = assert_problem(await call(app, "GET", f"{url}/pledge.pdf", headers=token(PROPOSER)), 403, "forbidden")
    assert PROPOSER in outsider["detail"] and workflow_id in outsider["detail"]

    # Before the review closes: no ranking, as a document or as the bloc years' spreadsheet.
    early = assert_problem(await call(app, "GET", f"{url}/ranking.pdf", headers=token(rep)), 409, "action-refused")
    assert "chưa có kết quả xếp hạng" in early["detail"]
    assert_problem(await call(app, "GET", f"{url}/ranking.xlsx", headers=token(rep)), 409, "action-refused")

    last = members[-1]
    await sign_pledge(client, db_engine, workflow_id, representatives[last], member=last)
    await call_for_assessments(client, db_engine, workflow_id, BLOC_HEAD)
    for member in members:
        await submit_assessment(client, db_engine, workflow_id, representatives[member], assessment(member, year))
    for _ in range(300):
        if (await bloc_year_status(client, workflow_id)).phase == BlocYearPhase.REVIEW:
            break
        await asyncio.sleep(0.1)
    reason = "Minh chứng hoàn thành chỉ tiêu trọng tâm được Khối xác nhận"
    adjustment = {"kind": "CRITERION", "member": members[0], "code": "NV1", "points": "25", "reason": reason}
    await adjust_score(client, db_engine, workflow_id, BLOC_HEAD, adjustment)
    await close_review(client, db_engine, workflow_id, BLOC_HEAD)

    ranking = await call(app, "GET", f"{url}/ranking.pdf", headers=token(rep))
    assert_file(ranking, "pdf", f"xep-hang-{workflow_id}")
    text = pdf_text(ranking.body)
    for expected in ("BẢNG TỔNG HỢP", f"thi đua năm {year}", "ĐIỀU CHỈNH ĐIỂM KHI CHẤM CHÉO", reason, "KHỐI TRƯỞNG"):
        assert squash(expected) in text, f"{expected!r} not in the ranking"
    xlsx = await call(app, "GET", f"{url}/ranking.xlsx", headers=token(rep))
    assert xlsx.status == 200 and "spreadsheetml" in (xlsx.header("content-type") or ""), xlsx
    unknown = await call(app, "GET", f"/bloc-years/bloc-year-{BLOC}-2001/ranking.pdf", headers=token(CENTRAL))
    assert_problem(unknown, 404, "not-found")
