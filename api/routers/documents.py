"""Printable documents over HTTP, as `starter.py document` writes them: the minutes of a ballot count, a decision
with its list, the bloc year's pledge and ranking, each as PDF, DOCX or HTML in the Decree 30 layout
(client/documents.py loads them for the token's actor, documents/ renders them), carrying the audit anchor read
at the moment the request is answered.

Each is read as the record it comes from is read (the same read rules): a reader outside it gets a 403; a
session, decision or bloc year that does not exist is a 404; the minutes of a session still voting or the
ranking before the review closes is a 409 naming what has not happened yet.

One route per format (not a `{format}` parameter): `/bloc-years/{id}/ranking.xlsx` (api/routers/bloc_years.py)
stays its own route, and each route's OpenAPI entry names its media type. A decision number contains '/': the
app includes this router before the decisions router, whose `/decisions/{decision_no:path}` matches any
longer path."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Response

from api.deps import Reading, Services, SessionId, Svc
from api.problems import ProblemError
from api.routers.bloc_years import BlocYearId
from api.routers.generated import with_parameters
from client import access
from client import bloc_year as bloc_ops
from client import documents as docs
from documents.model import Document
from documents.render import render_docx, render_html, render_pdf
from domain.access import ReadScope

router = APIRouter(tags=["documents"])

MEDIA_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "html": "text/html; charset=utf-8",
}
RENDERERS: dict[str, Callable[[Document], bytes]] = {
    "pdf": render_pdf,
    "docx": render_docx,
    "html": lambda doc: render_html(doc).encode("utf-8"),
}
FORMAT_VI = {"pdf": "PDF", "docx": "DOCX (Word)", "html": "HTML"}
NOT_READY = 409


def file_name(stem: str, fmt: str) -> str:
    """The Content-Disposition header: an ASCII filename (ids' '/' and diacritics as '-') and the UTF-8 one."""
    name = "".join(c if c.isalnum() or c in "-._" else "-" for c in stem.strip())
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "-")
    # PDF and DOCX download; HTML opens in the browser (printable from there).
    kind = "inline" if fmt == "html" else "attachment"
    return f"{kind}; filename=\"{ascii_name}.{fmt}\"; filename*=UTF-8''{quote(name)}.{fmt}"


async def answered(work: Awaitable[Document]) -> Document:
    """The client's refusals as problems: outside the reader's scope 403, nothing by that id 404, not yet 409."""
    try:
        return await work
    except access.ReadRefused as err:
        raise ProblemError("forbidden", str(err)) from None
    except docs.DocumentNotReady as err:
        raise ProblemError("action-refused", str(err), status=NOT_READY) from None
    except bloc_ops.BlocYearNotFound as err:
        raise ProblemError("not-found", str(err)) from None
    except KeyError as err:
        raise ProblemError("not-found", str(err).strip("'\"")) from None


async def rendered(doc: Document, fmt: str, stem: str) -> Response:
    """The document in one format (laid out off the event loop: a PDF is CPU work)."""
    content = await asyncio.to_thread(RENDERERS[fmt], doc)
    return Response(content, media_type=MEDIA_TYPES[fmt], headers={"Content-Disposition": file_name(stem, fmt)})


def responses(fmt: str, what: str) -> dict[int | str, dict[str, Any]]:
    schema = {"type": "string"} if fmt == "html" else {"type": "string", "format": "binary"}
    media = MEDIA_TYPES[fmt].split(";")[0]  # the document names the media type; the answer adds its charset
    return {
        200: {"description": f"{what} ({FORMAT_VI[fmt]})", "content": {media: {"schema": schema}}},
        403: {},
        404: {},
        409: {},
    }


Loader = Callable[[Services, ReadScope, str], Awaitable[Document]]


def add_document_route(
    fmt: str,
    *,
    path: str,
    name: str,
    key: tuple[str, Any],
    load: Loader,
    stem: str,
    summary: str,
    description: str,
    what: str,
) -> None:
    """One document's route in one format: `key` is the path parameter (its name and type) that `load` reads
    the document by; the file is named `<stem>-<key's value>.<fmt>`."""
    key_name = key[0]

    async def endpoint(*, svc: Services, scope: ReadScope, **ids: str) -> Response:
        record_id = ids[key_name]
        return await rendered(await load(svc, scope, record_id), fmt, f"{stem}-{record_id}")

    endpoint.__doc__ = description
    with_parameters(endpoint, key, ("svc", Svc), ("scope", Reading))
    router.add_api_route(
        f"{path}.{fmt}",
        endpoint,
        methods=["GET"],
        name=f"{name}_{fmt}",
        summary=f"{summary} as {fmt.upper()}",
        response_class=Response,
        responses=responses(fmt, what),
    )


# ---- the minutes of a ballot count ----------------------------------------------------------------------


async def minutes(svc: Services, scope: ReadScope, session_id: str) -> Document:
    client = await svc.client()
    work = docs.minutes_document_for(client, svc.engine(), scope, session_id, svc.task_queue, made_at=datetime.now(UTC))
    return await answered(work)


def add_minutes_route(fmt: str) -> None:
    add_document_route(
        fmt,
        path="/ballot-sessions/{session_id}/minutes",
        name="session_minutes",
        key=("session_id", SessionId),
        load=minutes,
        stem="bien-ban-kiem-phieu",
        summary="The minutes of the count (biên bản kiểm phiếu)",
        description=(
            "Biên bản kiểm phiếu of a CLOSED session: the counts, each candidate's tally and result, the notes (a "
            "bloc head's decision on a tie: who chose whom), the counting committee's signatures; never who "
            "voted. Read by whoever may read the session (its council's or bloc's people, the central board); 409 "
            "while the session has not closed."
        ),
        what="the minutes",
    )


# ---- a decision with its list ---------------------------------------------------------------------------


async def decision(svc: Services, scope: ReadScope, decision_no: str) -> Document:
    try:
        client = await svc.client()
    except ProblemError:
        client = None  # the decision is in the database; the anchor line says the anchor could not be read
    work = docs.decision_document_for(
        client, svc.engine(), scope, decision_no, svc.task_queue, made_at=datetime.now(UTC)
    )
    return await answered(work)


def add_decision_route(fmt: str) -> None:
    add_document_route(
        fmt,
        path="/decisions/{decision_no:path}/document",
        name="decision_document",
        key=("decision_no", str),
        load=decision,
        stem="quyet-dinh",
        summary="The decision with its list (quyết định kèm danh sách)",
        description=(
            "The recorded decision with its list (danh sách kèm theo): the awardees the token's actor may read, "
            "in the decision's order (the central board: all of them; a partial list says how many it shows). A "
            "reader who may read none of them gets a 403; a number never recorded, a 404."
        ),
        what="the decision",
    )


# ---- the bloc year's pledge and ranking -----------------------------------------------------------------


async def pledge(svc: Services, scope: ReadScope, bloc_year_id: str) -> Document:
    client = await svc.client()
    work = docs.pledge_document_for(
        client, svc.engine(), scope, bloc_year_id, svc.task_queue, made_at=datetime.now(UTC)
    )
    return await answered(work)


async def ranking(svc: Services, scope: ReadScope, bloc_year_id: str) -> Document:
    client = await svc.client()

    async def document() -> Document:
        doc, _ = await docs.ranking_document_for(
            client, svc.engine(), scope, bloc_year_id, svc.task_queue, made_at=datetime.now(UTC)
        )
        return doc

    return await answered(document())


BLOC_YEAR_DOCUMENTS: dict[str, tuple[Loader, str, str, str]] = {
    "pledge": (
        pledge,
        "giao-uoc-thi-dua",
        "The bloc's pledge (giao ước thi đua) with its scoring table and who signed",
        "The pledge the head published, the scoring table and each member's signature (or 'Chưa ký'). Read by "
        "the bloc's head and representatives and the central board; 409 before the head publishes it.",
    ),
    "ranking": (
        ranking,
        "xep-hang",
        "The bloc's ranking (bảng tổng hợp kết quả chấm điểm, xếp hạng)",
        "The ranking table, the review panel's adjustments with their reasons and the head's signature. Read by "
        "the bloc's head and representatives and the central board; 409 before the review closes. The same "
        "ranking as a spreadsheet with a chart: /bloc-years/{bloc_year_id}/ranking.xlsx.",
    ),
}


def add_bloc_year_route(kind: str, fmt: str) -> None:
    load, stem, summary, description = BLOC_YEAR_DOCUMENTS[kind]
    add_document_route(
        fmt,
        path=f"/bloc-years/{{bloc_year_id}}/{kind}",
        name=f"bloc_year_{kind}",
        key=("bloc_year_id", BlocYearId),
        load=load,
        stem=stem,
        summary=summary,
        description=description,
        what=f"the {kind}",
    )


for document_format in MEDIA_TYPES:
    add_minutes_route(document_format)
    add_decision_route(document_format)
    for bloc_year_kind in BLOC_YEAR_DOCUMENTS:
        add_bloc_year_route(bloc_year_kind, document_format)
