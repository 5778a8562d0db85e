"""Honouring's tiers: which ranked members each tier puts to the bloc's vote (whole rank groups until the quota
is reached, the minimum score, none seated twice) and the seats the vote fills."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.bloc.honouring import TierCandidates, honour_tier_candidates
from domain.bloc.policy import BlocScoringPolicy, bloc_scoring_policy
from domain.bloc.ranking import StandingRow, Standings

POLICY = bloc_scoring_policy("NOI_CHINH-2024.01")  # CO_THI_DUA_CP: quota 1, ≥ 90; BANG_KHEN_TTG: quota 2, ≥ 85
MEMBERS = ("BCA", "BTP", "KTNN", "TANDTC", "TTCP", "VKSNDTC", "M7", "M8")


def standings(*totals: tuple[str, float], policy: BlocScoringPolicy = POLICY) -> Standings:
    """Standings of (member, total), best first; equal totals share a rank (competition ranking)."""
    ordered = sorted(totals, key=lambda mt: (-mt[1], mt[0]))
    rows = []
    for position, (member, total) in enumerate(ordered):
        rank = next(i for i, (_, t) in enumerate(ordered) if t == total) + 1
        tied = sum(1 for _, t in ordered if t == total) > 1
        value = Decimal(str(total))
        rows.append(
            StandingRow(
                member=member,
                rank=rank,
                total=value,
                criteria_total=value,
                bonus_points=Decimal(0),
                penalty_points=Decimal(0),
                group_totals={},
                submitted=True,
                tied=tied,
                separated_by=None if position == 0 or rank != position + 1 else "TOTAL",
            )
        )
    return Standings(policy_version=policy.version, rows=tuple(rows))


def test_the_first_tier_takes_the_leader_alone():
    table = standings(("TANDTC", 95), ("BCA", 91), ("BTP", 88))
    assert honour_tier_candidates(POLICY, table, 0) == TierCandidates(
        award_form="CO_THI_DUA_CP", candidates=("TANDTC",), seats=1
    )


def test_a_tie_straddling_the_quota_is_on_the_ballot_whole():
    table = standings(("TANDTC", 95), ("BCA", 95), ("BTP", 91))
    first = honour_tier_candidates(POLICY, table, 0)
    assert first.candidates == ("BCA", "TANDTC") and first.seats == 1
    # The second tier: two seats; the rank below the tie is reached only when the tie does not fill it.
    second = honour_tier_candidates(POLICY, standings(("A1", 95), ("B1", 91), ("C1", 91), ("D1", 91)), 1, {"A1"})
    assert second.award_form == "BANG_KHEN_TTG"
    assert second.candidates == ("B1", "C1", "D1") and second.seats == 2


def test_whole_rank_groups_until_the_quota_is_reached():
    table = standings(("A1", 95), ("B1", 90), ("C1", 89), ("D1", 89), ("E1", 88))
    second = honour_tier_candidates(POLICY, table, 1, {"A1"})
    # B1 alone is short of the quota of 2: the next rank comes in whole (C1 and D1 tied), then it is reached.
    assert second.candidates == ("B1", "C1", "D1") and second.seats == 2


def test_the_minimum_score_and_the_members_seated_before_are_left_out():
    table = standings(("TANDTC", 95), ("BCA", 89), ("BTP", 84), ("KTNN", 80))
    assert honour_tier_candidates(POLICY, table, 0).candidates == ("TANDTC",)
    # TANDTC was seated by the first tier; BTP and KTNN are below the second tier's 85.
    second = honour_tier_candidates(POLICY, table, 1, {"TANDTC"})
    assert second == TierCandidates(award_form="BANG_KHEN_TTG", candidates=("BCA",), seats=1)


def test_an_empty_tier_is_reported_as_such():
    table = standings(("TANDTC", 89), ("BCA", 80))
    first = honour_tier_candidates(POLICY, table, 0)
    assert first.empty and first.candidates == () and first.seats == 0
    assert honour_tier_candidates(POLICY, Standings(policy_version=POLICY.version, rows=()), 1).empty


def test_a_member_the_first_tier_did_not_seat_stays_for_the_second():
    # BCA lost the first tier's vote (TANDTC was proposed): it is a candidate of the second tier.
    table = standings(("TANDTC", 95), ("BCA", 95), ("BTP", 86))
    second = honour_tier_candidates(POLICY, table, 1, {"TANDTC"})
    assert second.candidates == ("BCA", "BTP") and second.seats == 2


def test_unknown_tier_or_foreign_standings_are_refused():
    table = standings(("TANDTC", 95))
    with pytest.raises(ValueError, match="tier_index 2"):
        honour_tier_candidates(POLICY, table, 2)
    foreign = Standings(policy_version="NOI_CHINH-2099.01", rows=())
    with pytest.raises(ValueError, match=r"standings scored by NOI_CHINH-2099\.01"):
        honour_tier_candidates(POLICY, foreign, 0)


# ---- properties --------------------------------------------------------------------------------------------

totals = st.lists(st.integers(min_value=70, max_value=100), min_size=0, max_size=len(MEMBERS))


@settings(max_examples=300, deadline=None)
@given(scores=totals, tier_index=st.integers(min_value=0, max_value=1), data=st.data())
def test_the_ballot_holds_whole_ranks_the_quota_and_no_one_seated(scores, tier_index, data):
    table = standings(*zip(MEMBERS, scores, strict=False))
    seated = data.draw(st.sets(st.sampled_from(MEMBERS[: len(scores)] or ("NONE",))))
    tier = POLICY.honours[tier_index]
    result = honour_tier_candidates(POLICY, table, tier_index, seated)
    eligible = [r for r in table.rows if r.member not in seated and r.total >= tier.min_score]
    assert result.award_form == tier.award_form
    # Ranking order, only eligible members, none twice.
    assert list(result.candidates) == [r.member for r in eligible][: len(result.candidates)]
    assert result.seats == min(tier.quota, len(result.candidates))
    if len(eligible) <= tier.quota:
        assert list(result.candidates) == [r.member for r in eligible]  # everyone eligible, the tier not filled
    else:
        assert len(result.candidates) >= tier.quota
        # Whole rank groups: the last candidate's rank is not shared with an eligible member left off ...
        last_rank = table.rank_of(result.candidates[-1])
        assert all(r.rank != last_rank for r in eligible[len(result.candidates) :])
        # ... and nothing beyond the quota is taken but the rest of the rank that reached it.
        before_last = [m for m in result.candidates if table.rank_of(m) != last_rank]
        assert len(before_last) < tier.quota
