"""Who is told of a transition, and what they read."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from domain.notices import draft_notifications, head_of_body, parties_to_notify, waiting_for_vi
from domain.roster import Roster, RosterSnapshot
from domain.stages import FINAL_STAGES, Stage

SEED = json.loads((Path(__file__).resolve().parents[2] / "config" / "roster.json").read_text(encoding="utf-8"))
ROSTER = Roster.model_validate(SEED)
BTP = ROSTER.snapshot_for("BTP")
PROPOSER = "btp.vutckt.le-thi-hoa"
PROPOSER_EMAIL = "hoa.lt@btp.example.vn"

UNIT_PARTY = ("UNIT:BTP:btp.vutckt.le-thi-hoa", (PROPOSER_EMAIL,))
BODY_PARTY = {
    # The published list goes to the secretariat, which receives the objections.
    Stage.PUBLIC_NOTICE: ("SECRETARIAT:BTP", ("tam.tm@btp.example.vn",)),
    Stage.COUNCIL_REVIEW: ("COUNCIL:BTP", ("tam.tm@btp.example.vn",)),
    Stage.BLOC_VOTE: ("BLOC:NOI_CHINH", ("khai.dv@tandtc.example.vn",)),
    Stage.CENTRAL_REVIEW: ("CENTRAL:TW", ("nghia.ph@tdkt.example.vn", "ngoc.tt@tdkt.example.vn")),
}
# Told when the stage is overdue: the council's chair, the bloc head, the central board's head.
HEAD_PARTY = {
    Stage.COUNCIL_REVIEW: ("COUNCIL_CHAIR:BTP", ("vinh.dq@btp.example.vn",)),
    Stage.BLOC_VOTE: ("BLOC_HEAD:NOI_CHINH", ("khai.dv@tandtc.example.vn",)),
    Stage.CENTRAL_REVIEW: ("CENTRAL_HEAD:TW", ("hai.lq@tdkt.example.vn",)),
}
VIETNAMESE_MARKS = set("ăâđêôơưàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ")


def _without_bloc() -> RosterSnapshot:
    raw = copy.deepcopy(SEED)
    raw["ministries"].append({"code": "BNG", "name": "Bộ Ngoại giao"})
    raw["actors"] += [
        {
            "id": "bng.vu.can-bo",
            "full_name": "Hà Thị Nhung",
            "email": "nhung.ht@bng.example.vn",
            "organisation": "BNG",
            "roles": [{"role": "UNIT_STAFF", "scope": "BNG"}],
        },
        {
            "id": "bng.hd.thu-ky",
            "full_name": "Tôn Thất Lộc",
            "organisation": "BNG",
            "roles": [{"role": "COUNCIL_SECRETARY", "scope": "BNG"}],
        },
    ]
    return Roster.model_validate(raw).snapshot_for("BNG")


def _drafts(
    from_stage: Stage | None,
    to_stage: Stage,
    snapshot: RosterSnapshot = BTP,
    proposer: str = PROPOSER,
    escalate_to: Stage | None = None,
):
    return draft_notifications(
        workflow_id="nomination-2026-BTP-125-TTr-BTP",
        nominee_name="Nguyễn Thị Ánh Tuyết",
        award_name_vi="Chiến sĩ thi đua cấp bộ",
        from_stage=from_stage,
        to_stage=to_stage,
        outcome_vi="Đạt: 9/10 phiếu đồng ý",
        proposer=proposer,
        snapshot=snapshot,
        escalate_to=escalate_to,
    )


# --- parties -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", list(Stage))
@pytest.mark.parametrize("changed", [True, False])
def test_the_proposing_unit_is_always_notified_first(stage, changed):
    parties = parties_to_notify(stage, changed, PROPOSER, BTP)
    assert parties[0] == UNIT_PARTY


@pytest.mark.parametrize("stage", list(BODY_PARTY))
def test_reaching_a_body_notifies_it_with_its_members_emails(stage):
    parties = parties_to_notify(stage, True, PROPOSER, BTP)
    assert parties == [UNIT_PARTY, BODY_PARTY[stage]]


@pytest.mark.parametrize("stage", [s for s in Stage if s not in BODY_PARTY])
def test_other_stages_notify_only_the_unit(stage):
    assert parties_to_notify(stage, True, PROPOSER, BTP) == [UNIT_PARTY]


@pytest.mark.parametrize("stage", list(Stage))
def test_no_body_is_notified_when_the_stage_did_not_change(stage):
    assert parties_to_notify(stage, False, PROPOSER, BTP) == [UNIT_PARTY]


def test_without_a_bloc_nobody_is_notified_of_a_bloc_vote():
    snapshot = _without_bloc()
    assert parties_to_notify(Stage.BLOC_VOTE, True, "bng.vu.can-bo", snapshot) == [
        ("UNIT:BNG:bng.vu.can-bo", ("nhung.ht@bng.example.vn",))
    ]


def test_a_body_member_without_an_email_is_still_a_party_with_no_recipients():
    snapshot = _without_bloc()
    parties = parties_to_notify(Stage.COUNCIL_REVIEW, True, "bng.vu.can-bo", snapshot)
    assert parties[1] == ("COUNCIL:BNG", ())


def test_an_unknown_proposer_gets_a_party_but_no_address():
    parties = parties_to_notify(Stage.RETURNED, True, "btp.da-nghi-huu", BTP)
    assert parties == [("UNIT:BTP:btp.da-nghi-huu", ())]


# --- drafts --------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", list(BODY_PARTY))
def test_drafts_reach_the_unit_and_the_body(stage):
    drafts = _drafts(Stage.PROPOSED, stage)
    assert [(d.party, d.recipients) for d in drafts] == [UNIT_PARTY, BODY_PARTY[stage]]


def test_an_unchanged_stage_drafts_only_the_units_message():
    drafts = _drafts(Stage.COUNCIL_REVIEW, Stage.COUNCIL_REVIEW)
    assert [d.party for d in drafts] == [UNIT_PARTY[0]]


def test_the_first_transition_has_no_previous_stage():
    drafts = _drafts(None, Stage.COUNCIL_REVIEW)
    assert len(drafts) == 2
    for draft in drafts:
        assert "Giai đoạn: — → Hội đồng Thi đua – Khen thưởng xét" in draft.body


@pytest.mark.parametrize("to_stage", list(Stage))
def test_texts_are_vietnamese_and_name_the_stage(to_stage):
    drafts = _drafts(Stage.PROPOSED, to_stage)
    assert drafts
    for draft in drafts:
        assert draft.subject == f"[TĐKT] Chiến sĩ thi đua cấp bộ – Nguyễn Thị Ánh Tuyết: {to_stage.label_vi}"
        assert to_stage.label_vi in draft.body
        assert Stage.PROPOSED.label_vi in draft.body
        assert f"(trạng thái: {to_stage.status_vi})" in draft.body
        assert "nomination-2026-BTP-125-TTr-BTP" in draft.body
        assert "Đạt: 9/10 phiếu đồng ý" in draft.body
        assert f"Việc tiếp theo: {waiting_for_vi(to_stage, BTP)}." in draft.body
        assert draft.body.startswith("Hồ sơ đề nghị Chiến sĩ thi đua cấp bộ cho Nguyễn Thị Ánh Tuyết")
        assert VIETNAMESE_MARKS & set(draft.body.lower())


# --- escalation of an overdue stage -------------------------------------------------------------


@pytest.mark.parametrize("stage", list(HEAD_PARTY))
def test_the_head_of_each_body_is_found_with_their_emails(stage):
    assert head_of_body(stage, BTP) == HEAD_PARTY[stage]


@pytest.mark.parametrize("stage", [s for s in Stage if s not in HEAD_PARTY])
def test_stages_without_a_body_have_no_head(stage):
    assert head_of_body(stage, BTP) is None


def test_without_a_bloc_there_is_no_bloc_head_but_the_council_chair_and_the_central_head_remain():
    snapshot = _without_bloc()
    assert head_of_body(Stage.BLOC_VOTE, snapshot) is None
    assert head_of_body(Stage.COUNCIL_REVIEW, snapshot) == ("COUNCIL_CHAIR:BNG", ())  # BNG names no chair
    assert head_of_body(Stage.CENTRAL_REVIEW, snapshot) == HEAD_PARTY[Stage.CENTRAL_REVIEW]


def test_another_ministrys_chair_is_not_the_head_of_this_council():
    ktnn = ROSTER.snapshot_for("KTNN")
    assert head_of_body(Stage.COUNCIL_REVIEW, ktnn) == ("COUNCIL_CHAIR:KTNN", ("dat.cm@ktnn.example.vn",))


def _subject(stage: Stage, overdue: bool = False) -> str:
    mark = "QUÁ HẠN – " if overdue else ""
    return f"[TĐKT] {mark}Chiến sĩ thi đua cấp bộ – Nguyễn Thị Ánh Tuyết: {stage.label_vi}"


@pytest.mark.parametrize("stage", list(HEAD_PARTY))
def test_an_overdue_stage_tells_the_unit_and_the_head_of_the_body_as_overdue(stage):
    drafts = _drafts(stage, stage, escalate_to=stage)
    assert [(d.party, d.recipients) for d in drafts] == [UNIT_PARTY, HEAD_PARTY[stage]]
    for draft in drafts:
        assert draft.subject == _subject(stage, overdue=True)
        assert f"Việc tiếp theo: {waiting_for_vi(stage, BTP)}." in draft.body
    # The same message as without escalation: the head is added and the subject marked, nothing else.
    (plain,) = _drafts(stage, stage)
    assert {d.body for d in drafts} == {plain.body}


@pytest.mark.parametrize("stage", list(HEAD_PARTY))
def test_a_lapsed_dossier_is_reported_to_the_head_of_the_body_that_returned_it(stage):
    drafts = _drafts(Stage.RETURNED, Stage.LAPSED, escalate_to=stage)
    assert [(d.party, d.recipients) for d in drafts] == [UNIT_PARTY, HEAD_PARTY[stage]]
    for draft in drafts:
        assert draft.subject == _subject(Stage.LAPSED, overdue=True)
        assert f"{Stage.RETURNED.label_vi} → {Stage.LAPSED.label_vi}" in draft.body
        assert "Việc tiếp theo: Không chờ gì: hồ sơ đã kết thúc." in draft.body


@pytest.mark.parametrize("stage", list(HEAD_PARTY))
def test_escalating_on_arrival_tells_the_body_and_its_head(stage):
    drafts = _drafts(Stage.PROPOSED, stage, escalate_to=stage)
    assert [(d.party, d.recipients) for d in drafts] == [UNIT_PARTY, BODY_PARTY[stage], HEAD_PARTY[stage]]
    assert all(d.subject == _subject(stage, overdue=True) for d in drafts)


@pytest.mark.parametrize("stage", list(HEAD_PARTY))
def test_without_escalation_no_head_is_told_and_nothing_is_overdue(stage):
    for drafts in (_drafts(stage, stage), _drafts(stage, stage, escalate_to=None)):
        assert [d.party for d in drafts] == [UNIT_PARTY[0]]
        assert all(d.subject == _subject(stage) for d in drafts)


@pytest.mark.parametrize("stage", [s for s in Stage if s not in HEAD_PARTY])
def test_escalating_to_a_stage_without_a_head_adds_no_one(stage):
    assert _drafts(stage, stage, escalate_to=stage) == _drafts(stage, stage)


def test_escalating_without_a_bloc_adds_no_bloc_head():
    snapshot = _without_bloc()
    drafts = _drafts(Stage.BLOC_VOTE, Stage.BLOC_VOTE, snapshot, "bng.vu.can-bo", escalate_to=Stage.BLOC_VOTE)
    assert [d.party for d in drafts] == ["UNIT:BNG:bng.vu.can-bo"]
    assert all("QUÁ HẠN" not in d.subject for d in drafts)


# --- what the nomination waits for ---------------------------------------------------------------


def test_waiting_for_names_the_ministry_and_the_bloc():
    assert "Bộ Tư pháp" in waiting_for_vi(Stage.COUNCIL_REVIEW, BTP)
    assert "Khối Thi đua các bộ, ngành nội chính Trung ương" in waiting_for_vi(Stage.BLOC_VOTE, BTP)
    assert "Ban TĐKT Trung ương" in waiting_for_vi(Stage.CENTRAL_REVIEW, BTP)


def test_awaiting_the_decision_waits_for_the_signing_authority():
    text = waiting_for_vi(Stage.AWAITING_DECISION, BTP)
    assert text == "Cấp có thẩm quyền ký quyết định khen thưởng"
    assert waiting_for_vi(Stage.AWAITING_DECISION, None) == text


@pytest.mark.parametrize("stage", sorted(FINAL_STAGES))
def test_a_final_stage_waits_for_nothing(stage):
    assert waiting_for_vi(stage, BTP) == "Không chờ gì: hồ sơ đã kết thúc"


@pytest.mark.parametrize("stage", [s for s in Stage if not s.is_final])
def test_every_open_stage_says_what_it_waits_for_even_without_a_snapshot(stage):
    text = waiting_for_vi(stage, None)
    assert text and text != "Không chờ gì: hồ sơ đã kết thúc"
    assert VIETNAMESE_MARKS & set(text.lower())
