"""Payloads of approval without a decision, holds, objections and consultations."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from domain.messages import (
    HOLD_GROUNDS_VI,
    CentralApproval,
    ConsultationRequest,
    HoldGround,
    HoldRequest,
    ObjectionDecision,
    ObjectionFiling,
    ObjectionResolution,
)

CENTRAL = "tw.ban-tdkt.can-bo-1"
SECRETARY = "btp.hd.thu-ky"


# --- the central board's approval ----------------------------------------------------------------


def test_an_approval_may_carry_its_decision():
    approval = CentralApproval(actor=CENTRAL, decision_no=" 1234/QĐ-TTg ", decision_date=date(2026, 5, 20))
    assert (approval.decision_no, approval.decision_date) == ("1234/QĐ-TTg", date(2026, 5, 20))


def test_an_approval_may_wait_for_a_separate_decision():
    approval = CentralApproval(actor=CENTRAL)
    assert (approval.decision_no, approval.decision_date) == (None, None)


@pytest.mark.parametrize(
    "fields",
    [{"decision_no": "1234/QĐ-TTg"}, {"decision_date": "2026-05-20"}],
    ids=["number-only", "date-only"],
)
def test_a_decision_number_and_date_go_together(fields):
    with pytest.raises(ValidationError, match="decision_no and decision_date go together"):
        CentralApproval.model_validate({"actor": CENTRAL, **fields})


@pytest.mark.parametrize(
    "fields",
    [
        {"decision_no": "   ", "decision_date": "2026-05-20"},
        {"decision_no": "x" * 65, "decision_date": "2026-05-20"},
        {"decision_no": "1/QĐ", "decision_date": "2026-02-30"},
        {"actor": "Nguyen Van A"},
        {"note": "thừa"},
    ],
)
def test_a_malformed_approval_is_refused(fields):
    with pytest.raises(ValidationError):
        CentralApproval.model_validate({"actor": CENTRAL} | fields)


# --- holds ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("ground", list(HoldGround))
def test_a_hold_names_one_of_the_grounds_of_decree_152(ground):
    request = HoldRequest(actor=SECRETARY, ground=ground, reason="Công văn số 12/CV-TTr của Thanh tra Bộ")
    assert request.ground == ground
    assert HOLD_GROUNDS_VI[ground]


def test_every_hold_ground_has_a_vietnamese_label():
    assert set(HOLD_GROUNDS_VI) == set(HoldGround)


@pytest.mark.parametrize(
    "fields",
    [{"ground": "ILLNESS"}, {"reason": "ok"}, {"actor": ""}, {"since": "2026-05-20"}],
)
def test_a_malformed_hold_is_refused(fields):
    raw = {"actor": SECRETARY, "ground": "DISCIPLINE", "reason": "Đang xem xét kỷ luật"} | fields
    with pytest.raises(ValidationError):
        HoldRequest.model_validate(raw)


# --- objections ----------------------------------------------------------------------------------


def test_anyone_who_identifies_themselves_may_object():
    filing = ObjectionFiling(filed_by=" Trần Văn Bình ", contact="binh.tv@example.vn", reason="Thành tích kê khai sai")
    assert filing.filed_by == "Trần Văn Bình"


@pytest.mark.parametrize("missing", ["filed_by", "contact", "reason"])
def test_an_anonymous_or_unreasoned_objection_is_refused(missing):
    raw = {"filed_by": "Trần Văn Bình", "contact": "0912 345 678", "reason": "Thành tích kê khai sai"}
    with pytest.raises(ValidationError):
        ObjectionFiling.model_validate(raw | {missing: "  "})
    del raw[missing]
    with pytest.raises(ValidationError):
        ObjectionFiling.model_validate(raw)


@pytest.mark.parametrize("decision", list(ObjectionDecision))
def test_an_objection_is_dismissed_or_upheld_to_reject_or_return(decision):
    resolution = ObjectionResolution(actor=SECRETARY, objection_id=1, decision=decision, reason="Đã xác minh")
    assert resolution.decision == decision


@pytest.mark.parametrize("fields", [{"objection_id": 0}, {"decision": "UPHOLD"}, {"reason": ""}])
def test_a_malformed_resolution_is_refused(fields):
    raw = {"actor": SECRETARY, "objection_id": 1, "decision": "DISMISS", "reason": "Đã xác minh"} | fields
    with pytest.raises(ValidationError):
        ObjectionResolution.model_validate(raw)


# --- consultation --------------------------------------------------------------------------------


def test_a_consultation_names_the_agencies_consulted():
    request = ConsultationRequest(
        actor=CENTRAL, agencies=["Bộ Công an", "Ủy ban Kiểm tra Trung ương"], reason="Xác minh"
    )
    assert request.agencies == ["Bộ Công an", "Ủy ban Kiểm tra Trung ương"]


@pytest.mark.parametrize("agencies", [[], [f"Cơ quan {i}" for i in range(21)], [""]])
def test_a_consultation_with_no_agency_too_many_or_a_blank_one_is_refused(agencies):
    with pytest.raises(ValidationError):
        ConsultationRequest(actor=CENTRAL, agencies=agencies, reason="Xác minh")
