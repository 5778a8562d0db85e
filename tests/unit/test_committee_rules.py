"""The counting committee's rules, the voters' conflict classes and the count of anonymous ballots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.ballots import (
    BallotSessionKind,
    Candidate,
    Choice,
    ConflictRule,
    Electorate,
    Voter,
    ballot_shape_errors,
    ballot_turnout,
    conflicted,
    count_opened,
    eligible_members,
    opened_ballot_errors,
)
from domain.catalog import CountingCommitteePolicy, Fraction, policy_set
from domain.committee import (
    NO_EXCLUSION_CLASS,
    committee_errors,
    conflict_classes,
    default_committee,
    missing_key_errors,
    share_index,
)
from domain.roster import Roster

ROSTER = Roster.model_validate(
    json.loads((Path(__file__).resolve().parents[2] / "config" / "roster.json").read_text(encoding="utf-8"))
)
BTP = ROSTER.snapshot_for("BTP")
BLOC_SNAPSHOT = ROSTER.snapshot_for("TANDTC")  # the bloc's head ministry holds the bloc's roles
POLICY = policy_set("2025.07").counting_committee
COUNCIL = BallotSessionKind.COUNCIL
BLOC = BallotSessionKind.BLOC


def cand(wf: str, org: str = "BTP", nominee: str | None = None, proposer: str | None = None) -> Candidate:
    return Candidate(
        workflow_id=wf,
        award_form="BANG_KHEN_BO",
        nominee_name=f"Ứng viên {wf}",
        nominee_actor_id=nominee,
        proposing_organisation=org,
        proposer_actor_id=proposer,
    )


def council(n: int) -> Electorate:
    return Electorate(voters=tuple(Voter(id=f"m{i}", organisation="BTP") for i in range(1, n + 1)))


# ---- the committee ---------------------------------------------------------------------------------------


def test_the_policy_names_three_of_whom_any_two_open_the_count():
    assert (POLICY.size, POLICY.threshold) == (3, 2)
    with pytest.raises(ValueError, match="threshold 4 exceeds its size 3"):
        CountingCommitteePolicy(size=3, threshold=4)


def test_the_default_committee_is_the_first_voting_members_never_the_secretary():
    assert default_committee(BTP, COUNCIL, "BTP", 3) == ["btp.hd.chu-tich", "btp.hd.uy-vien-1", "btp.hd.uy-vien-2"]
    assert "btp.hd.thu-ky" not in default_committee(BTP, COUNCIL, "BTP", 10)
    assert default_committee(BTP, COUNCIL, "BTP", 2) == ["btp.hd.chu-tich", "btp.hd.uy-vien-1"]
    # A bloc's committee: its representatives (the bloc head is one of them and votes).
    assert default_committee(BLOC_SNAPSHOT, BLOC, "NOI_CHINH", 3) == [
        "tandtc.khoi.truong",
        "btp.khoi.dai-dien",
        "ktnn.khoi.dai-dien",
    ]


def test_the_default_committee_passes_its_own_check():
    committee = default_committee(BTP, COUNCIL, "BTP", POLICY.size)
    assert committee_errors(BTP, COUNCIL, "BTP", committee, POLICY) == []


def test_a_committee_outside_the_body_or_of_the_wrong_size_is_refused_naming_the_field():
    errors = committee_errors(BTP, COUNCIL, "BTP", ["btp.hd.thu-ky", "btp.hd.uy-vien-1"], POLICY)
    assert all(e.startswith("committee: ") for e in errors)
    assert any("'btp.hd.thu-ky' không phải thành viên biểu quyết của Hội đồng TĐKT BTP" in e for e in errors)
    assert any("cần đúng 3 thành viên" in e and "đã nêu 2" in e for e in errors)
    stranger = committee_errors(
        BTP, COUNCIL, "BTP", ["btp.hd.chu-tich", "btp.hd.uy-vien-1", "ktnn.hd.uy-vien-1"], POLICY
    )
    assert stranger == [
        "committee: 'ktnn.hd.uy-vien-1' không phải thành viên biểu quyết của Hội đồng TĐKT BTP, "
        "không thể ở Ban kiểm phiếu"
    ]
    twice = committee_errors(BTP, COUNCIL, "BTP", ["btp.hd.chu-tich", "btp.hd.chu-tich", "btp.hd.uy-vien-1"], POLICY)
    assert any("hơn một lần: 'btp.hd.chu-tich'" in e for e in twice)
    too_many = CountingCommitteePolicy(size=4, threshold=2)
    small_body = committee_errors(BTP, COUNCIL, "BTP", default_committee(BTP, COUNCIL, "BTP", 4), too_many)
    assert small_body == [
        "committee: Ban kiểm phiếu cần đúng 4 thành viên (bất kỳ 2 người mở phiếu), đã nêu 3; "
        "Hội đồng TĐKT BTP có 3 thành viên biểu quyết"
    ]


def test_a_member_without_an_enrolled_counting_key_is_named():
    committee = ["btp.hd.chu-tich", "btp.hd.uy-vien-1", "btp.hd.uy-vien-2"]
    assert missing_key_errors(committee, {"btp.hd.chu-tich", "btp.hd.uy-vien-1", "btp.hd.uy-vien-2"}) == []
    errors = missing_key_errors(committee, {"btp.hd.chu-tich"})
    assert len(errors) == 2
    assert errors[0].startswith("committee: thành viên Ban kiểm phiếu 'btp.hd.uy-vien-1' chưa đăng ký khóa kiểm phiếu")
    assert "'btp.hd.uy-vien-2'" in errors[1]


def test_share_indices_follow_committee_order():
    committee = ["a.b", "c.d", "e.f"]
    assert [share_index(committee, m) for m in committee] == [1, 2, 3]
    assert share_index(committee, "x.y") is None


# ---- conflict classes -----------------------------------------------------------------------------------


def test_voters_recusing_on_the_same_candidates_share_a_class():
    electorate = council(5)
    candidates = [cand("wf-a", nominee="m2"), cand("wf-b", proposer="m4"), cand("wf-c", nominee="m4")]
    classes, voter_class = conflict_classes(electorate, candidates, ConflictRule.NOMINEE_ONLY)
    assert classes == {"k00": [], "k01": ["wf-a"], "k02": ["wf-b", "wf-c"]}
    assert voter_class == {"m1": "k00", "m2": "k01", "m3": "k00", "m4": "k02", "m5": "k00"}


def test_k00_exists_even_when_every_voter_recuses_somewhere():
    electorate = Electorate(
        kind=BLOC, voters=(Voter(id="rep-a", organisation="A"), Voter(id="rep-b", organisation="B"))
    )
    candidates = [cand("wf-a", org="A"), cand("wf-b", org="B")]
    classes, voter_class = conflict_classes(electorate, candidates, ConflictRule.NOMINEE_AND_UNIT)
    assert classes == {NO_EXCLUSION_CLASS: [], "k01": ["wf-a"], "k02": ["wf-b"]}
    assert voter_class == {"rep-a": "k01", "rep-b": "k02"}


voters = st.lists(st.sampled_from(["A", "B", "C", "D"]), min_size=1, max_size=8).map(
    lambda orgs: Electorate(voters=tuple(Voter(id=f"v{i}", organisation=o) for i, o in enumerate(orgs)))
)
candidate_lists = st.lists(
    st.tuples(st.sampled_from(["A", "B", "C"]), st.sampled_from([None, "v0", "v1", "v3"])), min_size=1, max_size=6
).map(lambda specs: [cand(f"wf-{i}", org=o, nominee=n) for i, (o, n) in enumerate(specs)])


@given(voters, candidate_lists, st.sampled_from(list(ConflictRule)))
def test_classes_are_deterministic_and_exclude_exactly_each_voters_conflicts(electorate, candidates, rule):
    classes, voter_class = conflict_classes(electorate, candidates, rule)
    assert (classes, voter_class) == conflict_classes(electorate, list(reversed(candidates)), rule)
    assert classes[NO_EXCLUSION_CLASS] == []
    assert sorted(classes) == [f"k{i:02d}" for i in range(len(classes))]
    assert len({tuple(v) for v in classes.values()}) == len(classes)
    for voter in electorate.voters:
        excluded = classes[voter_class[voter.id]]
        assert excluded == sorted(c.workflow_id for c in candidates if conflicted(voter, c, rule))


# ---- anonymous ballots: shape, opening rules, count, turnout ---------------------------------------------


LIST = [cand("wf-a", nominee="m2"), cand("wf-b"), cand("wf-c")]
IDS = [c.workflow_id for c in LIST]


def test_a_sealed_ballot_covers_the_live_list_and_nothing_else():
    assert ballot_shape_errors(["wf-a", "wf-b", "wf-c"], IDS) == []
    assert ballot_shape_errors(["wf-a", "wf-b"], IDS) == [
        "ballot.sealed_choices: has no sealed entry for candidate(s): 'wf-c'"
    ]
    assert ballot_shape_errors(["wf-a", "wf-b", "wf-c", "wf-x"], IDS) == [
        "ballot.sealed_choices: names candidate(s) not on this round's list: 'wf-x'"
    ]
    # A struck candidate may be covered or left out.
    assert ballot_shape_errors(["wf-a", "wf-b"], IDS, struck=["wf-c"]) == []
    assert ballot_shape_errors(["wf-a", "wf-b", "wf-c"], IDS, struck=["wf-c"]) == []


def test_an_opened_ballot_recuses_exactly_where_its_class_excludes():
    F, A = Choice.FOR, Choice.AGAINST
    assert opened_ballot_errors({"wf-a": None, "wf-b": F, "wf-c": A}, ["wf-a"], IDS) == []
    assert opened_ballot_errors({"wf-a": F, "wf-b": F, "wf-c": A}, [], IDS) == []
    crafted = opened_ballot_errors({"wf-a": F, "wf-b": F, "wf-c": A}, ["wf-a"], IDS)
    assert crafted == ["candidate 'wf-a' is excluded for the ballot's conflict class but holds a choice"]
    assert "FOR" not in crafted[0]
    recused = opened_ballot_errors({"wf-a": F, "wf-b": None, "wf-c": A}, [], IDS)
    assert recused == ["candidate 'wf-b' is marked RECUSE but the ballot's conflict class may vote on it"]
    # A struck candidate is void whatever it holds.
    assert opened_ballot_errors({"wf-a": None, "wf-b": F, "wf-c": None}, ["wf-a"], IDS, struck=["wf-c"]) == []


def test_members_per_candidate_leave_out_the_conflicted():
    assert eligible_members(council(3), LIST, ConflictRule.NOMINEE_ONLY) == {"wf-a": 2, "wf-b": 3, "wf-c": 3}
    alone = Electorate(voters=(Voter(id="m2", organisation="BTP"),))
    with pytest.raises(ValueError, match="no voter may vote on candidate wf-a"):
        eligible_members(alone, LIST, ConflictRule.NOMINEE_ONLY)


def test_the_count_of_opened_ballots_counts_members_and_leaves_recusals_out():
    F, A, B = Choice.FOR, Choice.AGAINST, Choice.ABSTAIN
    opened: list[dict[str, Choice | None]] = [
        {"wf-a": None, "wf-b": F, "wf-c": A},
        {"wf-a": F, "wf-b": A, "wf-c": B},
        {"wf-a": F, "wf-b": F, "wf-c": F},
    ]
    members = eligible_members(council(3), LIST, ConflictRule.NOMINEE_ONLY)
    tallies = count_opened(opened, members)
    # wf-a's nominee (m2) recused: two members, both voted for.
    assert (tallies["wf-a"].members, tallies["wf-a"].present, tallies["wf-a"].votes_for) == (2, 2, 2)
    assert (tallies["wf-b"].members, tallies["wf-b"].present, tallies["wf-b"].votes_for) == (3, 3, 2)
    assert (tallies["wf-c"].votes_for, tallies["wf-c"].votes_against, tallies["wf-c"].abstaining) == (1, 1, 1)
    assert set(count_opened(opened, members, struck=["wf-c"])) == {"wf-a", "wf-b"}


def test_turnout_of_anonymous_ballots_counts_ballots_not_names():
    majority = Fraction(numerator=2, denominator=3)
    electorate = council(3)
    assert ballot_turnout(electorate, 2, majority).quorum_met
    assert not ballot_turnout(electorate, 1, majority).quorum_met
    with pytest.raises(ValueError, match="4 ballots do not fit an electorate of 3"):
        ballot_turnout(electorate, 4, majority)
