"""Tallies and their evaluation: quorum on members present, thresholds against all members."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.catalog import Fraction, VotingPolicy, policy_set
from domain.voting import Tally, VoteResult, evaluate, tally_errors

POLICY = policy_set("2025.07")
SECRET_90 = POLICY.voting_policies["COUNCIL_SECRET_90"]
MAJORITY = POLICY.voting_policies["COUNCIL_MAJORITY"]
BLOC = POLICY.voting_policies["BLOC_MAJORITY"]
TWO_THIRDS_POLICIES = [SECRET_90, MAJORITY, BLOC]

HYPOTHESIS = settings(max_examples=400, deadline=None)


def T(members: int, present: int, votes_for: int, votes_against: int = 0, written: int = 0) -> Tally:
    return Tally(members=members, present=present, votes_for=votes_for, votes_against=votes_against, written=written)


@st.composite
def tallies(draw: st.DrawFn, max_members: int = 120) -> Tally:
    members = draw(st.integers(1, max_members))
    present = draw(st.integers(0, members))
    written = draw(st.integers(0, members - present))
    cast = present + written
    votes_for = draw(st.integers(0, cast))
    votes_against = draw(st.integers(0, cast - votes_for))
    return T(members, present, votes_for, votes_against, written)


# --- Tally consistency ---------------------------------------------------------------------------


def test_present_cannot_exceed_members():
    with pytest.raises(ValidationError, match=r"present \(11\) cannot exceed members \(10\)"):
        T(10, 11, 0)


def test_votes_for_and_against_cannot_exceed_ballots_cast():
    with pytest.raises(ValidationError, match=r"votes_for \+ votes_against \(8\) cannot exceed ballots cast"):
        T(10, 7, 5, 3)


def test_votes_for_alone_cannot_exceed_ballots_cast():
    with pytest.raises(ValidationError, match="cannot exceed ballots cast"):
        T(10, 7, 8, 0, 0)


def test_written_ballots_count_as_cast():
    tally = T(10, 7, 8, 1, 2)
    assert tally.ballots_cast == 9
    assert tally.abstaining == 0


def test_present_plus_written_cannot_exceed_members():
    with pytest.raises(ValidationError, match=r"present \+ written \(11\) cannot exceed members \(10\)"):
        T(10, 8, 0, 0, 3)


@pytest.mark.parametrize(
    "fields",
    [
        {"members": 0, "present": 0, "votes_for": 0, "votes_against": 0},
        {"members": 1001, "present": 0, "votes_for": 0, "votes_against": 0},
        {"members": 10, "present": -1, "votes_for": 0, "votes_against": 0},
        {"members": 10, "present": 9, "votes_for": -1, "votes_against": 0},
        {"members": 10, "present": 9, "votes_for": 0, "votes_against": -1},
        {"members": 10, "present": 9, "votes_for": 0, "votes_against": 0, "written": -1},
        {"members": 10, "present": 9, "votes_for": 0, "votes_against": 0, "voters": ["a"]},
    ],
)
def test_tally_fields_are_bounded_and_closed(fields):
    with pytest.raises(ValidationError):
        Tally(**fields)


def test_abstaining_is_what_is_left_of_the_ballots():
    tally = T(15, 12, 7, 3, 2)
    assert tally.ballots_cast == 14
    assert tally.abstaining == 4


# --- evaluate ------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", TWO_THIRDS_POLICIES, ids=lambda p: p.code)
@pytest.mark.parametrize(
    ("members", "present", "quorate"),
    [(9, 6, True), (9, 5, False), (10, 7, True), (10, 6, False), (3, 2, True), (3, 1, False), (1, 0, False)],
)
def test_quorum_is_two_thirds_of_members_present(policy, members, present, quorate):
    outcome = evaluate(T(members, present, present), policy)
    assert (outcome.result != VoteResult.NO_QUORUM) is quorate
    assert outcome.policy_code == policy.code


def test_no_quorum_explains_itself_in_vietnamese():
    outcome = evaluate(T(10, 6, 6), MAJORITY)
    assert outcome.result == VoteResult.NO_QUORUM
    assert "Không đủ số thành viên dự họp" in outcome.reason_vi
    assert "6/10" in outcome.reason_vi


def test_written_ballots_do_not_make_a_quorum():
    # 6 of 10 present is below 2/3 even with every absent member voting in writing.
    assert evaluate(T(10, 6, 10, 0, 4), SECRET_90).result == VoteResult.NO_QUORUM


@pytest.mark.parametrize(
    ("tally", "result"),
    [
        (T(10, 9, 9), VoteResult.PASSED),  # 9/10 members in favour
        (T(10, 8, 8), VoteResult.FAILED),  # everyone present in favour is still only 8/10 of all members
        (T(10, 8, 9, 0, 1), VoteResult.PASSED),  # an absent member's written ballot makes 9/10
        (T(10, 10, 9, 1), VoteResult.PASSED),
        (T(10, 10, 8, 2), VoteResult.FAILED),
        (T(10, 10, 8, 0), VoteResult.FAILED),  # 8 for, 2 abstaining
        (T(9, 9, 9), VoteResult.PASSED),
        (T(9, 9, 8, 1), VoteResult.FAILED),  # 8/9 = 88.9 %
        (T(20, 14, 18, 0, 4), VoteResult.PASSED),  # 18/20 = 90 %
        (T(20, 14, 17, 0, 3), VoteResult.FAILED),  # 17/20
    ],
)
def test_the_90_percent_rule_counts_against_all_members(tally, result):
    outcome = evaluate(tally, SECRET_90)
    assert outcome.result == result
    assert f"{tally.votes_for}/{tally.members}" in outcome.reason_vi
    assert ("Không đạt" in outcome.reason_vi) is (result == VoteResult.FAILED)


@pytest.mark.parametrize("policy", [MAJORITY, BLOC], ids=lambda p: p.code)
@pytest.mark.parametrize(
    ("tally", "result"),
    [
        (T(10, 7, 6, 1), VoteResult.PASSED),
        (T(10, 7, 5, 2), VoteResult.FAILED),  # 5/7 of those present, but not more than half of 10
        (T(10, 10, 5, 5), VoteResult.FAILED),  # a tie is not a majority
        (T(9, 6, 5, 1), VoteResult.PASSED),
        (T(9, 9, 4, 5), VoteResult.FAILED),
        (T(9, 9, 9), VoteResult.PASSED),  # the bloc's near-unanimity
    ],
)
def test_majority_rule_is_more_than_half_of_all_members(policy, tally, result):
    assert evaluate(tally, policy).result == result


def test_a_ballots_cast_threshold_counts_against_ballots_only():
    policy = VotingPolicy(
        code="TEST_CAST",
        description_vi="Quá nửa số phiếu",
        quorum=Fraction(numerator=2, denominator=3),
        threshold=Fraction(numerator=1, denominator=2, strict=True, base="BALLOTS_CAST"),
        source="test",
    )
    assert evaluate(T(10, 7, 4, 3), policy).result == VoteResult.PASSED  # 4/7
    assert evaluate(T(10, 8, 4, 4), policy).result == VoteResult.FAILED  # 4/8
    assert evaluate(T(10, 7, 5, 0, 3), policy).result == VoteResult.FAILED  # 5/10 cast
    assert "4/7" in evaluate(T(10, 7, 4, 3), policy).reason_vi


# --- properties ----------------------------------------------------------------------------------


@HYPOTHESIS
@given(tally=tallies(), policy=st.sampled_from(TWO_THIRDS_POLICIES))
def test_no_quorum_iff_fewer_than_two_thirds_present(tally, policy):
    no_quorum = evaluate(tally, policy).result == VoteResult.NO_QUORUM
    assert no_quorum is (tally.present * 3 < tally.members * 2)


@HYPOTHESIS
@given(tally=tallies(), policy=st.sampled_from(TWO_THIRDS_POLICIES))
def test_a_quorate_vote_passes_iff_the_threshold_of_all_members_is_met(tally, policy):
    outcome = evaluate(tally, policy)
    if tally.present * 3 < tally.members * 2:
        return
    rule = policy.threshold
    lhs, rhs = tally.votes_for * rule.denominator, tally.members * rule.numerator
    assert (outcome.result == VoteResult.PASSED) is (lhs > rhs if rule.strict else lhs >= rhs)
    assert outcome.result in (VoteResult.PASSED, VoteResult.FAILED)


def _one_more_vote_for(tally: Tally) -> list[Tally]:
    """Every way of adding one vote in favour while keeping the tally consistent."""
    fields = tally.model_dump()
    more = []
    if tally.abstaining > 0:  # an abstainer votes for
        more.append(Tally(**fields | {"votes_for": tally.votes_for + 1}))
    if tally.votes_against > 0:  # a voter changes from against to for
        more.append(Tally(**fields | {"votes_for": tally.votes_for + 1, "votes_against": tally.votes_against - 1}))
    if tally.ballots_cast < tally.members:  # an absent member sends a written ballot in favour
        more.append(Tally(**fields | {"votes_for": tally.votes_for + 1, "written": tally.written + 1}))
    return more


@HYPOTHESIS
@given(tally=tallies(), policy=st.sampled_from(TWO_THIRDS_POLICIES))
def test_adding_a_vote_for_never_turns_passed_into_failed(tally, policy):
    before = evaluate(tally, policy).result
    for after_tally in _one_more_vote_for(tally):
        after = evaluate(after_tally, policy).result
        if before == VoteResult.PASSED:
            assert after == VoteResult.PASSED, (tally, after_tally)
        if before == VoteResult.FAILED:
            assert after in (VoteResult.FAILED, VoteResult.PASSED)


@HYPOTHESIS
@given(
    members=st.integers(-2, 60),
    present=st.integers(-2, 60),
    votes_for=st.integers(-2, 60),
    votes_against=st.integers(-2, 60),
    written=st.integers(-2, 60),
)
def test_abstaining_is_never_negative_for_any_valid_tally(members, present, votes_for, votes_against, written):
    try:
        tally = T(members, present, votes_for, votes_against, written)
    except ValidationError:
        return
    assert tally.abstaining == tally.ballots_cast - tally.votes_for - tally.votes_against
    assert tally.abstaining >= 0
    assert tally.ballots_cast == present + written <= members


@HYPOTHESIS
@given(tally=tallies())
def test_abstaining_identity_on_generated_tallies(tally):
    assert tally.abstaining == tally.ballots_cast - tally.votes_for - tally.votes_against >= 0


# --- typed-in counts must fit the body (tally_errors) ----------------------------------------------

FIELDS = {"tally.members", "tally.present", "tally.written", "tally.votes_for", "tally.votes_against"}


def test_the_hundred_member_meeting_of_a_nine_seat_council_is_refused_naming_members():
    # Recorded PASSED before: members were only checked from below.
    [problem] = tally_errors(100, 100, 90, 10, seats=9, body="the council of KTNN")
    assert problem.field == "tally.members"
    assert "the council of KTNN has 9 voting members on the roster" in problem.message
    assert "exactly 9, not 100" in problem.message and "starter.py roster load" in problem.message
    assert tally_errors(9, 9, 8, 1, seats=9) == []


def test_a_meeting_smaller_than_the_seated_body_is_refused_too():
    [problem] = tally_errors(8, 8, 8, 0, seats=9)
    assert problem.field == "tally.members" and "exactly 9, not 8" in problem.message


def test_a_body_with_no_seats_on_the_roster_records_no_meeting():
    [problem] = tally_errors(3, 3, 3, 0, seats=0, body="bloc NOI_CHINH")
    assert problem.field == "tally.members" and "has no voting members on the roster" in problem.message


@pytest.mark.parametrize(
    ("counts", "field", "words"),
    [
        ((9, 10, 9, 0, 0), "tally.present", "present (10) cannot exceed members (9)"),
        ((9, 7, 7, 0, 3), "tally.written", "present + written (10) cannot exceed members (9)"),
        ((9, 7, 8, 0, 0), "tally.votes_for", "votes_for + votes_against (8) cannot exceed ballots cast"),
        ((9, 7, 5, 3, 0), "tally.votes_against", "(present + written = 7)"),
        ((9, 6, 8, 2, 3), "tally.votes_against", "votes_for + votes_against (10) cannot exceed ballots cast"),
    ],
)
def test_each_impossible_count_names_its_field(counts, field, words):
    [problem] = tally_errors(*counts, seats=9)
    assert problem.field == field and words in problem.message


def test_written_ballots_are_counted_as_cast_where_the_rules_count_them():
    # 7 present and 2 absent members voting in writing: 9 ballots, 8 for and 1 against, nothing abstaining.
    assert tally_errors(9, 7, 8, 1, 2, seats=9) == []
    assert T(9, 7, 8, 1, 2).abstaining == 0


def test_the_tally_model_names_the_field_in_its_own_refusal():
    with pytest.raises(ValidationError) as refused:
        Tally(members=9, present=10, votes_for=9, votes_against=0)
    assert refused.value.errors()[0]["msg"].startswith("Value error, present: ")


counts = st.integers(-3, 40)


@HYPOTHESIS
@given(members=counts, present=counts, votes_for=counts, votes_against=counts, written=counts)
def test_without_seats_the_rule_is_the_tally_models_own(members, present, votes_for, votes_against, written):
    """For counts within the fields' own bounds, the rule refuses exactly what the model refuses."""
    if min(present, votes_for, votes_against, written) < 0 or members < 1:
        return
    problems = tally_errors(members, present, votes_for, votes_against, written)
    try:
        T(members, present, votes_for, votes_against, written)
    except ValidationError:
        assert problems
    else:
        assert problems == []


@HYPOTHESIS
@given(
    seats=st.integers(0, 40),
    members=st.integers(1, 40),
    present=st.integers(0, 40),
    votes_for=st.integers(0, 40),
    votes_against=st.integers(0, 40),
    written=st.integers(0, 40),
)
def test_accepted_counts_are_ones_the_body_can_have_given(seats, members, present, votes_for, votes_against, written):
    """Accepted iff members are the seats, present ≤ members, present + written ≤ members and for + against
    (+ abstaining, the rest) ≤ the ballots cast; every refusal names a tally field."""
    problems = tally_errors(members, present, votes_for, votes_against, written, seats=seats)
    possible = (
        members == seats
        and present <= members
        and present + written <= members
        and votes_for + votes_against <= present + written
    )
    assert (problems == []) is possible
    assert {p.field for p in problems} <= FIELDS
    assert len({p.field for p in problems}) == len(problems)  # one problem per field
    if members != seats:
        said = f"has {seats} voting members" if seats else "has no voting members"
        assert any(p.field == "tally.members" and said in p.message for p in problems)
    if possible:
        tally = T(members, present, votes_for, votes_against, written)
        assert tally.votes_for + tally.votes_against + tally.abstaining == tally.ballots_cast <= seats


@HYPOTHESIS
@given(tally=tallies(max_members=60), extra=st.integers(1, 60))
def test_a_consistent_tally_is_refused_only_for_its_member_count(tally, extra):
    counts = tally.model_dump()
    assert tally_errors(**counts, seats=tally.members) == []
    for seats in (tally.members + extra, max(tally.members - extra, 0)):
        if seats == tally.members:
            continue
        [problem] = tally_errors(**counts, seats=seats)
        assert problem.field == "tally.members"
