"""Who may take a bloc year's act, against the roster, and what a person's organisation must do now.

The act's rule (domain.bloc.year.BLOC_YEAR_RULES) names the kind of actor; the roster decides who that is:

* HEAD: holds BLOC_HEAD for the bloc (the khối trưởng's representative).
* MEMBER_REPRESENTATIVE: holds BLOC_REPRESENTATIVE for the bloc and belongs to (`organisation`) the member
  the action is for (the pledge it signs, the self-assessment it submits): one organisation never acts for
  another.
* PANEL (chấm chéo): a representative of the year's head or deputy organisation, or the head.

The clients (API, CLI, inbox) ask this before anything is sent; the workflow checks the same rules again
against its own roster snapshot. Refusals are Vietnamese and name the role they need. Pure: the caller reads
the roster and the year's status.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from domain.bloc.rotation import BlocLeadership
from domain.bloc.year import (
    BLOC_YEAR_RULES,
    ActorKind,
    BlocYearAct,
    BlocYearPhase,
    BlocYearStatus,
)
from domain.roster import ROLE_LABELS_VI, Actor, Role

PANEL_LABEL_VI = "tổ chấm chéo (đại diện Khối trưởng, hoặc đại diện đơn vị Khối trưởng, Khối phó)"


def _role_vi(role: Role) -> str:
    return f"{ROLE_LABELS_VI[role]} ({role.value})"


def represented_member(actor: Actor | None, bloc: str) -> str | None:
    """The member organisation a person represents in the bloc (their `organisation`), or None when they hold
    no BLOC_REPRESENTATIVE role there."""
    if actor is None or not actor.holds(Role.BLOC_REPRESENTATIVE, bloc):
        return None
    return actor.organisation


def opener_refusal(actor: Actor | None, actor_id: str, bloc: str) -> str | None:
    """Only the bloc head opens the bloc's year."""
    if actor is None:
        return f"{actor_id} không có trong danh sách cán bộ (roster): không được mở năm thi đua của Khối {bloc}"
    if not actor.holds(Role.BLOC_HEAD, bloc):
        return (
            f"{actor_id} không giữ vai trò {_role_vi(Role.BLOC_HEAD)} của Khối {bloc}: chỉ "
            f"{ROLE_LABELS_VI[Role.BLOC_HEAD]} được mở năm thi đua của Khối"
        )
    return None


def outsider_refusal(act: BlocYearAct, actor: Actor | None, actor_id: str, bloc: str) -> str | None:
    """Someone who holds no role in the bloc takes none of its year's acts: said before anything about the
    year is read, so the answer is the same whether or not that year exists."""
    if actor is not None and any(actor.holds(role, bloc) for role in (Role.BLOC_HEAD, Role.BLOC_REPRESENTATIVE)):
        return None
    return (
        f"{actor_id} không giữ vai trò {_role_vi(Role.BLOC_HEAD)} hay {_role_vi(Role.BLOC_REPRESENTATIVE)} "
        f"nào của Khối {bloc}: không được {BLOC_YEAR_RULES[act].label_vi}"
    )


def act_refusal(
    act: BlocYearAct,
    actor: Actor | None,
    actor_id: str,
    bloc: str,
    leadership: BlocLeadership,
    member: str | None = None,
) -> str | None:
    """Why this person may not take the act in this bloc year (None: they may), by the roster alone; the
    phase, a double signature and the payload are the workflow's to judge. `member`: the organisation the act
    is for (SignPledge.member, the assessment's member), for a member representative's act."""
    rule = BLOC_YEAR_RULES[act]
    if actor is None:
        return f"{actor_id} không có trong danh sách cán bộ (roster): không được {rule.label_vi}"
    if rule.who == ActorKind.HEAD:
        if actor.holds(Role.BLOC_HEAD, bloc):
            return None
        return (
            f"{actor_id} không giữ vai trò {_role_vi(Role.BLOC_HEAD)} của Khối {bloc}: chỉ "
            f"{ROLE_LABELS_VI[Role.BLOC_HEAD]} được {rule.label_vi}"
        )
    if rule.who == ActorKind.MEMBER_REPRESENTATIVE:
        represented = represented_member(actor, bloc)
        if represented is None:
            return (
                f"{actor_id} không giữ vai trò {_role_vi(Role.BLOC_REPRESENTATIVE)} của Khối {bloc}: chỉ đại diện "
                f"đơn vị thành viên được {rule.label_vi}"
            )
        if member is not None and represented != member:
            return (
                f"{actor_id} là {ROLE_LABELS_VI[Role.BLOC_REPRESENTATIVE]} của {represented}, không phải của "
                f"{member} (member): mỗi đơn vị chỉ {rule.label_vi} cho chính mình"
            )
        return None
    # PANEL
    if actor.holds(Role.BLOC_HEAD, bloc) or represented_member(actor, bloc) in (leadership.head, leadership.deputy):
        return None
    return (
        f"{actor_id} không thuộc {PANEL_LABEL_VI} của Khối {bloc} năm {leadership.year} "
        f"({_role_vi(Role.BLOC_HEAD)}, hoặc {_role_vi(Role.BLOC_REPRESENTATIVE)} của {leadership.head} hoặc "
        f"{leadership.deputy}): không được {rule.label_vi}"
    )


# ---- what my organisation must do now -------------------------------------------------------------------

VOTE = "VOTE"  # a task beside the acts: a ballot in an honouring session of the bloc

TASK_LABELS_VI: dict[str, str] = {
    BlocYearAct.PUBLISH_PLEDGE: "Công bố giao ước thi đua",
    BlocYearAct.SIGN_PLEDGE: "Ký giao ước thi đua",
    BlocYearAct.CALL_FOR_ASSESSMENTS: "Đề nghị các đơn vị tự chấm điểm",
    BlocYearAct.SUBMIT_ASSESSMENT: "Nộp bản tự chấm điểm",
    BlocYearAct.ADJUST_SCORE: "Chấm chéo, điều chỉnh điểm",
    BlocYearAct.CLOSE_REVIEW: "Kết thúc chấm chéo, công bố xếp hạng",
    BlocYearAct.OPEN_HONOURING: "Mở phiên bỏ phiếu suy tôn",
    BlocYearAct.RECORD_ELECTION: "Ghi nhận Khối trưởng, Khối phó năm sau",
    VOTE: "Bỏ phiếu suy tôn",
}


class BlocYearTask(BaseModel):
    """One thing a person's organisation (or the head) must do in a bloc year now."""

    model_config = ConfigDict(frozen=True)
    bloc_year_id: str
    bloc: str
    year: int
    kind: str  # a BlocYearAct value, or VOTE
    label_vi: str
    member: str | None = None  # the organisation it is for (a representative's task)
    due: datetime | None = None
    session_id: str | None = None  # VOTE: the honouring session


def tasks_for(
    status: BlocYearStatus, actor: Actor, *, voting_sessions: Collection[str] = (), voted: Collection[str] = ()
) -> list[BlocYearTask]:
    """What the person must do in this bloc year now: as their organisation's representative, sign the
    pledge, submit the self-assessment, vote in an honouring session that is open (`voting_sessions`) and in
    which they have not voted (`voted`); as the head, the head's act of the phase."""

    def task(
        kind: str, member: str | None = None, due: datetime | None = None, session_id: str | None = None
    ) -> BlocYearTask:
        return BlocYearTask(
            bloc_year_id=status.bloc_year_id,
            bloc=status.bloc,
            year=status.year,
            kind=kind,
            label_vi=TASK_LABELS_VI[kind],
            member=member,
            due=due,
            session_id=session_id,
        )

    tasks: list[BlocYearTask] = []
    member = represented_member(actor, status.bloc)
    if member is not None and member in status.members:
        if status.phase == BlocYearPhase.PLEDGE and member not in {s.member for s in status.signatures}:
            tasks.append(task(BlocYearAct.SIGN_PLEDGE, member))
        if status.phase == BlocYearPhase.SELF_ASSESSMENT and member not in {a.member for a in status.assessments}:
            tasks.append(task(BlocYearAct.SUBMIT_ASSESSMENT, member, due=status.assessment_deadline))
        if status.phase == BlocYearPhase.HONOURING:
            for tier in status.tiers:
                if tier.session_id in voting_sessions and tier.session_id not in voted:
                    tasks.append(task(VOTE, member, session_id=tier.session_id))
    if actor.holds(Role.BLOC_HEAD, status.bloc):
        head_act = {
            BlocYearPhase.DRAFT: BlocYearAct.PUBLISH_PLEDGE,
            BlocYearPhase.IN_YEAR: BlocYearAct.CALL_FOR_ASSESSMENTS,
            BlocYearPhase.REVIEW: BlocYearAct.CLOSE_REVIEW,
            BlocYearPhase.ELECTION: BlocYearAct.RECORD_ELECTION,
        }.get(status.phase)
        if status.phase == BlocYearPhase.HONOURING and not any(t.session_id in voting_sessions for t in status.tiers):
            head_act = BlocYearAct.OPEN_HONOURING
        if head_act is not None:
            tasks.append(task(head_act))
    return tasks
