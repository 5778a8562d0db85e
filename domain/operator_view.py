"""What operators see of a nomination in Temporal without reading its payloads: stuck work at a glance.

Three search attributes beside the stage and its due date (`StageDueAt`) say why a nomination is not moving:
`OnHold` (put on hold: nothing moves and its deadlines stop), `Overdue` (its stage's due date passed and the
head of the body was told; cleared when the stage moves or is given a new due date) and `AwaitingRole` (the
role whose action the stage waits for, read from the procedure's table). The workflow's current details say
the same in Vietnamese ("QUÁ HẠN …", "TẠM DỪNG …", what is awaited, times in Vietnam's time zone).

The static summary and details are fixed at start and read in the Temporal UI without the codec server, so
they are built here from the award form, the ministry, the year and the route only: never from the nominee,
the proposer or the dossier (docs/operations.md, "Stuck work at a glance").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from domain.ballot_messages import SessionPhase, SessionRow
from domain.calendar import local_time_vi
from domain.messages import HoldView
from domain.procedure import (
    ANY_STAGE,
    DECISION_CLERKS,
    STEPS,
    Action,
    Body,
    Deadlines,
    NominationState,
    Step,
    required_grants,
)
from domain.roster import ROLE_LABELS_VI, Role, RosterSnapshot
from domain.stages import Stage
from domain.transitions import RouteState

# The person's step that moves each stage on: the stage waits for whoever the table lets take it.
AWAITED_STEP: Mapping[Stage, Step] = MappingProxyType(
    {
        Stage.PUBLIC_NOTICE: Step.OBJECTION_RESOLVED,  # only while an objection is open; else the notice's end
        Stage.COUNCIL_REVIEW: Step.COUNCIL_RESULT,
        Stage.BLOC_VOTE: Step.BLOC_RESULT,
        Stage.CENTRAL_REVIEW: Step.APPROVE,
        Stage.AWAITING_DECISION: Step.DECISION,
        Stage.RETURNED: Step.RESUBMIT,
    }
)

_BODY_ROLES: Mapping[Body, Role] = MappingProxyType(
    {
        Body.UNIT: Role.UNIT_STAFF,
        Body.SECRETARIAT: Role.COUNCIL_SECRETARY,
        Body.BLOC_HEAD: Role.BLOC_HEAD,
        Body.CENTRAL: Role.CENTRAL_OFFICER,
    }
)

OVERDUE_VI = "QUÁ HẠN"
ON_HOLD_VI = "TẠM DỪNG"
LATE_VI = "TRỄ HẠN"  # due date passed, nothing recorded yet (the engine has not caught up)


def body_role(body: Body, decided_by: str | None, from_bloc: bool = False) -> Role | None:
    """The role a body acts through; the decision clerk's depends on who decides (None: nobody records it), the
    proposer's on whether the bloc proposed it (its head) or a unit (its staff)."""
    if body == Body.DECISION_CLERK:
        return DECISION_CLERKS.get(str(decided_by))
    if body == Body.PROPOSER:
        return Role.BLOC_HEAD if from_bloc else Role.UNIT_STAFF
    return _BODY_ROLES[body]


def awaited_role(
    route: RouteState, decided_by: str | None, holder: Role | None = None, from_bloc: bool = False
) -> Role | None:
    """The role whose action the nomination waits for: on hold, `holder` (who may release it); during the
    public notice, the secretariat only while an objection is open (else the notice's end, no one); an ended
    nomination, no one."""
    stage = route.stage
    if stage.is_final:
        return None
    if route.on_hold:
        return holder
    if stage == Stage.PUBLIC_NOTICE and not route.open_objections:
        return None
    step = AWAITED_STEP.get(stage)
    if step is None:
        return None
    who = STEPS[step].who
    bodies = who.get(stage, who.get(ANY_STAGE, ()))
    return body_role(bodies[0], decided_by, from_bloc) if bodies else None


def holder_role(snapshot: RosterSnapshot | None, held_by: str, stage: Stage) -> Role | None:
    """Whose release a hold waits for: of the roles that may release it, the one the person who put it on hold
    holds (the secretariat's hold is the secretariat's to lift), else the first the table names."""
    if snapshot is None:
        return None
    grants = required_grants(Action.RELEASE, stage, snapshot)
    actor = snapshot.actor(held_by)
    for grant in grants:
        if actor is not None and actor.holds(grant.role, grant.scope):
            return grant.role
    return grants[0].role if grants else None


def is_overdue(route: RouteState, deadlines: Deadlines) -> bool:
    """The stage's due date passed with the nomination still in it (the escalation was taken). A hold does not
    clear it: the stage is still late, and OnHold says why nothing moves."""
    return deadlines.escalated and not route.stage.is_final


@dataclass(frozen=True)
class OperatorView:
    """What the search attributes show; the workflow upserts the ones that changed."""

    stage: Stage
    due_at: datetime | None
    on_hold: bool
    overdue: bool
    awaiting: Role | None


def operator_view(state: NominationState) -> OperatorView:
    route = state.route
    holder = holder_role(state.snapshot, state.hold.by, state.stage) if state.hold is not None else None
    return OperatorView(
        stage=state.stage,
        due_at=state.current_due(),
        on_hold=route.on_hold,
        overdue=is_overdue(route, state.deadlines),
        awaiting=awaited_role(route, state.form.decided_by.value, holder, state.from_bloc),
    )


def awaiting_vi(role: Role | None) -> str:
    return f"{ROLE_LABELS_VI[role]} ({role.value})" if role is not None else "không ai (hệ thống tự chuyển khi đến hạn)"


def current_details_vi(
    view: OperatorView, waiting_for_vi: str, *, hold: HoldView | None = None, overdue_since: datetime | None = None
) -> str:
    """The workflow's current details (Markdown in the Temporal UI): late or held first, then the stage, what
    it waits for and whose action, and the due date, in Vietnam's time. No names: the hold's ground, not its
    reason (free text that may name people)."""
    lines = []
    if view.overdue:
        since = f" từ {local_time_vi(overdue_since)}" if overdue_since is not None else ""
        lines.append(f"**{OVERDUE_VI}**{since} — giai đoạn {view.stage.label_vi} chưa được xử lý đúng hạn")
    if view.on_hold and hold is not None:
        lines.append(
            f"**{ON_HOLD_VI}** từ {local_time_vi(hold.since)} — người được đề nghị {hold.ground_vi}; "
            "thời hạn dừng lại cho đến khi tiếp tục"
        )
    elif view.on_hold:
        lines.append(f"**{ON_HOLD_VI}** — thời hạn dừng lại cho đến khi tiếp tục")
    lines.append(f"**{view.stage.label_vi}** ({view.stage.status_vi})")
    if not view.stage.is_final:
        waiting = f"tiếp tục xét (sau khi {ON_HOLD_VI.lower()})" if view.on_hold else waiting_for_vi
        lines.append(f"Chờ: {waiting} — {awaiting_vi(view.awaiting)}")
    if view.due_at is not None:
        lines.append(f"Hạn: {local_time_vi(view.due_at)} (giờ Việt Nam)")
    return "\n\n".join(lines)


def summary_vi(award_name_vi: str, ministry: str, year: int) -> str:
    """The static summary, readable without the codec server: the form, the ministry and the year only."""
    return f"{award_name_vi} – {ministry} – năm {year}"


def static_details_vi(
    award_name_vi: str, award_form: str, ministry: str, year: int, route: tuple[Stage, ...], authority_vi: str
) -> str:
    """The static details (Markdown): the form, the ministry, the year, the route and who decides."""
    steps = " → ".join(stage.label_vi for stage in route)
    return "\n\n".join(
        [
            f"**{award_name_vi}** ({award_form}), năm {year}",
            f"Bộ, ngành đề nghị: {ministry}",
            f"Quy trình: {steps or '—'} → {authority_vi} quyết định",
        ]
    )


def stuck_marks(on_hold: bool, overdue: bool, due_at: datetime | None, now: datetime) -> tuple[str, ...]:
    """Why a running nomination is in the operators' stuck table (empty: it is not): held, overdue (escalated),
    or late — its due date passed with nothing recorded yet (the engine has not caught up: a worker down)."""
    marks = []
    if overdue:
        marks.append(OVERDUE_VI)
    if on_hold:
        marks.append(ON_HOLD_VI)
    if not overdue and not on_hold and due_at is not None and due_at <= now:
        marks.append(LATE_VI)
    return tuple(marks)


# ---- ballot sessions and decisions: their current details ---------------------------------------------------

_SESSION_PHASES_VI: Mapping[SessionPhase, str] = MappingProxyType(
    {
        SessionPhase.COLLECTING: "Đang lập danh sách — chờ người mở phiên chốt danh sách",
        SessionPhase.VOTING: "Đang bỏ phiếu",
        SessionPhase.AWAITING_CHAIR: (
            f"**{OVERDUE_VI}** — hết hạn bỏ phiếu mà chưa đủ túc số: chờ chủ trì gia hạn hoặc hủy phiên"
        ),
        SessionPhase.AWAITING_HEAD: "Hòa phiếu sau các vòng bỏ phiếu lại — chờ Khối trưởng quyết định",
        SessionPhase.AWAITING_COUNT: "Hết vòng bỏ phiếu — chờ Ban kiểm phiếu nộp phần khóa để kiểm phiếu",
        SessionPhase.CLOSED: "Đã kiểm phiếu, kết quả đã gửi tới các hồ sơ",
        SessionPhase.CANCELLED: "Đã hủy phiên",
    }
)


def session_details_vi(row: SessionRow) -> str:
    """A ballot session's current details: its phase (overdue when the deadline passed without a quorum), the
    deadline in Vietnam's time and counts only — never who voted."""
    lines = [_SESSION_PHASES_VI[row.phase]]
    if row.phase in (SessionPhase.COLLECTING, SessionPhase.VOTING, SessionPhase.AWAITING_CHAIR):
        lines.append(f"Hạn bỏ phiếu: {local_time_vi(row.deadline)} (giờ Việt Nam)")
    lines.append(f"Danh sách: {row.candidates} hồ sơ · đã bỏ phiếu: {row.voted}/{row.electorate_size}")
    return "\n\n".join(lines)


def decision_details_vi(decision_no: str, total: int, answered: int, accepted: int) -> str:
    """A decision's current details: how many of its nominations have answered and how many took it."""
    if answered < total:
        state = f"Đang áp dụng: {answered}/{total} hồ sơ đã trả lời"
    else:
        state = f"Đã áp dụng cho cả {total} hồ sơ"
    return f"**Quyết định {decision_no}** — {state} ({accepted} nhận, {answered - accepted} không nhận)"
