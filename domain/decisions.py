"""A decision (quyết định khen thưởng): one number, date and signing authority naming many nominations."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from domain.catalog import Authority, policy_set
from domain.messages import ActionChannel
from domain.nomination import ActorId
from domain.stages import Stage

# A decision names nominations by their workflow ids (`nomination-...`, letters, digits and / . - _): text
# that cannot be one is refused up front; an id no nomination has is refused on the decision, item by item.
NominationWorkflowId = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^nomination-[0-9A-Za-z/._-]{1,189}$")
]
DecisionNo = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9A-Za-zĐđ][0-9A-Za-zĐđ/._-]{0,63}$")]


class DecisionRef(BaseModel):
    """What each nomination on a decision records about it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    decision_no: DecisionNo
    decision_date: date
    authority: Authority
    actor: ActorId
    channel: ActionChannel = "CLI"


class DecisionRequest(BaseModel):
    """The DecisionWorkflow's input: the decision and the nominations it names."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    decision: DecisionRef
    workflow_ids: list[NominationWorkflowId] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _distinct(self) -> DecisionRequest:
        repeated = sorted(w for w, n in Counter(self.workflow_ids).items() if n > 1)
        if repeated:
            raise ValueError(f"workflow_ids: listed more than once: {', '.join(repeated)}")
        return self


class DecisionDelivery(BaseModel):
    """A decision delivered to one nomination it names; the nomination answers `reply_to` (the delivering
    DecisionWorkflow's id) with its DecisionItem."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    decision: DecisionRef
    reply_to: str


# The nomination's signal that delivers a decision (DecisionDelivery). An activity sends it through the client
# (DecisionTidings), and activities do not import workflows: the nomination's handler and the activity share it.
DECISION_ISSUED_SIGNAL = "decision_issued"


class DecisionTidings(BaseModel):
    """A decision delivered to some of the nominations it names, through one activity. `key` numbers the
    decision's deliveries: the decision's workflow, the key and the nomination make each signal's request id,
    so a retried delivery lands once."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    delivery: DecisionDelivery
    key: int = Field(ge=1)
    to: list[str] = Field(min_length=1)


class DecisionItem(BaseModel):
    """One nomination's outcome on a decision: accepted (now AWARDED) or refused with the reason."""

    workflow_id: str
    accepted: bool
    reason: str | None = None
    nominee_name: str | None = None
    award_name_vi: str | None = None
    ministry: str | None = None


class DecisionSummary(BaseModel):
    decision: DecisionRef
    items: list[DecisionItem]

    @property
    def accepted(self) -> list[DecisionItem]:
        return [i for i in self.items if i.accepted]

    @property
    def refused(self) -> list[DecisionItem]:
        return [i for i in self.items if not i.accepted]


def decision_workflow_id(decision_no: str) -> str:
    return f"decision-{decision_no}"


class NominationStanding(BaseModel):
    """What the register (the nominations table) says of a nomination no running workflow answers for."""

    model_config = ConfigDict(frozen=True)
    workflow_id: str
    stage: Stage
    decision_no: str | None
    nominee_name: str
    award_form: str
    ministry: str
    policy_version: str


def unanswered_item(workflow_id: str, standing: NominationStanding | None, decision: DecisionRef) -> DecisionItem:
    """The outcome for a nomination that could not be told of the decision (no running workflow has its id):
    refused, saying whether it never was or has ended; accepted when it ended awarded by this very decision."""
    if standing is None:
        return DecisionItem(
            workflow_id=workflow_id, accepted=False, reason=f"no nomination with workflow id {workflow_id}"
        )
    stage = standing.stage
    if stage == Stage.AWARDED and standing.decision_no == decision.decision_no:
        return DecisionItem(
            workflow_id=workflow_id,
            accepted=True,
            nominee_name=standing.nominee_name,
            award_name_vi=policy_set(standing.policy_version).form(standing.award_form).name_vi,
            ministry=standing.ministry,
        )
    if stage == Stage.AWARDED:
        reason = f"the nomination is already decided (decision {standing.decision_no}); not on two decisions"
    elif stage.is_final:
        reason = f"{workflow_id} has ended ({stage.value}: {stage.label_vi}); no action is possible"
    else:
        reason = (
            f"{workflow_id} has ended without reaching a final stage (at {stage.value}: {stage.label_vi}); "
            "no action is possible"
        )
    return DecisionItem(workflow_id=workflow_id, accepted=False, reason=reason)
