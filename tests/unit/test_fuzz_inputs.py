"""Property-based fuzzing of every kind of input before it reaches a workflow: nomination files, meeting
results, central decisions, holds, objections, resubmissions, decisions (and the reference each nomination
records), ballot-session list closings, chair actions, ballot credential requests, anonymous sealed ballots
and counting committee hand-ins. Each input is either
accepted as valid or refused with errors that name a field; nothing else may happen (no crash, no
half-valid object)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from domain.ballot_messages import AnonymousBallot, ChairAction, CredentialRequest, ListClosing, ShareHandIn
from domain.calendar import VIETNAM_TZ
from domain.catalog import policy_set
from domain.decisions import DecisionRef, DecisionRequest
from domain.errors import InvalidInput, field_errors_from
from domain.messages import (
    CentralApproval,
    ConsultationRequest,
    HoldRequest,
    MeetingResult,
    ObjectionFiling,
    ObjectionResolution,
    ReasonedAction,
    Resubmission,
)
from domain.nomination import Nomination, parse_nomination
from tests.factories import nomination_data

POLICY = policy_set("2026.01")
TODAY = datetime.now(VIETNAM_TZ).date()  # the factory proposes for the current year
FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
COUNTS: dict[str, int] = {}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=60),
    st.sampled_from(["", " ", "2026-12-20", "BTP", "FOR", "∞", "<script>", "'; DROP TABLE nominations;--", "Đ" * 400]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12,
)


def mutated(valid: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid payload with some fields dropped, replaced by junk, or joined by unknown ones."""
    keys = sorted(valid)
    return st.builds(
        lambda drop, replace, extra: {k: v for k, v in valid.items() if k not in drop} | replace | extra,
        st.sets(st.sampled_from(keys), max_size=2),
        st.dictionaries(st.sampled_from(keys), json_values, max_size=3),
        st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=1),
    )


OUTCOMES: dict[str, set[str]] = {}  # kind -> {"accepted", "refused"} seen


def judge(model: type[BaseModel], raw: Any, kind: str) -> None:
    COUNTS[kind] = COUNTS.get(kind, 0) + 1
    try:
        parsed = model.model_validate(raw)
    except ValidationError as exc:
        errors = field_errors_from(exc)
        assert errors and all(e.field and e.message for e in errors)
        OUTCOMES.setdefault(kind, set()).add("refused")
        return
    OUTCOMES.setdefault(kind, set()).add("accepted")
    # Accepted: it survives a JSON round trip unchanged, as it will through Temporal's converter.
    assert model.model_validate_json(parsed.model_dump_json()) == parsed


@FUZZ
@given(st.one_of(mutated(nomination_data("HUAN_CHUONG_LD_3")), json_values))
def test_nomination_files(raw: Any) -> None:
    COUNTS["nomination"] = COUNTS.get("nomination", 0) + 1
    try:
        nomination = parse_nomination(raw, POLICY, today=TODAY)
    except InvalidInput as refused:
        assert refused.errors and all(e.field and e.message for e in refused.errors)
        return
    assert isinstance(nomination, Nomination)
    assert Nomination.model_validate_json(nomination.model_dump_json()) == nomination


VALID_PAYLOADS: dict[str, tuple[type[BaseModel], dict[str, Any]]] = {
    "meeting_result": (
        MeetingResult,
        {"actor": "btp.hd.thu-ky", "tally": {"members": 9, "present": 8, "votes_for": 7, "votes_against": 1}},
    ),
    "central_approval": (
        CentralApproval,
        {"actor": "tw.ban-tdkt.can-bo-1", "decision_no": "1/QĐ-TTg", "decision_date": "2026-12-20"},
    ),
    "reasoned_action": (ReasonedAction, {"actor": "btp.vutckt.le-thi-hoa", "reason": "Đơn vị rút đề nghị"}),
    "hold": (HoldRequest, {"actor": "btp.hd.thu-ky", "ground": "COMPLAINT", "reason": "Có đơn khiếu nại"}),
    "objection": (ObjectionFiling, {"filed_by": "Người dân", "contact": "0900", "reason": "Phản ánh thành tích"}),
    "objection_resolution": (
        ObjectionResolution,
        {"actor": "btp.hd.thu-ky", "objection_id": 1, "decision": "DISMISS", "reason": "Không có cơ sở"},
    ),
    "consultation": (
        ConsultationRequest,
        {"actor": "tw.ban-tdkt.can-bo-1", "agencies": ["Bộ Nội vụ"], "reason": "Lấy ý kiến"},
    ),
    "decision": (
        DecisionRequest,
        {
            "decision": {
                "decision_no": "1/QĐ-TTg",
                "decision_date": "2026-12-20",
                "authority": "PRIME_MINISTER",
                "actor": "tw.ban-tdkt.can-bo-1",
            },
            "workflow_ids": ["nomination-2026-BTP-1/TTr"],
        },
    ),
    "resubmission": (Resubmission, {"actor": "btp.vutckt.le-thi-hoa", "nomination": nomination_data("BANG_KHEN_TTG")}),
    "decision_ref": (
        DecisionRef,
        {
            "decision_no": "1520/QĐ-TTg",
            "decision_date": "2026-12-20",
            "authority": "PRIME_MINISTER",
            "actor": "tw.ban-tdkt.can-bo-1",
        },
    ),
    "list_closing": (ListClosing, {"actor": "btp.hd.thu-ky"}),
    "chair_action": (
        ChairAction,
        {"actor": "btp.hd.chu-tich", "new_deadline": "2026-12-20T17:00:00+07:00", "reason": "Hoãn họp"},
    ),
    "credential_request": (
        CredentialRequest,
        {"voter": "btp.hd.uy-vien-1", "round": 1, "blinded_token": "QUJDRA==", "blinded_class": "QUJDRA=="},
    ),
    # An anonymous ballot: no voter anywhere, a token and its signature, the sealed content.
    "ballot": (
        AnonymousBallot,
        {
            "round": 1,
            "token": "QUJDRA==",
            "token_signature": "QUJDRA==",
            "ballot": {
                "key_id": "0" * 32,
                "wrapped_key": "QUJDRA==",
                "sealed_choices": {"wf": "QUJDRA=="},
                "sealed_credential": "QUJDRA==",
            },
        },
    ),
    "share_hand_in": (ShareHandIn, {"member": "btp.hd.uy-vien-1", "index": 1, "share": "QUJDRA=="}),
}


@FUZZ
@given(st.sampled_from(sorted(VALID_PAYLOADS)).flatmap(lambda k: st.tuples(st.just(k), mutated(VALID_PAYLOADS[k][1]))))
def test_every_update_payload(case: tuple[str, dict[str, Any]]) -> None:
    kind, raw = case
    judge(VALID_PAYLOADS[kind][0], raw, kind)


NESTED: dict[str, tuple[str, dict[str, Any]]] = {
    # A payload whose inner object is mutated as well: the field that holds it, and the inner valid object.
    "resubmission": ("nomination", nomination_data("BANG_KHEN_TTG")),
    "decision": ("decision", VALID_PAYLOADS["decision"][1]["decision"]),
}


@FUZZ
@given(
    st.sampled_from(sorted(NESTED)).flatmap(
        lambda k: st.tuples(
            st.just(k),
            mutated(VALID_PAYLOADS[k][1]),
            st.one_of(mutated(NESTED[k][1]), json_values),
        )
    )
)
def test_nested_payloads(case: tuple[str, dict[str, Any], Any]) -> None:
    kind, outer, inner = case
    judge(VALID_PAYLOADS[kind][0], outer | {NESTED[kind][0]: inner}, f"{kind}:nested")


@FUZZ
@given(json_values)
def test_arbitrary_json_as_any_payload(raw: Any) -> None:
    for kind, (model, _) in VALID_PAYLOADS.items():
        judge(model, raw, f"{kind}:arbitrary")


def test_the_fuzzers_ran_thousands_of_cases() -> None:
    """Runs last in this module (pytest keeps file order): report and check how many cases were tried."""
    total = sum(COUNTS.values())
    print(f"\nfuzz cases tried: {total} ({json.dumps(COUNTS, sort_keys=True)})")
    assert total >= 3000
    # Mutating a valid payload both keeps some valid and breaks some: each kind was judged both ways.
    for kind in [*VALID_PAYLOADS, *(f"{k}:nested" for k in NESTED)]:
        assert OUTCOMES.get(kind) == {"accepted", "refused"}, (kind, OUTCOMES.get(kind))
