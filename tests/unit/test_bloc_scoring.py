"""The bloc's scoring table, self-assessments and the panel's adjustments: Vietnamese errors naming the field,
the final score, a member that submits nothing, and the submission deadline and reminder."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from domain.bloc.policy import BlocScoringPolicy, NoSubmission, bloc_scoring_policy, bloc_scoring_policy_for
from domain.bloc.scoring import (
    CriterionAdjustment,
    ItemAdjustment,
    SelfAssessment,
    missing_submissions,
    parse_adjustment,
    parse_self_assessment,
    score_member,
    submission_deadline,
    submission_reminder_at,
)
from domain.calendar import VIETNAM_TZ
from domain.catalog import policy_set
from domain.errors import InvalidInput
from domain.stages import Stage

POLICY = bloc_scoring_policy("NOI_CHINH-2024.01")
MEMBERS = ("KTNN", "TANDTC", "VKSNDTC", "TTCP", "BTP", "BCA", "TCCT", "BTLBVL")
EVIDENCE = [{"reference": "15/BC-KTNN", "title": "Báo cáo tổng kết công tác thi đua năm 2024"}]


def raw_sheet(member: str = "KTNN", **points: Any) -> dict[str, Any]:
    """A complete self-assessment at full marks, with the given criteria's points replaced."""
    scores = {
        code: {"points": str(points.get(code, criterion.max_points)), "evidence": EVIDENCE}
        for code, criterion in POLICY.criteria.items()
    }
    return {"member": member, "year": 2024, "policy_version": POLICY.version, "scores": scores}


def errors_of(raw: Any) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        parse_self_assessment(raw, POLICY, members=MEMBERS, year=2024)
    return {e.field: e.message for e in caught.value.errors}


def adjustment_errors_of(
    raw: Any, submitted: tuple[str, ...] = MEMBERS, policy: BlocScoringPolicy = POLICY
) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        parse_adjustment(raw, policy, members=MEMBERS, submitted=submitted)
    return {e.field: e.message for e in caught.value.errors}


# ---- the table as data ----------------------------------------------------------------------------------


def test_the_shipped_table_is_unverified_policy_data_with_its_source():
    assert bloc_scoring_policy_for("NOI_CHINH", 2024) is POLICY
    assert bloc_scoring_policy_for("NOI_CHINH", 2031) is POLICY
    assert POLICY.verified is False
    assert "not taken from the bloc's pledge" in POLICY.source
    assert POLICY.criteria_max == 100
    assert (POLICY.max_total, POLICY.min_total) == (105, -10)


def test_no_table_before_its_first_year_nor_for_an_unknown_bloc():
    with pytest.raises(LookupError, match="NOI_CHINH in force for 2023"):
        bloc_scoring_policy_for("NOI_CHINH", 2023)
    with pytest.raises(KeyError, match="unknown bloc scoring table"):
        bloc_scoring_policy("KHOI_X-2024.01")


def test_honours_name_award_forms_of_the_catalog_that_reach_the_prime_minister():
    catalog = policy_set("2026.01")
    assert [t.award_form for t in POLICY.honours] == ["CO_THI_DUA_CP", "BANG_KHEN_TTG"]
    assert Stage.BLOC_VOTE in catalog.form("CO_THI_DUA_CP").route
    for tier in POLICY.honours:
        assert tier.award_form in catalog.award_forms


def test_a_group_maximum_must_be_the_sum_of_its_criteria():
    data = POLICY.model_dump(mode="json")
    data["groups"][0]["max_points"] = 41
    with pytest.raises(ValueError, match="max_points 41 is not the sum of its criteria"):
        BlocScoringPolicy.model_validate(data)


def test_a_tie_break_on_an_unknown_group_is_refused():
    data = POLICY.model_dump(mode="json")
    data["tie_breaks"] = [{"rule": "HIGHER_GROUP_SCORE", "group": "XX"}]
    with pytest.raises(ValueError, match="unknown group XX"):
        BlocScoringPolicy.model_validate(data)


# ---- the self-assessment ----------------------------------------------------------------------------------


def test_a_complete_sheet_is_accepted():
    assessment = parse_self_assessment(raw_sheet(NV1="24.5"), POLICY, members=MEMBERS, year=2024)
    assert assessment.scores["NV1"].points == Decimal("24.5")


def test_a_score_above_the_criterion_maximum_names_the_field():
    errors = errors_of(raw_sheet(NV1="25.5"))
    assert errors == {"scores.NV1.points": "điểm 25,5 vượt quá điểm tối đa 25 của tiêu chí NV1"}


def test_a_negative_score_names_the_field():
    assert errors_of(raw_sheet(PT3="-1")) == {"scores.PT3.points": "điểm -1 không được âm (tiêu chí PT3)"}


def test_an_unknown_criterion_names_it():
    raw = raw_sheet()
    raw["scores"]["NV9"] = {"points": "1", "evidence": EVIDENCE}
    assert errors_of(raw) == {"scores.NV9": "tiêu chí «NV9» không có trong bảng chấm điểm NOI_CHINH-2024.01"}


def test_a_missing_criterion_names_it_with_its_title():
    raw = raw_sheet()
    del raw["scores"]["KT2"]
    assert errors_of(raw) == {
        "scores.KT2": "thiếu điểm tự chấm cho tiêu chí KT2 «Quan tâm khen thưởng người lao động trực tiếp»"
    }


def test_a_score_without_the_evidence_its_criterion_requires():
    raw = raw_sheet()
    raw["scores"]["NV2"]["evidence"] = []
    raw["scores"]["KH2"]["evidence"] = []  # this criterion needs none
    raw["scores"]["PT1"] = {"points": "0"}  # nothing claimed, nothing to prove
    assert list(errors_of(raw)) == ["scores.NV2.evidence"]
    assert "cần ít nhất một minh chứng" in errors_of(raw)["scores.NV2.evidence"]


def test_evidence_needs_a_reference_or_a_content_hash():
    raw = raw_sheet()
    raw["scores"]["NV1"]["evidence"] = [{"title": "Báo cáo"}]
    raw["scores"]["NV2"]["evidence"] = [{"content_sha256": "not-a-hash"}]
    errors = errors_of(raw)
    assert errors["scores.NV1.evidence.0"] == (
        "cần số/ký hiệu văn bản (reference) hoặc mã băm SHA-256 (content_sha256)"
    )
    assert errors["scores.NV2.evidence.0.content_sha256"] == "sai định dạng"


def test_a_content_hash_alone_is_evidence():
    raw = raw_sheet()
    raw["scores"]["NV1"]["evidence"] = [{"content_sha256": "AB" * 32}]
    assessment = parse_self_assessment(raw, POLICY, members=MEMBERS, year=2024)
    assert assessment.scores["NV1"].evidence[0].content_sha256 == "ab" * 32


def test_points_that_are_not_a_number_or_too_fine():
    errors = errors_of(raw_sheet(NV1="nhiều", NV2="9.125"))
    assert errors == {
        "scores.NV1.points": "phải là một số",
        "scores.NV2.points": "tối đa 2 chữ số thập phân",
    }


def test_structure_and_table_errors_are_reported_together():
    raw = raw_sheet(NV1="x")
    del raw["scores"]["PT3"]
    raw["extra"] = 1
    assert set(errors_of(raw)) == {"scores.NV1.points", "scores.PT3", "extra"}
    assert errors_of(raw)["extra"] == "trường không có trong mẫu"


def test_member_year_and_table_version_must_be_the_bloc_years():
    raw = raw_sheet(member="BYT")
    raw["year"] = 2023
    raw["policy_version"] = "NOI_CHINH-2023.01"
    assert errors_of(raw) == {
        "member": "đơn vị BYT không phải thành viên Khối",
        "year": "năm 2023 khác năm thi đua của Khối (2024)",
        "policy_version": "bản tự chấm theo bảng NOI_CHINH-2023.01, Khối chấm theo bảng NOI_CHINH-2024.01",
    }


def test_unknown_bonus_and_penalty_items_and_a_bonus_without_evidence():
    raw = raw_sheet()
    raw["bonuses"] = {"CD1": {"occurrences": 1}, "CD9": {"occurrences": 1, "evidence": EVIDENCE}}
    raw["penalties"] = {"TD1": {"occurrences": 2}, "CD2": {"occurrences": 1}}
    assert errors_of(raw) == {
        "bonuses.CD9": "mục điểm cộng «CD9» không có trong bảng chấm điểm NOI_CHINH-2024.01",
        "penalties.CD2": "mục điểm trừ «CD2» không có trong bảng chấm điểm NOI_CHINH-2024.01",
        "bonuses.CD1.evidence": "mục điểm cộng CD1 cần ít nhất một minh chứng (số/ký hiệu văn bản hoặc mã băm SHA-256)",
    }


def test_a_claim_counts_at_least_once():
    raw = raw_sheet()
    raw["penalties"] = {"TD1": {"occurrences": 0}}
    assert errors_of(raw) == {"penalties.TD1.occurrences": "phải từ 1 trở lên"}


# ---- the panel's adjustment ---------------------------------------------------------------------------------


def test_an_adjustment_needs_a_reason():
    raw = {"kind": "CRITERION", "member": "BTP", "code": "NV1", "points": "20"}
    assert adjustment_errors_of(raw) == {"reason": "chấm chéo phải nêu lý do điều chỉnh (ít nhất 3 ký tự)"}
    assert adjustment_errors_of({**raw, "reason": "  x "}) == {
        "reason": "chấm chéo phải nêu lý do điều chỉnh (ít nhất 3 ký tự)"
    }


def test_an_adjustment_out_of_range_or_on_an_unknown_line():
    raw: dict[str, Any] = {"kind": "CRITERION", "member": "BTP", "code": "NV3", "points": "6", "reason": "Chưa đủ"}
    assert adjustment_errors_of(raw) == {"points": "điểm 6 vượt quá điểm tối đa 5 của tiêu chí NV3"}
    raw = {"kind": "PENALTY", "member": "BYT", "code": "CD1", "occurrences": 1, "reason": "Báo cáo chậm"}
    assert adjustment_errors_of(raw) == {
        "member": "đơn vị BYT không phải thành viên Khối",
        "code": "mục điểm trừ «CD1» không có trong bảng chấm điểm NOI_CHINH-2024.01",
    }


def test_an_adjustment_of_an_unknown_kind_names_kind():
    raw: dict[str, Any] = {"kind": "BONUSES", "member": "BTP", "code": "CD1", "occurrences": 1, "reason": "Sáng kiến"}
    assert adjustment_errors_of(raw) == {"kind": "phải là CRITERION, BONUS hoặc PENALTY"}
    del raw["kind"]
    assert list(adjustment_errors_of(raw)) == ["kind"]


def test_no_adjustment_for_a_member_left_out_of_the_ranking():
    not_ranked = POLICY.model_copy(
        update={"submission": POLICY.submission.model_copy(update={"no_submission": NoSubmission.NOT_RANKED})}
    )
    raw = {"kind": "CRITERION", "member": "BTP", "code": "NV1", "points": "1", "reason": "Chấm chéo"}
    errors = adjustment_errors_of(raw, submitted=("KTNN",), policy=not_ranked)
    assert list(errors) == ["member"]
    assert "không nộp bản tự chấm nên không được xếp hạng" in errors["member"]
    # Under the shipped table (ZERO) the panel may still score a member that submitted nothing.
    assert parse_adjustment(raw, POLICY, members=MEMBERS, submitted=("KTNN",)).member == "BTP"


# ---- the scorecard ---------------------------------------------------------------------------------------


def sheet(member: str = "KTNN", **points: Any) -> SelfAssessment:
    return parse_self_assessment(raw_sheet(member, **points), POLICY, members=MEMBERS, year=2024)


def test_the_final_score_is_the_panels_where_it_adjusted_and_the_members_elsewhere():
    own = sheet("BTP", NV1="24", NV2="9")
    cut = CriterionAdjustment(kind="CRITERION", member="BTP", code="NV1", points=Decimal("21"), reason="Chưa đạt")
    other = CriterionAdjustment(kind="CRITERION", member="BCA", code="NV2", points=Decimal(0), reason="Không áp dụng")
    card = score_member(POLICY, "BTP", own, [cut, other])
    lines = {line.code: line for line in card.criteria}
    assert (lines["NV1"].self_points, lines["NV1"].final_points, lines["NV1"].adjusted_reason) == (24, 21, "Chưa đạt")
    assert (lines["NV2"].self_points, lines["NV2"].final_points, lines["NV2"].adjusted_reason) == (9, 9, None)
    assert card.group_totals["NV"] == 21 + 9 + 5
    assert card.criteria_total == 100 - 1 - 1 - 3
    assert card.total == card.criteria_total
    assert card.adjusted == 1


def test_the_last_adjustment_of_a_line_counts():
    first = CriterionAdjustment(kind="CRITERION", member="BTP", code="PT1", points=Decimal(5), reason="Lần 1")
    second = first.model_copy(update={"points": Decimal(7), "reason": "Lần 2"})
    card = score_member(POLICY, "BTP", sheet("BTP"), [first, second])
    assert next(line for line in card.criteria if line.code == "PT1").final_points == 7


def test_bonus_and_penalty_items_are_capped_per_item_and_overall():
    raw = raw_sheet("BCA")
    raw["bonuses"] = {
        "CD1": {"occurrences": 5, "evidence": EVIDENCE},  # 5 × 1, item cap 3
        "CD2": {"occurrences": 2, "evidence": EVIDENCE},  # 2
        "CD3": {"occurrences": 3, "evidence": EVIDENCE},  # 1.5: 6.5 in all, overall cap 5
    }
    raw["penalties"] = {"TD1": {"occurrences": 3}}  # 1.5
    card = score_member(POLICY, "BCA", parse_self_assessment(raw, POLICY, members=MEMBERS, year=2024))
    assert [line.points for line in card.bonuses] == [3, 2, Decimal("1.5")]
    assert (card.bonus_points, card.penalty_points) == (5, Decimal("1.5"))
    assert card.total == Decimal("103.5")
    more = ItemAdjustment(kind="PENALTY", member="BCA", code="TD3", occurrences=4, reason="Kỷ luật 4 trường hợp")
    card = score_member(POLICY, "BCA", parse_self_assessment(raw, POLICY, members=MEMBERS, year=2024), [more])
    assert card.penalty_points == Decimal("7.5")  # TD3: 4 × 2 capped at 6, plus 1.5
    removed = ItemAdjustment(kind="BONUS", member="BCA", code="CD1", occurrences=0, reason="Chưa được Khối ghi nhận")
    card = score_member(POLICY, "BCA", parse_self_assessment(raw, POLICY, members=MEMBERS, year=2024), [removed])
    cd1 = next(line for line in card.bonuses if line.code == "CD1")
    assert (cd1.self_occurrences, cd1.final_occurrences, cd1.points) == (5, 0, 0)
    assert card.bonus_points == Decimal("3.5")


def test_a_member_that_submits_nothing_is_scored_as_the_table_says():
    zero = score_member(POLICY, "TCCT", None)
    assert (zero.submitted, zero.ranked, zero.total) == (False, True, 0)
    assert all(line.self_points is None and line.final_points == 0 for line in zero.criteria)
    not_ranked = POLICY.model_copy(
        update={"submission": POLICY.submission.model_copy(update={"no_submission": NoSubmission.NOT_RANKED})}
    )
    assert score_member(not_ranked, "TCCT", None).ranked is False


def test_a_scorecard_refuses_an_assessment_that_does_not_fit():
    assessment = sheet("KTNN").model_copy(update={"member": "BTP"})
    with pytest.raises(InvalidInput, match="member: bản tự chấm của BTP, không của KTNN"):
        score_member(POLICY, "KTNN", assessment)


# ---- the submission window --------------------------------------------------------------------------------


def test_deadline_and_reminder_count_working_days():
    opened = datetime(2024, 3, 4, 10, 0, tzinfo=VIETNAM_TZ)  # a Monday, no holiday in the next month
    deadline = submission_deadline(POLICY, opened)
    assert deadline == datetime(2024, 3, 26, 0, 0, tzinfo=VIETNAM_TZ)  # the end of the 15th working day
    assert submission_reminder_at(POLICY, deadline) == datetime(2024, 3, 20, 8, 0, tzinfo=VIETNAM_TZ)


def test_the_window_stretches_over_tet():
    opened = datetime(2025, 1, 20, 9, 0, tzinfo=VIETNAM_TZ)
    plain = datetime(2025, 2, 11, 0, 0, tzinfo=VIETNAM_TZ)  # 15 weekdays later, were there no holiday
    assert submission_deadline(POLICY, opened) > plain


def test_who_is_reminded():
    assert missing_submissions(MEMBERS, {"KTNN", "BCA"}) == ["TANDTC", "VKSNDTC", "TTCP", "BTP", "TCCT", "BTLBVL"]
