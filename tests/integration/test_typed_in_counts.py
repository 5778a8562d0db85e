"""Typed-in meeting results must fit the body, end to end on the dev server and PostgreSQL: the CLI (exit 2) and
the API (422) refuse counts that cannot be the body's, naming the field, and nothing is recorded (no update in
history, no stage_events row, the stage unchanged); the roster's true counts are still accepted. The workflow
refuses the same counts when a client sends them unchecked (tests/integration/test_refusals.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from domain.stages import Stage
from tests.asgi import call
from tests.factories import nomination_data
from tests.integration.helpers import (
    BLOC_HEAD,
    BLOC_SEATS,
    COUNCIL_SEATS,
    PROPOSER,
    SECRETARY,
    passing_tally,
    stage_events,
    start,
    wait_for_stage,
)
from tests.integration.test_api import RING, assert_problem, token
from tests.integration.test_cli import cli, cli_env, write

pytestmark = pytest.mark.integration
__all__ = ["cli_env"]  # the CLI's environment fixture, shared with test_cli

# The case as reported: a council of a few voting seats typed in as a meeting of a hundred, recorded PASSED.
HUNDRED = ["--members", "100", "--present", "100", "--for", "90", "--against", "10"]
SEATED_HINT = "starter.py roster load"


def counts(members: int, present: int, votes_for: int, votes_against: int, written: int = 0) -> list[str]:
    return [
        *("--members", str(members), "--present", str(present)),
        *("--for", str(votes_for), "--against", str(votes_against), "--written", str(written)),
    ]


async def update_events(client: Client, workflow_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    kinds = {
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
    }
    return sum(1 for e in history.events if e.event_type in kinds)


async def assert_nothing_recorded(
    client: Client, db_engine: AsyncEngine, workflow_id: str, stage: Stage, *, results: int = 0, updates: int = 0
) -> None:
    """Still in `stage`, with `results` recorded meeting results and `updates` accepted updates (those before the
    refusals), the same transitions in Temporal as in PostgreSQL's stage_events."""
    current = await wait_for_stage(client, workflow_id, stage)
    assert [e["to_stage"] for e in await stage_events(db_engine, workflow_id)] == [
        t.to_stage.value for t in current.transitions
    ]
    voted = [t for t in current.transitions if t.action in ("RECORD_COUNCIL_RESULT", "RECORD_BLOC_RESULT")]
    assert len(voted) == results, current.transitions
    assert await update_events(client, workflow_id) == updates


# ---- the CLI -----------------------------------------------------------------------------------------------


async def test_the_cli_refuses_a_meeting_larger_than_the_council_and_records_nothing(
    cli_env: dict[str, str], client: Client, db_engine: AsyncEngine, tmp_path: Path
):
    started = await cli(cli_env, "nominate", write(tmp_path, "n.json", nomination_data("BANG_KHEN_BO")))
    assert started.returncode == 0, started.stderr
    workflow_id = started.stdout.strip().splitlines()[-1]
    await wait_for_stage(client, workflow_id, Stage.COUNCIL_REVIEW)
    events_before = await stage_events(db_engine, workflow_id)

    hundred = await cli(cli_env, "council-result", workflow_id, "--actor", SECRETARY, *HUNDRED)
    assert hundred.returncode == 2, (hundred.stdout, hundred.stderr)
    assert "tally.members:" in hundred.stderr
    assert f"the council of BTP (Hội đồng TĐKT) has {COUNCIL_SEATS} voting members on the roster" in hundred.stderr
    assert f"exactly {COUNCIL_SEATS}, not 100" in hundred.stderr and SEATED_HINT in hundred.stderr
    assert "nothing was recorded" in hundred.stderr
    assert hundred.stdout == ""

    # Smaller than the council, more present than members, more votes than ballots: each named.
    seats = COUNCIL_SEATS
    for wrong, field in (
        (counts(seats - 1, seats - 1, seats - 1, 0), "tally.members"),
        (counts(seats, seats + 1, seats, 0), "tally.present"),
        (counts(seats, seats - 1, seats - 1, 0, written=2), "tally.written"),
        (counts(seats, seats - 1, seats, 0), "tally.votes_for"),
        (counts(seats, seats, seats - 1, 2), "tally.votes_against"),
    ):
        refused = await cli(cli_env, "council-result", workflow_id, "--actor", SECRETARY, *wrong)
        assert refused.returncode == 2 and f"  {field}:" in refused.stderr, (wrong, refused.stderr)

    assert await stage_events(db_engine, workflow_id) == events_before
    await assert_nothing_recorded(client, db_engine, workflow_id, Stage.COUNCIL_REVIEW)

    # The roster's true count, with an absent member's written ballot, is accepted and recorded.
    right = counts(seats, seats - 1, seats, 0, written=1)
    passed = await cli(cli_env, "council-result", workflow_id, "--actor", SECRETARY, *right, "--minutes", "BB-07")
    assert passed.returncode == 0, passed.stderr
    assert json.loads(passed.stdout)["stage"] == "AWAITING_DECISION"
    recorded = (await stage_events(db_engine, workflow_id))[-1]
    assert recorded["action"] == "RECORD_COUNCIL_RESULT" and recorded["to_stage"] == "AWAITING_DECISION"
    assert (recorded["tally"]["members"], recorded["tally"]["written"]) == (seats, 1)


async def test_the_cli_refuses_a_bloc_count_other_than_the_blocs_representatives(
    cli_env: dict[str, str], client: Client, task_queue: str, db_engine: AsyncEngine
):
    handle = await start(client, task_queue, "CO_THI_DUA_CP")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    council = await cli(
        cli_env,
        "council-result",
        handle.id,
        "--actor",
        SECRETARY,
        *counts(COUNCIL_SEATS, COUNCIL_SEATS, COUNCIL_SEATS, 0),
    )
    assert council.returncode == 0, council.stderr
    await wait_for_stage(client, handle.id, Stage.BLOC_VOTE)
    before = await stage_events(db_engine, handle.id)

    nine = await cli(cli_env, "bloc-result", handle.id, "--actor", BLOC_HEAD, *counts(9, 9, 9, 0))
    assert nine.returncode == 2, nine.stderr
    assert "tally.members:" in nine.stderr
    assert f"bloc NOI_CHINH (Khối thi đua) has {BLOC_SEATS} voting members on the roster" in nine.stderr
    assert await stage_events(db_engine, handle.id) == before
    await assert_nothing_recorded(client, db_engine, handle.id, Stage.BLOC_VOTE, results=1, updates=2)

    right = await cli(
        cli_env, "bloc-result", handle.id, "--actor", BLOC_HEAD, *counts(BLOC_SEATS, BLOC_SEATS, BLOC_SEATS, 0)
    )
    assert right.returncode == 0, right.stderr
    assert json.loads(right.stdout)["stage"] == "CENTRAL_REVIEW"


# ---- the API -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(client: Client, task_queue: str, db_engine: AsyncEngine) -> Any:
    from api import create_app

    return create_app(client, keyring=RING, task_queue=task_queue, engine=db_engine)


async def test_the_api_answers_422_naming_the_field_and_records_nothing(
    app: Any, client: Client, task_queue: str, db_engine: AsyncEngine
):
    handle = await start(client, task_queue, "BANG_KHEN_BO")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    url = f"/nominations/{handle.id}/council-result"

    hundred = {"tally": {"members": 100, "present": 100, "votes_for": 90, "votes_against": 10}}
    problem = assert_problem(await call(app, "POST", url, hundred, token(SECRETARY)), 422, "invalid-input")
    [error] = problem["errors"]
    assert error["field"] == "tally.members"
    assert f"has {COUNCIL_SEATS} voting members on the roster" in error["message"]
    assert SEATED_HINT in error["message"]

    seats = COUNCIL_SEATS
    for tally, field in (
        ({"members": seats + 1, "present": seats, "votes_for": seats, "votes_against": 0}, "tally.members"),
        ({"members": seats, "present": seats + 1, "votes_for": seats, "votes_against": 0}, "tally.present"),
        ({"members": seats, "present": seats, "votes_for": seats, "votes_against": 1}, "tally.votes_against"),
    ):
        reply = await call(app, "POST", url, {"tally": tally}, token(SECRETARY))
        assert field in {e["field"] for e in assert_problem(reply, 422, "invalid-input")["errors"]}, (tally, reply)

    await assert_nothing_recorded(client, db_engine, handle.id, Stage.COUNCIL_REVIEW)

    accepted = await call(app, "POST", url, {"tally": passing_tally(), "minutes_ref": "BB-API-07"}, token(SECRETARY))
    assert accepted.status == 200 and accepted.json()["stage"] == "AWAITING_DECISION", accepted


async def test_the_api_checks_a_bloc_result_against_the_blocs_seats(
    app: Any, client: Client, task_queue: str, db_engine: AsyncEngine
):
    handle = await start(client, task_queue, "CO_THI_DUA_CP")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    council = await call(
        app, "POST", f"/nominations/{handle.id}/council-result", {"tally": passing_tally()}, token(SECRETARY)
    )
    assert council.status == 200 and council.json()["stage"] == "BLOC_VOTE", council
    url = f"/nominations/{handle.id}/bloc-result"

    six = {"tally": passing_tally(BLOC_SEATS + 3)}
    problem = assert_problem(await call(app, "POST", url, six, token(BLOC_HEAD)), 422, "invalid-input")
    assert [e["field"] for e in problem["errors"]] == ["tally.members"]
    assert f"bloc NOI_CHINH (Khối thi đua) has {BLOC_SEATS} voting members" in problem["errors"][0]["message"]
    await assert_nothing_recorded(client, db_engine, handle.id, Stage.BLOC_VOTE, results=1, updates=2)

    accepted = await call(app, "POST", url, {"tally": passing_tally(BLOC_SEATS)}, token(BLOC_HEAD))
    assert accepted.status == 200 and accepted.json()["stage"] == "CENTRAL_REVIEW", accepted


async def test_an_unknown_nomination_is_a_404_before_any_count_is_checked(app: Any):
    reply = await call(
        app,
        "POST",
        "/nominations/nomination-2026-BTP-khong-co/council-result",
        {"tally": passing_tally()},
        token(SECRETARY),
    )
    assert "no nomination" in assert_problem(reply, 404, "not-found")["detail"]


async def test_a_proposer_is_still_refused_with_a_409_for_a_fitting_count(app: Any, client: Client, task_queue: str):
    handle = await start(client, task_queue, "BANG_KHEN_BO")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    reply = await call(
        app, "POST", f"/nominations/{handle.id}/council-result", {"tally": passing_tally()}, token(PROPOSER)
    )
    assert "COUNCIL_SECRETARY" in assert_problem(reply, 409, "action-refused")["detail"]
