"""Giao ước thi đua: the bloc's pledge for a year, with the scoring table the head published (groups, criteria
and maximum points, bonus and penalty items with their caps, tie-break rules, honours quotas, the submission
window) and the members that signed it, each with its representative and the moment it signed."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from documents.model import (
    BLOC_RECIPIENTS,
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
    made_line,
    points_vi,
    vietnam_time,
    when_vi,
)
from documents.names import Names, award_form_vi
from domain.audit_anchors import Anchor
from domain.bloc.policy import BlocScoringPolicy, NoSubmission, ScoreItem, tie_break_label_vi
from domain.bloc.year import BlocYearStatus

CHANNEL_VI = {"CLI": "dòng lệnh", "API": "API", "INBOX": "hộp công việc", "SYSTEM": "hệ thống"}
NO_SUBMISSION_VI = {
    NoSubmission.ZERO: "đơn vị không nộp bản tự chấm đúng hạn được tính 0 điểm ở mọi tiêu chí và vẫn được xếp hạng",
    NoSubmission.NOT_RANKED: "đơn vị không nộp bản tự chấm đúng hạn không được xếp hạng và không được xét suy tôn",
}


def scoring_table(policy: BlocScoringPolicy) -> Table:
    rows: list[tuple[str, ...]] = []
    emphasised: set[int] = set()
    for number, group in enumerate(policy.groups, start=1):
        emphasised.add(len(rows))
        rows.append((_roman(number), group.name_vi, points_vi(group.max_points), ""))
        for criterion in group.criteria:
            evidence = "Có" if criterion.evidence_required else "Không bắt buộc"
            rows.append((criterion.code, criterion.name_vi, points_vi(criterion.max_points), evidence))
    emphasised.add(len(rows))
    rows.append(("", "Tổng điểm các tiêu chí", points_vi(policy.criteria_max), ""))
    return Table(
        headers=("Mã", "Nhóm tiêu chí, tiêu chí", "Điểm tối đa", "Minh chứng"),
        rows=tuple(rows),
        widths=(8, 62, 12, 18),
        align=(Align.CENTER, Align.LEFT, Align.CENTER, Align.CENTER),
        emphasised=frozenset(emphasised),
    )


def _items_table(items: tuple[ScoreItem, ...], cap_label: str, cap: Decimal) -> Table:
    rows = (
        *((item.code, item.name_vi, points_vi(item.points_each), points_vi(item.max_points)) for item in items),
        ("", cap_label, "", points_vi(cap)),
    )
    return Table(
        headers=("Mã", "Nội dung", "Điểm mỗi lần", "Tối đa"),
        rows=rows,
        widths=(8, 62, 15, 15),
        align=(Align.CENTER, Align.LEFT, Align.CENTER, Align.CENTER),
        emphasised=frozenset({len(rows) - 1}),
    )


def _roman(number: int) -> str:
    numerals = ((10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))
    out = ""
    for value, numeral in numerals:
        while number >= value:
            out += numeral
            number -= value
    return out


def pledge_document(
    status: BlocYearStatus,
    policy: BlocScoringPolicy,
    names: Names,
    *,
    anchor: Anchor | None,
    made_at: datetime,
    made_by: str | None = None,
    place: str = "Hà Nội",
) -> Document:
    """The pledge as it stands: signed by those in `status.signatures`, the others listed as not yet signed.
    Dated the day the last member signed, or the day it was made while signatures are still missing."""
    bloc = names.bloc(status.bloc)
    head, deputy = status.leadership.head, status.leadership.deputy
    signed = {s.member: s for s in status.signatures}
    body: list[Block] = [
        Paragraph(text="Căn cứ Luật Thi đua, khen thưởng số 06/2022/QH15;", style=ParagraphStyle.CITATION),
        Paragraph(
            text=f"Căn cứ {policy.name_vi} (phiên bản {policy.version}) do Khối trưởng công bố;",
            style=ParagraphStyle.CITATION,
        ),
        Paragraph(
            text=f"Các đơn vị thành viên {bloc} (Khối trưởng năm {status.year}: {names.ministry(head)}; Khối phó: "
            f"{names.ministry(deputy)}) thống nhất ký kết giao ước thi đua năm {status.year} với các nội dung sau:",
        ),
        Paragraph(text="I. NỘI DUNG THI ĐUA VÀ THANG ĐIỂM", style=ParagraphStyle.HEADING),
        scoring_table(policy),
    ]
    if policy.bonus_items:
        body += [
            Paragraph(text="II. ĐIỂM CỘNG", style=ParagraphStyle.HEADING),
            _items_table(policy.bonus_items, "Tổng điểm cộng tối đa", policy.bonus_cap),
        ]
    if policy.penalty_items:
        body += [
            Paragraph(text="III. ĐIỂM TRỪ", style=ParagraphStyle.HEADING),
            _items_table(policy.penalty_items, "Tổng điểm trừ tối đa", policy.penalty_cap),
        ]
    body.append(Paragraph(text="IV. CHẤM ĐIỂM, XẾP HẠNG VÀ SUY TÔN", style=ParagraphStyle.HEADING))
    submission = policy.submission
    body.append(
        Paragraph(
            text=f"Các đơn vị tự chấm điểm, kèm minh chứng, trong {submission.working_days} ngày làm việc kể từ khi "
            f"Khối trưởng đề nghị; được nhắc trước hạn {submission.reminder_working_days_before} ngày làm việc; "
            f"{NO_SUBMISSION_VI[submission.no_submission]}. Khối trưởng và Khối phó chấm chéo, điều chỉnh điểm "
            "có nêu lý do.",
        )
    )
    if policy.tie_breaks:
        rules = "; ".join(tie_break_label_vi(policy, t) for t in policy.tie_breaks)
        body.append(
            Paragraph(text=f"Đơn vị bằng tổng điểm được xếp trên nếu lần lượt: {rules}.", style=ParagraphStyle.BODY)
        )
    for tier in policy.honours:
        body.append(
            Paragraph(
                text=f"- {award_form_vi(tier.award_form)}: tối đa {tier.quota} đơn vị, tổng điểm từ "
                f"{points_vi(tier.min_score)} trở lên, do Khối bỏ phiếu kín suy tôn.",
                style=ParagraphStyle.PLAIN,
            )
        )
    body.append(Paragraph(text="V. DANH SÁCH ĐƠN VỊ KÝ GIAO ƯỚC", style=ParagraphStyle.HEADING))
    rows = []
    for stt, member in enumerate(status.members, start=1):
        signature = signed.get(member)
        if signature is None:
            rows.append((str(stt), names.ministry(member), "", "Chưa ký"))
        else:
            rows.append(
                (
                    str(stt),
                    names.ministry(member),
                    names.person(signature.actor),
                    f"{when_vi(signature.signed_at)} ({CHANNEL_VI.get(signature.channel, signature.channel)})",
                )
            )
    body.append(
        Table(
            headers=("STT", "Đơn vị thành viên", "Người đại diện ký", "Thời điểm ký (UTC+7)"),
            rows=tuple(rows),
            widths=(6, 40, 27, 27),
            align=(Align.CENTER, Align.LEFT, Align.LEFT, Align.CENTER),
        )
    )
    missing = [m for m in status.members if m not in signed]
    body.append(
        Paragraph(
            text=f"Đã ký: {len(status.members) - len(missing)}/{len(status.members)} đơn vị."
            + (" Giao ước có hiệu lực khi tất cả đơn vị thành viên đã ký." if missing else ""),
            style=ParagraphStyle.NOTE,
        )
    )
    roles = {head: "Khối trưởng", deputy: "Khối phó"}
    signers = tuple(
        Signer(
            authority=roles.get(member),
            title=names.ministry(member),
            note=f"(Đã ký {when_vi(signed[member].signed_at)})" if member in signed else "(Chưa ký)",
            name=names.person(signed[member].actor) if member in signed else None,
        )
        for member in status.members
    )
    dated = max((s.signed_at for s in status.signatures), default=made_at) if not missing else made_at
    return Document(
        kind=DocumentKind.PLEDGE,
        issuer=Issuer(body=bloc.upper()),
        number=None,
        symbol="GƯTĐ-KTĐ",
        place=place,
        issued_on=vietnam_time(dated).date(),
        kind_vi="GIAO ƯỚC THI ĐUA",
        title=f"Năm {status.year}",
        body=tuple(body),
        recipients=BLOC_RECIPIENTS,
        signers=signers,
        anchor_line=anchor_line(anchor),
        made_line=made_line(made_at, made_by),
        reference=status.bloc_year_id,
    )
