"""Bảng tổng hợp kết quả chấm điểm, xếp hạng: the bloc year's ranking (domain/bloc/ranking.py Standings) with
each member's group scores, bonus and penalty points and total, why equal totals were ordered as they were, the
review panel's adjustments with their reasons (chấm chéo), and what the ranking proposes for honouring.

`ranking_rows` is shared with the XLSX (xlsx.py), so the printed table and the spreadsheet say the same."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

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
)
from documents.names import Names, award_form_vi
from domain.audit_anchors import Anchor
from domain.bloc.policy import BlocScoringPolicy, tie_break_label_vi
from domain.bloc.ranking import TOTAL, StandingRow, Standings, TierStatus
from domain.bloc.scoring import Scorecard
from domain.bloc.year import BlocYearStatus


class RankingRow(BaseModel):
    """One member's line of the ranking table, in numbers (the XLSX) and words (the note)."""

    model_config = ConfigDict(frozen=True)
    rank: int | None  # None: left out of the ranking
    member: str
    name: str
    groups: tuple[Decimal, ...]  # in the table's group order
    criteria_total: Decimal
    bonus: Decimal
    penalty: Decimal
    total: Decimal
    note: str


def separated_label(policy: BlocScoringPolicy, key: str | None) -> str | None:
    """Why a row stands below the one above when its total is equal: the tie-break rule's words."""
    if key is None or key == TOTAL:
        return None
    rule = next((t for t in policy.tie_breaks if t.key == key), None)
    return tie_break_label_vi(policy, rule) if rule is not None else key


def _note(policy: BlocScoringPolicy, row: StandingRow, rows: Sequence[StandingRow], names: Names) -> str:
    notes = []
    if not row.submitted:
        notes.append("không nộp bản tự chấm (tính theo giao ước)")
    if row.tied:
        others = [names.ministry(r.member) for r in rows if r.rank == row.rank and r.member != row.member]
        notes.append("đồng hạng với " + ", ".join(others))
    label = separated_label(policy, row.separated_by)
    if label:
        notes.append(f"bằng tổng điểm với đơn vị liền trên, xếp sau do đơn vị trên {label}")
    return "; ".join(notes)


def ranking_rows(
    policy: BlocScoringPolicy, standings: Standings, scorecards: Sequence[Scorecard], names: Names
) -> list[RankingRow]:
    rows = [
        RankingRow(
            rank=row.rank,
            member=row.member,
            name=names.ministry(row.member),
            groups=tuple(row.group_totals.get(g.code, Decimal(0)) for g in policy.groups),
            criteria_total=row.criteria_total,
            bonus=row.bonus_points,
            penalty=row.penalty_points,
            total=row.total,
            note=_note(policy, row, standings.rows, names),
        )
        for row in standings.rows
    ]
    cards = {c.member: c for c in scorecards}
    for member in standings.unranked:
        card = cards.get(member)
        zero = Decimal(0)
        rows.append(
            RankingRow(
                rank=None,
                member=member,
                name=names.ministry(member),
                groups=tuple(card.group_totals.get(g.code, zero) if card else zero for g in policy.groups),
                criteria_total=card.criteria_total if card else zero,
                bonus=card.bonus_points if card else zero,
                penalty=card.penalty_points if card else zero,
                total=card.total if card else zero,
                note="không được xếp hạng (không nộp bản tự chấm)",
            )
        )
    return rows


def ranking_headers(policy: BlocScoringPolicy) -> tuple[str, ...]:
    return (
        "Xếp hạng",
        "Đơn vị",
        *(f"{g.code} (tối đa {points_vi(g.max_points)})" for g in policy.groups),
        "Điểm tiêu chí",
        "Điểm cộng",
        "Điểm trừ",
        "Tổng điểm",
        "Ghi chú",
    )


def adjustment_lines(policy: BlocScoringPolicy, scorecards: Sequence[Scorecard], names: Names) -> list[tuple[str, ...]]:
    """(member, line, self, final, reason) for every line the review panel changed."""
    lines: list[tuple[str, ...]] = []
    for card in scorecards:
        member = names.ministry(card.member)
        for criterion in card.criteria:
            if criterion.adjusted_reason is not None:
                lines.append(
                    (
                        member,
                        f"Tiêu chí {criterion.code}",
                        points_vi(criterion.self_points),
                        points_vi(criterion.final_points),
                        criterion.adjusted_reason,
                    )
                )
        for kind, items in (("Điểm cộng", card.bonuses), ("Điểm trừ", card.penalties)):
            for item in items:
                if item.adjusted_reason is not None:
                    lines.append(
                        (
                            member,
                            f"{kind} {item.code}",
                            f"{item.self_occurrences} lần",
                            f"{item.final_occurrences} lần",
                            item.adjusted_reason,
                        )
                    )
    return lines


def ranking_document(
    status: BlocYearStatus,
    policy: BlocScoringPolicy,
    names: Names,
    *,
    anchor: Anchor | None,
    made_at: datetime,
    made_by: str | None = None,
    head_name: str | None = None,
    place: str = "Hà Nội",
) -> Document:
    """The ranking of a bloc year whose review has closed (ValueError before: there are no final scores)."""
    if status.standings is None:
        raise ValueError(f"bloc year {status.bloc_year_id} is {status.phase.value}: the ranking is not published yet")
    bloc = names.bloc(status.bloc)
    rows = ranking_rows(policy, status.standings, status.scorecards, names)
    groups = "; ".join(f"{g.code}: {g.name_vi}" for g in policy.groups)
    body: list[Block] = [
        Paragraph(
            text=f"Kết quả chấm điểm thi đua năm {status.year} của các đơn vị thành viên {bloc}, theo {policy.name_vi} "
            f"(phiên bản {policy.version}), sau khi các đơn vị tự chấm và Khối chấm chéo.",
        ),
        Paragraph(text=f"Nhóm tiêu chí: {groups}.", style=ParagraphStyle.NOTE),
        Table(
            headers=ranking_headers(policy),
            rows=tuple(
                (
                    str(r.rank) if r.rank is not None else "–",
                    r.name,
                    *(points_vi(g) for g in r.groups),
                    points_vi(r.criteria_total),
                    points_vi(r.bonus),
                    points_vi(r.penalty),
                    points_vi(r.total),
                    r.note,
                )
                for r in rows
            ),
            widths=(7, 30, *(9,) * len(policy.groups), 10, 8, 8, 9, 34),
            align=(
                Align.CENTER,
                Align.LEFT,
                *(Align.CENTER,) * len(policy.groups),
                Align.CENTER,
                Align.CENTER,
                Align.CENTER,
                Align.CENTER,
                Align.LEFT,
            ),
        ),
    ]
    if status.standings.ties:
        for tie in status.standings.ties:
            members = ", ".join(names.ministry(m) for m in tie.members)
            body.append(
                Paragraph(
                    text=f"Đồng hạng {tie.rank}: {members} (các tiêu chí phụ của giao ước không phân định được).",
                    style=ParagraphStyle.PLAIN,
                )
            )
    adjusted = adjustment_lines(policy, status.scorecards, names)
    body.append(Paragraph(text="ĐIỀU CHỈNH ĐIỂM KHI CHẤM CHÉO", style=ParagraphStyle.HEADING))
    if adjusted:
        body.append(
            Table(
                headers=("Đơn vị", "Nội dung", "Tự chấm", "Sau chấm chéo", "Lý do"),
                rows=tuple(adjusted),
                widths=(25, 15, 10, 12, 50),
                align=(Align.LEFT, Align.LEFT, Align.CENTER, Align.CENTER, Align.LEFT),
            )
        )
    else:
        body.append(Paragraph(text="Không có điều chỉnh.", style=ParagraphStyle.PLAIN))
    if status.suggestion is not None:
        body.append(Paragraph(text="ĐỀ XUẤT SUY TÔN THEO KẾT QUẢ XẾP HẠNG", style=ParagraphStyle.HEADING))
        for tier in status.suggestion.tiers:
            form = award_form_vi(tier.award_form)
            proposed = ", ".join(names.ministry(m) for m in tier.proposed) or "không có đơn vị đủ điều kiện"
            text = f"- {form} (tối đa {tier.quota}, từ {points_vi(tier.min_score)} điểm): {proposed}"
            if tier.status == TierStatus.TIED:
                tied = ", ".join(names.ministry(m) for m in tier.tied)
                text += f"; bằng điểm tại vị trí cuối chỉ tiêu ({tier.seats_left} suất): {tied} – Khối bỏ phiếu"
            elif tier.status == TierStatus.WAITING:
                text += " (chờ kết quả bỏ phiếu của hình thức trên)"
            body.append(Paragraph(text=text + ".", style=ParagraphStyle.PLAIN))
        body.append(
            Paragraph(
                text="Khối quyết định việc suy tôn bằng bỏ phiếu kín tại hội nghị tổng kết.", style=ParagraphStyle.NOTE
            )
        )
    return Document(
        kind=DocumentKind.RANKING,
        issuer=Issuer(body=bloc.upper()),
        number=None,
        symbol="BC-KTĐ",
        place=place,
        issued_on=vietnam_time(made_at).date(),
        kind_vi="BẢNG TỔNG HỢP",
        title=f"Kết quả chấm điểm, xếp hạng thi đua năm {status.year}",
        body=tuple(body),
        recipients=BLOC_RECIPIENTS,
        signers=(
            Signer(
                authority="TM. Khối thi đua",
                title="Khối trưởng",
                note=f"({names.ministry(status.leadership.head)})",
                name=head_name,
            ),
        ),
        anchor_line=anchor_line(anchor),
        made_line=made_line(made_at, made_by),
        landscape=True,
        reference=status.bloc_year_id,
    )
