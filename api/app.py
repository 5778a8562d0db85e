"""The HTTP API: what the staff CLI (starter.py) does, over HTTP, for unit, council, bloc and central-board
software. The OpenAPI document is served at ``/openapi.json`` (Swagger UI at ``/docs``).

* **Who acts.** Every call but filing an objection and casting a ballot carries a signed token
  (``Authorization: Bearer <token>``, security.tokens; the keys of ``TDKT_AUTH_KEYS``/``TDKT_AUTH_KEY_ID``, as the
  CLI's). The token's actor is the actor of every action; the workflows' validators then check that actor's
  role again. A ballot is cast with no token at all: its one-time blind-signed credential is its authority,
  so nothing in the request names the voter.
* **Errors** are problem details (RFC 9457, ``application/problem+json``): see api/problems.py.
* **Idempotency.** ``Idempotency-Key`` on POST /nominations, /nominations:batch, /nominations:import,
  /ballot-sessions and /decisions, and on casting a ballot and filing an objection: see api/idempotency.py.
  Behind it, the workflow id is the business key, so even after a restart a retry cannot start a second
  nomination, session or decision.
* **Workflow ids contain '/'** (``nomination-2026-BTP-145/TTr-BTP``): the routes take the id as a path
  (``/nominations/nomination-2026-BTP-145/TTr-BTP/withdraw``: the action is the last segment), or URL-encoded
  (``…-145%2FTTr-BTP/withdraw``); both reach the same nomination.

This module is the factory: ``create_app(client)`` takes a connected Temporal client (tests), a factory
returning one, or Settings (``python -m api``: connects on first use, as the worker and the CLI do), and puts
together the middleware, the problem handlers, the routers (api/routers/, one module per resource, on the
shared dependencies of api/deps.py), the inbox and the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from api.deps import ClientFactory, Services
from api.docs_ui import install_docs
from api.idempotency import IdempotencyStore
from api.inbox import STATIC_DIR, inbox_router
from api.limits import BodyLimits
from api.problems import install_problem_handlers, problem_responses_in_openapi
from api.report_page import report_router
from api.routers import ROUTERS, health
from api.routers.bloc_years import bloc_year_schemas
from api.routers.nominations import nomination_schemas
from client.revocation import RevocationStore
from client.settings import Settings
from observability.tracing import configure_tracing, drop_query_string, shutdown_tracing
from security.tokens import Keyring, keyring_from_env

API_TITLE = "TĐKT nomination engine API"
API_VERSION = "1.0.0"
TAGS = [
    {"name": "nominations", "description": "Create, find and follow nominations; every human action on one."},
    {"name": "ballot sessions", "description": "Secret-ballot sessions of councils and blocs (bỏ phiếu kín)."},
    {"name": "decisions", "description": "Decisions naming many approved nominations; the list of awardees."},
    {
        "name": "bloc years",
        "description": "A bloc's year (năm thi đua của Khối): pledge, self-assessment, cross-checking, ranking, "
        "honouring, the next head.",
    },
    {
        "name": "documents",
        "description": "Printable documents in the Decree 30 layout (PDF, DOCX, HTML): the minutes of a ballot "
        "count, a decision with its list, a bloc year's pledge and ranking; read as their records are read.",
    },
    {"name": "tokens", "description": "Revoking a signed token before it expires (signing out everywhere)."},
    {"name": "problems", "description": "What each problem `type` of an error answer means."},
]
DESCRIPTION = """
Award nominations (thi đua – khen thưởng) as Temporal workflows: what `starter.py` does, over HTTP.

**Authentication.** `Authorization: Bearer <token>` — a signed token (JWT, HS256) from
`starter.py token issue --for ACTOR`. The token's actor is the actor of every action (a body may name it as
`actor`, or a nomination as `proposer`; it must then be the token's); each workflow checks that actor's role
against the roster again. Filing an objection needs no token: anyone who gives a name and a contact may.
A token can be revoked before it expires (POST /tokens/revoke with it, or `starter.py token revoke`); a revoked
token is a 401 naming its id (`jti`), as it is to the CLI and the inbox.

**Secret ballots.** A voter's client takes the session's keys and its conflict class
(GET /ballot-sessions/{id}/credential), asks for a one-time credential with two blinded messages
(POST /ballot-sessions/{id}/credentials, with the voter's token), seals the choices itself and casts the
ballot with NO token (POST /ballot-sessions/{id}/ballots): the credential is the authority, and the API
accepts only sealed ballots. The counting committee (Ban kiểm phiếu) enrolls counting keys
(POST /counting-keys), and once the round's voting is over each member fetches their encrypted share
(GET /ballot-sessions/{id}/share) and hands it in decrypted (POST /ballot-sessions/{id}/shares); the count
runs when the threshold is reached.

**Errors** are `application/problem+json` (RFC 9457) with `type`, `title`, `status`, `detail`, `instance`,
and `errors: [{field, message}]` on 422. `type` URIs are served under `/problems/`.

**Idempotency.** POST /nominations, /nominations:batch, /nominations:import, /ballot-sessions and /decisions,
casting a ballot and filing an objection take an `Idempotency-Key` header: the same key with the same body
answers with the first response (a ballot's receipt again, when the first answer was lost); with another
body, 409. Keys are the token actor's own; an objection's (no token) are everyone's: use a random key.
Independently of the key, a nomination (year, ministry, reference), a session (kind, scope, meeting) or a
decision number is started once: the same request again answers 200 with the existing one; a different one
under the same business key is a 409.

**Lists.** POST /nominations:import takes a spreadsheet (XLSX) or CSV file as the body, the columns of
`samples/import-template.xlsx`, as `starter.py import` does.

**Workflow ids contain `/`** (`nomination-2026-BTP-145/TTr-BTP`): put them in the path as they are, or
URL-encoded; the action is always the last segment.
"""


def create_app(
    client: Client | ClientFactory | Settings | None = None,
    *,
    settings: Settings | None = None,
    keyring: Keyring | None = None,
    task_queue: str | None = None,
    engine: AsyncEngine | None = None,
    idempotency: IdempotencyStore | None = None,
    revocations: RevocationStore | None = None,
) -> FastAPI:
    """The API over `client` (a connected client, or a factory returning one); given Settings (or nothing:
    Settings.from_env()), it connects to their Temporal on first use. The token keys default to the
    environment's (`TDKT_AUTH_KEYS`, ...), the task queue to the settings', the database (decision exports)
    to DATABASE_URL or the local SQLite file."""
    if isinstance(client, Settings):
        settings, client = client, None
    settings = settings or Settings.from_env()
    if client is None:
        from client.temporal import connect

        configured = settings

        async def connect_from_settings() -> Client:
            return await connect(
                configured.temporal_address, configured.temporal_namespace, profile=configured.temporal
            )

        client = connect_from_settings
    svc = Services(
        settings=settings,
        keyring=keyring or keyring_from_env(),
        task_queue=task_queue or settings.task_queue,
        client=client,
        engine=engine,
        idempotency=idempotency or IdempotencyStore(),
        revocations=revocations,
    )
    # Answers to Idempotency-Key requests are kept in the database, so retries after a restart replay them.
    svc.idempotency.attach(svc.engine, svc.keyring)

    # Tracing from the OTEL_* variables (off unless set): before the first client, which takes its interceptor.
    tracing = configure_tracing("tdkt-api")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await svc.aclose()
            if tracing is not None:
                shutdown_tracing()

    # /docs and /redoc from the API's own files (api/docs_ui.py), not FastAPI's CDN pages: they work offline.
    app = FastAPI(
        title=API_TITLE,
        version=API_VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_docs(app)
    app.state.services = svc
    install_problem_handlers(app)
    app.add_middleware(BodyLimits)
    for router in ROUTERS:
        app.include_router(router)
    # /healthz, /readyz and /metrics for orchestrators and Prometheus (not in the OpenAPI document).
    app.include_router(health.router)
    # The Vietnamese browser inbox for voters, unit staff and the secretariat (server-rendered, /inbox); it
    # reads the roster from the same database as the engine (svc.engine: the given engine or DATABASE_URL).
    app.include_router(
        inbox_router(svc.client, svc.task_queue, svc.keyring, engine=svc.engine, revocations=svc.revocations),
        include_in_schema=False,
    )
    # Its report page for the council secretariat and the central board (charts of the counts; api/report_page.py).
    app.include_router(report_router(svc.keyring, engine=svc.engine, revocations=svc.revocations))
    # The inbox's scripts (the ballot is sealed in the voter's browser) and the vendored RFC 9474 library.
    app.mount("/inbox/static", StaticFiles(directory=STATIC_DIR), name="inbox-static")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes, tags=TAGS
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in (nomination_schemas() | bloc_year_schemas()).items():
                components.setdefault(name, definition)
            problem_responses_in_openapi(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    if tracing is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        # Spans name the route template; query strings are dropped (drop_query_string); the probes are not traced.
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=tracing,
            excluded_urls="/healthz,/readyz,/metrics",
            server_request_hook=drop_query_string,
            exclude_spans=["receive", "send"],
        )
    return app
