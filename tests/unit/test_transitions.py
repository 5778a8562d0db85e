"""The procedure as a pure function: every route walked, every wrong move refused with a reason."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from pydantic import TypeAdapter

from domain.catalog import policy_set, policy_sets
from domain.stages import FINAL_STAGES, ROUTE_STAGES, Stage
from domain.transitions import (
    Approved,
    DecisionRecorded,
    Event,
    Held,
    Lapsed,
    Noted,
    NoticeElapsed,
    ObjectionDismissed,
    ObjectionFiled,
    ObjectionUpheld,
    Refusal,
    Rejected,
    Released,
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
ALL_ROUTES = list(
    dict.fromkeys(
        [
            *(f.route for p in policy_sets().values() for f in p.award_forms.values() if f.accepts_nominations),
            FULL_ROUTE,
            (),
        ]
    )
)
ROUTES_WITH_NOTICE = [r for r in ALL_ROUTES if Stage.PUBLIC_NOTICE in r]
ROUTES_WITH_CENTRAL = [r for r in ALL_ROUTES if Stage.CENTRAL_REVIEW in r]
NON_FINAL = [s for s in Stage if s not in FINAL_STAGES]
ALLOWED_BESIDES_ROUTE = {
    Stage.PROPOSED,
    Stage.RETURNED,
    Stage.AWARDED,
    Stage.REJECTED,
    Stage.WITHDRAWN,
    Stage.LAPSED,
}
ON_HOLD = "the nomination is on hold"


def route_id(route: tuple[Stage, ...]) -> str:
    return "+".join(s.value for s in route) or "EMPTY"


def outcome(result: VoteResult) -> VoteOutcome:
    return VoteOutcome(result=result, reason_vi=f"Kết quả: {result.value}", policy_code="TEST")


def vote(stage: Stage, result: VoteResult = VoteResult.PASSED) -> VoteRecorded:
    return VoteRecorded(at_stage=stage, outcome=outcome(result))


def advance(stage: Stage, decided: bool = True) -> Event:
    """The event that moves a nomination forward out of a route stage (or out of AWAITING_DECISION)."""
    events: dict[Stage, Event] = {
        Stage.PUBLIC_NOTICE: NoticeElapsed(),
        Stage.COUNCIL_REVIEW: vote(Stage.COUNCIL_REVIEW),
        Stage.BLOC_VOTE: vote(Stage.BLOC_VOTE),
        Stage.CENTRAL_REVIEW: Approved(decided=decided),
        Stage.AWAITING_DECISION: DecisionRecorded(),
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


def at(
    stage: Stage,
    route: tuple[Stage, ...] = FULL_ROUTE,
    returned_from: Stage | None = None,
    *,
    on_hold: bool = False,
    open_objections: int = 0,
) -> RouteState:
    return RouteState(
        stage=stage,
        route=route,
        returned_from=returned_from,
        on_hold=on_hold,
        open_objections=open_objections,
    )


def at_plausibly(stage: Stage, **flags) -> RouteState:
    """A state in `stage` that the route can really be in (a returning stage when RETURNED)."""
    returned_from = Stage.COUNCIL_REVIEW if stage == Stage.RETURNED else None
    return at(stage, FULL_ROUTE, returned_from, **flags)


def reach(route: tuple[Stage, ...], target: Stage, decided: bool = True) -> RouteState:
    """Walk a route from PROPOSED until `target` by legal events only."""
    state = step(at(Stage.PROPOSED, route), Submitted())
    while state.stage != target:
        state = step(state, advance(state.stage, decided))
    return state


def finish(state: RouteState, decided: bool = True) -> RouteState:
    """Walk on from `state` until the nomination ends, passing every body."""
    while not state.stage.is_final:
        state = step(state, advance(state.stage, decided))
    return state


def event_id(event: Event) -> str:
    match event:
        case VoteRecorded(at_stage=s, outcome=o):
            return f"{event.kind}-{s.value}-{o.result.value}"
        case ObjectionUpheld(outcome=o):
            return f"{event.kind}-{o}"
        case Approved(decided=d):
            return f"{event.kind}-{'decided' if d else 'undecided'}"
    return event.kind


def every_event() -> list[Event]:
    return [
        Submitted(),
        NoticeElapsed(),
        *(vote(s, r) for s in (Stage.COUNCIL_REVIEW, Stage.BLOC_VOTE) for r in VoteResult),
        Approved(),
        Approved(decided=False),
        Rejected(),
        ReturnedForSupplement(),
        Resubmitted(),
        Withdrawn(),
        Held(),
        Released(),
        ObjectionFiled(),
        ObjectionDismissed(),
        ObjectionUpheld(outcome="REJECT"),
        ObjectionUpheld(outcome="RETURN"),
        DecisionRecorded(),
        Lapsed(),
        Noted(),
    ]


NEW_EVENTS = [
    Held(),
    Released(),
    ObjectionFiled(),
    ObjectionDismissed(),
    ObjectionUpheld(outcome="REJECT"),
    ObjectionUpheld(outcome="RETURN"),
    DecisionRecorded(),
    Lapsed(),
    Noted(),
]


# --- the procedure, written from domain.md independently of the code ----------------------------


def stages_for(event: Event) -> set[Stage]:
    """The stages where an event has a place at all."""
    match event:
        case Withdrawn() | Held() | Released() | Noted():
            return set(NON_FINAL)
        case Submitted():
            return {Stage.PROPOSED}
        case NoticeElapsed() | ObjectionFiled() | ObjectionDismissed() | ObjectionUpheld():
            return {Stage.PUBLIC_NOTICE}
        case VoteRecorded(at_stage=s):
            return {s}
        case Approved() | Rejected():
            return {Stage.CENTRAL_REVIEW}
        case ReturnedForSupplement():
            return set(ROUTE_STAGES)
        case Resubmitted() | Lapsed():
            return {Stage.RETURNED}
        case DecisionRecorded():
            return {Stage.AWAITING_DECISION}
    raise AssertionError(event)


def is_legal(state: RouteState, event: Event) -> bool:
    """When an event is accepted."""
    if state.stage in FINAL_STAGES:
        return False
    if state.on_hold:
        return isinstance(event, Released)  # nothing but the release while held
    if state.stage not in stages_for(event):
        return False
    match event:
        case Released():
            return False  # not on hold
        case NoticeElapsed():
            return state.open_objections == 0
        case ObjectionDismissed() | ObjectionUpheld():
            return state.open_objections > 0
        case Resubmitted():
            return state.returned_from is not None
    return True


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
    assert tuple(s for s in visited if s != Stage.AWAITING_DECISION) == route
    assert state.stage == Stage.AWARDED
    assert state.route == route


def test_bang_khen_bo_awaits_the_ministers_decision_straight_after_the_council_passes():
    state = step(at(Stage.PROPOSED, ROUTES["BANG_KHEN_BO"]), Submitted())
    assert state.stage == Stage.COUNCIL_REVIEW
    assert step(state, vote(Stage.COUNCIL_REVIEW)).stage == Stage.AWAITING_DECISION


def test_co_thi_dua_cp_passes_council_then_bloc_then_central():
    route = ROUTES["CO_THI_DUA_CP"]
    state = step(at(Stage.PROPOSED, route), Submitted())
    assert state.stage == Stage.COUNCIL_REVIEW
    state = step(state, vote(Stage.COUNCIL_REVIEW))
    assert state.stage == Stage.BLOC_VOTE
    state = step(state, vote(Stage.BLOC_VOTE))
    assert state.stage == Stage.CENTRAL_REVIEW
    assert step(state, Approved()).stage == Stage.AWARDED


def test_an_empty_route_awaits_the_decision_on_submission():
    state = step(at(Stage.PROPOSED, ()), Submitted())
    assert state.stage == Stage.AWAITING_DECISION
    assert step(state, DecisionRecorded()).stage == Stage.AWARDED


def test_next_on_route():
    route = ROUTES["CSTD_TOAN_QUOC"]
    assert next_on_route(route, Stage.PROPOSED) == Stage.PUBLIC_NOTICE
    assert next_on_route(route, Stage.PUBLIC_NOTICE) == Stage.COUNCIL_REVIEW
    assert next_on_route(route, Stage.COUNCIL_REVIEW) == Stage.CENTRAL_REVIEW
    assert next_on_route(route, Stage.CENTRAL_REVIEW) == Stage.AWAITING_DECISION


@pytest.mark.parametrize("route", ALL_ROUTES, ids=route_id)
def test_next_on_route_ends_in_the_decision(route):
    assert [next_on_route(route, s) for s in [Stage.PROPOSED, *route]] == [*route, Stage.AWAITING_DECISION]


# --- the decision --------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ALL_ROUTES, ids=route_id)
def test_every_route_ends_awaiting_the_decision_then_awarded(route):
    state = step(at(Stage.PROPOSED, route), Submitted())
    visited = []
    while state.stage in route:
        visited.append(state.stage)
        state = step(state, advance(state.stage, decided=False))
    assert tuple(visited) == route
    assert state.stage == Stage.AWAITING_DECISION
    assert not state.stage.is_final
    assert (state.route, state.returned_from) == (route, None)
    assert step(state, DecisionRecorded()).stage == Stage.AWARDED


@pytest.mark.parametrize("route", ROUTES_WITH_CENTRAL, ids=route_id)
@pytest.mark.parametrize(
    ("decided", "expected"),
    [
        (True, Stage.AWARDED),  # the approval carries its decision
        (False, Stage.AWAITING_DECISION),
    ],
)
def test_an_approval_awards_unless_it_waits_for_a_separate_decision(route, decided, expected):
    state = reach(route, Stage.CENTRAL_REVIEW)
    assert step(state, Approved(decided=decided)).stage == expected


def test_an_approval_carries_its_decision_by_default():
    assert Approved().decided is True
    state = reach(FULL_ROUTE, Stage.CENTRAL_REVIEW)
    assert step(state, Approved()).stage == Stage.AWARDED


@pytest.mark.parametrize("stage", [s for s in NON_FINAL if s != Stage.AWAITING_DECISION])
def test_a_decision_is_recorded_only_while_awaiting_it(stage):
    state = at_plausibly(stage)
    refusal = refused(state, DecisionRecorded())
    assert f"is in {stage.value}" in refusal.reason


def test_a_decision_refused_outside_awaiting_decision_is_worded_as_the_others():
    for stage in NON_FINAL:
        if stage != Stage.AWAITING_DECISION:
            refusal = refused(at_plausibly(stage), DecisionRecorded())
            assert DecisionRecorded().kind in refusal.reason, stage
            assert f"the nomination is in {stage.value}" in refusal.reason, stage


@pytest.mark.parametrize("route", ALL_ROUTES, ids=route_id)
def test_awaiting_the_decision_the_nomination_may_still_be_withdrawn_or_held(route):
    state = reach(route, Stage.AWAITING_DECISION, decided=False)
    assert step(state, Withdrawn()).stage == Stage.WITHDRAWN
    held = step(state, Held())
    assert held.stage == Stage.AWAITING_DECISION
    assert ON_HOLD in refused(held, DecisionRecorded()).reason
    assert step(step(held, Released()), DecisionRecorded()).stage == Stage.AWARDED


@pytest.mark.parametrize(
    "event",
    [Approved(), Approved(decided=False), Rejected(), ReturnedForSupplement(), Resubmitted(), Lapsed()],
    ids=event_id,
)
def test_awaiting_the_decision_nothing_else_happens(event):
    state = reach(FULL_ROUTE, Stage.AWAITING_DECISION, decided=False)
    refusal = refused(state, event)
    assert Stage.AWAITING_DECISION.value in refusal.reason


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


# --- return, resubmission and lapse --------------------------------------------------------------


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
    assert finish(back).stage == Stage.AWARDED


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


@pytest.mark.parametrize("stage", [Stage.PROPOSED, Stage.RETURNED, Stage.AWAITING_DECISION])
def test_return_is_refused_outside_the_route_stages(stage):
    refusal = refused(at(stage, returned_from=Stage.COUNCIL_REVIEW), ReturnedForSupplement())
    assert stage.value in refusal.reason


@pytest.mark.parametrize(("route", "stage"), [(r, s) for r in ALL_ROUTES for s in r])
def test_a_returned_dossier_not_resubmitted_in_time_lapses_for_good(route, stage):
    returned = step(reach(route, stage), ReturnedForSupplement())
    lapsed = step(returned, Lapsed())
    assert lapsed.stage == Stage.LAPSED
    assert lapsed.stage.is_final
    assert lapsed.returned_from is None
    refusal = refused(lapsed, Resubmitted())
    assert Stage.LAPSED.value in refusal.reason and Stage.LAPSED.label_vi in refusal.reason


@pytest.mark.parametrize("stage", [s for s in NON_FINAL if s != Stage.RETURNED])
def test_only_a_returned_dossier_lapses(stage):
    refusal = refused(at_plausibly(stage), Lapsed())
    assert Stage.RETURNED.value in refusal.reason
    assert f"the nomination is in {stage.value}" in refusal.reason


# --- holds ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", NON_FINAL)
def test_every_non_final_stage_can_be_held_and_released_unchanged(stage):
    state = at_plausibly(stage)
    held = step(state, Held())
    assert held.on_hold is True
    assert held.model_copy(update={"on_hold": False}) == state  # nothing but the hold changed
    released = step(held, Released())
    assert released == state


@pytest.mark.parametrize("stage", NON_FINAL)
@pytest.mark.parametrize("event", [e for e in every_event() if not isinstance(e, Released)], ids=event_id)
def test_nothing_moves_while_on_hold(stage, event):
    held = step(at_plausibly(stage), Held())
    refusal = refused(held, event)
    assert ON_HOLD in refusal.reason


@pytest.mark.parametrize("stage", NON_FINAL)
def test_a_release_needs_a_hold(stage):
    assert "not on hold" in refused(at_plausibly(stage), Released()).reason


@pytest.mark.parametrize(("route", "stage"), [(r, s) for r in ALL_ROUTES for s in r])
def test_a_held_nomination_resumes_where_it_stood(route, stage):
    state = reach(route, stage, decided=False)
    resumed = step(step(state, Held()), Released())
    assert resumed == state
    end = finish(resumed, decided=False)
    assert end.stage == Stage.AWARDED


def test_a_hold_keeps_the_open_objections_and_the_returning_stage():
    notice = at(Stage.PUBLIC_NOTICE, open_objections=2)
    held = step(notice, Held())
    assert held.open_objections == 2
    released = step(held, Released())
    assert released.open_objections == 2
    assert "2 objection" in refused(released, NoticeElapsed()).reason
    returned = at(Stage.RETURNED, returned_from=Stage.BLOC_VOTE)
    assert step(step(returned, Held()), Released()).returned_from == Stage.BLOC_VOTE


def test_the_notice_does_not_elapse_and_the_dossier_does_not_lapse_while_held():
    notice = step(reach(FULL_ROUTE, Stage.PUBLIC_NOTICE), Held())
    assert ON_HOLD in refused(notice, NoticeElapsed()).reason
    returned = step(step(reach(FULL_ROUTE, Stage.COUNCIL_REVIEW), ReturnedForSupplement()), Held())
    assert ON_HOLD in refused(returned, Lapsed()).reason
    assert step(step(returned, Released()), Lapsed()).stage == Stage.LAPSED


# --- objections during the public notice ---------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES_WITH_NOTICE, ids=route_id)
def test_the_notice_does_not_elapse_until_every_objection_is_resolved(route):
    state = reach(route, Stage.PUBLIC_NOTICE)
    state = step(step(state, ObjectionFiled()), ObjectionFiled())
    assert (state.stage, state.open_objections) == (Stage.PUBLIC_NOTICE, 2)
    assert "2 objection(s)" in refused(state, NoticeElapsed()).reason
    state = step(state, ObjectionDismissed())
    assert (state.stage, state.open_objections) == (Stage.PUBLIC_NOTICE, 1)
    assert "1 objection(s)" in refused(state, NoticeElapsed()).reason
    state = step(state, ObjectionDismissed())
    assert state.open_objections == 0
    after = step(state, NoticeElapsed())
    assert after.stage == next_on_route(route, Stage.PUBLIC_NOTICE)
    assert after.open_objections == 0


@pytest.mark.parametrize("route", ROUTES_WITH_NOTICE, ids=route_id)
def test_an_upheld_objection_may_reject_the_nomination(route):
    state = step(step(reach(route, Stage.PUBLIC_NOTICE), ObjectionFiled()), ObjectionFiled())
    after = step(state, ObjectionUpheld(outcome="REJECT"))
    assert after.stage == Stage.REJECTED
    assert after.open_objections == 0
    assert after.returned_from is None


@pytest.mark.parametrize("route", ROUTES_WITH_NOTICE, ids=route_id)
def test_an_upheld_objection_may_return_the_dossier_to_the_public_notice(route):
    state = step(reach(route, Stage.PUBLIC_NOTICE), ObjectionFiled())
    returned = step(state, ObjectionUpheld(outcome="RETURN"))
    assert returned.stage == Stage.RETURNED
    assert returned.returned_from == Stage.PUBLIC_NOTICE
    assert returned.open_objections == 0
    back = step(returned, Resubmitted())
    assert (back.stage, back.open_objections, back.returned_from) == (Stage.PUBLIC_NOTICE, 0, None)
    assert step(back, NoticeElapsed()).stage == next_on_route(route, Stage.PUBLIC_NOTICE)


@pytest.mark.parametrize(
    "event", [ObjectionDismissed(), *(ObjectionUpheld(outcome=o) for o in ("REJECT", "RETURN"))], ids=event_id
)
def test_resolving_an_objection_needs_an_open_one(event):
    state = reach(FULL_ROUTE, Stage.PUBLIC_NOTICE)
    assert "no open objection" in refused(state, event).reason
    dismissed = step(step(state, ObjectionFiled()), ObjectionDismissed())
    assert "no open objection" in refused(dismissed, event).reason


@pytest.mark.parametrize(
    "event", [ObjectionFiled(), ObjectionDismissed(), ObjectionUpheld(outcome="RETURN")], ids=event_id
)
def test_objections_are_taken_only_during_the_public_notice(event):
    council = reach(FULL_ROUTE, Stage.COUNCIL_REVIEW)
    refusal = refused(council, event)
    assert Stage.PUBLIC_NOTICE.value in refusal.reason
    assert "the nomination is in COUNCIL_REVIEW" in refusal.reason


def test_a_nomination_with_open_objections_may_be_withdrawn_or_returned():
    state = step(reach(FULL_ROUTE, Stage.PUBLIC_NOTICE), ObjectionFiled())
    assert step(state, Withdrawn()).stage == Stage.WITHDRAWN
    returned = step(state, ReturnedForSupplement())
    assert (returned.stage, returned.returned_from) == (Stage.RETURNED, Stage.PUBLIC_NOTICE)


@pytest.mark.parametrize(
    "returning",
    [[ReturnedForSupplement()], [ObjectionFiled(), ObjectionUpheld(outcome="RETURN")]],
    ids=["returned", "second-objection-upheld"],
)
def test_objections_open_at_a_return_must_still_be_resolved_after_resubmission(returning):
    state = step(reach(FULL_ROUTE, Stage.PUBLIC_NOTICE), ObjectionFiled())
    for event in returning:
        state = step(state, event)
    back = step(state, Resubmitted())
    assert back.stage == Stage.PUBLIC_NOTICE
    refused(back, NoticeElapsed())  # domain.md: objections must be resolved before the council votes


# --- notes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", NON_FINAL)
def test_a_note_is_accepted_and_moves_nothing(stage):
    state = at_plausibly(stage, open_objections=1 if stage == Stage.PUBLIC_NOTICE else 0)
    assert transition(state, Noted()) == state


@pytest.mark.parametrize("stage", NON_FINAL)
def test_a_note_bound_to_a_stage_is_refused_elsewhere(stage):
    """A consultation belongs to the central appraisal: one that lost a race to an approval is refused."""
    state = at_plausibly(stage, open_objections=1 if stage == Stage.PUBLIC_NOTICE else 0)
    outcome = transition(state, Noted(at_stage=Stage.CENTRAL_REVIEW))
    if stage == Stage.CENTRAL_REVIEW:
        assert outcome == state
    else:
        assert isinstance(outcome, Refusal) and "only possible in CENTRAL_REVIEW" in outcome.reason


# --- withdrawal and final stages -----------------------------------------------------------------


@pytest.mark.parametrize("stage", NON_FINAL)
def test_withdrawn_from_every_non_final_stage(stage):
    state = at_plausibly(stage)
    after = step(state, Withdrawn())
    assert after.stage == Stage.WITHDRAWN
    assert after.route == state.route
    assert after.returned_from is None


@pytest.mark.parametrize("code", sorted(ROUTES))
def test_withdrawn_from_every_stage_reached_on_each_route(code):
    route = ROUTES[code]
    assert step(at(Stage.PROPOSED, route), Withdrawn()).stage == Stage.WITHDRAWN
    for stage in route:
        state = reach(route, stage)
        assert step(state, Withdrawn()).stage == Stage.WITHDRAWN
        returned = step(state, ReturnedForSupplement())
        assert step(returned, Withdrawn()).stage == Stage.WITHDRAWN


@pytest.mark.parametrize("stage", sorted(FINAL_STAGES))
@pytest.mark.parametrize("event", every_event(), ids=event_id)
def test_every_event_in_a_final_stage_is_refused(stage, event):
    refusal = refused(at(stage, returned_from=Stage.COUNCIL_REVIEW), event)
    assert stage.value in refusal.reason
    assert stage.label_vi in refusal.reason


@pytest.mark.parametrize("stage", NON_FINAL)
@pytest.mark.parametrize("event", every_event(), ids=event_id)
def test_events_in_the_wrong_stage_are_refused_naming_the_stage(stage, event):
    state = at_plausibly(stage)
    result = transition(state, event)
    assert isinstance(result, RouteState) == is_legal(state, event), result
    if stage not in stages_for(event):
        assert isinstance(result, Refusal)
        assert stage.value in result.reason
        if not isinstance(event, DecisionRecorded):  # see test_a_decision_refused_..._in_the_usual_words
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
    assert adapter.validate_python({"kind": "APPROVED"}) == Approved(decided=True)
    assert adapter.validate_python({"kind": "APPROVED", "decided": False}) == Approved(decided=False)
    with pytest.raises(ValueError):
        adapter.validate_python(
            {
                "kind": "VOTE_RECORDED",
                "at_stage": "CENTRAL_REVIEW",
                "outcome": {"result": "PASSED", "reason_vi": "x", "policy_code": "x"},
            }
        )


@pytest.mark.parametrize("event", NEW_EVENTS, ids=event_id)
def test_the_new_events_parse_by_their_kind(event):
    assert TypeAdapter(Event).validate_python(event.model_dump()) == event


def test_an_objection_is_upheld_only_to_reject_or_return():
    with pytest.raises(ValueError):
        ObjectionUpheld.model_validate({"outcome": "DISMISS"})


def test_open_objections_cannot_be_negative():
    with pytest.raises(ValueError):
        at(Stage.PUBLIC_NOTICE, open_objections=-1)


# --- properties ----------------------------------------------------------------------------------

EVENTS = st.sampled_from(every_event())


def events_for(state: RouteState) -> st.SearchStrategy[Event]:
    """Any event, or (as often) one with a place in the current stage: random walks then reach the end of
    long routes, held stages and open objections instead of mostly ending in a withdrawal."""
    placed = [e for e in every_event() if state.stage in stages_for(e) and not isinstance(e, Withdrawn)]
    return st.one_of(st.sampled_from(placed), EVENTS) if placed else EVENTS


def allowed_stages(route: tuple[Stage, ...]) -> set[Stage]:
    return set(route) | ALLOWED_BESIDES_ROUTE | {Stage.AWAITING_DECISION}


def check_invariants(state: RouteState, route: tuple[Stage, ...]) -> None:
    assert state.route == route
    assert state.stage in allowed_stages(route)
    assert (state.returned_from is not None) == (state.stage == Stage.RETURNED)
    if state.returned_from is not None:
        assert state.returned_from in route
    assert state.open_objections >= 0
    if state.open_objections:  # still open in the notice, or carried through a return from it
        assert state.stage == Stage.PUBLIC_NOTICE or (
            state.stage == Stage.RETURNED and state.returned_from == Stage.PUBLIC_NOTICE
        )
    if state.stage.is_final:
        assert not state.on_hold


def check_step(before: RouteState, event: Event, result: RouteState | Refusal) -> None:
    """One transition against the procedure: accepted exactly when legal; holds freeze the stage."""
    assert isinstance(result, RouteState | Refusal)
    assert isinstance(result, RouteState) == is_legal(before, event), (before, event, result)
    if isinstance(result, Refusal):
        assert result.reason
        return
    assert not before.stage.is_final
    if before.on_hold:
        assert (result.stage, result.returned_from, result.open_objections) == (
            before.stage,
            before.returned_from,
            before.open_objections,
        )
    if result.on_hold != before.on_hold:
        assert isinstance(event, Held if result.on_hold else Released)
        assert result.stage == before.stage
    same_place = (before.stage, before.returned_from)
    match event:
        case Noted():
            assert result == before
        case Held() | Released():
            assert result == before.model_copy(update={"on_hold": isinstance(event, Held)})
        case ObjectionFiled() | ObjectionDismissed():
            assert (result.stage, result.returned_from) == same_place
            assert result.open_objections == before.open_objections + (1 if isinstance(event, ObjectionFiled) else -1)
        case ObjectionUpheld(outcome="REJECT"):
            assert result.stage == Stage.REJECTED
        case ObjectionUpheld(outcome="RETURN"):
            assert (result.stage, result.returned_from) == (Stage.RETURNED, Stage.PUBLIC_NOTICE)
        case Approved(decided=decided):
            assert result.stage == (Stage.AWARDED if decided else Stage.AWAITING_DECISION)
        case DecisionRecorded():
            assert result.stage == Stage.AWARDED
        case Lapsed():
            assert result.stage == Stage.LAPSED


@settings(max_examples=400, deadline=None)
@given(
    route=st.sampled_from(ALL_ROUTES),
    length=st.integers(0, 40),
    data=st.data(),
)
def test_any_event_sequence_stays_on_the_route_and_final_stays_final(route, length, data):
    state = at(Stage.PROPOSED, route)
    for _ in range(length):
        event = data.draw(events_for(state))
        result = transition(state, event)
        check_step(state, event, result)
        if isinstance(result, Refusal):
            continue  # a refused event leaves the state as it was
        state = result
        check_invariants(state, route)


class NominationMachine(RuleBasedStateMachine):
    """A stateful model: the nomination's stage follows the route, freezes while held, and ends for good."""

    def __init__(self) -> None:
        super().__init__()
        self.route: tuple[Stage, ...] = ()
        self.state = at(Stage.PROPOSED, ())
        self.ended_as: Stage | None = None
        self.held_in: Stage | None = None
        self.furthest = -1  # index on the route of the furthest stage reached

    @initialize(route=st.sampled_from(ALL_ROUTES))
    def start(self, route: tuple[Stage, ...]) -> None:
        self.route = route
        self.state = at(Stage.PROPOSED, route)

    @rule(event=EVENTS)
    def apply_any(self, event: Event) -> None:
        self.apply(event)

    @rule(data=st.data())
    def apply_one_with_a_place_here(self, data: st.DataObject) -> None:
        self.apply(data.draw(events_for(self.state)))

    def apply(self, event: Event) -> None:
        before = self.state
        result = transition(before, event)
        check_step(before, event, result)
        if isinstance(result, Refusal):
            return
        self.state = result
        last = self.route[-1] if self.route else Stage.PROPOSED
        if result.stage in self.route:
            index = self.route.index(result.stage)
            # Forward by one step at most, or back to where a return came from.
            assert index <= self.furthest + 1
            self.furthest = max(self.furthest, index)
        if result.stage == Stage.AWAITING_DECISION and before.stage != Stage.AWAITING_DECISION:
            # Only from the end of the route.
            assert before.stage == last
            assert self.furthest == len(self.route) - 1
        if result.stage == Stage.AWARDED:
            if before.stage == Stage.AWAITING_DECISION:
                assert isinstance(event, DecisionRecorded)
            else:
                # Awarded only from the last stage of the route (or on submission of an empty route)...
                assert before.stage == last
                assert self.furthest == len(self.route) - 1
                # ...and only by an approval that carries its decision.
                assert isinstance(event, Approved) and event.decided
        if result.stage == Stage.LAPSED:
            assert before.stage == Stage.RETURNED

    @invariant()
    def on_route(self) -> None:
        check_invariants(self.state, self.route)

    @invariant()
    def held_stays_put(self) -> None:
        if self.state.on_hold:
            if self.held_in is None:
                self.held_in = self.state.stage
            assert self.state.stage == self.held_in
        else:
            self.held_in = None

    @invariant()
    def final_stays_final(self) -> None:
        if self.ended_as is not None:
            assert self.state.stage == self.ended_as
        elif self.state.stage.is_final:
            self.ended_as = self.state.stage


NominationMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
TestNominationMachine = NominationMachine.TestCase
