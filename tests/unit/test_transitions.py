"""The procedure as a pure function: every route walked, every wrong move refused with a reason."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from pydantic import TypeAdapter

from domain.catalog import policy_set
from domain.stages import FINAL_STAGES, ROUTE_STAGES, Stage
from domain.transitions import (
    Approved,
    Event,
    NoticeElapsed,
    Refusal,
    Rejected,
    Resubmitted,
    ReturnedForSupplement,
    RouteState,
    Submitted,
    VoteRecorded,
    Withdrawn,
    next_on_route,
    transition,
)
from domain.voting import VoteOutcome, VoteResult

POLICY = policy_set("2025.07")
ROUTES = {code: form.route for code, form in POLICY.award_forms.items() if form.accepts_nominations}
FULL_ROUTE = ROUTE_STAGES  # every route stage, in order: a valid route no form uses yet
ALL_ROUTES = list(dict.fromkeys([*ROUTES.values(), FULL_ROUTE, ()]))
NON_FINAL = [s for s in Stage if s not in FINAL_STAGES]
ALLOWED_BESIDES_ROUTE = {Stage.PROPOSED, Stage.RETURNED, Stage.AWARDED, Stage.REJECTED, Stage.WITHDRAWN}


def outcome(result: VoteResult) -> VoteOutcome:
    return VoteOutcome(result=result, reason_vi=f"Kết quả: {result.value}", policy_code="TEST")


def vote(stage: Stage, result: VoteResult = VoteResult.PASSED) -> VoteRecorded:
    return VoteRecorded(at_stage=stage, outcome=outcome(result))


def advance(stage: Stage) -> Event:
    """The event that moves a nomination forward out of a route stage."""
    events: dict[Stage, Event] = {
        Stage.PUBLIC_NOTICE: NoticeElapsed(),
        Stage.COUNCIL_REVIEW: vote(Stage.COUNCIL_REVIEW),
        Stage.BLOC_VOTE: vote(Stage.BLOC_VOTE),
        Stage.CENTRAL_REVIEW: Approved(),
    }
    return events[stage]


def step(state: RouteState, event: Event) -> RouteState:
    result = transition(state, event)
    assert isinstance(result, RouteState), result
    return result


def refused(state: RouteState, event: Event) -> Refusal:
    result = transition(state, event)
    assert isinstance(result, Refusal), result
    return result


def at(stage: Stage, route: tuple[Stage, ...] = FULL_ROUTE, returned_from: Stage | None = None) -> RouteState:
    return RouteState(stage=stage, route=route, returned_from=returned_from)


def reach(route: tuple[Stage, ...], target: Stage) -> RouteState:
    """Walk a route from PROPOSED until `target` by legal events only."""
    state = step(at(Stage.PROPOSED, route), Submitted())
    while state.stage != target:
        state = step(state, advance(state.stage))
    return state


# --- walking the routes --------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(ROUTES))
def test_every_form_walks_from_proposed_to_awarded(code):
    route = ROUTES[code]
    state = at(Stage.PROPOSED, route)
    visited = []
    state = step(state, Submitted())
    while not state.stage.is_final:
        visited.append(state.stage)
        state = step(state, advance(state.stage))
    assert tuple(visited) == route
    assert state.stage == Stage.AWARDED
    assert state.route == route


def test_bang_khen_bo_is_awarded_straight_after_the_council_passes():
    state = step(at(Stage.PROPOSED, ROUTES["BANG_KHEN_BO"]), Submitted())
    assert state.stage == Stage.COUNCIL_REVIEW
    assert step(state, vote(Stage.COUNCIL_REVIEW)).stage == Stage.AWARDED


def test_co_thi_dua_cp_passes_council_then_bloc_then_central():
    route = ROUTES["CO_THI_DUA_CP"]
    state = step(at(Stage.PROPOSED, route), Submitted())
    assert state.stage == Stage.COUNCIL_REVIEW
    state = step(state, vote(Stage.COUNCIL_REVIEW))
    assert state.stage == Stage.BLOC_VOTE
    state = step(state, vote(Stage.BLOC_VOTE))
    assert state.stage == Stage.CENTRAL_REVIEW
    assert step(state, Approved()).stage == Stage.AWARDED


def test_an_empty_route_is_awarded_on_submission():
    assert step(at(Stage.PROPOSED, ()), Submitted()).stage == Stage.AWARDED


def test_next_on_route():
    route = ROUTES["CSTD_TOAN_QUOC"]
    assert next_on_route(route, Stage.PROPOSED) == Stage.PUBLIC_NOTICE
    assert next_on_route(route, Stage.PUBLIC_NOTICE) == Stage.COUNCIL_REVIEW
    assert next_on_route(route, Stage.COUNCIL_REVIEW) == Stage.CENTRAL_REVIEW
    assert next_on_route(route, Stage.CENTRAL_REVIEW) == Stage.AWARDED


# --- votes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "stage"),
    [(r, s) for r in ALL_ROUTES for s in r if s in (Stage.COUNCIL_REVIEW, Stage.BLOC_VOTE)],
)
def test_a_failed_vote_rejects(route, stage):
    state = reach(route, stage)
    after = step(state, vote(stage, VoteResult.FAILED))
    assert after.stage == Stage.REJECTED
    assert after.stage.is_final


@pytest.mark.parametrize(
    ("route", "stage"),
    [(r, s) for r in ALL_ROUTES for s in r if s in (Stage.COUNCIL_REVIEW, Stage.BLOC_VOTE)],
)
def test_no_quorum_keeps_the_stage_and_the_body_meets_again(route, stage):
    state = reach(route, stage)
    again = step(state, vote(stage, VoteResult.NO_QUORUM))
    assert again == state
    assert step(again, vote(stage, VoteResult.PASSED)).stage == next_on_route(route, stage)


def test_central_review_may_reject():
    assert step(reach(FULL_ROUTE, Stage.CENTRAL_REVIEW), Rejected()).stage == Stage.REJECTED


def test_a_vote_recorded_for_the_other_body_is_refused():
    council = reach(FULL_ROUTE, Stage.COUNCIL_REVIEW)
    refusal = refused(council, vote(Stage.BLOC_VOTE))
    assert "BLOC_VOTE" in refusal.reason and "COUNCIL_REVIEW" in refusal.reason
    bloc = reach(FULL_ROUTE, Stage.BLOC_VOTE)
    assert "BLOC_VOTE" in refused(bloc, vote(Stage.COUNCIL_REVIEW, VoteResult.FAILED)).reason


# --- return and resubmission ---------------------------------------------------------------------


@pytest.mark.parametrize(("route", "stage"), [(r, s) for r in ALL_ROUTES for s in r])
def test_returned_then_resubmitted_goes_back_to_the_stage_that_returned_it(route, stage):
    state = reach(route, stage)
    returned = step(state, ReturnedForSupplement())
    assert returned.stage == Stage.RETURNED
    assert returned.returned_from == stage
    back = step(returned, Resubmitted())
    assert back.stage == stage
    assert back.returned_from is None
    # ...and the route goes on from there to the end.
    while not back.stage.is_final:
        back = step(back, advance(back.stage))
    assert back.stage == Stage.AWARDED


def test_returned_twice_from_different_stages_remembers_the_latest():
    state = reach(FULL_ROUTE, Stage.PUBLIC_NOTICE)
    state = step(step(state, ReturnedForSupplement()), Resubmitted())
    state = step(state, NoticeElapsed())
    state = step(state, ReturnedForSupplement())
    assert state.returned_from == Stage.COUNCIL_REVIEW
    assert step(state, Resubmitted()).stage == Stage.COUNCIL_REVIEW


def test_resubmission_without_a_returning_stage_is_refused():
    refusal = refused(at(Stage.RETURNED, returned_from=None), Resubmitted())
    assert "RETURNED" in refusal.reason


@pytest.mark.parametrize("stage", [Stage.PROPOSED, Stage.RETURNED])
def test_return_is_refused_outside_the_route_stages(stage):
    refusal = refused(at(stage, returned_from=Stage.COUNCIL_REVIEW), ReturnedForSupplement())
    assert stage.value in refusal.reason


# --- withdrawal and final stages -----------------------------------------------------------------


@pytest.mark.parametrize("stage", NON_FINAL)
def test_withdrawn_from_every_non_final_stage(stage):
    state = at(stage, returned_from=Stage.COUNCIL_REVIEW if stage == Stage.RETURNED else None)
    after = step(state, Withdrawn())
    assert after.stage == Stage.WITHDRAWN
    assert after.route == state.route


@pytest.mark.parametrize("code", sorted(ROUTES))
def test_withdrawn_from_every_stage_reached_on_each_route(code):
    route = ROUTES[code]
    assert step(at(Stage.PROPOSED, route), Withdrawn()).stage == Stage.WITHDRAWN
    for stage in route:
        state = reach(route, stage)
        assert step(state, Withdrawn()).stage == Stage.WITHDRAWN
        returned = step(state, ReturnedForSupplement())
        assert step(returned, Withdrawn()).stage == Stage.WITHDRAWN


def every_event() -> list[Event]:
    return [
        Submitted(),
        NoticeElapsed(),
        *(vote(s, r) for s in (Stage.COUNCIL_REVIEW, Stage.BLOC_VOTE) for r in VoteResult),
        Approved(),
        Rejected(),
        ReturnedForSupplement(),
        Resubmitted(),
        Withdrawn(),
    ]


@pytest.mark.parametrize("stage", sorted(FINAL_STAGES))
@pytest.mark.parametrize("event", every_event(), ids=lambda e: e.kind)
def test_every_event_in_a_final_stage_is_refused(stage, event):
    refusal = refused(at(stage, returned_from=Stage.COUNCIL_REVIEW), event)
    assert stage.value in refusal.reason
    assert stage.label_vi in refusal.reason


def is_legal(stage: Stage, event: Event, returned_from: Stage | None) -> bool:
    """When an event is accepted, from the procedure in domain.md (independently of the code)."""
    if stage in FINAL_STAGES:
        return False
    match event:
        case Withdrawn():
            return True
        case Submitted():
            return stage == Stage.PROPOSED
        case NoticeElapsed():
            return stage == Stage.PUBLIC_NOTICE
        case VoteRecorded(at_stage=s):
            return stage == s
        case Approved() | Rejected():
            return stage == Stage.CENTRAL_REVIEW
        case ReturnedForSupplement():
            return stage in ROUTE_STAGES
        case Resubmitted():
            return stage == Stage.RETURNED and returned_from is not None
    raise AssertionError(event)


@pytest.mark.parametrize("stage", NON_FINAL)
@pytest.mark.parametrize("event", every_event(), ids=lambda e: e.kind)
def test_events_in_the_wrong_stage_are_refused_naming_the_stage(stage, event):
    returned_from = Stage.COUNCIL_REVIEW if stage == Stage.RETURNED else None
    state = at(stage, returned_from=returned_from)
    result = transition(state, event)
    if is_legal(stage, event, returned_from):
        assert isinstance(result, RouteState), result
    else:
        assert isinstance(result, Refusal), result
        assert f"the nomination is in {stage.value}" in result.reason
        assert event.kind in result.reason


def test_events_parse_by_their_kind():
    adapter = TypeAdapter(Event)
    parsed = adapter.validate_python(
        {
            "kind": "VOTE_RECORDED",
            "at_stage": "BLOC_VOTE",
            "outcome": {"result": "PASSED", "reason_vi": "Đạt", "policy_code": "BLOC_MAJORITY"},
        }
    )
    assert isinstance(parsed, VoteRecorded) and parsed.at_stage == Stage.BLOC_VOTE
    assert isinstance(adapter.validate_python({"kind": "WITHDRAWN"}), Withdrawn)
    with pytest.raises(ValueError):
        adapter.validate_python(
            {
                "kind": "VOTE_RECORDED",
                "at_stage": "CENTRAL_REVIEW",
                "outcome": {"result": "PASSED", "reason_vi": "x", "policy_code": "x"},
            }
        )


# --- properties ----------------------------------------------------------------------------------

EVENTS = st.one_of(
    st.just(Submitted()),
    st.just(NoticeElapsed()),
    st.builds(
        lambda s, r: vote(s, r),
        st.sampled_from([Stage.COUNCIL_REVIEW, Stage.BLOC_VOTE]),
        st.sampled_from(list(VoteResult)),
    ),
    st.just(Approved()),
    st.just(Rejected()),
    st.just(ReturnedForSupplement()),
    st.just(Resubmitted()),
    st.just(Withdrawn()),
)


def check_invariants(state: RouteState, route: tuple[Stage, ...]) -> None:
    assert state.route == route
    assert state.stage in set(route) | ALLOWED_BESIDES_ROUTE
    assert (state.returned_from is not None) == (state.stage == Stage.RETURNED)
    if state.returned_from is not None:
        assert state.returned_from in route


@settings(max_examples=400, deadline=None)
@given(route=st.sampled_from(ALL_ROUTES), events=st.lists(EVENTS, max_size=40))
def test_any_event_sequence_stays_on_the_route_and_final_stays_final(route, events):
    state = at(Stage.PROPOSED, route)
    for event in events:
        was_final = state.stage.is_final
        result = transition(state, event)
        assert isinstance(result, RouteState | Refusal)
        if was_final:
            assert isinstance(result, Refusal)
        if isinstance(result, Refusal):
            assert result.reason
            continue  # a refused event leaves the state as it was
        assert is_legal(state.stage, event, state.returned_from)
        state = result
        check_invariants(state, route)


class NominationMachine(RuleBasedStateMachine):
    """A stateful model: the nomination's stage follows the route, and ends for good."""

    def __init__(self) -> None:
        super().__init__()
        self.route: tuple[Stage, ...] = ()
        self.state = at(Stage.PROPOSED, ())
        self.ended_as: Stage | None = None
        self.furthest = -1  # index on the route of the furthest stage reached

    @initialize(route=st.sampled_from(ALL_ROUTES))
    def start(self, route: tuple[Stage, ...]) -> None:
        self.route = route
        self.state = at(Stage.PROPOSED, route)

    @rule(event=EVENTS)
    def apply(self, event: Event) -> None:
        before = self.state
        result = transition(before, event)
        if isinstance(result, Refusal):
            assert not is_legal(before.stage, event, before.returned_from)
            return
        assert is_legal(before.stage, event, before.returned_from)
        self.state = result
        if result.stage in self.route:
            index = self.route.index(result.stage)
            # Forward by one step at most, or back to where a return came from.
            assert index <= self.furthest + 1
            self.furthest = max(self.furthest, index)
        if result.stage == Stage.AWARDED:
            # Awarded only from the last stage of the route (or on submission of an empty route).
            assert before.stage == (self.route[-1] if self.route else Stage.PROPOSED)
            assert self.furthest == len(self.route) - 1

    @invariant()
    def on_route(self) -> None:
        check_invariants(self.state, self.route)

    @invariant()
    def final_stays_final(self) -> None:
        if self.ended_as is not None:
            assert self.state.stage == self.ended_as
        elif self.state.stage.is_final:
            self.ended_as = self.state.stage


NominationMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
TestNominationMachine = NominationMachine.TestCase
