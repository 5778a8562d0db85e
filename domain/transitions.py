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


class Rejected(BaseModel):
    kind: Literal["REJECTED"] = "REJECTED"


class ReturnedForSupplement(BaseModel):
    kind: Literal["RETURNED"] = "RETURNED"


class Resubmitted(BaseModel):
    kind: Literal["RESUBMITTED"] = "RESUBMITTED"


class Withdrawn(BaseModel):
    kind: Literal["WITHDRAWN"] = "WITHDRAWN"


Event = Annotated[
    Submitted | NoticeElapsed | VoteRecorded | Approved | Rejected | ReturnedForSupplement | Resubmitted | Withdrawn,
    Field(discriminator="kind"),
]


class Refusal(BaseModel):
    model_config = ConfigDict(frozen=True)
    reason: str


def next_on_route(route: tuple[Stage, ...], stage: Stage) -> Stage:
    """The stage after `stage` on the route; AWARDED after the last one."""
    if stage == Stage.PROPOSED:
        return route[0] if route else Stage.AWARDED
    index = route.index(stage)
    return route[index + 1] if index + 1 < len(route) else Stage.AWARDED


def transition(state: RouteState, event: Event) -> RouteState | Refusal:
    stage = state.stage
    if stage.is_final:
        return Refusal(reason=f"the nomination has ended ({stage.value}: {stage.label_vi})")

    def to(new_stage: Stage, returned_from: Stage | None = None) -> RouteState:
        return RouteState(stage=new_stage, route=state.route, returned_from=returned_from)

    def wrong_stage(expected: str) -> Refusal:
        return Refusal(reason=f"{event.kind} is only possible in {expected}; the nomination is in {stage.value}")

    match event:
        case Withdrawn():
            return to(Stage.WITHDRAWN)
        case Submitted():
            if stage != Stage.PROPOSED:
                return wrong_stage(Stage.PROPOSED.value)
            return to(next_on_route(state.route, stage))
        case NoticeElapsed():
            if stage != Stage.PUBLIC_NOTICE:
                return wrong_stage(Stage.PUBLIC_NOTICE.value)
            return to(next_on_route(state.route, stage))
        case VoteRecorded(at_stage=at_stage, outcome=outcome):
            if stage != at_stage:
                return wrong_stage(at_stage.value)
            if outcome.result == VoteResult.PASSED:
                return to(next_on_route(state.route, stage))
            if outcome.result == VoteResult.FAILED:
                return to(Stage.REJECTED)
            return state  # no quorum: the body must meet again; the stage does not change
        case Approved():
            if stage != Stage.CENTRAL_REVIEW:
                return wrong_stage(Stage.CENTRAL_REVIEW.value)
            return to(Stage.AWARDED)
        case Rejected():
            if stage != Stage.CENTRAL_REVIEW:
                return wrong_stage(Stage.CENTRAL_REVIEW.value)
            return to(Stage.REJECTED)
        case ReturnedForSupplement():
            if stage not in (Stage.PUBLIC_NOTICE, Stage.COUNCIL_REVIEW, Stage.BLOC_VOTE, Stage.CENTRAL_REVIEW):
                return wrong_stage("PUBLIC_NOTICE, COUNCIL_REVIEW, BLOC_VOTE or CENTRAL_REVIEW")
            return to(Stage.RETURNED, returned_from=stage)
        case Resubmitted():
            if stage != Stage.RETURNED or state.returned_from is None:
                return wrong_stage(Stage.RETURNED.value)
            return to(state.returned_from)
    raise AssertionError(f"unhandled event {event!r}")  # pragma: no cover - the union is closed
