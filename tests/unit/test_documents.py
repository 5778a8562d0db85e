"""Printable documents (documents/): each rendered to PDF, turned into PNG pages with `pdftoppm` and its text read
back with `pdftotext` (Vietnamese intact: the national title, the kind, the names, the anchor line), and to DOCX
read back with python-docx; the ranking's XLSX with its chart; the reports' XLSX with their chart sheets.

Needs poppler-utils (pdftoppm, pdftotext), Pango and fonts with Vietnamese (fonts-liberation2) from Debian."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from documents.decision import DecisionLine, DecisionRecord, decision_document, split_number
from documents.minutes import MinutesRecord, minutes_document, record_from_status
from documents.model import Document, anchor_line, date_vi, points_vi
from documents.names import Names
from documents.pledge import pledge_document
from documents.ranking import ranking_document
from documents.render import render_docx, render_html, render_pdf
from documents.xlsx import ADJUSTMENT_SHEET, RANKING_SHEET, ranking_xlsx
from domain.audit_anchors import Anchor, AnchorReason
from domain.ballot_messages import MinutesEntry, MinutesResult, SessionPhase, SessionStatus
from domain.ballots import BallotSessionKind, Candidate
from domain.bloc.policy import bloc_scoring_policy
from domain.bloc.ranking import propose_honours, rank_members
from domain.bloc.rotation import BlocLeadership
from domain.bloc.scoring import CriterionAdjustment, ItemAdjustment, SelfAssessment, score_member
from domain.bloc.year import BlocYearPhase, BlocYearStatus, PledgeSignature
from domain.catalog import Authority
from domain.voting import Tally

NATIONAL = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"
POLICY = bloc_scoring_policy("NOI_CHINH-2024.01")
MADE_AT = datetime(2026, 12, 6, 7, 30, tzinfo=UTC)  # 14:30 in Hà Nội
ANCHOR = Anchor(
    last_id=4127,
    count=4127,
    hash="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    anchored_at=datetime(2026, 12, 6, 7, 29, 41, tzinfo=UTC),
    confirmed_at=datetime(2026, 12, 6, 7, 29, 41, tzinfo=UTC),
    reason=AnchorReason.REQUESTED,
)
ANCHOR_TEXT = "Neo kiểm toán: #4127 · 9f86d081884c7d65"
MEMBERS = ("KTNN", "TANDTC", "VKSNDTC", "TTCP", "BTP", "BCA", "TCCT", "BTLBVL")
REPRESENTATIVES = (
    "Hoàng Văn Minh",
    "Đặng Thu Hà",
    "Bùi Quang Huy",
    "Ngô Thị Lan",
    "Trịnh Công Sơn Tùng",
    "Lý Minh Khoa",
    "Tạ Đức Vinh",
    "Kiều Thanh Mai",
)
NAMES = Names(
    ministries={
        "BCA": "Bộ Công an",
        "BTP": "Bộ Tư pháp",
        "TANDTC": "Tòa án nhân dân tối cao",
        "VKSNDTC": "Viện Kiểm sát nhân dân tối cao",
        "TTCP": "Thanh tra Chính phủ",
        "KTNN": "Kiểm toán Nhà nước",
        "TCCT": "Tổng cục Chính trị Quân đội nhân dân Việt Nam",
        "BTLBVL": "Bộ Tư lệnh Bảo vệ Lăng Chủ tịch Hồ Chí Minh",
    },
    blocs={"NOI_CHINH": "Khối Thi đua các bộ, ngành nội chính Trung ương"},
    people={
        "btp.hd.a": "Nguyễn Văn An",
        "btp.hd.b": "Trần Thị Bình",
        "btp.hd.c": "Lê Quốc Cường",
        **{f"{m.lower()}.dd": name for m, name in zip(MEMBERS, REPRESENTATIVES, strict=True)},
    },
)
EVIDENCE = ({"reference": "01/BC-TĐKT"},)

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None,
    reason="poppler-utils (pdftotext, pdftoppm) is not installed: apt-get install poppler-utils",
)


# ---- what the documents are made from ----------------------------------------------------------------------


def minutes_record() -> MinutesRecord:
    passed = Candidate(
        workflow_id="nomination-2026-BTP-CSTD-001",
        award_form="CSTD_CAP_BO",
        nominee_name="Phạm Thị Dung",
        proposing_organisation="BTP",
    )
    failed = Candidate(
        workflow_id="nomination-2026-BTP-BK-002",
        award_form="BANG_KHEN_BO",
        nominee_name="Vụ Pháp luật hình sự – hành chính",
        proposing_organisation="BTP",
    )
    status = SessionStatus(
        session_id="ballot-council-BTP-HD-2026-12",
        kind=BallotSessionKind.COUNCIL,
        scope="BTP",
        meeting_ref="HD-2026-12",
        phase=SessionPhase.CLOSED,
        round=1,
        deadline=datetime(2026, 12, 6, 3, 0, tzinfo=UTC),
        candidates=[passed, failed],
        electorate_size=9,
        voted=[f"btp.hd.m{i}" for i in range(9)],
        quorum_met=True,
        ballots_cast=9,
        committee=["btp.hd.a", "btp.hd.b", "btp.hd.c"],
        results=[
            MinutesEntry(
                candidate=passed,
                tally=Tally(members=9, present=9, votes_for=9, votes_against=0),
                result=MinutesResult.PASSED,
                reason_vi="Đạt: 9/9 phiếu đồng ý, cần từ 90% tổng số thành viên",
            ),
            MinutesEntry(
                candidate=failed,
                tally=Tally(members=9, present=9, votes_for=4, votes_against=4),
                result=MinutesResult.FAILED,
                reason_vi="Không đạt: 4/9 phiếu đồng ý, cần quá nửa tổng số thành viên",
            ),
        ],
        spoiled_receipts=[],
    )
    return record_from_status(
        status, closed_at=datetime(2026, 12, 6, 3, 5, tzinfo=UTC), policy_version="2026.01", spoiled=0
    )


def decision_record(lines: int = 3, awarded: int | None = None) -> DecisionRecord:
    people = ["Phạm Thị Dung", "Nguyễn Hữu Thắng", "Cục Bổ trợ tư pháp", "Đỗ Thị Ngọc Ánh", "Vũ Đình Khôi"]
    return DecisionRecord(
        decision_no="1520/QĐ-TTg",
        decision_date=date(2026, 2, 5),
        authority=Authority.PRIME_MINISTER,
        recorded_by="tw.ban-tdkt.can-bo",
        lines=tuple(
            DecisionLine(
                workflow_id=f"nomination-2026-BTP-BKTTG-{i:03d}",
                nominee_name=people[i % len(people)],
                award_name_vi="Bằng khen của Thủ tướng Chính phủ",
                ministry="Bộ Tư pháp",
            )
            for i in range(lines)
        ),
        awarded=lines if awarded is None else awarded,
    )


def _assessment(member: str, shortfall: Decimal, penalty: int = 0) -> SelfAssessment:
    """Full marks less `shortfall`, taken from the criteria outside group NV first; `penalty` × TD2."""
    points = {code: c.max_points for code, c in POLICY.criteria.items()}
    rest = shortfall
    for code in sorted(points, key=lambda c: (POLICY.group_of[c] == "NV", c)):
        taken = min(rest, points[code])
        points[code] -= taken
        rest -= taken
    return SelfAssessment.model_validate(
        {
            "member": member,
            "year": 2024,
            "policy_version": POLICY.version,
            "scores": {code: {"points": p, "evidence": EVIDENCE} for code, p in points.items()},
            "penalties": {"TD2": {"occurrences": penalty}} if penalty else {},
            "bonuses": {"CD1": {"occurrences": 2, "evidence": EVIDENCE}} if member == "TANDTC" else {},
        }
    )


def bloc_status(*, ranked: bool = True, unsigned: tuple[str, ...] = ()) -> BlocYearStatus:
    signatures = tuple(
        PledgeSignature(
            member=m,
            actor=f"{m.lower()}.dd",
            channel="INBOX" if i % 2 else "CLI",
            signed_at=datetime(2024, 1, 15, 2, 10 + i, tzinfo=UTC),
        )
        for i, m in enumerate(MEMBERS)
        if m not in unsigned
    )
    leadership = BlocLeadership(bloc="NOI_CHINH", year=2024, head="TANDTC", deputy="VKSNDTC")
    fields: dict[str, Any] = {}
    if ranked:
        shortfalls = {"KTNN": 6, "TANDTC": 4, "VKSNDTC": 8, "TTCP": 8, "BTP": 11, "BCA": 9, "TCCT": 14}
        adjustments: list[CriterionAdjustment | ItemAdjustment] = [
            CriterionAdjustment(
                kind="CRITERION",
                member="BTP",
                code="PT1",
                points=Decimal(7),
                reason="Kế hoạch phát động thi đua chuyên đề chưa có minh chứng ban hành",
            ),
            ItemAdjustment(
                kind="PENALTY", member="BCA", code="TD2", occurrences=1, reason="Vắng hội nghị sơ kết không lý do"
            ),
        ]
        cards = tuple(
            score_member(
                POLICY,
                m,
                _assessment(m, Decimal(shortfalls[m])) if m in shortfalls else None,  # BTLBVL: late, nothing
                adjustments,
            )
            for m in MEMBERS
        )
        standings = rank_members(POLICY, cards)
        fields = {
            "scorecards": cards,
            "standings": standings,
            "suggestion": propose_honours(POLICY, standings),
            "late": ("BTLBVL",),
        }
    return BlocYearStatus(
        bloc_year_id="bloc-year-NOI_CHINH-2024",
        bloc="NOI_CHINH",
        year=2024,
        phase=BlocYearPhase.HONOURING if ranked else BlocYearPhase.PLEDGE,
        phase_label_vi="Bình xét, suy tôn" if ranked else "Ký kết giao ước thi đua",
        leadership=leadership,
        members=MEMBERS,
        policy_version=POLICY.version,
        signatures=signatures,
        **fields,
    )


def all_documents() -> dict[str, Document]:
    kw: dict[str, Any] = {"anchor": ANCHOR, "made_at": MADE_AT, "made_by": "tw.ban-tdkt.can-bo"}
    return {
        "minutes": minutes_document(minutes_record(), NAMES, **kw),
        "decision": decision_document(decision_record(), **kw),
        "pledge": pledge_document(bloc_status(ranked=False, unsigned=("BTLBVL",)), POLICY, NAMES, **kw),
        "ranking": ranking_document(bloc_status(), POLICY, NAMES, head_name="Đặng Thu Hà", **kw),
    }


# ---- reading a PDF and a DOCX back -------------------------------------------------------------------------


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True, timeout=60)
    return done.stdout.decode("utf-8")


def png_pages(pdf: bytes, tmp_path: Path, resolution: int = 50) -> list[Path]:
    path = tmp_path / "page.pdf"
    path.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", str(resolution), str(path), str(tmp_path / "page")], check=True, timeout=60
    )
    return sorted(tmp_path.glob("page*.png"))


def docx_text(data: bytes) -> str:
    from docx import Document as open_docx

    document = open_docx(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            for cell in row.cells:
                parts.append(cell.text)
    for section in document.sections:
        parts += [p.text for p in section.footer.paragraphs]
    return "\n".join(parts)


def squash(text: str) -> str:
    """Whitespace folded to single spaces: a PDF's layout breaks lines where the page does."""
    return " ".join(text.split())


# ---- the tests ---------------------------------------------------------------------------------------------


def test_dates_follow_the_decree():
    assert date_vi(date(2026, 2, 5)) == "ngày 05 tháng 02 năm 2026"
    assert date_vi(date(2026, 12, 6)) == "ngày 06 tháng 12 năm 2026"
    assert date_vi(date(2026, 3, 15)) == "ngày 15 tháng 3 năm 2026"


def test_points_and_anchor_lines_read_as_staff_write_them():
    assert points_vi(Decimal("92.50")) == "92,5"
    assert points_vi(Decimal("90.00")) == "90"
    assert points_vi(None) == "–"
    assert anchor_line(ANCHOR).startswith(ANCHOR_TEXT)
    assert "21:29:41" not in anchor_line(ANCHOR) and "14:29:41 (UTC+7)" in anchor_line(ANCHOR)
    assert anchor_line(None) == "Neo kiểm toán: chưa có (chưa đọc được mốc neo từ Temporal)"


def test_the_decision_number_and_symbol_split():
    assert split_number("1520/QĐ-TTg", Authority.PRIME_MINISTER) == ("1520", "QĐ-TTg")
    assert split_number("88", Authority.PRESIDENT) == ("88", "QĐ-CTN")


def test_html_escapes_what_people_typed():
    record = minutes_record()
    entry = record.entries[0]
    sneaky = entry.model_copy(update={"candidate": entry.candidate.model_copy(update={"nominee_name": "<b>X</b>"})})
    doc = minutes_document(record.model_copy(update={"entries": (sneaky,)}), NAMES, anchor=ANCHOR, made_at=MADE_AT)
    html = render_html(doc)
    assert "&lt;b&gt;X&lt;/b&gt;" in html and "<b>X</b>" not in html


EXPECTED: dict[str, tuple[str, ...]] = {
    "minutes": (
        "BIÊN BẢN",
        "BỘ TƯ PHÁP",
        "/BB-HĐTĐKT",
        "Hà Nội, ngày 06 tháng 12 năm 2026",
        "Kiểm phiếu bầu xét đề nghị khen thưởng",
        "hồi 10 giờ 05 phút",
        "Phạm Thị Dung",
        "Chiến sĩ thi đua cấp bộ",
        "Nguyễn Văn An",
        "Lê Quốc Cường",
        "số phiếu không hợp lệ: 0",
        "THÀNH VIÊN BAN KIỂM PHIẾU",
        "Nơi nhận:",
    ),
    "decision": (
        "QUYẾT ĐỊNH",
        "THỦ TƯỚNG CHÍNH PHỦ",
        "1520/QĐ-TTg",
        "Hà Nội, ngày 05 tháng 02 năm 2026",
        "Về việc tặng Bằng khen của Thủ tướng Chính phủ",
        "Căn cứ Luật Thi đua, khen thưởng số 06/2022/QH15",
        "Điều 1.",
        "(Đã ký)",
        "DANH SÁCH",
        "(Kèm theo Quyết định số 1520/QĐ-TTg ngày 05 tháng 02 năm 2026 của Thủ tướng Chính phủ)",
        "Nguyễn Hữu Thắng",
        "Cục Bổ trợ tư pháp",
    ),
    "pledge": (
        "GIAO ƯỚC THI ĐUA",
        "KHỐI THI ĐUA CÁC BỘ, NGÀNH NỘI CHÍNH TRUNG ƯƠNG",
        "Năm 2024",
        "/GƯTĐ-KTĐ",
        "Hoàn thành các chỉ tiêu, nhiệm vụ trọng tâm của năm",
        "Tổng điểm các tiêu chí",
        "ĐIỂM TRỪ",
        "Cờ thi đua của Chính phủ",
        "Tòa án nhân dân tối cao",
        "Đặng Thu Hà",
        "Chưa ký",
        "Đã ký: 7/8 đơn vị.",
    ),
    "ranking": (
        "BẢNG TỔNG HỢP",
        "Kết quả chấm điểm, xếp hạng thi đua năm 2024",
        "Tòa án nhân dân tối cao",
        "Bộ Tư lệnh Bảo vệ Lăng Chủ tịch Hồ Chí Minh",
        "không nộp bản tự chấm",
        "đồng hạng với",
        "ĐIỀU CHỈNH ĐIỂM KHI CHẤM CHÉO",
        "Kế hoạch phát động thi đua chuyên đề chưa có minh chứng ban hành",
        "Vắng hội nghị sơ kết không lý do",
        "ĐỀ XUẤT SUY TÔN",
        "KHỐI TRƯỞNG",
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_pdf_reads_back_in_vietnamese_with_the_decree_layout(name: str, tmp_path: Path):
    doc = all_documents()[name]
    pdf = render_pdf(doc)
    assert pdf.startswith(b"%PDF-")
    text = squash(pdf_text(pdf, tmp_path))
    for expected in (
        NATIONAL,
        MOTTO,
        "Số:",
        ANCHOR_TEXT,
        "Văn bản được lập từ hệ thống lúc 06/12/2026 14:30",
        *EXPECTED[name],
    ):
        assert squash(expected) in text, f"{name}: {expected!r} not in the PDF's text"
    pages = png_pages(pdf, tmp_path)
    assert pages, "pdftoppm made no page"
    for page in pages:
        assert page.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The anchor is on every page's footer.
    assert text.count(ANCHOR_TEXT) == len(pages)


def test_the_fonts_embedded_carry_vietnamese(tmp_path: Path):
    if shutil.which("pdffonts") is None:
        pytest.skip("pdffonts is not installed")
    path = tmp_path / "m.pdf"
    path.write_bytes(render_pdf(all_documents()["minutes"]))
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    assert "Liberation-Serif" in fonts or "Times" in fonts, fonts


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_docx_reads_back_with_the_same_text(name: str):
    doc = all_documents()[name]
    text = docx_text(render_docx(doc))
    for expected in (NATIONAL, MOTTO, ANCHOR_TEXT, *EXPECTED[name]):
        assert squash(expected) in squash(text), f"{name}: {expected!r} not in the DOCX"
    assert f"Số: {doc.number or ''}" in text


def test_docx_is_a4_and_the_ranking_landscape():
    from docx import Document as open_docx
    from docx.shared import Mm

    docs = all_documents()
    portrait = open_docx(io.BytesIO(render_docx(docs["minutes"]))).sections[0]
    landscape = open_docx(io.BytesIO(render_docx(docs["ranking"]))).sections[0]

    def mm(length: Any) -> int:  # DOCX keeps twentieths of a point: millimetres, rounded
        return round(length / Mm(1))

    assert (mm(portrait.page_width), mm(portrait.page_height)) == (210, 297)
    assert (mm(portrait.left_margin), mm(portrait.right_margin)) == (30, 15)
    assert (mm(landscape.page_width), mm(landscape.page_height)) == (297, 210)


def test_a_decision_cut_to_the_readers_scope_says_so(tmp_path: Path):
    doc = decision_document(decision_record(lines=2, awarded=5), anchor=None, made_at=MADE_AT)
    text = squash(pdf_text(render_pdf(doc), tmp_path))
    assert "Bản in này gồm 2/5 tập thể, cá nhân" in text
    assert "Tặng Bằng khen của Thủ tướng Chính phủ cho 5 tập thể, cá nhân" in text
    assert "Neo kiểm toán: chưa có" in text


def test_a_minister_s_decision_is_issued_by_the_ministry(tmp_path: Path):
    record = decision_record().model_copy(
        update={"decision_no": "88/QĐ-BTP", "authority": Authority.MINISTER, "issuing_body": "Bộ Tư pháp"}
    )
    doc = decision_document(record, anchor=ANCHOR, made_at=MADE_AT)
    assert (doc.issuer.body, doc.number_line, doc.signers[0].title) == ("BỘ TƯ PHÁP", "Số: 88/QĐ-BTP", "Bộ trưởng")
    text = squash(pdf_text(render_pdf(doc), tmp_path))
    for expected in (
        "BỘ TRƯỞNG BỘ TƯ PHÁP",
        "Xét đề nghị của Hội đồng Thi đua – Khen thưởng Bộ Tư pháp.",
        "(Kèm theo Quyết định số 88/QĐ-BTP ngày 05 tháng 02 năm 2026 của Bộ Tư pháp)",
        "- Hội đồng Thi đua – Khen thưởng Bộ Tư pháp;",  # the recipients
    ):
        assert expected in text, expected


def test_a_bloc_s_minutes_are_issued_by_the_bloc():
    record = minutes_record().model_copy(
        update={"kind": BallotSessionKind.BLOC, "scope": "NOI_CHINH", "session_id": "ballot-bloc-NOI_CHINH-HN"}
    )
    doc = minutes_document(record, NAMES, anchor=None, made_at=MADE_AT)
    assert doc.issuer.superior is None
    assert doc.issuer.body == "KHỐI THI ĐUA CÁC BỘ, NGÀNH NỘI CHÍNH TRUNG ƯƠNG"
    assert doc.number_line.endswith("/BB-KTĐ")
    assert doc.recipients[0] == "Khối trưởng Khối Thi đua các bộ, ngành nội chính Trung ương"
    assert "Ban kiểm phiếu của Khối Thi đua các bộ, ngành nội chính Trung ương" in docx_text(render_docx(doc))


def test_minutes_need_a_closed_session():
    status = SessionStatus(
        session_id="ballot-council-BTP-X",
        kind=BallotSessionKind.COUNCIL,
        scope="BTP",
        meeting_ref="X",
        phase=SessionPhase.VOTING,
        round=1,
        deadline=MADE_AT,
        candidates=[],
        electorate_size=9,
        voted=[],
        quorum_met=False,
    )
    with pytest.raises(ValueError, match="VOTING"):
        record_from_status(status, closed_at=MADE_AT, policy_version=None)


def test_minutes_print_counts_never_who_voted(tmp_path: Path):
    text = pdf_text(render_pdf(all_documents()["minutes"]), tmp_path)
    assert "btp.hd.m" not in text  # the voters' ids (who took a credential) are not on the minutes
    assert "số người đã nhận phiếu: 9" in squash(text)


def test_the_ranking_needs_its_review_closed():
    with pytest.raises(ValueError, match="PLEDGE"):
        ranking_document(bloc_status(ranked=False), POLICY, NAMES, anchor=None, made_at=MADE_AT)


def test_the_ranking_xlsx_has_the_table_the_chart_and_the_adjustments():
    from openpyxl import load_workbook

    status = bloc_status()
    book = load_workbook(io.BytesIO(ranking_xlsx(status, POLICY, NAMES, anchor=ANCHOR, made_at=MADE_AT)))
    sheet = book[RANKING_SHEET]
    header = [c.value for c in sheet[3]]
    assert header[:2] == ["Xếp hạng", "Đơn vị"] and "Tổng điểm" in header
    total = header.index("Tổng điểm")
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=4, max_row=3 + len(MEMBERS))]
    assert status.standings is not None
    assert [r[1] for r in rows[: len(status.standings.rows)]] == [
        NAMES.ministry(r.member) for r in status.standings.rows
    ]
    assert rows[0][total] == float(status.standings.rows[0].total)  # a number, not text
    assert any(str(c.value).startswith(ANCHOR_TEXT) for c in sheet["A"] if c.value)
    charts = sheet._charts  # openpyxl keeps the charts it read back here
    assert len(charts) == 1
    adjustments = [[c.value for c in row] for row in book[ADJUSTMENT_SHEET].iter_rows(min_row=2)]
    assert adjustments == [
        ["Bộ Tư pháp", "Tiêu chí PT1", "10", "7", "Kế hoạch phát động thi đua chuyên đề chưa có minh chứng ban hành"],
        ["Bộ Công an", "Điểm trừ TD2", "0 lần", "1 lần", "Vắng hội nghị sơ kết không lý do"],
    ]


def test_reports_xlsx_carry_a_chart_sheet_per_dimension(tmp_path: Path):
    from openpyxl import load_workbook

    from client.reports import (
        COUNT_HEADERS,
        COUNTS_SHEET,
        DECISION_HEADERS,
        DECISIONS_SHEET,
        CountRow,
        DecisionListRow,
        count_table,
        decision_table,
        write_report,
    )

    counts = [
        CountRow(
            "ministry",
            "BTP",
            "Bộ Tư pháp",
            5,
            {"IN_PROGRESS": 2, "AWARDED": 3, "REJECTED": 0, "WITHDRAWN": 0, "LAPSED": 0},
        ),
        CountRow(
            "ministry",
            "BCA",
            "Bộ Công an",
            4,
            {"IN_PROGRESS": 4, "AWARDED": 0, "REJECTED": 0, "WITHDRAWN": 0, "LAPSED": 0},
        ),
        CountRow("year", 2026, "2026", 9, {"IN_PROGRESS": 6, "AWARDED": 3, "REJECTED": 0, "WITHDRAWN": 0, "LAPSED": 0}),
    ]
    path = tmp_path / "counts.xlsx"
    write_report(path, COUNT_HEADERS, count_table(counts), COUNTS_SHEET)
    book = load_workbook(path)
    assert book.sheetnames[0] == COUNTS_SHEET
    assert book.chartsheets and {s.title for s in book.chartsheets} == {"Biểu đồ – Bộ-ngành", "Biểu đồ – Năm"}

    decisions = [
        DecisionListRow("1520/QĐ-TTg", date(2026, 2, 5), "PRIME_MINISTER", "tw.a", 12, 1, MADE_AT),
        DecisionListRow("88/QĐ-BTP", date(2026, 3, 1), "MINISTER", "btp.a", 30, 0, MADE_AT),
    ]
    path = tmp_path / "decisions.xlsx"
    write_report(path, DECISION_HEADERS, decision_table(decisions), DECISIONS_SHEET)
    book = load_workbook(path)
    assert [s.title for s in book.chartsheets] == ["Biểu đồ – Quyết định"]
    # CSV stays a plain table.
    write_report(tmp_path / "decisions.csv", DECISION_HEADERS, decision_table(decisions), DECISIONS_SHEET)
    assert (tmp_path / "decisions.csv").read_text(encoding="utf-8-sig").startswith("STT,")
