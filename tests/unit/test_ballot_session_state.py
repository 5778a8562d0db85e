"""The ballot session's state model: its phase machine, who may do what in which phase, when a round's voting
is over, the quorum on ballots, strikes and the minutes they amend, what the status shows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain.ballot_messages import (
    AnonymousBallot,
    ConflictClass,
    CountResult,
    CredentialIssue,
    CredentialRequest,
    ListLeaving,
    MinutesResult,
    Participation,
    PublicKeyInfo,
    SealedBallot,
    SessionActionKind,
    SessionKeys,
    SessionPhase,
    SessionStart,
    ShareHandIn,
    TieDecision,
)
from domain.ballot_session_state import (
    ACTS,
    ENDED,
    PHASE_MOVES,
    OfferAnswer,
    SessionAct,
    SessionState,
    credential_digest,
)
from domain.ballots import BallotSessionKind, BlocRanking, Candidate, Electorate, Voter, bloc_verdicts
from domain.catalog import policy_set
from domain.roster import Roster
from domain.stages import Stage
from domain.voting import Tally, VoteOutcome, evaluate

ROSTER = Roster.model_validate(
    json.loads((Path(__file__).resolve().parents[2] / "config" / "roster.json").read_text(encoding="utf-8"))
)
POLICY = policy_set("2025.07")
NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
SECRETARY, CHAIR = "btp.hd.thu-ky", "btp.hd.chu-tich"
MEMBERS = (CHAIR, "btp.hd.uy-vien-1", "btp.hd.uy-vien-2")
P = SessionPhase


def cand(wf: str, nominee: str | None = None, org: str = "BTP") -> Candidate:
    return Candidate(
        workflow_id=wf,
        award_form="BANG_KHEN_BO",
        nominee_name=f"Ứng viên {wf}",
        nominee_actor_id=nominee,
        proposing_organisation=org,
    )


def key(name: str) -> PublicKeyInfo:
    return PublicKeyInfo(key_id=f"{name:0<16}", public_pem=f"PEM {name}")


def keys(committee: tuple[str, ...] = MEMBERS, round: int = 1) -> SessionKeys:
    return SessionKeys(
        sealing=key("5ea1"),
        issuer=key("1550e"),
        classes=[ConflictClass(class_id="k00", key=key("c1a55"))],
        committee=list(committee),
        threshold=2,
        commitments=["ab" * 32] * len(committee),
        round=round,
    )


def ballot(round: int = 1) -> AnonymousBallot:
    return AnonymousBallot(
        round=round,
        token="AAAA",
        token_signature="AAAA",
        ballot=SealedBallot(key_id="5ea1" * 4, wrapped_key="AAAA", sealed_choices={"wf-1": "AAAA"}),
    )


def council(opened_by: str = SECRETARY, **start: object) -> SessionState:
    session = SessionState.opening(
        "ballot-council-BTP-m1",
        SessionStart.model_validate(
            {
                "kind": BallotSessionKind.COUNCIL,
                "scope": "BTP",
                "meeting_ref": "m1",
                "opened_by": opened_by,
                "deadline": NOW + timedelta(days=1),
                "policy_version": POLICY.version,
                **start,
            }
        ),
        POLICY,
    )
    session.snapshot = ROSTER.snapshot_for("BTP")
    return session


def voting(*candidates: Candidate) -> SessionState:
    """A council session whose list is closed on `candidates` and whose voting is open."""
    session = council()
    assert session.seat_committee() is None
    for c in candidates or (cand("wf-1"),):
        session.join(c)
    session.open_voting(Electorate(voters=tuple(Voter(id=m, organisation="BTP") for m in MEMBERS)))
    session.round.keys = keys()
    session.round.voter_class = dict.fromkeys(MEMBERS, "k00")
    session.move(P.VOTING)
    return session


def took_credential(session: SessionState, voter: str) -> None:
    session.round.participation[voter] = Participation(voter_id=voter, voted_at=NOW)


def cast(session: SessionState, digest: str) -> None:
    session.round.ballots[digest] = ballot(session.round.number)


def leaving(wf: str) -> ListLeaving:
    return ListLeaving(
        workflow_id=wf,
        session_id="ballot-council-BTP-m1",
        action="WITHDRAW",
        to_stage=Stage.WITHDRAWN,
        reason_vi="đơn vị rút hồ sơ",
        left_at=NOW,
        actor="btp.vutckt.le-thi-hoa",
        channel="API",
    )


# ---- the phase machine -------------------------------------------------------------------------------------


def test_the_procedure_moves_are_allowed_and_an_ended_session_moves_no_more():
    session = council()
    for phase in (P.VOTING, P.AWAITING_CHAIR, P.VOTING, P.AWAITING_COUNT, P.AWAITING_HEAD, P.CLOSED):
        session.move(phase)
    assert session.closed
    for ended in ENDED:
        assert not PHASE_MOVES[ended]
    with pytest.raises(ValueError, match="from CLOSED to CANCELLED"):
        session.move(P.CANCELLED)
    with pytest.raises(ValueError, match="from COLLECTING to AWAITING_COUNT"):
        council().move(P.AWAITING_COUNT)


def test_each_act_is_refused_outside_its_phases_naming_the_phase():
    for act, rule in ACTS.items():
        for phase in set(P) - rule.phases:
            session = voting()
            session.phase = phase
            refusal = session.refusal(act)
            assert refusal is not None and phase.value in refusal, (act, phase)
    assert voting().refusal(SessionAct.CAST_BALLOT) is None
    assert council().refusal(SessionAct.JOIN_LIST) is None


def test_the_list_takes_no_one_once_its_closing_is_accepted_nor_after_a_cancel():
    session = council()
    session.list_closing = True
    assert session.refusal(SessionAct.JOIN_LIST) == "the list is closed; the session is COLLECTING"
    assert session.refusal(SessionAct.CLOSE_LIST, SECRETARY) is not None
    cancelled = council()
    cancelled.cancel("họp hoãn")
    assert cancelled.refusal(SessionAct.JOIN_LIST) is not None


def test_only_the_role_may_act_and_the_refusal_names_who_may():
    session = council()
    session.join(cand("wf-1"))
    assert session.close_list_refusal(SECRETARY) is None
    refusal = session.close_list_refusal(CHAIR)
    assert refusal is not None and f"{CHAIR!r} may not close the list" in refusal and f"allowed: {SECRETARY}" in refusal
    assert council().close_list_refusal(SECRETARY) == "the list is empty: no nomination has reached this stage yet"
    opening = council()
    opening.snapshot = None
    assert opening.refusal(SessionAct.CANCEL, CHAIR) == "the session is still opening; try again in a moment"


def test_a_cancel_needs_the_chair_a_reason_and_no_count_under_way():
    session = voting()
    assert session.cancel_refusal(CHAIR, "họp hoãn") is None
    assert session.cancel_refusal(CHAIR, None) == "reason: a cancellation needs a reason"
    assert "may not cancel the session" in (session.cancel_refusal(SECRETARY, "x") or "")
    session.counting = True
    assert session.cancel_refusal(CHAIR, "họp hoãn") == (
        "the ballots are being counted: the session can no longer be cancelled"
    )
    session.counting = False
    session.move(P.CLOSED)
    assert session.cancel_refusal(CHAIR, "họp hoãn") == "the session has ended (CLOSED)"


def test_an_extension_must_lie_in_the_future():
    session = voting()
    assert session.extend_refusal(CHAIR, NOW + timedelta(hours=1), NOW) is None
    assert session.extend_refusal(CHAIR, NOW, NOW) == "new_deadline: must be given and lie in the future"
    assert session.extend_refusal(CHAIR, None, NOW) == "new_deadline: must be given and lie in the future"


def test_the_opener_needs_the_role_and_the_committee_is_named_on_opening():
    assert "may not open a COUNCIL ballot session of BTP" in (council("btp.hd.uy-vien-1").seat_committee() or "")
    session = council()
    assert session.seat_committee() is None
    assert session.committee == list(MEMBERS)
    outsider = council(committee=[SECRETARY, CHAIR, "btp.hd.uy-vien-1"])
    assert "committee:" in (outsider.seat_committee() or "")
    assert outsider.committee == []


# ---- the round -----------------------------------------------------------------------------------------------


def test_a_round_is_over_once_everyone_took_a_credential_and_cast_or_the_chair_closed_it():
    session = voting()
    for i, voter in enumerate(MEMBERS):
        assert not session.round_complete()
        took_credential(session, voter)
        cast(session, f"{i:064x}")
    assert session.round_complete()
    early = voting()
    early.round.closed_early = True
    assert early.round_complete()
    cancelled = voting()
    cancelled.cancel("họp hoãn")
    assert cancelled.round_complete()


def test_a_credential_taken_but_not_yet_cast_holds_the_round_open():
    session = voting()
    for voter in MEMBERS:
        took_credential(session, voter)
    cast(session, "0" * 64)
    assert not session.round_complete()


def test_a_voter_conflicted_on_the_whole_list_does_not_hold_the_round_open():
    session = voting(cand("wf-1", nominee="btp.hd.uy-vien-2"))
    assert session.expected_voters() == [CHAIR, "btp.hd.uy-vien-1"]
    for i, voter in enumerate(session.expected_voters()):
        took_credential(session, voter)
        cast(session, f"{i:064x}")
    assert session.round_complete()
    request = CredentialRequest(voter="btp.hd.uy-vien-2", round=1, blinded_token="AAAA", blinded_class="AAAA")
    assert session.credential_refusal(request) == (
        "voter 'btp.hd.uy-vien-2' may vote on no candidate on this round's list (conflicted on all)"
    )


def test_the_quorum_counts_ballots_less_those_spoiled_never_credentials():
    session = voting()
    for voter in MEMBERS:
        took_credential(session, voter)
    assert not session.quorum_met()
    assert session.close_voting_refusal(CHAIR) == "no quorum yet: 0/3 have voted"
    cast(session, "0" * 64)
    cast(session, "1" * 64)
    assert session.quorum_met()
    assert session.close_voting_refusal(CHAIR) is None
    session.round.spoiled = 1
    assert session.turnout().voted == 1
    assert not session.quorum_met()


def test_one_credential_each_the_same_request_answered_again_the_secretary_none():
    session = voting()
    request = CredentialRequest(voter=CHAIR, round=1, blinded_token="AAAA", blinded_class="BBBB")
    assert session.credential_refusal(request) is None
    issue = CredentialIssue(
        session_id=session.session_id,
        round=1,
        class_id="k00",
        excluded=[],
        blind_token_signature="AAAA",
        blind_class_signature="AAAA",
    )
    took_credential(session, CHAIR)
    session.round.issued[CHAIR] = (credential_digest(request), issue)
    assert session.credential_refusal(request) is None
    assert session.reissue(request) == issue
    other = request.model_copy(update={"blinded_token": "CCCC"})
    assert session.reissue(other) is None
    assert session.credential_refusal(other) == (
        f"voter {CHAIR!r} has already taken this round's ballot credential (one ballot each)"
    )
    secretary = request.model_copy(update={"voter": SECRETARY})
    assert "is the council's secretary" in (session.credential_refusal(secretary) or "")
    stranger = request.model_copy(update={"voter": "tw.ban-tdkt.can-bo-1"})
    assert session.credential_refusal(stranger) == "voter 'tw.ban-tdkt.can-bo-1' is not in this session's electorate"
    assert session.credential_refusal(request.model_copy(update={"round": 2})) == (
        "round: the session is voting in round 1, not 2"
    )


def test_no_credential_nor_ballot_once_the_round_is_being_counted():
    session = voting()
    request = CredentialRequest(voter=CHAIR, round=1, blinded_token="AAAA", blinded_class="BBBB")
    assert session.credential_refusal(request) is None
    session.counting = True  # a runoff counted on the shares already handed in stays VOTING meanwhile
    assert session.credential_refusal(request) == "round 1's voting is over: its ballots are being counted"
    assert session.refusal(SessionAct.CAST_BALLOT) == "round 1's voting is over: its ballots are being counted"


def test_a_share_is_handed_in_once_by_a_member_at_its_index_while_the_count_waits():
    session = voting()
    hand_in = ShareHandIn(member="btp.hd.uy-vien-1", index=2, share="AAAA")
    assert "only while AWAITING_COUNT; the session is VOTING" in (session.share_refusal(hand_in) or "")
    session.move(P.AWAITING_COUNT)
    assert session.share_refusal(hand_in) is None
    assert (
        session.share_refusal(hand_in.model_copy(update={"index": 3}))
        == "index: 'btp.hd.uy-vien-1' holds share 2, not 3"
    )
    assert "is not on this session's counting committee" in (
        session.share_refusal(hand_in.model_copy(update={"member": SECRETARY})) or ""
    )
    session.shares[hand_in.member] = hand_in
    assert session.share_refusal(hand_in) == "member: 'btp.hd.uy-vien-1' has already handed in their share"
    session.cancel("họp hoãn")
    assert (
        session.share_refusal(hand_in)
        == "shares are handed in only while AWAITING_COUNT; the session is being cancelled"
    )


# ---- strikes, minutes, results --------------------------------------------------------------------------------


def test_leaving_while_collecting_takes_off_and_once_voting_strikes():
    collecting = council()
    collecting.join(cand("wf-1"))
    assert collecting.take_off(leaving("wf-1"), NOW)
    assert "wf-1" not in collecting.candidates
    assert [a.action for a in collecting.unwritten] == [SessionActionKind.CANDIDATE_REMOVED]
    assert collecting.unwritten[0].channel == "API"

    session = voting(cand("wf-1"), cand("wf-2"))
    assert session.take_off(leaving("wf-2"), NOW)
    assert not session.take_off(leaving("wf-2"), NOW)  # struck once
    assert not session.take_off(leaving("wf-9"), NOW)  # never on the list
    assert [c.workflow_id for c in session.status().candidates] == ["wf-1"]
    assert [s.candidate.workflow_id for s in session.status().struck] == ["wf-2"]
    assert [a.step for a in session.take_unwritten()] == [1]
    assert session.unwritten == []


def test_a_strike_after_the_minutes_amends_them_and_nothing_changes_once_settled():
    session = voting(cand("wf-1"), cand("wf-2"))
    for i, voter in enumerate(MEMBERS):
        took_credential(session, voter)
        cast(session, f"{i:064x}")
    tally = Tally(members=3, present=3, votes_for=3, votes_against=0)
    session.counted(CountResult(tallies={"wf-1": tally, "wf-2": tally}))
    outcomes = {
        wf: o
        for wf, o in bloc_verdicts(
            BlocRanking(quota=2, winners=["wf-1", "wf-2"], outcomes=_passed(session, ["wf-1", "wf-2"]))
        ).items()
    }
    session.decide(outcomes)
    minutes = session.minutes(outcomes, NOW)
    assert [e.result for e in minutes.entries] == [MinutesResult.PASSED, MinutesResult.PASSED]
    assert minutes.ballots_cast == 3 and len(minutes.participation) == 3
    assert session.amendment(NOW) is None

    session.take_off(leaving("wf-2"), NOW)
    amendment = session.amendment(NOW)
    assert amendment is not None
    assert [(e.candidate.workflow_id, e.result) for e in amendment.entries] == [
        ("wf-2", MinutesResult.WITHDRAWN_FROM_LIST)
    ]
    session.recorded(amendment.entries)
    assert session.amendment(NOW) is None

    session.settle()
    assert not session.take_off(leaving("wf-1"), NOW)
    assert [wf for wf, _ in session.verdicts_to_send()] == ["wf-1"]
    assert session.status().results is None  # only once CLOSED
    session.move(P.CLOSED)
    status = session.status()
    assert [(e.candidate.workflow_id, e.result) for e in status.results or []] == [
        ("wf-1", MinutesResult.PASSED),
        ("wf-2", MinutesResult.WITHDRAWN_FROM_LIST),
    ]
    assert status.counted_receipts == sorted(f"{session.session_id}:{i:064x}" for i in range(3))


def test_a_runoff_is_a_new_round_among_the_tied_with_the_earlier_winners_kept():
    session = voting(cand("wf-1"), cand("wf-2"), cand("wf-3"))
    tally = Tally(members=3, present=3, votes_for=3, votes_against=0)
    session.counted(CountResult(tallies=dict.fromkeys(["wf-1", "wf-2", "wf-3"], tally)))
    ranking = BlocRanking(
        quota=2,
        winners=["wf-1"],
        tied=["wf-2", "wf-3"],
        seats_left=1,
        outcomes=_passed(session, ["wf-1", "wf-2", "wf-3"]),
    )
    session.decide(bloc_verdicts(ranking))
    took_credential(session, CHAIR)
    session.begin_runoff(ranking)
    assert session.earlier_winners == ["wf-1"]
    assert session.round.number == 2
    assert [c.workflow_id for c in session.round.candidates] == ["wf-2", "wf-3"]
    assert session.round.participation == {} and session.round.keys is None
    assert session.refusal(SessionAct.CAST_BALLOT) is not None  # no keys yet: no ballots
    session.counting = True
    session.runoff_voting(NOW)
    assert session.deadline == NOW + timedelta(seconds=session.start.runoff_seconds)
    assert not session.counting and session.phase == P.VOTING


def test_a_tie_is_decided_once_by_the_bloc_head():
    session = voting()
    session.move(P.AWAITING_HEAD)
    decision = TieDecision(actor=CHAIR, choose=["wf-1"])
    assert "AWAITING_HEAD" in (session.tie_refusal(decision) or "")  # no tie held
    session.tie = BlocRanking(quota=1, winners=[], tied=["wf-1", "wf-2"], seats_left=1)
    assert "may not decide the tie" in (session.tie_refusal(decision) or "")  # a council has no tie decider
    session.tie_decision = decision
    assert session.tie_refusal(decision) == f"the tie has already been decided by {CHAIR!r}"


def _passed(session: SessionState, wfs: list[str]) -> dict[str, VoteOutcome]:
    policy = session.council_policy(session.candidates[wfs[0]])
    return {wf: evaluate(session.round.tallies[wf], policy) for wf in wfs}


def test_an_offer_is_listed_while_collecting_let_go_while_closing_and_refused_once_voting():
    session = council()
    assert session.offer_answer("wf-1") == OfferAnswer.LIST
    session.join(cand("wf-1"))
    session.list_closing = True
    assert session.offer_answer("wf-1") == OfferAnswer.LIST  # listed already: nothing to let go
    assert session.offer_answer("wf-2") == OfferAnswer.LET_GO_AT_OPENING
    assert voting(cand("wf-1")).offer_answer("wf-2") == OfferAnswer.REFUSE
