"""Biên bản kiểm phiếu: the minutes of a closed ballot session's count, signed by its counting committee.

Only counts are printed (who voted is never on it: the secret ballot's participation list stays with the
organisers); the tallies, results and reasons are the session's own minutes rows."""

from __future__ import annotations

from datetime import datetime

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
    hour_vi,
    made_line,
    vietnam_time,
    when_vi,
)
from documents.names import Names, award_form_vi
from domain.audit_anchors import Anchor
from domain.ballot_messages import HeadDecision, MinutesEntry, MinutesResult, SessionStatus, StruckCandidate
from domain.ballots import BallotSessionKind

RESULT_VI: dict[MinutesResult, str] = {
    MinutesResult.PASSED: "Đạt",
    MinutesResult.FAILED: "Không đạt",
    MinutesResult.NO_QUORUM: "Không đủ số thành viên",
    MinutesResult.WITHDRAWN_FROM_LIST: "Rút khỏi danh sách",
}
COUNCIL_BODY = "Hội đồng Thi đua – Khen thưởng"
# In the header's narrow column the name wraps before "Khen thưởng", never inside it.
COUNCIL_ISSUER = "HỘI ĐỒNG THI ĐUA\u00a0– KHEN\u00a0THƯỞNG"
SYMBOL = {BallotSessionKind.COUNCIL: "BB-HĐTĐKT", BallotSessionKind.BLOC: "BB-KTĐ"}


class MinutesRecord(BaseModel):
    """What the minutes print: the session's closed status and, from its minutes rows, when it closed and the
    policy version and spoiled count recorded with them."""

    model_config = ConfigDict(frozen=True)
    session_id: str
    kind: BallotSessionKind
    scope: str
    meeting_ref: str
    round: int
    closed_at: datetime
    policy_version: str | None
    electorate_size: int
    voted_count: int  # who took a ballot credential this round: a number, never the names
    ballots_cast: int
    spoiled: int
    entries: tuple[MinutesEntry, ...]
    struck: tuple[StruckCandidate, ...] = ()
    committee: tuple[str, ...]  # actor ids, share-index order
    # A bloc tie decided by the head after the runoffs: who chose whom (the notes say so, naming the head).
    head_decision: HeadDecision | None = None

    @property
    def people(self) -> tuple[str, ...]:
        """The actors the minutes name: the counting committee, and the head who decided a tie."""
        return self.committee + ((self.head_decision.actor,) if self.head_decision else ())


def record_from_status(
    status: SessionStatus,
    *,
    closed_at: datetime,
    policy_version: str | None,
    spoiled: int | None = None,
    voted_count: int | None = None,
) -> MinutesRecord:
    """The minutes of a CLOSED session's status (ValueError for any other phase: there are no results yet).
    `voted_count` for a status redacted for its reader (who voted left out, the number kept)."""
    if status.results is None:
        raise ValueError(f"ballot session {status.session_id} is {status.phase.value}: no count to write minutes of")
    return MinutesRecord(
        session_id=status.session_id,
        kind=status.kind,
        scope=status.scope,
        meeting_ref=status.meeting_ref,
        round=status.round,
        closed_at=closed_at,
        policy_version=policy_version,
        electorate_size=status.electorate_size,
        voted_count=len(status.voted) if voted_count is None else voted_count,
        ballots_cast=status.ballots_cast,
        spoiled=len(status.spoiled_receipts or ()) if spoiled is None else spoiled,
        entries=tuple(status.results),
        struck=tuple(status.struck),
        committee=tuple(status.committee),
        head_decision=status.head_decision,
    )


def _issuer(record: MinutesRecord, names: Names) -> Issuer:
    if record.kind == BallotSessionKind.COUNCIL:
        return Issuer(superior=names.ministry(record.scope).upper(), body=COUNCIL_ISSUER)
    return Issuer(body=names.bloc(record.scope).upper())


def _voting_body(record: MinutesRecord, names: Names) -> str:
    if record.kind == BallotSessionKind.COUNCIL:
        return f"{COUNCIL_BODY} {names.ministry(record.scope)}"
    return names.bloc(record.scope)


def head_decision_note(record: MinutesRecord, decision: HeadDecision, names: Names) -> str:
    """Who decided the tie and whom they chose, by the roster's and the dossiers' names."""
    nominees = {e.candidate.workflow_id: e.candidate.nominee_name for e in record.entries}
    nominees |= {s.candidate.workflow_id: s.candidate.nominee_name for s in record.struck}

    def listed(workflow_ids: list[str]) -> str:
        return ", ".join(nominees.get(wf, wf) for wf in workflow_ids)

    return (
        f"- Vòng {decision.round}: {listed(decision.tied)} có số phiếu ngang nhau tại vị trí cuối chỉ tiêu "
        f"({decision.seats_left} suất còn lại) sau các vòng bỏ phiếu lại; Trưởng Khối "
        f"{names.person(decision.actor)} đã quyết định chọn {listed(decision.chosen)} lúc "
        f"{when_vi(decision.decided_at)} (giờ Việt Nam)."
    )


def minutes_document(
    record: MinutesRecord,
    names: Names,
    *,
    anchor: Anchor | None,
    made_at: datetime,
    made_by: str | None = None,
    place: str = "Hà Nội",
) -> Document:
    body_vi = _voting_body(record, names)
    valid = record.ballots_cast - record.spoiled
    members = [names.person(m) for m in record.committee]
    blocks: list[Block] = [
        Paragraph(
            text=f"Hôm nay, vào {hour_vi(record.closed_at)}, Ban kiểm phiếu của {body_vi} hoàn thành việc kiểm "
            f"phiếu phiên bỏ phiếu kín «{record.meeting_ref}» (mã phiên {record.session_id}, vòng {record.round}).",
        ),
        Paragraph(
            text="Ban kiểm phiếu gồm: " + (", ".join(members) if members else "(không có thành viên)") + ".",
        ),
        Paragraph(text="I. KẾT QUẢ KIỂM PHIẾU", style=ParagraphStyle.HEADING),
        Paragraph(
            text=f"Tổng số người có quyền bỏ phiếu: {record.electorate_size}; số người đã nhận phiếu: "
            f"{record.voted_count}; số phiếu thu vào: {record.ballots_cast}; số phiếu hợp lệ: {valid}; "
            f"số phiếu không hợp lệ: {record.spoiled}.",
        ),
    ]
    rows: list[tuple[str, ...]] = []
    for stt, entry in enumerate(record.entries, start=1):
        candidate, tally = entry.candidate, entry.tally
        share = f"{100 * tally.votes_for / tally.members:.1f}".replace(".", ",") + "%"
        rows.append(
            (
                str(stt),
                candidate.nominee_name,
                award_form_vi(candidate.award_form, record.policy_version),
                names.ministry(candidate.proposing_organisation),
                str(tally.votes_for),
                str(tally.votes_against),
                str(tally.abstaining),
                share,
                RESULT_VI.get(entry.result, entry.result.value),
            )
        )
    blocks.append(
        Table(
            headers=(
                "STT",
                "Tập thể, cá nhân",
                "Hình thức khen thưởng",
                "Đơn vị đề nghị",
                "Đồng ý",
                "Không đồng ý",
                "Không biểu quyết",
                "Tỷ lệ đồng ý / tổng số",
                "Kết quả",
            ),
            rows=tuple(rows),
            widths=(5, 22, 20, 15, 8, 9, 10, 10, 11),
            align=(
                Align.CENTER,
                Align.LEFT,
                Align.LEFT,
                Align.LEFT,
                Align.CENTER,
                Align.CENTER,
                Align.CENTER,
                Align.CENTER,
                Align.CENTER,
            ),
        )
    )
    blocks.append(Paragraph(text="II. GHI CHÚ", style=ParagraphStyle.HEADING))
    for entry in record.entries:
        blocks.append(
            Paragraph(text=f"- {entry.candidate.nominee_name}: {entry.reason_vi}", style=ParagraphStyle.PLAIN)
        )
    for struck in record.struck:
        blocks.append(
            Paragraph(
                text=f"- {struck.candidate.nominee_name}: rút khỏi danh sách lúc "
                f"{vietnam_time(struck.struck_at).strftime('%d/%m/%Y %H:%M')} ({struck.reason_vi}); "
                "phiếu về hồ sơ này không được tính.",
                style=ParagraphStyle.PLAIN,
            )
        )
    if record.head_decision is not None:
        blocks.append(
            Paragraph(text=head_decision_note(record, record.head_decision, names), style=ParagraphStyle.PLAIN)
        )
    if record.policy_version:
        blocks.append(
            Paragraph(
                text=f"- Căn cứ quy định áp dụng: phiên bản chính sách {record.policy_version}.",
                style=ParagraphStyle.PLAIN,
            )
        )
    blocks.append(
        Paragraph(
            text="Phiếu bầu được niêm phong bằng mật mã; chỉ số phiếu được công bố, không ai biết nội dung lá phiếu "
            "của từng người. Biên bản được lập từ biên bản kiểm phiếu lưu trong hệ thống; các thành viên Ban kiểm "
            "phiếu thống nhất ký tên dưới đây.",
        )
    )
    signers = tuple(Signer(title="Thành viên Ban kiểm phiếu", name=name) for name in members)
    recipients = (
        f"{COUNCIL_BODY} {names.ministry(record.scope)}"
        if record.kind == BallotSessionKind.COUNCIL
        else f"Khối trưởng {names.bloc(record.scope)}",
        "Các đơn vị có hồ sơ trong danh sách",
        "Lưu: hồ sơ phiên bỏ phiếu",
    )
    return Document(
        kind=DocumentKind.MINUTES,
        issuer=_issuer(record, names),
        number=None,
        symbol=SYMBOL[record.kind],
        place=place,
        issued_on=vietnam_time(record.closed_at).date(),
        kind_vi="BIÊN BẢN",
        title=f"Kiểm phiếu bầu xét đề nghị khen thưởng – {body_vi}",
        body=tuple(blocks),
        recipients=recipients,
        signers=signers,
        anchor_line=anchor_line(anchor),
        made_line=made_line(made_at, made_by),
        reference=record.session_id,
    )
