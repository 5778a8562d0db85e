"""An action on a nomination that has ended says so, with its final stage, and is refused (CLI exit 4, HTTP 409);
one on a nomination that never existed is not found (exit 5, 404). Servers word an update to a closed workflow
differently (the time-skipping server answered "update ... not found", which read as "no nomination"): the
client asks the workflow itself."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from client.nominations import ActionRefused, NominationNotFound, act, status
from domain.messages import ReasonedAction
from domain.stages import Stage
from tests.asgi import call
from tests.integration.helpers import (
    CENTRAL,
    PROPOSER,
    SECRETARY,
    meeting,
    passing_tally,
    stage_events,
    start,
    wait_for_stage,
)
from tests.integration.test_api import RING, assert_problem, token
from tests.integration.test_cli import cli, cli_env
from tests.integration.test_timers import move_clock_to, wait_stage

pytestmark = pytest.mark.integration
__all__ = ["cli_env"]  # the CLI's environment fixture, shared with test_cli

WITHDRAWN = "has ended (WITHDRAWN: Đơn vị rút đề nghị); no action is possible"
UNKNOWN_ID = "nomination-2026-BTP-khong-ton-tai/TTr-BTP"


async def withdrawn_nomination(client: Client, task_queue: str) -> str:
    """A nomination its unit withdrew in the council: its workflow has completed."""
    handle = await start(client, task_queue, "BANG_KHEN_BO")
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    await act(client, handle.id, "withdraw", ReasonedAction(actor=PROPOSER, reason="Đơn vị rút đề nghị"))
    assert (await handle.result()).stage == Stage.WITHDRAWN
    return handle.id


async def test_the_cli_says_a_withdrawn_nomination_has_ended_and_an_unknown_one_is_not_found(
    cli_env: dict[str, str], client: Client, task_queue: str, db_engine: AsyncEngine
):
    workflow_id = await withdrawn_nomination(client, task_queue)
    events = await stage_events(db_engine, workflow_id)

    again = await cli(cli_env, "withdraw", workflow_id, "--actor", PROPOSER, "--reason", "Rút lần nữa")
    assert again.returncode == 4, again.stderr
    assert f"refused: {workflow_id} {WITHDRAWN}" in again.stderr
    council = await cli(
        cli_env,
        "council-result",
        workflow_id,
        "--actor",
        SECRETARY,
        "--members",
        "3",
        "--present",
        "3",
        "--for",
        "3",
        "--against",
        "0",
    )
    assert council.returncode == 4 and WITHDRAWN in council.stderr, council.stderr
    assert await stage_events(db_engine, workflow_id) == events  # nothing recorded

    unknown = await cli(cli_env, "withdraw", UNKNOWN_ID, "--actor", PROPOSER, "--reason", "Không có hồ sơ này")
    assert unknown.returncode == 5 and f"no nomination with workflow id {UNKNOWN_ID}" in unknown.stderr
    assert "has ended" not in unknown.stderr


@pytest.fixture(scope="module")
def app(client: Client, task_queue: str, db_engine: AsyncEngine) -> Any:
    from api import create_app

    return create_app(client, keyring=RING, task_queue=task_queue, engine=db_engine)


async def test_the_api_answers_409_for_an_ended_nomination_and_404_for_an_unknown_one(
    app: Any, client: Client, task_queue: str
):
    workflow_id = await withdrawn_nomination(client, task_queue)
    again = await call(app, "POST", f"/nominations/{workflow_id}/withdraw", {"reason": "Rút lần nữa"}, token(PROPOSER))
    assert WITHDRAWN in assert_problem(again, 409, "action-refused")["detail"]
    result = await call(
        app, "POST", f"/nominations/{workflow_id}/council-result", {"tally": passing_tally()}, token(SECRETARY)
    )
    assert WITHDRAWN in assert_problem(result, 409, "action-refused")["detail"]

    unknown = await call(app, "POST", f"/nominations/{UNKNOWN_ID}/withdraw", {"reason": "Không có"}, token(PROPOSER))
    assert f"no nomination with workflow id {UNKNOWN_ID}" in assert_problem(unknown, 404, "not-found")["detail"]


async def test_a_lapsed_nomination_says_it_has_lapsed_on_the_time_skipping_server(
    skipping_env: WorkflowEnvironment, own_engine: AsyncEngine
):
    """The case as reported: withdrawing a LAPSED nomination through the client answered "no nomination"."""
    from worker import build_worker

    client = skipping_env.client
    queue = f"skip-{uuid.uuid4().hex[:8]}"
    # Monday 1 March 2027, 09:00 in Hanoi: the factory's award year (this year) is still one the policy takes.
    await move_clock_to(skipping_env, datetime(2027, 3, 1, 2, 0, tzinfo=UTC))
    async with build_worker(client, own_engine, queue):
        handle = await start(client, queue, "BANG_KHEN_TTG")
        await wait_stage(client, handle.id, Stage.COUNCIL_REVIEW)
        await act(client, handle.id, "record_council_result", meeting(SECRETARY))
        await act(client, handle.id, "return_dossier", ReasonedAction(actor=CENTRAL, reason="Bổ sung xác nhận"))
        returned = await status(client, handle.id)
        assert returned.stage == Stage.RETURNED and returned.due_at is not None
        await move_clock_to(skipping_env, returned.due_at + timedelta(minutes=1))
        await wait_stage(client, handle.id, Stage.LAPSED)
        assert (await handle.result()).stage == Stage.LAPSED

        with pytest.raises(ActionRefused) as refused:
            await act(client, handle.id, "withdraw", ReasonedAction(actor=PROPOSER, reason="Đơn vị rút đề nghị"))
        assert str(refused.value) == f"{handle.id} has ended (LAPSED: Quá hạn bổ sung hồ sơ); no action is possible"
        assert (await status(client, handle.id)).stage == Stage.LAPSED

        with pytest.raises(NominationNotFound, match="no nomination with workflow id"):
            await act(client, UNKNOWN_ID, "withdraw", ReasonedAction(actor=PROPOSER, reason="Không có hồ sơ này"))
        with pytest.raises(NominationNotFound):
            await status(client, UNKNOWN_ID)
