"""The state of one bloc year and its rules: which act is allowed in which phase and by whom (the procedure
table domain.bloc.year.BLOC_YEAR_RULES read against the year's roster snapshot, domain.bloc.year_actors), what
each act changes, and the write each change leads to (BlocYearWrite: the row, the document, the audit entry
and the notices; activities/bloc_year.py persists it, keyed on the workflow id and the write's step).

Pure: the workflow gives the times (workflow.now()), the roster snapshot and the policy's version; every
refusal is a Vietnamese sentence naming the field at fault.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.ballot_messages import session_workflow_id
from domain.ballots import BallotSessionKind
from domain.bloc import notices as bloc_notices
from domain.bloc.honouring import TierCandidates, honour_tier_candidates
from domain.bloc.policy import (
    BlocScoringPolicy,
    bloc_rotation,
    bloc_scoring_policies,
    bloc_scoring_policy,
    bloc_scoring_policy_for,
)
from domain.bloc.ranking import Standings, propose_honours, rank_members
from domain.bloc.rotation import (
    BlocLeadership,
    FlagHandover,
    elected_leadership_errors,
    flag_handover,
    next_leadership,
)
from domain.bloc.scoring import (
    CriterionAdjustment,
    Scorecard,
    SelfAssessment,
    adjustment_errors,
    assessment_errors,
    missing_submissions,
    score_member,
    submission_deadline,
    submission_reminder_at,
)
from domain.bloc.year import (
    BLOC_YEAR_RULES,
    PHASE_LABELS_VI,
    SYSTEM_ACTOR,
    AdjustmentRecord,
    AdjustScore,
    AssessmentReceipt,
    BlocRoster,
    BlocYearAct,
    BlocYearPhase,
    BlocYearRecord,
    BlocYearStart,
    BlocYearStatus,
    CallForAssessments,
    CloseReview,
    ElectionMethod,
    HonourTierOutcome,
    OpenHonouring,
    PledgeSignature,
    PublishPledge,
    RecordElection,
    SignPledge,
    SubmitAssessment,
)
from domain.bloc.year_actors import act_refusal, opener_refusal
from domain.calendar import VIETNAM_TZ
from domain.catalog import DocumentKind
from domain.errors import FieldError
from domain.messages import HumanAction
from domain.nomination import BlocOrigin, CollectiveNominee, DossierDocument, Nomination
from domain.notices import NotificationDraft
from domain.roster import Role
from domain.stages import Stage

BlocYearPayload = (
    PublishPledge
    | SignPledge
    | CallForAssessments
    | SubmitAssessment
    | AdjustScore
    | CloseReview
    | OpenHonouring
    | RecordElection
)

# The writes that are not a person's act.
OPENED = "BLOC_YEAR_OPENED"
REMINDED = "ASSESSMENT_REMINDER"
SUBMISSIONS_CLOSED = "SUBMISSIONS_CLOSED"
TIER_OPENED = "HONOURING_TIER_OPENED"
TIER_VOTED = "HONOURING_TIER_VOTED"
TIER_VOIDED = "HONOURING_TIER_VOIDED"
HONOURING_DONE = "HONOURING_DONE"
HANDED_OVER = "HANDED_OVER"
PROPOSAL_ENDED = "PROPOSAL_ENDED"
CLOSED = "BLOC_YEAR_CLOSED"


def warm_bloc_data() -> None:
    """Read the scoring tables and rotation orders once, outside the workflow sandbox (cached)."""
    for policy in bloc_scoring_policies().values():
        bloc_rotation(policy.bloc)


def assessment_sha256(assessment: SelfAssessment) -> str:
    """The content hash of a self-assessment: SHA-256 of its canonical JSON (sorted keys, no spaces)."""
    return hashlib.sha256(_canonical(assessment.model_dump(mode="json"))).hexdigest()


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def new_year_day(year: int) -> datetime:
    """00:00 on 1 January of `year`, Vietnam time: when the next head takes office."""
    return datetime(year, 1, 1, tzinfo=VIETNAM_TZ)


def _phase_vi(phase: BlocYearPhase) -> str:
    return f"«{PHASE_LABELS_VI[phase]}»"


def _fields(errors: Iterable[FieldError], prefix: str = "") -> str | None:
    text = "; ".join(f"{prefix}{e.field}: {e.message}" for e in errors)
    return text or None


class BlocYearRow(BaseModel):
    """The bloc year's row in the register."""

    model_config = ConfigDict(frozen=True)
    bloc: str
    year: int
    phase: BlocYearPhase
    head: str
    deputy: str
    policy_version: str | None
    next_head: str | None = None
    next_deputy: str | None = None
    next_year_id: str | None = None
    previous_year_id: str | None = None


class ElectionRecord(BaseModel):
    model_config = ConfigDict(frozen=True)
    leadership: BlocLeadership
    method: ElectionMethod
    minutes_ref: str | None


class BlocYearWrite(BaseModel):
    """One step of a bloc year as the register keeps it: the row as it now stands, what the step adds (a
    signature, a self-assessment with its hash, an adjustment, the scores and ranking, the election, the
    flag's handover, the tiers), its audit entry and its notices. Keyed on (workflow_id, step)."""

    model_config = ConfigDict(frozen=True)
    workflow_id: str
    step: int
    action: str
    actor: str
    channel: str
    from_phase: BlocYearPhase
    to_phase: BlocYearPhase
    occurred_at: datetime
    outcome: str
    details: dict[str, Any] = Field(default_factory=dict)  # ids, codes and counts only
    row: BlocYearRow
    signature: PledgeSignature | None = None
    assessment: SelfAssessment | None = None
    receipt: AssessmentReceipt | None = None
    adjustment: AdjustmentRecord | None = None
    scored: bool = False  # the scorecards, standings and suggestion are (re)written with this step
    scorecards: list[Scorecard] = Field(default_factory=list)
    standings: Standings | None = None
    election: ElectionRecord | None = None
    flag: FlagHandover | None = None
    tiers: list[HonourTierOutcome] = Field(default_factory=list)
    notifications: list[NotificationDraft] = Field(default_factory=list)


class BlocYearState:
    """The bloc year's record and the rules over it."""

    def __init__(self, record: BlocYearRecord, start: BlocYearStart) -> None:
        self.r = record
        self.start = start

    @classmethod
    def opening(cls, workflow_id: str, start: BlocYearStart) -> BlocYearState:
        if start.carried is not None:
            return cls(start.carried, start)
        record = BlocYearRecord(
            bloc_year_id=workflow_id,
            bloc=start.bloc,
            year=start.year,
            leadership=start.leadership,
            flag_in=start.flag,
        )
        return cls(record, start)

    # ---- what it holds -----------------------------------------------------------------------------

    @property
    def phase(self) -> BlocYearPhase:
        return self.r.phase

    @property
    def roster(self) -> BlocRoster:
        if self.r.roster is None:
            raise RuntimeError("the bloc year's roster is not loaded yet")
        return self.r.roster

    @property
    def members(self) -> tuple[str, ...]:
        return self.r.roster.member_codes if self.r.roster is not None else ()

    @property
    def policy(self) -> BlocScoringPolicy | None:
        return bloc_scoring_policy(self.r.policy_version) if self.r.policy_version else None

    def signed(self) -> set[str]:
        return {s.member for s in self.r.signatures}

    def submitted(self) -> set[str]:
        return set(self.r.assessments)

    def missing(self) -> list[str]:
        return missing_submissions(self.members, self.submitted())

    def label(self) -> str:
        name = self.r.roster.bloc.name if self.r.roster is not None else self.r.bloc
        return f"{name} năm {self.r.year}"

    # ---- who may do what, when -------------------------------------------------------------------------

    def opener_refusal(self) -> str | None:
        """Only the bloc head opens a year (or the previous year, through the system)."""
        if self.start.opened_by == SYSTEM_ACTOR and self.start.previous_year_id is not None:
            return None
        return opener_refusal(self.roster.actor(self.start.opened_by), self.start.opened_by, self.r.bloc)

    def phase_refusal(self, act: BlocYearAct) -> str | None:
        rule = BLOC_YEAR_RULES[act]
        if self.phase == rule.phase:
            return None
        return (
            f"không thể {rule.label_vi}: năm thi đua {self.r.year} của Khối {self.r.bloc} đang ở giai đoạn "
            f"{_phase_vi(self.phase)}, việc này chỉ làm trong giai đoạn {_phase_vi(rule.phase)}"
        )

    def refusal(self, act: BlocYearAct, payload: HumanAction, now: datetime) -> str | None:
        """Why this act may not be taken now by this person with this payload (None: it may)."""
        wrong_phase = self.phase_refusal(act)
        if wrong_phase is not None:
            return wrong_phase
        if self.r.roster is None:
            return "danh sách cán bộ của Khối chưa được nạp; thử lại sau giây lát"
        member = None
        if isinstance(payload, SignPledge):
            member = payload.member
        elif isinstance(payload, SubmitAssessment):
            member = payload.assessment.member
        who = act_refusal(
            act, self.roster.actor(payload.actor), payload.actor, self.r.bloc, self.r.leadership, member=member
        )
        if who is not None:
            return f"actor: {who}"
        return self._payload_refusal(payload, now)

    def _payload_refusal(self, payload: HumanAction, now: datetime) -> str | None:
        policy = self.policy
        if isinstance(payload, PublishPledge):
            return self._policy_refusal(payload.policy_version)
        if isinstance(payload, SignPledge):
            if payload.member not in self.members:
                return f"member: đơn vị {payload.member} không phải thành viên Khối {self.r.bloc}"
            done = next((s for s in self.r.signatures if s.member == payload.member), None)
            if done is not None:
                return (
                    f"member: đơn vị {payload.member} đã ký giao ước thi đua năm {self.r.year} "
                    f"lúc {done.signed_at.astimezone(VIETNAM_TZ):%H:%M %d/%m/%Y} (mỗi đơn vị ký một lần)"
                )
            return None
        if isinstance(payload, SubmitAssessment):
            assert policy is not None
            deadline = self.r.assessment_deadline
            if deadline is not None and now >= deadline:
                return (
                    f"assessment: đã quá hạn nộp bản tự chấm điểm "
                    f"({deadline.astimezone(VIETNAM_TZ):%H:%M %d/%m/%Y}); đơn vị được chấm theo quy định của bảng"
                )
            member = payload.assessment.member
            if member in self.r.assessments:
                return f"assessment.member: đơn vị {member} đã nộp bản tự chấm điểm (mỗi đơn vị nộp một lần)"
            errors = assessment_errors(payload.assessment, policy, members=self.members, year=self.r.year)
            return _fields(errors, "assessment.")
        if isinstance(payload, AdjustScore):
            assert policy is not None
            errors = adjustment_errors(payload.adjustment, policy, members=self.members, submitted=self.submitted())
            return _fields(errors, "adjustment.")
        if isinstance(payload, OpenHonouring):
            return self._honouring_refusal(payload, now)
        if isinstance(payload, RecordElection):
            return self._election_refusal(payload)
        return None

    def _policy_refusal(self, version: str | None) -> str | None:
        if version is None:
            try:
                self.policy_in_force()
            except LookupError:
                return f"policy_version: Khối {self.r.bloc} chưa có bảng chấm điểm áp dụng cho năm {self.r.year}"
            return None
        try:
            policy = bloc_scoring_policy(version)
        except KeyError:
            return f"policy_version: không có bảng chấm điểm {version}"
        if policy.bloc != self.r.bloc:
            return f"policy_version: bảng {version} là của Khối {policy.bloc}, không phải Khối {self.r.bloc}"
        if policy.effective_year > self.r.year:
            return f"policy_version: bảng {version} áp dụng từ năm {policy.effective_year}, sau năm {self.r.year}"
        return None

    def policy_in_force(self) -> BlocScoringPolicy:
        return bloc_scoring_policy_for(self.r.bloc, self.r.year)

    def next_tier_index(self) -> int | None:
        policy = self.policy
        if policy is None:
            return None
        index = sum(1 for t in self.r.tiers if not t.voided)  # a voided tier is voted again
        return index if index < len(policy.honours) else None

    def _honouring_refusal(self, payload: OpenHonouring, now: datetime) -> str | None:
        if self.r.honouring_request is not None:
            return "phiên bỏ phiếu suy tôn của hình thức trước đang diễn ra; chờ phiên đó kết thúc"
        if self.next_tier_index() is None:
            return "mọi hình thức suy tôn của Khối đã được bỏ phiếu"
        if payload.deadline <= now:
            return "deadline: thời hạn bỏ phiếu phải ở tương lai"
        session_id = session_workflow_id(BallotSessionKind.BLOC, self.r.bloc, payload.meeting_ref)
        if any(t.session_id == session_id for t in self.r.tiers):
            return (
                f"meeting_ref: phiên {session_id} đã được mở cho một hình thức suy tôn; đặt số hiệu hội nghị khác "
                "để bỏ phiếu lại"
            )
        return None

    def _election_refusal(self, payload: RecordElection) -> str | None:
        rotation = bloc_rotation(self.r.bloc)
        if payload.method == ElectionMethod.ROTATION:
            expected = next_leadership(rotation, self.r.leadership)
            errors = []
            if payload.head is not None and payload.head != expected.head:
                errors.append(f"head: theo thứ tự luân phiên, Khối trưởng năm {expected.year} là {expected.head}")
            if payload.deputy is not None and payload.deputy != expected.deputy:
                errors.append(f"deputy: theo thứ tự luân phiên, Khối phó năm {expected.year} là {expected.deputy}")
            return "; ".join(errors) or None
        problems = []
        if payload.head is None:
            problems.append("head: bầu bằng bỏ phiếu phải ghi Khối trưởng được bầu")
        if payload.deputy is None:
            problems.append("deputy: bầu bằng bỏ phiếu phải ghi Khối phó được bầu")
        if payload.minutes_ref is None:
            problems.append("minutes_ref: bầu bằng bỏ phiếu phải dẫn biên bản hội nghị")
        if payload.head is not None and payload.deputy is not None:
            elected = elected_leadership_errors(rotation, self.r.year + 1, payload.head, payload.deputy)
            problems += [f"{e.field}: {e.message}" for e in elected]
        return "; ".join(problems) or None

    # ---- the changes, each with its write -----------------------------------------------------------

    def _write(
        self,
        action: str,
        actor: str,
        channel: str,
        at: datetime,
        outcome: str,
        from_phase: BlocYearPhase | None = None,
        **extra: Any,
    ) -> BlocYearWrite:
        self.r.step += 1
        r = self.r
        return BlocYearWrite(
            workflow_id=r.bloc_year_id,
            step=r.step,
            action=action,
            actor=actor,
            channel=channel,
            from_phase=from_phase or r.phase,
            to_phase=r.phase,
            occurred_at=at,
            outcome=outcome,
            row=self.row(),
            **extra,
        )

    def row(self) -> BlocYearRow:
        r = self.r
        return BlocYearRow(
            bloc=r.bloc,
            year=r.year,
            phase=r.phase,
            head=r.leadership.head,
            deputy=r.leadership.deputy,
            policy_version=r.policy_version,
            next_head=r.next_leadership.head if r.next_leadership else None,
            next_deputy=r.next_leadership.deputy if r.next_leadership else None,
            next_year_id=r.next_year_id,
            previous_year_id=self.start.previous_year_id,
        )

    def set_roster(self, roster: BlocRoster) -> None:
        self.r.roster = roster

    def opened(self, at: datetime) -> BlocYearWrite:
        channel = "SYSTEM" if self.start.channel == "SYSTEM" else self.start.channel
        return self._write(
            OPENED,
            self.start.opened_by,
            channel,
            at,
            f"bloc year {self.r.year} of {self.r.bloc} opened",
            details={
                "members": len(self.members),
                "head": self.r.leadership.head,
                "deputy": self.r.leadership.deputy,
                "previous_year_id": self.start.previous_year_id,
            },
            flag=self.r.flag_in,
        )

    def publish(self, action: PublishPledge, at: datetime) -> BlocYearWrite:
        version = action.policy_version or self.policy_in_force().version
        self.r.policy_version = version
        self.r.phase = BlocYearPhase.PLEDGE
        policy = bloc_scoring_policy(version)
        notices = bloc_notices.pledge_published(
            self.roster.snapshot(), self.r.bloc, self.r.year, version, policy.name_vi
        )
        return self._write(
            BlocYearAct.PUBLISH_PLEDGE.value,
            action.actor,
            action.channel,
            at,
            f"pledge published under {version}",
            from_phase=BlocYearPhase.DRAFT,
            details={"policy_version": version, "members": len(self.members)},
            notifications=notices,
        )

    def sign(self, action: SignPledge, at: datetime) -> BlocYearWrite:
        signature = PledgeSignature(member=action.member, actor=action.actor, channel=action.channel, signed_at=at)
        self.r.signatures.append(signature)
        before = self.phase
        if set(self.members) <= self.signed():
            self.r.phase = BlocYearPhase.IN_YEAR
        return self._write(
            BlocYearAct.SIGN_PLEDGE.value,
            action.actor,
            action.channel,
            at,
            f"pledge signed for {action.member} ({len(self.r.signatures)} of {len(self.members)})",
            from_phase=before,
            details={"member": action.member, "signed": len(self.r.signatures), "members": len(self.members)},
            signature=signature,
        )

    def call_for_assessments(self, action: CallForAssessments, at: datetime) -> BlocYearWrite:
        policy = self.policy
        assert policy is not None
        clock = self.start.clock
        if clock.assessment_seconds is not None:
            deadline = at + timedelta(seconds=clock.assessment_seconds)
        else:
            deadline = submission_deadline(policy, at)
        if clock.reminder_seconds_before is not None:
            reminder = deadline - timedelta(seconds=clock.reminder_seconds_before)
        else:
            reminder = submission_reminder_at(policy, deadline)
        self.r.assessment_opened_at = at
        self.r.assessment_deadline = deadline
        self.r.reminder_at = max(reminder, at)
        self.r.phase = BlocYearPhase.SELF_ASSESSMENT
        notices = self._to_members(
            self.members,
            f"nộp bản tự chấm điểm năm {self.r.year}",
            f"Đề nghị đơn vị nộp bản tự chấm điểm theo bảng {policy.version} trước "
            f"{deadline.astimezone(VIETNAM_TZ):%H:%M ngày %d/%m/%Y}.",
        )
        return self._write(
            BlocYearAct.CALL_FOR_ASSESSMENTS.value,
            action.actor,
            action.channel,
            at,
            "self-assessments called for",
            from_phase=BlocYearPhase.IN_YEAR,
            details={"deadline": deadline.isoformat(), "reminder_at": self.r.reminder_at.isoformat()},
            notifications=notices,
        )

    def submit(self, action: SubmitAssessment, at: datetime) -> BlocYearWrite:
        assessment = action.assessment
        receipt = AssessmentReceipt(
            member=assessment.member,
            actor=action.actor,
            submitted_at=at,
            content_sha256=assessment_sha256(assessment),
        )
        self.r.assessments[assessment.member] = assessment
        self.r.receipts.append(receipt)
        return self._write(
            BlocYearAct.SUBMIT_ASSESSMENT.value,
            action.actor,
            action.channel,
            at,
            f"self-assessment of {assessment.member} received",
            details={"member": assessment.member, "content_sha256": receipt.content_sha256},
            assessment=assessment,
            receipt=receipt,
        )

    def remind(self, at: datetime) -> BlocYearWrite:
        missing = self.missing()
        self.r.reminded = list(missing)
        deadline = self.r.assessment_deadline
        assert deadline is not None
        notices = bloc_notices.assessment_reminder(self.roster.snapshot(), self.r.bloc, self.r.year, missing, deadline)
        return self._write(
            REMINDED,
            SYSTEM_ACTOR,
            "SYSTEM",
            at,
            f"{len(missing)} member(s) reminded",
            details={"reminded": list(missing)},
            notifications=notices,
        )

    def close_submissions(self, at: datetime) -> BlocYearWrite:
        """The deadline passed (or every member submitted): the missing are late, the review begins."""
        self.r.late = self.missing()
        self.r.phase = BlocYearPhase.REVIEW
        policy = self.policy
        assert policy is not None
        notices = self._to_members(
            self.r.late,
            f"quá hạn nộp bản tự chấm điểm năm {self.r.year}",
            f"Đơn vị không nộp bản tự chấm điểm đúng hạn; được chấm theo quy định của bảng {policy.version} "
            f"({policy.submission.no_submission.value}).",
        )
        return self._write(
            SUBMISSIONS_CLOSED,
            SYSTEM_ACTOR,
            "SYSTEM",
            at,
            f"submissions closed: {len(self.r.assessments)} received, {len(self.r.late)} late",
            from_phase=BlocYearPhase.SELF_ASSESSMENT,
            details={"submitted": len(self.r.assessments), "late": list(self.r.late)},
            notifications=notices,
        )

    def adjust(self, action: AdjustScore, at: datetime) -> BlocYearWrite:
        record = AdjustmentRecord(
            step=self.r.step + 1, actor=action.actor, adjusted_at=at, adjustment=action.adjustment
        )
        self.r.adjustments.append(record)
        adjustment = action.adjustment
        change: dict[str, Any] = {"member": adjustment.member, "kind": adjustment.kind, "code": adjustment.code}
        if isinstance(adjustment, CriterionAdjustment):
            change["points"] = str(adjustment.points)
        else:
            change["occurrences"] = adjustment.occurrences
        return self._write(
            BlocYearAct.ADJUST_SCORE.value,
            action.actor,
            action.channel,
            at,
            f"{adjustment.kind} {adjustment.code} of {adjustment.member} adjusted",
            details=change,
            adjustment=record,
        )

    def score(self) -> None:
        """The scorecards of every member (the late as the table says), the standings and the suggestion."""
        policy = self.policy
        assert policy is not None
        adjustments = [a.adjustment for a in self.r.adjustments]
        self.r.scorecards = [
            score_member(policy, member, self.r.assessments.get(member), adjustments) for member in self.members
        ]
        self.r.standings = rank_members(policy, self.r.scorecards)
        self.r.suggestion = propose_honours(policy, self.r.standings)

    def close_review(self, action: CloseReview, at: datetime) -> BlocYearWrite:
        self.score()
        assert self.r.standings is not None
        self.r.phase = BlocYearPhase.HONOURING
        if self.next_tier_index() is None:  # a table without honours tiers: straight to the election
            self.r.phase = BlocYearPhase.ELECTION
        notices = bloc_notices.ranking_published(self.roster.snapshot(), self.r.bloc, self.r.year, self.r.standings)
        return self._write(
            BlocYearAct.CLOSE_REVIEW.value,
            action.actor,
            action.channel,
            at,
            f"review closed: {len(self.r.standings.rows)} ranked, {len(self.r.adjustments)} adjustment(s)",
            from_phase=BlocYearPhase.REVIEW,
            details={
                "ranked": len(self.r.standings.rows),
                "unranked": list(self.r.standings.unranked),
                "ties": len(self.r.standings.ties),
                "adjustments": len(self.r.adjustments),
            },
            scored=True,
            scorecards=list(self.r.scorecards),
            standings=self.r.standings,
            notifications=notices,
        )

    # ---- honouring --------------------------------------------------------------------------------------

    def request_honouring(self, action: OpenHonouring) -> None:
        self.r.honouring_request = action

    def seated(self) -> set[str]:
        return {m for t in self.r.tiers for m in t.proposed}

    def plan_tier(self) -> TierCandidates:
        """The candidates and seats of the next tier (honour_tier_candidates over the standings)."""
        policy, index = self.policy, self.next_tier_index()
        assert policy is not None and index is not None and self.r.standings is not None
        return honour_tier_candidates(policy, self.r.standings, index, self.seated())

    def tier_opened(
        self,
        action: OpenHonouring,
        plan: TierCandidates,
        nominations: dict[str, str],
        session_id: str | None,
        at: datetime,
        award_name_vi: str | None = None,
    ) -> BlocYearWrite:
        """The tier's proposals have started (`nominations`: member → workflow id) and its session is named; the
        representatives are called to the vote."""
        notices = []
        if session_id is not None and nominations:
            listed = [m for m in plan.candidates if m in nominations]
            notices = bloc_notices.honouring_opened(
                self.roster.snapshot(),
                self.r.bloc,
                self.r.year,
                award_name_vi or plan.award_form,
                listed,
                min(plan.seats, len(listed)),
                action.deadline,
                session_id,
            )
        outcome = HonourTierOutcome(
            award_form=plan.award_form,
            seats=plan.seats,
            candidates=plan.candidates,
            session_id=session_id,
            nominations=nominations,
        )
        self.r.tiers.append(outcome)
        return self._write(
            TIER_OPENED,
            action.actor,
            action.channel,
            at,
            f"honouring vote of {plan.award_form}: {len(plan.candidates)} candidate(s) for {plan.seats} seat(s)",
            details={
                "award_form": plan.award_form,
                "candidates": list(plan.candidates),
                "seats": plan.seats,
                "session_id": session_id,
                "meeting_ref": action.meeting_ref,
            },
            tiers=list(self.r.tiers),
            notifications=notices,
        )

    def tier_without_vote(self, action: OpenHonouring, plan: TierCandidates, at: datetime) -> BlocYearWrite:
        """No member is left for the tier (none reaches its minimum, or none could be proposed): the tier is
        recorded with no session and no proposal, in one step."""
        self.r.tiers.append(HonourTierOutcome(award_form=plan.award_form, seats=0, candidates=plan.candidates))
        self.r.honouring_request = None
        before = self.phase
        if self.next_tier_index() is None:
            self.r.phase = BlocYearPhase.ELECTION
        return self._write(
            TIER_VOTED,
            action.actor,
            action.channel,
            at,
            f"{plan.award_form}: no candidate, no vote",
            from_phase=before,
            details={"award_form": plan.award_form, "candidates": list(plan.candidates), "proposed": []},
            tiers=list(self.r.tiers),
        )

    def tier_voted(self, proposed: Iterable[str], at: datetime) -> BlocYearWrite:
        """The current tier's vote is in: the members it passed are proposed; the next tier, or the election."""
        current = self.r.tiers[-1]
        chosen = set(proposed)
        passed = tuple(m for m in current.candidates if m in chosen)
        self.r.tiers[-1] = current.model_copy(update={"proposed": passed})
        action = self.r.honouring_request
        self.r.honouring_request = None
        before = self.phase
        if self.next_tier_index() is None:
            self.r.phase = BlocYearPhase.ELECTION
        return self._write(
            TIER_VOTED,
            action.actor if action else SYSTEM_ACTOR,
            action.channel if action else "SYSTEM",
            at,
            f"{current.award_form}: {len(passed)} proposed",
            from_phase=before,
            details={"award_form": current.award_form, "proposed": list(passed)},
            tiers=list(self.r.tiers),
        )

    def tier_voided(self, reason: str, at: datetime) -> BlocYearWrite:
        """The current tier's session ended without results (cancelled, or failed): nobody is proposed by it, the
        tier is open again and the head may re-open its vote (a new meeting reference) over the same
        nominations, which wait at the bloc's vote meanwhile; the head is told."""
        current = self.r.tiers[-1]
        self.r.tiers[-1] = current.model_copy(update={"voided": True, "proposed": ()})
        action = self.r.honouring_request
        self.r.honouring_request = None
        heads = self.roster.holders(Role.BLOC_HEAD)
        notices = [
            NotificationDraft(
                party=f"BLOC_HEAD:{self.r.bloc}",
                recipients=tuple(str(a.email) for a in heads if a.email),
                subject=f"[TĐKT] {self.label()}: phiên bỏ phiếu suy tôn không có kết quả",
                body=(
                    f"Phiên {current.session_id} ({current.award_form}) kết thúc không có kết quả: {reason}. "
                    f"{len(current.nominations)} hồ sơ đề nghị vẫn chờ Khối bỏ phiếu; Khối trưởng mở lại phiên "
                    "bỏ phiếu suy tôn cho hình thức này (số hiệu hội nghị mới), hoặc rút từng hồ sơ nếu Khối "
                    "không suy tôn hình thức này nữa."
                ),
            )
        ]
        return self._write(
            TIER_VOIDED,
            action.actor if action else SYSTEM_ACTOR,
            action.channel if action else "SYSTEM",
            at,
            f"{current.award_form}: session {current.session_id} ended without results",
            details={
                "award_form": current.award_form,
                "session_id": current.session_id,
                "nominations": len(current.nominations),
            },
            tiers=list(self.r.tiers),
            notifications=notices,
        )

    def reusable_proposals(self, award_form: str) -> dict[str, str]:
        """The nominations a voided vote of this award form started (member → workflow id): re-opening the
        tier takes them up again instead of starting new ones (a nomination's id is its business key)."""
        found: dict[str, str] = {}
        for tier in self.r.tiers:
            if tier.voided and tier.award_form == award_form:
                found |= tier.nominations
        return found

    def proposal_nomination(self, award_form: str, member: str, proposer: str, meeting_ref: str) -> Nomination:
        """The bloc's proposal of a member for a tier's award form: the member organisation as a whole, proposed
        by the acting head, its dossier the ranking table (with its content hash) and the honouring minutes."""
        r, standings = self.r, self.r.standings
        assert standings is not None and r.policy_version is not None
        ministry = next(m for m in self.roster.members if m.code == member)
        row = next((row for row in standings.rows if row.member == member), None)
        ranking_sha = hashlib.sha256(_canonical(standings.model_dump(mode="json"))).hexdigest()
        reference = f"SUYTON-{r.bloc}-{r.year}-{award_form}"
        placed = f"xếp hạng {row.rank}, tổng điểm {row.total}" if row is not None else "không được xếp hạng"
        return Nomination(
            reference=reference,
            year=r.year,
            ministry=member,
            proposing_unit=self.roster.bloc.name,
            award_form=award_form,
            nominee=CollectiveNominee(kind="COLLECTIVE", name=ministry.name),
            achievements=(
                f"{ministry.name} {placed} trong bảng xếp hạng thi đua năm {r.year} của {self.roster.bloc.name} "
                f"(bảng chấm điểm {r.policy_version}); Khối suy tôn tại hội nghị {meeting_ref}."
            ),
            dossier=[
                DossierDocument(
                    kind=DocumentKind.TO_TRINH,
                    title=f"Tờ trình của {self.roster.bloc.name} đề nghị khen thưởng năm {r.year}",
                    reference=reference,
                ),
                DossierDocument(
                    kind=DocumentKind.BAO_CAO_THANH_TICH,
                    title=f"Bảng xếp hạng thi đua năm {r.year} của Khối (bảng {r.policy_version})",
                    reference=f"{r.bloc_year_id}/xep-hang",
                    content_sha256=ranking_sha,
                ),
                DossierDocument(
                    kind=DocumentKind.BIEN_BAN_BINH_XET,
                    title="Biên bản hội nghị bình xét, suy tôn của Khối",
                    reference=meeting_ref,
                ),
                DossierDocument(
                    kind=DocumentKind.BIEN_BAN_XET_KHEN_THUONG,
                    title="Biên bản kiểm phiếu suy tôn của Khối",
                    reference=meeting_ref,
                ),
            ],
            proposer=proposer,
            origin=BlocOrigin(bloc=r.bloc, year=r.year, bloc_year_id=r.bloc_year_id),
        )

    def proposal_nominations(self) -> dict[str, str]:
        """Every proposal nomination the year started: workflow id → member."""
        return {wf: member for t in self.r.tiers for member, wf in t.nominations.items() if member in t.proposed}

    def unsettled(self) -> list[str]:
        settled = {wf for t in self.r.tiers for wf in t.settled}
        return [wf for wf in self.proposal_nominations() if wf not in settled]

    def proposal_ended(self, workflow_id: str, stage: Stage, at: datetime) -> BlocYearWrite | None:
        """A proposal nomination has ended (told by the nomination itself): recorded once, on the latest tier
        that holds it (a re-opened tier holds the voided one's nominations too); None when already recorded or
        not this year's."""
        if any(workflow_id in tier.settled for tier in self.r.tiers):
            return None
        for i, tier in reversed(list(enumerate(self.r.tiers))):
            if workflow_id in tier.nominations.values():
                self.r.tiers[i] = tier.model_copy(update={"settled": {**tier.settled, workflow_id: stage}})
                return self._write(
                    PROPOSAL_ENDED,
                    SYSTEM_ACTOR,
                    "SYSTEM",
                    at,
                    f"proposal {workflow_id} ended at {stage.value}",
                    details={"nomination": workflow_id, "stage": stage.value},
                    tiers=list(self.r.tiers),
                )
        return None

    # ---- the next head and the flag -----------------------------------------------------------------

    def record_election(self, action: RecordElection, at: datetime) -> BlocYearWrite:
        if action.method == ElectionMethod.ROTATION:
            chosen = next_leadership(bloc_rotation(self.r.bloc), self.r.leadership)
        else:
            assert action.head is not None and action.deputy is not None
            chosen = BlocLeadership(bloc=self.r.bloc, year=self.r.year + 1, head=action.head, deputy=action.deputy)
        self.r.next_leadership = chosen
        self.r.election_method = action.method
        self.r.election_minutes_ref = action.minutes_ref
        self.r.phase = BlocYearPhase.HANDOVER
        return self._write(
            BlocYearAct.RECORD_ELECTION.value,
            action.actor,
            action.channel,
            at,
            f"{chosen.year}: head {chosen.head}, deputy {chosen.deputy} ({action.method.value})",
            from_phase=BlocYearPhase.ELECTION,
            details={"head": chosen.head, "deputy": chosen.deputy, "method": action.method.value},
            election=ElectionRecord(leadership=chosen, method=action.method, minutes_ref=action.minutes_ref),
        )

    def handover_at(self) -> datetime:
        return self.start.clock.handover_at or new_year_day(self.r.year + 1)

    def flag_out(self) -> FlagHandover:
        assert self.r.next_leadership is not None
        return flag_handover(self.r.leadership, self.r.next_leadership)

    def next_year_start(self) -> BlocYearStart:
        assert self.r.next_leadership is not None
        clock = self.start.clock.model_copy(update={"handover_at": None})
        return BlocYearStart(
            bloc=self.r.bloc,
            year=self.r.year + 1,
            leadership=self.r.next_leadership,
            opened_by=SYSTEM_ACTOR,
            channel="SYSTEM",
            previous_year_id=self.r.bloc_year_id,
            flag=self.flag_out(),
            clock=clock,
        )

    def handed_over(self, next_year_id: str, at: datetime) -> BlocYearWrite:
        flag = self.flag_out()
        self.r.flag_out = flag
        self.r.next_year_id = next_year_id
        self.r.handed_over = True
        self.r.phase = BlocYearPhase.FOLLOWING
        assert self.r.next_leadership is not None
        notices = bloc_notices.head_in_office(self.roster.snapshot(), self.r.next_leadership, flag)
        return self._write(
            HANDED_OVER,
            SYSTEM_ACTOR,
            "SYSTEM",
            at,
            f"flag and head's role passed from {flag.from_member} to {flag.to_member}",
            from_phase=BlocYearPhase.HANDOVER,
            details={"from": flag.from_member, "to": flag.to_member, "next_year_id": next_year_id},
            flag=flag,
            notifications=notices,
        )

    def close(self, at: datetime) -> BlocYearWrite:
        self.r.phase = BlocYearPhase.CLOSED
        return self._write(
            CLOSED,
            SYSTEM_ACTOR,
            "SYSTEM",
            at,
            "every proposal has ended",
            from_phase=BlocYearPhase.FOLLOWING,
            details={"proposals": len(self.proposal_nominations())},
        )

    # ---- notices and what the year shows ------------------------------------------------------------

    def _to_members(self, members: Iterable[str], subject: str, body: str) -> list[NotificationDraft]:
        """One notice to each representative of these members (the party scheme of domain/bloc/notices.py)."""
        chosen = set(members)
        return [
            NotificationDraft(
                party=f"BLOC_REPRESENTATIVE:{actor.id}",
                recipients=(str(actor.email),) if actor.email else (),
                subject=f"[TĐKT] {self.label()}: {subject}",
                body=body,
            )
            for actor in bloc_notices.representatives(self.roster.snapshot(), self.r.bloc, chosen)
        ]

    def head_ids(self) -> list[str]:
        return [a.id for a in self.roster.holders(Role.BLOC_HEAD)]

    def details_vi(self) -> str:
        """The workflow's current details in the Temporal UI: phase and counts, no names."""
        r = self.r
        lines = [
            f"Giai đoạn: {PHASE_LABELS_VI[r.phase]}",
            f"Khối trưởng {r.leadership.head}, Khối phó {r.leadership.deputy}",
        ]
        if r.phase == BlocYearPhase.PLEDGE:
            lines.append(f"Đã ký giao ước: {len(r.signatures)}/{len(self.members)}")
        if r.phase == BlocYearPhase.SELF_ASSESSMENT:
            lines.append(f"Đã nộp tự chấm: {len(r.assessments)}/{len(self.members)}")
        if r.late:
            lines.append(f"Không nộp đúng hạn: {len(r.late)}")
        if r.adjustments:
            lines.append(f"Điều chỉnh điểm: {len(r.adjustments)}")
        if r.tiers:
            lines.append(f"Hình thức đã bỏ phiếu suy tôn: {sum(1 for t in r.tiers if t.session_id)}/{len(r.tiers)}")
        if r.next_leadership is not None:
            lines.append(f"Năm {r.next_leadership.year}: Khối trưởng {r.next_leadership.head}")
        return "\n".join(lines)

    def status(self) -> BlocYearStatus:
        r = self.r
        policy = self.policy
        return BlocYearStatus(
            bloc_year_id=r.bloc_year_id,
            bloc=r.bloc,
            year=r.year,
            phase=r.phase,
            phase_label_vi=PHASE_LABELS_VI[r.phase],
            leadership=r.leadership,
            members=self.members,
            policy_version=r.policy_version,
            signatures=tuple(r.signatures),
            assessment_deadline=r.assessment_deadline,
            reminder_at=r.reminder_at,
            reminded=tuple(r.reminded),
            assessments=tuple(r.receipts),
            late=tuple(r.late),
            adjustments=tuple(r.adjustments),
            scorecards=tuple(r.scorecards),
            standings=r.standings,
            suggestion=r.suggestion,
            tiers=tuple(r.tiers),
            next_leadership=r.next_leadership,
            election_method=r.election_method,
            election_minutes_ref=r.election_minutes_ref,
            flag_in=r.flag_in,
            flag_out=r.flag_out,
            next_year_id=r.next_year_id,
            max_total=policy.max_total if policy else None,
        )
