"""The route that begins at the bloc: a bloc-origin nomination's stages and voting policy, who may propose it
and for whom; and a ballot session's closed list (named nominations only, its seats in the ranking)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.ballot_messages import SessionActionKind, SessionPhase, SessionStart
from domain.ballot_session_state import ClosedListClaim, SessionAct, SessionState, closed_list_refusal
from domain.ballots import BallotSessionKind, Candidate, Electorate, Voter
from domain.catalog import BLOC_ORIGIN_ROUTE, policy_set, route_for
from domain.messages import NominationStart
from domain.nomination import Nomination, nominee_identity_key
from domain.procedure import NominationState, bloc_origin_error, proposal_refusal, vote_policy
from domain.roster import Roster
from domain.stages import Stage
from domain.transitions import Submitted, transition
from domain.voting import Tally
from tests.factories import nomination_data

ROSTER = Roster.model_validate(
    json.loads((Path(__file__).resolve().parents[2] / "config" / "roster.json").read_text(encoding="utf-8"))
)
POLICY = policy_set("2026.01")
HEAD, BTP_REP, BTP_STAFF = "tandtc.khoi.truong", "btp.khoi.dai-dien", "btp.vutckt.le-thi-hoa"
YEAR = 2026
ORIGIN = {"bloc": "NOI_CHINH", "year": YEAR, "bloc_year_id": f"bloc-year-NOI_CHINH-{YEAR}"}


def from_bloc(member: str = "BTP", award_form: str = "CO_THI_DUA_CP", **overrides: Any) -> Nomination:
    name = next(m.name for m in ROSTER.ministries if m.code == member)
    data = nomination_data(award_form, year=YEAR, ministry=member, proposer=HEAD, origin=ORIGIN)
    data["nominee"] = {"kind": "COLLECTIVE", "name": name}
    data.update(overrides)
    return Nomination.model_validate(data)


# ---- the route ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["CO_THI_DUA_CP", "BANG_KHEN_TTG"])
def test_a_bloc_origin_nomination_goes_bloc_then_central_board_whatever_its_form(form):
    award = POLICY.form(form)
    assert route_for(award, None) == award.route
    assert (
        route_for(award, from_bloc(award_form=form).origin)
        == BLOC_ORIGIN_ROUTE
        == (
            Stage.BLOC_VOTE,
            Stage.CENTRAL_REVIEW,
        )
    )
    state = NominationState.starting(NominationStart(nomination=from_bloc(award_form=form), policy_version="2026.01"))
    assert state.route.route == BLOC_ORIGIN_ROUTE and state.from_bloc
    # Its start moves it straight to the bloc's vote, judged by the bloc's majority policy.
    moved = transition(state.route, Submitted())
    assert not hasattr(moved, "reason") and moved.stage == Stage.BLOC_VOTE
    assert state.vote_policy(Stage.BLOC_VOTE).code == "BLOC_MAJORITY"
    with pytest.raises(ValueError, match="has no COUNCIL_REVIEW"):
        state.vote_policy(Stage.COUNCIL_REVIEW)
    # The decision stays the form's decider's.
    assert state.form.decided_by.value == "PRIME_MINISTER"


def test_an_ordinary_nomination_keeps_its_forms_route_and_policies():
    nomination = Nomination.model_validate(nomination_data("BANG_KHEN_TTG"))
    state = NominationState.starting(NominationStart(nomination=nomination, policy_version="2026.01"))
    assert state.route.route == (Stage.COUNCIL_REVIEW, Stage.CENTRAL_REVIEW) and not state.from_bloc
    with pytest.raises(ValueError, match="no BLOC_VOTE"):
        vote_policy(POLICY, state.form, Stage.BLOC_VOTE)


# ---- who may propose it, for whom --------------------------------------------------------------------------


def test_the_bloc_head_proposes_a_member_as_a_whole():
    for member in ("BTP", "KTNN", "VKSNDTC", "TANDTC"):
        nomination = from_bloc(member)
        assert proposal_refusal(ROSTER.snapshot_for(member), nomination) is None
    # The member's name as staff type it: case, spacing and tone placement do not matter.
    spelled = from_bloc("BTP", nominee={"kind": "COLLECTIVE", "name": "  bộ  TƯ pháp "})
    assert bloc_origin_error(ROSTER.snapshot_for("BTP"), spelled) is None


@pytest.mark.parametrize("actor", [BTP_STAFF, BTP_REP, "tw.ban-tdkt.can-bo-1", "nobody.at-all"])
def test_no_one_but_a_bloc_head_proposes_for_the_bloc(actor):
    problem = proposal_refusal(ROSTER.snapshot_for("BTP"), from_bloc(proposer=actor))
    assert problem is not None and problem.startswith("proposer: ")
    assert f"actor {actor!r} may not propose on behalf of bloc NOI_CHINH" in problem
    assert "BLOC_HEAD for NOI_CHINH" in problem


def test_the_bloc_head_cannot_propose_as_a_unit():
    # Without an origin the bloc head is no unit staff of BTP: the ordinary rule refuses.
    plain = Nomination.model_validate(nomination_data("CO_THI_DUA_CP", proposer=HEAD))
    problem = proposal_refusal(ROSTER.snapshot_for("BTP"), plain)
    assert problem is not None and problem.startswith("proposer: proposing a nomination of BTP")


def test_what_a_bloc_may_not_propose():
    snapshot = ROSTER.snapshot_for("BTP")
    other_bloc = from_bloc(origin={**ORIGIN, "bloc": "KINH_TE"})
    assert "may not propose on behalf of bloc KINH_TE" in str(bloc_origin_error(snapshot, other_bloc))
    part = from_bloc(nominee={"kind": "COLLECTIVE", "name": "Vụ Pháp luật hình sự – hành chính"})
    assert str(bloc_origin_error(snapshot, part)).startswith("nominee: a bloc's own proposal is for the member")
    person = from_bloc(
        award_form="BANG_KHEN_TTG",
        nominee={"kind": "INDIVIDUAL", "full_name": "Trần Văn Bình", "position": "Vụ trưởng", "unit": "Vụ A"},
    )
    assert str(bloc_origin_error(snapshot, person)).startswith("nominee: ")
    form = from_bloc(award_form="CO_THI_DUA_BO")
    assert str(bloc_origin_error(snapshot, form)) == (
        "award_form: the honours of bloc NOI_CHINH for 2026 name CO_THI_DUA_CP, BANG_KHEN_TTG, not CO_THI_DUA_BO"
    )
    year = from_bloc(year=YEAR - 1)
    assert str(bloc_origin_error(snapshot, year)).startswith("origin.year: 2026 is not the nomination's year 2025")
    early = from_bloc(origin={**ORIGIN, "year": 2023}, year=2023)
    assert "no scoring table in force for 2023" in str(bloc_origin_error(snapshot, early))


def test_the_identity_claim_is_the_members_own_one():
    # The bloc's proposal of BTP and BTP's own proposal of itself for the same form and year claim the same
    # nominee: whichever starts second is refused as a duplicate (one award of a form per year).
    own = Nomination.model_validate(
        nomination_data("CO_THI_DUA_CP", year=YEAR, nominee={"kind": "COLLECTIVE", "name": "Bộ Tư pháp"})
    )
    assert nominee_identity_key(from_bloc("BTP")) == nominee_identity_key(own)
    assert nominee_identity_key(from_bloc("BTP")) != nominee_identity_key(from_bloc("KTNN"))


# ---- the closed list ---------------------------------------------------------------------------------------

NOW = datetime(2026, 4, 20, 8, 0, tzinfo=UTC)
IDS = ("nomination-2026-BTP-H1", "nomination-2026-KTNN-H1", "nomination-2026-VKSNDTC-H1")


def candidate(wf: str) -> Candidate:
    org = wf.split("-")[2]
    return Candidate(workflow_id=wf, award_form="CO_THI_DUA_CP", nominee_name=org, proposing_organisation=org)


def closed_session(seats: int | None = 2, candidates: tuple[str, ...] = IDS) -> SessionState:
    start = SessionStart(
        kind=BallotSessionKind.BLOC,
        scope="NOI_CHINH",
        meeting_ref="SUY-TON-2026",
        opened_by=HEAD,
        deadline=NOW + timedelta(hours=2),
        policy_version="2026.01",
        candidates=list(candidates),
        seats=seats,
    )
    state = SessionState.opening("ballot-bloc-NOI_CHINH-SUY-TON-2026", start, POLICY)
    state.snapshot = ROSTER.snapshot_for("TANDTC")
    return state


def test_a_closed_list_takes_exactly_its_names_and_closes_at_once():
    s = closed_session()
    claim = ClosedListClaim(candidates=[candidate(wf) for wf in reversed(IDS)])
    assert closed_list_refusal(list(IDS), claim) is None
    assert s.take_up_closed_list(claim, NOW) == list(IDS)  # in the order named
    assert list(s.candidates) == list(IDS) and s.list_closing
    closing = s.unwritten[-1]
    assert closing.action == SessionActionKind.LIST_CLOSED and closing.actor == HEAD
    assert closing.details["nominations"] == 3 and closing.details["seats"] == 2
    # No offer joins it, and no keeper closes it again.
    assert s.refusal(SessionAct.JOIN_LIST) == (
        "the list is closed: this session votes only on the nominations named as it opened"
    )
    assert s.close_list_refusal(HEAD) is not None


def test_an_open_list_still_takes_offers():
    s = closed_session(seats=None, candidates=IDS)
    s.start = s.start.model_copy(update={"candidates": None})
    assert not s.closed_list and s.refusal(SessionAct.JOIN_LIST) is None


def test_a_closed_list_names_what_it_could_not_take():
    claim = ClosedListClaim(
        candidates=[candidate(IDS[0])],
        refused={IDS[1]: "held by another open ballot session", IDS[2]: "unknown, or not waiting at BLOC_VOTE"},
    )
    assert closed_list_refusal(list(IDS), claim) == (
        f"candidates: {IDS[1]}: held by another open ballot session; {IDS[2]}: unknown, or not waiting at BLOC_VOTE"
    )


def tally(votes_for: int, members: int = 2) -> Tally:
    return Tally(members=members, present=members, votes_for=votes_for, votes_against=members - votes_for)


def test_the_seats_replace_the_policys_quota_in_the_ranking():
    s = closed_session(seats=2)
    s.take_up_closed_list(ClosedListClaim(candidates=[candidate(wf) for wf in IDS]), NOW)
    voters = [Voter(id=HEAD, organisation="TANDTC"), Voter(id=BTP_REP, organisation="BTP")]
    voters.append(Voter(id="ktnn.khoi.dai-dien", organisation="KTNN"))
    s.open_voting(Electorate(voters=tuple(voters), kind=BallotSessionKind.BLOC))
    btp, ktnn, vks = IDS
    s.round.ballots = {f"r{i}": None for i in range(3)}  # type: ignore[misc]  # three ballots in: quorate
    s.round.tallies = {vks: tally(3, members=3), btp: tally(2), ktnn: tally(2)}
    assert s.quota() == 2
    ranking = s.rank_round()
    # BLOC_MAJORITY's quota is 1; two seats: VKSNDTC wins one, BTP and KTNN tie for the other.
    assert ranking.quota == 2 and ranking.winners == [vks]
    assert sorted(ranking.tied) == [btp, ktnn] and ranking.seats_left == 1
    # The runoff among the tied fills the one seat left.
    s.verdicts = {vks: (s.round.tallies[vks], ranking.outcomes[vks])}
    s.begin_runoff(ranking)
    s.round.ballots = {f"q{i}": None for i in range(3)}  # type: ignore[misc]
    s.round.tallies = {btp: tally(2), ktnn: tally(2)}
    runoff = s.rank_round()
    assert runoff.quota == 1 and sorted(runoff.tied) == [btp, ktnn] and runoff.seats_left == 1
    assert s.phase == SessionPhase.COLLECTING  # the state's rules only; the workflow moves the phase
