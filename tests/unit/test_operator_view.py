"""What operators see of a nomination (domain/operator_view.py): whose action it waits for, whether it is
overdue or held, the current details in Vietnamese and a summary without personal data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.ballot_messages import SessionPhase, SessionRow
from domain.ballots import BallotSessionKind
from domain.catalog import Authority, policy_set
from domain.messages import HOLD_GROUNDS_VI, HoldGround, HoldView, NominationStart
from domain.nomination import Nomination
from domain.operator_view import (
    AWAITED_STEP,
    OperatorView,
    awaited_role,
    current_details_vi,
    decision_details_vi,
    holder_role,
    is_overdue,
    local_time_vi,
    operator_view,
    session_details_vi,
    static_details_vi,
    stuck_marks,
    summary_vi,
)
from domain.procedure import STEPS, Deadlines, NominationState, Step, required_grants
from domain.roster import Role, Roster
from domain.stages import FINAL_STAGES, Stage
from domain.transitions import RouteState
from tests.factories import nomination_data

SEED = Roster.model_validate(
    json.loads((Path(__file__).resolve().parents[2] / "config" / "roster.json").read_text(encoding="utf-8"))
)
SNAPSHOT = SEED.snapshot_for("BTP")
SECRETARY, CENTRAL = "btp.hd.thu-ky", "tw.ban-tdkt.can-bo-1"
# 10:00 UTC is 17:00 in Hanoi.
DUE = datetime(2026, 3, 13, 10, 0, tzinfo=UTC)
HOLD = HoldView(
    ground=HoldGround.INSPECTION,
    ground_vi=HOLD_GROUNDS_VI[HoldGround.INSPECTION],
    since=datetime(2026, 3, 10, 2, 30, tzinfo=UTC),
    by=SECRETARY,
    reason="Thanh tra theo đơn của bà Nguyễn Thị Lan",  # free text naming someone: never shown
)


def route(stage: Stage, **rest: object) -> RouteState:
    return RouteState(stage=stage, route=(Stage.COUNCIL_REVIEW, Stage.CENTRAL_REVIEW), **rest)


def state_for(award_form: str = "BANG_KHEN_BO", **at: object) -> NominationState:
    start = NominationStart(nomination=Nomination.model_validate(nomination_data(award_form)), policy_version="2026.01")
    state = NominationState.starting(start)
    state.snapshot = SNAPSHOT
    if at:
        state.route = state.route.model_copy(update=at)
    return state


@pytest.mark.parametrize(
    ("stage", "decided_by", "role"),
    [
        (Stage.COUNCIL_REVIEW, "MINISTER", Role.COUNCIL_SECRETARY),
        (Stage.BLOC_VOTE, "PRIME_MINISTER", Role.BLOC_HEAD),
        (Stage.CENTRAL_REVIEW, "PRIME_MINISTER", Role.CENTRAL_OFFICER),
        (Stage.AWAITING_DECISION, "MINISTER", Role.COUNCIL_SECRETARY),
        (Stage.AWAITING_DECISION, "AGENCY_HEAD", Role.COUNCIL_SECRETARY),
        (Stage.AWAITING_DECISION, "PRIME_MINISTER", Role.CENTRAL_OFFICER),
        (Stage.AWAITING_DECISION, "PRESIDENT", Role.CENTRAL_OFFICER),
        (Stage.RETURNED, "MINISTER", Role.UNIT_STAFF),
        (Stage.PROPOSED, "MINISTER", None),
    ],
)
def test_each_stage_waits_for_the_role_the_procedure_lets_move_it(stage: Stage, decided_by: str, role: Role | None):
    assert awaited_role(route(stage), decided_by) == role


def test_the_public_notice_waits_for_the_secretariat_only_while_an_objection_is_open():
    assert awaited_role(route(Stage.PUBLIC_NOTICE), "MINISTER") is None  # the notice's end moves it
    assert awaited_role(route(Stage.PUBLIC_NOTICE, open_objections=1), "MINISTER") == Role.COUNCIL_SECRETARY


@pytest.mark.parametrize("stage", sorted(FINAL_STAGES))
def test_an_ended_nomination_waits_for_no_one(stage: Stage):
    assert awaited_role(route(stage), "MINISTER", holder=Role.CENTRAL_OFFICER) is None


def test_a_held_nomination_waits_for_whoever_may_release_it():
    held = route(Stage.CENTRAL_REVIEW, on_hold=True)
    assert awaited_role(held, "PRIME_MINISTER", holder=Role.COUNCIL_SECRETARY) == Role.COUNCIL_SECRETARY
    assert holder_role(SNAPSHOT, SECRETARY, Stage.CENTRAL_REVIEW) == Role.COUNCIL_SECRETARY
    assert holder_role(SNAPSHOT, CENTRAL, Stage.COUNCIL_REVIEW) == Role.CENTRAL_OFFICER
    # Someone the roster no longer knows: the first of those who may release it.
    assert holder_role(SNAPSHOT, "gone.actor", Stage.COUNCIL_REVIEW) == Role.COUNCIL_SECRETARY
    assert holder_role(None, SECRETARY, Stage.COUNCIL_REVIEW) is None


@pytest.mark.parametrize("stage", sorted(AWAITED_STEP))
@pytest.mark.parametrize("authority", sorted(Authority))
def test_the_awaited_role_is_one_the_roster_lets_take_the_step(stage: Stage, authority: Authority):
    """AwaitingRole never names someone the workflow would refuse: the role is among the step's grants (none
    when no one records that authority's decision in the engine)."""
    step = AWAITED_STEP[stage]
    action = STEPS[step].action
    assert action is not None and STEPS[step].update is not None  # a person's step
    role = awaited_role(route(stage, open_objections=1), authority.value)
    grants = required_grants(action, stage, SNAPSHOT, authority.value)
    assert role in {g.role for g in grants} if grants else role is None


@given(escalated=st.booleans(), stage=st.sampled_from(list(Stage)), on_hold=st.booleans())
def test_overdue_is_an_escalated_stage_not_yet_ended_held_or_not(escalated: bool, stage: Stage, on_hold: bool):
    overdue = is_overdue(route(stage, on_hold=on_hold), Deadlines(due_at=DUE, escalated=escalated))
    assert overdue == (escalated and not stage.is_final)


def test_the_view_follows_the_state_through_escalation_hold_and_a_new_stage():
    state = state_for("BANG_KHEN_TTG", stage=Stage.CENTRAL_REVIEW)
    state.enter(Stage.CENTRAL_REVIEW, datetime(2026, 3, 2, 2, 30, tzinfo=UTC))
    due = state.deadlines.due_at
    fresh = operator_view(state)
    assert fresh == OperatorView(Stage.CENTRAL_REVIEW, due, on_hold=False, overdue=False, awaiting=Role.CENTRAL_OFFICER)
    state.reach(Step.ESCALATED)
    assert operator_view(state).overdue
    state.hold = HOLD
    state.route = state.route.model_copy(update={"on_hold": True})
    held = operator_view(state)
    # Held: no due date (deadlines stop), still overdue, waiting for the secretariat that put it on hold.
    assert (held.on_hold, held.overdue, held.due_at, held.awaiting) == (True, True, None, Role.COUNCIL_SECRETARY)
    state.hold = None
    state.route = state.route.model_copy(update={"on_hold": False, "stage": Stage.AWAITING_DECISION})
    state.enter(Stage.AWAITING_DECISION, datetime(2026, 4, 1, 2, 0, tzinfo=UTC))
    moved = operator_view(state)
    assert (moved.overdue, moved.due_at, moved.awaiting) == (False, None, Role.CENTRAL_OFFICER)


def test_current_details_say_overdue_and_held_first_in_vietnams_time_without_the_holds_reason():
    view = OperatorView(Stage.COUNCIL_REVIEW, DUE, on_hold=False, overdue=True, awaiting=Role.COUNCIL_SECRETARY)
    text = current_details_vi(view, "Thư ký Hội đồng TĐKT ghi kết quả", overdue_since=DUE)
    lines = text.split("\n\n")
    assert lines[0].startswith("**QUÁ HẠN** từ 17:00 ngày 13/03/2026")
    assert "TẠM DỪNG" not in text
    assert "Hạn: 17:00 ngày 13/03/2026 (giờ Việt Nam)" in lines
    assert "COUNCIL_SECRETARY" in text and "thư ký Hội đồng TĐKT" in text

    held = OperatorView(Stage.COUNCIL_REVIEW, None, on_hold=True, overdue=False, awaiting=Role.COUNCIL_SECRETARY)
    text = current_details_vi(held, "Thư ký Hội đồng TĐKT ghi kết quả", hold=HOLD)
    assert text.startswith("**TẠM DỪNG** từ 09:30 ngày 10/03/2026 — người được đề nghị đang bị thanh tra, kiểm tra")
    assert "QUÁ HẠN" not in text and "Hạn:" not in text
    assert "Nguyễn Thị Lan" not in text and HOLD.reason not in text


def test_an_ended_nomination_says_its_stage_and_nothing_awaited():
    view = OperatorView(Stage.AWARDED, None, on_hold=False, overdue=False, awaiting=None)
    assert current_details_vi(view, "Không chờ gì") == f"**{Stage.AWARDED.label_vi}** ({Stage.AWARDED.status_vi})"


def test_times_are_vietnams():
    assert local_time_vi(datetime(2026, 12, 31, 18, 5, tzinfo=UTC)) == "01:05 ngày 01/01/2027"


def test_a_moment_at_the_calendars_end_is_shown_as_given_not_a_failure():
    # A chair may extend a session to 9999-12-31 23:59 UTC; in Vietnam's time that is in the year 10000.
    assert local_time_vi(datetime(9999, 12, 31, 23, 59, tzinfo=UTC)) == "23:59 ngày 31/12/9999 (UTC)"


def test_the_summary_and_details_hold_the_form_ministry_year_and_route_only():
    form = policy_set("2026.01").form("BANG_KHEN_TTG")
    assert summary_vi(form.name_vi, "BTP", 2026) == f"{form.name_vi} – BTP – năm 2026"
    details = static_details_vi(form.name_vi, form.code, "BTP", 2026, form.route, "Thủ tướng Chính phủ")
    assert form.code in details and "BTP" in details and "2026" in details
    assert " → ".join(stage.label_vi for stage in form.route) in details
    assert len(summary_vi(form.name_vi, "BTP", 2026).encode()) <= 400  # the UI's summary limit


@given(on_hold=st.booleans(), overdue=st.booleans(), due=st.one_of(st.none(), st.sampled_from([DUE])))
def test_a_nomination_is_stuck_when_held_overdue_or_late_and_late_only_when_neither(
    on_hold: bool, overdue: bool, due: datetime | None
):
    after = DUE.replace(hour=11)
    marks = stuck_marks(on_hold, overdue, due, after)
    assert ("QUÁ HẠN" in marks) == overdue and ("TẠM DỪNG" in marks) == on_hold
    assert ("TRỄ HẠN" in marks) == (due is not None and not on_hold and not overdue)
    assert stuck_marks(False, False, DUE, DUE.replace(hour=9)) == ()  # not due yet


def session_row(phase: SessionPhase) -> SessionRow:
    return SessionRow(
        session_id="ballot-council-BTP-HD-01",
        kind=BallotSessionKind.COUNCIL,
        scope="BTP",
        meeting_ref="HD-01",
        phase=phase,
        opened_by=SECRETARY,
        deadline=DUE,
        policy_version="2026.01",
        candidates=3,
        electorate_size=5,
        voted=2,
    )


@pytest.mark.parametrize("phase", list(SessionPhase))
def test_a_sessions_details_give_its_phase_and_counts_only(phase: SessionPhase):
    text = session_details_vi(session_row(phase))
    assert "Danh sách: 3 hồ sơ · đã bỏ phiếu: 2/5" in text
    assert text.startswith("**QUÁ HẠN**") == (phase == SessionPhase.AWAITING_CHAIR)
    has_deadline = phase in (SessionPhase.COLLECTING, SessionPhase.VOTING, SessionPhase.AWAITING_CHAIR)
    assert ("Hạn bỏ phiếu: 17:00 ngày 13/03/2026 (giờ Việt Nam)" in text) == has_deadline
    assert SECRETARY not in text


def test_a_decisions_details_count_the_answers():
    assert decision_details_vi("12/QĐ-BTP", 3, 1, 1) == (
        "**Quyết định 12/QĐ-BTP** — Đang áp dụng: 1/3 hồ sơ đã trả lời (1 nhận, 0 không nhận)"
    )
    assert decision_details_vi("12/QĐ-BTP", 3, 3, 2).endswith("Đã áp dụng cho cả 3 hồ sơ (2 nhận, 1 không nhận)")
