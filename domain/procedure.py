"""The nomination procedure as data, and the rules around each of its steps.

STEPS holds one row per step a nomination can take: a person's action (a workflow update) or the engine's
own (a deadline reached, a ballot session's verdict). Each row says the event it produces, who may take it
in which stage, the name the audit chain and `stage_events` keep, and the Vietnamese narration staff read.
Beside it, pure functions for what the workflow decides around a step: whether an actor may take it now,
a stage's deadlines and how a hold moves them, which voting policy a vote is judged by, what a resubmission
may not change. NominationState is everything a nomination workflow knows, in one place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol

from domain.ballot_messages import BallotVerdict, ListLeaving
from domain.bloc.policy import bloc_scoring_policy_for
from domain.calendar import WorkingCalendar
from domain.catalog import (
    AUTHORITY_LABELS_VI,
    BLOC_ORIGIN_POLICY,
    AwardForm,
    PolicySet,
    VotingPolicy,
    policy_set,
    route_for,
)
from domain.decisions import DecisionRef
from domain.identity import normalised_name
from domain.messages import (
    HoldView,
    NominationStart,
    Objection,
    ObjectionDecision,
    ObjectionResolution,
    TransitionView,
)
from domain.nomination import (
    BlocOrigin,
    CollectiveNominee,
    IndividualNominee,
    Nomination,
    catalog_errors,
    nominee_identity_key,
)
from domain.roster import CENTRAL_SCOPE, ROLE_LABELS_VI, Role, RoleGrant, RosterSnapshot
from domain.stages import Stage
from domain.transitions import (
    Approved,
    DecisionRecorded,
    Event,
    Held,
    Lapsed,
    Noted,
    NoticeElapsed,
    ObjectionDismissed,
    ObjectionFiled,
    ObjectionUpheld,
    Refusal,
    Rejected,
    Released,
    Resubmitted,
    ReturnedForSupplement,
    RouteState,
    Submitted,
    Withdrawn,
    transition,
)
from domain.voting import Tally


class Action(StrEnum):
    """What a person may be authorised to do; the name a refusal gives it."""

    PROPOSE = "PROPOSE"  # start a nomination: the unit's own staff, for their ministry
    RECORD_COUNCIL_RESULT = "RECORD_COUNCIL_RESULT"
    RECORD_BLOC_RESULT = "RECORD_BLOC_RESULT"
    APPROVE = "APPROVE"
    REJECT = "REJECT"
    RETURN = "RETURN"
    RESUBMIT = "RESUBMIT"
    WITHDRAW = "WITHDRAW"
    HOLD = "HOLD"
    RELEASE = "RELEASE"
    RESOLVE_OBJECTION = "RESOLVE_OBJECTION"
    REQUEST_CONSULTATION = "REQUEST_CONSULTATION"
    RECORD_DECISION = "RECORD_DECISION"


class Body(StrEnum):
    """Who may act, relative to the nomination; resolved against its roster snapshot to a role and scope."""

    UNIT = "UNIT"  # the ministry's unit staff (the roster records no unit inside a ministry)
    # Whoever proposed it: the ministry's unit staff, or for the bloc's own proposal the head of its bloc (a
    # returned proposal goes back to whoever proposed it, and only they resubmit or withdraw it).
    PROPOSER = "PROPOSER"
    SECRETARIAT = "SECRETARIAT"  # the ministry's council secretary (Vụ TĐKT)
    BLOC_HEAD = "BLOC_HEAD"  # the head of the ministry's bloc; no one when the ministry has no bloc
    CENTRAL = "CENTRAL"  # the central board's officers (Ban TĐKT Trung ương)
    DECISION_CLERK = "DECISION_CLERK"  # records the deciding authority's decision (DECISION_CLERKS)


# Who records a decision on the deciding authority's behalf: the ministry's secretariat for the minister
# (or the agency head), the central board for the Prime Minister and the President.
DECISION_CLERKS = {
    "MINISTER": Role.COUNCIL_SECRETARY,
    "AGENCY_HEAD": Role.COUNCIL_SECRETARY,
    "PRIME_MINISTER": Role.CENTRAL_OFFICER,
    "PRESIDENT": Role.CENTRAL_OFFICER,
}

# `StepRule.who` keys: a stage, or ANY_STAGE when the stage does not matter to who may act (whether the
# stage allows the step at all is the transition's business).
ANY_STAGE = None
Who = Mapping[Stage | None, tuple[Body, ...]]


class Step(StrEnum):
    SUBMIT = "SUBMIT"
    NOTICE_ELAPSED = "NOTICE_ELAPSED"
    OBJECTION_FILED = "OBJECTION_FILED"
    OBJECTION_RESOLVED = "OBJECTION_RESOLVED"
    COUNCIL_RESULT = "COUNCIL_RESULT"
    BLOC_RESULT = "BLOC_RESULT"
    BALLOT_RESULT = "BALLOT_RESULT"
    CONSULTATION = "CONSULTATION"
    APPROVE = "APPROVE"  # appraised: the signing authority's decision follows
    APPROVE_WITH_DECISION = "APPROVE_WITH_DECISION"  # the approval carries the decision's number and date
    REJECT = "REJECT"
    RETURN = "RETURN"
    RETURN_REMINDER = "RETURN_REMINDER"
    RESUBMIT = "RESUBMIT"
    LAPSED = "LAPSED"
    ESCALATED = "ESCALATED"
    HOLD = "HOLD"
    RELEASE = "RELEASE"
    WITHDRAW = "WITHDRAW"
    DECISION = "DECISION"


@dataclass(frozen=True)
class StepRule:
    audit: str  # the action's name in stage_events and the audit chain
    narration_vi: str  # a str.format template; the workflow gives the facts
    event: Event | None  # None: built from the payload (a vote's outcome, an objection's resolution)
    update: str | None = None  # the workflow update a person sends; None: the engine's own step
    action: Action | None = None  # what the actor must be authorised for; None: no actor to authorise
    who: Who = field(default_factory=dict)
    by_proposer: bool = False  # a proposer may take it on their own nomination (else never: not their call)


_STAGE_HOLDER: Who = {
    Stage.PUBLIC_NOTICE: (Body.SECRETARIAT,),
    Stage.COUNCIL_REVIEW: (Body.SECRETARIAT,),
    Stage.BLOC_VOTE: (Body.BLOC_HEAD,),
    Stage.CENTRAL_REVIEW: (Body.CENTRAL,),
}
_PROPOSER: Who = {ANY_STAGE: (Body.PROPOSER,)}
# Discipline, investigation or a complaint may reach the secretariat or the central board.
_HOLDERS: Who = {ANY_STAGE: (Body.SECRETARIAT, Body.CENTRAL)}
_CENTRAL: Who = {Stage.CENTRAL_REVIEW: (Body.CENTRAL,)}

STEPS: Mapping[Step, StepRule] = MappingProxyType(
    {
        Step.SUBMIT: StepRule(
            "SUBMIT",
            "Đơn vị nộp hồ sơ đề nghị",
            Submitted(),
            action=Action.PROPOSE,
            who={Stage.PROPOSED: (Body.UNIT,)},
            by_proposer=True,
        ),
        Step.NOTICE_ELAPSED: StepRule(
            "NOTICE_ELAPSED", "Hết thời hạn công khai (đến {notice_ends_at})", NoticeElapsed()
        ),
        Step.OBJECTION_FILED: StepRule(
            "OBJECTION_FILED",
            "Nhận ý kiến phản ánh số {objection_id}: hồ sơ chờ Cơ quan thường trực xử lý",
            ObjectionFiled(),
            update="file_objection",
        ),
        Step.OBJECTION_RESOLVED: StepRule(
            "OBJECTION_RESOLVED",
            "Ý kiến phản ánh số {objection_id}: {verdict_vi} ({reason})",
            None,
            update="resolve_objection",
            action=Action.RESOLVE_OBJECTION,
            who={Stage.PUBLIC_NOTICE: (Body.SECRETARIAT,)},
        ),
        Step.COUNCIL_RESULT: StepRule(
            "RECORD_COUNCIL_RESULT",
            "{outcome_vi}",
            None,
            update="record_council_result",
            action=Action.RECORD_COUNCIL_RESULT,
            who={Stage.COUNCIL_REVIEW: (Body.SECRETARIAT,)},
        ),
        Step.BLOC_RESULT: StepRule(
            "RECORD_BLOC_RESULT",
            "{outcome_vi}",
            None,
            update="record_bloc_result",
            action=Action.RECORD_BLOC_RESULT,
            who={Stage.BLOC_VOTE: (Body.BLOC_HEAD,)},
        ),
        Step.BALLOT_RESULT: StepRule(
            "BALLOT_RESULT", "Kết quả bỏ phiếu kín ({session_id}, vòng {round}): {outcome_vi}", None
        ),
        Step.CONSULTATION: StepRule(
            "CONSULTATION",
            "Lấy ý kiến {agencies}: hạn thẩm định {due_at}",
            Noted(at_stage=Stage.CENTRAL_REVIEW),
            update="request_consultation",
            action=Action.REQUEST_CONSULTATION,
            who=_CENTRAL,
        ),
        Step.APPROVE: StepRule(
            "APPROVE",
            "Ban TĐKT Trung ương thẩm định đạt, trình {authority_vi} quyết định khen thưởng",
            Approved(decided=False),
            update="approve",
            action=Action.APPROVE,
            who=_CENTRAL,
        ),
        Step.APPROVE_WITH_DECISION: StepRule(
            "APPROVE",
            "Ban TĐKT Trung ương trình {authority_vi} khen thưởng: quyết định số {decision_no} ngày {decision_date}",
            Approved(),
            update="approve",
            action=Action.APPROVE,
            who=_CENTRAL,
        ),
        Step.REJECT: StepRule(
            "REJECT",
            "Không trình khen thưởng: {reason}",
            Rejected(),
            update="reject",
            action=Action.REJECT,
            who=_CENTRAL,
        ),
        Step.RETURN: StepRule(
            "RETURN",
            "Trả lại hồ sơ để bổ sung: {reason}",
            ReturnedForSupplement(),
            update="return_dossier",
            action=Action.RETURN,
            who=_STAGE_HOLDER,
        ),
        Step.RETURN_REMINDER: StepRule(
            "RETURN_REMINDER", "Nhắc đơn vị: hạn nộp lại hồ sơ bổ sung là {return_due_at}", Noted()
        ),
        Step.RESUBMIT: StepRule(
            "RESUBMIT",
            "Đơn vị nộp lại hồ sơ đã bổ sung",
            Resubmitted(),
            update="resubmit",
            action=Action.RESUBMIT,
            who=_PROPOSER,
            by_proposer=True,
        ),
        Step.LAPSED: StepRule("LAPSED", "Quá hạn bổ sung hồ sơ: đề nghị không còn hiệu lực", Lapsed()),
        Step.ESCALATED: StepRule("ESCALATED", "Quá hạn xử lý ở giai đoạn {stage_vi} (hạn {due_at})", Noted()),
        Step.HOLD: StepRule(
            "HOLD",
            "Tạm dừng xét khen thưởng: người được đề nghị {ground_vi} ({reason})",
            Held(),
            update="hold",
            action=Action.HOLD,
            who=_HOLDERS,
        ),
        Step.RELEASE: StepRule(
            "RELEASE",
            "Tiếp tục xét khen thưởng sau {held_days} ngày tạm dừng ({reason})",
            Released(),
            update="release",
            action=Action.RELEASE,
            who=_HOLDERS,
        ),
        Step.WITHDRAW: StepRule(
            "WITHDRAW",
            "Đơn vị rút đề nghị: {reason}",
            Withdrawn(),
            update="withdraw",
            action=Action.WITHDRAW,
            who=_PROPOSER,
            by_proposer=True,
        ),
        Step.DECISION: StepRule(
            "DECISION",
            "{authority_vi} quyết định khen thưởng: quyết định số {decision_no} ngày {decision_date}",
            DecisionRecorded(),
            update="record_decision",
            action=Action.RECORD_DECISION,
            who={Stage.AWAITING_DECISION: (Body.DECISION_CLERK,)},
        ),
    }
)

OBJECTION_VERDICTS_VI: Mapping[ObjectionDecision, str] = MappingProxyType(
    {
        ObjectionDecision.DISMISS: "không có cơ sở, tiếp tục công khai",
        ObjectionDecision.UPHOLD_REJECT: "có cơ sở, không đề nghị khen thưởng",
        ObjectionDecision.UPHOLD_RETURN: "có cơ sở, trả lại hồ sơ để bổ sung",
    }
)

# What identifies a nomination (its workflow id and its row): a resubmission corrects the dossier only.
FIXED_ON_RESUBMISSION = ("reference", "year", "ministry", "award_form")


def narrate(step: Step, **facts: object) -> str:
    return STEPS[step].narration_vi.format(**facts)


class Acting(Protocol):
    """A payload naming who acts and through which interface (a person's action, a decision)."""

    @property
    def actor(self) -> str: ...

    @property
    def channel(self) -> str: ...


@dataclass(frozen=True)
class Move:
    """One step as a workflow takes it: who took it, through which interface and why, the event when the
    step's own is not fixed, and what its transition records (`details`) and narrates (`facts`)."""

    step: Step
    actor: str | None = None  # None: the engine's own step (a deadline, a verdict) or an anonymous filing
    channel: str | None = None
    reason: str | None = None
    event: Event | None = None
    tally: dict[str, Any] | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    facts: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def by(cls, step: Step, who: Acting, **rest: Any) -> Move:
        return cls(step, actor=who.actor, channel=who.channel, **rest)

    @property
    def audit(self) -> str:
        return STEPS[self.step].audit

    def the_event(self) -> Event:
        event = self.event if self.event is not None else STEPS[self.step].event
        assert event is not None, f"{self.step} needs its event"
        return event

    def narration_vi(self) -> str:
        return narrate(self.step, reason=self.reason, **self.facts)


def tally_record(tally: Tally) -> dict[str, Any]:
    """A tally as a transition records it: the counts and the abstentions they imply."""
    return tally.model_dump() | {"abstaining": tally.abstaining}


def rule_of(action: Action) -> StepRule:
    return next(rule for rule in STEPS.values() if rule.action == action)


# ---- who may act --------------------------------------------------------------------------------------


def _grant(
    body: Body, snapshot: RosterSnapshot, decided_by: str | None, origin: BlocOrigin | None = None
) -> RoleGrant | None:
    ministry = snapshot.ministry.code
    match body:
        case Body.UNIT:
            return RoleGrant(role=Role.UNIT_STAFF, scope=ministry)
        case Body.PROPOSER:
            if origin is not None:
                return RoleGrant(role=Role.BLOC_HEAD, scope=origin.bloc)
            return RoleGrant(role=Role.UNIT_STAFF, scope=ministry)
        case Body.SECRETARIAT:
            return RoleGrant(role=Role.COUNCIL_SECRETARY, scope=ministry)
        case Body.BLOC_HEAD:
            return RoleGrant(role=Role.BLOC_HEAD, scope=snapshot.bloc.code) if snapshot.bloc else None
        case Body.CENTRAL:
            return RoleGrant(role=Role.CENTRAL_OFFICER, scope=CENTRAL_SCOPE)
        case Body.DECISION_CLERK:
            clerk = DECISION_CLERKS.get(str(decided_by))
            if clerk is None:
                return None
            return _grant(Body.SECRETARIAT if clerk == Role.COUNCIL_SECRETARY else Body.CENTRAL, snapshot, None)


def required_grants(
    action: Action,
    stage: Stage,
    snapshot: RosterSnapshot,
    decided_by: str | None = None,
    origin: BlocOrigin | None = None,
) -> list[RoleGrant]:
    """The roles (any one of them, with its scope) an action needs in a stage; empty when the action has no
    place there. `origin`: the bloc's own proposal, whose proposer is the head of that bloc."""
    who = rule_of(action).who
    bodies = who.get(stage, who.get(ANY_STAGE, ()))
    grants = (_grant(body, snapshot, decided_by, origin) for body in bodies)
    return [g for g in grants if g is not None]


def authorisation_error(
    snapshot: RosterSnapshot,
    actor_id: str,
    action: Action,
    stage: Stage,
    decided_by: str | None = None,
    origin: BlocOrigin | None = None,
) -> str | None:
    """Why this actor may not take this action now, or None when they may."""
    actor = snapshot.actor(actor_id)
    grants = required_grants(action, stage, snapshot, decided_by, origin)
    needed = " or ".join(f"{g.role.value} for {g.scope} ({ROLE_LABELS_VI[g.role]})" for g in grants)
    if actor is None:
        problem = f"actor {actor_id!r} is unknown or has no role on nominations of {snapshot.ministry.code}"
        return f"{problem}; {action.value} needs role {needed}" if grants else problem
    if not grants:
        return f"{action.value} is not possible in stage {stage.value} ({stage.label_vi})"
    if not any(actor.holds(g.role, g.scope) for g in grants):
        return f"actor {actor_id!r} may not {action.value} in {stage.value}: needs role {needed}"
    return None


def proposal_error(snapshot: RosterSnapshot, proposer: str) -> str | None:
    """Why this actor may not propose (start) a nomination of the snapshot's ministry, or None when they may:
    the ministry's unit staff propose; no one else (council, bloc, central board, someone off the roster)."""
    problem = authorisation_error(snapshot, proposer, Action.PROPOSE, Stage.PROPOSED)
    if problem is None:
        return None
    return f"proposing a nomination of {snapshot.ministry.code} ({snapshot.ministry.name}): {problem}"


def bloc_origin_error(snapshot: RosterSnapshot, nomination: Nomination) -> str | None:
    """Why this bloc-origin nomination cannot be proposed, or None: the bloc's own proposal at its year's
    honouring is proposed by a BLOC_HEAD of `origin.bloc`, for the whole of a member organisation of that bloc
    (a COLLECTIVE nominee named as the roster names the member: the identity claim is then the one the member's
    own proposal of itself would make, so the two can never both run), for an award form the bloc's honours
    policy names, in the origin's year. `snapshot` is the member's (`nomination.ministry`) roster."""
    origin = nomination.origin
    assert origin is not None
    member = snapshot.ministry
    actor = snapshot.actor(nomination.proposer)
    if actor is None or not actor.holds(Role.BLOC_HEAD, origin.bloc):
        role = f"{Role.BLOC_HEAD.value} for {origin.bloc} ({ROLE_LABELS_VI[Role.BLOC_HEAD]})"
        return (
            f"proposer: actor {nomination.proposer!r} may not propose on behalf of bloc {origin.bloc}: "
            f"a bloc's own proposal needs role {role}"
        )
    if snapshot.bloc is None or snapshot.bloc.code != origin.bloc:
        return f"ministry: {member.code} ({member.name}) is not a member organisation of bloc {origin.bloc}"
    nominee = nomination.nominee
    if not isinstance(nominee, CollectiveNominee) or normalised_name(nominee.name) != normalised_name(member.name):
        return (
            f"nominee: a bloc's own proposal is for the member organisation as a whole: a COLLECTIVE nominee "
            f"named {member.name!r}"
        )
    if origin.year != nomination.year:
        return f"origin.year: {origin.year} is not the nomination's year {nomination.year}"
    try:
        honours = bloc_scoring_policy_for(origin.bloc, origin.year).honours
    except LookupError:
        return f"origin: bloc {origin.bloc} has no scoring table in force for {origin.year}, so no honours"
    forms = [tier.award_form for tier in honours]
    if nomination.award_form not in forms:
        return (
            f"award_form: the honours of bloc {origin.bloc} for {origin.year} name {', '.join(forms) or 'no form'}, "
            f"not {nomination.award_form}"
        )
    return None


def proposal_refusal(snapshot: RosterSnapshot, nomination: Nomination) -> str | None:
    """Why this nomination cannot be proposed by its proposer (the unit's staff for their ministry, or the bloc
    head for the bloc's own proposal), or None."""
    if nomination.origin is not None:
        return bloc_origin_error(snapshot, nomination)
    problem = proposal_error(snapshot, nomination.proposer)
    return f"proposer: {problem}" if problem is not None else None


# ---- events built from a payload ----------------------------------------------------------------------


def objection_event(decision: ObjectionDecision) -> Event:
    if decision == ObjectionDecision.DISMISS:
        return ObjectionDismissed()
    return ObjectionUpheld(outcome="REJECT" if decision == ObjectionDecision.UPHOLD_REJECT else "RETURN")


def vote_policy(policy: PolicySet, form: AwardForm, stage: Stage, origin: BlocOrigin | None = None) -> VotingPolicy:
    """The voting policy a council's or bloc's vote on this form is judged by (a bloc's own proposal: the
    bloc's majority policy); ValueError when the route has no such vote."""
    if origin is not None:
        if stage == Stage.BLOC_VOTE:
            return policy.voting_policies[BLOC_ORIGIN_POLICY]
        raise ValueError(f"a bloc's own proposal of {form.code} has no {stage.value} on its route")
    if stage == Stage.COUNCIL_REVIEW and form.council_policy:
        return policy.council_policy(form.code)
    if stage == Stage.BLOC_VOTE and form.bloc_policy:
        return policy.bloc_policy(form.code)
    raise ValueError(f"{form.code} has no {stage.value} on its route")


def resubmission_error(original: Nomination, corrected: Nomination, policy: PolicySet) -> str | None:
    """Why a corrected dossier cannot replace the original, or None: it may correct the dossier and what it
    says, never which nomination it is nor who is nominated."""
    for name in FIXED_ON_RESUBMISSION:
        if getattr(corrected, name) != getattr(original, name):
            return f"nomination.{name}: a resubmission cannot change {name}"
    nominee = corrected.nominee
    if isinstance(nominee, IndividualNominee) and nominee.personal_id is not None:
        return (
            "nomination.nominee.personal_id: the identification number must not reach the engine in clear; "
            "the client sends its keyed hash"
        )
    if nominee_identity_key(corrected) != nominee_identity_key(original):
        # The claim on this nominee is this nomination's: another nominee needs a nomination of their own.
        return (
            "nomination.nominee: a resubmission cannot change who is nominated (name, unit or "
            "identification number); withdraw this nomination and propose the other nominee anew"
        )
    errors = catalog_errors(corrected, policy)
    return "; ".join(f"nomination.{e}" for e in errors) if errors else None


# ---- deadlines ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deadlines:
    """The current stage's deadlines; those the stage does not have are None."""

    entered_at: datetime | None = None
    notice_ends_at: datetime | None = None  # PUBLIC_NOTICE: the list is published until then
    due_at: datetime | None = None  # an appraisal's or a ballot session's deadline: a breach escalates once
    due_session: str | None = None  # the ballot session whose deadline `due_at` is
    escalated: bool = False
    return_due_at: datetime | None = None  # RETURNED: resubmit by then, or the nomination lapses
    return_reminded: bool = False

    def details(self) -> dict[str, str]:
        """What the transition into the stage records of them."""
        if self.notice_ends_at is not None and self.entered_at is not None:
            return {"notice_starts_at": self.entered_at.isoformat(), "notice_ends_at": self.notice_ends_at.isoformat()}
        if self.return_due_at is not None:
            return {"return_due_at": self.return_due_at.isoformat()}
        if self.due_at is not None:
            return {"due_at": self.due_at.isoformat()}
        return {}


def deadlines_on_entry(
    stage: Stage, now: datetime, policy: PolicySet, calendar: WorkingCalendar, notice_seconds: int | None = None
) -> Deadlines:
    """The deadlines of a stage entered now. `notice_seconds`: a demo's public notice of seconds."""
    time = policy.time
    if stage == Stage.PUBLIC_NOTICE:
        if notice_seconds is not None:
            ends_at = now + timedelta(seconds=notice_seconds)
        else:
            ends_at = calendar.deadline_after(now, time.public_notice_working_days)
        return Deadlines(entered_at=now, notice_ends_at=ends_at)
    if stage == Stage.CENTRAL_REVIEW:
        return Deadlines(entered_at=now, due_at=calendar.deadline_after(now, time.central_appraisal_working_days))
    if stage == Stage.RETURNED and policy.enforces_return_deadline:
        return Deadlines(
            entered_at=now, return_due_at=calendar.deadline_after(now, time.return_supplement_working_days)
        )
    return Deadlines(entered_at=now)


def consultation_due(deadlines: Deadlines, policy: PolicySet, calendar: WorkingCalendar) -> datetime:
    """The appraisal's deadline once other agencies are consulted: the longer period, from the stage's start."""
    assert deadlines.entered_at is not None  # a stage entered by a transition has its start
    return calendar.deadline_after(deadlines.entered_at, policy.time.central_appraisal_with_consultation_working_days)


def resumed_after_hold(
    deadlines: Deadlines, since: datetime, until: datetime, calendar: WorkingCalendar, notice_in_seconds: bool
) -> Deadlines:
    """Deadlines stop while a nomination is on hold: each resumes with the working days it had left (a demo's
    notice of seconds, with the time it had left)."""

    def resumed(deadline: datetime | None) -> datetime | None:
        return calendar.resume_after_hold(deadline, since, until) if deadline else None

    notice = deadlines.notice_ends_at
    return dataclasses.replace(
        deadlines,
        notice_ends_at=(notice + (until - since) if notice else None) if notice_in_seconds else resumed(notice),
        due_at=resumed(deadlines.due_at),
        return_due_at=resumed(deadlines.return_due_at),
    )


def next_deadline(
    route: RouteState, deadlines: Deadlines, policy: PolicySet, calendar: WorkingCalendar
) -> tuple[datetime, Step] | None:
    """The current stage's next deadline and the step taken when it comes; None while on hold (nothing moves
    and deadlines stop) or when the stage has none ahead."""
    if route.on_hold:
        return None
    stage = route.stage
    if stage == Stage.PUBLIC_NOTICE and deadlines.notice_ends_at and not route.open_objections:
        return deadlines.notice_ends_at, Step.NOTICE_ELAPSED
    if stage == Stage.RETURNED and deadlines.return_due_at is not None:
        days_before = policy.time.return_reminder_working_days_before or 0
        remind_at = calendar.deadline_before(deadlines.return_due_at, days_before)
        if not deadlines.return_reminded and remind_at < deadlines.return_due_at:
            return remind_at, Step.RETURN_REMINDER
        return deadlines.return_due_at, Step.LAPSED
    appraised = stage in (Stage.COUNCIL_REVIEW, Stage.BLOC_VOTE, Stage.CENTRAL_REVIEW)
    if appraised and deadlines.due_at and not deadlines.escalated:
        return deadlines.due_at, Step.ESCALATED
    return None


def deadline_move(step: Step, stage: Stage, deadlines: Deadlines) -> Move:
    """The engine's step when the stage's deadline `step` (from next_deadline) comes."""

    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    match step:
        case Step.NOTICE_ELAPSED:
            ends_at = iso(deadlines.notice_ends_at)
            return Move(step, details={"notice_ends_at": ends_at}, facts={"notice_ends_at": ends_at})
        case Step.RETURN_REMINDER:
            due = iso(deadlines.return_due_at)
            return Move(step, details={"return_due_at": due}, facts={"return_due_at": due})
        case Step.LAPSED:
            return Move(step, details={"return_due_at": iso(deadlines.return_due_at)})
        case Step.ESCALATED:
            due = iso(deadlines.due_at)
            return Move(step, details={"due_at": due}, facts={"stage_vi": stage.label_vi, "due_at": due})
    raise ValueError(f"{step} is not a deadline's step")


def reached(step: Step, deadlines: Deadlines) -> Deadlines:
    """The deadlines once `step` was taken for them: a reminder is sent once, a breach escalated once."""
    if step == Step.RETURN_REMINDER:
        return dataclasses.replace(deadlines, return_reminded=True)
    if step == Step.ESCALATED:
        return dataclasses.replace(deadlines, escalated=True)
    return deadlines


def current_due(route: RouteState, deadlines: Deadlines) -> datetime | None:
    """When the current stage is due (None on hold): what StageDueAt and the status show."""
    if route.on_hold:
        return None
    if route.stage == Stage.PUBLIC_NOTICE:
        return deadlines.notice_ends_at
    if route.stage == Stage.RETURNED:
        return deadlines.return_due_at
    return deadlines.due_at


# ---- the state of one nomination ----------------------------------------------------------------------


@dataclass
class NominationState:
    """What a nomination workflow knows: the nomination, where it stands, its deadlines, and its place on a
    ballot session's list. The workflow changes it only inside a transition or a signal handler."""

    nomination: Nomination
    policy: PolicySet
    form: AwardForm
    calendar: WorkingCalendar
    route: RouteState
    notice_seconds: int | None = None
    snapshot: RosterSnapshot | None = None  # None until registration read the roster
    deadlines: Deadlines = Deadlines()
    hold: HoldView | None = None
    objections: list[Objection] = field(default_factory=list)
    transitions: list[TransitionView] = field(default_factory=list)
    decision_no: str | None = None
    decided_by: str | None = None
    refusal_reason: str | None = None  # REFUSED at registration: why
    ballot_session: str | None = None  # the open ballot session whose list holds it
    exit: ListLeaving | None = None  # how it last left a council or bloc stage (session id blank)
    stage_changes: int = 0  # tells an offer to a session whether the nomination moved while it was made
    pending_verdict: BallotVerdict | None = None  # a verdict that came while on hold: applied on release

    @classmethod
    def starting(cls, start: NominationStart) -> NominationState:
        policy = policy_set(start.policy_version)
        form = policy.form(start.nomination.award_form)
        return cls(
            nomination=start.nomination,
            policy=policy,
            form=form,
            calendar=policy.calendar.working_calendar(),
            route=RouteState(stage=Stage.PROPOSED, route=route_for(form, start.nomination.origin)),
            notice_seconds=start.public_notice_seconds,
        )

    @property
    def stage(self) -> Stage:
        return self.route.stage

    @property
    def from_bloc(self) -> bool:
        """The bloc's own proposal: it waits at the bloc vote for the honouring session that names it."""
        return self.nomination.origin is not None

    @property
    def bloc(self) -> str | None:
        return self.snapshot.bloc.code if self.snapshot and self.snapshot.bloc else None

    @property
    def authority_vi(self) -> str:
        return AUTHORITY_LABELS_VI[self.form.decided_by]

    def refusal(self, step: Step, actor: str, event: Event | None = None) -> str | None:
        """Why `actor` may not take this step now, or None: the route must allow its event, the roster must
        authorise the actor, and a proposer may not decide on their own nomination."""
        if self.snapshot is None and not self.stage.is_final:
            return "the nomination is still being registered; try again in a moment"
        rule = STEPS[step]
        event = event if event is not None else rule.event
        assert event is not None and rule.action is not None, f"{step} is not a person's step"
        outcome = transition(self.route, event)
        if isinstance(outcome, Refusal):
            return outcome.reason
        assert self.snapshot is not None  # registered: every stage but a final one follows it
        problem = authorisation_error(
            self.snapshot, actor, rule.action, self.stage, self.form.decided_by.value, self.nomination.origin
        )
        if problem:
            return problem
        if actor == self.nomination.proposer and not rule.by_proposer:
            return f"actor {actor!r} proposed this nomination and may not decide on it"
        return None

    def vote_policy(self, stage: Stage) -> VotingPolicy:
        return vote_policy(self.policy, self.form, stage, self.nomination.origin)

    def hold_refusal(self, actor: str) -> str | None:
        if self.hold is not None:
            return f"the nomination is already on hold since {self.hold.since.isoformat()}"
        return self.refusal(Step.HOLD, actor)

    def release_refusal(self, actor: str) -> str | None:
        if self.hold is None:
            return "the nomination is not on hold"
        return self.refusal(Step.RELEASE, actor)

    def filing_refusal(self, now: datetime) -> str | None:
        """Why an objection cannot be filed now: only during the public notice, until it ends."""
        outcome = transition(self.route, ObjectionFiled())
        if isinstance(outcome, Refusal):
            return f"objections are received only during the public notice: {outcome.reason}"
        ends_at = self.deadlines.notice_ends_at
        if ends_at is not None and now >= ends_at:
            return f"the public notice ended at {ends_at.isoformat()}"
        return None

    def resolution_refusal(self, resolution: ObjectionResolution) -> str | None:
        open_ids = [o.id for o in self.objections if o.resolution is None]
        if resolution.objection_id not in open_ids:
            return f"objection_id: {resolution.objection_id} is not an open objection (open: {open_ids})"
        return self.refusal(Step.OBJECTION_RESOLVED, resolution.actor, objection_event(resolution.decision))

    def decision_refusal(self, decision: DecisionRef) -> str | None:
        """Why this decision cannot be recorded on the nomination now, or None."""
        if self.stage == Stage.AWARDED:
            return f"the nomination is already decided (decision {self.decision_no}); not on two decisions"
        if decision.authority != self.form.decided_by:
            return (
                f"authority: {self.form.name_vi} is decided by {self.form.decided_by.value}, "
                f"not {decision.authority.value}"
            )
        return self.refusal(Step.DECISION, decision.actor)

    def awarded_by(self, decision: DecisionRef) -> bool:
        return self.stage == Stage.AWARDED and self.decision_no == decision.decision_no

    def escalation_target(self, step: Step) -> Stage | None:
        """Whose head is told when this step is taken: the stage that returned a lapsed dossier, or the stage
        that is overdue."""
        if step == Step.LAPSED:
            return self.route.returned_from
        if step == Step.ESCALATED:
            return self.stage
        return None

    def next_deadline(self) -> tuple[datetime, Step] | None:
        return next_deadline(self.route, self.deadlines, self.policy, self.calendar)

    def current_due(self) -> datetime | None:
        return current_due(self.route, self.deadlines)

    def reach(self, step: Step) -> Move:
        """The engine's step at the stage's deadline, marking a reminder or an escalation as done."""
        move = deadline_move(step, self.stage, self.deadlines)
        self.deadlines = reached(step, self.deadlines)
        return move

    def extend_appraisal(self, due_at: datetime) -> None:
        self.deadlines = dataclasses.replace(self.deadlines, due_at=due_at, escalated=False)

    def consultation_due(self) -> datetime:
        return consultation_due(self.deadlines, self.policy, self.calendar)

    def schedule(self, session_id: str, deadline: datetime) -> None:
        """A ballot session holding the nomination votes until `deadline`: the stage is due then."""
        self.deadlines = dataclasses.replace(self.deadlines, due_at=deadline, escalated=False, due_session=session_id)

    def unschedule(self, session_id: str) -> bool:
        """The session the stage was due with is cancelled: no longer due (until a next session sets a date);
        whether the due date changed."""
        if self.deadlines.due_session != session_id:
            return False
        self.deadlines = dataclasses.replace(self.deadlines, due_at=None, escalated=False, due_session=None)
        return True

    def enter(self, stage: Stage, now: datetime) -> dict[str, str]:
        """Set the deadlines of a stage being entered; returns what its transition records of them."""
        self.deadlines = deadlines_on_entry(stage, now, self.policy, self.calendar, self.notice_seconds)
        return self.deadlines.details()

    def resume(self, since: datetime, until: datetime) -> None:
        self.deadlines = resumed_after_hold(
            self.deadlines, since, until, self.calendar, self.notice_seconds is not None
        )
