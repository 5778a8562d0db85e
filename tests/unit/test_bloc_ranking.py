"""The bloc's ranking (ties broken only by the declared rules) and the honouring proposals (quota, minimum
score, a boundary tie left to the bloc's vote)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from domain.bloc.policy import bloc_scoring_policy
from domain.bloc.ranking import (
    HonourProposal,
    Standings,
    TierStatus,
    honour_choice_errors,
    propose_honours,
    rank_members,
)
from domain.bloc.scoring import CriterionAdjustment, Scorecard, SelfAssessment, score_member
from domain.errors import InvalidInput

POLICY = bloc_scoring_policy("NOI_CHINH-2024.01")
EVIDENCE = ({"reference": "01/BC"},)
CO, BK = "CO_THI_DUA_CP", "BANG_KHEN_TTG"


def card(member: str, total: Any, *, penalty: int = 0, nv_short: Any = 0, bonus: int = 0) -> Scorecard:
    """A scorecard worth `total`: the criteria at full marks less what is needed, `nv_short` of it taken from
    NV1 (group NV) and the rest from the other groups' criteria in table order; `penalty` occurrences of TD2
    (1 point each), `bonus` of CD1 (1 point each)."""
    points = {code: c.max_points for code, c in POLICY.criteria.items()}
    points["NV1"] -= Decimal(str(nv_short))
    rest = Decimal(100) - Decimal(str(total)) - penalty + bonus - Decimal(str(nv_short))
    for code in sorted(points, key=lambda c: POLICY.group_of[c] == "NV"):
        taken = min(rest, points[code])
        points[code] -= taken
        rest -= taken
    assessment = SelfAssessment.model_validate(
        {
            "member": member,
            "year": 2024,
            "policy_version": POLICY.version,
            "scores": {code: {"points": p, "evidence": EVIDENCE} for code, p in points.items()},
            "penalties": {"TD2": {"occurrences": penalty}} if penalty else {},
            "bonuses": {"CD1": {"occurrences": bonus, "evidence": EVIDENCE}} if bonus else {},
        }
    )
    result = score_member(POLICY, member, assessment)
    assert result.total == Decimal(str(total))
    return result


def test_members_rank_by_total():
    standings = rank_members(POLICY, [card("BTP", 88), card("TANDTC", 95), card("BCA", 91)])
    assert [(r.member, r.rank, r.separated_by) for r in standings.rows] == [
        ("TANDTC", 1, None),
        ("BCA", 2, "TOTAL"),
        ("BTP", 3, "TOTAL"),
    ]
    assert standings.ties == ()


def test_equal_totals_are_separated_by_fewer_penalty_points_first():
    standings = rank_members(POLICY, [card("BTP", 92, penalty=1), card("BCA", 92, nv_short=5)])
    assert [(r.member, r.rank, r.separated_by, r.tied) for r in standings.rows] == [
        ("BCA", 1, None, False),
        ("BTP", 2, "FEWER_PENALTY_POINTS", False),
    ]


def test_then_by_the_score_of_group_nv():
    standings = rank_members(POLICY, [card("BTP", 92, nv_short=3), card("BCA", 92, nv_short=1)])
    assert [(r.member, r.separated_by) for r in standings.rows] == [("BCA", None), ("BTP", "HIGHER_GROUP_SCORE:NV")]


def test_a_tie_the_rules_cannot_break_stays_a_tie_and_is_reported():
    cards = [card("VKSNDTC", 97), card("TTCP", 92, nv_short=2), card("BTP", 92, nv_short=2), card("BCA", 90)]
    standings = rank_members(POLICY, cards)
    assert [(r.member, r.rank, r.tied) for r in standings.rows] == [
        ("VKSNDTC", 1, False),
        ("BTP", 2, True),
        ("TTCP", 2, True),
        ("BCA", 4, False),
    ]
    assert [(t.rank, t.members) for t in standings.ties] == [(2, ("BTP", "TTCP"))]
    assert [r.separated_by for r in standings.rows] == [None, "TOTAL", None, "TOTAL"]


def test_a_member_left_out_of_the_ranking_is_listed_apart():
    unranked = card("TCCT", 0).model_copy(update={"ranked": False, "submitted": False})
    standings = rank_members(POLICY, [card("BTP", 90), unranked])
    assert [r.member for r in standings.rows] == ["BTP"]
    assert standings.unranked == ("TCCT",)
    assert standings.rank_of("TCCT") is None


def test_one_scorecard_per_member_and_the_same_table():
    with pytest.raises(ValueError, match="more than one scorecard for: BTP"):
        rank_members(POLICY, [card("BTP", 90), card("BTP", 91)])
    with pytest.raises(ValueError, match=r"not scored by NOI_CHINH-2024\.01: BTP"):
        rank_members(POLICY, [card("BTP", 90).model_copy(update={"policy_version": "NOI_CHINH-2025.01"})])


def test_an_adjustment_by_the_panel_moves_a_member_in_the_ranking():
    base = card("BTP", 96)
    cut = CriterionAdjustment(kind="CRITERION", member="BTP", code="NV1", points=Decimal(18), reason="Chưa đạt")
    assessment = SelfAssessment.model_validate(
        {
            "member": "BTP",
            "year": 2024,
            "policy_version": POLICY.version,
            "scores": {line.code: {"points": line.final_points, "evidence": EVIDENCE} for line in base.criteria},
        }
    )
    adjusted = score_member(POLICY, "BTP", assessment, [cut])
    assert rank_members(POLICY, [base, card("BCA", 94)]).rank_of("BTP") == 1
    assert rank_members(POLICY, [adjusted, card("BCA", 94)]).rank_of("BTP") == 2


# ---- honouring ---------------------------------------------------------------------------------------------

EIGHT = [
    card("TANDTC", Decimal("98.5")),
    card("BCA", 97),
    card("VKSNDTC", 96),
    card("KTNN", Decimal("93.5")),
    card("BTP", 86),
    card("TTCP", 84),
    card("BTLBVL", 80),
    score_member(POLICY, "TCCT", None),  # submitted nothing: zero under the shipped table, and ranked last
]


def test_the_leader_is_proposed_for_the_flag_and_the_next_two_for_the_certificate():
    proposal = propose_honours(POLICY, rank_members(POLICY, EIGHT))
    assert [(t.award_form, t.status, t.proposed) for t in proposal.tiers] == [
        (CO, TierStatus.DECIDED, ("TANDTC",)),
        (BK, TierStatus.DECIDED, ("BCA", "VKSNDTC")),
    ]
    assert proposal.pending_tie is None


def test_the_minimum_score_leaves_seats_empty_rather_than_fill_them():
    cards = [card("TANDTC", 89), card("BCA", 86), card("BTP", Decimal("84.5"))]
    proposal = propose_honours(POLICY, rank_members(POLICY, cards))
    assert proposal.proposed_for(CO) == ()  # 89 < 90
    assert proposal.proposed_for(BK) == ("TANDTC", "BCA")
    cards = [card("TANDTC", 95), card("BCA", 86), card("BTP", Decimal("84.5"))]
    assert propose_honours(POLICY, rank_members(POLICY, cards)).proposed_for(BK) == ("BCA",)


def test_a_tie_for_the_flag_waits_for_the_bloc_vote_and_the_certificate_waits_for_it():
    cards = [card("TANDTC", 97), card("BCA", 97), card("VKSNDTC", 92), card("BTP", 80)]
    standings = rank_members(POLICY, cards)
    proposal = propose_honours(POLICY, standings)
    flag, certificate = proposal.tiers
    assert (flag.status, flag.proposed, flag.tied, flag.seats_left) == (TierStatus.TIED, (), ("BCA", "TANDTC"), 1)
    assert certificate.status == TierStatus.WAITING
    assert proposal.pending_tie == flag
    assert honour_choice_errors(proposal, CO, ["BCA"]) == []
    decided = propose_honours(POLICY, standings, {CO: ["BCA"]})
    assert [(t.status, t.proposed, t.chosen_by_vote) for t in decided.tiers] == [
        (TierStatus.DECIDED, ("BCA",), ("BCA",)),
        (TierStatus.DECIDED, ("TANDTC", "VKSNDTC"), ()),
    ]


def test_a_tie_straddling_the_certificate_quota():
    cards = [card("TANDTC", 99), card("BCA", 95), card("VKSNDTC", 90), card("KTNN", 90), card("BTP", 89)]
    standings = rank_members(POLICY, cards)
    certificate = propose_honours(POLICY, standings).tiers[1]
    assert (certificate.status, certificate.proposed, certificate.tied, certificate.seats_left) == (
        TierStatus.TIED,
        ("BCA",),
        ("KTNN", "VKSNDTC"),
        1,
    )
    assert propose_honours(POLICY, standings, {BK: ["KTNN"]}).proposed_for(BK) == ("BCA", "KTNN")


def test_a_tie_that_fits_the_quota_whole_is_no_boundary_tie():
    cards = [card("TANDTC", 99), card("BCA", 95, nv_short=1), card("VKSNDTC", 95, nv_short=1)]
    proposal = propose_honours(POLICY, rank_members(POLICY, cards))
    assert proposal.proposed_for(BK) == ("BCA", "VKSNDTC")
    assert proposal.pending_tie is None


def test_the_vote_must_choose_exactly_the_open_seats_among_the_tied():
    cards = [card("TANDTC", 97), card("BCA", 97), card("VKSNDTC", 97)]
    standings = rank_members(POLICY, cards)
    proposal = propose_honours(POLICY, standings)
    assert [e.message for e in honour_choice_errors(proposal, CO, ["BCA", "BCA", "BTP"])] == [
        "chọn trùng: BCA",
        "không thuộc các đơn vị bằng điểm (BCA, TANDTC, VKSNDTC): BTP",
        "phải chọn đúng 1 trong 3 đơn vị bằng điểm (BCA, TANDTC, VKSNDTC), đã chọn 2",
    ]
    assert {e.field for e in honour_choice_errors(proposal, CO, [])} == {"decided.CO_THI_DUA_CP"}
    assert [e.message for e in honour_choice_errors(proposal, BK, ["BCA"])] == [
        "không có đơn vị bằng điểm đang chờ bỏ phiếu cho hình thức này"
    ]
    with pytest.raises(InvalidInput) as caught:
        propose_honours(POLICY, standings, {CO: ["BTP"], "HUAN_CHUONG_LD_3": ["BCA"]})
    assert {e.field for e in caught.value.errors} == {"decided.CO_THI_DUA_CP", "decided.HUAN_CHUONG_LD_3"}


def test_a_choice_for_a_tier_without_a_tie_is_refused():
    with pytest.raises(InvalidInput, match=r"decided\.CO_THI_DUA_CP: không có đơn vị bằng điểm tại vị trí cuối"):
        propose_honours(POLICY, rank_members(POLICY, EIGHT), {CO: ["TANDTC"]})


def test_the_results_survive_a_json_round_trip_as_workflow_payloads_do():
    standings = rank_members(POLICY, EIGHT)
    proposal = propose_honours(POLICY, standings)
    assert Standings.model_validate_json(standings.model_dump_json()) == standings
    assert HonourProposal.model_validate_json(proposal.model_dump_json()) == proposal
    assert Scorecard.model_validate_json(EIGHT[0].model_dump_json()) == EIGHT[0]


def test_a_member_that_submitted_nothing_ranks_last_with_zero_under_the_shipped_table():
    last = rank_members(POLICY, EIGHT).rows[-1]
    assert (last.member, last.rank, last.total, last.submitted) == ("TCCT", 8, 0, False)
