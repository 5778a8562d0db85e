"""Payloads of human actions (workflow updates) and of the status query."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from domain.nomination import ActorId, Nomination, Text
from domain.stages import Stage
from domain.voting import Tally

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=2000)]


class MeetingResult(BaseModel):
    """A council meeting's or bloc vote's counts, typed in by the council secretary or the bloc head."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    actor: ActorId
    tally: Tally
    minutes_ref: Text | None = None


class CentralApproval(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    actor: ActorId
    decision_no: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    decision_date: date


class ReasonedAction(BaseModel):
    """Reject, return or withdraw: who, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    actor: ActorId
    reason: Reason


class Resubmission(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    actor: ActorId
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
    nominee_name: str
    policy_version: str
    stage: Stage
    stage_label_vi: str
    status_vi: str
    waiting_for_vi: str
    returned_from: Stage | None
    decision_no: str | None = None
    decided_by_vi: str | None = None
    transitions: list[TransitionView]


class NominationStart(BaseModel):
    """The workflow's input: the nomination, the policy version it is carried by, and demo overrides."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    nomination: Nomination
    policy_version: str
    # Demo/test only: a public notice of this many seconds instead of the policy's working days.
    public_notice_seconds: int | None = Field(default=None, ge=1)
