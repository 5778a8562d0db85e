"""The bloc years in the database: a row per bloc and year (phase, leadership, scoring table, ranking, tiers),
the pledge's signatures, the self-assessments (payload and content hash), the panel's adjustments, the
scorecards, the leadership each year and the rotating flag's handovers; and the move of the roster's
BLOC_HEAD role to the next head's organisation.

Every write is keyed on the bloc year's workflow id and its step: a retried write adds nothing, and the row
never goes back to an earlier step. The audit entry and the notices go in the same transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.bloc.year import BlocRoster
from domain.bloc.year_state import BlocYearWrite
from domain.roster import Actor, Bloc, Ministry, Role, RoleGrant
from domain.stages import Stage
from store.audit import AuditEntry, ChainKeyring, Channel, append_audit
from store.db import dialect_insert
from store.outbox import write_notifications
from store.schema import Timestamp, actor_roles, actors, blocs, metadata, ministries, nominations, roster_revision

bloc_years = sa.Table(
    "bloc_years",
    metadata,
    sa.Column("workflow_id", sa.String(200), primary_key=True),
    sa.Column("bloc", sa.String(24), nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("phase", sa.String(24), nullable=False),
    sa.Column("head", sa.String(24), nullable=False),
    sa.Column("deputy", sa.String(24), nullable=False),
    sa.Column("policy_version", sa.String(32), nullable=True),
    sa.Column("next_head", sa.String(24), nullable=True),
    sa.Column("next_deputy", sa.String(24), nullable=True),
    sa.Column("next_year_id", sa.String(200), nullable=True),
    sa.Column("previous_year_id", sa.String(200), nullable=True),
    sa.Column("standings", sa.JSON, nullable=True),
    sa.Column("tiers", sa.JSON, nullable=False),
    sa.Column("last_step", sa.Integer, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.UniqueConstraint("bloc", "year", name="uq_bloc_years_bloc_year"),
)

bloc_pledge_signatures = sa.Table(
    "bloc_pledge_signatures",
    metadata,
    sa.Column("workflow_id", sa.String(200), primary_key=True),
    sa.Column("member", sa.String(24), primary_key=True),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("signed_at", Timestamp, nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
)

bloc_self_assessments = sa.Table(
    "bloc_self_assessments",
    metadata,
    sa.Column("workflow_id", sa.String(200), primary_key=True),
    sa.Column("member", sa.String(24), primary_key=True),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("submitted_at", Timestamp, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("content_sha256", sa.String(64), nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
)

bloc_score_adjustments = sa.Table(
    "bloc_score_adjustments",
    metadata,
    sa.Column("workflow_id", sa.String(200), primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("member", sa.String(24), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("code", sa.String(24), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("adjusted_at", Timestamp, nullable=False),
)

bloc_scorecards = sa.Table(
    "bloc_scorecards",
    metadata,
    sa.Column("workflow_id", sa.String(200), primary_key=True),
    sa.Column("member", sa.String(24), primary_key=True),
    sa.Column("rank", sa.Integer, nullable=True),  # None: left out of the ranking
    sa.Column("total", sa.Numeric(8, 2), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
)

bloc_leadership = sa.Table(
    "bloc_leadership",
    metadata,
    sa.Column("bloc", sa.String(24), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("head", sa.String(24), nullable=False),
    sa.Column("deputy", sa.String(24), nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("minutes_ref", sa.Text, nullable=True),
    sa.Column("workflow_id", sa.String(200), nullable=False),  # the bloc year that elected them
    sa.Column("recorded_at", Timestamp, nullable=False),
)

bloc_flag_handovers = sa.Table(
    "bloc_flag_handovers",
    metadata,
    sa.Column("bloc", sa.String(24), primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),  # the year the flag passes into
    sa.Column("from_member", sa.String(24), nullable=False),
    sa.Column("to_member", sa.String(24), nullable=False),
    sa.Column("workflow_id", sa.String(200), nullable=False),
    sa.Column("handed_at", Timestamp, nullable=False),
)


async def read_bloc_roster(engine: AsyncEngine, bloc: str) -> BlocRoster:
    """The bloc, its member organisations (by code) and everyone holding a role in it, with all their roles,
    sorted so the snapshot (which enters workflow history) is stable. KeyError when the bloc is unknown."""
    async with engine.connect() as conn:
        bloc_row = (await conn.execute(sa.select(blocs).where(blocs.c.code == bloc))).first()
        if bloc_row is None:
            raise KeyError(f"bloc {bloc} is not in the roster")
        member_rows = (
            await conn.execute(sa.select(ministries).where(ministries.c.bloc_code == bloc).order_by(ministries.c.code))
        ).all()
        in_bloc = sa.select(actor_roles.c.actor_id).where(actor_roles.c.scope == bloc)
        actor_rows = (await conn.execute(sa.select(actors).where(actors.c.id.in_(in_bloc)).order_by(actors.c.id))).all()
        role_rows = (
            await conn.execute(
                sa.select(actor_roles)
                .where(actor_roles.c.actor_id.in_(in_bloc))
                .order_by(actor_roles.c.actor_id, actor_roles.c.role, actor_roles.c.scope)
            )
        ).all()
    grants: dict[str, list[RoleGrant]] = {}
    for r in role_rows:
        grants.setdefault(r.actor_id, []).append(RoleGrant(role=r.role, scope=r.scope))
    return BlocRoster(
        bloc=Bloc(code=bloc_row.code, name=bloc_row.name, head_ministry=bloc_row.head_ministry),
        members=tuple(Ministry(code=m.code, name=m.name, bloc=m.bloc_code) for m in member_rows),
        actors=tuple(
            Actor(
                id=a.id,
                full_name=a.full_name,
                email=a.email,
                organisation=a.organisation,
                roles=tuple(grants.get(a.id, ())),
            )
            for a in actor_rows
        ),
    )


def _audit_entry(write: BlocYearWrite) -> AuditEntry:
    return AuditEntry(
        workflow_id=write.workflow_id,
        seq=write.step,
        action=write.action,
        actor=write.actor,
        channel=Channel(write.channel),
        from_stage=write.from_phase.value,
        to_stage=write.to_phase.value,
        outcome=write.outcome,
        occurred_at=write.occurred_at,
        details=dict(write.details),
    )


async def write_bloc_year(conn: AsyncConnection, write: BlocYearWrite, keyring: ChainKeyring) -> dict[str, int]:
    """One step of a bloc year, in the caller's transaction; returns what it added (a retry adds nothing)."""
    now = datetime.now(UTC)
    row = write.row
    values: dict[str, Any] = {
        "workflow_id": write.workflow_id,
        **row.model_dump(mode="json", exclude={"phase"}),
        "phase": row.phase.value,
        "tiers": [t.model_dump(mode="json") for t in write.tiers],
        "last_step": write.step,
        "created_at": now,
        "updated_at": now,
    }
    if write.standings is not None:
        values["standings"] = write.standings.model_dump(mode="json")
    insert = dialect_insert(conn, bloc_years).values(values)
    # Tiers and standings are carried only by the steps that change them: others leave them as they are.
    kept = {"workflow_id", "created_at", "tiers", "standings"}
    updates = {c: insert.excluded[c] for c in values if c not in kept}
    if write.tiers:
        updates["tiers"] = insert.excluded.tiers
    if write.standings is not None:
        updates["standings"] = insert.excluded.standings
    await conn.execute(
        insert.on_conflict_do_update(
            index_elements=[bloc_years.c.workflow_id], set_=updates, where=bloc_years.c.last_step < write.step
        )
    )
    added = {"signatures": 0, "assessments": 0, "adjustments": 0, "scorecards": 0, "leadership": 0, "flags": 0}
    if write.signature is not None:
        s = write.signature
        added["signatures"] = await _insert_new(
            conn,
            bloc_pledge_signatures,
            {
                "workflow_id": write.workflow_id,
                "member": s.member,
                "actor": s.actor,
                "channel": s.channel,
                "signed_at": s.signed_at,
                "step": write.step,
            },
        )
    if write.assessment is not None and write.receipt is not None:
        added["assessments"] = await _insert_new(
            conn,
            bloc_self_assessments,
            {
                "workflow_id": write.workflow_id,
                "member": write.receipt.member,
                "actor": write.receipt.actor,
                "submitted_at": write.receipt.submitted_at,
                "payload": write.assessment.model_dump(mode="json"),
                "content_sha256": write.receipt.content_sha256,
                "step": write.step,
            },
        )
    if write.adjustment is not None:
        a = write.adjustment.adjustment
        added["adjustments"] = await _insert_new(
            conn,
            bloc_score_adjustments,
            {
                "workflow_id": write.workflow_id,
                "step": write.step,
                "member": a.member,
                "kind": a.kind,
                "code": a.code,
                "reason": a.reason,
                "payload": a.model_dump(mode="json"),
                "actor": write.adjustment.actor,
                "adjusted_at": write.adjustment.adjusted_at,
            },
        )
    if write.scored:
        ranks = {r.member: r.rank for r in write.standings.rows} if write.standings else {}
        await conn.execute(sa.delete(bloc_scorecards).where(bloc_scorecards.c.workflow_id == write.workflow_id))
        rows = [
            {
                "workflow_id": write.workflow_id,
                "member": card.member,
                "rank": ranks.get(card.member),
                "total": card.total,
                "payload": card.model_dump(mode="json"),
                "step": write.step,
            }
            for card in write.scorecards
        ]
        if rows:
            await conn.execute(sa.insert(bloc_scorecards), rows)
        added["scorecards"] = len(rows)
    if write.election is not None:
        chosen = write.election.leadership
        added["leadership"] = await _insert_new(
            conn,
            bloc_leadership,
            {
                "bloc": chosen.bloc,
                "year": chosen.year,
                "head": chosen.head,
                "deputy": chosen.deputy,
                "method": write.election.method.value,
                "minutes_ref": write.election.minutes_ref,
                "workflow_id": write.workflow_id,
                "recorded_at": write.occurred_at,
            },
        )
    if write.flag is not None and write.action == "HANDED_OVER":
        added["flags"] = await _insert_new(
            conn,
            bloc_flag_handovers,
            {
                "bloc": write.flag.bloc,
                "year": write.flag.year,
                "from_member": write.flag.from_member,
                "to_member": write.flag.to_member,
                "workflow_id": write.workflow_id,
                "handed_at": write.occurred_at,
            },
        )
    added["audit"] = int(await append_audit(conn, _audit_entry(write), keyring=keyring))
    added["notifications"] = await write_notifications(conn, write.workflow_id, write.step, write.notifications, now)
    return added


async def _insert_new(conn: AsyncConnection, table: sa.Table, row: dict[str, Any]) -> int:
    keys = [c.name for c in table.primary_key.columns]
    result = await conn.execute(dialect_insert(conn, table).values(row).on_conflict_do_nothing(index_elements=keys))
    return max(result.rowcount, 0)


async def move_bloc_head(conn: AsyncConnection, bloc: str, outgoing: str, incoming: str) -> dict[str, int]:
    """The roster's BLOC_HEAD role of `bloc` passes from the outgoing head organisation's people to the
    incoming head organisation's bloc representatives, and the bloc's head ministry becomes `incoming`.
    Idempotent: once moved, a second call removes and adds nothing (the revision still changes)."""
    outgoing_people = sa.select(actors.c.id).where(actors.c.organisation == outgoing)
    removed = await conn.execute(
        sa.delete(actor_roles).where(
            (actor_roles.c.role == Role.BLOC_HEAD.value)
            & (actor_roles.c.scope == bloc)
            & actor_roles.c.actor_id.in_(outgoing_people)
        )
    )
    incoming_reps = (
        await conn.execute(
            sa.select(actor_roles.c.actor_id)
            .join(actors, actors.c.id == actor_roles.c.actor_id)
            .where(
                (actor_roles.c.role == Role.BLOC_REPRESENTATIVE.value)
                & (actor_roles.c.scope == bloc)
                & (actors.c.organisation == incoming)
            )
            .order_by(actor_roles.c.actor_id)
        )
    ).scalars()
    added = 0
    for actor_id in incoming_reps:
        added += await _insert_new(
            conn, actor_roles, {"actor_id": actor_id, "role": Role.BLOC_HEAD.value, "scope": bloc}
        )
    await conn.execute(sa.update(blocs).where(blocs.c.code == bloc).values(head_ministry=incoming))
    # In the same transaction: a worker that sees the new revision also sees the moved role.
    await conn.execute(
        sa.update(roster_revision)
        .where(roster_revision.c.id == 1)
        .values(revision=roster_revision.c.revision + 1, changed_at=datetime.now(UTC))
    )
    return {"removed": max(removed.rowcount, 0), "added": added}


async def nomination_stages(engine: AsyncEngine, workflow_ids: list[str]) -> dict[str, Stage]:
    """The register's stage of each nomination that is in it."""
    if not workflow_ids:
        return {}
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(nominations.c.workflow_id, nominations.c.stage).where(
                    nominations.c.workflow_id.in_(workflow_ids)
                )
            )
        ).all()
    return {r.workflow_id: Stage(r.stage) for r in rows}
