"""The bloc's own proposals between the parts: who reads one (the bloc's people whatever its form, the member's
staff, the central board), who answers it when it is returned (whoever proposed it: the bloc head), and a tier
whose session gave no results (voided, re-opened over the same nominations, each proposal's end recorded once)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql

from client.access import register_scope, visibility_scope
from domain.access import may_read_nomination, read_scope
from domain.bloc.year import BlocYearAct, BlocYearPhase, BlocYearRecord, CloseReview, OpenHonouring
from domain.catalog import policy_set
from domain.messages import NominationStart
from domain.nomination import Nomination
from domain.operator_view import awaited_role, operator_view
from domain.procedure import Action, NominationState, Step, required_grants
from domain.roster import Actor, Role, RoleGrant, Roster
from domain.stages import Stage
from domain.transitions import ReturnedForSupplement, RouteState, transition
from tests.factories import nomination_data
from tests.unit.test_bloc_year_state import HEAD as YEAR_HEAD
from tests.unit.test_bloc_year_state import T0, in_review, opened

ROOT = Path(__file__).resolve().parents[2]
ROSTER = Roster.model_validate(json.loads((ROOT / "config" / "roster.json").read_text(encoding="utf-8")))
ACTORS = {a.id: a for a in ROSTER.actors}
POLICY = policy_set("2026.01")
BLOC, YEAR = "NOI_CHINH", 2026
HEAD = "tandtc.khoi.truong"  # BLOC_HEAD of NOI_CHINH
BTP_REP = "btp.khoi.dai-dien"
BTP_STAFF, KTNN_STAFF = "btp.vutckt.le-thi-hoa", "ktnn.vutckt.hoang-anh"
CENTRAL = "tw.ban-tdkt.can-bo-1"
ORIGIN = {"bloc": BLOC, "year": YEAR, "bloc_year_id": f"bloc-year-{BLOC}-{YEAR}"}


def from_bloc(member: str = "BTP", award_form: str = "BANG_KHEN_TTG") -> Nomination:
    name = next(m.name for m in ROSTER.ministries if m.code == member)
    data = nomination_data(award_form, year=YEAR, ministry=member, proposer=HEAD, origin=ORIGIN)
    data["nominee"] = {"kind": "COLLECTIVE", "name": name}
    return Nomination.model_validate(data)


def scope_of(actor_id: str, actor: Actor | None = None) -> Any:
    return read_scope(actor_id, actor or ACTORS.get(actor_id), ROSTER.ministries)


def other_bloc_representative() -> Actor:
    return Actor(
        id="bkhdt.khoi.dai-dien",
        full_name="Đỗ Thị Lan",
        organisation="BKHDT",
        roles=(RoleGrant(role=Role.BLOC_REPRESENTATIVE, scope="KINH_TE"),),
    )


# ---- reading ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reader", [HEAD, BTP_REP])
def test_the_blocs_people_read_its_own_proposal_of_a_form_that_never_goes_through_a_bloc_vote(reader: str):
    scope = scope_of(reader)
    # BANG_KHEN_TTG's usual route is council → central board: a unit's proposal of it is not the bloc's to read.
    assert Stage.BLOC_VOTE not in POLICY.form("BANG_KHEN_TTG").route
    assert not may_read_nomination(scope, "BTP", BLOC, "BANG_KHEN_TTG", POLICY)
    assert may_read_nomination(scope, "BTP", BLOC, "BANG_KHEN_TTG", POLICY, origin_bloc=BLOC)
    assert may_read_nomination(scope, "KTNN", BLOC, "CO_THI_DUA_CP", POLICY, origin_bloc=BLOC)


def test_another_blocs_people_and_another_ministrys_staff_do_not_read_it_its_members_staff_and_the_board_do():
    outsider = scope_of("bkhdt.khoi.dai-dien", other_bloc_representative())
    assert not may_read_nomination(outsider, "BTP", BLOC, "BANG_KHEN_TTG", POLICY, origin_bloc=BLOC)
    assert not may_read_nomination(scope_of(KTNN_STAFF), "BTP", BLOC, "BANG_KHEN_TTG", POLICY, origin_bloc=BLOC)
    assert may_read_nomination(scope_of(BTP_STAFF), "BTP", BLOC, "BANG_KHEN_TTG", POLICY, origin_bloc=BLOC)
    assert may_read_nomination(scope_of(CENTRAL), "BTP", BLOC, "BANG_KHEN_TTG", POLICY, origin_bloc=BLOC)
    assert not may_read_nomination(scope_of("nobody"), "BTP", BLOC, "BANG_KHEN_TTG", POLICY, origin_bloc=BLOC)


@given(
    form=st.sampled_from(sorted(POLICY.award_forms)),
    ministry=st.sampled_from([m.code for m in ROSTER.ministries]),
    reader=st.sampled_from(sorted(ACTORS)),
)
def test_an_origin_only_ever_widens_what_a_reader_reads_and_only_for_its_blocs_people(
    form: str, ministry: str, reader: str
):
    scope = scope_of(reader)
    without = may_read_nomination(scope, ministry, BLOC, form, POLICY)
    with_origin = may_read_nomination(scope, ministry, BLOC, form, POLICY, origin_bloc=BLOC)
    assert without <= with_origin
    if with_origin and not without:
        assert BLOC in scope.blocs


def test_the_lists_and_the_register_let_a_bloc_reader_see_its_own_proposals():
    scope = scope_of(BTP_REP)
    clause = visibility_scope(scope)
    assert clause is not None and "OriginBloc IN ('NOI_CHINH')" in clause
    rows = register_scope(scope)
    assert rows is not None
    sql = str(rows.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    assert "nominations.origin_bloc IN ('NOI_CHINH')" in sql
    # A unit's staff list by ministry only: no origin clause widens theirs.
    staff = visibility_scope(scope_of(BTP_STAFF))
    assert staff is not None and "OriginBloc" not in staff


# ---- a returned proposal goes back to whoever proposed it ------------------------------------------------


def returned(nomination: Nomination) -> NominationState:
    state = NominationState.starting(NominationStart(nomination=nomination, policy_version="2026.01"))
    state.snapshot = ROSTER.snapshot_for(nomination.ministry)
    state.route = state.route.model_copy(update={"stage": Stage.CENTRAL_REVIEW})
    moved = transition(state.route, ReturnedForSupplement())
    assert isinstance(moved, RouteState) and moved.stage == Stage.RETURNED
    state.route = moved
    return state


@pytest.mark.parametrize("action", [Action.RESUBMIT, Action.WITHDRAW])
def test_the_bloc_head_answers_a_returned_bloc_proposal_the_units_staff_a_units(action: Action):
    snapshot = ROSTER.snapshot_for("BTP")
    bloc_grants = required_grants(action, Stage.RETURNED, snapshot, origin=from_bloc().origin)
    assert bloc_grants == [RoleGrant(role=Role.BLOC_HEAD, scope=BLOC)]
    assert required_grants(action, Stage.RETURNED, snapshot) == [RoleGrant(role=Role.UNIT_STAFF, scope="BTP")]


@pytest.mark.parametrize("step", [Step.RESUBMIT, Step.WITHDRAW])
def test_on_a_returned_bloc_proposal_the_head_may_and_the_members_staff_may_not(step: Step):
    state = returned(from_bloc())
    assert state.refusal(step, HEAD) is None  # the proposer, acting on their own proposal
    refusal = state.refusal(step, BTP_STAFF)
    assert refusal is not None and "BLOC_HEAD for NOI_CHINH" in refusal
    assert state.refusal(step, BTP_REP) is not None  # a representative is not the head
    # A unit's own returned nomination stays its staff's.
    unit = returned_unit()
    assert unit.refusal(step, BTP_STAFF) is None
    assert unit.refusal(step, HEAD) is not None


def returned_unit() -> NominationState:
    nomination = Nomination.model_validate(nomination_data("BANG_KHEN_TTG", proposer=BTP_STAFF))
    return returned(nomination)


def test_the_withdrawal_of_a_bloc_proposal_waiting_for_its_vote_is_the_heads():
    state = NominationState.starting(NominationStart(nomination=from_bloc(), policy_version="2026.01"))
    state.snapshot = ROSTER.snapshot_for("BTP")
    state.route = state.route.model_copy(update={"stage": Stage.BLOC_VOTE})
    assert state.refusal(Step.WITHDRAW, HEAD) is None
    assert state.refusal(Step.WITHDRAW, BTP_STAFF) is not None


def test_a_returned_bloc_proposal_awaits_the_bloc_head():
    state = returned(from_bloc())
    assert operator_view(state).awaiting == Role.BLOC_HEAD
    assert operator_view(returned_unit()).awaiting == Role.UNIT_STAFF
    assert awaited_role(state.route, "PRIME_MINISTER", from_bloc=True) == Role.BLOC_HEAD


# ---- a tier whose session gave no results --------------------------------------------------------------------


def honouring() -> Any:
    state = opened()
    in_review(state, {"BCA": "full", "BTP": "full", "KTNN": "1"})
    state.close_review(CloseReview(actor=YEAR_HEAD), T0)
    return state


def test_a_voided_tier_is_opened_again_over_the_same_nominations_under_a_new_meeting_reference():
    state = honouring()
    first = OpenHonouring(actor=YEAR_HEAD, deadline=T0 + timedelta(days=1), meeting_ref="HN-2025-04")
    plan = state.plan_tier()
    state.request_honouring(first)
    state.tier_opened(first, plan, {"BCA": "wf-bca", "BTP": "wf-btp"}, "ballot-bloc-NOI_CHINH-HN-2025-04", T0)
    write = state.tier_voided("phiên bỏ phiếu CANCELLED: không đủ người", T0)

    assert write.action == "HONOURING_TIER_VOIDED" and write.to_phase == BlocYearPhase.HONOURING
    assert write.details == {
        "award_form": "CO_THI_DUA_CP",
        "session_id": "ballot-bloc-NOI_CHINH-HN-2025-04",
        "nominations": 2,
    }
    [notice] = write.notifications
    assert notice.party == "BLOC_HEAD:NOI_CHINH" and "mở lại" in notice.body
    assert state.r.tiers[0].voided and state.r.tiers[0].proposed == ()
    assert state.r.honouring_request is None and state.phase == BlocYearPhase.HONOURING
    # The same tier comes next, with the same candidates; its nominations are taken up again.
    assert state.next_tier_index() == 0
    again = state.plan_tier()
    assert again == plan
    assert state.reusable_proposals("CO_THI_DUA_CP") == {"BCA": "wf-bca", "BTP": "wf-btp"}
    assert state.reusable_proposals("BANG_KHEN_TTG") == {}
    # Not under the cancelled session's reference: that session id is taken.
    refusal = state.refusal(BlocYearAct.OPEN_HONOURING, first, T0)
    assert refusal is not None and refusal.startswith("meeting_ref: phiên ballot-bloc-NOI_CHINH-HN-2025-04")
    second = first.model_copy(update={"meeting_ref": "HN-2025-04-LAI"})
    assert state.refusal(BlocYearAct.OPEN_HONOURING, second, T0) is None

    state.request_honouring(second)
    state.tier_opened(second, again, {"BCA": "wf-bca", "BTP": "wf-btp"}, "ballot-bloc-NOI_CHINH-HN-2025-04-LAI", T0)
    state.tier_voted(["BCA"], T0)
    assert [t.voided for t in state.r.tiers] == [True, False] and state.r.tiers[1].proposed == ("BCA",)
    assert state.next_tier_index() == 1 and state.plan_tier().award_form == "BANG_KHEN_TTG"
    assert state.unsettled() == ["wf-bca"]
    # Each end is recorded once, on the tier that voted on it.
    assert state.proposal_ended("wf-bca", Stage.AWARDED, T0) is not None
    assert state.proposal_ended("wf-bca", Stage.AWARDED, T0) is None
    assert state.r.tiers[1].settled == {"wf-bca": Stage.AWARDED} and state.r.tiers[0].settled == {}
    assert state.proposal_ended("wf-btp", Stage.WITHDRAWN, T0) is not None  # not proposed, ended all the same
    assert state.proposal_ended("wf-unknown", Stage.WITHDRAWN, T0) is None
    assert state.unsettled() == []


def test_a_voided_tier_carries_over_continue_as_new():
    state = honouring()
    request = OpenHonouring(actor=YEAR_HEAD, deadline=T0 + timedelta(days=1), meeting_ref="HN-1")
    state.request_honouring(request)
    state.tier_opened(request, state.plan_tier(), {"BCA": "wf-bca"}, "ballot-bloc-NOI_CHINH-HN-1", T0)
    state.tier_voided("phiên bỏ phiếu lỗi (ApplicationError)", T0)
    carried = BlocYearRecord.model_validate_json(state.r.model_dump_json())
    assert carried.tiers[0].voided and carried.tiers[0].nominations == {"BCA": "wf-bca"}
