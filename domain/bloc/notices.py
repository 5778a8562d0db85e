"""What a bloc year tells the bloc's people (Vietnamese), as outbox drafts: the pledge published (to every
representative), the self-assessment reminder (to the representatives of members that have not submitted),
the ranking published, an honouring vote opened, the new head in office with the rotating flag.

The activities of the bloc-year workflow queue them (store/outbox.py keys each on workflow, step and party).
Recipients are the roster snapshot's people of the bloc: BLOC_REPRESENTATIVE holders (one party each) and the
BLOC_HEAD holders. Times are shown in Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from domain.bloc.ranking import Standings
from domain.bloc.rotation import BlocLeadership, FlagHandover
from domain.calendar import local_time_vi
from domain.notices import NotificationDraft
from domain.roster import Actor, Role, RosterSnapshot


def _local(moment: datetime) -> str:
    return local_time_vi(moment)


def _points(value: object) -> str:
    return str(value).replace(".", ",")


def bloc_label_vi(snapshot: RosterSnapshot, bloc: str) -> str:
    return snapshot.bloc.name if snapshot.bloc is not None and snapshot.bloc.code == bloc else f"Khối thi đua {bloc}"


def representatives(snapshot: RosterSnapshot, bloc: str, members: Collection[str] | None = None) -> list[Actor]:
    """The bloc's representatives (of `members` only, when given), roster order."""
    found = snapshot.holders(Role.BLOC_REPRESENTATIVE, bloc)
    return [a for a in found if members is None or a.organisation in members]


def _to_each(actors: Sequence[Actor], subject: str, body: str) -> list[NotificationDraft]:
    return [
        NotificationDraft(
            party=f"BLOC_REPRESENTATIVE:{actor.id}",
            recipients=(str(actor.email),) if actor.email else (),
            subject=subject,
            body=body,
        )
        for actor in actors
    ]


def _to_heads(snapshot: RosterSnapshot, bloc: str, subject: str, body: str) -> list[NotificationDraft]:
    heads = snapshot.holders(Role.BLOC_HEAD, bloc)
    if not heads:
        return []
    return [
        NotificationDraft(
            party=f"BLOC_HEAD:{bloc}",
            recipients=tuple(str(a.email) for a in heads if a.email),
            subject=subject,
            body=body,
        )
    ]


def pledge_published(
    snapshot: RosterSnapshot, bloc: str, year: int, policy_version: str, policy_name_vi: str
) -> list[NotificationDraft]:
    """Every representative is asked to sign the year's pledge (giao ước thi đua)."""
    label = bloc_label_vi(snapshot, bloc)
    return _to_each(
        representatives(snapshot, bloc),
        f"[TĐKT] {label}: mời ký giao ước thi đua năm {year}",
        (
            f"Khối trưởng đã công bố giao ước thi đua năm {year} của {label} theo bảng chấm điểm "
            f"{policy_name_vi} ({policy_version}).\n"
            "Đề nghị đại diện đơn vị ký giao ước cho đơn vị mình (starter.py bloc-year sign, API, hoặc trang "
            "Hộp thư)."
        ),
    )


def assessment_reminder(
    snapshot: RosterSnapshot, bloc: str, year: int, missing: Collection[str], deadline: datetime
) -> list[NotificationDraft]:
    """The representatives of members that have not submitted their self-assessment, before the deadline."""
    label = bloc_label_vi(snapshot, bloc)
    return _to_each(
        representatives(snapshot, bloc, missing),
        f"[TĐKT] {label}: nhắc nộp bản tự chấm điểm năm {year}",
        (
            f"Đơn vị chưa nộp bản tự chấm điểm năm {year}. Hạn nộp: {_local(deadline)}.\n"
            "Đơn vị không nộp đúng hạn được xử lý theo bảng chấm điểm của Khối "
            "(starter.py bloc-year submit, API, hoặc trang Hộp thư)."
        ),
    )


def ranking_published(snapshot: RosterSnapshot, bloc: str, year: int, standings: Standings) -> list[NotificationDraft]:
    """The ranking of the year, to every representative and the head: ranks and totals only."""
    label = bloc_label_vi(snapshot, bloc)
    lines = [
        f"{row.rank}. {row.member}: {_points(row.total)} điểm" + (" (đồng hạng)" if row.tied else "")
        for row in standings.rows
    ]
    if standings.unranked:
        lines.append("Không xếp hạng (không nộp bản tự chấm điểm): " + ", ".join(standings.unranked))
    subject = f"[TĐKT] {label}: công bố kết quả chấm điểm, xếp hạng năm {year}"
    body = f"Kết quả chấm điểm, xếp hạng năm {year} (bảng {standings.policy_version}):\n" + "\n".join(lines)
    return _to_each(representatives(snapshot, bloc), subject, body) + _to_heads(snapshot, bloc, subject, body)


def honouring_opened(
    snapshot: RosterSnapshot,
    bloc: str,
    year: int,
    award_name_vi: str,
    candidates: Sequence[str],
    seats: int,
    deadline: datetime,
    session_id: str,
) -> list[NotificationDraft]:
    """The representatives are called to the honouring vote (suy tôn) of one tier."""
    label = bloc_label_vi(snapshot, bloc)
    return _to_each(
        representatives(snapshot, bloc),
        f"[TĐKT] {label}: bỏ phiếu suy tôn {award_name_vi} năm {year}",
        (
            f"Phiên bỏ phiếu kín suy tôn {award_name_vi} ({session_id}) đã mở: {len(candidates)} đơn vị "
            f"({', '.join(candidates)}) cho {seats} chỉ tiêu. Hạn bỏ phiếu: {_local(deadline)}.\n"
            "Phiếu được niêm phong, không ai xem được lựa chọn của từng người (starter.py ballot cast, hoặc "
            "trang Hộp thư)."
        ),
    )


def head_in_office(
    snapshot: RosterSnapshot, leadership: BlocLeadership, flag: FlagHandover | None
) -> list[NotificationDraft]:
    """Next year's head and deputy take office (and the Cờ luân lưu passes): everyone in the bloc is told."""
    label = bloc_label_vi(snapshot, leadership.bloc)
    handed = f"\nCờ luân lưu được bàn giao từ {flag.from_member} sang {flag.to_member}." if flag is not None else ""
    subject = f"[TĐKT] {label}: Khối trưởng năm {leadership.year} nhận nhiệm vụ"
    body = (
        f"Từ năm {leadership.year}, {leadership.head} là Khối trưởng, {leadership.deputy} là Khối phó "
        f"của {label}.{handed}\nGiao ước thi đua năm {leadership.year} sẽ được Khối trưởng công bố để các "
        "đơn vị ký."
    )
    return _to_each(representatives(snapshot, leadership.bloc), subject, body) + _to_heads(
        snapshot, leadership.bloc, subject, body
    )
