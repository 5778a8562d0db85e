"""What a ballot session tells voters and chairs (Vietnamese), as outbox drafts."""

from __future__ import annotations

from datetime import datetime

from domain.ballots import BallotSessionKind
from domain.calendar import local_time_vi
from domain.notices import NotificationDraft
from domain.roster import RosterSnapshot


def session_label_vi(kind: BallotSessionKind, scope: str, meeting_ref: str) -> str:
    body = "Hội đồng TĐKT" if kind == BallotSessionKind.COUNCIL else "Khối thi đua"
    return f"Phiên bỏ phiếu kín {body} {scope} ({meeting_ref})"


def _local(moment: datetime) -> str:
    return local_time_vi(moment)


def _emails(snapshot: RosterSnapshot, actor_ids: list[str]) -> tuple[str, ...]:
    found = (snapshot.actor(a) for a in actor_ids)
    return tuple(str(a.email) for a in found if a is not None and a.email)


def voting_opened(
    label: str, voter_ids: list[str], candidates: int, deadline: datetime, snapshot: RosterSnapshot
) -> list[NotificationDraft]:
    return [
        NotificationDraft(
            party=f"VOTER:{voter}",
            recipients=_emails(snapshot, [voter]),
            subject=f"[TĐKT] {label}: mời bỏ phiếu",
            body=(
                f"{label} đã mở với {candidates} hồ sơ đề nghị. Hạn bỏ phiếu: {_local(deadline)}.\n"
                "Mỗi thành viên gửi một phiếu cho toàn bộ danh sách; phiếu được niêm phong, không ai xem được "
                "lựa chọn của từng người."
            ),
        )
        for voter in voter_ids
    ]


def reminder(label: str, voter_ids: list[str], deadline: datetime, snapshot: RosterSnapshot) -> list[NotificationDraft]:
    return [
        NotificationDraft(
            party=f"VOTER:{voter}",
            recipients=_emails(snapshot, [voter]),
            subject=f"[TĐKT] {label}: nhắc bỏ phiếu",
            body=f"Đồng chí chưa gửi phiếu. Hạn bỏ phiếu: {_local(deadline)}.",
        )
        for voter in voter_ids
    ]


def quorum_missed(
    label: str, chair_ids: list[str], voted: int, eligible: int, snapshot: RosterSnapshot
) -> list[NotificationDraft]:
    return [
        NotificationDraft(
            party=f"CHAIR:{','.join(chair_ids)}",
            recipients=_emails(snapshot, chair_ids),
            subject=f"[TĐKT] {label}: hết hạn nhưng chưa đủ số phiếu",
            body=(
                f"Đã hết hạn bỏ phiếu, mới có {voted}/{eligible} thành viên gửi phiếu, chưa đủ số lượng tối thiểu.\n"
                "Chủ trì phiên có thể gia hạn hoặc hủy phiên bỏ phiếu."
            ),
        )
    ]


def runoff_opened(
    label: str, voter_ids: list[str], tied: list[str], deadline: datetime, snapshot: RosterSnapshot
) -> list[NotificationDraft]:
    return [
        NotificationDraft(
            party=f"VOTER:{voter}",
            recipients=_emails(snapshot, [voter]),
            subject=f"[TĐKT] {label}: bỏ phiếu vòng hai",
            body=(
                f"Có {len(tied)} hồ sơ bằng số phiếu tại vị trí cuối của chỉ tiêu; mời bỏ phiếu vòng hai giữa các hồ "
                f"sơ này. Hạn bỏ phiếu: {_local(deadline)}."
            ),
        )
        for voter in voter_ids
    ]


def tie_decision_needed(
    label: str, head_ids: list[str], tied: list[str], seats_left: int, rounds: int, snapshot: RosterSnapshot
) -> list[NotificationDraft]:
    """The bloc head is told that a tie outlasted the runoff rounds and waits for their recorded decision."""
    return [
        NotificationDraft(
            party=f"BLOC_HEAD:{','.join(head_ids)}",
            recipients=_emails(snapshot, head_ids),
            subject=f"[TĐKT] {label}: cần Trưởng Khối quyết định",
            body=(
                f"Sau {rounds} vòng bỏ phiếu, {len(tied)} hồ sơ vẫn bằng số phiếu tại vị trí cuối của chỉ tiêu: "
                f"{', '.join(tied)}.\n"
                f"Đề nghị Trưởng Khối quyết định chọn {seats_left} hồ sơ trong số này "
                "(starter.py ballot decide-tie hoặc API decide-tie); quyết định được ghi vào biên bản và nhật ký."
            ),
        )
    ]


def candidate_struck(
    label: str, voter_ids: list[str], workflow_id: str, reason_vi: str, snapshot: RosterSnapshot
) -> list[NotificationDraft]:
    """Voters are told that a nomination left the list while voting was open: it is struck out, and any
    choice on it (cast or still to be cast) is void."""
    return [
        NotificationDraft(
            party=f"VOTER:{voter}",
            recipients=_emails(snapshot, [voter]),
            subject=f"[TĐKT] {label}: một hồ sơ rút khỏi danh sách",
            body=(
                f"Hồ sơ {workflow_id} đã rút khỏi danh sách bỏ phiếu: {reason_vi}.\n"
                "Hồ sơ được gạch khỏi phiếu; lựa chọn cho hồ sơ này (đã gửi hoặc chưa) không được tính. "
                "Phiếu không cần ghi lựa chọn cho hồ sơ này."
            ),
        )
        for voter in voter_ids
    ]


def count_needed(
    label: str, member_ids: list[str], threshold: int, ballots: int, snapshot: RosterSnapshot
) -> list[NotificationDraft]:
    """The round's voting is over: the counting committee's members who have not handed in their share yet
    are asked to (any `threshold` of them open the count)."""
    return [
        NotificationDraft(
            party=f"COUNTER:{member}",
            recipients=_emails(snapshot, [member]),
            subject=f"[TĐKT] {label}: mời Ban kiểm phiếu nộp mảnh khóa",
            body=(
                f"Đã kết thúc bỏ phiếu với {ballots} phiếu kín. Cần {threshold} thành viên Ban kiểm phiếu nộp "
                "mảnh khóa của mình để mở và kiểm phiếu (ballot hand-in, hoặc trang Hộp thư).\n"
                "Khóa chỉ được dựng lại trong bộ nhớ khi kiểm phiếu và bị hủy khi phiên kết thúc."
            ),
        )
        for member in member_ids
    ]
