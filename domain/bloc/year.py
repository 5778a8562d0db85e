"""The bloc's year (năm thi đua của Khối) as a procedure: its phases, the people's actions in each, who may
take them, and what the year shows. Pure: the workflow (workflows/bloc_year.py) carries it out.

    DRAFT ──publish──▶ PLEDGE ──all members signed──▶ IN_YEAR ──call for self-assessments──▶ SELF_ASSESSMENT
      (the head publishes       (each member's representative                (members submit until the deadline,
       the scoring table)        signs the giao ước thi đua)                  reminded before; late: policy)
    ──deadline──▶ REVIEW ──panel closes──▶ HONOURING ──every tier voted──▶ ELECTION ──head and deputy──▶
      (chấm chéo: the panel      (ranking published; one secret-ballot          (by ballot or the
       adjusts, with reasons)     session of the bloc per honours tier)          rotation order)
    HANDOVER ──1 January──▶ FOLLOWING ──every proposal ended──▶ CLOSED
      (the head's role and the       (next year's bloc year is open; the proposals
       Cờ luân lưu pass)              go on to the central board and the PM)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from domain.bloc.ranking import HonourProposal, Standings
from domain.bloc.rotation import BlocLeadership, FlagHandover
from domain.bloc.scoring import Adjustment, Scorecard, SelfAssessment
from domain.identity import NFC
from domain.messages import ActionChannel, HumanAction
from domain.nomination import ActorId, Code
from domain.roster import Actor, Bloc, Ministry, Role, Roster, RosterSnapshot
from domain.stages import Stage

Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120), NFC]


def bloc_year_id(bloc: str, year: int) -> str:
    """One bloc year per bloc and year: its workflow id is the business key."""
    return f"bloc-year-{bloc}-{year}"


class BlocYearPhase(StrEnum):
    DRAFT = "DRAFT"
    PLEDGE = "PLEDGE"
    IN_YEAR = "IN_YEAR"
    SELF_ASSESSMENT = "SELF_ASSESSMENT"
    REVIEW = "REVIEW"
    HONOURING = "HONOURING"
    ELECTION = "ELECTION"
    HANDOVER = "HANDOVER"
    FOLLOWING = "FOLLOWING"
    CLOSED = "CLOSED"


PHASE_LABELS_VI: dict[BlocYearPhase, str] = {
    BlocYearPhase.DRAFT: "Chuẩn bị giao ước thi đua",
    BlocYearPhase.PLEDGE: "Ký kết giao ước thi đua",
    BlocYearPhase.IN_YEAR: "Thực hiện giao ước thi đua",
    BlocYearPhase.SELF_ASSESSMENT: "Tự chấm điểm",
    BlocYearPhase.REVIEW: "Chấm chéo, thẩm định điểm",
    BlocYearPhase.HONOURING: "Bình xét, suy tôn",
    BlocYearPhase.ELECTION: "Bầu Khối trưởng, Khối phó năm sau",
    BlocYearPhase.HANDOVER: "Chờ bàn giao Cờ luân lưu",
    BlocYearPhase.FOLLOWING: "Theo dõi đề nghị khen thưởng",
    BlocYearPhase.CLOSED: "Kết thúc năm thi đua",
}


class BlocYearClock(BaseModel):
    """Demo and test overrides of the year's calendar (None: the policy's working days and 1 January)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    assessment_seconds: int | None = Field(default=None, ge=1)  # the self-assessment window
    reminder_seconds_before: int | None = Field(default=None, ge=0)  # the reminder, before its deadline
    handover_at: datetime | None = None  # when next year's head takes office


class BlocYearStart(BaseModel):
    """The workflow's input: one bloc, one year, its head and deputy (elected or by rotation), who opened
    it, and the previous year's record when it was created from it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    bloc: Code
    year: int = Field(ge=2000, le=2100)
    leadership: BlocLeadership
    opened_by: ActorId  # a BLOC_HEAD of the bloc, or SYSTEM_ACTOR when the previous year created it
    channel: ActionChannel | Literal["SYSTEM"] = "CLI"
    previous_year_id: str | None = None
    flag: FlagHandover | None = None  # the Cờ luân lưu's handover into this year, when it came from the last
    clock: BlocYearClock = BlocYearClock()
    # The year's state when the workflow continued as new (None on a fresh start).
    carried: BlocYearRecord | None = None


def bloc_year_summary(bloc: str, year: int) -> str:
    """The workflow's static summary in the Temporal UI: which bloc, which year (no personal data)."""
    return f"Năm thi đua {year} của Khối {bloc}"


SYSTEM_ACTOR = "system"


# ---- the people's actions (workflow updates; each validated against the phase and the roster) -------------


class PublishPledge(HumanAction):
    """The head publishes the year's scoring table (None: the newest in force for the year)."""

    policy_version: str | None = Field(default=None, max_length=40)


class SignPledge(HumanAction):
    """A member organisation signs the pledge, through its representative."""

    member: Code


class CallForAssessments(HumanAction):
    """The head calls for the year's self-assessments: the window opens now."""


class SubmitAssessment(HumanAction):
    assessment: SelfAssessment


class AdjustScore(HumanAction):
    """A review panel member sets a line of a member's score, with the reason (chấm chéo)."""

    adjustment: Adjustment


class CloseReview(HumanAction):
    """The head closes the review: the scores are final, the ranking is published, honouring begins."""


class OpenHonouring(HumanAction):
    """The head opens the honouring vote of the next tier (a ballot session of the bloc): voting ends at
    `deadline`; `meeting_ref` names the conference (hội nghị tổng kết)."""

    deadline: datetime
    meeting_ref: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z._-]{0,47}$")]
    committee: list[ActorId] | None = Field(default=None, max_length=15)


class ElectionMethod(StrEnum):
    ROTATION = "ROTATION"  # the bloc's rotation order (domain/data/bloc-rotation-<bloc>.json)
    BALLOT = "BALLOT"  # the conference's vote; its minutes are referenced


class RecordElection(HumanAction):
    """The conference's choice of next year's head and deputy."""

    method: ElectionMethod
    head: Code | None = None  # required for BALLOT; for ROTATION, if given, must be the rotation's
    deputy: Code | None = None
    minutes_ref: Reference | None = None  # required for BALLOT


class BlocYearAct(StrEnum):
    PUBLISH_PLEDGE = "PUBLISH_PLEDGE"
    SIGN_PLEDGE = "SIGN_PLEDGE"
    CALL_FOR_ASSESSMENTS = "CALL_FOR_ASSESSMENTS"
    SUBMIT_ASSESSMENT = "SUBMIT_ASSESSMENT"
    ADJUST_SCORE = "ADJUST_SCORE"
    CLOSE_REVIEW = "CLOSE_REVIEW"
    OPEN_HONOURING = "OPEN_HONOURING"
    RECORD_ELECTION = "RECORD_ELECTION"


class ActorKind(StrEnum):
    HEAD = "HEAD"  # a BLOC_HEAD of the bloc
    MEMBER_REPRESENTATIVE = "MEMBER_REPRESENTATIVE"  # the acting member organisation's BLOC_REPRESENTATIVE
    PANEL = "PANEL"  # the review panel: representatives of the head's and the deputy's organisations


@dataclass(frozen=True)
class BlocYearRule:
    phase: BlocYearPhase
    who: ActorKind
    label_vi: str


BLOC_YEAR_RULES: dict[BlocYearAct, BlocYearRule] = {
    BlocYearAct.PUBLISH_PLEDGE: BlocYearRule(BlocYearPhase.DRAFT, ActorKind.HEAD, "công bố giao ước thi đua"),
    BlocYearAct.SIGN_PLEDGE: BlocYearRule(BlocYearPhase.PLEDGE, ActorKind.MEMBER_REPRESENTATIVE, "ký giao ước"),
    BlocYearAct.CALL_FOR_ASSESSMENTS: BlocYearRule(
        BlocYearPhase.IN_YEAR, ActorKind.HEAD, "đề nghị các đơn vị tự chấm điểm"
    ),
    BlocYearAct.SUBMIT_ASSESSMENT: BlocYearRule(
        BlocYearPhase.SELF_ASSESSMENT, ActorKind.MEMBER_REPRESENTATIVE, "nộp bản tự chấm điểm"
    ),
    BlocYearAct.ADJUST_SCORE: BlocYearRule(BlocYearPhase.REVIEW, ActorKind.PANEL, "điều chỉnh điểm (chấm chéo)"),
    BlocYearAct.CLOSE_REVIEW: BlocYearRule(
        BlocYearPhase.REVIEW, ActorKind.HEAD, "kết thúc chấm chéo, công bố xếp hạng"
    ),
    BlocYearAct.OPEN_HONOURING: BlocYearRule(BlocYearPhase.HONOURING, ActorKind.HEAD, "mở phiên bỏ phiếu suy tôn"),
    BlocYearAct.RECORD_ELECTION: BlocYearRule(
        BlocYearPhase.ELECTION, ActorKind.HEAD, "ghi nhận Khối trưởng, Khối phó năm sau"
    ),
}

ACTOR_ROLE: dict[ActorKind, Role] = {
    ActorKind.HEAD: Role.BLOC_HEAD,
    ActorKind.MEMBER_REPRESENTATIVE: Role.BLOC_REPRESENTATIVE,
    ActorKind.PANEL: Role.BLOC_REPRESENTATIVE,
}


# ---- what the year shows (the status query) ----------------------------------------------------------------


class PledgeSignature(BaseModel):
    model_config = ConfigDict(frozen=True)
    member: str
    actor: str
    channel: str
    signed_at: datetime


class AssessmentReceipt(BaseModel):
    model_config = ConfigDict(frozen=True)
    member: str
    actor: str
    submitted_at: datetime
    content_sha256: str  # of the assessment's canonical JSON: what the member signed off


class AdjustmentRecord(BaseModel):
    model_config = ConfigDict(frozen=True)
    step: int
    actor: str
    adjusted_at: datetime
    adjustment: Adjustment


class HonourTierOutcome(BaseModel):
    """One tier's vote: the candidates put to it, the session that voted, the members proposed and the
    nominations that carry the proposals on."""

    model_config = ConfigDict(frozen=True)
    award_form: str
    seats: int
    candidates: tuple[str, ...]  # member codes, ranking order
    session_id: str | None = None
    proposed: tuple[str, ...] = ()  # member codes the vote passed
    nominations: dict[str, str] = Field(default_factory=dict)  # member → nomination workflow id
    settled: dict[str, Stage] = Field(default_factory=dict)  # nomination workflow id → final stage
    # Its session ended without results (cancelled, or failed): the tier is to be voted again, the head
    # re-opening it over the same nominations.
    voided: bool = False


class BlocYearStatus(BaseModel):
    bloc_year_id: str
    bloc: str
    year: int
    phase: BlocYearPhase
    phase_label_vi: str
    leadership: BlocLeadership
    members: tuple[str, ...]  # the member organisations, roster order
    policy_version: str | None = None
    signatures: tuple[PledgeSignature, ...] = ()
    assessment_deadline: datetime | None = None
    reminder_at: datetime | None = None
    reminded: tuple[str, ...] = ()
    assessments: tuple[AssessmentReceipt, ...] = ()
    late: tuple[str, ...] = ()  # members that submitted nothing by the deadline
    adjustments: tuple[AdjustmentRecord, ...] = ()
    scorecards: tuple[Scorecard, ...] = ()  # from the review's close
    standings: Standings | None = None
    suggestion: HonourProposal | None = None  # what the ranking alone proposes (the vote decides)
    tiers: tuple[HonourTierOutcome, ...] = ()
    next_leadership: BlocLeadership | None = None
    election_method: ElectionMethod | None = None
    election_minutes_ref: str | None = None
    flag_in: FlagHandover | None = None
    flag_out: FlagHandover | None = None
    next_year_id: str | None = None
    max_total: Decimal | None = None


# ---- the roster a bloc year holds, and its carried state ------------------------------------------------


class BlocRoster(BaseModel):
    """What a bloc year holds of the roster (reloaded at each phase change): the bloc, its member
    organisations (the ministries whose `bloc` is it) and everyone with a role in the bloc."""

    model_config = ConfigDict(frozen=True)
    bloc: Bloc
    members: tuple[Ministry, ...]
    actors: tuple[Actor, ...]

    @property
    def member_codes(self) -> tuple[str, ...]:
        return tuple(m.code for m in self.members)

    def actor(self, actor_id: str) -> Actor | None:
        return next((a for a in self.actors if a.id == actor_id), None)

    def holders(self, role: Role) -> list[Actor]:
        return [a for a in self.actors if a.holds(role, self.bloc.code)]

    def representatives_of(self, member: str) -> list[Actor]:
        return [a for a in self.holders(Role.BLOC_REPRESENTATIVE) if a.organisation == member]

    def snapshot(self) -> RosterSnapshot:
        """As a roster snapshot of the bloc's head ministry (what domain/bloc/notices.py reads)."""
        head = next((m for m in self.members if m.code == self.bloc.head_ministry), None)
        ministry = head or Ministry(code=self.bloc.head_ministry, name=self.bloc.head_ministry, bloc=self.bloc.code)
        return RosterSnapshot(ministry=ministry, bloc=self.bloc, actors=self.actors)


def bloc_roster(roster: Roster, bloc: str) -> BlocRoster:
    """The bloc's part of a roster: members in roster order, the actors holding a role in the bloc."""
    found = next((b for b in roster.blocs if b.code == bloc), None)
    if found is None:
        raise KeyError(f"bloc {bloc} is not in the roster")
    return BlocRoster(
        bloc=found,
        members=tuple(m for m in roster.ministries if m.bloc == bloc),
        actors=tuple(a for a in roster.actors if any(g.scope == bloc for g in a.roles)),
    )


class ProposalEnded(BaseModel):
    """Signal to a bloc year from a proposal nomination it started: the nomination ended at `stage`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    workflow_id: str
    stage: Stage


class BlocYearRecord(BaseModel):
    """Everything a bloc year holds: what the status shows, and what it keeps to go on (carried across
    continue-as-new). Changed only through domain.bloc.year_state.BlocYearState."""

    model_config = ConfigDict(extra="forbid")
    bloc_year_id: str
    bloc: str
    year: int
    leadership: BlocLeadership
    phase: BlocYearPhase = BlocYearPhase.DRAFT
    roster: BlocRoster | None = None
    policy_version: str | None = None
    step: int = 0  # the year's persisted writes so far: each write is keyed on (workflow id, step)
    signatures: list[PledgeSignature] = Field(default_factory=list)
    assessment_opened_at: datetime | None = None
    assessment_deadline: datetime | None = None
    reminder_at: datetime | None = None
    reminded: list[str] = Field(default_factory=list)
    assessments: dict[str, SelfAssessment] = Field(default_factory=dict)
    receipts: list[AssessmentReceipt] = Field(default_factory=list)
    late: list[str] = Field(default_factory=list)
    adjustments: list[AdjustmentRecord] = Field(default_factory=list)
    scorecards: list[Scorecard] = Field(default_factory=list)
    standings: Standings | None = None
    suggestion: HonourProposal | None = None
    tiers: list[HonourTierOutcome] = Field(default_factory=list)
    honouring_request: OpenHonouring | None = None  # the head asked for the next tier's vote; not begun yet
    next_leadership: BlocLeadership | None = None
    election_method: ElectionMethod | None = None
    election_minutes_ref: str | None = None
    flag_in: FlagHandover | None = None
    flag_out: FlagHandover | None = None
    next_year_id: str | None = None
    handed_over: bool = False


BlocYearStart.model_rebuild()
