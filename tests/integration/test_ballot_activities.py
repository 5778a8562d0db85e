"""The ballot session's activities against the session's PostgreSQL (and the migration on SQLite), run
through Temporal's ActivityEnvironment; offering a candidate signals a real workflow on the dev server. The
session's keys are made, used and destroyed here as the workflow has them made: a committee of members whose
counting keys this module makes and enrolls."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from cryptography.hazmat.primitives import serialization
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs
from temporalio import workflow
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.ballots import BallotActivities, open_signing_key
from activities.persistence import PersistenceActivities
from client.ballots import enroll_counting_key
from domain.ballot_messages import (
    JOIN_LIST_SIGNAL,
    AnonymousBallot,
    CountRequest,
    CountResult,
    KeyShare,
    MinutesEntry,
    Participation,
    SessionKeys,
    SessionMinutes,
    SessionPhase,
    SessionRow,
)
from domain.ballots import (
    BallotSessionKind,
    Candidate,
    Choice,
    ConflictRule,
    Electorate,
    Voter,
    council_outcomes,
    eligible_members,
)
from domain.catalog import policy_set
from domain.committee import conflict_classes
from domain.nomination import Nomination, workflow_id_for
from domain.notices import NotificationDraft
from domain.records import NominationRow, StageEventRow, TransitionRecord
from domain.stages import Stage
from domain.voting import Tally
from security import blind
from security.codec import load_keyring
from security.committee import decrypt_share, generate_counting_key, share_commitment
from security.credentials import VoterCredential, finish, prepare_request
from security.sealing import (
    b64,
    class_message,
    generate_private_key,
    public_key_info,
    receipt_of,
    seal_ballot,
    token_message,
)
from store.ballots import claim_for_session
from store.db import create_engine
from store.migrate import alembic_config, upgrade_to_head
from store.schema import (
    ballot_list_members,
    ballot_minutes,
    ballot_participation,
    ballot_session_secrets,
    ballot_sessions,
    counting_shares,
    notifications,
)
from tests.factories import POLICY_VERSION, nomination_data

pytestmark = pytest.mark.integration

HANOI = timezone(timedelta(hours=7))
POLICY = policy_set(POLICY_VERSION)
CHOICE_WORD = re.compile(r"\b(FOR|AGAINST|ABSTAIN)\b")
BALLOT_TABLES = {
    "ballot_sessions",
    "ballot_participation",
    "ballot_minutes",
    "ballot_list_members",
    "counting_keys",
    "ballot_session_secrets",
    "counting_shares",
}
SCOPE = f"T{uuid.uuid4().hex[:8].upper()}"  # this module's sessions stay out of the real BTP council's way


# ---- helpers -----------------------------------------------------------------------------------------


def activity_env(session_id: str | None = None) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        workflow_id=session_id or f"ballot-test-{uuid.uuid4().hex[:8]}",
        workflow_run_id=str(uuid.uuid4()),
    )
    return env


def retried(env: ActivityEnvironment) -> ActivityEnvironment:
    env.info = dataclasses.replace(env.info, attempt=env.info.attempt + 1)
    return env


def fresh_scope() -> str:
    """A scope no other test uses, so COLLECTING sessions elsewhere in the database do not interfere."""
    return f"T{uuid.uuid4().hex[:8].upper()}"


def session_row(
    session_id: str, scope: str, phase: SessionPhase = SessionPhase.COLLECTING, **changes: Any
) -> SessionRow:
    values: dict[str, Any] = {
        "session_id": session_id,
        "kind": BallotSessionKind.COUNCIL,
        "scope": scope,
        "meeting_ref": "HD-2026-01",
        "phase": phase,
        "opened_by": "btp.hd.thu-ky",
        "deadline": datetime(2026, 3, 10, 17, 0, tzinfo=HANOI),
        "policy_version": POLICY_VERSION,
    }
    values.update(changes)
    return SessionRow(**values)


def candidate(workflow_id: str, nominee_actor_id: str | None = None, organisation: str = "BTP") -> Candidate:
    return Candidate(
        workflow_id=workflow_id,
        award_form="BANG_KHEN_BO",
        nominee_name=f"Ứng viên {workflow_id[-4:]}",
        nominee_actor_id=nominee_actor_id,
        proposing_organisation=organisation,
    )


def transition(nomination: Nomination, seq: int, to_stage: Stage, bloc: str | None = "NOI_CHINH") -> TransitionRecord:
    return TransitionRecord(
        nomination=NominationRow(
            workflow_id=workflow_id_for(nomination),
            nomination=nomination,
            bloc=bloc,
            policy_version=POLICY_VERSION,
            stage=to_stage,
            returned_from=None,
        ),
        event=StageEventRow(
            seq=seq,
            action=f"TEST_STEP_{seq}",
            actor="btp.hd.thu-ky",
            from_stage=None,
            to_stage=to_stage,
            occurred_at=datetime(2026, 3, 2, 9, 30, tzinfo=HANOI) + timedelta(hours=seq),
        ),
        notifications=[],
    )


async def rows(engine: AsyncEngine, table: sa.Table, session_id: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(sa.select(table).where(table.c.session_id == session_id))
        return [dict(r) for r in result.mappings()]


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def ballots(own_engine: AsyncEngine, client: Client) -> BallotActivities:
    return BallotActivities(own_engine, client)


# ---- the session register ------------------------------------------------------------------------------


async def test_registering_twice_keeps_one_row_and_a_later_phase_moves_it(
    ballots: BallotActivities, own_engine: AsyncEngine
) -> None:
    session_id = f"ballot-council-{uuid.uuid4().hex[:8]}"
    scope = fresh_scope()
    env = activity_env(session_id)
    row = session_row(session_id, scope)
    await env.run(ballots.register_ballot_session, row)
    await retried(env).run(ballots.register_ballot_session, row)
    [first] = await rows(own_engine, ballot_sessions, session_id)
    assert (first["kind"], first["scope"], first["phase"]) == ("COUNCIL", scope, "COLLECTING")
    assert (first["meeting_ref"], first["opened_by"], first["policy_version"]) == (
        "HD-2026-01",
        "btp.hd.thu-ky",
        POLICY_VERSION,
    )
    assert aware(first["deadline"]) == row.deadline
    assert (first["candidates"], first["electorate_size"], first["voted"]) == (0, 0, 0)

    later = session_row(
        session_id,
        scope,
        SessionPhase.VOTING,
        candidates=3,
        electorate_size=5,
        voted=2,
        deadline=datetime(2026, 3, 12, 17, 0, tzinfo=HANOI),
    )
    await env.run(ballots.register_ballot_session, later)
    [second] = await rows(own_engine, ballot_sessions, session_id)
    assert (second["phase"], second["candidates"], second["electorate_size"], second["voted"]) == ("VOTING", 3, 5, 2)
    assert aware(second["deadline"]) == later.deadline
    assert second["created_at"] == first["created_at"]
    assert aware(second["updated_at"]) >= aware(first["updated_at"])


# ---- the list ------------------------------------------------------------------------------------------


async def test_waiting_candidates_are_the_nominations_at_the_stage_in_scope(
    ballots: BallotActivities, own_engine: AsyncEngine
) -> None:
    # Made-up ministries and bloc, so these nominations never join another test's BTP or NOI_CHINH session.
    ministry, other_ministry, bloc = fresh_scope(), fresh_scope(), fresh_scope()
    persistence = PersistenceActivities(own_engine)
    env = activity_env()

    async def at(stage: Stage, in_ministry: str = ministry, seq: int = 1, **overrides: Any) -> str:
        nomination = Nomination.model_validate(nomination_data(ministry=in_ministry, **overrides))
        await env.run(persistence.record_transition, transition(nomination, seq, stage, bloc))
        return workflow_id_for(nomination)

    member = "btp.hd.uy-vien-1"
    person = {"kind": "INDIVIDUAL", "full_name": "Ngô Thanh Bình", "position": "Vụ trưởng", "unit": "Vụ Tổ chức cán bộ"}
    council_here = [
        await at(Stage.COUNCIL_REVIEW),
        await at(Stage.COUNCIL_REVIEW, nominee={**person, "actor_id": member}),
        await at(Stage.COUNCIL_REVIEW, award_form="TAP_THE_LDXS"),
    ]
    noticed = await at(Stage.PUBLIC_NOTICE)
    council_there = await at(Stage.COUNCIL_REVIEW, other_ministry)
    bloc_here = await at(Stage.BLOC_VOTE, award_form="CO_THI_DUA_CP")
    bloc_there = await at(Stage.BLOC_VOTE, other_ministry, award_form="CO_THI_DUA_CP")
    # One that was in council review and has since moved on to the bloc.
    moved_nomination = Nomination.model_validate(nomination_data(ministry=ministry))
    await env.run(persistence.record_transition, transition(moved_nomination, 1, Stage.COUNCIL_REVIEW, bloc))
    await env.run(persistence.record_transition, transition(moved_nomination, 2, Stage.BLOC_VOTE, bloc))
    moved = workflow_id_for(moved_nomination)

    council = await env.run(ballots.waiting_candidates, "COUNCIL", ministry)
    assert [c.workflow_id for c in council] == sorted(council_here)
    by_id = {c.workflow_id: c for c in council}
    plain, self_nominated, collective = (by_id[wf] for wf in council_here)
    assert plain == Candidate(
        workflow_id=council_here[0],
        award_form="BANG_KHEN_BO",
        nominee_name="Nguyễn Thị Ánh Tuyết",
        nominee_actor_id=None,
        proposing_organisation=ministry,
        proposer_actor_id="btp.vutckt.le-thi-hoa",  # the proposer does not vote on it
    )
    assert (self_nominated.nominee_actor_id, self_nominated.nominee_name) == (member, "Ngô Thanh Bình")
    assert collective.award_form == "TAP_THE_LDXS"
    assert collective.nominee_name.startswith("Phòng Phổ biến giáo dục pháp luật")  # the factory's, with its tag
    assert collective.nominee_actor_id is None
    assert noticed not in by_id

    assert [c.workflow_id for c in await env.run(ballots.waiting_candidates, "COUNCIL", other_ministry)] == [
        council_there
    ]

    in_bloc = await env.run(ballots.waiting_candidates, "BLOC", bloc)
    assert [c.workflow_id for c in in_bloc] == sorted([bloc_here, bloc_there, moved])
    assert {c.workflow_id: c.proposing_organisation for c in in_bloc}[bloc_there] == other_ministry
    assert await env.run(ballots.waiting_candidates, "BLOC", ministry) == []

    with pytest.raises(ApplicationError) as raised:
        await env.run(ballots.waiting_candidates, "SENATE", ministry)
    assert (raised.value.type, raised.value.non_retryable) == ("UnknownKind", True)


@workflow.defn(name="BallotActivitiesTestOfferProbe")
class OfferProbe:
    """Stands in for a ballot session: lists the candidates offered to it (the session's `join_list` signal)
    until its list is closed, then notes them as refused (the session lets go of them and tells them); finishes
    when told."""

    def __init__(self) -> None:
        self._offers: list[Candidate] = []
        self._refused: list[Candidate] = []
        self._closed = False
        self._done = False

    @workflow.run
    async def run(self) -> list[Candidate]:
        await workflow.wait_condition(lambda: self._done)
        return self._offers

    @workflow.signal(name=JOIN_LIST_SIGNAL)
    def join_list(self, offered: Candidate) -> None:
        if self._closed:
            self._refused.append(offered)
        elif offered not in self._offers:  # a nomination is listed once, however often it is offered
            self._offers.append(offered)

    @workflow.query
    def refused(self) -> list[Candidate]:
        return list(self._refused)

    @workflow.signal
    def close(self) -> None:
        self._closed = True

    @workflow.signal
    def finish(self) -> None:
        self._done = True

    @workflow.query
    def offers(self) -> list[Candidate]:
        return list(self._offers)


async def holder_of(engine: AsyncEngine, workflow_id: str) -> str | None:
    async with engine.connect() as conn:
        found = await conn.scalar(
            sa.select(ballot_list_members.c.session_id).where(ballot_list_members.c.workflow_id == workflow_id)
        )
    return None if found is None else str(found)


async def test_an_offer_lists_the_nomination_on_one_collecting_session_of_the_scope(
    ballots: BallotActivities, client: Client, own_engine: AsyncEngine
) -> None:
    scope = fresh_scope()
    queue = f"offer-probe-{uuid.uuid4().hex[:8]}"
    env = activity_env()
    offered = candidate(f"nomination-2026-BTP-{uuid.uuid4().hex[:6]}")
    assert await env.run(ballots.offer_to_open_session, "COUNCIL", scope, offered) is None  # no session at all
    assert await holder_of(own_engine, offered.workflow_id) is None

    async with Worker(client, task_queue=queue, workflows=[OfferProbe], workflow_runner=UnsandboxedWorkflowRunner()):
        older_id, newer_id, voting_id, bloc_id = (f"ballot-probe-{uuid.uuid4().hex[:10]}" for _ in range(4))
        probes = {
            wf: await client.start_workflow(OfferProbe.run, id=wf, task_queue=queue)
            for wf in (older_id, newer_id, voting_id, bloc_id)
        }
        await env.run(ballots.register_ballot_session, session_row(older_id, scope))
        await env.run(ballots.register_ballot_session, session_row(newer_id, scope))
        await env.run(ballots.register_ballot_session, session_row(voting_id, scope, SessionPhase.VOTING))
        await env.run(ballots.register_ballot_session, session_row(bloc_id, scope, kind=BallotSessionKind.BLOC))

        # The newest collecting session of the kind and scope lists it, and the register says it holds it.
        assert await env.run(ballots.offer_to_open_session, "COUNCIL", scope, offered) == newer_id
        assert await probes[newer_id].query(OfferProbe.offers) == [offered]
        assert await holder_of(own_engine, offered.workflow_id) == newer_id
        # Offered again (a retry, or to the bloc's session): the list that holds it answers; nothing is listed
        # twice and no second session lists it.
        assert await retried(env).run(ballots.offer_to_open_session, "COUNCIL", scope, offered) == newer_id
        assert await env.run(ballots.offer_to_open_session, "BLOC", scope, offered) == newer_id
        assert await probes[bloc_id].query(OfferProbe.offers) == []

        # The newest session closes its list while the register still says COLLECTING: the offer reaches it
        # (it refuses it, lets go of the claim and tells the nomination), and the nomination's next offer,
        # excluding that session, goes to the older session collecting.
        await probes[newer_id].signal(OfferProbe.close)
        second = candidate(f"nomination-2026-BTP-{uuid.uuid4().hex[:6]}")
        assert await env.run(ballots.offer_to_open_session, "COUNCIL", scope, second) == newer_id
        assert await probes[newer_id].query(OfferProbe.refused) == [second]
        assert await env.run(ballots.release_from_list, newer_id, [second.workflow_id], None) == 1
        assert await env.run(ballots.offer_to_open_session, "COUNCIL", scope, second, [newer_id]) == older_id
        assert await probes[older_id].query(OfferProbe.offers) == [second]
        assert await holder_of(own_engine, second.workflow_id) == older_id

        # The session that held a nomination let go of it: it can join another list.
        assert await env.run(ballots.release_from_list, newer_id, [offered.workflow_id], None) == 1
        assert await env.run(ballots.offer_to_open_session, "COUNCIL", scope, offered, [newer_id]) == older_id
        assert await probes[older_id].query(OfferProbe.offers) == [second, offered]

        # A session that ended without letting go (terminated): its claims are void; the register still says
        # COLLECTING for the older one but its workflow has ended, so there is no session to join.
        await probes[older_id].signal(OfferProbe.finish)
        assert await probes[older_id].result() == [second, offered]
        third = candidate(f"nomination-2026-BTP-{uuid.uuid4().hex[:6]}")
        assert await env.run(ballots.offer_to_open_session, "COUNCIL", scope, third, [newer_id]) is None
        assert await holder_of(own_engine, third.workflow_id) is None

        for wf in (newer_id, voting_id, bloc_id):
            await probes[wf].signal(OfferProbe.finish)
        assert await probes[voting_id].result() == []  # a VOTING session is never offered anything
        assert await probes[newer_id].result() == [offered]


async def test_a_session_takes_up_only_the_waiting_nominations_no_other_open_session_holds(
    ballots: BallotActivities, own_engine: AsyncEngine
) -> None:
    ministry = fresh_scope()
    persistence = PersistenceActivities(own_engine)
    env = activity_env()
    waiting = []
    for seq in range(3):
        nomination = Nomination.model_validate(nomination_data(ministry=ministry))
        await env.run(persistence.record_transition, transition(nomination, seq + 1, Stage.COUNCIL_REVIEW))
        waiting.append(workflow_id_for(nomination))
    first, second = (f"ballot-council-{ministry}-{uuid.uuid4().hex[:6]}" for _ in range(2))

    # Two sessions opening at the same moment: each nomination is claimed by exactly one of them.
    taken = await asyncio.gather(
        env.run(ballots.waiting_candidates, "COUNCIL", ministry, first),
        env.run(ballots.waiting_candidates, "COUNCIL", ministry, second),
    )
    by_session = [{c.workflow_id for c in found} for found in taken]
    assert by_session[0] | by_session[1] == set(waiting)
    assert not by_session[0] & by_session[1], "a nomination on two open sessions' lists"
    for wf in waiting:
        assert await holder_of(own_engine, wf) == (first if wf in by_session[0] else second)
    # Taken up again (a retry): the same list, nothing claimed twice.
    again = await retried(env).run(ballots.waiting_candidates, "COUNCIL", ministry, first)
    assert {c.workflow_id for c in again} == by_session[0]

    # The first session closes its list keeping one nomination; the others it held are free, and a third
    # session takes them up.
    kept = sorted(by_session[0])[:1]
    await env.run(ballots.release_from_list, first, None, kept)
    third = f"ballot-council-{ministry}-{uuid.uuid4().hex[:6]}"
    found = await env.run(ballots.waiting_candidates, "COUNCIL", ministry, third)
    assert {c.workflow_id for c in found} == set(waiting) - set(kept) - by_session[1]
    # Everything released when the sessions end.
    for session_id in (first, second, third):
        await env.run(ballots.release_from_list, session_id, None, [])
    assert [await holder_of(own_engine, wf) for wf in waiting] == [None] * 3

    # A claim that landed after its session let go of its list (the session has ended: its register says so)
    # holds nothing: the next session takes the nomination over. An open session's claim stands.
    ended, open_, fourth = (f"ballot-council-{ministry}-{uuid.uuid4().hex[:6]}" for _ in range(3))
    await env.run(ballots.register_ballot_session, session_row(ended, ministry, SessionPhase.CANCELLED))
    await env.run(ballots.register_ballot_session, session_row(open_, ministry, SessionPhase.VOTING))
    async with own_engine.begin() as conn:
        await conn.execute(
            sa.insert(ballot_list_members),
            [
                {"workflow_id": waiting[0], "session_id": ended, "joined_at": datetime.now(UTC)},
                {"workflow_id": waiting[1], "session_id": open_, "joined_at": datetime.now(UTC)},
            ],
        )
    found = await env.run(ballots.waiting_candidates, "COUNCIL", ministry, fourth)
    assert {c.workflow_id for c in found} == {waiting[0], waiting[2]}
    assert [await holder_of(own_engine, wf) for wf in waiting] == [fourth, open_, fourth]


# ---- the electorate and the key ------------------------------------------------------------------------


async def test_snapshot_electorate_of_the_btp_council_and_the_noi_chinh_bloc(ballots: BallotActivities) -> None:
    env = activity_env()
    council = await env.run(ballots.snapshot_electorate, "COUNCIL", "BTP")
    assert council == Electorate(
        voters=(
            Voter(id="btp.hd.chu-tich", organisation="BTP"),
            Voter(id="btp.hd.uy-vien-1", organisation="BTP"),
            Voter(id="btp.hd.uy-vien-2", organisation="BTP"),
        ),
        kind=BallotSessionKind.COUNCIL,
    )
    bloc = await env.run(ballots.snapshot_electorate, "BLOC", "NOI_CHINH")
    assert bloc == Electorate(
        voters=(
            Voter(id="btp.khoi.dai-dien", organisation="BTP"),
            Voter(id="ktnn.khoi.dai-dien", organisation="KTNN"),
            Voter(id="tandtc.khoi.truong", organisation="TANDTC"),
        ),
        kind=BallotSessionKind.BLOC,
    )


@pytest.mark.parametrize(
    ("kind", "scope", "error_type", "mentions"),
    [
        ("COUNCIL", "TTCP", "EmptyElectorate", "COUNCIL_MEMBER"),
        ("COUNCIL", "BKHONGCO", "UnknownScope", "BKHONGCO"),
        ("BLOC", "BTP", "UnknownScope", "bloc 'BTP'"),
        ("SENATE", "BTP", "UnknownKind", "SENATE"),
    ],
)
async def test_snapshot_electorate_refuses_what_cannot_vote(
    ballots: BallotActivities, kind: str, scope: str, error_type: str, mentions: str
) -> None:
    with pytest.raises(ApplicationError) as raised:
        await activity_env().run(ballots.snapshot_electorate, kind, scope)
    assert (raised.value.type, raised.value.non_retryable) == (error_type, True)
    assert mentions in str(raised.value)


# ---- the session's keys, the credentials, counting ------------------------------------------------------

VOTERS = tuple(Voter(id=f"btp.hd.tv-{n}", organisation="BTP") for n in "abcdefgh")
A, B, C, D, E, F, G, H = (v.id for v in VOTERS)
ELECTORATE = Electorate(voters=VOTERS)
COMMITTEE = [A, B, C]
COUNTING_KEYS: dict[str, Any] = {}


def counting_key(member: str) -> Any:
    if member not in COUNTING_KEYS:
        COUNTING_KEYS[member] = generate_counting_key()
    return COUNTING_KEYS[member]


async def enroll_committee(engine: AsyncEngine) -> None:
    for member in COMMITTEE:
        await enroll_counting_key(engine, member, public_key_info(counting_key(member)).public_pem)


def two_candidates() -> list[Candidate]:
    """D is the first candidate's nominee: their class recuses on it."""
    return [
        candidate(f"nomination-2026-BTP-{uuid.uuid4().hex[:6]}-1", nominee_actor_id=D),
        candidate(f"nomination-2026-BTP-{uuid.uuid4().hex[:6]}-2"),
    ]


async def made_keys(ballots: BallotActivities, candidates: list[Candidate]) -> tuple[str, SessionKeys, dict[str, str]]:
    session_id = f"ballot-council-BTP-{uuid.uuid4().hex[:8]}"
    await enroll_committee(ballots._engine)
    classes, voter_class = conflict_classes(ELECTORATE, candidates, ConflictRule.NOMINEE_ONLY)
    keys = await activity_env(session_id).run(ballots.prepare_session_keys, session_id, COMMITTEE, 2, classes)
    return session_id, keys, voter_class


async def credential(
    ballots: BallotActivities, session_id: str, keys: SessionKeys, voter: str, class_id: str
) -> VoterCredential:
    request, pending = prepare_request(keys, session_id, 1, voter, class_id)
    issue = await activity_env(session_id).run(
        ballots.sign_credential, session_id, 1, voter, class_id, request.blinded_token, request.blinded_class
    )
    return finish(pending, issue)


async def handed_in(engine: AsyncEngine, session_id: str, members: list[str]) -> list[KeyShare]:
    """The members' shares as they hand them in: read from the database, decrypted with their own keys."""
    async with engine.connect() as conn:
        found = {
            r.member_id: r.encrypted_share
            for r in await conn.execute(sa.select(counting_shares).where(counting_shares.c.session_id == session_id))
        }
    shares = []
    for member in members:
        index, share = decrypt_share(counting_key(member), found[member])
        shares.append(KeyShare(index=index, share=b64(share)))
    return shares


@dataclasses.dataclass
class Round:
    request: CountRequest
    candidates: list[Candidate]
    took_credential: list[str]
    receipts: dict[str, str]  # whose ballot (known to this test only) -> receipt


async def sealed_session(ballots: BallotActivities) -> Round:
    """A council round of 8 voters and 2 candidates (D is the first candidate's nominee, class k01): A, B and F
    cast valid ballots; C's sealed choices were swapped between candidates; D chose on the candidate their class
    recuses on; E claims a class whose key did not sign their credential; H sealed to another key; G took no
    credential. The count gets them in receipt order, with two of the committee's three shares."""
    candidates = two_candidates()
    c1, c2 = (c.workflow_id for c in candidates)
    session_id, keys, voter_class = await made_keys(ballots, candidates)
    plans: dict[str, dict[str, Choice | None]] = {
        A: {c1: Choice.FOR, c2: Choice.FOR},
        B: {c1: Choice.AGAINST, c2: Choice.ABSTAIN},
        C: {c1: Choice.FOR, c2: Choice.AGAINST},
        D: {c1: Choice.FOR, c2: Choice.FOR},
        E: {c1: Choice.FOR, c2: Choice.FOR},
        F: {c1: Choice.FOR, c2: Choice.AGAINST},
        H: {c1: Choice.FOR, c2: Choice.FOR},
    }
    ballots_cast: list[AnonymousBallot] = []
    receipts: dict[str, str] = {}
    for voter, plan in plans.items():
        held = await credential(ballots, session_id, keys, voter, voter_class[voter])
        sealing, class_id = keys.sealing, held.class_id
        if voter == H:
            sealing = public_key_info(generate_private_key())
        if voter == E:
            class_id = "k01"  # E holds k00: the k00 signature does not verify under k01's key
        sealed = seal_ballot(sealing, session_id, 1, held.token, plan, class_id, held.class_signature)
        if voter == C:
            sealed = sealed.model_copy(
                update={"sealed_choices": {c1: sealed.sealed_choices[c2], c2: sealed.sealed_choices[c1]}}
            )
        ballots_cast.append(
            AnonymousBallot(round=1, token=b64(held.token), token_signature=b64(held.token_signature), ballot=sealed)
        )
        receipts[voter] = receipt_of(session_id, 1, held.token)
    order = sorted(range(len(ballots_cast)), key=lambda i: list(receipts.values())[i])
    request = CountRequest(
        session_id=session_id,
        round=1,
        ballots=[ballots_cast[i] for i in order],
        shares=await handed_in(ballots._engine, session_id, [A, C]),
        threshold=2,
        classes=keys.classes,
        members=eligible_members(ELECTORATE, candidates, ConflictRule.NOMINEE_ONLY),
    )
    return Round(request=request, candidates=candidates, took_credential=list(plans), receipts=receipts)


async def test_the_session_keys_are_made_once_and_each_share_goes_to_its_member(
    ballots: BallotActivities, own_engine: AsyncEngine
) -> None:
    candidates = two_candidates()
    session_id, keys, voter_class = await made_keys(ballots, candidates)
    assert (keys.committee, keys.threshold, len(keys.commitments)) == (COMMITTEE, 2, 3)
    assert {c.class_id: c.excluded for c in keys.classes} == {"k00": [], "k01": [candidates[0].workflow_id]}
    assert voter_class[D] == "k01" and voter_class[A] == "k00"
    # A retry returns the keys the first attempt stored.
    classes, _ = conflict_classes(ELECTORATE, candidates, ConflictRule.NOMINEE_ONLY)
    again = await retried(activity_env(session_id)).run(ballots.prepare_session_keys, session_id, COMMITTEE, 2, classes)
    assert again == keys
    [secret] = await rows(own_engine, ballot_session_secrets, session_id)
    assert secret["wrapped_sealing_key"] and secret["destroyed_at"] is None
    # The signing keys rest encrypted under the codec key: the row alone is no key.
    assert b"PRIVATE KEY" not in secret["issuer_private"]
    with pytest.raises(ValueError):
        serialization.load_der_private_key(secret["issuer_private"], password=None)
    issuer = open_signing_key(load_keyring(), secret["codec_key_id"], session_id, "issuer", secret["issuer_private"])
    assert public_key_info(issuer) == keys.issuer
    # Each member's share is encrypted to their counting key, and matches the published commitment.
    shares = await rows(own_engine, counting_shares, session_id)
    assert sorted((s["member_id"], s["idx"]) for s in shares) == [(A, 1), (B, 2), (C, 3)]
    for share in shares:
        member = share["member_id"]
        assert share["member_key_id"] == public_key_info(counting_key(member)).key_id
        index, plain = decrypt_share(counting_key(member), share["encrypted_share"])
        assert share_commitment(session_id, member, index, plain) == keys.commitments[index - 1]
    # Nothing of the shares nor the keys in the log.
    with capture_logs() as logs:
        await retried(activity_env(session_id)).run(ballots.prepare_session_keys, session_id, COMMITTEE, 2, classes)
    assert not [e for e in logs if any(s["encrypted_share"] in str(e) for s in shares)]


async def test_a_committee_member_without_a_counting_key_is_refused_by_name(ballots: BallotActivities) -> None:
    await enroll_committee(ballots._engine)
    session_id = f"ballot-council-BTP-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ApplicationError) as raised:
        await activity_env(session_id).run(ballots.prepare_session_keys, session_id, [A, B, G], 2, {"k00": []})
    assert (raised.value.type, raised.value.non_retryable) == ("CommitteeKeyMissing", True)
    assert f"'{G}' chưa đăng ký khóa kiểm phiếu" in str(raised.value)
    assert A not in str(raised.value)


async def test_a_credential_is_blind_signed_under_the_issuer_and_the_class_keys(ballots: BallotActivities) -> None:
    candidates = two_candidates()
    session_id, keys, voter_class = await made_keys(ballots, candidates)
    held = await credential(ballots, session_id, keys, D, voter_class[D])
    assert held.class_id == "k01" and held.excluded == [candidates[0].workflow_id]
    k01 = next(c for c in keys.classes if c.class_id == "k01")
    assert blind.verify(keys.issuer.public_pem, token_message(session_id, 1, held.token), held.token_signature)
    assert blind.verify(k01.key.public_pem, class_message(session_id, 1, held.token, "k01"), held.class_signature)
    request, _ = prepare_request(keys, session_id, 1, A, "k00")
    with pytest.raises(ApplicationError) as raised:
        await activity_env(session_id).run(
            ballots.sign_credential, session_id, 1, A, "k07", request.blinded_token, request.blinded_class
        )
    assert (raised.value.type, raised.value.non_retryable) == ("UnknownClass", True)


async def test_a_runoff_signs_with_keys_of_its_own_so_a_round_one_credential_for_round_two_is_worthless(
    ballots: BallotActivities,
) -> None:
    candidates = two_candidates()
    session_id, keys, voter_class = await made_keys(ballots, candidates)
    # In round 1 a voter's client hides a round-2 token behind its blinded request: the signer cannot see it.
    ahead, pending = prepare_request(keys, session_id, 2, A, voter_class[A])
    issue = await activity_env(session_id).run(
        ballots.sign_credential, session_id, 1, A, voter_class[A], ahead.blinded_token, ahead.blinded_class
    )
    smuggled = finish(pending, issue.model_copy(update={"round": 2}))
    classes, _ = conflict_classes(ELECTORATE, candidates[:1], ConflictRule.NOMINEE_ONLY)
    renewed = await activity_env(session_id).run(ballots.round_signing_keys, session_id, 2, classes)
    again = await retried(activity_env(session_id)).run(ballots.round_signing_keys, session_id, 2, classes)
    assert again == renewed and renewed.round == 2 and renewed.sealing == keys.sealing
    assert renewed.issuer.key_id != keys.issuer.key_id
    message = token_message(session_id, 2, smuggled.token)
    assert blind.verify(keys.issuer.public_pem, message, smuggled.token_signature)  # valid under round 1's key
    assert not blind.verify(renewed.issuer.public_pem, message, smuggled.token_signature)  # worthless in round 2
    request, _ = prepare_request(renewed, session_id, 2, B, "k00")
    with pytest.raises(ApplicationError, match="signing keys are for round 2, not round 1"):
        await activity_env(session_id).run(
            ballots.sign_credential, session_id, 1, B, "k00", request.blinded_token, request.blinded_class
        )


async def test_open_and_count_tallies_the_valid_ballots_and_lists_the_spoiled(ballots: BallotActivities) -> None:
    round_ = await sealed_session(ballots)
    first, second = round_.candidates
    env = activity_env(round_.request.session_id)
    with capture_logs() as logs:
        result = await env.run(ballots.open_and_count, round_.request)
    assert result == CountResult(
        tallies={
            # D is conflicted on the first: 7 members; A, B, F counted.
            first.workflow_id: Tally(members=7, present=3, votes_for=2, votes_against=1),
            second.workflow_id: Tally(members=8, present=3, votes_for=1, votes_against=1),
        },
        spoiled=sorted(round_.receipts[v] for v in (C, D, E, H)),
    )
    assert result.tallies[second.workflow_id].abstaining == 1
    assert not CHOICE_WORD.search(result.model_dump_json())
    logged = json.dumps(logs, default=str, ensure_ascii=False)
    assert not CHOICE_WORD.search(logged)
    assert not [r for r in round_.receipts.values() if r.rpartition(":")[2] in logged]  # no receipt in the log
    assert not [v.id for v in VOTERS if v.id in logged]  # nor any voter
    reasons = sorted(entry["reason"] for entry in logs if entry["event"] == "ballot_spoiled")
    assert len(reasons) == 4
    assert any("does not open" in r for r in reasons)  # C's swapped choices
    assert any("excluded for the ballot's conflict class but holds a choice" in r for r in reasons)  # D
    assert any("conflict-class credential does not verify" in r for r in reasons)  # E
    assert any("sealed to key" in r for r in reasons)  # H
    [summary] = [entry for entry in logs if entry["event"] == "ballots_counted"]
    assert (summary["ballots"], summary["counted"], summary["spoiled"]) == (7, 3, 4)

    # A retry counts the same; any two of the three shares do.
    assert await retried(env).run(ballots.open_and_count, round_.request) == result
    other_two = await handed_in(ballots._engine, round_.request.session_id, [B, C])
    assert await env.run(ballots.open_and_count, round_.request.model_copy(update={"shares": other_two})) == result


async def test_a_count_with_fewer_shares_than_the_threshold_does_not_run(ballots: BallotActivities) -> None:
    round_ = await sealed_session(ballots)
    one = round_.request.model_copy(update={"shares": round_.request.shares[:1]})
    with pytest.raises(ApplicationError) as raised:
        await activity_env().run(ballots.open_and_count, one)
    assert (raised.value.type, raised.value.non_retryable) == ("CountFailed", True)
    assert "needs 2 shares, only 1 were handed in" in str(raised.value)
    forged = [KeyShare(index=1, share=b64(b"\x01" * 32)), round_.request.shares[1]]
    with pytest.raises(ApplicationError, match="do not unwrap this session's sealing key"):
        await activity_env().run(ballots.open_and_count, round_.request.model_copy(update={"shares": forged}))


async def test_destroyed_secrets_leave_nothing_to_sign_or_count_with(
    ballots: BallotActivities, own_engine: AsyncEngine
) -> None:
    round_ = await sealed_session(ballots)
    session_id = round_.request.session_id
    env = activity_env(session_id)
    await env.run(ballots.destroy_session_secrets, session_id)
    await retried(env).run(ballots.destroy_session_secrets, session_id)
    [secret] = await rows(own_engine, ballot_session_secrets, session_id)
    assert secret["destroyed_at"] is not None
    assert [secret[c] for c in ("wrapped_sealing_key", "issuer_private", "class_privates", "codec_key_id")] == [
        None
    ] * 4
    assert SessionKeys.model_validate(secret["public_keys"]).committee == COMMITTEE  # the public halves stay
    assert await rows(own_engine, counting_shares, session_id) == []
    for run in (
        env.run(ballots.open_and_count, round_.request),
        env.run(ballots.sign_credential, session_id, 1, G, "k00", "AAAA", "AAAA"),
        env.run(ballots.prepare_session_keys, session_id, COMMITTEE, 2, {"k00": []}),
    ):
        with pytest.raises(ApplicationError) as raised:
            await run
        assert (raised.value.type, raised.value.non_retryable) == ("SessionSecretsDestroyed", True)


# ---- the minutes --------------------------------------------------------------------------------------


def minutes_for(round_: Round, counted: CountResult) -> SessionMinutes:
    candidates = round_.candidates
    outcomes = council_outcomes(counted.tallies, candidates, lambda c: POLICY.council_policy(c.award_form))
    voted_at = datetime(2026, 3, 10, 10, 0, tzinfo=HANOI)
    return SessionMinutes(
        session_id=round_.request.session_id,
        kind=BallotSessionKind.COUNCIL,
        scope=SCOPE,
        meeting_ref="HD-2026-01",
        round=round_.request.round,
        policy_version=POLICY_VERSION,
        closed_at=datetime(2026, 3, 10, 17, 0, tzinfo=HANOI),
        electorate_size=ELECTORATE.size,
        entries=[
            MinutesEntry(
                candidate=c,
                tally=counted.tallies[c.workflow_id],
                result=outcomes[c.workflow_id].result,
                reason_vi=outcomes[c.workflow_id].reason_vi,
            )
            for c in candidates
        ],
        participation=[
            Participation(voter_id=voter, voted_at=voted_at + timedelta(minutes=i))
            for i, voter in enumerate(round_.took_credential)
        ],
        spoiled=len(counted.spoiled),
        ballots_cast=len(round_.request.ballots),
    )


async def record_a_counted_session(ballots: BallotActivities) -> tuple[SessionMinutes, ActivityEnvironment]:
    round_ = await sealed_session(ballots)
    env = activity_env(round_.request.session_id)
    await env.run(
        ballots.register_ballot_session,
        session_row(round_.request.session_id, SCOPE, SessionPhase.VOTING, candidates=2, electorate_size=8, voted=7),
    )
    counted = await env.run(ballots.open_and_count, round_.request)
    minutes = minutes_for(round_, counted)
    await env.run(ballots.record_ballot_minutes, minutes)
    return minutes, env


async def test_recording_the_minutes_twice_writes_each_row_once(
    ballots: BallotActivities, own_engine: AsyncEngine
) -> None:
    minutes, env = await record_a_counted_session(ballots)
    await retried(env).run(ballots.record_ballot_minutes, minutes)

    written = await rows(own_engine, ballot_minutes, minutes.session_id)
    assert sorted((m["round"], m["workflow_id"]) for m in written) == sorted(
        (1, e.candidate.workflow_id) for e in minutes.entries
    )
    entries = {e.candidate.workflow_id: e for e in minutes.entries}
    for m in written:
        entry = entries[m["workflow_id"]]
        tally = entry.tally
        assert (m["members"], m["present"], m["votes_for"], m["votes_against"], m["abstaining"]) == (
            tally.members,
            tally.present,
            tally.votes_for,
            tally.votes_against,
            tally.abstaining,
        )
        assert (m["result"], m["reason_vi"], m["policy_version"]) == (
            entry.result.value,
            entry.reason_vi,
            POLICY_VERSION,
        )
        assert (aware(m["closed_at"]), m["spoiled"], m["ballots_cast"]) == (minutes.closed_at, 4, 7)

    voted = await rows(own_engine, ballot_participation, minutes.session_id)
    # Who took a credential and when; never a receipt.
    assert sorted((p["round"], p["voter_id"], aware(p["voted_at"])) for p in voted) == [
        (1, p.voter_id, p.voted_at) for p in minutes.participation
    ]
    assert all(set(p) == {"session_id", "round", "voter_id", "voted_at"} for p in voted)
    [session] = await rows(own_engine, ballot_sessions, minutes.session_id)
    assert (session["phase"], session["electorate_size"], session["voted"]) == ("CLOSED", 8, 7)


async def test_a_retried_minutes_write_leaves_a_later_phase_alone(
    ballots: BallotActivities, own_engine: AsyncEngine
) -> None:
    minutes, env = await record_a_counted_session(ballots)
    # A runoff opens (registered as VOTING), then a late retry of round 1's minutes arrives.
    runoff = session_row(minutes.session_id, SCOPE, SessionPhase.VOTING, candidates=2, electorate_size=8)
    await env.run(ballots.register_ballot_session, runoff)
    await retried(env).run(ballots.record_ballot_minutes, minutes)
    [session] = await rows(own_engine, ballot_sessions, minutes.session_id)
    assert session["phase"] == "VOTING"
    # Round 2's minutes close it.
    round_two = minutes.model_copy(update={"round": 2, "participation": minutes.participation[:2]})
    await env.run(ballots.record_ballot_minutes, round_two)
    [session] = await rows(own_engine, ballot_sessions, minutes.session_id)
    assert (session["phase"], session["voted"]) == ("CLOSED", 2)
    assert len(await rows(own_engine, ballot_minutes, minutes.session_id)) == 2 * len(minutes.entries)
    assert len(await rows(own_engine, ballot_participation, minutes.session_id)) == len(minutes.participation) + 2


async def test_session_notifications_are_written_once_per_party(
    ballots: BallotActivities, own_engine: AsyncEngine
) -> None:
    session_id = f"ballot-council-BTP-{uuid.uuid4().hex[:8]}"
    drafts = [
        NotificationDraft(
            party=f"VOTER:{voter}",
            recipients=(f"{voter}@btp.example.vn",),
            subject="[TĐKT] Mở bỏ phiếu kín",
            body="Phiên bỏ phiếu kín của Hội đồng TĐKT Bộ Tư pháp đã mở.",
        )
        for voter in ("btp.hd.uy-vien-1", "btp.hd.uy-vien-2")
    ]
    env = activity_env(session_id)
    await env.run(ballots.write_session_notifications, session_id, 1, drafts)
    await retried(env).run(ballots.write_session_notifications, session_id, 1, drafts)
    await env.run(ballots.write_session_notifications, session_id, 2, drafts[:1])
    await env.run(ballots.write_session_notifications, session_id, 3, [])
    async with own_engine.connect() as conn:
        written = (
            await conn.execute(
                sa.select(notifications)
                .where(notifications.c.workflow_id == session_id)
                .order_by(notifications.c.seq, notifications.c.party)
            )
        ).mappings()
        found = [(n["seq"], n["party"], n["recipients"], n["status"], n["attempts"]) for n in written]
    assert found == [
        (1, "VOTER:btp.hd.uy-vien-1", ["btp.hd.uy-vien-1@btp.example.vn"], "PENDING", 0),
        (1, "VOTER:btp.hd.uy-vien-2", ["btp.hd.uy-vien-2@btp.example.vn"], "PENDING", 0),
        (2, "VOTER:btp.hd.uy-vien-1", ["btp.hd.uy-vien-1@btp.example.vn"], "PENDING", 0),
    ]


# ---- secrecy at rest -----------------------------------------------------------------------------------


async def test_no_table_holds_a_choice_after_the_minutes_are_recorded(
    ballots: BallotActivities, own_engine: AsyncEngine
) -> None:
    minutes, _ = await record_a_counted_session(ballots)
    assert await rows(own_engine, ballot_minutes, minutes.session_id)  # there is something to look at
    # A list claim of its own: the register of lists is looked at too, whatever other tests left in it.
    await claim_for_session(own_engine, f"nomination-2026-BTP-{uuid.uuid4().hex[:6]}", minutes.session_id)

    def every_text_value(sync: sa.Connection) -> tuple[list[str], list[tuple[str, str, str]]]:
        reflected = sa.MetaData()
        reflected.reflect(bind=sync)
        assert set(reflected.tables) >= BALLOT_TABLES
        columns: list[str] = []
        values: list[tuple[str, str, str]] = []
        for table in reflected.tables.values():
            texts = [
                c for c in table.columns if isinstance(c.type, sa.String | sa.Text | sa.JSON | sa.Enum | sa.LargeBinary)
            ]
            columns += [f"{table.name}.{c.name}" for c in table.columns]
            for column in texts:
                for (value,) in sync.execute(sa.select(column).where(column.is_not(None))):
                    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
                    values.append((table.name, column.name, text))
        return columns, values

    async with own_engine.connect() as conn:
        columns, values = await conn.run_sync(every_text_value)
    assert not [c for c in columns if re.search(r"choice|ballot_value|vote_value", c)]
    assert {t for t, _, _ in values} >= BALLOT_TABLES
    leaks = [(t, c, v) for t, c, v in values if CHOICE_WORD.search(v)]
    assert leaks == []


# ---- the migration on SQLite ---------------------------------------------------------------------------


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ballots.db'}"
    await upgrade_to_head(url)
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_the_ballot_migration_upgrades_and_downgrades_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'migrate.db'}"

    async def state() -> tuple[set[str], str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                names = set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
                version = str(await conn.scalar(sa.text("SELECT version_num FROM alembic_version")))
                if "ballot_sessions" in names:
                    indexes = await conn.run_sync(lambda sync: sa.inspect(sync).get_indexes("ballot_sessions"))
                    assert [i["column_names"] for i in indexes] == [["kind", "scope", "phase"]]
            return names, version
        finally:
            await engine.dispose()

    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    await upgrade_to_head(url)
    names, version = await state()
    assert (names >= BALLOT_TABLES, version) == (True, head)
    await asyncio.to_thread(command.downgrade, alembic_config(url), "0001")
    names, version = await state()
    assert (names & BALLOT_TABLES, version) == (set(), "0001")
    await upgrade_to_head(url)
    assert (await state())[1] == head


async def test_register_and_minutes_are_idempotent_on_sqlite(sqlite_engine: AsyncEngine, client: Client) -> None:
    ballots = BallotActivities(sqlite_engine, client)
    minutes, env = await record_a_counted_session(ballots)
    await retried(env).run(ballots.record_ballot_minutes, minutes)
    await retried(env).run(
        ballots.register_ballot_session,
        session_row(minutes.session_id, SCOPE, SessionPhase.CLOSED, candidates=2, electorate_size=8, voted=7),
    )
    assert len(await rows(sqlite_engine, ballot_sessions, minutes.session_id)) == 1
    assert len(await rows(sqlite_engine, ballot_minutes, minutes.session_id)) == len(minutes.entries)
    assert len(await rows(sqlite_engine, ballot_participation, minutes.session_id)) == len(minutes.participation)
    [session] = await rows(sqlite_engine, ballot_sessions, minutes.session_id)
    assert session["phase"] == "CLOSED"
