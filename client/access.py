"""Reads follow the roster, in the client layer: the reader's scope from the database roster (the one
`starter.py roster load` wrote and the workflows read) and the rule of domain/access.py applied to what the
API, the CLI and the inbox read. Temporal's queries cannot know who is asking, so every client that shows a
person something goes through here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from client import ballots as ballot_ops
from client import nominations as nomination_ops
from domain.access import (
    ReadScope,
    SessionView,
    bloc_vote_forms,
    may_read_nomination,
    may_read_session,
    ministry_in_workflow_id,
    nomination_refusal,
    nothing_readable_error,
    read_scope,
    reads_whole_ministry,
    session_refusal,
    session_view,
)
from domain.ballot_messages import SessionStatus
from domain.catalog import PolicySet, policy_sets
from domain.decisions import DecisionItem, DecisionSummary
from domain.messages import NominationStatus
from domain.roster import Actor, Ministry
from store.roster import read_actor
from store.schema import ministries, nominations


class ReadRefused(Exception):
    """The reader may not read this (or anything): the API answers 403, the CLI exits 4."""


async def reader_on_roster(engine: AsyncEngine, actor_id: str) -> tuple[Actor | None, ReadScope]:
    """The reader as the database roster has them (None: unknown) and what they may read."""
    actor = await read_actor(engine, actor_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(ministries.c.code, ministries.c.name, ministries.c.bloc_code))).all()
    known = [Ministry(code=r.code, name=r.name, bloc=r.bloc_code) for r in rows]
    return actor, read_scope(actor_id, actor, known)


async def reader_scope(engine: AsyncEngine, actor_id: str) -> ReadScope:
    """The reader's scope as the database roster has them (an actor it does not know reads nothing)."""
    return (await reader_on_roster(engine, actor_id))[1]


async def checked_scope(engine: AsyncEngine, actor_id: str) -> ReadScope:
    """reader_scope, refusing (ReadRefused naming the actor) one who may read nothing at all."""
    scope = await reader_scope(engine, actor_id)
    refusal = nothing_readable_error(scope)
    if refusal is not None:
        raise ReadRefused(refusal)
    return scope


def _policy(version: str | None) -> PolicySet | None:
    return policy_sets().get(version) if version else None


# ---- nominations -------------------------------------------------------------------------------------------


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _in(values: Iterable[str]) -> str:
    return "(" + ", ".join(_quoted(v) for v in sorted(values)) + ")"


def visibility_scope(scope: ReadScope) -> str | None:
    """The clause of a Temporal visibility query that keeps to the reader's nominations (None: every one).

    A bloc reader's clause uses the bloc each nomination recorded (search attribute `Bloc`) and the forms that
    go through a bloc vote in any policy version, and the bloc whose own proposal it is (`OriginBloc`)."""
    if scope.everything:
        return None
    clauses = []
    if scope.ministries:
        clauses.append(f"Ministry IN {_in(scope.ministries)}")
    forms = bloc_vote_forms()
    if scope.blocs and forms:
        clauses.append(f"(Bloc IN {_in(scope.blocs)} AND AwardForm IN {_in(forms)})")
    if scope.blocs:  # the blocs' own proposals, whatever the form (search attribute `OriginBloc`)
        clauses.append(f"OriginBloc IN {_in(scope.blocs)}")
    if not clauses:  # reads nothing: a clause no nomination meets
        return "WorkflowId = ''"
    return "(" + " OR ".join(clauses) + ")"


def ministry_filter_error(scope: ReadScope, ministry: str) -> str | None:
    """A list filtered to a ministry of which the reader may read nothing is refused, naming it."""
    if scope.everything or ministry in scope.ministries or ministry in scope.bloc_ministries:
        return None
    return f"actor {scope.actor_id!r} may not read nominations of {ministry}"


async def nomination_page(
    client: Client,
    scope: ReadScope,
    *,
    stage: str | None = None,
    ministry: str | None = None,
    year: int | None = None,
    award_form: str | None = None,
    page_size: int = 100,
    page_token: bytes | None = None,
) -> tuple[list[dict[str, Any]], bytes | None]:
    """One page of the reader's nominations (Temporal's visibility, newest first) and the next page's token."""
    query = nomination_ops.visibility_query(stage, ministry, year, award_form)
    narrowed = visibility_scope(scope)
    if narrowed is not None:
        query = f"{query} AND {narrowed}"
    listing = client.list_workflows(query, page_size=page_size, next_page_token=page_token)
    await listing.fetch_next_page()
    rows = [await nomination_ops.nomination_row(wf) for wf in listing.current_page or []]
    return rows, listing.next_page_token or None


async def list_nominations(
    client: Client,
    scope: ReadScope,
    *,
    stage: str | None = None,
    ministry: str | None = None,
    year: int | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Every nomination the reader may read (up to `limit`), filtered as given."""
    query = nomination_ops.visibility_query(stage, ministry, year)
    narrowed = visibility_scope(scope)
    if narrowed is not None:
        query = f"{query} AND {narrowed}"
    return [await nomination_ops.nomination_row(wf) async for wf in client.list_workflows(query, limit=limit)]


def may_read_status(scope: ReadScope, status: NominationStatus) -> bool:
    policy = _policy(status.policy_version)
    return may_read_nomination(scope, status.ministry, status.bloc, status.award_form, policy, status.origin_bloc)


async def nomination_status(client: Client, scope: ReadScope, workflow_id: str) -> NominationStatus:
    """The nomination's status if the reader may read it. ReadRefused when they may not — and also when it
    does not exist but the reader may not read the whole of the ministry its id names, so a refusal never
    tells such a reader whether it exists; NominationNotFound only to a reader who may read all of it."""
    try:
        status = await nomination_ops.status(client, workflow_id)
    except nomination_ops.NominationNotFound:
        ministry = ministry_in_workflow_id(workflow_id)
        if ministry is not None and reads_whole_ministry(scope, ministry):
            raise
        raise ReadRefused(nomination_refusal(scope, workflow_id)) from None
    if not may_read_status(scope, status):
        raise ReadRefused(nomination_refusal(scope, workflow_id))
    return status


# ---- ballot sessions ---------------------------------------------------------------------------------------


async def session_status(client: Client, scope: ReadScope, session_id: str) -> SessionView:
    """The session as this reader may see it (voter list and participation redacted by domain.access);
    ReadRefused when they may not read it. A session that does not exist is NominationNotFound (its id names
    nothing but a kind, a scope and a meeting reference)."""
    status = await ballot_ops.session_status(client, session_id)
    return readable_session(scope, status)


def readable_session(scope: ReadScope, status: SessionStatus) -> SessionView:
    if not may_read_session(scope, status.kind, status.scope):
        raise ReadRefused(session_refusal(scope, status.session_id))
    return session_view(status, scope)


# ---- decisions and the permanent record --------------------------------------------------------------------


async def readable_workflow_ids(
    engine: AsyncEngine, scope: ReadScope, workflow_ids: Sequence[str], ministries_named: dict[str, str | None]
) -> set[str]:
    """Which of these nominations the reader may read, by the register (ministry, recorded bloc, award form,
    policy version). One the register does not hold (a decision naming an unknown id) is readable only by a
    reader of every nomination of the ministry it names."""
    if scope.everything:
        return set(workflow_ids)
    found: dict[str, Any] = {}
    wanted = list(dict.fromkeys(workflow_ids))
    async with engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            query = sa.select(
                nominations.c.workflow_id,
                nominations.c.ministry,
                nominations.c.bloc,
                nominations.c.award_form,
                nominations.c.policy_version,
                nominations.c.origin_bloc,
            ).where(nominations.c.workflow_id.in_(chunk))
            found |= {r.workflow_id: r for r in (await conn.execute(query)).all()}
    readable = set()
    for workflow_id in wanted:
        row = found.get(workflow_id)
        if row is not None:
            policy = _policy(row.policy_version)
            if may_read_nomination(scope, row.ministry, row.bloc, row.award_form, policy, row.origin_bloc):
                readable.add(workflow_id)
            continue
        ministry = ministries_named.get(workflow_id) or ministry_in_workflow_id(workflow_id)
        if ministry is not None and reads_whole_ministry(scope, ministry):
            readable.add(workflow_id)
    return readable


async def readable_items(engine: AsyncEngine, scope: ReadScope, items: Sequence[DecisionItem]) -> list[DecisionItem]:
    readable = await readable_workflow_ids(
        engine, scope, [i.workflow_id for i in items], {i.workflow_id: i.ministry for i in items}
    )
    return [i for i in items if i.workflow_id in readable]


async def decision_summary(engine: AsyncEngine, scope: ReadScope, summary: DecisionSummary) -> DecisionSummary:
    """The decision with only the rows the reader may read (the decision's number, date and authority are the
    signed act itself and stay)."""
    if scope.everything:
        return summary
    return summary.model_copy(update={"items": await readable_items(engine, scope, summary.items)})


def register_scope(scope: ReadScope) -> sa.ColumnElement[bool] | None:
    """The reader's rows of the `nominations` register (None: every row), as domain.access states it: their
    ministries, their blocs' candidates (the bloc recorded, else the roster's bloc of the ministry) and their
    blocs' own proposals (`origin_bloc`)."""
    if scope.everything:
        return None
    clauses: list[sa.ColumnElement[bool]] = []
    if scope.ministries:
        clauses.append(nominations.c.ministry.in_(sorted(scope.ministries)))
    # The register knows each nomination's policy version: its own route decides.
    by_version = [
        sa.and_(nominations.c.policy_version == version, nominations.c.award_form.in_(sorted(forms)))
        for version, policy in sorted(policy_sets().items())
        if (forms := bloc_vote_forms(policy))
    ]
    if scope.blocs and by_version:
        in_bloc = sa.or_(
            nominations.c.bloc.in_(sorted(scope.blocs)),
            sa.and_(nominations.c.bloc.is_(None), nominations.c.ministry.in_(sorted(scope.bloc_ministries))),
        )
        clauses.append(sa.and_(in_bloc, sa.or_(*by_version)))
    if scope.blocs:  # the blocs' own proposals, whatever the form
        clauses.append(nominations.c.origin_bloc.in_(sorted(scope.blocs)))
    return sa.or_(*clauses) if clauses else sa.false()
