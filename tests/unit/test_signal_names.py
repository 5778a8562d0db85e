"""The signals activities send by name (activities do not import workflows) are the workflows' own, and each
carries the message its handler takes: a renamed handler or a changed message fails here, not in a wave."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from temporalio import workflow

from domain.ballot_messages import (
    JOIN_LIST_SIGNAL,
    BallotVerdict,
    ListJoined,
    ListRefused,
    NominationSignal,
    SessionCancelled,
    SessionMessage,
    SessionTidings,
)
from domain.ballots import BallotSessionKind, Candidate
from domain.decisions import DECISION_ISSUED_SIGNAL, DecisionDelivery
from domain.messages import SessionScheduled
from domain.voting import Tally, VoteResult
from workflows.ballot_session import BallotSessionWorkflow
from workflows.nomination import NominationWorkflow

SESSION = "ballot-council-BTP-hop-1"
COUNCIL = BallotSessionKind.COUNCIL


def handler_types(workflow_class: type) -> dict[str, list[type]]:
    """Each signal the workflow handles, by name, with the types its handler takes (as the SDK registers it)."""
    signals = workflow._Definition.must_from_class(workflow_class).signals
    return {name: list(definition.arg_types or []) for name, definition in signals.items() if name}


def verdict(result: VoteResult = VoteResult.PASSED) -> BallotVerdict:
    return BallotVerdict(
        session_id=SESSION,
        round=1,
        stage_kind=COUNCIL,
        tally=Tally(members=9, present=9, votes_for=8, votes_against=1),
        result=result,
        reason_vi="đạt",
        policy_code="HD-1",
    )


MESSAGES: list[SessionMessage] = [
    ListJoined(session_id=SESSION, kind=COUNCIL),
    ListRefused(session_id=SESSION, kind=COUNCIL),
    SessionScheduled(session_id=SESSION, deadline=datetime(2026, 12, 20, 10, tzinfo=UTC)),
    SessionCancelled(session_id=SESSION, reason="không đủ thành viên"),
]


def test_every_signal_a_session_sends_is_one_the_nomination_handles_with_that_message():
    handled = handler_types(NominationWorkflow)
    sent: dict[str, type] = {}
    listed = ["nomination-2026-BTP-a", "nomination-2026-BTP-b"]
    for key, message in enumerate(MESSAGES, start=1):
        deliveries = SessionTidings.of(SESSION, key, listed, message).deliveries()
        assert [(wf, carried) for wf, _, carried in deliveries] == [(wf, message) for wf in listed]
        for _, signal, carried in deliveries:
            sent[signal.value] = type(carried)
    verdicts = SessionTidings(session_id=SESSION, key=9, verdicts={"nomination-2026-BTP-a": verdict()})
    for _, signal, carried in verdicts.deliveries():
        sent[signal.value] = type(carried)

    assert set(sent) == {s.value for s in NominationSignal}
    assert {name: handled.get(name) for name in sent} == {name: [kind] for name, kind in sent.items()}


def test_the_decision_and_the_offer_are_signals_their_receivers_handle():
    assert handler_types(NominationWorkflow)[DECISION_ISSUED_SIGNAL] == [DecisionDelivery]
    assert handler_types(BallotSessionWorkflow)[JOIN_LIST_SIGNAL] == [Candidate]


def test_tidings_name_each_nomination_once_with_its_own_verdict():
    approved, rejected = verdict(VoteResult.PASSED), verdict(VoteResult.FAILED)
    tidings = SessionTidings(session_id=SESSION, key=3, verdicts={"nomination-a": approved, "nomination-b": rejected})
    assert tidings.deliveries() == [
        ("nomination-a", NominationSignal.VERDICT, approved),
        ("nomination-b", NominationSignal.VERDICT, rejected),
    ]
    # What the activity receives is what the session sent.
    assert SessionTidings.model_validate_json(tidings.model_dump_json()) == tidings


@pytest.mark.parametrize(
    "fields",
    [
        {},  # no message
        {"to": ["nomination-a"], "joined": MESSAGES[0], "refused": MESSAGES[1]},  # two messages
        {"to": ["nomination-a"], "verdicts": {"nomination-b": verdict()}},  # verdicts name their own nominations
        {"to": ["nomination-a"], "joined": MESSAGES[0], "key": 0},  # keys count from 1
    ],
)
def test_tidings_that_could_be_read_two_ways_are_refused(fields: dict[str, object]):
    with pytest.raises(ValidationError):
        SessionTidings.model_validate({"session_id": SESSION, "key": 1} | fields)
