"""The audit chain's canonical form and hash, and the entries each source writes (no database here)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.ballot_messages import MinutesEntry, Participation, SessionMinutes
from domain.ballots import BallotSessionKind, Candidate
from domain.catalog import Authority
from domain.decisions import DecisionItem, DecisionRef, DecisionSummary
from domain.nomination import Nomination
from domain.records import NominationRow, StageEventRow, TransitionRecord
from domain.stages import Stage
from domain.voting import Tally, VoteResult
from store.audit import (
    GENESIS,
    AuditEntry,
    Channel,
    canonical,
    chain_hash,
    channel_of,
    content_of,
    decision_entry,
    minutes_entry,
    plain,
    transition_entry,
)
from tests.factories import POLICY_VERSION, nomination_data

HANOI = timezone(timedelta(hours=7))
OUTCOME = "Hội đồng đồng ý đề nghị khen thưởng"
ENTRY: dict[str, Any] = {
    "workflow_id": "nomination-2026-BTP-145/TTr-BTP",
    "seq": 3,
    "actor": "btp.hd.thu-ky",
    "outcome": OUTCOME,
    "details": {"tally": {"members": 9, "present": 8}, "flags": [True, None, "ổn"]},
}


# ---- canonical ------------------------------------------------------------------------------------------


def test_canonical_is_the_same_whatever_the_key_order() -> None:
    shuffled = {
        "details": {"flags": [True, None, "ổn"], "tally": {"present": 8, "members": 9}},
        "outcome": OUTCOME,
        "actor": "btp.hd.thu-ky",
        "seq": 3,
        "workflow_id": ENTRY["workflow_id"],
    }
    assert canonical(shuffled) == canonical(ENTRY)


def test_canonical_is_compact_sorted_utf8_json() -> None:
    text = canonical(ENTRY).decode("utf-8")
    assert text.startswith('{"actor":"btp.hd.thu-ky","details":{"flags":[true,null,"ổn"],"tally":{"members":9,')
    assert " " not in text.replace(OUTCOME, "")  # no separators' spaces
    assert "\\u" not in text  # Vietnamese as UTF-8, not escapes
    assert json.loads(text) == ENTRY


def test_canonical_survives_a_json_round_trip() -> None:
    # The database hands the entry back as parsed JSON; its canonical form must not move.
    assert canonical(json.loads(json.dumps(ENTRY))) == canonical(ENTRY)


@pytest.mark.parametrize(
    "bad",
    [
        {"ratio": 0.5},
        {"nested": {"deep": [1, 2.0]}},
        {"nan": float("nan")},
        {"when": datetime(2026, 1, 1, tzinfo=UTC)},
        {"keys": {1: "one"}},
    ],
)
def test_canonical_refuses_floats_and_what_json_cannot_hold(bad: dict) -> None:
    with pytest.raises(ValueError):
        canonical(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=8))
def test_canonical_ignores_insertion_order(entry: dict) -> None:
    reversed_entry = dict(reversed(list(entry.items())))
    assert canonical(reversed_entry) == canonical(entry)
    assert canonical(json.loads(json.dumps(entry))) == canonical(entry)


# ---- chain_hash -------------------------------------------------------------------------------------------


def test_chain_hash_is_sha256_of_prev_then_the_canonical_entry() -> None:
    expected = hashlib.sha256(GENESIS.encode("ascii") + canonical(ENTRY)).hexdigest()
    assert chain_hash(GENESIS, ENTRY) == expected
    assert re.fullmatch(r"[0-9a-f]{64}", expected)


def test_chain_hash_covers_the_previous_hash() -> None:
    first = chain_hash(GENESIS, ENTRY)
    second = chain_hash(first, ENTRY)
    assert second != first
    assert chain_hash("f" * 64, ENTRY) != first
    # ... and every byte of the entry.
    assert chain_hash(GENESIS, ENTRY | {"seq": 4}) != first
    assert chain_hash(GENESIS, ENTRY | {"outcome": OUTCOME + "."}) != first


@pytest.mark.parametrize("prev", ["", "0" * 63, "G" * 64, "A" * 64, "0" * 65])
def test_chain_hash_refuses_a_malformed_previous_hash(prev: str) -> None:
    with pytest.raises(ValueError):
        chain_hash(prev, ENTRY)


# ---- the entry model ---------------------------------------------------------------------------------------


def test_an_entry_refuses_floats_in_its_details() -> None:
    with pytest.raises(ValidationError):
        AuditEntry(workflow_id="w", seq=1, action="A", channel=Channel.CLI, outcome="o", details={"x": 1.5})


def test_content_carries_every_column_and_the_recorded_instant_in_utc() -> None:
    entry = AuditEntry(
        workflow_id="w",
        seq=1,
        action="A",
        actor=None,
        channel=Channel.SYSTEM,
        outcome="o",
        occurred_at=datetime(2026, 3, 2, 9, 30, tzinfo=HANOI),
    )
    content = content_of(entry, datetime(2026, 3, 2, 9, 31, tzinfo=HANOI))
    assert content["recorded_at"] == "2026-03-02T02:31:00.000000+00:00"
    assert content["occurred_at"].startswith("2026-03-02T02:30:00")
    assert set(content) >= {"workflow_id", "seq", "actor", "channel", "action", "from_stage", "to_stage", "outcome"}
    assert canonical(content)  # plain JSON


@pytest.mark.parametrize(
    ("details", "actor", "channel"),
    [
        ({}, None, Channel.SYSTEM),
        ({}, "btp.hd.thu-ky", Channel.CLI),
        ({"channel": "API"}, "btp.hd.thu-ky", Channel.API),
        ({"channel": "api"}, None, Channel.API),
        ({"channel": "FAX"}, "btp.hd.thu-ky", Channel.CLI),  # not a channel: the default rule
    ],
)
def test_channel_comes_from_the_details_else_from_the_actor(details: dict, actor: str | None, channel: Channel) -> None:
    assert channel_of(details, actor) == channel


def test_plain_turns_floats_into_text() -> None:
    assert plain({"a": [1, 2.5], "b": {"c": 0.1}}) == {"a": [1, "2.5"], "b": {"c": "0.1"}}


# ---- the sources' entries ---------------------------------------------------------------------------------


def record(**event: object) -> TransitionRecord:
    nomination = Nomination.model_validate(nomination_data())
    values: dict[str, object] = {
        "seq": 2,
        "action": "RECORD_COUNCIL_RESULT",
        "actor": "btp.hd.thu-ky",
        "from_stage": Stage.COUNCIL_REVIEW,
        "to_stage": Stage.AWAITING_DECISION,
        "tally": {"members": 9, "present": 8, "votes_for": 8, "votes_against": 0},
        "details": {"result": "PASSED", "policy": "HD-2-3", "minutes_ref": "BB-12/2026"},
        "occurred_at": datetime(2026, 3, 2, 9, 30, tzinfo=HANOI),
    } | event
    return TransitionRecord(
        nomination=NominationRow(
            workflow_id="nomination-2026-BTP-x",
            nomination=nomination,
            bloc=None,
            policy_version=POLICY_VERSION,
            stage=Stage.AWAITING_DECISION,
            returned_from=None,
        ),
        event=StageEventRow.model_validate(values),
        notifications=[],
    )


def test_a_transition_entry_says_who_what_when_where_and_the_outcome() -> None:
    entry = transition_entry(record())
    assert (entry.workflow_id, entry.seq, entry.action, entry.actor) == (
        "nomination-2026-BTP-x",
        2,
        "RECORD_COUNCIL_RESULT",
        "btp.hd.thu-ky",
    )
    assert (entry.channel, entry.from_stage, entry.to_stage) == (Channel.CLI, "COUNCIL_REVIEW", "AWAITING_DECISION")
    assert entry.outcome == "result PASSED"
    assert entry.occurred_at == datetime(2026, 3, 2, 2, 30, tzinfo=UTC)
    assert entry.details["tally"]["votes_for"] == 8
    assert entry.details["details"]["minutes_ref"] == "BB-12/2026"


def test_a_transition_outcome_uses_the_decision_number_and_the_reason() -> None:
    decided = record(action="DECISION", details={"decision_no": "125/QĐ-TTg"}, reason=None)
    assert transition_entry(decided).outcome == "decision 125/QĐ-TTg"
    returned = record(action="RETURN", details={}, reason="Thiếu biên bản", to_stage=Stage.RETURNED)
    assert transition_entry(returned).outcome == "Thiếu biên bản"
    elapsed = record(action="NOTICE_ELAPSED", actor=None, details={}, reason=None)
    assert transition_entry(elapsed).outcome == "COUNCIL_REVIEW → AWAITING_DECISION"
    assert transition_entry(elapsed).channel == Channel.SYSTEM


def test_an_objectors_contact_stays_out_of_the_chain() -> None:
    filed = record(
        action="OBJECTION_FILED",
        actor=None,
        reason="Thành tích chưa đúng",
        details={"objection_id": 1, "filed_by": "Nguyễn Văn A", "contact": "0900000000"},
    )
    entry = transition_entry(filed)
    assert "0900000000" not in canonical(entry.model_dump(mode="json")).decode()
    assert entry.details["details"] == {"objection_id": 1, "filed_by": "Nguyễn Văn A"}


def test_the_minutes_entry_holds_counts_never_choices() -> None:
    tally = Tally(members=9, present=8, votes_for=6, votes_against=1)
    candidates = [
        Candidate(
            workflow_id=f"nomination-2026-BTP-{i}",
            award_form="BANG_KHEN_BO",
            nominee_name="A",
            proposing_organisation="BTP",
        )
        for i in range(3)
    ]
    results = [VoteResult.PASSED, VoteResult.PASSED, VoteResult.FAILED]
    minutes = SessionMinutes(
        session_id="ballot-council-BTP-HD-2026-01",
        kind=BallotSessionKind.COUNCIL,
        scope="BTP",
        meeting_ref="HD-2026-01",
        round=2,
        policy_version=POLICY_VERSION,
        closed_at=datetime(2026, 3, 10, 17, 0, tzinfo=HANOI),
        electorate_size=9,
        entries=[
            MinutesEntry(candidate=c, tally=tally, result=r, reason_vi="Đạt tỷ lệ")
            for c, r in zip(candidates, results, strict=True)
        ],
        participation=[
            Participation(voter_id=f"v{i}", voted_at=datetime(2026, 3, 10, tzinfo=HANOI), receipt=f"r{i}")
            for i in range(8)
        ],
        spoiled=1,
    )
    entry = minutes_entry(minutes)
    assert (entry.workflow_id, entry.seq, entry.action, entry.channel) == (
        "ballot-council-BTP-HD-2026-01",
        2,
        "BALLOT_MINUTES",
        Channel.SYSTEM,
    )
    assert entry.outcome == "8 of 9 voted, 1 spoiled; 3 nominations: 2 PASSED, 1 FAILED, 0 NO_QUORUM"
    text = canonical(content_of(entry, datetime.now(UTC))).decode()
    assert not re.search(r"\b(FOR|AGAINST|ABSTAIN)\b", text)
    assert "v0" not in text  # who voted is in ballot_participation, not here
    assert entry.details["candidates"][2] == {
        "workflow_id": "nomination-2026-BTP-2",
        "members": 9,
        "present": 8,
        "votes_for": 6,
        "votes_against": 1,
        "written": 0,
        "abstaining": 1,
        "result": "FAILED",
    }


def test_the_decision_entry_counts_accepted_and_refused() -> None:
    summary = DecisionSummary(
        decision=DecisionRef(
            decision_no="1520/QĐ-TTg",
            decision_date=date(2026, 12, 20),
            authority=Authority.PRIME_MINISTER,
            actor="tw.ban-tdkt.can-bo-1",
        ),
        items=[
            DecisionItem(workflow_id="a", accepted=True),
            DecisionItem(workflow_id="b", accepted=False, reason="not yet approved"),
            DecisionItem(workflow_id="c", accepted=True),
        ],
    )
    entry = decision_entry(summary)
    assert (entry.workflow_id, entry.seq, entry.action, entry.actor, entry.channel) == (
        "decision-1520/QĐ-TTg",
        1,
        "DECISION_ISSUED",
        "tw.ban-tdkt.can-bo-1",
        Channel.CLI,
    )
    assert entry.outcome == "2 accepted, 1 refused"
    assert (entry.details["accepted"], entry.details["refused"]) == (["a", "c"], ["b"])
