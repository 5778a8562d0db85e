"""Who may take a bloc year's act by the roster, what a person's organisation must do now, who reads a bloc
year, and the bloc year's notices."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.access import bloc_in_bloc_year_id, may_read_bloc_year, read_scope
from domain.bloc import notices
from domain.bloc.ranking import StandingRow, Standings
from domain.bloc.rotation import BlocLeadership, FlagHandover
from domain.bloc.year import (
    BLOC_YEAR_RULES,
    PHASE_LABELS_VI,
    ActorKind,
    AssessmentReceipt,
    BlocYearAct,
    BlocYearPhase,
    BlocYearStatus,
    HonourTierOutcome,
    PledgeSignature,
    bloc_year_id,
)
from domain.bloc.year_actors import (
    VOTE,
    act_refusal,
    opener_refusal,
    outsider_refusal,
    represented_member,
    tasks_for,
)
from domain.roster import Actor, Bloc, Ministry, Role, RoleGrant, RosterSnapshot

BLOC = "NOI_CHINH"
LEADERSHIP = BlocLeadership(bloc=BLOC, year=2026, head="TTCP", deputy="BTP")
MEMBERS = ("BCA", "BTP", "KTNN", "TANDTC", "TTCP", "VKSNDTC")


def person(actor_id: str, organisation: str, *roles: Role, scope: str = BLOC) -> Actor:
    return Actor(
        id=actor_id,
        full_name=f"Nguyễn Văn {actor_id[:3].upper()}",
        email=f"{actor_id}@example.vn",
        organisation=organisation,
        roles=tuple(RoleGrant(role=r, scope=scope) for r in roles),
    )


HEAD = person("ttcp.khoi.truong", "TTCP", Role.BLOC_HEAD)
REP = {m: person(f"{m.lower()}.khoi.dai-dien", m, Role.BLOC_REPRESENTATIVE) for m in MEMBERS}
OUTSIDER = person("btp.vu.can-bo", "BTP", Role.UNIT_STAFF, scope="BTP")
CENTRAL = person("tw.can-bo", "TW", Role.CENTRAL_OFFICER, scope="TW")


def status(phase: BlocYearPhase, **fields: object) -> BlocYearStatus:
    return BlocYearStatus.model_validate(
        {
            "bloc_year_id": bloc_year_id(BLOC, 2026),
            "bloc": BLOC,
            "year": 2026,
            "phase": phase,
            "phase_label_vi": PHASE_LABELS_VI[phase],
            "leadership": LEADERSHIP,
            "members": MEMBERS,
        }
        | fields
    )


# ---- who may ---------------------------------------------------------------------------------------------


def test_the_head_s_acts_are_the_bloc_head_s_and_a_refusal_names_the_role():
    for act, rule in BLOC_YEAR_RULES.items():
        if rule.who != ActorKind.HEAD:
            continue
        assert act_refusal(act, HEAD, HEAD.id, BLOC, LEADERSHIP) is None
        refusal = act_refusal(act, REP["BCA"], REP["BCA"].id, BLOC, LEADERSHIP)
        assert refusal is not None and "BLOC_HEAD" in refusal and rule.label_vi in refusal


def test_a_representative_signs_and_submits_for_its_own_organisation_only():
    for act in (BlocYearAct.SIGN_PLEDGE, BlocYearAct.SUBMIT_ASSESSMENT):
        assert act_refusal(act, REP["BCA"], REP["BCA"].id, BLOC, LEADERSHIP, "BCA") is None
        other = act_refusal(act, REP["BCA"], REP["BCA"].id, BLOC, LEADERSHIP, "KTNN")
        assert other is not None and "(member)" in other and "KTNN" in other
        not_rep = act_refusal(act, OUTSIDER, OUTSIDER.id, BLOC, LEADERSHIP, "BTP")
        assert not_rep is not None and "BLOC_REPRESENTATIVE" in not_rep
        # A head who holds no representative's role does not sign for its organisation.
        assert act_refusal(act, HEAD, HEAD.id, BLOC, LEADERSHIP, "TTCP") is not None


def test_the_review_panel_is_the_head_and_the_head_s_and_deputy_s_representatives():
    act = BlocYearAct.ADJUST_SCORE
    assert act_refusal(act, HEAD, HEAD.id, BLOC, LEADERSHIP) is None
    assert act_refusal(act, REP["TTCP"], REP["TTCP"].id, BLOC, LEADERSHIP) is None
    assert act_refusal(act, REP["BTP"], REP["BTP"].id, BLOC, LEADERSHIP) is None
    refusal = act_refusal(act, REP["BCA"], REP["BCA"].id, BLOC, LEADERSHIP)
    assert refusal is not None and "TTCP" in refusal and "BTP" in refusal and "chấm chéo" in refusal


@given(act=st.sampled_from(list(BlocYearAct)), member=st.sampled_from(MEMBERS))
def test_nobody_off_the_roster_or_outside_the_bloc_takes_any_act(act: BlocYearAct, member: str):
    assert act_refusal(act, None, "ai.do", BLOC, LEADERSHIP, member) is not None
    assert act_refusal(act, OUTSIDER, OUTSIDER.id, BLOC, LEADERSHIP, member) is not None
    assert act_refusal(act, CENTRAL, CENTRAL.id, BLOC, LEADERSHIP, member) is not None
    # Another bloc's head is no head here.
    elsewhere = person("x.khoi.truong", "BCA", Role.BLOC_HEAD, scope="KINH_TE")
    assert act_refusal(act, elsewhere, elsewhere.id, BLOC, LEADERSHIP, member) is not None


@given(act=st.sampled_from(list(BlocYearAct)))
def test_someone_with_no_role_in_the_bloc_is_refused_before_the_year_is_read(act: BlocYearAct):
    for outsider in (None, OUTSIDER, CENTRAL):
        refusal = outsider_refusal(act, outsider, "ai.do", BLOC)
        assert refusal is not None and "BLOC_HEAD" in refusal and "BLOC_REPRESENTATIVE" in refusal
    assert outsider_refusal(act, HEAD, HEAD.id, BLOC) is None
    assert outsider_refusal(act, REP["BCA"], REP["BCA"].id, BLOC) is None
    assert outsider_refusal(act, REP["BCA"], REP["BCA"].id, "KINH_TE") is not None


def test_only_the_bloc_head_opens_the_year():
    assert opener_refusal(HEAD, HEAD.id, BLOC) is None
    refusal = opener_refusal(REP["BCA"], REP["BCA"].id, BLOC)
    assert refusal is not None and "BLOC_HEAD" in refusal
    assert opener_refusal(None, "ai.do", BLOC) is not None
    assert represented_member(REP["KTNN"], BLOC) == "KTNN" and represented_member(HEAD, BLOC) is None


# ---- what my organisation must do now ----------------------------------------------------------------------


def test_a_representative_is_asked_to_sign_until_its_organisation_has_signed():
    signed = PledgeSignature(member="BCA", actor=REP["BCA"].id, channel="CLI", signed_at=datetime.now(UTC))
    pledge = status(BlocYearPhase.PLEDGE, policy_version="NOI_CHINH-2024.01")
    [task] = tasks_for(pledge, REP["BCA"])
    assert task.kind == BlocYearAct.SIGN_PLEDGE and task.member == "BCA" and task.label_vi == "Ký giao ước thi đua"
    assert tasks_for(pledge.model_copy(update={"signatures": (signed,)}), REP["BCA"]) == []
    assert [t.kind for t in tasks_for(pledge, REP["KTNN"])] == [BlocYearAct.SIGN_PLEDGE]
    assert tasks_for(pledge, OUTSIDER) == []


def test_a_representative_is_asked_to_submit_by_the_deadline_then_not_again():
    deadline = datetime(2026, 12, 20, 10, tzinfo=UTC)
    open_window = status(BlocYearPhase.SELF_ASSESSMENT, assessment_deadline=deadline)
    [task] = tasks_for(open_window, REP["TTCP"])
    assert task.kind == BlocYearAct.SUBMIT_ASSESSMENT and task.due == deadline
    receipt = AssessmentReceipt(member="TTCP", actor=REP["TTCP"].id, submitted_at=deadline, content_sha256="0" * 64)
    assert tasks_for(open_window.model_copy(update={"assessments": (receipt,)}), REP["TTCP"]) == []


def test_a_representative_votes_in_an_open_honouring_session_once_and_the_head_opens_the_next_tier():
    tier = HonourTierOutcome(award_form="CO_THI_DUA_CP", seats=1, candidates=("BCA", "KTNN"), session_id="s-1")
    honouring = status(BlocYearPhase.HONOURING, tiers=(tier,))
    [vote] = tasks_for(honouring, REP["BCA"], voting_sessions={"s-1"})
    assert vote.kind == VOTE and vote.session_id == "s-1"
    assert tasks_for(honouring, REP["BCA"], voting_sessions={"s-1"}, voted={"s-1"}) == []
    assert tasks_for(honouring, HEAD, voting_sessions={"s-1"}) == []  # the vote is on
    assert [t.kind for t in tasks_for(honouring, HEAD)] == [BlocYearAct.OPEN_HONOURING]


@pytest.mark.parametrize(
    ("phase", "act"),
    [
        (BlocYearPhase.DRAFT, BlocYearAct.PUBLISH_PLEDGE),
        (BlocYearPhase.IN_YEAR, BlocYearAct.CALL_FOR_ASSESSMENTS),
        (BlocYearPhase.REVIEW, BlocYearAct.CLOSE_REVIEW),
        (BlocYearPhase.ELECTION, BlocYearAct.RECORD_ELECTION),
    ],
)
def test_the_head_is_shown_the_head_s_act_of_the_phase(phase: BlocYearPhase, act: BlocYearAct):
    assert [t.kind for t in tasks_for(status(phase), HEAD)] == [act]
    assert BLOC_YEAR_RULES[act].phase == phase


# ---- who reads a bloc year ---------------------------------------------------------------------------------


def test_a_bloc_year_is_read_by_its_bloc_s_people_and_the_central_board_only():
    ministries = [Ministry(code=m, name=m, bloc=BLOC) for m in MEMBERS]
    assert may_read_bloc_year(read_scope(HEAD.id, HEAD, ministries), BLOC)
    assert may_read_bloc_year(read_scope(REP["BCA"].id, REP["BCA"], ministries), BLOC)
    assert may_read_bloc_year(read_scope(CENTRAL.id, CENTRAL, ministries), BLOC)
    assert not may_read_bloc_year(read_scope(OUTSIDER.id, OUTSIDER, ministries), BLOC)
    assert not may_read_bloc_year(read_scope(REP["BCA"].id, REP["BCA"], ministries), "KINH_TE")
    assert not may_read_bloc_year(read_scope("ai.do", None, ministries), BLOC)
    assert bloc_in_bloc_year_id(bloc_year_id(BLOC, 2026)) == BLOC
    assert bloc_in_bloc_year_id("nomination-2026-BTP-1") is None


# ---- notices ----------------------------------------------------------------------------------------------

SNAPSHOT = RosterSnapshot(
    ministry=Ministry(code="TTCP", name="Thanh tra Chính phủ", bloc=BLOC),
    bloc=Bloc(code=BLOC, name="Khối thi đua các bộ, ngành nội chính Trung ương", head_ministry="TTCP"),
    actors=(HEAD, *REP.values(), OUTSIDER),
)


def test_the_pledge_goes_to_every_representative_and_the_reminder_to_the_missing_only():
    drafts = notices.pledge_published(SNAPSHOT, BLOC, 2026, "NOI_CHINH-2024.01", "Bảng chấm điểm Khối nội chính")
    assert sorted(d.party for d in drafts) == sorted(f"BLOC_REPRESENTATIVE:{a.id}" for a in REP.values())
    assert all("ký giao ước" in d.subject and d.recipients for d in drafts)
    deadline = datetime(2026, 12, 20, 3, tzinfo=UTC)
    reminders = notices.assessment_reminder(SNAPSHOT, BLOC, 2026, {"KTNN"}, deadline)
    assert [d.party for d in reminders] == [f"BLOC_REPRESENTATIVE:{REP['KTNN'].id}"]
    assert "10:00 ngày 20/12/2026" in reminders[0].body  # Vietnam time


def test_the_ranking_the_vote_and_the_new_head_are_told_in_vietnamese():
    row = {"criteria_total": Decimal(90), "bonus_points": Decimal(0), "penalty_points": Decimal(0)}
    rows = (
        StandingRow(member="BCA", rank=1, total=Decimal("95.5"), group_totals={}, submitted=True, tied=False,
                    separated_by=None, **row),
        StandingRow(member="KTNN", rank=2, total=Decimal(90), group_totals={}, submitted=True, tied=False,
                    separated_by="TOTAL", **row),
    )  # fmt: skip
    standings = Standings(policy_version="NOI_CHINH-2024.01", rows=rows, unranked=("VKSNDTC",))
    ranking = notices.ranking_published(SNAPSHOT, BLOC, 2026, standings)
    assert f"BLOC_HEAD:{BLOC}" in {d.party for d in ranking}
    assert "1. BCA: 95,5 điểm" in ranking[0].body and "VKSNDTC" in ranking[0].body
    vote = notices.honouring_opened(
        SNAPSHOT, BLOC, 2026, "Cờ thi đua của Chính phủ", ["BCA", "KTNN"], 1, datetime(2027, 4, 1, tzinfo=UTC), "s-1"
    )
    assert len(vote) == len(REP) and "BCA, KTNN" in vote[0].body and "1 chỉ tiêu" in vote[0].body
    incoming = BlocLeadership(bloc=BLOC, year=2027, head="BTP", deputy="BCA")
    flag = FlagHandover(bloc=BLOC, year=2027, from_member="TTCP", to_member="BTP")
    told = notices.head_in_office(SNAPSHOT, incoming, flag)
    assert "Cờ luân lưu" in told[0].body and "BTP là Khối trưởng" in told[0].body
