"""A list of nominations imported from a spreadsheet (XLSX or CSV), as `starter.py import` does."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from api.deps import BATCH_CONCURRENCY, XLSX_MEDIA_TYPE, IdempotencyKey, Svc, Who
from api.idempotency import fingerprint
from api.limits import MAX_BODY_BYTES
from api.models import ImportItem, ImportResult
from api.problems import ProblemError, invalid
from client import importer
from domain.calendar import VIETNAM_TZ
from domain.catalog import current_policy_version, policy_set
from domain.errors import FieldError, InvalidInput

MAX_IMPORT_ROWS = 2000
IMPORT_MEDIA_TYPES = {"text/csv": ".csv", "application/csv": ".csv", XLSX_MEDIA_TYPE: ".xlsx"}
IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": (
            "The file itself as the body (not multipart): a CSV (UTF-8, `,` `;` or tab separated) or an XLSX "
            "workbook (its first sheet), with the columns of `samples/import-template.xlsx`: a header row, "
            "then one nomination a row, every row proposed by the token's actor."
        ),
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}} for media in ("text/csv", XLSX_MEDIA_TYPE)
        },
    }
}

router = APIRouter(tags=["nominations"])


@router.post(
    "/nominations:import",
    response_model=ImportResult,
    summary="Import a list of nominations from a spreadsheet (XLSX or CSV)",
    responses={415: {}},
    openapi_extra=IMPORT_BODY,
)
async def import_nominations(
    request: Request,
    svc: Svc,
    who: Who,
    idempotency_key: IdempotencyKey = None,
    skip_invalid: Annotated[
        bool, Query(description="start the valid rows and list the invalid ones (INVALID) instead of a 422")
    ] = False,
) -> Response:
    """What `starter.py import FILE.xlsx|FILE.csv` does, for an uploaded file (`Content-Type: text/csv`, or
    `application/vnd.openxmlformats-officedocument.spreadsheetml.sheet`; up to 2000 rows). Every row is
    validated first, as the CLI validates it: if any is invalid, 422 naming every row and column at fault
    (`row 51, Năm (year)`) and nothing is started — unless `skip_invalid=true` (and some row is valid).
    Then each row starts (channel API): STARTED, ALREADY_STARTED (this very nomination had been started, so
    importing the same file again starts nothing new) or FAILED (another nomination holds its year, ministry
    and reference: "another nomination holds this reference")."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    suffix = IMPORT_MEDIA_TYPES.get(media)
    if suffix is None:
        message = f"{media or 'không có'}: gửi tệp dưới dạng text/csv hoặc {XLSX_MEDIA_TYPE}"
        message_en = f"{media or 'none'}: send the file as text/csv or {XLSX_MEDIA_TYPE}"
        raise ProblemError(
            "unsupported-media-type",
            message,
            errors=[FieldError(field="Content-Type", message=message)],
            detail_en=message_en,
            errors_en=[FieldError(field="Content-Type", message=message_en)],
        )
    content = await request.body()
    if len(content) > MAX_BODY_BYTES:
        raise invalid("body", f"lớn hơn {MAX_BODY_BYTES} byte", en=f"larger than {MAX_BODY_BYTES} bytes")

    async def start() -> Response:
        try:
            rows = await asyncio.to_thread(importer.read_content, content, suffix, "the file")
        except InvalidInput as err:  # the file as a whole: the CLI's FILE is this request's body
            raise InvalidInput(
                [FieldError(field="body" if e.field == "FILE" else e.field, message=e.message) for e in err.errors]
            ) from None
        if not rows:
            raise invalid(
                "body",
                "tệp có dòng tiêu đề nhưng không có hồ sơ nào",
                en="the file has a header row but no nominations",
            )
        if len(rows) > MAX_IMPORT_ROWS:
            raise invalid(
                "body",
                f"{len(rows)} dòng: mỗi tệp nhiều nhất {MAX_IMPORT_ROWS} dòng (hãy chia nhỏ tệp)",
                en=f"{len(rows)} rows: at most {MAX_IMPORT_ROWS} a file (split it)",
            )
        today = datetime.now(VIETNAM_TZ).date()
        valid, errors = importer.validate_rows(
            rows, policy_set(current_policy_version(today)), proposer=who.actor, today=today
        )
        # Against the database roster before anything starts: a row for a ministry it does not know is
        # invalid; a row whose ministry the actor may not propose for refuses the whole file (403).
        unknown, refused = await importer.check_rows(svc.engine(), valid)
        if refused:
            count = len({e.row for e in refused})
            raise ProblemError(
                "forbidden",
                f"{count}/{len(rows)} dòng đề nghị ở nơi {who.actor!r} không được đề nghị; "
                "chưa hồ sơ nào được khởi động",
                errors=[FieldError(field=e.location, message=e.message) for e in refused],
                detail_en=f"{count} of {len(rows)} rows propose where {who.actor!r} may not; nothing was started",
            )
        if unknown:
            valid = [(number, nomination) for number, nomination in valid if number not in {e.row for e in unknown}]
            errors = sorted(errors + unknown)
        invalid_rows = sorted({e.row for e in errors})
        if errors and not (skip_invalid and valid):
            if valid:
                detail = (
                    f"{len(invalid_rows)}/{len(rows)} dòng không hợp lệ; chưa hồ sơ nào được khởi động (sửa các "
                    f"dòng đó, hoặc nhập với skip_invalid=true để khởi động {len(valid)} dòng hợp lệ)"
                )
                detail_en = (
                    f"{len(invalid_rows)} of {len(rows)} rows are invalid; nothing was started (correct them, or "
                    f"import with skip_invalid=true to start the {len(valid)} valid rows)"
                )
            else:
                detail = f"không dòng nào trong {len(rows)} dòng hợp lệ; chưa hồ sơ nào được khởi động"
                detail_en = f"none of the {len(rows)} rows is valid; nothing was started"
            raise ProblemError(
                "invalid-input",
                detail,
                errors=[FieldError(field=e.location, message=e.message) for e in errors],
                detail_en=detail_en,
            )
        counts = await importer.start_all(
            await svc.client(),
            svc.task_queue,
            valid,
            concurrency=BATCH_CONCURRENCY,
            channel="API",
            engine=svc.engine(),
        )
        items = [
            ImportItem(row=o.row, outcome=o.outcome, workflow_id=o.workflow_id, detail=o.detail)
            for o in counts.outcomes
        ]
        for row in invalid_rows:
            detail = "; ".join(f"{e.column}: {e.message}" if e.column else e.message for e in errors if e.row == row)
            items.append(ImportItem(row=row, outcome="INVALID", detail=detail))
        body = ImportResult(
            started=counts.started,
            already_started=counts.already_started,
            failed=len(counts.failed),
            invalid_skipped=len(invalid_rows),
            items=sorted(items, key=lambda item: item.row),
        )
        return JSONResponse(body.model_dump(mode="json"))

    # The body is a file: its digest (and type) stand for it in the request's fingerprint.
    upload = {"type": suffix, "sha256": hashlib.sha256(content).hexdigest()}
    request_print = fingerprint("POST", f"/nominations:import?skip_invalid={skip_invalid}", upload)
    return await svc.idempotency.run(who.actor, idempotency_key, request_print, start)
