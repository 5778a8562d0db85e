"""The procedure as data (domain/procedure.py): the table of steps, who may take them, and the rules the
nomination workflow applies around them — deadlines, holds, resubmissions, decisions — without a workflow."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from temporalio import workflow

from domain.calendar import VIETNAM_TZ
from domain.catalog import Authority, policy_set
from domain.decisions import DecisionRef, NominationStanding, unanswered_item
from domain.messages import HoldGround, HoldView, NominationStart, Objection, ObjectionDecision, ObjectionResolution
from domain.nomination import Nomination
from domain.procedure import (
    FIXED_ON_RESUBMISSION,
    OBJECTION_VERDICTS_VI,
    STEPS,
    Action,
    Deadlines,
    Move,
    NominationState,
    Step,
    deadline_move,
    deadlines_on_entry,
    next_deadline,
    objection_event,
    reached,
    resubmission_error,
    resumed_after_hold,
    rule_of,
    vote_policy,
)
from domain.roster import Roster
from domain.stages import Stage
from domain.transitions import (
    Approved,
    DecisionRecorded,
    Noted,
    ObjectionDismissed,
    ObjectionUpheld,
    RouteState,
    VoteRecorded,
    transition,
)
from domain.voting import Tally, evaluate
from tests.factories import nomination_data
from workflows.nomination import NominationWorkflow

SEED = Roster.model_validate(
    json.loads((Path(__file__).resolve().parents[2] / "config" / "roster.json").read_text(encoding="utf-8"))
)
SNAPSHOT = SEED.snapshot_for("BTP")
PROPOSER, SECRETARY, CENTRAL = "btp.vutckt.le-thi-hoa", "btp.hd.thu-ky", "tw.ban-tdkt.can-bo-1"
OLD, NEW = policy_set("2025.07"), policy_set("2026.01")  # NEW enforces a returned dossier's deadline
# A Monday with a working week ahead (no holiday in 2026-03-02..13).
MONDAY = datetime(2026, 3, 2, 9, 30, tzinfo=VIETNAM_TZ)


def state_for(award_form: str = "BANG_KHEN_BO", version: str = "2025.07", **at: object) -> NominationState:
    start = NominationStart(nomination=Nomination.model_validate(nomination_data(award_form)), policy_version=version)
    state = NominationState.starting(start)
    state.snapshot = SNAPSHOT
    if at:
        state.route = state.route.model_copy(update=at)
    return state


def end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=VIETNAM_TZ)


# ---- the table ----------------------------------------------------------------------------------------


def workflow_updates() -> set[str]:
    """The update names NominationWorkflow handles, as the SDK registers them."""
    return {name for name in workflow._Definition.must_from_class(NominationWorkflow).updates if name}


def test_every_update_of_the_workflow_is_a_step_of_the_table_and_back():
    assert {rule.update for rule in STEPS.values() if rule.update} == workflow_updates()


def test_a_persons_step_names_what_it_needs_and_the_engines_own_steps_name_no_one():
    engine_steps = {Step.NOTICE_ELAPSED, Step.RETURN_REMINDER, Step.LAPSED, Step.ESCALATED, Step.BALLOT_RESULT}
    for step, rule in STEPS.items():
        if step in engine_steps:
            assert (rule.update, rule.action, dict(rule.who)) == (None, None, {}), step
        elif step not in (Step.SUBMIT, Step.OBJECTION_FILED):  # the start, and anyone's objection
            assert rule.update and rule.action and rule.who, step


def test_every_authorised_action_has_a_row():
    assert {rule.action for rule in STEPS.values() if rule.action} == set(Action)
    assert rule_of(Action.PROPOSE) is STEPS[Step.SUBMIT]


def test_the_audit_names_staff_and_the_chain_know():
    assert {rule.audit for rule in STEPS.values()} == {
        "SUBMIT",
        "NOTICE_ELAPSED",
        "OBJECTION_FILED",
        "OBJECTION_RESOLVED",
        "RECORD_COUNCIL_RESULT",
        "RECORD_BLOC_RESULT",
        "BALLOT_RESULT",
        "CONSULTATION",
        "APPROVE",
        "REJECT",
        "RETURN",
        "RETURN_REMINDER",
        "RESUBMIT",
        "LAPSED",
        "ESCALATED",
        "HOLD",
        "RELEASE",
        "WITHDRAW",
        "DECISION",
    }
    assert STEPS[Step.APPROVE].audit == STEPS[Step.APPROVE_WITH_DECISION].audit == "APPROVE"


@pytest.mark.parametrize(
    ("move", "narration"),
    [
        (Move(Step.SUBMIT), "Đơn vị nộp hồ sơ đề nghị"),
        (Move(Step.RETURN, reason="Thiếu biên bản"), "Trả lại hồ sơ để bổ sung: Thiếu biên bản"),
        (Move(Step.REJECT, reason="Chưa đủ điều kiện"), "Không trình khen thưởng: Chưa đủ điều kiện"),
        (Move(Step.WITHDRAW, reason="Đơn vị rút"), "Đơn vị rút đề nghị: Đơn vị rút"),
        (
            Move(Step.APPROVE, facts={"authority_vi": "Thủ tướng Chính phủ"}),
            "Ban TĐKT Trung ương thẩm định đạt, trình Thủ tướng Chính phủ quyết định khen thưởng",
        ),
        (
            Move(
                Step.DECISION,
                facts={"authority_vi": "Bộ trưởng", "decision_no": "12/QĐ-BTP", "decision_date": "2026-12-20"},
            ),
            "Bộ trưởng quyết định khen thưởng: quyết định số 12/QĐ-BTP ngày 2026-12-20",
        ),
        (
            Move(Step.OBJECTION_RESOLVED, reason="Đã xác minh", facts={"objection_id": 2, "verdict_vi": "x"}),
            "Ý kiến phản ánh số 2: x (Đã xác minh)",
        ),
    ],
)
def test_a_step_is_narrated_from_its_template(move, narration):
    assert move.narration_vi() == narration


def test_every_template_is_filled_by_the_facts_the_workflow_gives():
    facts = {
        "reason": "r",
        "notice_ends_at": "t",
        "objection_id": 1,
        "verdict_vi": "v",
        "outcome_vi": "o",
        "session_id": "s",
        "round": 1,
        "agencies": "a",
        "due_at": "d",
        "authority_vi": "q",
        "decision_no": "n",
        "decision_date": "dd",
        "return_due_at": "rd",
        "stage_vi": "sv",
        "ground_vi": "g",
        "held_days": 3,
    }
    for step, rule in STEPS.items():
        narration = rule.narration_vi.format(**facts)
        assert "{" not in narration and narration, step


def test_objections_resolve_into_their_events_and_verdicts():
    assert objection_event(ObjectionDecision.DISMISS) == ObjectionDismissed()
    assert objection_event(ObjectionDecision.UPHOLD_REJECT) == ObjectionUpheld(outcome="REJECT")
    assert objection_event(ObjectionDecision.UPHOLD_RETURN) == ObjectionUpheld(outcome="RETURN")
    assert set(OBJECTION_VERDICTS_VI) == set(ObjectionDecision)


def test_a_move_takes_the_steps_own_event_unless_given_one():
    assert Move(Step.CONSULTATION).the_event() == Noted(at_stage=Stage.CENTRAL_REVIEW)
    assert Move(Step.APPROVE).the_event() == Approved(decided=False)
    assert Move(Step.APPROVE_WITH_DECISION).the_event() == Approved()
    with pytest.raises(AssertionError):
        Move(Step.COUNCIL_RESULT).the_event()  # a vote's event carries its outcome


# ---- who may take a step ------------------------------------------------------------------------------


def test_a_step_is_refused_while_the_nomination_registers():
    state = state_for()
    state.snapshot = None
    assert "still being registered" in (state.refusal(Step.WITHDRAW, PROPOSER) or "")


def test_a_step_is_refused_in_the_wrong_stage_then_for_the_wrong_actor():
    state = state_for(stage=Stage.COUNCIL_REVIEW)
    assert "CENTRAL_REVIEW" in (state.refusal(Step.REJECT, CENTRAL) or "")
    assert "may not RETURN" in (state.refusal(Step.RETURN, CENTRAL) or "")
    assert state.refusal(Step.RETURN, SECRETARY) is None


def test_a_proposer_may_withdraw_and_resubmit_but_not_decide_on_their_own_nomination():
    state = state_for(stage=Stage.COUNCIL_REVIEW)
    assert state.refusal(Step.WITHDRAW, PROPOSER) is None
    returned = state_for(stage=Stage.RETURNED, returned_from=Stage.COUNCIL_REVIEW)
    assert returned.refusal(Step.RESUBMIT, PROPOSER) is None
    state.nomination = state.nomination.model_copy(update={"proposer": SECRETARY})
    assert (
        state.refusal(Step.RETURN, SECRETARY)
        == f"actor {SECRETARY!r} proposed this nomination and may not decide on it"
    )


def test_a_vote_is_judged_by_its_event():
    state = state_for(stage=Stage.COUNCIL_REVIEW)
    policy = state.vote_policy(Stage.COUNCIL_REVIEW)
    assert policy.code == "COUNCIL_MAJORITY"
    with pytest.raises(ValueError, match="BANG_KHEN_BO has no BLOC_VOTE on its route"):
        state.vote_policy(Stage.BLOC_VOTE)
    assert vote_policy(OLD, OLD.form("CO_THI_DUA_CP"), Stage.BLOC_VOTE).code == "BLOC_MAJORITY"


def test_holds_are_refused_twice_and_releases_without_one():
    state = state_for(stage=Stage.COUNCIL_REVIEW)
    assert state.release_refusal(SECRETARY) == "the nomination is not on hold"
    assert state.hold_refusal(SECRETARY) is None
    state.hold = HoldView(ground=HoldGround.COMPLAINT, ground_vi="x", since=MONDAY, by=SECRETARY, reason="Đơn thư")
    assert "already on hold since 2026-03-02" in (state.hold_refusal(CENTRAL) or "")
    state.route = state.route.model_copy(update={"on_hold": True})
    assert state.release_refusal(CENTRAL) is None


def test_objections_are_filed_during_the_notice_and_resolved_once():
    state = state_for("CSTD_TOAN_QUOC", stage=Stage.PUBLIC_NOTICE, open_objections=1)
    state.deadlines = Deadlines(entered_at=MONDAY, notice_ends_at=MONDAY + timedelta(days=3))
    assert state.filing_refusal(MONDAY) is None
    assert "ended at" in (state.filing_refusal(MONDAY + timedelta(days=3)) or "")
    state.objections = [Objection(id=1, filed_by="Trần Văn Nam", filed_at=MONDAY, reason="Chưa đúng")]
    resolution = ObjectionResolution(actor=SECRETARY, objection_id=1, decision=ObjectionDecision.DISMISS, reason="abc")
    assert state.resolution_refusal(resolution) is None
    assert "2 is not an open objection (open: [1])" in (
        state.resolution_refusal(resolution.model_copy(update={"objection_id": 2})) or ""
    )
    council = state_for(stage=Stage.COUNCIL_REVIEW)
    assert "only during the public notice" in (council.filing_refusal(MONDAY) or "")


# ---- decisions ----------------------------------------------------------------------------------------


def decision(authority: Authority = Authority.MINISTER, number: str = "12/QĐ-BTP") -> DecisionRef:
    return DecisionRef(decision_no=number, decision_date=date(2026, 12, 20), authority=authority, actor=SECRETARY)


def test_a_decision_needs_the_forms_authority_and_the_nomination_waiting_for_it():
    state = state_for(stage=Stage.AWAITING_DECISION)
    assert state.decision_refusal(decision()) is None
    assert "decided by MINISTER, not PRIME_MINISTER" in (
        state.decision_refusal(decision(Authority.PRIME_MINISTER)) or ""
    )
    council = state_for(stage=Stage.COUNCIL_REVIEW)
    assert "not yet approved" in (council.decision_refusal(decision()) or "")


def test_a_nomination_is_on_one_decision():
    state = state_for(stage=Stage.AWARDED)
    state.decision_no = "12/QĐ-BTP"
    assert state.awarded_by(decision())
    assert not state.awarded_by(decision(number="13/QĐ-BTP"))
    assert "already decided (decision 12/QĐ-BTP)" in (state.decision_refusal(decision(number="13/QĐ-BTP")) or "")


def standing(stage: Stage, decision_no: str | None = None) -> NominationStanding:
    return NominationStanding(
        workflow_id="nomination-2026-BTP-1",
        stage=stage,
        decision_no=decision_no,
        nominee_name="Nguyễn Thị Ánh Tuyết",
        award_form="BANG_KHEN_BO",
        ministry="BTP",
        policy_version="2025.07",
    )


def test_the_register_answers_for_a_nomination_no_workflow_runs():
    wf = "nomination-2026-BTP-1"
    assert unanswered_item(wf, None, decision()).reason == f"no nomination with workflow id {wf}"
    accepted = unanswered_item(wf, standing(Stage.AWARDED, "12/QĐ-BTP"), decision())
    assert accepted.accepted and accepted.award_name_vi == "Bằng khen cấp bộ" and accepted.ministry == "BTP"
    other = unanswered_item(wf, standing(Stage.AWARDED, "9/QĐ-BTP"), decision())
    assert not other.accepted and "already decided (decision 9/QĐ-BTP)" in (other.reason or "")
    withdrawn = unanswered_item(wf, standing(Stage.WITHDRAWN), decision())
    assert withdrawn.reason == f"{wf} has ended (WITHDRAWN: {Stage.WITHDRAWN.label_vi}); no action is possible"
    stopped = unanswered_item(wf, standing(Stage.AWAITING_DECISION), decision())
    assert not stopped.accepted and "without reaching a final stage" in (stopped.reason or "")


# ---- resubmissions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FIXED_ON_RESUBMISSION)
def test_a_resubmission_cannot_change_what_identifies_the_nomination(name):
    original = Nomination.model_validate(nomination_data())
    changed = {"reference": "999/TTr-BTP", "year": original.year - 1, "ministry": "KTNN", "award_form": "CSTD_CAP_BO"}
    corrected = original.model_copy(update={name: changed[name]})
    assert resubmission_error(original, corrected, OLD) == f"nomination.{name}: a resubmission cannot change {name}"


def test_a_resubmission_corrects_the_dossier_not_the_nominee():
    original = Nomination.model_validate(nomination_data())
    longer = original.model_copy(update={"achievements": original.achievements + " Bổ sung."})
    assert resubmission_error(original, longer, OLD) is None
    nominee = original.nominee.model_copy(update={"full_name": "Lê Văn Khang"})
    assert "cannot change who is nominated" in (
        resubmission_error(original, original.model_copy(update={"nominee": nominee}), OLD) or ""
    )
    clear = original.nominee.model_copy(update={"personal_id": "001085012345"})
    assert "must not reach the engine in clear" in (
        resubmission_error(original, original.model_copy(update={"nominee": clear}), OLD) or ""
    )
    assert "nomination.dossier: missing required documents" in (
        resubmission_error(original, original.model_copy(update={"dossier": original.dossier[:1]}), OLD) or ""
    )


# ---- deadlines ----------------------------------------------------------------------------------------


def test_each_stage_entered_sets_its_own_deadlines():
    calendar = OLD.calendar.working_calendar()
    notice = deadlines_on_entry(Stage.PUBLIC_NOTICE, MONDAY, OLD, calendar)
    assert notice.notice_ends_at == end_of(
        calendar.add_working_days(MONDAY.date(), OLD.time.public_notice_working_days)
    )
    assert notice.details() == {
        "notice_starts_at": MONDAY.isoformat(),
        "notice_ends_at": notice.notice_ends_at.isoformat(),
    }
    demo = deadlines_on_entry(Stage.PUBLIC_NOTICE, MONDAY, OLD, calendar, notice_seconds=30)
    assert demo.notice_ends_at == MONDAY + timedelta(seconds=30)
    central = deadlines_on_entry(Stage.CENTRAL_REVIEW, MONDAY, OLD, calendar)
    assert central.due_at == end_of(date(2026, 3, 16))  # 10 working days after Monday 2 March
    assert central.details() == {"due_at": central.due_at.isoformat()}
    assert deadlines_on_entry(Stage.RETURNED, MONDAY, OLD, calendar) == Deadlines(entered_at=MONDAY)
    returned = deadlines_on_entry(Stage.RETURNED, MONDAY, NEW, calendar)
    assert returned.return_due_at == end_of(date(2026, 3, 16))
    assert deadlines_on_entry(Stage.COUNCIL_REVIEW, MONDAY, OLD, calendar).details() == {}


def test_a_consultation_extends_the_appraisal_from_the_stages_start():
    state = state_for("BANG_KHEN_TTG", stage=Stage.CENTRAL_REVIEW)
    state.enter(Stage.CENTRAL_REVIEW, MONDAY)
    state.deadlines = dataclasses.replace(state.deadlines, escalated=True)
    due = state.consultation_due()
    assert due == end_of(date(2026, 3, 30))  # 20 working days after Monday 2 March
    state.extend_appraisal(due)
    assert (state.deadlines.due_at, state.deadlines.escalated) == (due, False)


def test_the_notice_elapses_only_without_open_objections_and_nothing_is_due_on_hold():
    calendar = OLD.calendar.working_calendar()
    deadlines = deadlines_on_entry(Stage.PUBLIC_NOTICE, MONDAY, OLD, calendar)
    route = RouteState(stage=Stage.PUBLIC_NOTICE, route=(Stage.PUBLIC_NOTICE,))
    assert next_deadline(route, deadlines, OLD, calendar) == (deadlines.notice_ends_at, Step.NOTICE_ELAPSED)
    assert next_deadline(route.model_copy(update={"open_objections": 1}), deadlines, OLD, calendar) is None
    held = route.model_copy(update={"on_hold": True})
    assert next_deadline(held, deadlines, OLD, calendar) is None
    state = state_for("CSTD_TOAN_QUOC", stage=Stage.PUBLIC_NOTICE, on_hold=True)
    state.deadlines = deadlines
    assert state.current_due() is None


def test_a_returned_dossier_is_reminded_once_then_lapses():
    calendar = NEW.calendar.working_calendar()
    deadlines = deadlines_on_entry(Stage.RETURNED, MONDAY, NEW, calendar)
    assert deadlines.return_due_at is not None
    route = RouteState(stage=Stage.RETURNED, route=(Stage.COUNCIL_REVIEW,), returned_from=Stage.COUNCIL_REVIEW)
    moment, step = next_deadline(route, deadlines, NEW, calendar) or (None, None)
    assert step == Step.RETURN_REMINDER
    assert moment == datetime(2026, 3, 12, 8, 0, tzinfo=VIETNAM_TZ)  # 2 working days before the last day
    move = deadline_move(step, Stage.RETURNED, deadlines)
    assert move.details == {"return_due_at": deadlines.return_due_at.isoformat()}
    reminded = reached(step, deadlines)
    assert next_deadline(route, reminded, NEW, calendar) == (deadlines.return_due_at, Step.LAPSED)
    assert deadline_move(Step.LAPSED, Stage.RETURNED, reminded).narration_vi().startswith("Quá hạn bổ sung hồ sơ")


def test_an_overdue_stage_escalates_once_to_its_head():
    state = state_for("BANG_KHEN_TTG", stage=Stage.CENTRAL_REVIEW)
    state.enter(Stage.CENTRAL_REVIEW, MONDAY)
    due = state.deadlines.due_at
    assert due is not None and state.next_deadline() == (due, Step.ESCALATED)
    assert state.escalation_target(Step.ESCALATED) == Stage.CENTRAL_REVIEW
    move = state.reach(Step.ESCALATED)
    assert move.facts == {"stage_vi": Stage.CENTRAL_REVIEW.label_vi, "due_at": due.isoformat()}
    assert state.next_deadline() is None  # escalated once
    lapsed = state_for(stage=Stage.RETURNED, returned_from=Stage.COUNCIL_REVIEW)
    assert lapsed.escalation_target(Step.LAPSED) == Stage.COUNCIL_REVIEW
    assert lapsed.escalation_target(Step.RETURN) is None


def test_a_ballot_sessions_deadline_is_the_stages_until_the_session_is_cancelled():
    state = state_for(stage=Stage.COUNCIL_REVIEW)
    state.enter(Stage.COUNCIL_REVIEW, MONDAY)
    deadline = MONDAY + timedelta(days=2)
    state.schedule("ballot-council-BTP-hop-1", deadline)
    assert state.current_due() == deadline and state.next_deadline() == (deadline, Step.ESCALATED)
    assert not state.unschedule("ballot-council-BTP-hop-2")
    assert state.unschedule("ballot-council-BTP-hop-1")
    assert state.current_due() is None and state.deadlines.due_session is None
    state.schedule("ballot-council-BTP-hop-3", deadline)
    state.enter(Stage.AWAITING_DECISION, MONDAY + timedelta(days=1))
    assert state.deadlines.due_session is None  # a new stage starts without the session's deadline


def test_a_hold_gives_each_deadline_back_the_working_days_it_took():
    calendar = OLD.calendar.working_calendar()
    deadlines = Deadlines(
        entered_at=MONDAY,
        notice_ends_at=end_of(date(2026, 3, 13)),
        due_at=end_of(date(2026, 3, 16)),
        return_due_at=end_of(date(2026, 3, 17)),
    )
    since, until = MONDAY + timedelta(days=1), MONDAY + timedelta(days=8)  # Tuesday to the next Tuesday
    held = calendar.working_days_held(since, until)
    assert held == 5
    resumed = resumed_after_hold(deadlines, since, until, calendar, notice_in_seconds=False)
    assert resumed.notice_ends_at == end_of(date(2026, 3, 20))
    assert resumed.due_at == end_of(date(2026, 3, 23))
    assert resumed.return_due_at == end_of(date(2026, 3, 24))
    demo = resumed_after_hold(deadlines, since, until, calendar, notice_in_seconds=True)
    assert demo.notice_ends_at == end_of(date(2026, 3, 13)) + (until - since)
    assert resumed_after_hold(Deadlines(), since, until, calendar, notice_in_seconds=False) == Deadlines()


def test_deadline_moves_name_their_moment():
    deadlines = Deadlines(notice_ends_at=datetime(2026, 3, 16, tzinfo=UTC))
    move = deadline_move(Step.NOTICE_ELAPSED, Stage.PUBLIC_NOTICE, deadlines)
    assert move.narration_vi() == "Hết thời hạn công khai (đến 2026-03-16T00:00:00+00:00)"
    with pytest.raises(ValueError):
        deadline_move(Step.RETURN, Stage.PUBLIC_NOTICE, deadlines)


def test_votes_and_decisions_move_the_state_as_the_table_says():
    state = state_for(stage=Stage.COUNCIL_REVIEW)
    tally = Tally(members=9, present=9, votes_for=9, votes_against=0)
    event = VoteRecorded(
        at_stage=Stage.COUNCIL_REVIEW, outcome=evaluate(tally, state.vote_policy(Stage.COUNCIL_REVIEW))
    )
    assert state.refusal(Step.COUNCIL_RESULT, SECRETARY, event) is None
    after = transition(state.route, event)
    assert isinstance(after, RouteState) and after.stage == Stage.AWAITING_DECISION
    assert transition(after, DecisionRecorded()) == after.model_copy(update={"stage": Stage.AWARDED})
