"""The bloc year's state and rules (domain/bloc/year_state.py): each act refused outside its phase, by the wrong
person, twice, late or with a bad payload, each refusal naming its field in Vietnamese; what each act changes
and the write it leads to; the year carried through pledge, scoring, honouring's plan, election and handover."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from domain.bloc.policy import bloc_rotation, bloc_scoring_policy_for
from domain.bloc.rotation import BlocLeadership, leadership_for
from domain.bloc.scoring import SelfAssessment, submission_deadline, submission_reminder_at
from domain.bloc.year import (
    AdjustScore,
    BlocYearAct,
    BlocYearClock,
    BlocYearPhase,
    BlocYearStart,
    CallForAssessments,
    CloseReview,
    ElectionMethod,
    OpenHonouring,
    PublishPledge,
    RecordElection,
    SignPledge,
    SubmitAssessment,
    bloc_roster,
    bloc_year_id,
)
from domain.bloc.year_state import (
    BlocYearState,
    assessment_sha256,
    new_year_day,
)
from domain.catalog import policy_set
from domain.nomination import catalog_errors, workflow_id_for
from domain.procedure import bloc_origin_error
from domain.roster import Roster
from domain.stages import Stage

ROOT = Path(__file__).resolve().parents[2]
BLOC = "NOI_CHINH"
YEAR = 2024
HEAD = "tandtc.khoi.truong"  # BLOC_HEAD, and TANDTC's representative
REPS = {
    "BCA": "bca.khoi.dai-dien",
    "BTP": "btp.khoi.dai-dien",
    "KTNN": "ktnn.khoi.dai-dien",
    "TANDTC": HEAD,
    "VKSNDTC": "vksndtc.khoi.dai-dien",
    "TTCP": "ttcp.khoi.dai-dien",
    "TCCT": "tcct.khoi.dai-dien",
    "BTLBVL": "btlbvl.khoi.dai-dien",
}
POLICY = bloc_scoring_policy_for(BLOC, YEAR)
T0 = datetime(2024, 1, 8, 2, 0, tzinfo=UTC)  # a Monday, 09:00 in Hanoi


def whole_roster() -> Roster:
    """The shipped roster with the bloc's eight members and a representative for each."""
    base = json.loads((ROOT / "config" / "roster.json").read_text(encoding="utf-8"))
    extra = json.loads((ROOT / "config" / "roster-bloc-NOI_CHINH.json").read_text(encoding="utf-8"))
    known = {m["code"] for m in base["ministries"]}
    base["ministries"] += [m for m in extra["ministries"] if m["code"] not in known]
    base["actors"] += extra["actors"]
    return Roster.model_validate(base)


ROSTER = whole_roster()
BLOC_ROSTER = bloc_roster(ROSTER, BLOC)
LEADERSHIP = leadership_for(bloc_rotation(BLOC), YEAR)


def opened(clock: BlocYearClock | None = None, opened_by: str = HEAD) -> BlocYearState:
    start = BlocYearStart(
        bloc=BLOC, year=YEAR, leadership=LEADERSHIP, opened_by=opened_by, clock=clock or BlocYearClock()
    )
    state = BlocYearState.opening(bloc_year_id(BLOC, YEAR), start)
    state.set_roster(BLOC_ROSTER)
    return state


def assessment(member: str, points: str = "full", **changes: Any) -> SelfAssessment:
    """A complete self-assessment: every criterion at its maximum (or `points`), with evidence."""
    scores = {
        code: {
            "points": str(c.max_points) if points == "full" else points,
            "evidence": [{"reference": f"{code}/{member}/2024"}],
        }
        for code, c in POLICY.criteria.items()
    }
    raw: dict[str, Any] = {"member": member, "year": YEAR, "policy_version": POLICY.version, "scores": scores}
    raw.update(changes)
    return SelfAssessment.model_validate(raw)


def signed_by_all(state: BlocYearState) -> None:
    state.publish(PublishPledge(actor=HEAD), T0)
    for member, rep in REPS.items():
        state.sign(SignPledge(actor=rep, member=member), T0)


def in_review(state: BlocYearState, submitted: dict[str, str]) -> None:
    signed_by_all(state)
    state.call_for_assessments(CallForAssessments(actor=HEAD), T0)
    for member, points in submitted.items():
        state.submit(SubmitAssessment(actor=REPS[member], assessment=assessment(member, points)), T0)
    state.close_submissions(T0 + timedelta(days=30))


def test_the_members_are_the_rosters_ministries_of_the_bloc_in_roster_order():
    state = opened()
    assert state.members == ("BCA", "BTP", "TANDTC", "VKSNDTC", "TTCP", "KTNN", "TCCT", "BTLBVL")
    assert set(state.members) == set(bloc_rotation(BLOC).order)
    status = state.status()
    assert status.phase == BlocYearPhase.DRAFT and status.members == state.members
    assert status.phase_label_vi == "Chuẩn bị giao ước thi đua"


def test_only_the_head_opens_a_year_or_the_previous_year_through_the_system():
    assert opened().opener_refusal() is None
    refusal = opened(opened_by=REPS["BTP"]).opener_refusal()
    assert refusal is not None and "BLOC_HEAD" in refusal
    start = BlocYearStart(
        bloc=BLOC, year=YEAR, leadership=LEADERSHIP, opened_by="system", channel="SYSTEM", previous_year_id="x"
    )
    system = BlocYearState.opening(bloc_year_id(BLOC, YEAR), start)
    system.set_roster(BLOC_ROSTER)
    assert system.opener_refusal() is None


def test_every_act_is_refused_outside_its_phase():
    state = opened()
    acts = {
        BlocYearAct.SIGN_PLEDGE: SignPledge(actor=REPS["BTP"], member="BTP"),
        BlocYearAct.CALL_FOR_ASSESSMENTS: CallForAssessments(actor=HEAD),
        BlocYearAct.CLOSE_REVIEW: CloseReview(actor=HEAD),
        BlocYearAct.RECORD_ELECTION: RecordElection(actor=HEAD, method=ElectionMethod.ROTATION),
    }
    for act, payload in acts.items():
        refusal = state.refusal(act, payload, T0)
        assert refusal is not None and "«Chuẩn bị giao ước thi đua»" in refusal, act
    assert state.refusal(BlocYearAct.PUBLISH_PLEDGE, PublishPledge(actor=HEAD), T0) is None


def test_the_roster_not_yet_loaded_refuses_an_act_in_phase():
    start = BlocYearStart(bloc=BLOC, year=YEAR, leadership=LEADERSHIP, opened_by=HEAD)
    bare = BlocYearState.opening("x", start)
    assert bare.phase_refusal(BlocYearAct.PUBLISH_PLEDGE) is None
    assert "chưa được nạp" in (bare.refusal(BlocYearAct.PUBLISH_PLEDGE, PublishPledge(actor=HEAD), T0) or "")


def test_publishing_is_the_heads_and_fixes_the_table_in_force():
    state = opened()
    refusal = state.refusal(BlocYearAct.PUBLISH_PLEDGE, PublishPledge(actor=REPS["BTP"]), T0)
    assert refusal is not None and refusal.startswith("actor: ") and "BLOC_HEAD" in refusal
    unknown = state.refusal(
        BlocYearAct.PUBLISH_PLEDGE, PublishPledge(actor=HEAD, policy_version="NOI_CHINH-2099.01"), T0
    )
    assert unknown == "policy_version: không có bảng chấm điểm NOI_CHINH-2099.01"
    write = state.publish(PublishPledge(actor=HEAD), T0)
    assert state.phase == BlocYearPhase.PLEDGE and state.r.policy_version == POLICY.version
    assert (write.step, write.action, write.from_phase, write.to_phase) == (
        1,
        "PUBLISH_PLEDGE",
        BlocYearPhase.DRAFT,
        BlocYearPhase.PLEDGE,
    )
    parties = {n.party: n for n in write.notifications}
    assert set(parties) == {f"BLOC_REPRESENTATIVE:{rep}" for rep in REPS.values()}
    assert parties["BLOC_REPRESENTATIVE:btp.khoi.dai-dien"].recipients == ("trang.lt@btp.example.vn",)
    assert "ký giao ước thi đua năm 2024" in parties["BLOC_REPRESENTATIVE:btp.khoi.dai-dien"].subject


def test_a_representative_signs_for_their_own_organisation_once_and_all_signed_run_the_year():
    state = opened()
    state.publish(PublishPledge(actor=HEAD), T0)
    other = state.refusal(BlocYearAct.SIGN_PLEDGE, SignPledge(actor=REPS["BTP"], member="KTNN"), T0)
    assert other is not None and other.startswith("actor: ") and "không phải của KTNN (member)" in other
    stranger = state.refusal(BlocYearAct.SIGN_PLEDGE, SignPledge(actor="btp.hd.chu-tich", member="BTP"), T0)
    assert stranger is not None and stranger.startswith("actor: btp.hd.chu-tich không có trong danh sách cán bộ")
    head_only = state.refusal(BlocYearAct.SIGN_PLEDGE, SignPledge(actor=HEAD, member="BTP"), T0)
    assert head_only is not None and "là đại diện đơn vị thành viên Khối của TANDTC" in head_only
    write = state.sign(SignPledge(actor=REPS["BTP"], member="BTP", channel="API"), T0)
    assert write.signature is not None and write.signature.channel == "API" and write.details["signed"] == 1
    twice = state.refusal(BlocYearAct.SIGN_PLEDGE, SignPledge(actor=REPS["BTP"], member="BTP"), T0 + timedelta(1))
    assert twice is not None and twice.startswith("member: đơn vị BTP đã ký giao ước thi đua năm 2024")
    for member, rep in REPS.items():
        if member != "BTP":
            assert state.phase == BlocYearPhase.PLEDGE
            state.sign(SignPledge(actor=rep, member=member), T0)
    assert state.phase == BlocYearPhase.IN_YEAR
    signatures = state.status().signatures
    assert signatures[0].member == "BTP" and len(signatures) == 8


def test_the_call_opens_the_window_the_table_sets_or_the_clock_overrides():
    state = opened()
    signed_by_all(state)
    state.call_for_assessments(CallForAssessments(actor=HEAD), T0)
    deadline = submission_deadline(POLICY, T0)
    assert state.r.assessment_deadline == deadline
    assert state.r.reminder_at == submission_reminder_at(POLICY, deadline)
    assert state.phase == BlocYearPhase.SELF_ASSESSMENT

    fast = opened(BlocYearClock(assessment_seconds=3600, reminder_seconds_before=600))
    signed_by_all(fast)
    fast.call_for_assessments(CallForAssessments(actor=HEAD), T0)
    assert fast.r.assessment_deadline == T0 + timedelta(hours=1)
    assert fast.r.reminder_at == T0 + timedelta(minutes=50)


def test_a_submission_is_checked_against_the_table_once_per_member_and_not_after_the_deadline():
    state = opened(BlocYearClock(assessment_seconds=3600))
    signed_by_all(state)
    state.call_for_assessments(CallForAssessments(actor=HEAD), T0)
    act = BlocYearAct.SUBMIT_ASSESSMENT
    bad = assessment("BTP", scores={**assessment("BTP").model_dump(mode="json")["scores"], "NV1": {"points": "30"}})
    refusal = state.refusal(act, SubmitAssessment(actor=REPS["BTP"], assessment=bad), T0)
    assert refusal is not None and refusal.startswith("assessment.scores.NV1.points: điểm 30 vượt quá")
    foreign = state.refusal(act, SubmitAssessment(actor=REPS["BTP"], assessment=assessment("KTNN")), T0)
    assert foreign is not None and "không phải của KTNN (member)" in foreign
    ok = SubmitAssessment(actor=REPS["BTP"], assessment=assessment("BTP"))
    assert state.refusal(act, ok, T0) is None
    write = state.submit(ok, T0)
    assert write.receipt is not None and write.receipt.content_sha256 == assessment_sha256(assessment("BTP"))
    assert len(write.receipt.content_sha256) == 64
    twice = state.refusal(act, ok, T0 + timedelta(minutes=1))
    assert twice == "assessment.member: đơn vị BTP đã nộp bản tự chấm điểm (mỗi đơn vị nộp một lần)"
    late = state.refusal(
        act, SubmitAssessment(actor=REPS["KTNN"], assessment=assessment("KTNN")), T0 + timedelta(hours=1)
    )
    assert late is not None and late.startswith("assessment: đã quá hạn nộp bản tự chấm điểm")


def test_the_reminder_goes_to_the_missing_and_the_deadline_marks_them_late():
    state = opened()
    signed_by_all(state)
    state.call_for_assessments(CallForAssessments(actor=HEAD), T0)
    for member in ("BCA", "BTP", "TANDTC", "VKSNDTC", "TTCP", "KTNN", "TCCT"):
        state.submit(SubmitAssessment(actor=REPS[member], assessment=assessment(member)), T0)
    reminder = state.remind(T0 + timedelta(days=10))
    assert state.r.reminded == ["BTLBVL"]
    assert [n.party for n in reminder.notifications] == ["BLOC_REPRESENTATIVE:btlbvl.khoi.dai-dien"]
    assert reminder.notifications[0].recipients == ("tung.ot@btlbvl.example.vn",)
    closing = state.close_submissions(T0 + timedelta(days=30))
    assert state.phase == BlocYearPhase.REVIEW and state.r.late == ["BTLBVL"]
    assert closing.details == {"submitted": 7, "late": ["BTLBVL"]}


def test_the_panel_adjusts_with_a_reason_and_the_adjustment_changes_the_standings():
    state = opened()
    in_review(state, {"BCA": "full", "BTP": "full", "KTNN": "1"})
    act = BlocYearAct.ADJUST_SCORE
    adjustment = {
        "kind": "CRITERION",
        "member": "BTP",
        "code": "NV1",
        "points": "20",
        "reason": "Chấm chéo: thiếu minh chứng",
    }
    outsider = state.refusal(act, AdjustScore(actor=REPS["BCA"], adjustment=adjustment), T0)
    assert outsider is not None and outsider.startswith("actor: ") and "tổ chấm chéo" in outsider
    unknown = {**adjustment, "code": "ZZ9"}
    refused = state.refusal(act, AdjustScore(actor=REPS["VKSNDTC"], adjustment=unknown), T0)
    assert refused == "adjustment.code: tiêu chí «ZZ9» không có trong bảng chấm điểm NOI_CHINH-2024.01"
    with pytest.raises(ValidationError, match="reason"):
        AdjustScore(actor=HEAD, adjustment={**adjustment, "reason": ""})
    deputy_rep = AdjustScore(actor=REPS["VKSNDTC"], adjustment=adjustment)
    assert state.refusal(act, deputy_rep, T0) is None  # the deputy's organisation sits on the panel

    before = opened()
    in_review(before, {"BCA": "full", "BTP": "full", "KTNN": "1"})
    before.close_review(CloseReview(actor=HEAD), T0)
    assert before.r.standings is not None
    assert [r.member for r in before.r.standings.rows[:2]] == ["BCA", "BTP"] and before.r.standings.rows[0].tied

    write = state.adjust(deputy_rep, T0)
    assert write.adjustment is not None and write.adjustment.step == write.step
    closing = state.close_review(CloseReview(actor=HEAD), T0)
    standings = state.r.standings
    assert standings is not None and closing.scored and closing.standings == standings
    assert [r.member for r in standings.rows[:2]] == ["BCA", "BTP"] and not standings.rows[0].tied
    btp = next(c for c in state.r.scorecards if c.member == "BTP")
    assert btp.total == Decimal(95) and btp.adjusted == 1
    # The late are scored as the table says (ZERO: every criterion at zero, still ranked).
    late = next(c for c in state.r.scorecards if c.member == "TCCT")
    assert not late.submitted and late.ranked and late.total == 0
    assert state.phase == BlocYearPhase.HONOURING and state.r.suggestion is not None


def test_the_next_tier_plans_its_candidates_and_each_proposal_is_a_valid_bloc_origin_nomination():
    state = opened()
    in_review(state, {"BCA": "full", "BTP": "full", "KTNN": "1"})
    state.close_review(CloseReview(actor=HEAD), T0)
    plan = state.plan_tier()
    assert plan.award_form == "CO_THI_DUA_CP" and plan.candidates == ("BCA", "BTP") and plan.seats == 1
    request = OpenHonouring(actor=HEAD, deadline=T0 + timedelta(days=1), meeting_ref="HN-2025-04")
    assert state.refusal(BlocYearAct.OPEN_HONOURING, request, T0) is None
    assert state.refusal(BlocYearAct.OPEN_HONOURING, request, T0 + timedelta(days=2)) == (
        "deadline: thời hạn bỏ phiếu phải ở tương lai"
    )
    nomination = state.proposal_nomination(plan.award_form, "BCA", HEAD, request.meeting_ref)
    assert workflow_id_for(nomination) == "nomination-2024-BCA-SUYTON-NOI_CHINH-2024-CO_THI_DUA_CP"
    assert nomination.origin is not None and nomination.origin.bloc_year_id == bloc_year_id(BLOC, YEAR)
    assert catalog_errors(nomination, policy_set("2026.01")) == []
    assert bloc_origin_error(ROSTER.snapshot_for("BCA"), nomination) is None
    ranking = next(d for d in nomination.dossier if d.kind.value == "BAO_CAO_THANH_TICH")
    assert ranking.content_sha256 is not None and len(ranking.content_sha256) == 64

    state.request_honouring(request)
    assert state.refusal(BlocYearAct.OPEN_HONOURING, request, T0) is not None  # one tier's vote at a time
    state.tier_opened(request, plan, {"BCA": "wf-bca", "BTP": "wf-btp"}, "ballot-bloc-x", T0)
    voted = state.tier_voted(["BTP"], T0)
    assert state.r.tiers[0].proposed == ("BTP",) and voted.details["proposed"] == ["BTP"]
    assert state.phase == BlocYearPhase.HONOURING and state.next_tier_index() == 1
    second = state.plan_tier()
    assert second.award_form == "BANG_KHEN_TTG" and "BTP" not in second.candidates
    state.request_honouring(request)
    state.tier_opened(request, second, {}, None, T0)
    state.tier_voted([], T0)
    assert state.phase == BlocYearPhase.ELECTION
    assert state.unsettled() == ["wf-btp"]
    assert state.proposal_ended("wf-btp", Stage.AWARDED, T0) is not None
    assert state.proposal_ended("wf-btp", Stage.AWARDED, T0) is None  # once
    assert state.unsettled() == []


def test_the_election_follows_the_rotation_or_a_ballot_with_its_minutes():
    state = opened()
    state.r.phase = BlocYearPhase.ELECTION
    act = BlocYearAct.RECORD_ELECTION
    off = RecordElection(actor=HEAD, method=ElectionMethod.ROTATION, head="BCA")
    assert state.refusal(act, off, T0) == "head: theo thứ tự luân phiên, Khối trưởng năm 2025 là VKSNDTC"
    ballot = RecordElection(actor=HEAD, method=ElectionMethod.BALLOT, head="BYT", deputy="BCA")
    refusal = state.refusal(act, ballot, T0)
    assert refusal is not None
    assert "minutes_ref: bầu bằng bỏ phiếu phải dẫn biên bản hội nghị" in refusal
    assert "head: đơn vị BYT không phải thành viên Khối" in refusal
    member = RecordElection(actor=REPS["BTP"], method=ElectionMethod.ROTATION)
    assert (state.refusal(act, member, T0) or "").startswith("actor: ")
    rotation = RecordElection(actor=HEAD, method=ElectionMethod.ROTATION)
    assert state.refusal(act, rotation, T0) is None
    write = state.record_election(rotation, T0)
    assert state.r.next_leadership == BlocLeadership(bloc=BLOC, year=2025, head="VKSNDTC", deputy="TTCP")
    assert write.election is not None and state.phase == BlocYearPhase.HANDOVER


def test_the_handover_on_new_years_day_passes_the_flag_and_opens_next_year():
    state = opened()
    state.r.phase = BlocYearPhase.ELECTION
    state.record_election(RecordElection(actor=HEAD, method=ElectionMethod.ROTATION), T0)
    assert state.handover_at() == datetime(2025, 1, 1, tzinfo=new_year_day(2025).tzinfo)
    assert state.handover_at().astimezone(UTC) == datetime(2024, 12, 31, 17, 0, tzinfo=UTC)
    following = state.next_year_start()
    assert (following.year, following.leadership.head, following.opened_by) == (2025, "VKSNDTC", "system")
    assert following.previous_year_id == bloc_year_id(BLOC, YEAR)
    assert following.flag is not None and (following.flag.from_member, following.flag.to_member) == (
        "TANDTC",
        "VKSNDTC",
    )
    write = state.handed_over(bloc_year_id(BLOC, 2025), T0)
    assert state.phase == BlocYearPhase.FOLLOWING and write.flag == following.flag
    parties = [n.party for n in write.notifications]
    assert len(parties) == 9 and "BLOC_HEAD:NOI_CHINH" in parties
    assert "Cờ luân lưu được bàn giao từ TANDTC sang VKSNDTC" in write.notifications[0].body
    assert state.status().next_year_id == "bloc-year-NOI_CHINH-2025"
    assert state.unsettled() == []
    state.close(T0)
    assert state.phase == BlocYearPhase.CLOSED


def test_steps_number_the_writes_and_the_record_carries_over():
    state = opened()
    steps = [state.opened(T0).step, state.publish(PublishPledge(actor=HEAD), T0).step]
    steps.append(state.sign(SignPledge(actor=REPS["BTP"], member="BTP"), T0).step)
    assert steps == [1, 2, 3]
    start = state.start.model_copy(update={"carried": state.r})
    again = BlocYearStart.model_validate_json(start.model_dump_json())
    carried = BlocYearState.opening("ignored", again)
    assert carried.r == state.r and carried.status() == state.status()
    assert carried.sign(SignPledge(actor=REPS["KTNN"], member="KTNN"), T0).step == 4
