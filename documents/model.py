"""One model for every document: the parts Decree 30/2020/NĐ-CP (Phụ lục I) places on the page, and a body of
blocks (paragraphs, tables, page breaks). The builders (minutes.py, decision.py, pledge.py, ranking.py) fill it
from domain models; the renderers (html.py, pdf.py, docx.py) lay it out the same way in each format."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.audit_anchors import HASH_PREFIX, VIETNAM, Anchor

DEFAULT_PLACE = "Hà Nội"
NATIONAL_TITLE = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"


class DocumentKind(StrEnum):
    MINUTES = "MINUTES"  # biên bản kiểm phiếu
    DECISION = "DECISION"  # quyết định khen thưởng, with its list
    PLEDGE = "PLEDGE"  # giao ước thi đua, with the scoring table and the signatories
    RANKING = "RANKING"  # bảng tổng hợp kết quả chấm điểm, xếp hạng


class ParagraphStyle(StrEnum):
    BODY = "BODY"  # justified, first line indented
    PLAIN = "PLAIN"  # justified, no indent (list items)
    HEADING = "HEADING"  # bold, left: a section ("I. NỘI DUNG ...")
    CENTER_BOLD = "CENTER_BOLD"  # e.g. "QUYẾT ĐỊNH:" or an annex's title
    CENTER_ITALIC = "CENTER_ITALIC"  # e.g. "(Kèm theo Quyết định số ...)"
    NOTE = "NOTE"  # italic, smaller
    CITATION = "CITATION"  # italic, first line indented: the legal bases ("Căn cứ ...")


class Paragraph(BaseModel):
    model_config = ConfigDict(frozen=True)
    block: Literal["paragraph"] = "paragraph"
    text: str
    style: ParagraphStyle = ParagraphStyle.BODY
    lead: str | None = None  # a bold run before the text ("Điều 1.")


class Align(StrEnum):
    LEFT = "LEFT"
    CENTER = "CENTER"
    RIGHT = "RIGHT"


class Table(BaseModel):
    """A table with a heading row; `widths` are relative (any unit), `emphasised` rows are bold (a group's
    row in the scoring table, a total)."""

    model_config = ConfigDict(frozen=True)
    block: Literal["table"] = "table"
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths: tuple[int, ...] | None = None
    align: tuple[Align, ...] | None = None
    emphasised: frozenset[int] = frozenset()


class PageBreak(BaseModel):
    model_config = ConfigDict(frozen=True)
    block: Literal["page_break"] = "page_break"


Block = Annotated[Paragraph | Table | PageBreak, Field(discriminator="block")]


class Issuer(BaseModel):
    """Tên cơ quan, tổ chức ban hành văn bản: the issuing body, under its superior body when it has one."""

    model_config = ConfigDict(frozen=True)
    body: str
    superior: str | None = None


class Signer(BaseModel):
    """One signature block: the authority line ("TM. HỘI ĐỒNG", "KT. BỘ TRƯỞNG"), the signer's title, a note
    where the signature goes ("(Đã ký)"), and the name."""

    model_config = ConfigDict(frozen=True)
    title: str
    authority: str | None = None
    name: str | None = None
    note: str | None = None


class Document(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: DocumentKind
    issuer: Issuer
    number: str | None  # None: left blank for the office to fill in when it registers the document
    symbol: str  # "BB-HĐTĐKT", "QĐ-TTg": what follows the number's slash
    place: str = DEFAULT_PLACE
    issued_on: date
    kind_vi: str  # "BIÊN BẢN", "QUYẾT ĐỊNH", "GIAO ƯỚC THI ĐUA", "BẢNG TỔNG HỢP"
    title: str  # trích yếu nội dung
    body: tuple[Block, ...]
    recipients: tuple[str, ...] = ()
    signers: tuple[Signer, ...] = ()
    annex: tuple[Block, ...] = ()  # after a page break: the decision's list
    anchor_line: str
    made_line: str  # when and by whom the document was made
    landscape: bool = False
    reference: str  # the engine's id of what the document records (session, decision, bloc year)

    @property
    def number_line(self) -> str:
        """ "Số: 12/BB-HĐTĐKT"; an unnumbered document leaves room for the number."""
        number = self.number if self.number else "\u00a0" * 10
        return f"Số: {number}/{self.symbol}"

    @property
    def place_date_line(self) -> str:
        return f"{self.place}, {date_vi(self.issued_on)}"


def date_vi(day: date) -> str:
    """ "ngày 05 tháng 02 năm 2026": a day below 10 and the months 1 and 2 take a leading zero (Decree 30,
    Phụ lục I, the place and date of issue)."""
    month = f"{day.month:02d}" if day.month < 3 else str(day.month)
    return f"ngày {day.day:02d} tháng {month} năm {day.year}"


def vietnam_time(moment: datetime) -> datetime:
    return moment.astimezone(VIETNAM)


def when_vi(moment: datetime) -> str:
    """A moment as staff read it: Vietnam's time, dd/mm/yyyy HH:MM."""
    return vietnam_time(moment).strftime("%d/%m/%Y %H:%M")


def hour_vi(moment: datetime) -> str:
    """ "hồi 14 giờ 05 phút, ngày 06 tháng 12 năm 2026" in Vietnam's time (the minutes' opening line)."""
    local = vietnam_time(moment)
    return f"hồi {local.hour:02d} giờ {local.minute:02d} phút, {date_vi(local.date())}"


def points_vi(points: Decimal | int | None) -> str:
    """Points as Vietnamese write them: a decimal comma, no trailing zeros ("92,5"); None: a dash."""
    if points is None:
        return "–"
    value = Decimal(points)
    text = f"{value.normalize():f}" if value != value.to_integral() else f"{value.to_integral():f}"
    return text.replace(".", ",")


# Where a bloc's own documents (its pledge, its ranking) are sent ("Nơi nhận").
BLOC_RECIPIENTS = ("Ban Thi đua – Khen thưởng Trung ương", "Các đơn vị thành viên Khối", "Lưu: Khối trưởng")


def anchor_line(anchor: Anchor | None) -> str:
    """The footer line that pins the audit chain's head at the moment the document was made: the anchored
    entry's id, the hash prefix, how many entries, when anchored (Vietnam's time)."""
    if anchor is None:
        return "Neo kiểm toán: chưa có (chưa đọc được mốc neo từ Temporal)"
    return (
        f"Neo kiểm toán: #{anchor.last_id} · {anchor.hash[:HASH_PREFIX]} · {anchor.count} mục · "
        f"neo lúc {vietnam_time(anchor.anchored_at).strftime('%d/%m/%Y %H:%M:%S')} (UTC+7)"
    )


def made_line(made_at: datetime, made_by: str | None) -> str:
    by = f" theo yêu cầu của {made_by}" if made_by else ""
    return f"Văn bản được lập từ hệ thống lúc {when_vi(made_at)} (UTC+7){by}."
