"""A decision (quyết định khen thưởng): one number, date and signing authority naming many nominations."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from domain.catalog import Authority
from domain.messages import ActionChannel
from domain.nomination import ActorId

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
