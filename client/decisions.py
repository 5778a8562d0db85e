"""Client-side operations on decisions: issue one (a DecisionWorkflow), follow it, and export the
nominations it awarded to CSV or XLSX for staff (column headings in Vietnamese)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from client.metadata import readable_without_codec
from client.pacing import start_priority
from client.tables import (  # noqa: F401 - the cell rules are part of this module's export contract
    DATE_FORMAT_VI,
    XLSX_DATE_FORMAT,
    csv_cell,
    neutralise_formula,
    write_table_csv,
    write_table_xlsx,
    xlsx_cell,
)
from domain.catalog import AUTHORITY_LABELS_VI, Authority
from domain.decisions import DecisionRequest, DecisionSummary, decision_workflow_id
from domain.priority import WorkKind
from store.schema import decision_items, decisions, ministries
from workflows.decision import DecisionWorkflow

if TYPE_CHECKING:
    from domain.access import ReadScope

EXPORT_COLUMNS: tuple[str, ...] = (
    "STT",
    "Mã hồ sơ",
    "Họ tên / Tập thể",
    "Hình thức khen thưởng",
    "Bộ/ngành",
    "Số quyết định",
    "Ngày quyết định",
    "Cấp quyết định",
)
EXPORT_FORMATS = (".csv", ".xlsx")
SHEET_TITLE = "Quyết định khen thưởng"
EXPORT_WIDTHS = (6, 40, 32, 36, 24, 20, 16, 24)


class DuplicateDecision(Exception):
    def __init__(self, decision_no: str):
        self.decision_no = decision_no
        super().__init__(
            f"decision {decision_no} has already been issued (workflow {decision_workflow_id(decision_no)}); "
            "a decision number is used once; nothing was started"
        )


# ---- issuing -----------------------------------------------------------------------------------------


async def start_decision(
    client: Client, task_queue: str, request: DecisionRequest
) -> WorkflowHandle[DecisionWorkflow, DecisionSummary]:
    decision = request.decision
    try:
        return await client.start_workflow(
            DecisionWorkflow.run,
            request,
            id=decision_workflow_id(decision.decision_no),
            task_queue=task_queue,
            # A decision number is used once, even after its workflow has ended.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            # A signing authority's act: people's priority; its deliveries (activities) inherit it.
            priority=start_priority(WorkKind.DECISION, decision.authority.value),
            # In clear for the Temporal UI without the codec server: a number, a date, an authority, a count.
            static_summary=readable_without_codec(
                f"Quyết định {decision.decision_no} ngày {decision.decision_date.strftime(DATE_FORMAT_VI)} – "
                f"{AUTHORITY_LABELS_VI[decision.authority]} – {len(request.workflow_ids)} hồ sơ"
            ),
        )
    except WorkflowAlreadyStartedError:
        raise DuplicateDecision(decision.decision_no) from None


async def issue_decision(client: Client, task_queue: str, request: DecisionRequest) -> DecisionSummary:
    """Apply the decision to every nomination it names and return the outcome (DuplicateDecision when the
    number has been issued before)."""
    handle = await start_decision(client, task_queue, request)
    return await handle.result()


async def decision_progress(client: Client, decision_no: str) -> DecisionSummary:
    """The nominations a decision has been applied to so far (all of them once it has ended)."""
    handle = client.get_workflow_handle(decision_workflow_id(decision_no))
    try:
        return await handle.query(DecisionWorkflow.summary)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise KeyError(f"no decision {decision_no}") from None
        raise


# ---- export (pure parts) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportedItem:
    workflow_id: str
    nominee_name: str | None
    award_name_vi: str | None
    ministry: str | None


def export_format(path: Path) -> str:
    """'.csv' or '.xlsx' (by the file's suffix, any case); anything else is a ValueError naming it."""
    suffix = path.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        shown = repr(path.suffix) if path.suffix else "no suffix"
        raise ValueError(f"cannot export a decision to {shown} ({path.name}): use .csv or .xlsx")
    return suffix


def export_rows(
    decision_no: str, decision_date: date, authority: Authority | str, items: Iterable[ExportedItem]
) -> list[list[Any]]:
    """One row per awarded nomination in the given order, under EXPORT_COLUMNS."""
    try:
        authority_vi = AUTHORITY_LABELS_VI[Authority(authority)]
    except ValueError:
        authority_vi = str(authority)
    return [
        [
            stt,
            item.workflow_id,
            item.nominee_name or "",
            item.award_name_vi or "",
            item.ministry or "",
            decision_no,
            decision_date,
            authority_vi,
        ]
        for stt, item in enumerate(items, start=1)
    ]


def write_csv(path: Path, rows: Sequence[Sequence[Any]]) -> None:
    write_table_csv(path, EXPORT_COLUMNS, rows)


def write_xlsx(path: Path, rows: Sequence[Sequence[Any]]) -> None:
    write_table_xlsx(path, EXPORT_COLUMNS, rows, SHEET_TITLE, widths=EXPORT_WIDTHS)


# ---- export ------------------------------------------------------------------------------------------


async def export_decision(
    engine: AsyncEngine,
    decision_no: str,
    path: Path,
    *,
    scope: ReadScope | None = None,
    audit_anchor: str | None = None,
) -> int:
    """Write the nominations a recorded decision awarded (in the decision's list order) to `path`, as CSV
    or XLSX by its suffix; returns the number of rows written (headings not counted). With `scope`, only the
    rows of nominations that reader may read (domain/access.py)."""
    kind = export_format(path)
    decision_no = decision_no.strip()
    items_query = (
        sa.select(
            decision_items.c.workflow_id,
            decision_items.c.nominee_name,
            decision_items.c.award_name_vi,
            # The ministry's name when the roster knows it, else its code.
            sa.func.coalesce(ministries.c.name, decision_items.c.ministry).label("ministry"),
            decision_items.c.ministry.label("ministry_code"),
        )
        .select_from(decision_items.outerjoin(ministries, ministries.c.code == decision_items.c.ministry))
        .where(decision_items.c.decision_no == decision_no, decision_items.c.accepted.is_(True))
        .order_by(decision_items.c.position)
    )
    async with engine.connect() as conn:
        decision = (
            await conn.execute(
                sa.select(decisions.c.decision_date, decisions.c.authority).where(
                    decisions.c.decision_no == decision_no
                )
            )
        ).first()
        if decision is None:
            raise KeyError(f"no decision {decision_no} has been recorded")
        found = (await conn.execute(items_query)).all()
    if scope is not None:
        from client.access import readable_workflow_ids

        named = {r.workflow_id: r.ministry_code for r in found}
        readable = await readable_workflow_ids(engine, scope, [r.workflow_id for r in found], named)
        found = [r for r in found if r.workflow_id in readable]
    items = [
        ExportedItem(
            workflow_id=r.workflow_id, nominee_name=r.nominee_name, award_name_vi=r.award_name_vi, ministry=r.ministry
        )
        for r in found
    ]
    rows = export_rows(decision_no, decision.decision_date, decision.authority, items)
    # The audit chain's anchor, below the list after a blank row: the printed copy pins the log's head.
    table = [*rows, [], [audit_anchor]] if audit_anchor else rows
    # Building a workbook of thousands of rows is CPU and file work: keep the event loop free.
    await asyncio.to_thread(write_csv if kind == ".csv" else write_xlsx, path, table)
    return len(rows)
