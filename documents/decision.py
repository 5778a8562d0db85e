"""Quyết định khen thưởng: a recorded decision printed in the administrative format, with its list of awardees
as the annex ("Danh sách ... kèm theo Quyết định số ..."). The decision was signed elsewhere (the engine records
it), so the signature block says "(Đã ký)"."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from documents.model import (
    Align,
    Block,
    Document,
    DocumentKind,
    Issuer,
    Paragraph,
    ParagraphStyle,
    Signer,
    Table,
    anchor_line,
    date_vi,
    made_line,
)
from domain.audit_anchors import Anchor
from domain.catalog import AUTHORITY_LABELS_VI, Authority

# The issuing body, the signer's title and the symbol's suffix for each authority. A ministry's decision is
# issued by the ministry (its name is given); the others by the office itself.
SIGNER_TITLE: dict[Authority, str] = {
    Authority.PRIME_MINISTER: "Thủ tướng",
    Authority.PRESIDENT: "Chủ tịch nước",
    Authority.MINISTER: "Bộ trưởng",
    Authority.AGENCY_HEAD: "Thủ trưởng cơ quan",
    Authority.UNIT_HEAD: "Thủ trưởng đơn vị",
}
OFFICE_ISSUER: dict[Authority, str] = {
    Authority.PRIME_MINISTER: "Thủ tướng Chính phủ",
    Authority.PRESIDENT: "Chủ tịch nước Cộng hòa xã hội chủ nghĩa Việt Nam",
}
SYMBOL_SUFFIX: dict[Authority, str] = {Authority.PRIME_MINISTER: "TTg", Authority.PRESIDENT: "CTN"}
PROPOSED_BY: dict[Authority, str] = {
    Authority.PRIME_MINISTER: "Xét đề nghị của Bộ trưởng Bộ Nội vụ (Ban Thi đua – Khen thưởng Trung ương).",
    Authority.PRESIDENT: "Xét đề nghị của Thủ tướng Chính phủ.",
}
LEGAL_BASES = (
    "Căn cứ Luật Thi đua, khen thưởng số 06/2022/QH15;",
    "Căn cứ Nghị định số 98/2023/NĐ-CP của Chính phủ quy định chi tiết thi hành một số điều của Luật Thi đua, "
    "khen thưởng;",
)


class DecisionLine(BaseModel):
    model_config = ConfigDict(frozen=True)
    workflow_id: str
    nominee_name: str
    award_name_vi: str
    ministry: str  # the ministry's name (its code when the roster does not know it)


class DecisionRecord(BaseModel):
    """A recorded decision and the awardees on its list that the reader may read (`awarded`: how many the
    decision awarded in all, so a list cut to the reader's scope says so)."""

    model_config = ConfigDict(frozen=True)
    decision_no: str
    decision_date: date
    authority: Authority
    recorded_by: str
    issuing_body: str | None = None  # a ministry's or agency's name, for MINISTER, AGENCY_HEAD, UNIT_HEAD
    lines: tuple[DecisionLine, ...]
    awarded: int


def split_number(decision_no: str, authority: Authority) -> tuple[str, str]:
    """("1520", "QĐ-TTg") from "1520/QĐ-TTg"; a number without a symbol takes "QĐ" and the office's suffix."""
    number, slash, symbol = decision_no.partition("/")
    if slash:
        return number, symbol
    suffix = SYMBOL_SUFFIX.get(authority)
    return decision_no, f"QĐ-{suffix}" if suffix else "QĐ"


def _forms(record: DecisionRecord) -> list[str]:
    return list(dict.fromkeys(line.award_name_vi for line in record.lines if line.award_name_vi))


def decision_document(
    record: DecisionRecord,
    *,
    anchor: Anchor | None,
    made_at: datetime,
    made_by: str | None = None,
    place: str = "Hà Nội",
) -> Document:
    authority = record.authority
    office = OFFICE_ISSUER.get(authority) or record.issuing_body or AUTHORITY_LABELS_VI[authority]
    number, symbol = split_number(record.decision_no, authority)
    forms = _forms(record)
    form_text = forms[0] if len(forms) == 1 else "các hình thức khen thưởng ghi trong danh sách"
    count = len(record.lines)
    heading = OFFICE_ISSUER.get(
        authority, SIGNER_TITLE[authority] + (f" {record.issuing_body}" if record.issuing_body else "")
    )
    proposed = PROPOSED_BY.get(
        authority,
        "Xét đề nghị của Hội đồng Thi đua – Khen thưởng" + (f" {record.issuing_body}." if record.issuing_body else "."),
    )
    body: list[Block] = [
        Paragraph(text=heading.upper(), style=ParagraphStyle.CENTER_BOLD),
        *(Paragraph(text=basis, style=ParagraphStyle.CITATION) for basis in LEGAL_BASES),
        Paragraph(text=proposed, style=ParagraphStyle.CITATION),
        Paragraph(text="QUYẾT ĐỊNH:", style=ParagraphStyle.CENTER_BOLD),
        Paragraph(
            lead="Điều 1.",
            text=f"Tặng {form_text} cho {record.awarded} tập thể, cá nhân có tên trong danh sách kèm theo "
            "Quyết định này, đã có thành tích xuất sắc trong phong trào thi đua.",
        ),
        Paragraph(lead="Điều 2.", text="Quyết định này có hiệu lực kể từ ngày ký."),
        Paragraph(
            lead="Điều 3.",
            text="Thủ trưởng các cơ quan, đơn vị có liên quan và các tập thể, cá nhân có tên tại Điều 1 chịu "
            "trách nhiệm thi hành Quyết định này.",
        ),
    ]
    issued = f"Quyết định số {record.decision_no} {date_vi(record.decision_date)} của {office}"
    annex: list[Block] = [
        Paragraph(text="DANH SÁCH", style=ParagraphStyle.CENTER_BOLD),
        Paragraph(text=f"Tập thể, cá nhân được tặng {form_text}", style=ParagraphStyle.CENTER_BOLD),
        Paragraph(text=f"(Kèm theo {issued})", style=ParagraphStyle.CENTER_ITALIC),
        Table(
            headers=("STT", "Tập thể, cá nhân", "Hình thức khen thưởng", "Bộ, ngành", "Mã hồ sơ"),
            rows=tuple(
                (str(stt), line.nominee_name, line.award_name_vi, line.ministry, line.workflow_id)
                for stt, line in enumerate(record.lines, start=1)
            ),
            widths=(6, 30, 24, 20, 30),
            align=(Align.CENTER, Align.LEFT, Align.LEFT, Align.LEFT, Align.LEFT),
        ),
        Paragraph(text=f"Danh sách có {count} tập thể, cá nhân.", style=ParagraphStyle.NOTE),
    ]
    if count < record.awarded:
        annex.append(
            Paragraph(
                text=f"Bản in này gồm {count}/{record.awarded} tập thể, cá nhân: những hồ sơ người lập văn bản "
                "được xem theo phân quyền.",
                style=ParagraphStyle.NOTE,
            )
        )
    return Document(
        kind=DocumentKind.DECISION,
        issuer=Issuer(body=office.upper()),
        number=number,
        symbol=symbol,
        place=place,
        issued_on=record.decision_date,
        kind_vi="QUYẾT ĐỊNH",
        title=f"Về việc tặng {form_text}",
        body=tuple(body),
        recipients=(
            "Như Điều 3",
            "Ban Thi đua – Khen thưởng Trung ương"
            if authority in OFFICE_ISSUER or record.issuing_body is None
            else f"Hội đồng Thi đua – Khen thưởng {record.issuing_body}",
            "Lưu: VT, TĐKT",
        ),
        signers=(Signer(title=SIGNER_TITLE[authority], note="(Đã ký)"),),
        annex=tuple(annex),
        anchor_line=anchor_line(anchor),
        made_line=made_line(made_at, made_by) + f" Quyết định được ghi nhận trên hệ thống bởi {record.recorded_by}.",
        reference=record.decision_no,
    )
