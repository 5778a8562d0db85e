"""Fuzzed payloads against live workflows: every one is refused with a message or accepted; no workflow
task fails, nothing gets stuck, and PostgreSQL still agrees with the workflow afterwards.

A payload the worker cannot decode must be refused with pydantic's message naming the bad field; one it
decodes is either accepted or refused by the validator with a ValueError of its own (never an error of
Python's, such as a TypeError from comparing datetimes); anything accepted must be a valid payload.
Covered: the nomination's updates, withdraw and reject (each accepted one ends a nomination, so a fresh one
takes its place), and the ballot-session workflow's updates (on a database and worker of its own, so its
list picks up no other test's nominations)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError

from client.ballots import open_session, session_status, voter_class
from client.nominations import ActionRefused, act, refusal_reason, status
from domain.ballot_messages import (
    AnonymousBallot,
    ChairAction,
    CredentialRequest,
    ListClosing,
    SessionPhase,
    SessionStart,
    ShareHandIn,
)
from domain.ballots import BallotSessionKind, Choice
from domain.errors import field_errors_from
from domain.messages import HoldRequest, MeetingResult, ReasonedAction
from domain.stages import Stage
from security.credentials import prepare_request
from store.db import create_engine
from tests.integration.fresh_database import fresh_database
from tests.integration.helpers import CENTRAL, PROPOSER, SECRETARY, assert_row_agrees, meeting, start, wait_for_stage
from tests.integration.test_ballot_sessions import anonymous_ballot, take_credential
from tests.unit.test_fuzz_inputs import VALID_PAYLOADS, json_values, mutated

pytestmark = pytest.mark.integration

# The nomination's updates and the payload each one takes (withdraw/reject are left out: a valid one
# would end the workflow early and stop the fuzzing from reaching the other handlers).
UPDATES = {
    "record_council_result": "meeting_result",
    "record_bloc_result": "meeting_result",
    "approve": "central_approval",
    "return_dossier": "reasoned_action",
    "resubmit": "resubmission",
    "hold": "hold",
    "release": "reasoned_action",
    "file_objection": "objection",
    "resolve_objection": "objection_resolution",
    "request_consultation": "consultation",
    "record_decision": "decision_ref",
}
CASES = 400


def collect_cases(count: int, valid: dict[str, dict[str, Any]] | None = None) -> list[tuple[str, Any]]:
    """`count` (update, payload) cases: a valid payload of the update mutated, or arbitrary JSON."""
    bases = valid or {name: VALID_PAYLOADS[kind][1] for name, kind in UPDATES.items()}
    cases: list[tuple[str, Any]] = []

    @settings(max_examples=count, deadline=None, database=None)
    @given(
        st.sampled_from(sorted(bases)).flatmap(
            lambda name: st.tuples(st.just(name), st.one_of(mutated(bases[name]), json_values))
        )
    )
    def gather(case: tuple[str, Any]) -> None:
        cases.append(case)

    gather()
    return cases


def as_sent(payload: Any) -> bytes:
    """The JSON the worker receives for `payload` (the client's own converter, before encryption)."""
    return pydantic_data_converter.payload_converter.to_payloads([payload])[0].data


def judge_outcome(model: type[BaseModel], payload: Any, err: BaseException | None) -> bool:
    """Check one live outcome against what the payload is; True when it was accepted."""
    try:
        model.model_validate_json(as_sent(payload))
        decodes, fields = True, set()
    except ValidationError as exc:
        decodes, fields = False, {e.field.split(".")[0] for e in field_errors_from(exc)}
    if err is None:
        assert decodes, f"accepted an invalid {model.__name__}: {payload!r}"
        return True
    assert isinstance(err, WorkflowUpdateFailedError), repr(err)
    reason = refusal_reason(err)
    if not decodes:
        assert reason.startswith("invalid payload: "), reason
        named = fields - {"(root)"}
        assert any(f in reason for f in named) if named else model.__name__ in reason, (fields, reason)
        return False
    cause = err.cause
    assert isinstance(cause, ApplicationError) and cause.type in ("ValueError", "ActionRefused"), (
        f"{model.__name__} {payload!r} refused with {type(cause).__name__}/{getattr(cause, 'type', None)}: {reason}"
    )
    assert reason.strip() and not reason.startswith("invalid payload"), reason
    return False


async def send(handle: WorkflowHandle, update: str, payload: Any) -> BaseException | None:
    """Send the payload raw: the client does no validation of its own, the workflow must."""
    try:
        await handle.execute_update(update, payload)
    except Exception as err:
        return err
    return None


async def assert_no_task_failed(handle: WorkflowHandle) -> None:
    history = await handle.fetch_history()
    failed = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    assert not failed, f"bad input failed a workflow task of {handle.id}"


async def test_fuzzed_updates_never_fail_or_stick_a_nomination(client: Client, task_queue: str, db_engine: AsyncEngine):
    handle = await start(client, task_queue, "BANG_KHEN_TTG")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    cases = collect_cases(CASES)
    outcomes = {"accepted": 0, "refused": 0}
    for update, payload in cases:
        err = await send(client.get_workflow_handle(handle.id), update, payload)
        accepted = judge_outcome(VALID_PAYLOADS[UPDATES[update]][0], payload, err)
        outcomes["accepted" if accepted else "refused"] += 1
    print(f"\nfuzzed updates: {len(cases)} cases, {outcomes}")
    assert sum(outcomes.values()) == len(cases) >= CASES // 2

    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    await assert_no_task_failed(handle)
    await assert_row_agrees(db_engine, client, handle.id)
    # Still alive and answering: a valid action is accepted or refused for a reason, never hangs.
    try:
        await act(
            client,
            handle.id,
            "record_council_result",
            VALID_PAYLOADS["meeting_result"][0].model_validate(VALID_PAYLOADS["meeting_result"][1]),
        )
    except ActionRefused as refused:
        assert str(refused)


# ---- withdraw and reject: each accepted one ends its nomination, a fresh one takes its place ----------------

ENDING_UPDATES = {
    "withdraw": ({"actor": PROPOSER, "reason": "Đơn vị rút đề nghị"}, Stage.WITHDRAWN),
    "reject": ({"actor": CENTRAL, "reason": "Thành tích chưa tiêu biểu"}, Stage.REJECTED),
}
ENDING_CASES = 80


async def in_central_review(client: Client, task_queue: str) -> WorkflowHandle:
    """A nomination both withdraw (its unit) and reject (the central board) may end."""
    handle = await start(client, task_queue, "BANG_KHEN_TTG")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    await act(client, handle.id, "record_council_result", meeting(SECRETARY))
    await wait_for_stage(client, handle.id, Stage.CENTRAL_REVIEW)
    return handle


async def test_fuzzed_withdrawals_and_rejections_end_a_nomination_only_when_valid(
    client: Client, task_queue: str, db_engine: AsyncEngine
):
    cases = collect_cases(ENDING_CASES, {name: base for name, (base, _) in ENDING_UPDATES.items()})
    # The valid payloads themselves as well, so each update is seen ending a nomination.
    cases += [(name, base) for name, (base, _) in ENDING_UPDATES.items()]
    handle = await in_central_review(client, task_queue)
    used = [handle]
    ended = {name: 0 for name in ENDING_UPDATES}
    for update, payload in cases:
        err = await send(handle, update, payload)
        if not judge_outcome(ReasonedAction, payload, err):
            continue
        ended[update] += 1
        final = await assert_row_agrees(db_engine, client, handle.id)
        assert final.stage == ENDING_UPDATES[update][1] and final.transitions[-1].reason == payload["reason"].strip()
        await handle.result()  # the run closes a moment after the action that ended it
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
        for other, (base, _) in ENDING_UPDATES.items():  # an ended nomination takes neither
            assert await send(handle, other, base) is not None, other
        handle = await in_central_review(client, task_queue)
        used.append(handle)
    print(f"\nfuzzed withdraw/reject: {len(cases)} cases, ended {ended} across {len(used)} nominations")
    assert all(ended.values()), ended
    for each in used:
        await assert_no_task_failed(each)
        await assert_row_agrees(db_engine, client, each.id)
    assert (await status(client, handle.id)).stage == Stage.CENTRAL_REVIEW  # the last one is untouched


# ---- the ballot-session workflow's updates ------------------------------------------------------------

CHAIR = "btp.hd.chu-tich"
VOTER = "btp.hd.uy-vien-1"
SESSION_UPDATES: dict[str, type[BaseModel]] = {
    "close_list": ListClosing,
    "request_credential": CredentialRequest,
    "cast_ballot": AnonymousBallot,
    "hand_in_share": ShareHandIn,
    "close_voting": ChairAction,
    "extend": ChairAction,
    "cancel": ChairAction,
}
SESSION_CASES = 160


@pytest.fixture(scope="module")
async def own_worker(client: Client) -> AsyncIterator[tuple[str, AsyncEngine]]:
    """A worker on a task queue and a fresh database of its own: no other test's nominations or sessions."""
    from worker import build_worker

    async with fresh_database("tdkt_fuzz") as url:
        engine = create_engine(url)
        queue = f"fuzz-{uuid.uuid4().hex[:8]}"
        worker = build_worker(client, engine, queue)
        task = asyncio.create_task(worker.run())
        try:
            yield queue, engine
        finally:
            await worker.shutdown()
            await asyncio.gather(task, return_exceptions=True)
            await engine.dispose()


async def session_row(engine: AsyncEngine, session_id: str) -> dict[str, Any]:
    async with engine.connect() as conn:
        row = (
            (await conn.execute(sa.text("SELECT * FROM ballot_sessions WHERE session_id = :s"), {"s": session_id}))
            .mappings()
            .one()
        )
    return dict(row)


async def session_with_a_candidate(client: Client, queue: str) -> tuple[WorkflowHandle, WorkflowHandle]:
    """(nomination, its COLLECTING council session) on the worker's own queue."""
    nomination = await start(client, queue, "BANG_KHEN_BO")
    await wait_for_stage(client, nomination.id, Stage.COUNCIL_REVIEW)
    session = await open_session(
        client,
        queue,
        SessionStart(
            kind=BallotSessionKind.COUNCIL,
            scope="BTP",
            meeting_ref=f"FUZZ-{uuid.uuid4().hex[:6]}",
            opened_by=SECRETARY,
            deadline=datetime.now(UTC) + timedelta(hours=2),
            policy_version="2026.01",
            reminder_before_seconds=0,
        ),
    )
    for _ in range(100):
        opened = await session_status(client, session.id)
        if nomination.id in [c.workflow_id for c in opened.candidates]:
            break
        await asyncio.sleep(0.1)
    assert nomination.id in [c.workflow_id for c in opened.candidates]
    return nomination, session


async def test_fuzzed_ballot_session_updates_never_fail_or_stick_a_session(
    client: Client, own_worker: tuple[str, AsyncEngine]
):
    queue, engine = own_worker
    nomination, session = await session_with_a_candidate(client, queue)
    chair = {"actor": CHAIR, "new_deadline": (datetime.now(UTC) + timedelta(hours=3)).isoformat(), "reason": "Họp"}
    # Before the list closes no ballot key exists: the credential, ballot and share payloads are well-shaped
    # placeholders (every one refused: the session is COLLECTING).
    shaped = {kind: VALID_PAYLOADS[kind][1] for kind in ("credential_request", "ballot", "share_hand_in")}
    bases = {
        "close_list": {"actor": SECRETARY},
        "request_credential": shaped["credential_request"],
        "cast_ballot": shaped["ballot"],
        "hand_in_share": shaped["share_hand_in"],
        "close_voting": chair,
        "extend": chair,
    }
    before = collect_cases(SESSION_CASES // 2, bases)
    started = time.monotonic()
    outcomes: dict[str, list[str]] = {}

    async def run(cases: list[tuple[str, Any]]) -> None:
        for update, payload in cases:
            err = await send(session, update, payload)
            accepted = judge_outcome(SESSION_UPDATES[update], payload, err)
            outcomes.setdefault(update, []).append("accepted" if accepted else "refused")
            assert not (accepted and update in ("cast_ballot", "hand_in_share", "request_credential")), (
                update,
                payload,
            )

    await run([*before, ("close_list", bases["close_list"])])
    # Voting: the voter's real credential and ballot are the bases now; a credential request for the chair
    # (blinded under the session's keys) may be taken once; no share is taken while voting.
    current, credential = await take_credential(client, session.id, VOTER)
    ballot = anonymous_ballot(current, credential, {nomination.id: Choice.FOR}).model_dump(mode="json")
    assert current.keys is not None
    held = await voter_class(client, session.id, CHAIR)
    request, _ = prepare_request(current.keys, session.id, current.round, CHAIR, held.class_id)
    bases |= {"request_credential": request.model_dump(mode="json"), "cast_ballot": ballot}
    edges = [  # deadlines a hand-written client might send
        ("extend", chair | {"new_deadline": "2020-01-01T00:00:00+07:00"}),
        ("extend", chair | {"new_deadline": "9999-12-31T23:59:59+00:00"}),
        ("cast_ballot", ballot),  # valid once
        ("cast_ballot", ballot),  # and final: the token has cast its ballot
        ("extend", chair | {"new_deadline": None}),
        ("cancel", {"actor": CHAIR}),
        ("cancel", {"actor": SECRETARY, "reason": "Hoãn họp"}),
    ]
    cases = [*collect_cases(SESSION_CASES // 2, bases), *edges]
    credentials: set[tuple[str, str]] = set()  # the blinded values of every request the session accepted
    for update, payload in cases:
        err = await send(session, update, payload)
        accepted = judge_outcome(SESSION_UPDATES[update], payload, err)
        outcomes.setdefault(update, []).append("accepted" if accepted else "refused")
        assert not (accepted and update == "hand_in_share"), payload  # never while VOTING
        if accepted and update == "cast_ballot":
            assert payload["token"] == ballot["token"]  # only the voter's real credential casts
        if accepted and update == "request_credential":
            assert payload["voter"] == CHAIR
            credentials.add((payload["blinded_token"], payload["blinded_class"]))
    print(
        f"\nfuzzed session updates: {len(before) + 1 + len(cases)} cases in {time.monotonic() - started:.1f}s, ", end=""
    )
    print({u: {o: v.count(o) for o in set(v)} for u, v in outcomes.items()})
    assert outcomes["close_list"].count("accepted") == 1  # the list closes once
    assert outcomes["cast_ballot"].count("accepted") == 1  # one ballot per credential, final
    # One credential per voter and round: a request repeated with the very same blinded values is answered again
    # with that credential; none with other values is accepted.
    assert len(credentials) <= 1
    voting = await session_status(client, session.id)
    assert voting.phase == SessionPhase.VOTING, voting.phase
    assert VOTER in voting.voted and set(voting.voted) <= {VOTER, CHAIR} and voting.ballots_cast == 1
    listed = [c.workflow_id for c in voting.candidates]
    assert nomination.id in listed

    # Cancel, fuzzed until one is valid: the session ends cancelled; nothing after is accepted.
    cancels = [*collect_cases(40, {"cancel": chair}), ("cancel", chair)]
    accepted_cancels = 0
    for update, payload in cancels:
        if judge_outcome(ChairAction, payload, await send(session, update, payload)):
            accepted_cancels += 1
            break
    assert accepted_cancels == 1
    assert (await session.result()).phase == SessionPhase.CANCELLED
    for update, payload in (("extend", chair), ("cast_ballot", ballot), ("cancel", chair)):
        late = await send(session, update, payload)
        assert late is not None, update
    row = await session_row(engine, session.id)
    assert (row["phase"], row["candidates"]) == (SessionPhase.CANCELLED.value, len(listed))
    await assert_no_task_failed(session)
    await assert_no_task_failed(nomination)
    await assert_row_agrees(engine, client, nomination.id)
    assert (await status(client, nomination.id)).stage == Stage.COUNCIL_REVIEW


async def test_a_null_payload_is_refused_with_a_clear_error(client: Client, task_queue: str, db_engine: AsyncEngine):
    handle = await start(client, task_queue, "BANG_KHEN_TTG")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    outcomes = {update: await send(handle, update, None) for update in ("withdraw", "record_council_result", "hold")}
    # Nothing is accepted, no workflow task fails, nothing is written.
    assert all(err is not None for err in outcomes.values())
    await assert_no_task_failed(handle)
    current = await assert_row_agrees(db_engine, client, handle.id)
    assert [t.action for t in current.transitions] == ["SUBMIT"]
    # The refusal says the payload is invalid, as for any other undecodable payload.
    models: dict[str, type[BaseModel]] = {
        "withdraw": ReasonedAction,
        "record_council_result": MeetingResult,
        "hold": HoldRequest,
    }
    for update, err in outcomes.items():
        judge_outcome(models[update], None, err)


async def test_an_extension_without_a_time_zone_is_refused_with_a_clear_error(
    client: Client, own_worker: tuple[str, AsyncEngine]
):
    queue, _ = own_worker
    _, session = await session_with_a_candidate(client, queue)
    assert judge_outcome(ListClosing, {"actor": SECRETARY}, await send(session, "close_list", {"actor": SECRETARY}))
    naive = {"actor": CHAIR, "new_deadline": (datetime.now() + timedelta(hours=5)).isoformat(), "reason": "Gia hạn"}
    err = await send(session, "extend", naive)
    assert err is not None and "new_deadline" in refusal_reason(err), err  # type: ignore[arg-type]
    await assert_no_task_failed(session)
    assert (await session_status(client, session.id)).phase == SessionPhase.VOTING
    judge_outcome(ChairAction, naive, err)
