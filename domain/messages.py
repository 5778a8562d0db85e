"""Payloads of human actions (workflow updates) and of the status query."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from domain.identity import NFC
from domain.nomination import ActorId, Nomination, Text
from domain.stages import Stage
from domain.voting import Tally

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=2000), NFC]

# Where a person took an action: the audit record says "from where". A payload that names none came through
# the CLI.
ActionChannel = Literal["CLI", "API"]


class HumanAction(BaseModel):
    """What every person's action carries: who (checked against the roster) and through which interface."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    actor: ActorId
    channel: ActionChannel = "CLI"


class MeetingResult(HumanAction):
    """A council meeting's or bloc vote's counts, typed in by the council secretary or the bloc head."""

    tally: Tally
    minutes_ref: Text | None = None


class CentralApproval(HumanAction):
    """The central board's approval. With a decision number it is the decision itself; without one the
    nomination waits for a (batch) decision of the signing authority."""

    decision_no: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = None
    decision_date: date | None = None

    @model_validator(mode="after")
    def _date_with_number(self) -> CentralApproval:
        if (self.decision_no is None) != (self.decision_date is None):
            raise ValueError("decision_no and decision_date go together")
        return self


class ReasonedAction(HumanAction):
    """Reject, return or withdraw: who, and why."""

    reason: Reason


class Resubmission(HumanAction):
    nomination: Nomination


class ActionReceipt(BaseModel):
    """What an accepted action returns: the transition it caused."""

    seq: int
    stage: Stage
    stage_label_vi: str
    outcome_vi: str


class TransitionView(BaseModel):
    seq: int
    action: str
    actor: str | None
    from_stage: Stage | None
    to_stage: Stage
    occurred_at: datetime
    reason: str | None = None
    tally: dict[str, Any] | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class NominationStatus(BaseModel):
    workflow_id: str
    reference: str
    year: int
    ministry: str
    bloc: str | None
    award_form: str
    award_name_vi: str
    # The bloc whose own proposal it is (None: the unit's): that bloc's head and representatives read it.
    origin_bloc: str | None = None
    nominee_name: str
    policy_version: str
    stage: Stage
    stage_label_vi: str
    status_vi: str
    waiting_for_vi: str
    returned_from: Stage | None
    decision_no: str | None = None
    decided_by_vi: str | None = None
    hold: HoldView | None = None
    objections: list[Objection] = Field(default_factory=list)
    notice_ends_at: datetime | None = None
    due_at: datetime | None = None
    transitions: list[TransitionView]
    # REFUSED: why the start was not taken up (who may propose, unknown ministry, award year, duplicate).
    refusal_reason: str | None = None


class NominationStart(BaseModel):
    """The workflow's input: the nomination, the policy version it is carried by, and demo overrides."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    nomination: Nomination
    policy_version: str
    channel: ActionChannel = "CLI"
    # Demo/test only: a public notice of this many seconds instead of the policy's working days.
    public_notice_seconds: int | None = Field(default=None, ge=1)


class HoldGround(StrEnum):
    DISCIPLINE = "DISCIPLINE"  # bị xem xét kỷ luật
    INVESTIGATION = "INVESTIGATION"  # đang bị điều tra
    INSPECTION = "INSPECTION"  # đang bị thanh tra, kiểm tra
    COMPLAINT = "COMPLAINT"  # có đơn thư khiếu nại, tố cáo chưa giải quyết


HOLD_GROUNDS_VI: dict[HoldGround, str] = {
    HoldGround.DISCIPLINE: "đang bị xem xét kỷ luật",
    HoldGround.INVESTIGATION: "đang bị điều tra",
    HoldGround.INSPECTION: "đang bị thanh tra, kiểm tra",
    HoldGround.COMPLAINT: "có khiếu nại, tố cáo chưa được giải quyết",
}


class HoldRequest(HumanAction):
    """Decree 152 Art. 4: a nomination waits while its nominee is disciplined, investigated, inspected or
    the subject of an unresolved complaint."""

    ground: HoldGround
    reason: Reason


class ObjectionFiling(BaseModel):
    """An objection (ý kiến phản ánh) during the public notice, from anyone who identifies themselves."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    filed_by: Text
    contact: Text
    reason: Reason
    channel: ActionChannel = "CLI"


class ObjectionDecision(StrEnum):
    DISMISS = "DISMISS"
    UPHOLD_REJECT = "UPHOLD_REJECT"
    UPHOLD_RETURN = "UPHOLD_RETURN"


class ObjectionResolution(HumanAction):
    objection_id: int = Field(ge=1)
    decision: ObjectionDecision
    reason: Reason


class ConsultationRequest(HumanAction):
    """The central board consults other agencies: the appraisal may take the longer period."""

    agencies: list[Text] = Field(min_length=1, max_length=20)
    reason: Reason


class SessionScheduled(BaseModel):
    """Signal from a ballot session to its nominations: the stage's due date is the session's deadline."""

    session_id: str
    deadline: datetime


class Objection(BaseModel):
    id: int
    filed_by: str
    filed_at: datetime
    reason: str
    resolution: ObjectionDecision | None = None


class HoldView(BaseModel):
    ground: HoldGround
    ground_vi: str
    since: datetime
    by: str
    reason: str


NominationStatus.model_rebuild()
