"""Secret-ballot sessions: ballots, conflicts, counting, council outcomes and the bloc ranking with quota."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.ballot_messages import MinutesResult
from domain.ballots import (
    Ballot,
    BallotSessionKind,
    BlocRanking,
    Candidate,
    Choice,
    ConflictRule,
    Electorate,
    ReceiptState,
    Voter,
    ballot_errors,
    bloc_quota,
    conflicted,
    council_outcomes,
    count,
    head_decision_verdicts,
    leaving_reason_vi,
    live_candidates,
    natural_conflict_rule,
    opener_error,
    rank_bloc,
    receipt_counted,
    receipt_state,
    resolve_with_head_decision,
    runoff_candidates,
    runoff_seats,
    runoffs_exhausted,
    session_errors,
    struck_reason_vi,
    struck_tally,
    tie_decision_errors,
    turnout,
    void_struck,
)
from domain.catalog import Fraction, VotingPolicy, policy_set
from domain.stages import Stage
from domain.voting import Tally, VoteResult, evaluate

POLICY = policy_set("2025.07")
SECRET_90 = POLICY.voting_policies["COUNCIL_SECRET_90"]
MAJORITY = POLICY.voting_policies["COUNCIL_MAJORITY"]
BLOC = POLICY.voting_policies["BLOC_MAJORITY"]
# Everyone who passes the quorum passes: makes ties and quota pressure common in property tests.
ANY_VOTE = VotingPolicy(
    code="TEST_ANY",
    description_vi="Không ngưỡng",
    quorum=Fraction(numerator=0, denominator=1),
    threshold=Fraction(numerator=0, denominator=1),
    source="test",
)

HYPOTHESIS = settings(max_examples=300, deadline=None)

F, A, X = Choice.FOR, Choice.AGAINST, Choice.ABSTAIN
BLOC_ORGS = ["BCA", "BTP", "TANDTC", "VKSNDTC", "TTCP", "KTNN", "TCCT", "BTLLANG", "BQP"]


def bloc_electorate(orgs: list[str] = BLOC_ORGS) -> Electorate:
    return Electorate(
        kind=BallotSessionKind.BLOC, voters=tuple(Voter(id=f"rep-{o.lower()}", organisation=o) for o in orgs)
    )


def council(n: int, org: str = "BTP") -> Electorate:
    return Electorate(voters=tuple(Voter(id=f"m{i}", organisation=org) for i in range(1, n + 1)))


def cand(wf: str, org: str = "BTP", nominee: str | None = None, form: str = "CO_THI_DUA_CP") -> Candidate:
    return Candidate(
        workflow_id=wf,
        award_form=form,
        nominee_name=f"Nominee of {wf}",
        nominee_actor_id=nominee,
        proposing_organisation=org,
    )


def ballots_from(electorate: Electorate, plan: dict[str, list[Choice | None]]) -> list[Ballot]:
    """plan: candidate -> one choice per voter in electorate order (None: omitted / did not vote)."""
    out = []
    for i, voter in enumerate(electorate.voters):
        choices = {wf: cs[i] for wf, cs in plan.items() if cs[i] is not None}
        if choices:
            out.append(Ballot(voter_id=voter.id, choices=choices))
    return out


# --- electorate, candidates, conflicts -----------------------------------------------------------


def test_a_bloc_has_one_ballot_per_member_organisation():
    with pytest.raises(ValidationError, match="organisation 'BTP' has two voters"):
        Electorate(
            kind=BallotSessionKind.BLOC,
            voters=(Voter(id="a", organisation="BTP"), Voter(id="b", organisation="BTP")),
        )
    # A council may have several members from one organisation.
    assert council(3).size == 3


def test_voter_ids_are_unique_and_an_electorate_is_not_empty():
    with pytest.raises(ValidationError, match="voter 'a' appears more than once"):
        Electorate(voters=(Voter(id="a", organisation="X"), Voter(id="a", organisation="Y")))
    with pytest.raises(ValidationError):
        Electorate(voters=())


def test_conflict_rules():
    nominee = Voter(id="m1", organisation="BTP")
    colleague = Voter(id="m2", organisation="BTP")
    outsider = Voter(id="m3", organisation="BCA")
    c = cand("wf-1", org="BTP", nominee="m1")
    assert conflicted(nominee, c, ConflictRule.NOMINEE_ONLY)
    assert not conflicted(colleague, c, ConflictRule.NOMINEE_ONLY)
    assert conflicted(colleague, c, ConflictRule.NOMINEE_AND_UNIT)
    assert not conflicted(outsider, c, ConflictRule.NOMINEE_AND_UNIT)
    # A collective nominee has no actor id: nobody is conflicted as "the nominee".
    assert not conflicted(nominee, cand("wf-2", org="BCA"), ConflictRule.NOMINEE_AND_UNIT)


def test_the_natural_bloc_rule_keeps_an_organisation_off_its_own_candidate():
    assert natural_conflict_rule(BallotSessionKind.BLOC) == ConflictRule.NOMINEE_AND_UNIT
    assert natural_conflict_rule(BallotSessionKind.COUNCIL) == ConflictRule.NOMINEE_ONLY
    electorate = bloc_electorate()
    tallies = count([], [cand("wf-t", org="TANDTC")], electorate, natural_conflict_rule(electorate.kind))
    assert tallies["wf-t"].members == 8


def test_session_errors_name_a_candidate_nobody_may_vote_on():
    electorate = council(3)
    errors = session_errors(electorate, [cand("wf-1"), cand("wf-1", org="BCA")], ConflictRule.NOMINEE_AND_UNIT)
    assert "candidate 'wf-1' appears more than once in the session" in errors
    assert any("no voter may vote on candidate wf-1 (Nominee of wf-1)" in e for e in errors)
    assert session_errors(electorate, [cand("wf-1")], ConflictRule.NOMINEE_ONLY) == []
    with pytest.raises(ValueError, match="every voter is conflicted"):
        count([], [cand("wf-1")], electorate, ConflictRule.NOMINEE_AND_UNIT)


# --- ballot validation ---------------------------------------------------------------------------


def test_a_valid_ballot_has_no_errors():
    electorate = council(3)
    cands = [cand("wf-1", nominee="m1"), cand("wf-2")]
    assert ballot_errors(Ballot(voter_id="m1", choices={"wf-2": F}), electorate, cands) == []
    assert ballot_errors(Ballot(voter_id="m2", choices={"wf-1": A, "wf-2": X}), electorate, cands) == []


def test_a_stranger_may_not_vote():
    errors = ballot_errors(Ballot(voter_id="mallory", choices={}), council(3), [cand("wf-1")])
    assert errors == ["voter 'mallory' is not in this session's electorate"]


def test_a_second_ballot_only_when_amending_is_allowed():
    electorate, cands = council(3), [cand("wf-1")]
    ballot = Ballot(voter_id="m2", choices={"wf-1": F})
    errors = ballot_errors(ballot, electorate, cands, already_voted=True, amend_allowed=False)
    assert errors == ["voter 'm2' has already cast a ballot and this session does not allow amending it"]
    assert ballot_errors(ballot, electorate, cands, already_voted=True, amend_allowed=True) == []


def test_missing_and_invented_candidates_are_listed():
    electorate = council(3)
    cands = [cand("wf-1"), cand("wf-2"), cand("wf-3")]
    errors = ballot_errors(Ballot(voter_id="m1", choices={"wf-2": F, "wf-9": F, "wf-8": A}), electorate, cands)
    assert "ballot from 'm1' names candidate(s) not on this session's list: 'wf-9', 'wf-8'" in errors
    assert ("ballot from 'm1' has no choice for candidate(s): wf-1 (Nominee of wf-1), wf-3 (Nominee of wf-3)") in errors
    assert len(errors) == 2


def test_a_conflicted_voter_must_omit_the_candidate():
    electorate = council(3)
    c = cand("wf-1", org="BTP", nominee="m1")
    errors = ballot_errors(Ballot(voter_id="m1", choices={"wf-1": X}), electorate, [c])
    assert errors == [
        "voter 'm1' may not vote on candidate wf-1 (Nominee of wf-1) because they are the nominee; "
        "omit it from the ballot"
    ]
    errors = ballot_errors(Ballot(voter_id="m2", choices={"wf-1": F}), electorate, [c], ConflictRule.NOMINEE_AND_UNIT)
    assert errors == [
        "voter 'm2' may not vote on candidate wf-1 (Nominee of wf-1) because their organisation 'BTP' "
        "proposed the candidate; omit it from the ballot"
    ]


def test_count_refuses_invalid_or_duplicate_ballots():
    electorate, cands = council(3), [cand("wf-1", nominee="m1")]
    with pytest.raises(ValueError, match="may not vote on candidate wf-1"):
        count([Ballot(voter_id="m1", choices={"wf-1": F})], cands, electorate)
    twice = [Ballot(voter_id="m2", choices={"wf-1": F}), Ballot(voter_id="m2", choices={"wf-1": A})]
    with pytest.raises(ValueError, match="two ballots from voter 'm2'"):
        count(twice, cands, electorate)
    with pytest.raises(ValidationError):
        Ballot(voter_id="m2", choices={"wf-1": "MAYBE"})


# --- receipts and turnout ------------------------------------------------------------------------


def test_a_receipt_is_found_among_the_counted_whatever_its_case():
    receipt = hashlib.sha256(b"token message").hexdigest()
    assert receipt_counted(receipt, ["0" * 64, receipt.upper()])
    assert not receipt_counted(receipt, ["0" * 64])


def test_turnout_shows_who_voted_not_what():
    electorate = council(9)
    shown = turnout(electorate, ["m1", "m2", "m3", "m4", "m5", "m6", "m6"], MAJORITY.quorum)
    assert (shown.eligible, shown.voted, shown.quorum_met) == (9, 6, True)
    assert not turnout(electorate, ["m1", "m2", "m3", "m4", "m5"], MAJORITY.quorum).quorum_met
    assert set(shown.model_dump()) == {"eligible", "voted", "quorum_met"}
    with pytest.raises(ValueError, match="not in the electorate: 'x'"):
        turnout(electorate, ["m1", "x"], MAJORITY.quorum)


# --- worked examples -----------------------------------------------------------------------------


def test_a_unanimous_9_of_9_bloc_vote():
    electorate = bloc_electorate()
    flag = cand("wf-tandtc", org="TANDTC")
    ballots = [Ballot(voter_id=v.id, choices={"wf-tandtc": F}) for v in electorate.voters]
    tallies = count(ballots, [flag], electorate, ConflictRule.NOMINEE_ONLY)
    assert tallies["wf-tandtc"] == Tally(members=9, present=9, votes_for=9, votes_against=0)
    shown = turnout(electorate, [b.voter_id for b in ballots], BLOC.quorum)
    ranking = rank_bloc(tallies, [flag], BLOC, session=shown)
    assert ranking.winners == ["wf-tandtc"]
    assert (ranking.tied, ranking.seats_left, ranking.losers) == ([], 0, [])
    assert ranking.outcomes["wf-tandtc"].result == VoteResult.PASSED
    assert "9/9" in ranking.outcomes["wf-tandtc"].reason_vi

    # Under the natural bloc rule TANDTC does not vote on itself: 8 of 8.
    own_excluded = [b for b in ballots if b.voter_id != "rep-tandtc"]
    tallies = count(own_excluded, [flag], electorate, ConflictRule.NOMINEE_AND_UNIT)
    assert tallies["wf-tandtc"] == Tally(members=8, present=8, votes_for=8, votes_against=0)
    assert rank_bloc(tallies, [flag], BLOC).winners == ["wf-tandtc"]


def test_a_4_4_tie_for_one_flag_goes_to_a_runoff_or_the_heads_decision():
    # Eight member organisations; neither candidate's proposer votes on itself, so each has 7 members.
    electorate = bloc_electorate(BLOC_ORGS[:8])
    assert [v.organisation for v in electorate.voters][:2] == ["BCA", "BTP"]
    cands = [cand("wf-bca", org="BCA"), cand("wf-btp", org="BTP")]
    plan: dict[str, list[Choice | None]] = {
        "wf-bca": [None, F, F, F, F, A, A, A],
        "wf-btp": [F, None, F, F, F, A, A, X],
    }
    tallies = count(ballots_from(electorate, plan), cands, electorate, ConflictRule.NOMINEE_AND_UNIT)
    assert tallies["wf-bca"] == Tally(members=7, present=7, votes_for=4, votes_against=3)
    assert tallies["wf-btp"] == Tally(members=7, present=7, votes_for=4, votes_against=2)
    ranking = rank_bloc(tallies, cands, BLOC)
    assert ranking == BlocRanking(
        quota=1, winners=[], tied=["wf-bca", "wf-btp"], seats_left=1, losers=[], outcomes=ranking.outcomes
    )
    assert ranking.needs_runoff
    assert all(o.result == VoteResult.PASSED for o in ranking.outcomes.values())

    # Runoff among the tied, for the seat left.
    runoff = runoff_candidates(ranking, cands)
    assert [c.workflow_id for c in runoff] == ["wf-bca", "wf-btp"]
    plan = {"wf-bca": [None, F, F, F, F, F, A, A], "wf-btp": [F, None, F, A, A, A, A, X]}
    second = count(ballots_from(electorate, plan), runoff, electorate, ConflictRule.NOMINEE_AND_UNIT)
    final = rank_bloc(second, runoff, BLOC, seats=ranking.seats_left)
    assert (final.winners, final.tied, final.losers) == (["wf-bca"], [], ["wf-btp"])

    # Or the bloc head records a decision: exactly one of the tied.
    decided = resolve_with_head_decision(ranking, ["wf-btp"])
    assert (decided.winners, decided.tied, decided.seats_left) == (["wf-btp"], [], 0)
    assert decided.losers == ["wf-bca"]
    assert decided.head_decision == ["wf-btp"]
    with pytest.raises(ValueError, match="exactly 1 of the tied candidates"):
        resolve_with_head_decision(ranking, ["wf-btp", "wf-bca"])
    with pytest.raises(ValueError, match="not among the tied candidates: 'wf-x'"):
        resolve_with_head_decision(ranking, ["wf-x"])
    with pytest.raises(ValueError, match="chosen more than once"):
        resolve_with_head_decision(ranking, ["wf-btp", "wf-btp"])
    with pytest.raises(ValueError, match="no tie"):
        resolve_with_head_decision(decided, ["wf-btp"])


def test_after_the_policys_runoff_rounds_the_bloc_head_decides():
    tally = Tally(members=3, present=3, votes_for=2, votes_against=1)
    cands = [cand("wf-bca", org="BCA"), cand("wf-btp", org="BTP")]
    ranking = rank_bloc({"wf-bca": tally, "wf-btp": tally}, cands, BLOC)
    assert BLOC.max_runoff_rounds == 1  # the policy data's value; absent it, the default is the same
    assert VotingPolicy.model_fields["max_runoff_rounds"].default == 1
    assert not runoffs_exhausted(ranking, BLOC, runoffs_held=0)
    assert runoffs_exhausted(ranking, BLOC, runoffs_held=1)
    assert runoffs_exhausted(ranking, BLOC.model_copy(update={"max_runoff_rounds": 0}), runoffs_held=0)
    assert not runoffs_exhausted(rank_bloc({"wf-bca": tally}, cands[:1], BLOC), BLOC, runoffs_held=5)

    assert tie_decision_errors(ranking, ["wf-btp"]) == []
    assert tie_decision_errors(ranking, ["wf-btp", "wf-btp"]) == ["choose: chosen more than once: 'wf-btp'"]
    assert [e.split(":")[0] for e in tie_decision_errors(ranking, ["wf-x", "wf-btp"])] == ["choose"] * 2

    verdicts = head_decision_verdicts(ranking, ["wf-btp"])
    assert {wf: v.result for wf, v in verdicts.items()} == {"wf-btp": VoteResult.PASSED, "wf-bca": VoteResult.FAILED}
    assert verdicts["wf-btp"].reason_vi.endswith("được Trưởng Khối chọn")
    assert verdicts["wf-bca"].reason_vi.endswith("không được Trưởng Khối chọn")


def test_a_4_4_tie_below_the_majority_is_not_a_runoff():
    # Nine members, 4 for each: neither reaches more than half of all members, so nobody wins.
    electorate = bloc_electorate()
    cands = [cand("wf-bca", org="BCA"), cand("wf-btp", org="BTP")]
    plan: dict[str, list[Choice | None]] = {
        "wf-bca": [F, F, F, F, A, A, A, A, A],
        "wf-btp": [A, A, A, A, F, F, F, F, X],
    }
    tallies = count(ballots_from(electorate, plan), cands, electorate)
    ranking = rank_bloc(tallies, cands, BLOC)
    assert (ranking.winners, ranking.tied, ranking.losers) == ([], [], ["wf-bca", "wf-btp"])
    assert all(o.result == VoteResult.FAILED for o in ranking.outcomes.values())


def test_a_tie_inside_the_quota_is_not_a_tie():
    tallies = {"a": T(9, 9, 8), "b": T(9, 9, 8), "c": T(9, 9, 6)}
    ranking = rank_bloc(tallies, [cand(wf) for wf in "abc"], BLOC, seats=2)
    assert (ranking.winners, ranking.tied, ranking.losers) == (["a", "b"], [], ["c"])
    ranking = rank_bloc(tallies | {"d": T(9, 9, 9)}, [cand(wf) for wf in "abcd"], BLOC, seats=2)
    assert (ranking.winners, ranking.tied, ranking.seats_left) == (["d"], ["a", "b"], 1)


def test_the_council_90_percent_rule_with_a_conflicted_member():
    # Eleven members; m1 is nominated for Chiến sĩ thi đua cấp bộ and does not vote on it.
    electorate = council(11)
    cstd = cand("wf-cstd", nominee="m1", form="CSTD_CAP_BO")
    bk = cand("wf-bk", nominee=None, form="BANG_KHEN_BO")
    ballots = [Ballot(voter_id="m1", choices={"wf-bk": F})]
    ballots += [Ballot(voter_id=f"m{i}", choices={"wf-cstd": F, "wf-bk": F}) for i in range(2, 11)]
    ballots += [Ballot(voter_id="m11", choices={"wf-cstd": A, "wf-bk": A})]
    tallies = count(ballots, [cstd, bk], electorate)
    assert tallies["wf-cstd"] == Tally(members=10, present=10, votes_for=9, votes_against=1)
    assert tallies["wf-bk"] == Tally(members=11, present=11, votes_for=10, votes_against=1)

    policies = {"CSTD_CAP_BO": SECRET_90, "BANG_KHEN_BO": MAJORITY}
    shown = turnout(electorate, [b.voter_id for b in ballots], SECRET_90.quorum)
    outcomes = council_outcomes(tallies, [cstd, bk], lambda c: policies[c.award_form], session=shown)
    assert outcomes["wf-cstd"].result == VoteResult.PASSED  # 9/10 = 90 % of the members who may vote
    assert "9/10" in outcomes["wf-cstd"].reason_vi
    assert outcomes["wf-cstd"].policy_code == "COUNCIL_SECRET_90"
    assert outcomes["wf-bk"].result == VoteResult.PASSED
    # Had the nominee been counted among the members, 9/11 would have failed the 90 % rule.
    assert evaluate(Tally(members=11, present=11, votes_for=9, votes_against=1), SECRET_90).result == (
        VoteResult.FAILED
    )
    assert outcomes == {
        wf: evaluate(t, policies[c.award_form]) for (wf, t), c in zip(tallies.items(), [cstd, bk], strict=True)
    }


def test_council_outcomes_use_the_real_policies_of_the_catalog():
    electorate = council(10)
    c = cand("wf-1", form="CSTD_CAP_BO")
    ballots = [Ballot(voter_id=f"m{i}", choices={"wf-1": F}) for i in range(1, 9)]
    tallies = count(ballots, [c], electorate)
    outcomes = council_outcomes(tallies, [c], lambda cd: POLICY.council_policy(cd.award_form))
    assert outcomes["wf-1"].result == VoteResult.FAILED  # 8/10 present, all for, still < 90 % of members


def test_no_quorum_for_the_session_means_no_quorum_for_everyone():
    # Ten organisations, six voted: 6/10 misses 2/3. The candidate whose proposer stayed away would
    # reach 6/9 on its own; the session's quorum still rules.
    electorate = bloc_electorate([*BLOC_ORGS, "BNG"])
    cands = [cand("wf-bng", org="BNG"), cand("wf-bca", org="BCA")]
    voters = [v.id for v in electorate.voters][1:7]
    ballots = [Ballot(voter_id=v, choices={"wf-bng": F, "wf-bca": F}) for v in voters]
    tallies = count(ballots, cands, electorate, ConflictRule.NOMINEE_AND_UNIT)
    assert evaluate(tallies["wf-bng"], BLOC).result == VoteResult.PASSED  # 6/9 alone
    shown = turnout(electorate, voters, BLOC.quorum)
    assert not shown.quorum_met
    ranking = rank_bloc(tallies, cands, BLOC, session=shown)
    assert (ranking.winners, ranking.tied, ranking.quorum_met) == ([], [], False)
    assert {o.result for o in ranking.outcomes.values()} == {VoteResult.NO_QUORUM}
    assert "6/10" in ranking.outcomes["wf-bng"].reason_vi
    outcomes = council_outcomes(tallies, cands, lambda _: MAJORITY, session=shown)
    assert {o.result for o in outcomes.values()} == {VoteResult.NO_QUORUM}


def test_rank_bloc_checks_its_inputs():
    with pytest.raises(ValueError, match="no tally for candidate"):
        rank_bloc({}, [cand("a")], BLOC)
    with pytest.raises(ValueError, match="tallies for unknown candidate"):
        rank_bloc({"a": T(9, 9, 9), "z": T(9, 9, 9)}, [cand("a")], BLOC)
    with pytest.raises(ValueError, match="at least one seat"):
        rank_bloc({"a": T(9, 9, 9)}, [cand("a")], BLOC, seats=0)
    with pytest.raises(ValueError, match="no tie to run off"):
        runoff_candidates(rank_bloc({"a": T(9, 9, 9)}, [cand("a")], BLOC), [cand("a")])


def test_a_ranking_cannot_be_built_inconsistent():
    with pytest.raises(ValidationError, match="is not a tie"):
        BlocRanking(quota=2, winners=[], tied=["a", "b"], seats_left=2)
    with pytest.raises(ValidationError, match="more than one of"):
        BlocRanking(quota=1, winners=["a"], losers=["a"])
    with pytest.raises(ValidationError, match="seats_left is set exactly"):
        BlocRanking(quota=1, winners=[], seats_left=1)


# --- properties ----------------------------------------------------------------------------------


def T(members: int, present: int, votes_for: int, votes_against: int = 0) -> Tally:
    return Tally(members=members, present=present, votes_for=votes_for, votes_against=votes_against)


@st.composite
def sessions(draw: st.DrawFn) -> tuple[Electorate, list[Candidate], ConflictRule, list[Ballot]]:
    kind = draw(st.sampled_from(BallotSessionKind))
    n = draw(st.integers(1, 12))
    if kind == BallotSessionKind.BLOC:
        orgs = [f"ORG{i}" for i in range(n)]
    else:
        orgs = [draw(st.sampled_from(["ORG0", "ORG1", "ORG2"])) for _ in range(n)]
    electorate = Electorate(kind=kind, voters=tuple(Voter(id=f"v{i}", organisation=orgs[i]) for i in range(n)))
    voter_ids = [v.id for v in electorate.voters]
    k = draw(st.integers(1, 5))
    candidates = [
        Candidate(
            workflow_id=f"wf-{j}",
            award_form="CO_THI_DUA_CP",
            nominee_name=f"N{j}",
            nominee_actor_id=draw(st.none() | st.sampled_from(voter_ids)),
            proposing_organisation=draw(st.sampled_from([*sorted(set(orgs)), "OUTSIDE"])),
        )
        for j in range(k)
    ]
    rule = draw(st.sampled_from(ConflictRule))
    assume(session_errors(electorate, candidates, rule) == [])
    ballots = []
    for voter in electorate.voters:
        if draw(st.booleans()):
            choices = {
                c.workflow_id: draw(st.sampled_from(Choice)) for c in candidates if not conflicted(voter, c, rule)
            }
            ballots.append(Ballot(voter_id=voter.id, choices=choices))
    return electorate, candidates, rule, ballots


@HYPOTHESIS
@given(session=sessions())
def test_generated_ballots_are_valid_and_count_conserves_them(session):
    electorate, candidates, rule, ballots = session
    for b in ballots:
        assert ballot_errors(b, electorate, candidates, rule) == []
    tallies = count(ballots, candidates, electorate, rule)
    assert list(tallies) == [c.workflow_id for c in candidates]
    for c in candidates:
        t = tallies[c.workflow_id]
        assert t.votes_for + t.votes_against + t.abstaining == t.present
        assert t.present <= t.members
        assert t.abstaining == sum(1 for b in ballots if b.choices.get(c.workflow_id) == X)
        assert t.votes_for == sum(1 for b in ballots if b.choices.get(c.workflow_id) == F)


@HYPOTHESIS
@given(session=sessions())
def test_conflicted_voters_never_count_toward_a_candidates_members(session):
    electorate, candidates, rule, ballots = session
    tallies = count(ballots, candidates, electorate, rule)
    voted = {b.voter_id for b in ballots}
    for c in candidates:
        barred = [v for v in electorate.voters if conflicted(v, c, rule)]
        assert tallies[c.workflow_id].members == electorate.size - len(barred)
        assert tallies[c.workflow_id].present == sum(1 for v in electorate.voters if v.id in voted and v not in barred)
        for v in barred:
            sneaky = Ballot(voter_id=v.id, choices={c.workflow_id: F})
            assert any("may not vote on candidate" in e for e in ballot_errors(sneaky, electorate, candidates, rule))


@st.composite
def bloc_results(draw: st.DrawFn) -> tuple[dict[str, Tally], list[Candidate], VotingPolicy, int]:
    """Tallies with few distinct vote counts, so ties at every position are common. Sometimes every
    candidate has the same members and ballots (a session without conflicts), sometimes not."""
    members = draw(st.integers(1, 9))
    uniform_present = draw(st.none() | st.integers(0, members))
    k = draw(st.integers(1, 7))
    tallies = {}
    for j in range(k):
        present = uniform_present if uniform_present is not None else draw(st.integers(0, members))
        votes_for = draw(st.integers(0, present))
        tallies[f"wf-{j}"] = T(members, present, votes_for, draw(st.integers(0, present - votes_for)))
    quota = draw(st.integers(1, 4))
    base = draw(st.sampled_from([BLOC, ANY_VOTE]))
    return tallies, [cand(wf) for wf in tallies], base.model_copy(update={"quota": quota}), quota


@st.composite
def boundary_ties(draw: st.DrawFn) -> tuple[dict[str, Tally], list[Candidate], VotingPolicy, int]:
    """Results that always have a tie across the quota boundary."""
    quota = draw(st.integers(1, 3))
    votes = sorted(draw(st.lists(st.integers(0, 9), min_size=quota + 1, max_size=7)), reverse=True)
    votes[quota] = votes[quota - 1]
    votes = draw(st.permutations(votes))
    tallies = {f"wf-{j}": T(9, 9, v) for j, v in enumerate(votes)}
    return tallies, [cand(wf) for wf in tallies], ANY_VOTE.model_copy(update={"quota": quota}), quota


@HYPOTHESIS
@given(result=bloc_results() | boundary_ties() | sessions().map(lambda s: _ranked_session(s)))
def test_the_ranking_respects_the_quota_and_never_breaks_a_boundary_tie(result):
    tallies, candidates, policy, quota = result
    ranking = rank_bloc(tallies, candidates, policy)
    votes = {wf: t.votes_for for wf, t in tallies.items()}
    passing = sorted(
        (wf for wf in tallies if evaluate(tallies[wf], policy).result == VoteResult.PASSED),
        key=lambda wf: -votes[wf],
    )

    # Every candidate is in exactly one group.
    assert sorted([*ranking.winners, *ranking.tied, *ranking.losers]) == sorted(tallies)
    # Never more winners than the quota, and no seat both filled and open.
    assert len(ranking.winners) <= quota
    assert len(ranking.winners) + ranking.seats_left == min(quota, len(passing))
    # Only candidates that pass can win or be tied.
    assert set(ranking.winners) | set(ranking.tied) <= set(passing)
    # Winners have strictly more votes than every candidate that passed and did not win.
    for w in ranking.winners:
        assert all(votes[w] > votes[o] for o in [*ranking.tied, *ranking.losers] if o in passing)
    # When every candidate is measured against the same members and ballots (no conflicts), passing is
    # monotone in votes, so winners have strictly more votes than every non-winner whatsoever.
    if len({(t.members, t.present) for t in tallies.values()}) == 1:
        for w in ranking.winners:
            assert all(votes[w] > votes[o] for o in [*ranking.tied, *ranking.losers])
    # A tie straddling the boundary is always reported, never resolved.
    straddles = len(passing) > quota and votes[passing[quota - 1]] == votes[passing[quota]]
    assert ranking.needs_runoff is straddles
    if straddles:
        boundary = votes[passing[quota - 1]]
        assert set(ranking.tied) == {wf for wf in passing if votes[wf] == boundary}
        assert 0 < ranking.seats_left < len(ranking.tied)
        assert set(ranking.winners) == {wf for wf in passing if votes[wf] > boundary}
    else:
        assert ranking.tied == [] and ranking.seats_left == 0
        assert ranking.winners == passing[:quota]


def _ranked_session(
    session: tuple[Electorate, list[Candidate], ConflictRule, list[Ballot]],
) -> tuple[dict[str, Tally], list[Candidate], VotingPolicy, int]:
    electorate, candidates, rule, ballots = session
    return count(ballots, candidates, electorate, rule), candidates, ANY_VOTE.model_copy(update={"quota": 1}), 1


@HYPOTHESIS
@given(result=boundary_ties(), data=st.data())
def test_any_valid_head_decision_fills_exactly_the_quota(result, data):
    tallies, candidates, policy, quota = result
    ranking = rank_bloc(tallies, candidates, policy)
    assert ranking.needs_runoff
    chosen = data.draw(st.permutations(ranking.tied)).copy()[: ranking.seats_left]
    decided = resolve_with_head_decision(ranking, chosen)
    assert len(decided.winners) == len(ranking.winners) + ranking.seats_left <= quota
    assert set(decided.head_decision) == set(chosen)
    assert sorted([*decided.winners, *decided.losers]) == sorted(tallies)
    assert not decided.needs_runoff
    too_many = [*chosen, *[wf for wf in ranking.tied if wf not in chosen][:1]]
    with pytest.raises(ValueError, match="must choose exactly"):
        resolve_with_head_decision(ranking, too_many)


def test_three_way_ties_leave_every_seat_to_the_runoff():
    tallies = {f"wf-{j}": T(9, 9, v) for j, v in enumerate([5, 5, 5])}
    for quota in (1, 2):
        ranking = rank_bloc(tallies, [cand(wf) for wf in tallies], ANY_VOTE, seats=quota)
        assert ranking.tied == list(tallies) and ranking.seats_left == quota


def test_a_candidate_measured_on_more_members_can_fail_with_as_many_votes_as_the_winner():
    # Under the unit rule a member's own candidate has 9 members; a candidate proposed from outside the
    # bloc has all 10. Five votes pass 5/9 but not 5/10: the ranking follows the threshold, not raw votes.
    electorate = bloc_electorate([*BLOC_ORGS, "BNG"])
    cands = [cand("wf-bca", org="BCA"), cand("wf-outside", org="UBND_HN")]
    voters = [v.id for v in electorate.voters]
    ballots = [Ballot(voter_id=voters[0], choices={"wf-outside": A})]
    ballots += [Ballot(voter_id=v, choices={"wf-bca": F, "wf-outside": F}) for v in voters[1:6]]
    ballots += [Ballot(voter_id=v, choices={"wf-bca": A, "wf-outside": A}) for v in voters[6:]]
    tallies = count(ballots, cands, electorate, ConflictRule.NOMINEE_AND_UNIT)
    assert (tallies["wf-bca"].members, tallies["wf-outside"].members) == (9, 10)
    ranking = rank_bloc(tallies, cands, BLOC)
    assert (ranking.winners, ranking.losers) == (["wf-bca"], ["wf-outside"])
    assert tallies["wf-bca"].votes_for == tallies["wf-outside"].votes_for == 5


def test_who_may_open_a_session():
    import json
    from pathlib import Path

    from domain.roster import Roster

    seed = Path(__file__).resolve().parents[2] / "config" / "roster.json"
    roster = Roster.model_validate(json.loads(seed.read_text(encoding="utf-8")))
    btp, bloc = roster.snapshot_for("BTP"), roster.snapshot_for("TANDTC")
    council, blocs = BallotSessionKind.COUNCIL, BallotSessionKind.BLOC
    assert opener_error(btp, council, "BTP", "btp.hd.thu-ky") is None
    assert opener_error(btp, council, "BTP", "btp.hd.chu-tich") is None
    assert opener_error(bloc, blocs, "NOI_CHINH", "tandtc.khoi.truong") is None
    refused = opener_error(btp, council, "BTP", "btp.hd.uy-vien-1")
    assert refused is not None and "'btp.hd.uy-vien-1'" in refused
    assert "COUNCIL_SECRETARY for BTP" in refused and "COUNCIL_CHAIR for BTP" in refused
    assert opener_error(btp, council, "KTNN", "btp.hd.thu-ky") is not None  # another ministry's council
    assert opener_error(btp, council, "BTP", "nobody") is not None
    refused = opener_error(bloc, blocs, "NOI_CHINH", "btp.khoi.dai-dien")
    assert refused is not None and "BLOC_HEAD for NOI_CHINH" in refused


def test_what_became_of_a_receipt():
    counted, spoiled = "s:" + "a" * 64, "s:" + "b" * 64
    assert receipt_state(counted, None, None) == ReceiptState.SESSION_NOT_CLOSED
    assert receipt_state(counted.upper(), [counted], [spoiled]) == ReceiptState.COUNTED
    assert receipt_state(spoiled, [counted], [spoiled]) == ReceiptState.SPOILED
    assert receipt_state("s:" + "c" * 64, [counted], None) == ReceiptState.NOT_FOUND


# --- struck candidates: a nomination that left its stage while voting was open ------------------------


@HYPOTHESIS
@given(session=sessions(), data=st.data())
def test_striking_a_candidate_voids_its_choices_and_changes_no_other_tally(session, data):
    electorate, candidates, rule, ballots = session
    struck = data.draw(st.sets(st.sampled_from([c.workflow_id for c in candidates])))
    live = live_candidates(candidates, struck)
    # Ballots cast before the strike (choices on it) and after (omitting it) are both accepted.
    before = ballots
    after = [void_struck(b, struck) for b in ballots]
    for b in before + after:
        assert ballot_errors(b, electorate, candidates, rule, struck=struck) == []
    unstruck = count(ballots, candidates, electorate, rule)
    for cast in (before, after):
        tallies = count(cast, candidates, electorate, rule, struck=struck)
        # A struck candidate has no tally at all: nothing counted for it, whenever the ballot came.
        assert list(tallies) == [c.workflow_id for c in live]
        assert not set(tallies) & struck
        # Striking is per candidate: every other candidate's count is exactly what it would have been.
        assert tallies == {wf: t for wf, t in unstruck.items() if wf not in struck}


def test_a_struck_candidate_may_be_omitted_or_chosen_but_the_rest_is_still_checked():
    electorate = council(3)
    candidates = [cand("wf-a"), cand("wf-b", nominee="m2")]
    struck = {"wf-a"}
    omitting = Ballot(voter_id="m1", choices={"wf-b": F})
    choosing = Ballot(voter_id="m1", choices={"wf-a": F, "wf-b": A})
    assert ballot_errors(omitting, electorate, candidates, struck=struck) == []
    assert ballot_errors(choosing, electorate, candidates, struck=struck) == []
    # Without the strike, omitting it is an incomplete ballot.
    assert any("has no choice for candidate(s): wf-a" in e for e in ballot_errors(omitting, electorate, candidates))
    # Still refused: a live candidate left out, a candidate never on the list, a conflicted voter's choice.
    assert any(
        "has no choice" in e
        for e in ballot_errors(Ballot(voter_id="m1", choices={"wf-a": F}), electorate, candidates, struck=struck)
    )
    invented = Ballot(voter_id="m1", choices={"wf-b": F, "wf-x": F})
    errors = ballot_errors(invented, electorate, candidates, struck=struck)
    assert any("not on this session's list" in e for e in errors)
    nominee = Ballot(voter_id="m2", choices={"wf-b": F})
    assert any("they are the nominee" in e for e in ballot_errors(nominee, electorate, candidates, struck=struck))
    # Every voter's choice on the struck candidate is void: 9 FOR before the strike count for nothing.
    cast = [choosing, Ballot(voter_id="m3", choices={"wf-a": F, "wf-b": F})]
    tallies = count(cast, candidates, electorate, ConflictRule.NOMINEE_ONLY, struck=struck)
    assert list(tallies) == ["wf-b"] and (tallies["wf-b"].votes_for, tallies["wf-b"].present) == (1, 2)


def test_a_struck_candidate_is_out_of_the_bloc_ranking_and_quota():
    # 9/9 for the withdrawn candidate would have taken the one flag; struck, the seat goes to the next.
    tallies = {"wf-gone": T(8, 8, 8), "wf-b": T(8, 8, 6), "wf-c": T(8, 8, 5)}
    candidates = [cand(wf) for wf in tallies]
    policy = BLOC.model_copy(update={"quota": 1})
    live = live_candidates(candidates, {"wf-gone"})
    ranking = rank_bloc({wf: t for wf, t in tallies.items() if wf != "wf-gone"}, live, policy)
    assert ranking.winners == ["wf-b"] and "wf-gone" not in ranking.outcomes
    # A runoff's seats: the quota less the earlier winners still on the list.
    assert bloc_quota(policy) == 1 and bloc_quota(BLOC.model_copy(update={"quota": None})) == 1
    assert runoff_seats(2, ["wf-a"]) == 1
    assert runoff_seats(2, ["wf-a"], struck={"wf-a"}) == 2
    assert runoff_seats(1, ["wf-a", "wf-b"]) == 1  # never below one


def test_the_minutes_of_a_struck_candidate_say_withdrawn_from_the_list_never_a_result():
    electorate = council(9)
    nominee_on_council = cand("wf-a", nominee="m1")
    tally = struck_tally(nominee_on_council, electorate, ConflictRule.NOMINEE_ONLY)
    assert (tally.members, tally.present, tally.votes_for, tally.votes_against) == (8, 0, 0, 0)
    reason = struck_reason_vi(leaving_reason_vi(Stage.WITHDRAWN, "Đơn vị rút đề nghị: chuyển công tác"))
    assert reason.startswith("Rút khỏi danh sách bỏ phiếu: hồ sơ đã chuyển sang «Đơn vị rút đề nghị»")
    assert "chuyển công tác" in reason and "không được tính" in reason
    assert MinutesResult.WITHDRAWN_FROM_LIST.value not in {r.value for r in VoteResult}
