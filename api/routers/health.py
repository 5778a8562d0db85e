"""Probes and metrics for operators: `/healthz` (the process answers), `/readyz` (the database and Temporal
answer: 503 when either does not) and `/metrics` (Prometheus text: observability/metrics.py). None needs a
token and none is in the OpenAPI document: they are for orchestrators and scrapers, not for staff software."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from api.deps import Services, Svc
from api.problems import ProblemError
from client.audit_anchors import read_anchors
from observability.metrics import Readings, api_exposition
from store.telemetry import outbox_backlog, ping

router = APIRouter(include_in_schema=False)

CHECK_TIMEOUT_S = 3.0  # a probe answers within its orchestrator's timeout, whatever a dependency does


def _why(err: BaseException) -> str:
    """A failure's first line, short (no secrets: URLs are not part of what the drivers raise here)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}"[:200]


async def _within(check: Awaitable[Any]) -> Any:
    return await asyncio.wait_for(check, CHECK_TIMEOUT_S)


async def check_database(svc: Services) -> str | None:
    """None when the database answers a query, else why not."""
    try:
        await _within(ping(svc.engine()))
    except Exception as err:  # any failure means "not ready"; the reason is reported, not raised
        return _why(err)
    return None


async def check_temporal(svc: Services) -> str | None:
    """None when the Temporal frontend answers (GetSystemInfo: allowed to any client of the namespace)."""
    try:
        client = await _within(svc.client())
        await _within(client.workflow_service.get_system_info(GetSystemInfoRequest()))
    except ProblemError as err:
        return err.detail
    except Exception as err:  # any failure means "not ready"; the reason is reported, not raised
        return _why(err)
    return None


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and serving (no dependency is asked)."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(svc: Svc) -> JSONResponse:
    """Ready when the database and Temporal both answer; 503 naming the one that does not."""
    database, temporal = await asyncio.gather(check_database(svc), check_temporal(svc))
    checks = {"database": database or "ok", "temporal": temporal or "ok"}
    ready = database is None and temporal is None
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
    )


async def _outbox(svc: Services) -> dict[str, int] | None:
    async def read() -> dict[str, int]:
        async with svc.engine().connect() as conn:
            return await outbox_backlog(conn)

    try:
        counts: dict[str, int] = await _within(read())
    except Exception:  # the database is down: the series is left out and tdkt_dependency_up says why
        return None
    return counts


async def _anchor_age(svc: Services) -> float | None:
    try:
        client = await _within(svc.client())
        latest = (await _within(read_anchors(client, svc.task_queue))).latest
    except Exception:  # NoAnchors (no anchor workflow yet), or Temporal is down: the series is left out
        return None
    if latest is None:
        return None
    seen = max(latest.anchored_at, latest.confirmed_at)
    return max((datetime.now(UTC) - seen).total_seconds(), 0.0)


@router.get("/metrics")
async def metrics(svc: Svc) -> Response:
    """Prometheus text: the API process's series, the outbox backlog, the audit anchor's age and whether the
    database and Temporal answered."""
    database, temporal, outbox, anchor_age = await asyncio.gather(
        check_database(svc), check_temporal(svc), _outbox(svc), _anchor_age(svc)
    )
    body = api_exposition(
        Readings(database_up=database is None, temporal_up=temporal is None, outbox=outbox, anchor_age_s=anchor_age)
    )
    return Response(body, media_type=CONTENT_TYPE_LATEST)
