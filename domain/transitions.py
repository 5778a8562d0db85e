"""The procedure as a pure function: (stage, event) -> next stage, or a refusal saying why."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.stages import Stage
from domain.voting import VoteOutcome, VoteResult


class RouteState(BaseModel):
    """Where a nomination stands on its route; all the transition function needs."""

    model_config = ConfigDict(frozen=True)
    stage: Stage
    route: tuple[Stage, ...]
    returned_from: Stage | None = None
    on_hold: bool = False
    open_objections: int = Field(default=0, ge=0)


class Submitted(BaseModel):
    kind: Literal["SUBMITTED"] = "SUBMITTED"


class NoticeElapsed(BaseModel):
    kind: Literal["NOTICE_ELAPSED"] = "NOTICE_ELAPSED"


class VoteRecorded(BaseModel):
    kind: Literal["VOTE_RECORDED"] = "VOTE_RECORDED"
    at_stage: Literal[Stage.COUNCIL_REVIEW, Stage.BLOC_VOTE]
    outcome: VoteOutcome


class Approved(BaseModel):
    kind: Literal["APPROVED"] = "APPROVED"
    decided: bool = True  # the approval carries its decision (number, date): no separate decision follows


class Rejected(BaseModel):
    kind: Literal["REJECTED"] = "REJECTED"


class ReturnedForSupplement(BaseModel):
    kind: Literal["RETURNED"] = "RETURNED"


class Resubmitted(BaseModel):
    kind: Literal["RESUBMITTED"] = "RESUBMITTED"


class Withdrawn(BaseModel):
    kind: Literal["WITHDRAWN"] = "WITHDRAWN"


class Held(BaseModel):
    kind: Literal["HELD"] = "HELD"


class Released(BaseModel):
    kind: Literal["RELEASED"] = "RELEASED"


class ObjectionFiled(BaseModel):
    kind: Literal["OBJECTION_FILED"] = "OBJECTION_FILED"


class ObjectionDismissed(BaseModel):
    kind: Literal["OBJECTION_DISMISSED"] = "OBJECTION_DISMISSED"


class ObjectionUpheld(BaseModel):
    kind: Literal["OBJECTION_UPHELD"] = "OBJECTION_UPHELD"
    outcome: Literal["REJECT", "RETURN"]


class DecisionRecorded(BaseModel):
    kind: Literal["DECISION_RECORDED"] = "DECISION_RECORDED"


class Lapsed(BaseModel):
    kind: Literal["LAPSED"] = "LAPSED"


class Noted(BaseModel):
    """Something worth recording that moves nothing: an escalation, a consultation request. `at_stage`: it
    only makes sense in that stage (a consultation belongs to the central appraisal)."""

    kind: Literal["NOTED"] = "NOTED"
    at_stage: Stage | None = None


Event = Annotated[
    Submitted
    | NoticeElapsed
    | VoteRecorded
    | Approved
    | Rejected
    | ReturnedForSupplement
    | Resubmitted
    | Withdrawn
    | Held
    | Released
    | ObjectionFiled
    | ObjectionDismissed
    | ObjectionUpheld
    | DecisionRecorded
    | Lapsed
    | Noted,
    Field(discriminator="kind"),
]


class Refusal(BaseModel):
    model_config = ConfigDict(frozen=True)
    reason: str


def next_on_route(route: tuple[Stage, ...], stage: Stage) -> Stage:
    """The stage after `stage` on the route; after the last one the signing authority's decision."""
    if stage == Stage.PROPOSED:
        return route[0] if route else Stage.AWAITING_DECISION
    index = route.index(stage)
    return route[index + 1] if index + 1 < len(route) else Stage.AWAITING_DECISION


def transition(state: RouteState, event: Event) -> RouteState | Refusal:
    stage = state.stage
    if stage.is_final:
        return Refusal(reason=f"the nomination has ended ({stage.value}: {stage.label_vi})")
    if state.on_hold and not isinstance(event, Released):
        return Refusal(reason="the nomination is on hold: nothing moves until it is released")

    def to(new_stage: Stage, returned_from: Stage | None = None, open_objections: int | None = None) -> RouteState:
        # Open objections stay open across a return and resubmission: the council may not take the
        # nomination up until each is resolved.
        objections = state.open_objections if open_objections is None else open_objections
        if new_stage.is_final:
            objections = 0
        return state.model_copy(
            update={"stage": new_stage, "returned_from": returned_from, "open_objections": objections}
        )

    def after(current: Stage) -> Stage:
        return next_on_route(state.route, current)

    def wrong_stage(expected: str) -> Refusal:
        return Refusal(reason=f"{event.kind} is only possible in {expected}; the nomination is in {stage.value}")

    match event:
        case Withdrawn():
            return to(Stage.WITHDRAWN)
        case Held():
            return state.model_copy(update={"on_hold": True})
        case Released():
            if not state.on_hold:
                return Refusal(reason="the nomination is not on hold")
            return state.model_copy(update={"on_hold": False})
        case Noted(at_stage=at_stage):
            if at_stage is not None and stage != at_stage:
                return wrong_stage(at_stage.value)
            return state
        case Submitted():
            if stage != Stage.PROPOSED:
                return wrong_stage(Stage.PROPOSED.value)
            return to(after(stage))
        case NoticeElapsed():
            if stage != Stage.PUBLIC_NOTICE:
                return wrong_stage(Stage.PUBLIC_NOTICE.value)
            if state.open_objections:
                return Refusal(reason=f"{state.open_objections} objection(s) must be resolved before the council")
            return to(after(stage))
        case ObjectionFiled():
            if stage != Stage.PUBLIC_NOTICE:
                return wrong_stage(Stage.PUBLIC_NOTICE.value)
            return state.model_copy(update={"open_objections": state.open_objections + 1})
        case ObjectionDismissed() | ObjectionUpheld():
            if stage != Stage.PUBLIC_NOTICE:
                return wrong_stage(Stage.PUBLIC_NOTICE.value)
            if not state.open_objections:
                return Refusal(reason="there is no open objection to resolve")
            if isinstance(event, ObjectionDismissed):
                return state.model_copy(update={"open_objections": state.open_objections - 1})
            if event.outcome == "REJECT":
                return to(Stage.REJECTED)
            return to(Stage.RETURNED, returned_from=stage, open_objections=state.open_objections - 1)
        case VoteRecorded(at_stage=at_stage, outcome=outcome):
            if stage != at_stage:
                return wrong_stage(at_stage.value)
            if outcome.result == VoteResult.PASSED:
                return to(after(stage))
            if outcome.result == VoteResult.FAILED:
                return to(Stage.REJECTED)
            return state  # no quorum: the body must meet again; the stage does not change
        case Approved(decided=decided):
            if stage != Stage.CENTRAL_REVIEW:
                return wrong_stage(Stage.CENTRAL_REVIEW.value)
            return to(Stage.AWARDED if decided else Stage.AWAITING_DECISION)
        case Rejected():
            if stage != Stage.CENTRAL_REVIEW:
                return wrong_stage(Stage.CENTRAL_REVIEW.value)
            return to(Stage.REJECTED)
        case DecisionRecorded():
            if stage != Stage.AWAITING_DECISION:
                return Refusal(
                    reason=f"{event.kind} is only possible in AWAITING_DECISION: the nomination is not yet approved "
                    f"for a decision; the nomination is in {stage.value}"
                )
            return to(Stage.AWARDED)
        case ReturnedForSupplement():
            if stage not in (Stage.PUBLIC_NOTICE, Stage.COUNCIL_REVIEW, Stage.BLOC_VOTE, Stage.CENTRAL_REVIEW):
                return wrong_stage("PUBLIC_NOTICE, COUNCIL_REVIEW, BLOC_VOTE or CENTRAL_REVIEW")
            return to(Stage.RETURNED, returned_from=stage)
        case Resubmitted():
            if stage != Stage.RETURNED or state.returned_from is None:
                return wrong_stage(Stage.RETURNED.value)
            return to(state.returned_from)
        case Lapsed():
            if stage != Stage.RETURNED:
                return wrong_stage(Stage.RETURNED.value)
            return to(Stage.LAPSED)
    raise AssertionError(f"unhandled event {event!r}")  # pragma: no cover - the union is closed
