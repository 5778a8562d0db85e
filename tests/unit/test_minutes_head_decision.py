"""A bloc tie decided by the head after its runoffs: the session's status carries the decision once it is
recorded (who, which round, the tied, the seats, whom they chose, when), and the minutes printed from that
status say who decided whom, by the roster's and the dossiers' names, in Vietnam's time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from documents.minutes import minutes_document, record_from_status
from documents.names import Names
from documents.render import render_docx, render_html
from domain.ballot_messages import (
    HeadDecision,
    MinutesEntry,
    MinutesResult,
    SessionAction,
    SessionActionKind,
    SessionPhase,
    SessionStart,
    SessionStatus,
)
from domain.ballot_session_state import SessionState
from domain.ballots import BallotSessionKind, BlocRanking, Candidate, head_decision_verdicts
from domain.catalog import policy_set
from domain.voting import Tally, VoteOutcome, VoteResult
from tests.unit.test_documents import docx_text, squash

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
HEAD = "tandtc.khoi.truong"
BLOC = "NOI_CHINH"
SESSION = "ballot-bloc-NOI_CHINH-HN-2026"
TIED = ("wf-btp", "wf-bca", "wf-ktnn")
NOMINEES = {"wf-btp": "Bộ Tư pháp", "wf-bca": "Bộ Công an", "wf-ktnn": "Kiểm toán Nhà nước"}
TALLY = Tally(members=8, present=8, votes_for=5, votes_against=3)
NAMES = Names(
    blocs={BLOC: "Khối Thi đua các bộ, ngành nội chính Trung ương"},
    people={HEAD: "Đinh Văn Khải", "btp.khoi.a": "Nguyễn Văn An"},
)


def candidate(wf: str) -> Candidate:
    return Candidate(workflow_id=wf, award_form="CO_THI_DUA_CP", nominee_name=NOMINEES[wf], proposing_organisation=BLOC)


def tie_action(step: int = 4) -> SessionAction:
    return SessionAction(
        session_id=SESSION,
        step=step,
        action=SessionActionKind.TIE_DECIDED,
        actor=HEAD,
        channel="API",
        occurred_at=NOW,
        outcome="chose wf-bca for 1 seat(s) among the tied wf-btp, wf-bca, wf-ktnn",
    )


def test_the_status_carries_the_head_s_decision_once_it_is_recorded():
    policy = policy_set("2025.07")
    start = SessionStart.model_validate(
        {
            "kind": BallotSessionKind.BLOC,
            "scope": BLOC,
            "meeting_ref": "HN-2026",
            "opened_by": HEAD,
            "deadline": NOW + timedelta(days=1),
            "policy_version": policy.version,
        }
    )
    session = SessionState.opening(SESSION, start, policy)
    for wf in TIED:
        session.join(candidate(wf))
    session.round.number = 3
    session.round.tallies = dict.fromkeys(TIED, TALLY)
    passed = VoteOutcome(result=VoteResult.PASSED, reason_vi="Đạt: 5/8 phiếu đồng ý", policy_code="BLOC_MAJORITY")
    ranking = BlocRanking(quota=1, winners=[], tied=list(TIED), seats_left=1, outcomes=dict.fromkeys(TIED, passed))
    session.tie = ranking
    assert session.status().head_decision is None  # awaiting the head: nothing decided yet

    outcomes = head_decision_verdicts(ranking, ["wf-bca"])
    record = session.tie_record(ranking, ["wf-bca"], outcomes, tie_action())
    session.tie_recorded(record)
    decided = session.status().head_decision
    assert decided == HeadDecision(
        actor=HEAD, round=3, tied=list(TIED), seats_left=1, chosen=["wf-bca"], decided_at=NOW
    )
    # The minutes rows recorded are the decision's: the chosen passes, the others fail, each saying why.
    said = {e.candidate.workflow_id: e for e in record.entries}
    assert said["wf-bca"].result == MinutesResult.PASSED and "được Trưởng Khối chọn" in said["wf-bca"].reason_vi
    assert said["wf-btp"].result == MinutesResult.FAILED and "không được Trưởng Khối chọn" in said["wf-btp"].reason_vi


def closed_bloc_status(head_decision: HeadDecision | None) -> SessionStatus:
    chosen = set(head_decision.chosen) if head_decision else set()
    return SessionStatus(
        session_id=SESSION,
        kind=BallotSessionKind.BLOC,
        scope=BLOC,
        meeting_ref="HN-2026",
        phase=SessionPhase.CLOSED,
        round=3,
        deadline=NOW,
        candidates=[candidate(wf) for wf in TIED],
        electorate_size=8,
        voted=[],
        quorum_met=True,
        ballots_cast=8,
        committee=["btp.khoi.a"],
        results=[
            MinutesEntry(
                candidate=candidate(wf),
                tally=TALLY,
                result=MinutesResult.PASSED if wf in chosen else MinutesResult.FAILED,
                reason_vi="Đạt: 5/8 phiếu đồng ý; bằng phiếu tại vị trí cuối chỉ tiêu, "
                + ("được Trưởng Khối chọn" if wf in chosen else "không được Trưởng Khối chọn"),
            )
            for wf in TIED
        ],
        spoiled_receipts=[],
        head_decision=head_decision,
    )


def test_the_minutes_say_who_decided_the_tie_and_whom_they_chose():
    decision = HeadDecision(actor=HEAD, round=3, tied=list(TIED), seats_left=1, chosen=["wf-bca"], decided_at=NOW)
    record = record_from_status(closed_bloc_status(decision), closed_at=NOW, policy_version="2025.07", voted_count=8)
    assert record.head_decision == decision
    assert record.people == ("btp.khoi.a", HEAD)  # the client reads the head's name from the roster too
    doc = minutes_document(record, NAMES, anchor=None, made_at=NOW)
    note = (
        "- Vòng 3: Bộ Tư pháp, Bộ Công an, Kiểm toán Nhà nước có số phiếu ngang nhau tại vị trí cuối chỉ tiêu "
        "(1 suất còn lại) sau các vòng bỏ phiếu lại; Trưởng Khối Đinh Văn Khải đã quyết định chọn Bộ Công an "
        "lúc 20/11/2026 15:00 (giờ Việt Nam)."
    )
    assert note in squash(render_html(doc))
    assert note in squash(docx_text(render_docx(doc)))


def test_minutes_without_a_head_s_decision_say_nothing_of_one():
    record = record_from_status(closed_bloc_status(None), closed_at=NOW, policy_version="2025.07", voted_count=8)
    assert record.head_decision is None and record.people == ("btp.khoi.a",)
    text = squash(render_html(minutes_document(record, NAMES, anchor=None, made_at=NOW)))
    assert "đã quyết định chọn" not in text and "Đinh Văn Khải" not in text
