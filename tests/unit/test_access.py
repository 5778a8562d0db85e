"""Who may read what (domain/access.py), against the shipped roster's people: nominations by ministry, bloc
and award form, ballot sessions, and how much of a session's participation each reader sees."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.access import (
    ParticipationView,
    ReadScope,
    bloc_vote_forms,
    may_read_nomination,
    may_read_session,
    ministry_in_workflow_id,
    nothing_readable_error,
    participation_view,
    read_scope,
    reads_whole_ministry,
    sees_voter_list,
    session_view,
)
from domain.ballot_messages import SessionPhase, SessionStatus
from domain.ballots import BallotSessionKind
from domain.catalog import policy_sets
from domain.roster import Actor, Role, RoleGrant, Roster
from domain.stages import Stage

ROSTER = Roster.model_validate(
    json.loads((Path(__file__).resolve().parents[2] / "config" / "roster.json").read_text(encoding="utf-8"))
)
ACTORS = {a.id: a for a in ROSTER.actors}
MINISTRIES = [m.code for m in ROSTER.ministries]
BLOC = "NOI_CHINH"
POLICIES = list(policy_sets().values())
FORMS = sorted({code for p in POLICIES for code in p.award_forms})
BLOC_FORMS = {"CO_THI_DUA_CP"}  # the only form of the shipped catalog that goes through the bloc vote


def scope_of(actor_id: str) -> ReadScope:
    return read_scope(actor_id, ACTORS.get(actor_id), ROSTER.ministries)


def test_the_catalog_s_bloc_forms_are_those_routed_through_the_bloc_vote() -> None:
    assert bloc_vote_forms() == BLOC_FORMS
    for policy in POLICIES:
        assert bloc_vote_forms(policy) == {c for c, f in policy.award_forms.items() if Stage.BLOC_VOTE in f.route}


@pytest.mark.parametrize(
    "actor_id",
    [
        "btp.vutckt.le-thi-hoa",  # unit staff
        "btp.hd.thu-ky",  # council secretary
        "btp.hd.chu-tich",  # council chair and member
        "btp.hd.uy-vien-1",  # council member
    ],
)
def test_a_ministry_s_staff_and_council_read_its_nominations_and_no_other_s(actor_id: str) -> None:
    scope = scope_of(actor_id)
    assert nothing_readable_error(scope) is None
    for policy in POLICIES:
        for form in policy.award_forms:
            assert may_read_nomination(scope, "BTP", BLOC, form, policy)
            assert not may_read_nomination(scope, "KTNN", BLOC, form, policy), form
    assert reads_whole_ministry(scope, "BTP") and not reads_whole_ministry(scope, "KTNN")


@pytest.mark.parametrize("actor_id", ["tandtc.khoi.truong", "btp.khoi.dai-dien", "ktnn.khoi.dai-dien"])
def test_a_bloc_s_head_and_representatives_read_its_candidates_only(actor_id: str) -> None:
    scope = scope_of(actor_id)
    assert nothing_readable_error(scope) is None
    for policy in POLICIES:
        for ministry in MINISTRIES:
            # Every shipped ministry is in the bloc: its bloc-vote forms are the bloc's candidates, the rest not.
            assert may_read_nomination(scope, ministry, BLOC, "CO_THI_DUA_CP", policy)
            assert not may_read_nomination(scope, ministry, BLOC, "BANG_KHEN_BO", policy)
            assert not may_read_nomination(scope, ministry, BLOC, "BANG_KHEN_TTG", policy)
            # A nomination that recorded no bloc: the roster's bloc of its ministry stands in.
            assert may_read_nomination(scope, ministry, None, "CO_THI_DUA_CP", policy)
        # A nomination recorded under another bloc, or of a ministry outside the bloc, is not theirs.
        assert not may_read_nomination(scope, "BTP", "KHOI_KHAC", "CO_THI_DUA_CP", policy)
        assert not may_read_nomination(scope, "BQP", None, "CO_THI_DUA_CP", policy)
    assert not reads_whole_ministry(scope, "BTP")


@pytest.mark.parametrize("actor_id", ["tw.ban-tdkt.can-bo-1", "tw.ban-tdkt.can-bo-2", "tw.ban-tdkt.truong-ban"])
def test_the_central_board_reads_everything(actor_id: str) -> None:
    scope = scope_of(actor_id)
    assert scope.everything
    for ministry in [*MINISTRIES, "BQP"]:
        for form in FORMS:
            assert may_read_nomination(scope, ministry, None, form)
        assert reads_whole_ministry(scope, ministry)
    for kind in BallotSessionKind:
        assert may_read_session(scope, kind, "BTP" if kind == BallotSessionKind.COUNCIL else BLOC)
        # The board reads sessions but is not their organiser: counts only.
        assert participation_view(scope, kind, "BTP") == ParticipationView.COUNTS


def test_an_actor_off_the_roster_or_without_a_role_reads_nothing_and_is_told_so() -> None:
    stranger = scope_of("nguoi.la")
    assert not stranger.on_roster and stranger.reads_nothing
    assert nothing_readable_error(stranger) == "actor 'nguoi.la' is not on the roster: they may read nothing"
    roleless = read_scope("btp.nghi-huu", Actor(id="btp.nghi-huu", full_name="Cán bộ A", organisation="BTP"))
    assert roleless.on_roster and roleless.reads_nothing
    assert "'btp.nghi-huu' holds no role" in (nothing_readable_error(roleless) or "")
    for scope in (stranger, roleless):
        for form in FORMS:
            assert not may_read_nomination(scope, "BTP", BLOC, form)
        assert not may_read_session(scope, BallotSessionKind.COUNCIL, "BTP")
        assert not may_read_session(scope, BallotSessionKind.BLOC, BLOC)


def test_sessions_are_read_by_their_body_and_the_voter_list_by_their_organisers() -> None:
    council, bloc = BallotSessionKind.COUNCIL, BallotSessionKind.BLOC
    expected = {
        # actor: (reads BTP's council session, its participation view, reads the bloc session, its view)
        "btp.vutckt.le-thi-hoa": (False, None, False, None),
        "btp.hd.thu-ky": (True, ParticipationView.FULL, False, None),
        "btp.hd.chu-tich": (True, ParticipationView.FULL, False, None),
        "btp.hd.uy-vien-1": (True, ParticipationView.SELF, False, None),
        "ktnn.hd.chu-tich": (False, None, False, None),
        "tandtc.khoi.truong": (False, None, True, ParticipationView.FULL),
        "btp.khoi.dai-dien": (False, None, True, ParticipationView.SELF),
        "tw.ban-tdkt.can-bo-1": (True, ParticipationView.COUNTS, True, ParticipationView.COUNTS),
    }
    for actor_id, (reads_council, council_view, reads_bloc, bloc_view) in expected.items():
        scope = scope_of(actor_id)
        assert may_read_session(scope, council, "BTP") is reads_council, actor_id
        assert may_read_session(scope, bloc, BLOC) is reads_bloc, actor_id
        if council_view is not None:
            assert participation_view(scope, council, "BTP") == council_view, actor_id
            assert sees_voter_list(scope, council, "BTP") is (council_view == ParticipationView.FULL)
        if bloc_view is not None:
            assert participation_view(scope, bloc, BLOC) == bloc_view, actor_id
    # Another ministry's council session is not the BTP council's.
    assert not may_read_session(scope_of("btp.hd.uy-vien-1"), council, "KTNN")


def status(voted: list[str], kind: BallotSessionKind = BallotSessionKind.COUNCIL, scope: str = "BTP") -> SessionStatus:
    return SessionStatus(
        session_id=f"ballot-{kind.value.lower()}-{scope}-HD-1",
        kind=kind,
        scope=scope,
        meeting_ref="HD-1",
        phase=SessionPhase.VOTING,
        round=1,
        deadline=datetime(2026, 12, 20, tzinfo=UTC),
        candidates=[],
        electorate_size=3,
        voted=voted,
        quorum_met=False,
    )


def test_a_session_s_view_for_its_organiser_a_voter_and_the_board() -> None:
    current = status(["btp.hd.chu-tich", "btp.hd.uy-vien-2"])
    organiser = session_view(current, scope_of("btp.hd.thu-ky"))
    assert organiser.voted == ["btp.hd.chu-tich", "btp.hd.uy-vien-2"] and organiser.voted_count == 2
    assert organiser.participation == ParticipationView.FULL and organiser.you_voted is None
    not_yet = session_view(current, scope_of("btp.hd.uy-vien-1"))
    assert (not_yet.voted, not_yet.voted_count, not_yet.you_voted) == ([], 2, False)
    voted = session_view(current, scope_of("btp.hd.uy-vien-2"))
    assert (voted.voted, voted.voted_count, voted.you_voted) == (["btp.hd.uy-vien-2"], 2, True)
    board = session_view(current, scope_of("tw.ban-tdkt.can-bo-1"))
    assert (board.voted, board.voted_count, board.participation) == ([], 2, ParticipationView.COUNTS)


def test_the_ministry_a_workflow_id_names() -> None:
    assert ministry_in_workflow_id("nomination-2026-BTP-145/TTr-BTP") == "BTP"
    assert ministry_in_workflow_id("nomination-2026-TANDTC-1-2-3") == "TANDTC"
    assert ministry_in_workflow_id("ballot-council-BTP-HD-1") is None
    assert ministry_in_workflow_id("nomination-26-BTP-1") is None


# ---- properties ---------------------------------------------------------------------------------------------

CODES = st.sampled_from([*MINISTRIES, "BQP", "BXYZ"])
GRANTS = st.builds(
    RoleGrant,
    role=st.sampled_from(list(Role)),
    scope=st.sampled_from([*MINISTRIES, BLOC, "TW", "KHOI_KHAC"]),
)
GRANT_SETS = st.lists(GRANTS, max_size=5).map(tuple)


def person(grants: tuple[RoleGrant, ...]) -> Actor:
    return Actor(id="nguoi.doc", full_name="Người đọc", organisation="BTP", roles=grants)


def reads(scope: ReadScope, ministry: str, bloc: str | None, form: str) -> bool:
    return may_read_nomination(scope, ministry, bloc, form)


@given(GRANT_SETS, GRANT_SETS, CODES, st.sampled_from([BLOC, "KHOI_KHAC", None]), st.sampled_from(FORMS))
def test_reading_is_the_union_of_what_each_grant_allows(
    first: tuple[RoleGrant, ...], second: tuple[RoleGrant, ...], ministry: str, bloc: str | None, form: str
) -> None:
    both = read_scope("nguoi.doc", person(first + second), ROSTER.ministries)
    each = [read_scope("nguoi.doc", person(g), ROSTER.ministries) for g in (first, second)]
    assert reads(both, ministry, bloc, form) == any(reads(s, ministry, bloc, form) for s in each)


@given(GRANT_SETS, CODES, st.sampled_from([BLOC, "KHOI_KHAC", None]), st.sampled_from(FORMS))
def test_what_a_reader_may_read_follows_from_a_grant_that_allows_it(
    grants: tuple[RoleGrant, ...], ministry: str, bloc: str | None, form: str
) -> None:
    scope = read_scope("nguoi.doc", person(grants), ROSTER.ministries)
    roster_bloc = next((m.bloc for m in ROSTER.ministries if m.code == ministry), None)
    justified = any(
        (g.role in (Role.CENTRAL_OFFICER, Role.CENTRAL_HEAD) and g.scope == "TW")
        or (
            g.role in (Role.UNIT_STAFF, Role.COUNCIL_SECRETARY, Role.COUNCIL_CHAIR, Role.COUNCIL_MEMBER)
            and g.scope == ministry
        )
        or (
            g.role in (Role.BLOC_HEAD, Role.BLOC_REPRESENTATIVE)
            and g.scope == (bloc if bloc is not None else roster_bloc)
            and form in BLOC_FORMS
        )
        for g in grants
    )
    assert reads(scope, ministry, bloc, form) == justified
    if scope.reads_nothing:
        assert nothing_readable_error(scope) is not None


@given(GRANT_SETS, st.sampled_from(list(BallotSessionKind)), st.sampled_from(["BTP", "KTNN", BLOC]))
def test_nobody_but_the_organisers_sees_another_voter(
    grants: tuple[RoleGrant, ...], kind: BallotSessionKind, session_scope: str
) -> None:
    scope = read_scope("btp.hd.uy-vien-1", person(grants).model_copy(update={"id": "btp.hd.uy-vien-1"}))
    voters = ["btp.hd.chu-tich", "btp.hd.uy-vien-1", "btp.hd.uy-vien-2"]
    for voted in (voters, voters[:1], []):
        view = session_view(status(voted, kind, session_scope), scope)
        assert view.voted_count == len(voted)
        if sees_voter_list(scope, kind, session_scope):
            assert view.voted == voted
        else:
            assert set(view.voted) <= {"btp.hd.uy-vien-1"}
            assert (view.you_voted is not None) == (view.participation == ParticipationView.SELF)
        # Seeing the voter list needs an organiser's grant in the session's own scope.
        organisers = {
            BallotSessionKind.COUNCIL: (Role.COUNCIL_SECRETARY, Role.COUNCIL_CHAIR),
            BallotSessionKind.BLOC: (Role.BLOC_HEAD,),
        }[kind]
        assert sees_voter_list(scope, kind, session_scope) == any(
            g.role in organisers and g.scope == session_scope for g in grants
        )
