"""Typed-in meeting results (the paper path of a council meeting or a bloc vote), checked before sending.

The CLI and the API refuse counts that cannot be the body's here, naming the field (exit 2 / HTTP 422), with
the same rule the nomination's validator applies again (`domain.ballots.meeting_count_errors`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from temporalio.client import Client

from client.nominations import ActionRefused, NominationNotFound, describe_execution
from domain.ballots import meeting_count_errors
from domain.errors import InvalidInput
from domain.stages import Stage

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

# The counts a typed-in result carries (domain.voting.Tally's fields).
TALLY_FIELDS = ("members", "present", "votes_for", "votes_against", "written")


async def check_meeting_counts(
    client: Client, engine: AsyncEngine, workflow_id: str, stage: Stage, tally: Mapping[str, int]
) -> None:
    """Refuse counts that do not fit the body voting at `stage` for this nomination's ministry, as the
    database's roster seats it (InvalidInput naming tally.members, tally.present, ...). A nomination that
    never existed is NominationNotFound, one that has ended ActionRefused, as when acting on it."""
    from store.roster import read_snapshot

    execution = await describe_execution(client, workflow_id)
    if execution is None:
        raise NominationNotFound(f"no nomination with workflow id {workflow_id}")
    if not execution.running:
        raise ActionRefused(execution.ended_message())
    ministry = execution.ministry
    if ministry is None:
        return  # not a nomination: the update itself is refused
    try:
        snapshot = await read_snapshot(engine, ministry)
    except KeyError:
        return  # the ministry left the roster: the workflow's own roster decides
    counts = {name: int(tally[name]) for name in TALLY_FIELDS if name in tally}
    problems = meeting_count_errors(snapshot, stage, **counts)
    if problems:
        raise InvalidInput([p.model_copy(update={"message": p.message + "; nothing was recorded"}) for p in problems])
