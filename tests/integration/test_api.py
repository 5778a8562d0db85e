"""The HTTP API (api/), driven in-process through ASGI (no network, no httpx) against the session's dev server,
worker and PostgreSQL: the OpenAPI document, tokens, problem+json errors, idempotency, a nomination from
creation to its decision and export, ballot sessions, and the rest of the procedure."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from api import create_app
from api.idempotency import IdempotencyStore
from client.importer import COLUMN_BY_FIELD
from client.nominations import started_input
from domain.ballot_messages import CredentialIssue, SessionKeys
from domain.ballots import Choice
from domain.decisions import decision_workflow_id
from domain.messages import NominationStart
from security.committee import decrypt_share, generate_counting_key
from security.credentials import PendingCredential, VoterCredential, finish, prepare_request
from security.sealing import SealError, b64, public_key_info, seal_ballot
from security.tokens import Keyring, issue_token
from store.audit import DECISION_ISSUED
from store.schema import audit_log
from tests.asgi import Reply, call
from tests.factories import nomination_data
from tests.integration.helpers import CENTRAL, PROPOSER, SECRETARY, count_now, counting_key_of, passing_tally
from tests.integration.test_import import PROPOSER as UNIT
from tests.integration.test_import import fictional_rows, workflow_ids, write_csv, write_xlsx

pytestmark = pytest.mark.integration

RING = Keyring(keys={"api-test": "k" * 40}, current="api-test")
CHAIR = "btp.hd.chu-tich"
MEMBERS = ("btp.hd.chu-tich", "btp.hd.uy-vien-1", "btp.hd.uy-vien-2")
PROBLEM = "application/problem+json"


def token(actor: str, ring: Keyring = RING, ttl: timedelta = timedelta(hours=1)) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {issue_token(ring, actor, ttl)}")]


def assert_problem(reply: Reply, status: int, slug: str) -> dict[str, Any]:
    assert reply.status == status, reply
    assert reply.header("content-type") == PROBLEM, reply.headers
    problem = reply.json()
    assert problem["type"] == f"/problems/{slug}" and problem["status"] == status
    assert problem["title"] and problem["detail"] and problem["instance"]
    return problem


@pytest.fixture(scope="module")
def app(client: Client, task_queue: str, db_engine: AsyncEngine) -> Any:
    return create_app(client, keyring=RING, task_queue=task_queue, engine=db_engine)


def api_nomination(award_form: str = "BANG_KHEN_BO", **overrides: Any) -> dict[str, Any]:
    """A nomination as a unit's software sends it: the proposer is the token's actor."""
    data = nomination_data(award_form, **overrides)
    del data["proposer"]
    return data


async def create(app: Any, data: dict[str, Any], actor: str = PROPOSER) -> str:
    reply = await call(app, "POST", "/nominations", data, token(actor))
    assert reply.status == 201, reply
    return str(reply.json()["workflow_id"])


async def wait_stage(app: Any, workflow_id: str, stage: str, timeout: float = 30) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        reply = await call(app, "GET", f"/nominations/{workflow_id}", headers=token(PROPOSER))
        if reply.status == 200 and reply.json()["stage"] == stage:
            return dict(reply.json())
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{workflow_id} did not reach {stage}: {reply}")
        await asyncio.sleep(0.1)


async def withdraw(app: Any, workflow_id: str) -> None:
    """Leave nothing waiting in the council for other tests' ballot sessions."""
    reply = await call(
        app, "POST", f"/nominations/{workflow_id}/withdraw", {"reason": "Dọn dẹp sau kiểm thử"}, token(PROPOSER)
    )
    assert reply.status == 200 and reply.json()["stage"] == "WITHDRAWN", reply


# ---- the document, tokens --------------------------------------------------------------------------------


async def test_the_openapi_document_is_published(app: Any) -> None:
    reply = await call(app, "GET", "/openapi.json")
    assert reply.status == 200
    doc = reply.json()
    assert doc["openapi"].startswith("3.") and doc["info"]["title"]
    paths = doc["paths"]
    expected = {
        "/nominations": {"get", "post"},
        "/nominations:batch": {"post"},
        "/nominations/{workflow_id}": {"get"},
        **{
            f"/nominations/{{workflow_id}}/{action}": {"post"}
            for action in (
                "council-result",
                "bloc-result",
                "approve",
                "reject",
                "return",
                "resubmit",
                "withdraw",
                "hold",
                "release",
                "objections",
                "consultation",
            )
        },
        "/nominations/{workflow_id}/objections/{objection_id}/resolve": {"post"},
        "/ballot-sessions": {"post"},
        "/ballot-sessions/{session_id}": {"get"},
        **{
            f"/ballot-sessions/{{session_id}}/{a}": {"post"}
            for a in ("close-list", "credentials", "ballots", "shares", "close", "extend", "cancel")
        },
        "/ballot-sessions/{session_id}/credential": {"get"},
        "/ballot-sessions/{session_id}/share": {"get"},
        "/counting-keys": {"post"},
        "/receipts/{receipt}": {"get"},
        "/decisions": {"post"},
        "/decisions/{decision_no}": {"get"},
        "/decisions/{decision_no}/export": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))

    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    create_op = paths["/nominations"]["post"]
    assert create_op["security"] == [{"bearerAuth": []}]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in create_op["parameters"])
    assert create_op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Nomination"
    }
    for code in ("401", "409", "422"):
        assert create_op["responses"][code]["content"] == {
            PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
    assert "proposer" not in doc["components"]["schemas"]["Nomination"]["required"]
    assert {"type", "title", "status", "detail", "errors"} <= set(doc["components"]["schemas"]["Problem"]["properties"])
    # Filing an objection and casting a ballot (its credential is its authority) need no token; all else does.
    assert "security" not in paths["/nominations/{workflow_id}/objections"]["post"]
    cast_op = paths["/ballot-sessions/{session_id}/ballots"]["post"]
    assert "security" not in cast_op and "401" not in cast_op["responses"]
    assert {"404", "409", "422"} <= set(cast_op["responses"])
    assert paths["/ballot-sessions/{session_id}/credentials"]["post"]["security"] == [{"bearerAuth": []}]
    for path, method in (
        ("/ballot-sessions/{session_id}/shares", "post"),
        ("/ballot-sessions/{session_id}/share", "get"),
    ):
        assert {"401", "403", "404", "409"} <= set(paths[path][method]["responses"]), path
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for key in ("Idempotency-Key", "/problems/", "problem+json"):
        assert key in doc["info"]["description"]

    assert (await call(app, "GET", "/docs")).status == 200
    described = await call(app, "GET", "/problems/action-refused")
    assert described.status == 200 and described.json()["status"] == 409


async def test_a_missing_forged_or_expired_token_is_a_401(app: Any) -> None:
    missing = assert_problem(await call(app, "GET", "/nominations"), 401, "unauthenticated")
    assert "Bearer" in missing["detail"]
    assert (await call(app, "GET", "/nominations")).header("www-authenticate") == 'Bearer error="invalid_token"'

    forger = Keyring(keys={"api-test": "f" * 40}, current="api-test")  # the right key id, the wrong secret
    forged = await call(app, "GET", "/nominations", headers=token(PROPOSER, forger))
    assert "forged" in assert_problem(forged, 401, "unauthenticated")["detail"]
    unknown_key = Keyring(keys={"other": "o" * 40}, current="other")
    assert (
        "unknown key"
        in assert_problem(
            await call(app, "GET", "/nominations", headers=token(PROPOSER, unknown_key)), 401, "unauthenticated"
        )["detail"]
    )
    expired = await call(app, "GET", "/nominations", headers=token(PROPOSER, ttl=timedelta(seconds=-5)))
    assert "expired" in assert_problem(expired, 401, "unauthenticated")["detail"]
    basic = await call(app, "GET", "/nominations", headers=[("authorization", "Basic dXNlcjpwYXNz")])
    assert_problem(basic, 401, "unauthenticated")

    # Nothing is started without a token.
    data = api_nomination()
    assert_problem(await call(app, "POST", "/nominations", data), 401, "unauthenticated")
    reply = await call(app, "GET", f"/nominations/nomination-2026-BTP-{data['reference']}", headers=token(PROPOSER))
    assert_problem(reply, 404, "not-found")


# ---- a nomination from creation to its decision -----------------------------------------------------------


async def test_create_status_council_approve_decision_and_export(app: Any, db_engine: AsyncEngine) -> None:
    data = api_nomination("BANG_KHEN_TTG")
    created = await call(app, "POST", "/nominations", data, token(PROPOSER))
    assert created.status == 201, created
    workflow_id = created.json()["workflow_id"]
    assert workflow_id == f"nomination-2026-BTP-{data['reference']}" and "/" in workflow_id
    assert created.header("location") == created.json()["status_url"] == f"/nominations/{workflow_id}"

    current = await wait_stage(app, workflow_id, "COUNCIL_REVIEW")
    assert current["nominee_name"] == data["nominee"]["full_name"]
    assert current["transitions"][0]["actor"] == PROPOSER  # the token's actor proposed
    # The id with its '/' as it is, or URL-encoded: the same nomination.
    encoded = await call(app, "GET", f"/nominations/{quote(workflow_id, safe='')}", headers=token(SECRETARY))
    assert encoded.status == 200 and encoded.json()["workflow_id"] == workflow_id

    for _ in range(100):  # visibility is eventually consistent
        listed = await call(
            app,
            "GET",
            "/nominations?stage=COUNCIL_REVIEW&ministry=BTP&year=2026&award_form=BANG_KHEN_TTG",
            headers=token(SECRETARY),
        )
        assert listed.status == 200
        if workflow_id in {row["workflow_id"] for row in listed.json()}:
            break
        await asyncio.sleep(0.1)
    assert workflow_id in {row["workflow_id"] for row in listed.json()}
    found = await call(app, "GET", f"/nominations?q={quote(data['reference'])}", headers=token(SECRETARY))
    assert [row["workflow_id"] for row in found.json()] == [workflow_id]

    tally = passing_tally()
    council = await call(
        app,
        "POST",
        f"/nominations/{workflow_id}/council-result",
        {"tally": tally, "minutes_ref": "BB-API-01"},
        token(SECRETARY),
    )
    assert council.status == 200 and council.json()["stage"] == "CENTRAL_REVIEW", council

    consulted = await call(
        app,
        "POST",
        f"/nominations/{workflow_id}/consultation",
        {"agencies": ["Bộ Nội vụ"], "reason": "Lấy ý kiến cơ quan quản lý"},
        token(CENTRAL),
    )
    assert consulted.status == 200 and consulted.json()["stage"] == "CENTRAL_REVIEW", consulted
    approved = await call(app, "POST", f"/nominations/{workflow_id}/approve", {}, token(CENTRAL))
    assert approved.status == 200 and approved.json()["stage"] == "AWAITING_DECISION", approved

    decision_no = f"{uuid.uuid4().hex[:6]}/QĐ-TTg"
    decision = {
        "decision_no": decision_no,
        "decision_date": "2026-12-20",
        "authority": "PRIME_MINISTER",
        "workflow_ids": [workflow_id, "nomination-2026-BTP-khong-co/TTr"],
    }
    key = [("idempotency-key", f"qd-{uuid.uuid4().hex}")]
    issued = await call(app, "POST", "/decisions", decision, token(CENTRAL) + key)
    assert issued.status == 201, issued
    summary = issued.json()
    assert summary["decision"]["actor"] == CENTRAL
    assert [(i["workflow_id"], i["accepted"]) for i in summary["items"]] == [
        (workflow_id, True),
        ("nomination-2026-BTP-khong-co/TTr", False),
    ]
    again = await call(app, "POST", "/decisions", decision, token(CENTRAL) + key)
    assert (again.status, again.body) == (201, issued.body)
    # Without the key, the same decision again: the existing one (200); another list under its number: 409.
    same = await call(app, "POST", "/decisions", decision, token(CENTRAL))
    assert same.status == 200 and same.json() == summary
    other = await call(app, "POST", "/decisions", {**decision, "workflow_ids": [workflow_id]}, token(CENTRAL))
    assert_problem(other, 409, "duplicate")

    awarded = await wait_stage(app, workflow_id, "AWARDED")
    assert awarded["decision_no"] == decision_no
    # The audit chain says where each action came from: the people's through the API, the engine's as SYSTEM.
    trail = await audit_trail(
        db_engine, [workflow_id, decision_workflow_id(decision_no)], len(awarded["transitions"]) + 1
    )
    assert {(row["action"], row["channel"]) for row in trail if row["actor"] is not None} == {
        ("SUBMIT", "API"),
        ("RECORD_COUNCIL_RESULT", "API"),
        ("CONSULTATION", "API"),
        ("APPROVE", "API"),
        ("DECISION", "API"),
        (DECISION_ISSUED, "API"),
    }
    assert all(row["channel"] == "SYSTEM" for row in trail if row["actor"] is None)
    progress = await call(app, "GET", f"/decisions/{quote(decision_no)}", headers=token(CENTRAL))
    assert progress.status == 200 and progress.json() == summary

    csv_reply = await call(app, "GET", f"/decisions/{quote(decision_no)}/export?format=csv", headers=token(CENTRAL))
    assert csv_reply.status == 200 and (csv_reply.header("content-type") or "").startswith("text/csv")
    assert csv_reply.body.startswith(b"\xef\xbb\xbf")
    text = csv_reply.body.decode("utf-8-sig")
    assert workflow_id in text and decision_no in text and "khong-co" not in text
    assert "attachment" in (csv_reply.header("content-disposition") or "")
    xlsx = await call(app, "GET", f"/decisions/{quote(decision_no)}/export?format=xlsx", headers=token(CENTRAL))
    assert xlsx.status == 200 and xlsx.body.startswith(b"PK")
    assert_problem(
        await call(app, "GET", "/decisions/khong-co/QD/export?format=csv", headers=token(CENTRAL)), 404, "not-found"
    )
    assert_problem(
        await call(app, "GET", f"/decisions/{quote(decision_no)}/export?format=pdf", headers=token(CENTRAL)),
        422,
        "invalid-input",
    )


async def audit_trail(engine: AsyncEngine, workflow_ids: list[str], expected: int) -> list[dict[str, Any]]:
    """The audit entries of these workflows, once `expected` of them are written (a transition is persisted
    just after the status query shows it)."""
    query = sa.select(audit_log).where(audit_log.c.workflow_id.in_(workflow_ids)).order_by(audit_log.c.id)
    rows: list[dict[str, Any]] = []
    for _ in range(100):
        async with engine.connect() as conn:
            rows = [dict(r) for r in (await conn.execute(query)).mappings()]
        if len(rows) >= expected:
            break
        await asyncio.sleep(0.1)
    return rows


# ---- errors ------------------------------------------------------------------------------------------------


async def test_the_listing_comes_a_page_at_a_time(app: Any) -> None:
    created = {await create(app, api_nomination("BANG_KHEN_TTG")) for _ in range(3)}
    query = "/nominations?ministry=BTP&year=2026&award_form=BANG_KHEN_TTG"
    for _ in range(100):  # visibility is eventually consistent
        everything = await call(app, "GET", f"{query}&limit=1000", headers=token(SECRETARY))
        if created <= {row["workflow_id"] for row in everything.json()}:
            break
        await asyncio.sleep(0.1)
    assert everything.header("link") is None or len(everything.json()) == 1000
    url, pages, seen, first_token = f"{query}&limit=2", 0, [], ""
    while url:
        page = await call(app, "GET", url, headers=token(SECRETARY))
        first_token = first_token or (page.header("x-next-page-token") or "")
        assert page.status == 200 and len(page.json()) <= 2, page
        seen += [row["workflow_id"] for row in page.json()]
        pages += 1
        link = page.header("link")
        url = link[1 : link.index(">")] if link else ""
        assert not link or link.endswith('rel="next"')
    assert seen == [row["workflow_id"] for row in everything.json()] and pages >= 2
    bad = await call(app, "GET", f"{query}&page_token=%%%", headers=token(SECRETARY))
    assert [e["field"] for e in assert_problem(bad, 422, "invalid-input")["errors"]] == ["page_token"]
    # A token this API did not give — Temporal's own bytes without the tag, any byte changed, or plain base64
    # garbage — is refused at once, before Temporal (which answers some of them UNKNOWN and is retried).
    given = page.header("x-next-page-token") or first_token
    raw = base64.urlsafe_b64decode(given + "=" * (-len(given) % 4))
    forged = [
        base64.urlsafe_b64encode(raw[16:]).decode().rstrip("="),
        base64.urlsafe_b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode().rstrip("="),
        "AAAA",
        "04-4",
    ]
    for text in forged:
        refused = await call(app, "GET", f"{query}&page_token={text}", headers=token(SECRETARY))
        assert [e["field"] for e in assert_problem(refused, 422, "invalid-input")["errors"]] == ["page_token"]
    too_many = await call(app, "GET", f"{query}&limit=5000", headers=token(SECRETARY))
    assert "limit" in {e["field"] for e in assert_problem(too_many, 422, "invalid-input")["errors"]}


async def test_a_bad_nomination_is_a_422_naming_every_field(app: Any) -> None:
    data = api_nomination()
    data |= {"year": 1800, "award_form": "KHONG_CO", "reference": "có dấu cách"}
    del data["nominee"]["full_name"]
    reply = await call(app, "POST", "/nominations", data, token(PROPOSER))
    problem = assert_problem(reply, 422, "invalid-input")
    fields = {e["field"] for e in problem["errors"]}
    assert {"year", "award_form", "reference", "nominee.full_name"} <= fields, problem["errors"]
    assert all(e["message"] for e in problem["errors"])

    missing_docs = api_nomination()
    missing_docs["dossier"] = missing_docs["dossier"][:1]
    problem = assert_problem(
        await call(app, "POST", "/nominations", missing_docs, token(PROPOSER)), 422, "invalid-input"
    )
    assert [e["field"] for e in problem["errors"]] == ["dossier"]

    bad_json = await call(app, "POST", "/nominations", b'{"reference": ', token(PROPOSER))
    assert [e["field"] for e in assert_problem(bad_json, 422, "invalid-input")["errors"]] == ["body"]
    bad_filter = await call(app, "GET", "/nominations?stage=NOPE&year=abc", headers=token(PROPOSER))
    assert {e["field"] for e in assert_problem(bad_filter, 422, "invalid-input")["errors"]} == {"stage", "year"}

    impossible = {"tally": {"members": 5, "present": 7, "votes_for": 1, "votes_against": 0}}
    reply = await call(
        app, "POST", "/nominations/nomination-2026-BTP-x/TTr/council-result", impossible, token(SECRETARY)
    )
    problem = assert_problem(reply, 422, "invalid-input")
    assert problem["errors"][0]["field"] == "tally.present" and "cannot exceed" in problem["errors"][0]["message"]
    extra = await call(app, "POST", "/nominations/nomination-2026-BTP-x/TTr/withdraw", {"reasn": "x"}, token(PROPOSER))
    assert {e["field"] for e in assert_problem(extra, 422, "invalid-input")["errors"]} == {"reason", "reasn"}


async def test_a_refused_action_is_a_409_and_another_actor_a_403(app: Any) -> None:
    workflow_id = await create(app, api_nomination())
    await wait_stage(app, workflow_id, "COUNCIL_REVIEW")
    tally = {"tally": passing_tally()}

    # The proposer may not record the council's result; the central board may not approve in the council.
    refused = await call(app, "POST", f"/nominations/{workflow_id}/council-result", tally, token(PROPOSER))
    assert "COUNCIL_SECRETARY" in assert_problem(refused, 409, "action-refused")["detail"]
    early = await call(app, "POST", f"/nominations/{workflow_id}/approve", {}, token(CENTRAL))
    assert_problem(early, 409, "action-refused")
    assert (await wait_stage(app, workflow_id, "COUNCIL_REVIEW"))["transitions"][-1]["action"] == "SUBMIT"

    # A body naming someone else than the token's actor: nothing is sent.
    other = await call(
        app, "POST", f"/nominations/{workflow_id}/council-result", {**tally, "actor": SECRETARY}, token(PROPOSER)
    )
    assert SECRETARY in assert_problem(other, 403, "forbidden")["detail"]
    proposed_for = await call(app, "POST", "/nominations", {**api_nomination(), "proposer": SECRETARY}, token(PROPOSER))
    assert_problem(proposed_for, 403, "forbidden")

    unknown = await call(
        app, "POST", "/nominations/nomination-2026-BTP-khong-co/TTr/withdraw", {"reason": "Rút"}, token(PROPOSER)
    )
    assert_problem(unknown, 404, "not-found")
    await withdraw(app, workflow_id)
    ended = await call(app, "POST", f"/nominations/{workflow_id}/withdraw", {"reason": "Rút lần nữa"}, token(PROPOSER))
    assert_problem(ended, 409, "action-refused")


# ---- idempotency --------------------------------------------------------------------------------------------


async def test_the_same_key_and_body_answer_the_first_response_and_start_one_workflow(
    app: Any, client: Client, task_queue: str, db_engine: AsyncEngine
) -> None:
    data = api_nomination()
    key = [("idempotency-key", f"nom-{uuid.uuid4().hex}")]
    first = await call(app, "POST", "/nominations", data, token(PROPOSER) + key)
    second = await call(app, "POST", "/nominations", data, token(PROPOSER) + key)
    assert first.status == second.status == 201
    assert first.body == second.body and second.header("idempotent-replayed") == "true"
    assert first.header("location") == second.header("location")
    workflow_id = first.json()["workflow_id"]
    runs = [wf async for wf in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    for _ in range(50):
        if runs:
            break
        await asyncio.sleep(0.1)
        runs = [wf async for wf in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    assert len(runs) == 1

    # The same key with a different body: 409, nothing started.
    changed = {**data, "achievements": "Một thành tích khác"}
    assert_problem(
        await call(app, "POST", "/nominations", changed, token(PROPOSER) + key), 409, "idempotency-key-reused"
    )
    # Keys are each actor's own: another actor's same key is another request (here: the same reference
    # proposed by someone else, a duplicate).
    colleague = await call(app, "POST", "/nominations", data, token("btp.vutckt.pham-van-duc") + key)
    assert_problem(colleague, 409, "duplicate")

    # After a restart (a new app, a new store) the key is still known: the first answer is replayed. Without
    # the key, Temporal refuses a second workflow and this very nomination is answered 200 with the existing id.
    restarted = create_app(
        client, keyring=RING, task_queue=task_queue, engine=db_engine, idempotency=IdempotencyStore()
    )
    replayed = await call(restarted, "POST", "/nominations", data, token(PROPOSER) + key)
    assert replayed.status == 201 and replayed.body == first.body and replayed.header("idempotent-replayed") == "true"
    retry = await call(restarted, "POST", "/nominations", data, token(PROPOSER))
    assert retry.status == 200 and retry.json() == {**first.json(), "created": False}
    # ...while a different nomination under the same year, ministry and reference is a duplicate.
    assert_problem(await call(restarted, "POST", "/nominations", changed, token(PROPOSER)), 409, "duplicate")

    # A list: validated as a whole, then each one CREATED, EXISTING or REFUSED.
    fresh, taken = api_nomination(), api_nomination()
    taken_id = await create(app, taken)
    batch_key = [("idempotency-key", f"batch-{uuid.uuid4().hex}")]
    bad = await call(
        app, "POST", "/nominations:batch", {"nominations": [fresh, {**fresh, "year": 3000}, fresh]}, token(PROPOSER)
    )
    fields = {e["field"] for e in assert_problem(bad, 422, "invalid-input")["errors"]}
    assert fields == {"nominations.1.year", "nominations.2.reference"}  # a bad year; the same reference twice
    batch = {"nominations": [data, fresh, {**taken, "achievements": "Khác"}]}
    listed = await call(app, "POST", "/nominations:batch", batch, token(PROPOSER) + batch_key)
    assert listed.status == 200, listed
    assert [(i["index"], i["outcome"]) for i in listed.json()["items"]] == [
        (0, "EXISTING"),
        (1, "CREATED"),
        (2, "REFUSED"),
    ]
    assert (listed.json()["created"], listed.json()["existing"], listed.json()["refused"]) == (1, 1, 1)
    replayed = await call(app, "POST", "/nominations:batch", batch, token(PROPOSER) + batch_key)
    assert replayed.body == listed.body and replayed.header("idempotent-replayed") == "true"

    assert listed.json()["items"][2]["workflow_id"] == taken_id
    for item in listed.json()["items"]:
        await wait_stage(app, item["workflow_id"], "COUNCIL_REVIEW")
        await withdraw(app, item["workflow_id"])


# ---- ballot sessions ----------------------------------------------------------------------------------------


async def wait_session(app: Any, session_id: str, done: Any, timeout: float = 30) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        reply = await call(app, "GET", f"/ballot-sessions/{session_id}", headers=token(SECRETARY))
        assert reply.status == 200, reply
        if done(reply.json()):
            return dict(reply.json())
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{session_id}: {reply.json()}")
        await asyncio.sleep(0.1)


async def test_only_the_secretary_or_chair_opens_a_council_session_through_the_api(app: Any) -> None:
    meeting = f"API-{uuid.uuid4().hex[:8]}"
    opening = {"kind": "COUNCIL", "scope": "BTP", "meeting_ref": meeting, "deadline_hours": 1}
    member = await call(app, "POST", "/ballot-sessions", opening, token(MEMBERS[1]))
    detail = assert_problem(member, 409, "action-refused")["detail"]
    assert f"{MEMBERS[1]!r} may not open" in detail and "nothing was started" in detail
    missing = await call(app, "GET", f"/ballot-sessions/ballot-council-BTP-{meeting}", headers=token(CHAIR))
    assert_problem(missing, 404, "not-found")
    elsewhere = await call(app, "POST", "/ballot-sessions", {**opening, "scope": "XYZ"}, token(SECRETARY))
    assert [e["field"] for e in assert_problem(elsewhere, 422, "invalid-input")["errors"]] == ["scope"]


async def ask_credential(app: Any, session_id: str, voter: str) -> tuple[Reply, dict[str, Any], PendingCredential]:
    """What the voter's client asks: the session's keys and the voter's class, then a credential for two
    blinded messages (the token never leaves the client)."""
    info = await call(app, "GET", f"/ballot-sessions/{session_id}/credential", headers=token(voter))
    assert info.status == 200, info
    found = dict(info.json())
    keys = SessionKeys.model_validate(found["keys"])
    request, pending = prepare_request(keys, session_id, found["round"], voter, found["conflict_class"]["class_id"])
    body = {"round": request.round, "blinded_token": request.blinded_token, "blinded_class": request.blinded_class}
    issued = await call(app, "POST", f"/ballot-sessions/{session_id}/credentials", body, token(voter))
    return issued, found, pending


def sealed_ballot(
    session_id: str, found: dict[str, Any], credential: VoterCredential, choices: dict[str, str]
) -> dict[str, Any]:
    """The anonymous ballot a voter's client sends: every candidate sealed (RECUSE where its class recuses),
    with the one-time token and its unblinded signature, and nothing that names the voter."""
    keys = SessionKeys.model_validate(found["keys"])
    marks: dict[str, Choice | None] = {wf: Choice(c) for wf, c in choices.items()} | dict.fromkeys(credential.excluded)
    sealed = seal_ballot(
        keys.sealing,
        session_id,
        found["round"],
        credential.token,
        marks,
        credential.class_id,
        credential.class_signature,
    )
    return {
        "round": found["round"],
        "token": b64(credential.token),
        "token_signature": b64(credential.token_signature),
        "ballot": sealed.model_dump(mode="json"),
    }


async def credential_and_ballot(app: Any, session_id: str, voter: str, choices: dict[str, str]) -> dict[str, Any]:
    issued, found, pending = await ask_credential(app, session_id, voter)
    assert issued.status == 200, issued
    return sealed_ballot(session_id, found, finish(pending, CredentialIssue.model_validate(issued.json())), choices)


async def hand_in_share(app: Any, session_id: str, member: str) -> Reply:
    """A counting committee member's client: their encrypted share, decrypted with their own key, handed in."""
    share = await call(app, "GET", f"/ballot-sessions/{session_id}/share", headers=token(member))
    assert share.status == 200 and share.json()["member"] == member, share
    index, plain = decrypt_share(counting_key_of(member), share.json()["encrypted_share"])
    return await call(
        app, "POST", f"/ballot-sessions/{session_id}/shares", {"index": index, "share": b64(plain)}, token(member)
    )


async def test_a_ballot_session_through_the_api(app: Any) -> None:
    workflow_id = await create(app, api_nomination())
    await wait_stage(app, workflow_id, "COUNCIL_REVIEW")
    meeting = f"API-{uuid.uuid4().hex[:8]}"
    opening = {"kind": "COUNCIL", "scope": "BTP", "meeting_ref": meeting, "deadline_hours": 1, "reminder_hours": 0}
    key = [("idempotency-key", f"session-{meeting}")]
    opened = await call(app, "POST", "/ballot-sessions", opening, token(SECRETARY) + key)
    assert opened.status == 201, opened
    session_id = opened.json()["session_id"]
    assert session_id == f"ballot-council-BTP-{meeting}"
    again = await call(app, "POST", "/ballot-sessions", opening, token(SECRETARY) + key)
    assert (again.status, again.body) == (201, opened.body)
    # Without the key: the same session is answered 200; another deadline under the same meeting is a 409.
    assert (await call(app, "POST", "/ballot-sessions", opening, token(SECRETARY))).status == 200
    later = {**opening, "deadline_hours": None, "deadline": (datetime.now(UTC) + timedelta(hours=5)).isoformat()}
    assert_problem(await call(app, "POST", "/ballot-sessions", later, token(SECRETARY)), 409, "duplicate")
    no_deadline = {k: v for k, v in opening.items() if k != "deadline_hours"}
    no_deadline_reply = await call(app, "POST", "/ballot-sessions", no_deadline, token(SECRETARY))
    assert [e["field"] for e in assert_problem(no_deadline_reply, 422, "invalid-input")["errors"]] == ["deadline"]
    # A counting committee of someone off the council is refused, naming the field.
    off_council = {**opening, "meeting_ref": meeting + "-x", "committee": [MEMBERS[0], MEMBERS[1], CENTRAL]}
    refused = await call(app, "POST", "/ballot-sessions", off_council, token(SECRETARY))
    assert {e["field"] for e in assert_problem(refused, 422, "invalid-input")["errors"]} == {"committee"}

    collecting = await wait_session(
        app, session_id, lambda s: workflow_id in {c["workflow_id"] for c in s["candidates"]}
    )
    assert collecting["phase"] == "COLLECTING"
    early = await call(app, "GET", f"/ballot-sessions/{session_id}/credential", headers=token(CHAIR))
    assert_problem(early, 409, "action-refused")
    assert_problem(
        await call(app, "POST", f"/ballot-sessions/{session_id}/close-list", None, token(CHAIR)), 409, "action-refused"
    )
    voting = await call(app, "POST", f"/ballot-sessions/{session_id}/close-list", None, token(SECRETARY))
    assert voting.status == 200 and voting.json()["phase"] == "VOTING", voting
    status = voting.json()
    assert status["electorate_size"] == len(MEMBERS) and status["results"] is None
    assert status["committee"] == list(MEMBERS) and status["keys"]["threshold"] == 2
    candidates = status["candidates"]

    def ballot(voter: str) -> dict[str, str]:
        return {c["workflow_id"]: "FOR" for c in candidates if c.get("nominee_actor_id") != voter}

    ballots = f"/ballot-sessions/{session_id}/ballots"
    receipts, cast_bodies = [], {}
    for voter in MEMBERS[:2]:  # sealed by the voter's own client; cast with no token at all
        cast_bodies[voter] = await credential_and_ballot(app, session_id, voter, ballot(voter))
        cast = await call(app, "POST", ballots, cast_bodies[voter])
        assert cast.status == 201, cast
        receipts.append(cast.json()["receipt"])
    # One credential per voter and round; a token casts once.
    twice, _, _ = await ask_credential(app, session_id, CHAIR)
    assert "already taken this round's ballot credential" in assert_problem(twice, 409, "action-refused")["detail"]
    replayed = await call(app, "POST", ballots, cast_bodies[CHAIR])
    assert "already cast its ballot" in assert_problem(replayed, 409, "action-refused")["detail"]
    # A token no voter was given is refused; choices in clear never reach the session.
    forged = cast_bodies[CHAIR] | {"token": b64(b"\x01" * 32)}
    assert (
        "token_signature" in assert_problem(await call(app, "POST", ballots, forged), 409, "action-refused")["detail"]
    )
    plain = await call(app, "POST", ballots, {"choices": ballot(MEMBERS[2])}, token(MEMBERS[2]))
    problem = assert_problem(plain, 422, "invalid-input")
    assert [e["field"] for e in problem["errors"]] == ["choices"] and "only sealed ballots" in problem["detail"]
    # The council's secretary records the session and holds no credential; nor does anyone off the council.
    for outsider in (SECRETARY, CENTRAL):
        refused = await call(app, "GET", f"/ballot-sessions/{session_id}/credential", headers=token(outsider))
        assert "no ballot credential class" in assert_problem(refused, 403, "forbidden")["detail"]
    pending = await call(app, "GET", f"/receipts/{receipts[0]}", headers=token(CHAIR))
    assert (
        pending.status == 200 and pending.json()["state"] == "SESSION_NOT_CLOSED" and pending.json()["counted"] is None
    )
    turnout = await call(app, "GET", f"/ballot-sessions/{session_id}", headers=token(CHAIR))
    assert turnout.json()["voted"] == sorted(MEMBERS[:2]) and turnout.json()["results"] is None
    assert turnout.json()["ballots_cast"] == 2

    # The counting committee: a share is handed in only once the voting is over, by a member, once.
    too_early = await hand_in_share(app, session_id, MEMBERS[1])
    assert "only while AWAITING_COUNT" in assert_problem(too_early, 409, "action-refused")["detail"]
    for outsider in (SECRETARY, CENTRAL):
        share = await call(app, "GET", f"/ballot-sessions/{session_id}/share", headers=token(outsider))
        assert "không thuộc Ban kiểm phiếu" in assert_problem(share, 403, "forbidden")["detail"]
        in_english = await call(
            app, "GET", f"/ballot-sessions/{session_id}/share", headers=[*token(outsider), ("accept-language", "en")]
        )
        assert "not on the counting committee" in assert_problem(in_english, 403, "forbidden")["detail"]
        posted = await call(
            app, "POST", f"/ballot-sessions/{session_id}/shares", {"index": 1, "share": b64(bytes(32))}, token(outsider)
        )
        assert_problem(posted, 403, "forbidden")

    last = MEMBERS[2]
    cast = await call(app, "POST", ballots, await credential_and_ballot(app, session_id, last, ballot(last)))
    assert cast.status == 201, cast
    receipts.append(cast.json()["receipt"])
    awaiting = await wait_session(app, session_id, lambda s: s["phase"] == "AWAITING_COUNT")  # everyone voted
    assert awaiting["results"] is None and awaiting["shares_in"] == 0
    first = await hand_in_share(app, session_id, MEMBERS[1])
    assert first.status == 200, first
    assert {k: first.json()[k] for k in ("phase", "shares_in", "threshold", "committee_size")} == {
        "phase": "AWAITING_COUNT",
        "shares_in": 1,
        "threshold": 2,
        "committee_size": 3,
    }
    assert (
        "already handed in"
        in assert_problem(await hand_in_share(app, session_id, MEMBERS[1]), 409, "action-refused")["detail"]
    )
    assert (await hand_in_share(app, session_id, MEMBERS[0])).json()["shares_in"] == 2

    closed = await wait_session(app, session_id, lambda s: s["phase"] == "CLOSED")
    by_id = {entry["candidate"]["workflow_id"]: entry for entry in closed["results"]}
    assert by_id[workflow_id]["tally"]["votes_for"] == 3 and by_id[workflow_id]["result"] == "PASSED"
    for receipt in receipts:
        checked = await call(app, "GET", f"/receipts/{receipt}", headers=token(CHAIR))
        assert checked.json() == {"receipt": receipt, "session_id": session_id, "counted": True, "state": "COUNTED"}
    forged_receipt = await call(app, "GET", f"/receipts/{receipts[0][:-4]}0000", headers=token(CHAIR))
    assert (forged_receipt.json()["state"], forged_receipt.json()["counted"]) == ("NOT_FOUND", False)
    assert_problem(await call(app, "GET", "/receipts/not-a-receipt", headers=token(CHAIR)), 422, "invalid-input")
    assert_problem(
        await call(app, "GET", "/ballot-sessions/ballot-council-BTP-khong-co", headers=token(CHAIR)), 404, "not-found"
    )
    # The session's secrets went with its close: no share is left to fetch.
    gone = await call(app, "GET", f"/ballot-sessions/{session_id}/share", headers=token(MEMBERS[2]))
    assert_problem(gone, 409, "action-refused")
    ended = await call(app, "POST", f"/ballot-sessions/{session_id}/cancel", {"reason": "Hoãn họp"}, token(CHAIR))
    assert_problem(ended, 409, "action-refused")
    await wait_stage(app, workflow_id, "AWAITING_DECISION")


async def test_a_member_enrolls_their_own_counting_key_through_the_api(app: Any, db_engine: AsyncEngine) -> None:
    """POST /counting-keys enrolls the public half for the token's actor only; the same key again is a 200,
    another one a 409 unless it replaces the first — and a replaced key is not the one the shares already
    issued are encrypted to."""
    actor = "vksndtc.vutckt.tran-minh-quan"  # on no counting committee: no other test's session needs them
    first, second = generate_counting_key(), generate_counting_key()
    pem = public_key_info(first).public_pem
    assert_problem(await call(app, "POST", "/counting-keys", {"public_pem": pem}), 401, "unauthenticated")
    named = await call(app, "POST", "/counting-keys", {"public_pem": pem, "actor": CENTRAL}, token(actor))
    assert [e["field"] for e in assert_problem(named, 422, "invalid-input")["errors"]] == ["actor"]

    enrolled = await call(app, "POST", "/counting-keys", {"public_pem": pem}, token(actor))
    assert enrolled.status == 201, enrolled
    assert enrolled.json() == {"actor": actor, "key_id": public_key_info(first).key_id, "replaced": None}
    again = await call(app, "POST", "/counting-keys", {"public_pem": pem}, token(actor))
    assert (again.status, again.json()) == (200, enrolled.json())
    other = public_key_info(second).public_pem
    taken = await call(app, "POST", "/counting-keys", {"public_pem": other}, token(actor))
    assert "replacing it must be asked for" in assert_problem(taken, 409, "duplicate")["detail"]
    replaced = await call(app, "POST", "/counting-keys", {"public_pem": other, "replace": True}, token(actor))
    assert replaced.status == 201 and replaced.json()["replaced"] == public_key_info(first).key_id, replaced
    async with db_engine.connect() as conn:
        stored = await conn.scalar(sa.text("SELECT key_id FROM counting_keys WHERE actor_id = :a"), {"a": actor})
    assert stored == public_key_info(second).key_id

    # Not a counting key: not PEM, or too short a key for RSA-OAEP-3072.
    from cryptography.hazmat.primitives.asymmetric import rsa

    small = public_key_info(rsa.generate_private_key(public_exponent=65537, key_size=2048)).public_pem
    for junk in ("-----BEGIN PUBLIC KEY-----\n" + "A" * 200 + "\n-----END PUBLIC KEY-----\n", small):
        bad = await call(app, "POST", "/counting-keys", {"public_pem": junk, "replace": True}, token(actor))
        assert [e["field"] for e in assert_problem(bad, 422, "invalid-input")["errors"]] == ["public_pem"]


async def test_a_replaced_counting_key_does_not_open_the_shares_issued_before(app: Any) -> None:
    """A member replacing their key while a session votes: their share of it stays encrypted to the old key
    (only its private half opens it); the new key opens only the shares of sessions opened after."""
    workflow_id = await create(app, api_nomination())
    await wait_stage(app, workflow_id, "COUNCIL_REVIEW")
    opening = {"kind": "COUNCIL", "scope": "BTP", "meeting_ref": f"API-{uuid.uuid4().hex[:8]}", "deadline_hours": 1}
    session_id = (await call(app, "POST", "/ballot-sessions", opening, token(SECRETARY))).json()["session_id"]
    await wait_session(app, session_id, lambda s: workflow_id in {c["workflow_id"] for c in s["candidates"]})
    assert (await call(app, "POST", f"/ballot-sessions/{session_id}/close-list", None, token(SECRETARY))).status == 200
    member = MEMBERS[2]
    old = public_key_info(counting_key_of(member))
    new_key = generate_counting_key()
    try:
        body = {"public_pem": public_key_info(new_key).public_pem, "replace": True}
        assert (await call(app, "POST", "/counting-keys", body, token(member))).status == 201
        share = (await call(app, "GET", f"/ballot-sessions/{session_id}/share", headers=token(member))).json()
        assert share["member_key_id"] == old.key_id
        with pytest.raises(SealError, match="does not decrypt with this counting key"):
            decrypt_share(new_key, share["encrypted_share"])
        assert decrypt_share(counting_key_of(member), share["encrypted_share"])[0] == share["index"]
    finally:  # the run's key file is this member's key for every other test's session
        restore = {"public_pem": old.public_pem, "replace": True}
        assert (await call(app, "POST", "/counting-keys", restore, token(member))).status == 201
    cancelled = await call(app, "POST", f"/ballot-sessions/{session_id}/cancel", {"reason": "Hoãn họp"}, token(CHAIR))
    assert cancelled.status == 200, cancelled
    await withdraw(app, workflow_id)


async def test_chair_actions_extend_and_cancel(app: Any) -> None:
    workflow_id = await create(app, api_nomination())
    await wait_stage(app, workflow_id, "COUNCIL_REVIEW")
    meeting = f"API-{uuid.uuid4().hex[:8]}"
    opening = {"kind": "council", "scope": "BTP", "meeting_ref": meeting, "deadline_hours": 1, "reminder_hours": 0}
    session_id = (await call(app, "POST", "/ballot-sessions", opening, token(SECRETARY))).json()["session_id"]
    await wait_session(app, session_id, lambda s: workflow_id in {c["workflow_id"] for c in s["candidates"]})
    assert (await call(app, "POST", f"/ballot-sessions/{session_id}/close-list", {}, token(SECRETARY))).status == 200

    no_quorum = await call(app, "POST", f"/ballot-sessions/{session_id}/close", None, token(CHAIR))
    assert "quorum" in assert_problem(no_quorum, 409, "action-refused")["detail"]
    new_deadline = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    extended = await call(
        app, "POST", f"/ballot-sessions/{session_id}/extend", {"new_deadline": new_deadline.isoformat()}, token(CHAIR)
    )
    assert extended.status == 200 and datetime.fromisoformat(extended.json()["deadline"]) == new_deadline
    not_chair = await call(app, "POST", f"/ballot-sessions/{session_id}/cancel", {"reason": "Hoãn"}, token(SECRETARY))
    assert_problem(not_chair, 409, "action-refused")
    cancelled = await call(app, "POST", f"/ballot-sessions/{session_id}/cancel", {"reason": "Hoãn họp"}, token(CHAIR))
    assert cancelled.status == 200, cancelled
    await wait_session(app, session_id, lambda s: s["phase"] == "CANCELLED")
    await withdraw(app, workflow_id)


# ---- the rest of the procedure ------------------------------------------------------------------------------


async def test_objections_hold_release_return_resubmit_withdraw(app: Any, db_engine: AsyncEngine) -> None:
    data = api_nomination("HUAN_CHUONG_LD_3")
    workflow_id = await create(app, data)
    await wait_stage(app, workflow_id, "PUBLIC_NOTICE")

    # Anyone identified may object, without a token.
    filing = {"filed_by": "Trần Văn Dân (hư cấu)", "contact": "0900 000 000", "reason": "Thành tích chưa đúng"}
    filed = await call(app, "POST", f"/nominations/{workflow_id}/objections", filing)
    assert filed.status == 200 and "số 1" in filed.json()["outcome_vi"], filed
    anonymous = await call(app, "POST", f"/nominations/{workflow_id}/objections", {"reason": "Không rõ ai"})
    assert {e["field"] for e in assert_problem(anonymous, 422, "invalid-input")["errors"]} == {"filed_by", "contact"}
    resolve = {"decision": "dismiss", "reason": "Đã xác minh, không có cơ sở"}
    wrong = await call(app, "POST", f"/nominations/{workflow_id}/objections/1/resolve", resolve, token(CENTRAL))
    assert_problem(wrong, 409, "action-refused")
    resolved = await call(app, "POST", f"/nominations/{workflow_id}/objections/1/resolve", resolve, token(SECRETARY))
    assert resolved.status == 200, resolved
    current = await wait_stage(app, workflow_id, "PUBLIC_NOTICE")
    assert current["objections"][0]["resolution"] == "DISMISS"

    held = await call(
        app,
        "POST",
        f"/nominations/{workflow_id}/hold",
        {"ground": "investigation", "reason": "Đang xác minh"},
        token(SECRETARY),
    )
    assert held.status == 200, held
    assert (await wait_stage(app, workflow_id, "PUBLIC_NOTICE"))["hold"]["ground"] == "INVESTIGATION"
    while_held = await call(
        app, "POST", f"/nominations/{workflow_id}/return", {"reason": "Thiếu biên bản"}, token(SECRETARY)
    )
    assert_problem(while_held, 409, "action-refused")
    released = await call(
        app, "POST", f"/nominations/{workflow_id}/release", {"reason": "Đã có kết luận"}, token(CENTRAL)
    )
    assert released.status == 200, released

    returned = await call(
        app, "POST", f"/nominations/{workflow_id}/return", {"reason": "Thiếu biên bản"}, token(SECRETARY)
    )
    assert returned.status == 200 and returned.json()["stage"] == "RETURNED", returned
    corrected = {**data, "achievements": data["achievements"] + " Bổ sung xác nhận."}
    changed_reference = await call(
        app, "POST", f"/nominations/{workflow_id}/resubmit", {**corrected, "reference": "khac/TTr"}, token(PROPOSER)
    )
    assert "reference" in assert_problem(changed_reference, 409, "action-refused")["detail"]
    resubmitted = await call(app, "POST", f"/nominations/{workflow_id}/resubmit", corrected, token(PROPOSER))
    assert resubmitted.status == 200, resubmitted
    await wait_stage(app, workflow_id, "PUBLIC_NOTICE")
    rejected_by_unit = await call(
        app, "POST", f"/nominations/{workflow_id}/reject", {"reason": "Không"}, token(PROPOSER)
    )
    assert_problem(rejected_by_unit, 409, "action-refused")
    await withdraw(app, workflow_id)
    final = await wait_stage(app, workflow_id, "WITHDRAWN")
    trail = await audit_trail(db_engine, [workflow_id], len(final["transitions"]))
    by_action = {row["action"]: row["channel"] for row in trail}
    # An objection has no actor, yet a person filed it through the API: not the engine's own (SYSTEM) doing.
    assert {a: by_action[a] for a in ("OBJECTION_FILED", "OBJECTION_RESOLVED", "HOLD", "RELEASE", "WITHDRAW")} == {
        "OBJECTION_FILED": "API",
        "OBJECTION_RESOLVED": "API",
        "HOLD": "API",
        "RELEASE": "API",
        "WITHDRAW": "API",
    }


# ---- list import (a spreadsheet or CSV, as `starter.py import`) --------------------------------------------

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def import_app(client: Client, db_engine: AsyncEngine) -> Any:
    """The API starting on a task queue no worker polls: an import is about which workflows exist."""
    return create_app(client, keyring=RING, task_queue=f"api-import-{uuid.uuid4().hex[:8]}", engine=db_engine)


def upload(rows: Sequence[dict[str, str]], kind: str, tmp_path: Any) -> tuple[bytes, list[tuple[str, str]]]:
    name = f"danh-sach-{uuid.uuid4().hex[:6]}.{kind}"
    path = (write_csv if kind == "csv" else write_xlsx)(tmp_path / name, rows)
    return path.read_bytes(), [("content-type", "text/csv; charset=utf-8" if kind == "csv" else XLSX)]


async def test_a_list_is_imported_from_an_uploaded_xlsx_or_csv(import_app: Any, client: Client, tmp_path: Any) -> None:
    def header(field: str) -> str:
        return COLUMN_BY_FIELD[field].header

    rows = fictional_rows(uuid.uuid4().hex[:8], count=4)
    ids = workflow_ids(rows)
    unit = token(UNIT)

    # Any row invalid: 422 naming every row and column (the CLI's texts), nothing started.
    bad = [dict(r) for r in rows]
    bad[1]["year"], bad[3]["reference"] = "1999", rows[0]["reference"]
    content, media = upload(bad, "csv", tmp_path)
    refused = assert_problem(
        await call(import_app, "POST", "/nominations:import", content, unit + media), 422, "invalid-input"
    )
    assert [e["field"] for e in refused["errors"]] == [f"dòng 3, {header('year')}", f"dòng 5, {header('reference')}"]
    assert refused["errors"][1]["message"] == "trùng dòng 2 (cùng năm, bộ, ngành và số tờ trình)"
    assert "2/4 dòng không hợp lệ; chưa hồ sơ nào được khởi động" in refused["detail"]
    assert [await started_input(client, i, NominationStart) for i in ids] == [None] * 4
    # Every row's proposer must be the token's actor.
    content, media = upload(rows, "xlsx", tmp_path)
    someone_else = await call(import_app, "POST", "/nominations:import", content, token(PROPOSER) + media)
    fields = [e["field"] for e in assert_problem(someone_else, 422, "invalid-input")["errors"]]
    assert fields == [f"dòng {n}, {header('proposer')}" for n in (2, 3, 4, 5)]
    # Not a spreadsheet: 415 naming Content-Type; a broken workbook: 422 naming the body.
    wrong_type = await call(
        import_app, "POST", "/nominations:import", content, [*unit, ("content-type", "application/json")]
    )
    assert [e["field"] for e in assert_problem(wrong_type, 415, "unsupported-media-type")["errors"]] == ["Content-Type"]
    broken = await call(
        import_app, "POST", "/nominations:import", b"PK not a workbook", [*unit, ("content-type", XLSX)]
    )
    assert [e["field"] for e in assert_problem(broken, 422, "invalid-input")["errors"]] == ["body"]

    # Under row 5's reference, another nomination exists already.
    other = {**rows[3], "achievements": "Một hồ sơ khác giữ số tờ trình này."}
    content, media = upload([other], "csv", tmp_path)
    assert (await call(import_app, "POST", "/nominations:import", content, unit + media)).json()["started"] == 1

    # The workbook: started (channel API) with an Idempotency-Key; the same key and file answer the same.
    content, media = upload(rows, "xlsx", tmp_path)
    key = [("idempotency-key", f"import-{uuid.uuid4().hex}")]
    imported = await call(import_app, "POST", "/nominations:import", content, unit + media + key)
    assert imported.status == 200, imported
    result = imported.json()
    assert (result["started"], result["already_started"], result["failed"], result["invalid_skipped"]) == (3, 0, 1, 0)
    assert [(i["row"], i["outcome"], i["workflow_id"]) for i in result["items"]] == [
        (2, "STARTED", ids[0]),
        (3, "STARTED", ids[1]),
        (4, "STARTED", ids[2]),
        (5, "FAILED", ids[3]),
    ]
    assert result["items"][3]["detail"].startswith("số tờ trình đã thuộc hồ sơ khác")
    started = await started_input(client, ids[0], NominationStart)
    assert started is not None and started.channel == "API" and started.nomination.proposer == UNIT
    replayed = await call(import_app, "POST", "/nominations:import", content, unit + media + key)
    assert replayed.body == imported.body and replayed.header("idempotent-replayed") == "true"
    csv_content, csv_media = upload(rows, "csv", tmp_path)
    reused = await call(import_app, "POST", "/nominations:import", csv_content, unit + csv_media + key)
    assert_problem(reused, 409, "idempotency-key-reused")

    # The same list again (here as CSV, without a key): nothing new starts.
    again = await call(import_app, "POST", "/nominations:import", csv_content, unit + csv_media)
    assert again.status == 200, again
    assert [i["outcome"] for i in again.json()["items"]] == ["ALREADY_STARTED"] * 3 + ["FAILED"]

    # skip_invalid: the valid rows start, the invalid ones are listed.
    more = fictional_rows(uuid.uuid4().hex[:8], count=2)
    more[0]["nominee_full_name"] = ""
    content, media = upload(more, "csv", tmp_path)
    skipped = await call(import_app, "POST", "/nominations:import?skip_invalid=true", content, unit + media)
    assert skipped.status == 200, skipped
    assert [(i["row"], i["outcome"]) for i in skipped.json()["items"]] == [(2, "INVALID"), (3, "STARTED")]
    assert skipped.json()["items"][0]["detail"] == f"{header('nominee_full_name')}: thiếu trường bắt buộc"
    assert (skipped.json()["started"], skipped.json()["invalid_skipped"]) == (1, 1)


async def test_the_import_is_in_the_openapi_document(app: Any) -> None:
    operation = (await call(app, "GET", "/openapi.json")).json()["paths"]["/nominations:import"]["post"]
    assert operation["summary"] and "samples/import-template.xlsx" in operation["requestBody"]["description"]
    assert set(operation["requestBody"]["content"]) == {"text/csv", XLSX}
    parameters = {p["name"]: p["in"] for p in operation["parameters"]}
    assert parameters == {"Idempotency-Key": "header", "skip_invalid": "query"}
    assert operation["responses"]["415"]["content"] == {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}


# ---- Idempotency-Key on a ballot and an objection ------------------------------------------------------------


async def test_a_retried_ballot_with_its_key_gets_its_receipt_again(
    app: Any, client: Client, db_engine: AsyncEngine
) -> None:
    workflow_id = await create(app, api_nomination())
    await wait_stage(app, workflow_id, "COUNCIL_REVIEW")
    meeting = f"API-{uuid.uuid4().hex[:8]}"
    opening = {"kind": "COUNCIL", "scope": "BTP", "meeting_ref": meeting, "deadline_hours": 1, "reminder_hours": 0}
    session_id = (await call(app, "POST", "/ballot-sessions", opening, token(SECRETARY))).json()["session_id"]
    await wait_session(app, session_id, lambda s: workflow_id in {c["workflow_id"] for c in s["candidates"]})
    voting = await call(app, "POST", f"/ballot-sessions/{session_id}/close-list", None, token(SECRETARY))
    assert voting.status == 200, voting
    candidates = voting.json()["candidates"]
    ballots = f"/ballot-sessions/{session_id}/ballots"

    def choices(voter: str, choice: str = "FOR") -> dict[str, str]:
        return {c["workflow_id"]: choice for c in candidates if c.get("nominee_actor_id") != voter}

    # The cast's answer was lost; the retry with the same key and body gets the receipt (no token: the keys
    # of anonymous ballots are no one's own, so use a random one).
    first_voter, key = MEMBERS[0], [("idempotency-key", f"ballot-{uuid.uuid4().hex}")]
    body = await credential_and_ballot(app, session_id, first_voter, choices(first_voter))
    cast = await call(app, "POST", ballots, body, key)
    assert cast.status == 201, cast
    retried = await call(app, "POST", ballots, body, key)
    assert (retried.status, retried.body) == (201, cast.body) and retried.header("idempotent-replayed") == "true"
    changed = await call(app, "POST", ballots, body | {"round": 2}, key)
    assert_problem(changed, 409, "idempotency-key-reused")
    assert_problem(await call(app, "POST", ballots, body), 409, "action-refused")

    # The credential's answer was lost: the same request with its key answers the same blind signatures, which
    # the voter's client (holding the blinding factors) can still finish.
    second_voter, key = MEMBERS[1], [("idempotency-key", f"credential-{uuid.uuid4().hex}")]
    info = (await call(app, "GET", f"/ballot-sessions/{session_id}/credential", headers=token(second_voter))).json()
    keys = SessionKeys.model_validate(info["keys"])
    request, pending = prepare_request(
        keys, session_id, info["round"], second_voter, info["conflict_class"]["class_id"]
    )
    asked = {"round": request.round, "blinded_token": request.blinded_token, "blinded_class": request.blinded_class}
    credentials = f"/ballot-sessions/{session_id}/credentials"
    issued = await call(app, "POST", credentials, asked, token(second_voter) + key)
    assert issued.status == 200, issued
    again = await call(app, "POST", credentials, asked, token(second_voter) + key)
    assert (again.status, again.body) == (200, issued.body) and again.header("idempotent-replayed") == "true"
    # Without the key the session itself answers the very same blinded values with the same credential; any
    # other request of this voter's (a fresh blinding) is a second credential, refused.
    unkeyed = await call(app, "POST", credentials, asked, token(second_voter))
    assert (unkeyed.status, unkeyed.json()) == (200, issued.json())
    fresh, _ = prepare_request(keys, session_id, info["round"], second_voter, info["conflict_class"]["class_id"])
    other = {"round": fresh.round, "blinded_token": fresh.blinded_token, "blinded_class": fresh.blinded_class}
    assert_problem(await call(app, "POST", credentials, other, token(second_voter)), 409, "action-refused")
    credential = finish(pending, CredentialIssue.model_validate(again.json()))
    sealed_cast = await call(app, "POST", ballots, sealed_ballot(session_id, info, credential, choices(second_voter)))
    assert sealed_cast.status == 201, sealed_cast

    last = MEMBERS[2]
    assert (
        await call(app, "POST", ballots, await credential_and_ballot(app, session_id, last, choices(last)))
    ).status == 201
    assert (await count_now(client, db_engine, session_id)).phase.value == "CLOSED"
    for receipt in (cast.json()["receipt"], sealed_cast.json()["receipt"]):
        assert (await call(app, "GET", f"/receipts/{receipt}", headers=token(CHAIR))).json()["state"] == "COUNTED"
    await wait_stage(app, workflow_id, "AWAITING_DECISION")


async def test_a_retried_objection_with_its_key_is_filed_once(app: Any) -> None:
    workflow_id = await create(app, api_nomination("HUAN_CHUONG_LD_3"))
    await wait_stage(app, workflow_id, "PUBLIC_NOTICE")
    objections = f"/nominations/{workflow_id}/objections"
    filing = {"filed_by": "Lê Văn Phản (hư cấu)", "contact": "0900 111 222", "reason": "Thành tích chưa đúng"}
    key = [("idempotency-key", f"objection-{uuid.uuid4().hex}")]

    filed = await call(app, "POST", objections, filing, key)  # no token: anyone identified may object
    assert filed.status == 200 and "số 1" in filed.json()["outcome_vi"], filed
    retried = await call(app, "POST", objections, filing, key)
    assert (retried.status, retried.body) == (200, filed.body) and retried.header("idempotent-replayed") == "true"
    other = await call(app, "POST", objections, {**filing, "reason": "Một phản ánh khác"}, key)
    assert_problem(other, 409, "idempotency-key-reused")
    assert len((await wait_stage(app, workflow_id, "PUBLIC_NOTICE"))["objections"]) == 1
    await withdraw(app, workflow_id)


async def test_a_ballot_and_an_objection_take_an_idempotency_key_in_the_document(app: Any) -> None:
    paths = (await call(app, "GET", "/openapi.json")).json()["paths"]
    for path in (
        "/ballot-sessions/{session_id}/ballots",
        "/ballot-sessions/{session_id}/credentials",
        "/nominations/{workflow_id}/objections",
    ):
        parameters = paths[path]["post"]["parameters"]
        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in parameters), path
