"""Printable documents from the engine's record: load what each document shows, for a reader allowed to read it
(domain/access.py, as the read it comes from), and render it with documents/ (PDF, DOCX, HTML; the ranking also
as XLSX). Each carries the audit anchor read at the moment it is made.

* The minutes of a ballot count: the session's status as the reader may read it (client.access.session_status),
  CLOSED only, with its minutes rows (when it closed, the policy version, spoiled ballots).
* A decision with its list: the decision's rows the reader may read (the central board: all of them); a reader
  who may read none of them is refused.
* The bloc's pledge and ranking: the bloc year as its bloc's people and the central board read it
  (client.bloc_year.readable_status).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from client.access import ReadRefused, readable_workflow_ids
from client.access import session_status as readable_session_status
from client.audit_anchors import latest_anchor
from documents.decision import DecisionLine, DecisionRecord, decision_document
from documents.minutes import MinutesRecord, minutes_document, record_from_status
from documents.model import Document
from documents.names import Names
from documents.pledge import pledge_document
from documents.ranking import ranking_document
from documents.render import render_docx, render_html, render_pdf
from documents.xlsx import ranking_xlsx
from domain.access import ReadScope
from domain.audit_anchors import Anchor
from domain.ballot_messages import SessionPhase
from domain.bloc.policy import BlocScoringPolicy, bloc_scoring_policy, bloc_scoring_policy_for
from domain.bloc.year import BlocYearStatus
from domain.catalog import Authority
from domain.roster import Role
from store.schema import actor_roles, actors, ballot_minutes, blocs, decision_items, decisions, ministries

DOCUMENT_FORMATS = ("pdf", "docx", "html")


class DocumentNotReady(Exception):
    """What the document records has not happened yet (a session still voting, a ranking not published)."""


@dataclass(frozen=True)
class Outputs:
    """Where to write a document: any of PDF, DOCX and HTML (the ranking also XLSX)."""

    pdf: Path | None = None
    docx: Path | None = None
    html: Path | None = None
    xlsx: Path | None = None

    @property
    def empty(self) -> bool:
        return not (self.pdf or self.docx or self.html or self.xlsx)


# ---- what every document needs -------------------------------------------------------------------------------


async def roster_names(engine: AsyncEngine, people: Iterable[str] = ()) -> Names:
    """The roster's names of ministries and blocs, and of these people (actor ids)."""
    wanted = sorted(set(people))
    async with engine.connect() as conn:
        ministry_names = {r.code: r.name for r in await conn.execute(sa.select(ministries.c.code, ministries.c.name))}
        bloc_names = {r.code: r.name for r in await conn.execute(sa.select(blocs.c.code, blocs.c.name))}
        person_names = (
            {
                r.id: r.full_name
                for r in await conn.execute(sa.select(actors.c.id, actors.c.full_name).where(actors.c.id.in_(wanted)))
            }
            if wanted
            else {}
        )
    return Names(ministries=ministry_names, blocs=bloc_names, people=person_names)


async def current_anchor(client: Client | None, task_queue: str) -> Anchor | None:
    """The audit chain's latest anchor at this moment; None (the document says so) when it cannot be read."""
    return None if client is None else await latest_anchor(client, task_queue)


def write_document(doc: Document, outputs: Outputs) -> list[Path]:
    """Render the document in every format asked for; the paths written."""
    written = []
    for path, render in ((outputs.pdf, render_pdf), (outputs.docx, render_docx)):
        if path is not None:
            path.write_bytes(render(doc))
            written.append(path)
    if outputs.html is not None:
        outputs.html.write_text(render_html(doc), encoding="utf-8")
        written.append(outputs.html)
    return written


# ---- the minutes of a ballot count -----------------------------------------------------------------------


async def minutes_record(client: Client, engine: AsyncEngine, scope: ReadScope, session_id: str) -> MinutesRecord:
    """The minutes of a closed session the reader may read (ReadRefused otherwise; NominationNotFound for a
    session that does not exist; DocumentNotReady while it has not closed)."""
    view = await readable_session_status(client, scope, session_id)
    if view.phase != SessionPhase.CLOSED or view.results is None:
        raise DocumentNotReady(
            f"phiên bỏ phiếu {session_id} đang ở giai đoạn {view.phase.value}: chỉ lập biên bản kiểm phiếu khi "
            "phiên đã kết thúc (CLOSED)"
        )
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(ballot_minutes.c.closed_at, ballot_minutes.c.policy_version, ballot_minutes.c.spoiled).where(
                    ballot_minutes.c.session_id == session_id, ballot_minutes.c.round == view.round
                )
            )
        ).all()
    closed_at = max((r.closed_at for r in rows), default=None)
    if closed_at is not None and closed_at.tzinfo is None:  # SQLite hands timestamps back without an offset
        closed_at = closed_at.replace(tzinfo=UTC)
    return record_from_status(
        view,
        closed_at=closed_at or view.deadline,
        policy_version=rows[0].policy_version if rows else None,
        spoiled=max((r.spoiled for r in rows), default=None),
        voted_count=view.voted_count,
    )


async def minutes_document_for(
    client: Client, engine: AsyncEngine, scope: ReadScope, session_id: str, task_queue: str, *, made_at: datetime
) -> Document:
    record = await minutes_record(client, engine, scope, session_id)
    names = await roster_names(engine, record.people)
    anchor = await current_anchor(client, task_queue)
    return minutes_document(record, names, anchor=anchor, made_at=made_at, made_by=scope.actor_id)


# ---- a decision with its list ----------------------------------------------------------------------------


async def decision_record(engine: AsyncEngine, scope: ReadScope, decision_no: str) -> DecisionRecord:
    """The recorded decision and the awardees on it the reader may read, in the decision's order (KeyError
    for a decision never recorded; ReadRefused for a reader who may read none of its awardees)."""
    decision_no = decision_no.strip()
    async with engine.connect() as conn:
        decision = (await conn.execute(sa.select(decisions).where(decisions.c.decision_no == decision_no))).first()
        if decision is None:
            raise KeyError(f"no decision {decision_no} has been recorded")
        found = (
            await conn.execute(
                sa.select(
                    decision_items.c.workflow_id,
                    decision_items.c.nominee_name,
                    decision_items.c.award_name_vi,
                    decision_items.c.ministry.label("ministry_code"),
                    sa.func.coalesce(ministries.c.name, decision_items.c.ministry).label("ministry"),
                )
                .select_from(decision_items.outerjoin(ministries, ministries.c.code == decision_items.c.ministry))
                .where(decision_items.c.decision_no == decision_no, decision_items.c.accepted.is_(True))
                .order_by(decision_items.c.position)
            )
        ).all()
    readable = await readable_workflow_ids(
        engine, scope, [r.workflow_id for r in found], {r.workflow_id: r.ministry_code for r in found}
    )
    lines = [r for r in found if r.workflow_id in readable]
    if found and not lines:
        raise ReadRefused(f"actor {scope.actor_id!r} may read none of the awardees of decision {decision_no}")
    issuing = {r.ministry for r in found if r.ministry}
    authority = Authority(decision.authority)
    issuing_body = (
        next(iter(issuing))
        if len(issuing) == 1 and authority not in (Authority.PRIME_MINISTER, Authority.PRESIDENT)
        else None
    )
    return DecisionRecord(
        decision_no=decision.decision_no,
        decision_date=decision.decision_date,
        authority=authority,
        recorded_by=decision.actor,
        issuing_body=issuing_body,
        lines=tuple(
            DecisionLine(
                workflow_id=r.workflow_id,
                nominee_name=r.nominee_name or "",
                award_name_vi=r.award_name_vi or "",
                ministry=r.ministry or "",
            )
            for r in lines
        ),
        awarded=len(found),
    )


async def decision_document_for(
    client: Client | None,
    engine: AsyncEngine,
    scope: ReadScope,
    decision_no: str,
    task_queue: str,
    *,
    made_at: datetime,
) -> Document:
    record = await decision_record(engine, scope, decision_no)
    anchor = await current_anchor(client, task_queue)
    return decision_document(record, anchor=anchor, made_at=made_at, made_by=scope.actor_id)


# ---- the bloc year's pledge and ranking ------------------------------------------------------------------


def policy_of(status: BlocYearStatus) -> BlocScoringPolicy:
    """The scoring table the year published (else the one in force for the bloc and year)."""
    if status.policy_version:
        return bloc_scoring_policy(status.policy_version)
    return bloc_scoring_policy_for(status.bloc, status.year)


async def bloc_head_name(engine: AsyncEngine, status: BlocYearStatus) -> str | None:
    """The person the roster names bloc head (BLOC_HEAD of the bloc, of the head's organisation)."""
    async with engine.connect() as conn:
        return (
            await conn.execute(
                sa.select(actors.c.full_name)
                .select_from(actors.join(actor_roles, actor_roles.c.actor_id == actors.c.id))
                .where(
                    actor_roles.c.role == Role.BLOC_HEAD.value,
                    actor_roles.c.scope == status.bloc,
                    actors.c.organisation == status.leadership.head,
                )
                .order_by(actors.c.id)
                .limit(1)
            )
        ).scalar_one_or_none()


async def readable_bloc_year(client: Client, scope: ReadScope, bloc_year_id: str) -> BlocYearStatus:
    """The bloc year for a reader of its bloc or the central board (ReadRefused otherwise)."""
    from client.bloc_year import readable_status

    return await readable_status(client, scope, bloc_year_id)


async def pledge_document_for(
    client: Client, engine: AsyncEngine, scope: ReadScope, bloc_year_id: str, task_queue: str, *, made_at: datetime
) -> Document:
    status = await readable_bloc_year(client, scope, bloc_year_id)
    return await pledge_from_status(client, engine, scope, status, task_queue, made_at=made_at)


async def pledge_from_status(
    client: Client | None,
    engine: AsyncEngine,
    scope: ReadScope,
    status: BlocYearStatus,
    task_queue: str,
    *,
    made_at: datetime,
) -> Document:
    if status.policy_version is None:
        raise DocumentNotReady(f"{status.bloc_year_id}: Khối trưởng chưa công bố giao ước thi đua (bảng chấm điểm)")
    names = await roster_names(engine, [s.actor for s in status.signatures])
    anchor = await current_anchor(client, task_queue)
    return pledge_document(status, policy_of(status), names, anchor=anchor, made_at=made_at, made_by=scope.actor_id)


async def ranking_from_status(
    client: Client | None,
    engine: AsyncEngine,
    scope: ReadScope,
    status: BlocYearStatus,
    task_queue: str,
    *,
    made_at: datetime,
) -> tuple[Document, bytes]:
    """The ranking as a document and as XLSX bytes (DocumentNotReady before the review's close)."""
    if status.standings is None:
        raise DocumentNotReady(
            f"{status.bloc_year_id}: chưa có kết quả xếp hạng ({status.phase_label_vi}); xếp hạng được công bố khi "
            "kết thúc chấm chéo"
        )
    names = await roster_names(engine)
    anchor = await current_anchor(client, task_queue)
    policy = policy_of(status)
    doc = ranking_document(
        status,
        policy,
        names,
        anchor=anchor,
        made_at=made_at,
        made_by=scope.actor_id,
        head_name=await bloc_head_name(engine, status),
    )
    workbook = ranking_xlsx(status, policy, names, anchor=anchor, made_at=made_at, made_by=scope.actor_id)
    return doc, workbook


async def ranking_document_for(
    client: Client, engine: AsyncEngine, scope: ReadScope, bloc_year_id: str, task_queue: str, *, made_at: datetime
) -> tuple[Document, bytes]:
    status = await readable_bloc_year(client, scope, bloc_year_id)
    return await ranking_from_status(client, engine, scope, status, task_queue, made_at=made_at)


async def write_outputs(doc: Document, outputs: Outputs, workbook: bytes | None = None) -> list[Path]:
    """Render and write off the event loop (laying out a PDF is CPU work); the paths written."""
    written = await asyncio.to_thread(write_document, doc, outputs)
    if outputs.xlsx is not None and workbook is not None:
        await asyncio.to_thread(outputs.xlsx.write_bytes, workbook)
        written.append(outputs.xlsx)
    return written
