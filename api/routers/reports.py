"""Reports from the read model: a decision's list of awardees as CSV or XLSX."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Response

from api.deps import XLSX_MEDIA_TYPE, Reading, Svc
from api.problems import ProblemError
from client import decisions as decision_ops

EXPORT_MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX_MEDIA_TYPE}

router = APIRouter(tags=["decisions"])


# A decision's status path with `/export` after it (decision numbers contain '/'): the app includes this
# router before the decisions router, so that an export is not read as the status of a decision `…/export`.
@router.get(
    "/decisions/{decision_no:path}/export",
    summary="The list of awardees as CSV or XLSX",
    responses={
        200: {
            "description": "the awardees in the decision's order, headings in Vietnamese",
            "content": {
                media: {"schema": {"type": "string", "format": "binary"}} for media in EXPORT_MEDIA_TYPES.values()
            },
        },
        403: {},
        404: {},
    },
    response_class=Response,
)
async def export_decision(
    decision_no: str, svc: Svc, scope: Reading, format: Literal["csv", "xlsx"] = "csv"
) -> Response:
    """From the decision register (the database): every nomination the decision awarded that the token's actor
    may read (the central board: all of them)."""
    with tempfile.TemporaryDirectory(prefix="tdkt-export-") as tmp:
        path = Path(tmp) / f"decision.{format}"
        try:
            await decision_ops.export_decision(svc.engine(), decision_no, path, scope=scope)
        except KeyError:
            raise ProblemError(
                "not-found",
                f"chưa ghi quyết định nào số {decision_no.strip()}",
                detail_en=f"no decision {decision_no.strip()} has been recorded",
            ) from None
        content = path.read_bytes()
    name = "quyet-dinh-" + "".join(c if c.isalnum() or c in "-._" else "-" for c in decision_no.strip())
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "-")
    disposition = f"attachment; filename=\"{ascii_name}.{format}\"; filename*=UTF-8''{quote(name)}.{format}"
    return Response(content, media_type=EXPORT_MEDIA_TYPES[format], headers={"Content-Disposition": disposition})
