"""What a workflow hands its persistence activity: one transition, the nomination's current row and the
notifications it causes. Keyed on (workflow_id, seq) so a retried write never duplicates anything."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.nomination import Nomination
from domain.notices import NotificationDraft
from domain.stages import Stage


class NominationRow(BaseModel):
    model_config = ConfigDict(frozen=True)
    workflow_id: str
    nomination: Nomination
    bloc: str | None
    policy_version: str
    stage: Stage
    returned_from: Stage | None
    decision_no: str | None = None
    decided_by: str | None = None


class StageEventRow(BaseModel):
    model_config = ConfigDict(frozen=True)
    seq: int = Field(ge=1)
    action: str
    actor: str | None
    from_stage: Stage | None
    to_stage: Stage
    reason: str | None = None
    tally: dict[str, Any] | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    occurred_at: datetime


class TransitionRecord(BaseModel):
    model_config = ConfigDict(frozen=True)
    nomination: NominationRow
    event: StageEventRow
    notifications: list[NotificationDraft]


class IdentityClaim(BaseModel):
    """A nomination claims its nominee's identity key for its award form and year (one holder each)."""

    model_config = ConfigDict(frozen=True)
    identity_key: str = Field(min_length=1, max_length=80)
    award_form: str
    year: int
    workflow_id: str


class RefusedStart(BaseModel):
    """A start the workflow refused at registration: kept in the audit chain (no nominations row)."""

    model_config = ConfigDict(frozen=True)
    workflow_id: str
    proposer: str
    channel: str
    ministry: str
    award_form: str
    year: int
    reason: str
    occurred_at: datetime
