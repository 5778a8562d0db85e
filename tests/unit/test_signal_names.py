"""The signals activities send by name (activities do not import workflows) are the workflows' own, and each
carries the message its handler takes: a renamed handler or a changed message fails here, not in a wave."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError
from temporalio import workflow

from domain.ballot_messages import JOIN_LIST_SIGNAL
from domain.ballots import Candidate
from domain.catalog import Authority
from domain.decisions import DECISION_ISSUED_SIGNAL, DecisionDelivery, DecisionRef, DecisionTidings
from workflows.ballot_session import BallotSessionWorkflow
from workflows.nomination import NominationWorkflow


def handler_types(workflow_class: type) -> dict[str, list[type]]:
    """Each signal the workflow handles, by name, with the types its handler takes (as the SDK registers it)."""
    signals = workflow._Definition.must_from_class(workflow_class).signals
    return {name: list(definition.arg_types or []) for name, definition in signals.items() if name}


def test_the_decision_and_the_offer_are_signals_their_receivers_handle_with_that_message():
    assert handler_types(NominationWorkflow)[DECISION_ISSUED_SIGNAL] == [DecisionDelivery]
    assert handler_types(BallotSessionWorkflow)[JOIN_LIST_SIGNAL] == [Candidate]


def delivery() -> DecisionDelivery:
    decision = DecisionRef(
        decision_no="12/QĐ-BTP", decision_date=date(2026, 12, 20), authority=Authority.MINISTER, actor="bo.truong"
    )
    return DecisionDelivery(decision=decision, reply_to="decision-12/QĐ-BTP")


def test_a_delivery_travels_to_the_activity_as_it_was_sent():
    tidings = DecisionTidings(delivery=delivery(), key=2, to=["nomination-2026-BTP-a", "nomination-2026-BTP-b"])
    assert DecisionTidings.model_validate_json(tidings.model_dump_json()) == tidings


@pytest.mark.parametrize("fields", [{"key": 0, "to": ["nomination-a"]}, {"key": 1, "to": []}])
def test_a_delivery_counts_from_one_and_names_someone(fields: dict[str, object]):
    with pytest.raises(ValidationError):
        DecisionTidings.model_validate({"delivery": delivery()} | fields)
