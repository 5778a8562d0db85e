"""The API's problem details in the staff's language: Vietnamese by default (no Accept-Language, or Vietnamese
ranked first), English when Accept-Language ranks English first; the title, the detail and the field errors
follow, and Content-Language says which. Against the dev server and PostgreSQL (the app as served)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from api import create_app
from api.models import MAX_BATCH
from security.tokens import issue_token
from tests.asgi import Reply, call
from tests.integration.helpers import CENTRAL, KEYRING, PROPOSER, second_engine  # noqa: F401 - the engine fixture

pytestmark = pytest.mark.integration

ENGLISH = [("accept-language", "en-GB,en;q=0.9,vi;q=0.5")]
VIETNAMESE_FIRST = [("accept-language", "vi-VN,vi;q=0.9,en;q=0.8")]


@pytest.fixture
def app(client: Client, engine: AsyncEngine) -> Any:
    return create_app(client, keyring=KEYRING, task_queue="language-tests", engine=engine)


def bearer(actor: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {issue_token(KEYRING, actor)}")]


def problem(reply: Reply, status: int, language: str) -> dict[str, Any]:
    assert reply.status == status, reply
    assert reply.header("content-language") == language
    body: dict[str, Any] = reply.json()
    return body


async def test_a_missing_token(app: Any) -> None:
    for headers in ([], VIETNAMESE_FIRST):
        said = problem(await call(app, "GET", "/nominations", headers=headers), 401, "vi")
        assert said["detail"].startswith("cần mã đăng nhập đã ký: Authorization: Bearer")
    said = problem(await call(app, "GET", "/nominations", headers=ENGLISH), 401, "en")
    assert said["detail"].startswith("a signed token is required: Authorization: Bearer")


async def test_an_unknown_ballot_session(app: Any) -> None:
    path = "/ballot-sessions/ballot-council-BTP-KHONG-CO"
    said = problem(await call(app, "GET", path, headers=bearer(CENTRAL)), 404, "vi")
    assert said["detail"] == "không có phiên bỏ phiếu ballot-council-BTP-KHONG-CO"
    said = problem(await call(app, "GET", path, headers=[*bearer(CENTRAL), *ENGLISH]), 404, "en")
    assert said["detail"] == "no ballot session ballot-council-BTP-KHONG-CO"


async def test_a_body_that_is_not_json_names_the_field_in_either_language(app: Any) -> None:
    headers = [*bearer(PROPOSER), ("content-type", "application/json")]
    said = problem(await call(app, "POST", "/nominations:batch", b"{not json", headers), 422, "vi")
    assert said["detail"].startswith("body: không phải JSON hợp lệ")
    assert [(e["field"], e["message"][:22]) for e in said["errors"]] == [("body", "không phải JSON hợp lệ")]
    said = problem(await call(app, "POST", "/nominations:batch", b"{not json", [*headers, *ENGLISH]), 422, "en")
    assert said["detail"].startswith("body: not valid JSON")
    assert said["errors"][0]["message"].startswith("not valid JSON")


async def test_a_batch_that_is_not_a_list(app: Any) -> None:
    said = problem(await call(app, "POST", "/nominations:batch", {"nominations": 3}, bearer(PROPOSER)), 422, "vi")
    assert said["errors"] == [
        {"field": "nominations", "message": f"cần một danh sách từ 1 đến {MAX_BATCH} hồ sơ đề nghị"}
    ]
    english = [*bearer(PROPOSER), *ENGLISH]
    said = problem(await call(app, "POST", "/nominations:batch", {"nominations": 3}, english), 422, "en")
    assert said["errors"] == [{"field": "nominations", "message": f"expected a list of 1 to {MAX_BATCH} nominations"}]


async def test_an_unknown_problem_type(app: Any) -> None:
    said = problem(await call(app, "GET", "/problems/khong-co"), 404, "vi")
    assert said["detail"].startswith("không có loại lỗi 'khong-co'")
    said = problem(await call(app, "GET", "/problems/khong-co", headers=ENGLISH), 404, "en")
    assert said["detail"].startswith("no problem type 'khong-co'")
