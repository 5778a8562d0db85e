"""Who is told of a transition, and what they read (Vietnamese)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from domain.roster import CENTRAL_SCOPE, Role, RosterSnapshot
from domain.stages import Stage


class NotificationDraft(BaseModel):
    """One message to one party about one transition; the outbox keys it on (workflow, seq, party)."""

    model_config = ConfigDict(frozen=True)
    party: str
    recipients: tuple[str, ...]
    subject: str
    body: str


def waiting_for_vi(stage: Stage, snapshot: RosterSnapshot | None) -> str:
    ministry = snapshot.ministry.name if snapshot else "Bộ"
    bloc = snapshot.bloc.name if snapshot and snapshot.bloc else "Khối thi đua"
    return {
        Stage.PROPOSED: "Tiếp nhận hồ sơ đề nghị",
        Stage.PUBLIC_NOTICE: "Hết thời hạn công khai danh sách đề nghị",
        Stage.COUNCIL_REVIEW: f"Thư ký Hội đồng TĐKT {ministry} ghi kết quả họp Hội đồng",
        Stage.BLOC_VOTE: f"Khối trưởng {bloc} ghi kết quả bỏ phiếu của Khối",
        Stage.CENTRAL_REVIEW: "Ban TĐKT Trung ương thẩm định: trình khen thưởng, không trình, hoặc trả lại hồ sơ",
        Stage.AWAITING_DECISION: "Cấp có thẩm quyền ký quyết định khen thưởng",
        Stage.RETURNED: "Đơn vị đề xuất bổ sung hồ sơ và nộp lại",
    }.get(stage, "Không chờ gì: hồ sơ đã kết thúc")


def head_of_body(stage: Stage, snapshot: RosterSnapshot) -> tuple[str, tuple[str, ...]] | None:
    """Who is told when a stage is overdue: the council's chair, the bloc head, the central board's head."""
    ministry = snapshot.ministry.code
    heads = {
        Stage.COUNCIL_REVIEW: (f"COUNCIL_CHAIR:{ministry}", Role.COUNCIL_CHAIR, ministry),
        Stage.CENTRAL_REVIEW: (f"CENTRAL_HEAD:{CENTRAL_SCOPE}", Role.CENTRAL_HEAD, CENTRAL_SCOPE),
    }
    if snapshot.bloc is not None:
        heads[Stage.BLOC_VOTE] = (f"BLOC_HEAD:{snapshot.bloc.code}", Role.BLOC_HEAD, snapshot.bloc.code)
    if stage not in heads:
        return None
    party, role, scope = heads[stage]
    return party, _emails(snapshot, [a.id for a in snapshot.holders(role, scope)])


def _emails(snapshot: RosterSnapshot, actor_ids: list[str]) -> tuple[str, ...]:
    emails = []
    for actor_id in actor_ids:
        actor = snapshot.actor(actor_id)
        if actor is not None and actor.email:
            emails.append(str(actor.email))
    return tuple(emails)


def parties_to_notify(
    to_stage: Stage, stage_changed: bool, proposer: str, snapshot: RosterSnapshot
) -> list[tuple[str, tuple[str, ...]]]:
    """The proposing unit on every change; the body that must act next when the nomination reaches it."""
    ministry = snapshot.ministry.code
    parties = [(f"UNIT:{ministry}:{proposer}", _emails(snapshot, [proposer]))]
    if not stage_changed:
        return parties
    body_holders = {
        # The list's publication goes to the secretariat, which receives and resolves objections.
        Stage.PUBLIC_NOTICE: (f"SECRETARIAT:{ministry}", Role.COUNCIL_SECRETARY, ministry),
        Stage.COUNCIL_REVIEW: (f"COUNCIL:{ministry}", Role.COUNCIL_SECRETARY, ministry),
        Stage.CENTRAL_REVIEW: (f"CENTRAL:{CENTRAL_SCOPE}", Role.CENTRAL_OFFICER, CENTRAL_SCOPE),
    }
    if snapshot.bloc is not None:
        body_holders[Stage.BLOC_VOTE] = (f"BLOC:{snapshot.bloc.code}", Role.BLOC_HEAD, snapshot.bloc.code)
    if to_stage in body_holders:
        party, role, scope = body_holders[to_stage]
        parties.append((party, _emails(snapshot, [a.id for a in snapshot.holders(role, scope)])))
    return parties


def draft_notifications(
    *,
    workflow_id: str,
    nominee_name: str,
    award_name_vi: str,
    from_stage: Stage | None,
    to_stage: Stage,
    outcome_vi: str,
    proposer: str,
    snapshot: RosterSnapshot,
    escalate_to: Stage | None = None,
) -> list[NotificationDraft]:
    """One draft per party. `escalate_to`: a deadline passed in that stage, so the head of its body is told
    as well (an overdue appraisal; a returned dossier that lapsed)."""
    changed = from_stage != to_stage
    subject = f"[TĐKT] {award_name_vi} – {nominee_name}: {to_stage.label_vi}"
    drafts = []
    parties = parties_to_notify(to_stage, changed, proposer, snapshot)
    head = head_of_body(escalate_to, snapshot) if escalate_to is not None else None
    if head is not None:
        parties.append(head)
        subject = f"[TĐKT] QUÁ HẠN – {award_name_vi} – {nominee_name}: {to_stage.label_vi}"
    for party, recipients in parties:
        body = (
            f"Hồ sơ đề nghị {award_name_vi} cho {nominee_name} (mã {workflow_id}).\n"
            f"Giai đoạn: {from_stage.label_vi if from_stage else '—'} → {to_stage.label_vi}"
            f" (trạng thái: {to_stage.status_vi}).\n"
            f"Nội dung: {outcome_vi}\n"
            f"Việc tiếp theo: {waiting_for_vi(to_stage, snapshot)}."
        )
        drafts.append(NotificationDraft(party=party, recipients=recipients, subject=subject, body=body))
    return drafts
