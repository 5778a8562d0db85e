"""The bloc year's people's interfaces against the session's dev server, worker and PostgreSQL: the CLI through
its entry point (real processes, real exit codes), the API through its ASGI app, and the inbox's page.

Refusals: someone without the act's role (exit 4 / 403 naming the role), a self-assessment that does not fit
the scoring table (exit 2 / 422 naming the fields), a bloc year that does not exist (exit 5 / 404), a second
year for the same bloc and year (exit 3 / 409), a person outside the bloc reading the status (exit 4 / 403).
The path: publish → every member signs → call → submit (→ adjust, close the review, the ranking and its XLSX).

The shipped roster names a representative for some of the bloc's members only: the module adds a fictional
one for each member without, and takes their roles away again at the end (later modules count the bloc's
voters). Each test has a year of its own (one bloc year per bloc and year).
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from api import create_app
from api.deps import XLSX_MEDIA_TYPE
from api.inbox import COOKIE
from domain.bloc.policy import bloc_scoring_policy_for
from domain.bloc.year import bloc_year_id
from domain.roster import Roster
from security.tokens import Keyring, issue_token
from store.roster import load_roster
from store.schema import actor_roles, actors, blocs, ministries
from tests.asgi import Reply, call
from tests.integration.helpers import BLOC_HEAD, CENTRAL, KEYRING, PROPOSER, cli_environment

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BLOC = "NOI_CHINH"
RING = Keyring(keys={"bloc-year-test": "b" * 40}, current="bloc-year-test")
PROBLEM = "application/problem+json"
# One bloc year per bloc and year: each test takes years of its own, far from the ones other modules use.
YEARS: Iterator[int] = iter(random.Random().sample(range(2060, 2100), 12))


# ---- the bloc's people --------------------------------------------------------------------------------------


async def _bloc_rows(engine: AsyncEngine) -> tuple[Any, list[Any], dict[str, str]]:
    async with engine.connect() as conn:
        bloc = (await conn.execute(sa.select(blocs).where(blocs.c.code == BLOC))).one()
        members = (
            await conn.execute(sa.select(ministries).where(ministries.c.bloc_code == BLOC).order_by(ministries.c.code))
        ).all()
        reps = (
            await conn.execute(
                sa.select(actors.c.id, actors.c.organisation)
                .join(actor_roles, actor_roles.c.actor_id == actors.c.id)
                .where(actor_roles.c.role == "BLOC_REPRESENTATIVE", actor_roles.c.scope == BLOC)
                .order_by(actors.c.id)
            )
        ).all()
    represented: dict[str, str] = {}
    for rep in reps:
        represented.setdefault(rep.organisation, rep.id)
    return bloc, list(members), represented


def _roster(bloc: Any, members: list[Any], people: list[dict[str, Any]]) -> Roster:
    return Roster.model_validate(
        {
            "blocs": [{"code": bloc.code, "name": bloc.name, "head_ministry": bloc.head_ministry}],
            "ministries": [{"code": m.code, "name": m.name, "bloc": m.bloc_code} for m in members],
            "actors": people,
        }
    )


@pytest.fixture(scope="module")
async def representatives(db_engine: AsyncEngine) -> AsyncIterator[dict[str, str]]:
    """member → the id of a representative of it in the bloc (fictional ones added where the roster has none)."""
    bloc, members, represented = await _bloc_rows(db_engine)
    added = [
        {
            "id": f"h3.{m.code.lower()}.dai-dien-khoi",
            "full_name": f"Đại diện thử nghiệm {m.code}",
            "organisation": m.code,
            "roles": [{"role": "BLOC_REPRESENTATIVE", "scope": BLOC}],
        }
        for m in members
        if m.code not in represented
    ]
    if added:
        await load_roster(db_engine, _roster(bloc, members, added))
    yield represented | {a["organisation"]: a["id"] for a in added}
    if added:  # their roles go again: later modules count the bloc's representatives
        await load_roster(db_engine, _roster(bloc, members, [a | {"roles": []} for a in added]))


def assessment(member: str, year: int, *, points: str = "5", **changes: Any) -> dict[str, Any]:
    """A self-assessment scoring every criterion of the year's table, with evidence."""
    policy = bloc_scoring_policy_for(BLOC, year)
    scores = {
        code: {"points": str(min(criterion.max_points, int(points))), "evidence": [{"reference": f"15/BC-{member}"}]}
        for code, criterion in policy.criteria.items()
    }
    data: dict[str, Any] = {"member": member, "year": year, "policy_version": policy.version, "scores": scores}
    return data | changes


def bad_assessment(member: str, year: int) -> dict[str, Any]:
    """NV1 above its maximum, KT3 missing."""
    data = assessment(member, year)
    data["scores"]["NV1"]["points"] = "30"
    del data["scores"]["KT3"]
    return data


# ---- the CLI --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_env(client: Client, task_queue: str, database_url: str) -> dict[str, str]:
    return cli_environment(client, task_queue, database_url)


async def cli(env: dict[str, str], actor: str, *args: str) -> subprocess.CompletedProcess[str]:
    """starter.py --json bloc-year ..., as `actor` (a token signed for them)."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(ROOT / "starter.py"), "--json", "bloc-year", *args],
        env=env | {"TDKT_TOKEN": issue_token(KEYRING, actor)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )


def ok(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.lstrip().startswith(("{", "[")) else done.stdout.strip()


async def test_cli_refusals_then_publish_sign_by_all_call_and_submit(
    cli_env: dict[str, str], representatives: dict[str, str], tmp_path: Path
):
    year = next(YEARS)
    workflow_id = bloc_year_id(BLOC, year)
    some_rep = representatives["BTP"]

    # Only the bloc head opens the year; the refusal names the role. A second year for it is refused.
    refused = await cli(cli_env, some_rep, "start", "--bloc", BLOC, "--year", str(year))
    assert refused.returncode == 4, refused.stderr
    assert "BLOC_HEAD" in refused.stderr and "nothing was started" in refused.stderr
    assert ok(await cli(cli_env, BLOC_HEAD, "start", "--bloc", BLOC, "--year", str(year))) == workflow_id
    again = await cli(cli_env, BLOC_HEAD, "start", "--bloc", BLOC, "--year", str(year))
    assert again.returncode == 3 and "already exists" in again.stderr, again.stderr

    # A year that does not exist: not found to a reader of the bloc; someone outside the bloc may not read it.
    missing = await cli(cli_env, CENTRAL, "status", bloc_year_id(BLOC, 2001))
    assert missing.returncode == 5, missing.stderr
    outside = await cli(cli_env, PROPOSER, "status", workflow_id)
    assert outside.returncode == 4 and "may not read bloc year" in outside.stderr, outside.stderr
    assert (await cli(cli_env, PROPOSER, "status", bloc_year_id(BLOC, 2001))).returncode == 4
    # Acting, too: someone with no role in the bloc is refused the same whether or not the year exists.
    for target in (workflow_id, bloc_year_id(BLOC, 2001)):
        stranger = await cli(cli_env, PROPOSER, "publish", target)
        assert stranger.returncode == 4 and "BLOC_REPRESENTATIVE" in stranger.stderr, stranger.stderr
    assert (await cli(cli_env, BLOC_HEAD, "publish", bloc_year_id(BLOC, 2001))).returncode == 5

    # A representative does not publish; the head does.
    not_head = await cli(cli_env, some_rep, "publish", workflow_id)
    assert not_head.returncode == 4 and "BLOC_HEAD" in not_head.stderr, not_head.stderr
    published = ok(await cli(cli_env, BLOC_HEAD, "publish", workflow_id))
    assert published["phase"] == "PLEDGE"

    # One organisation never signs for another; each signs for itself.
    members = ok(await cli(cli_env, some_rep, "status", workflow_id))["members"]
    other = next(m for m in members if m != "BTP")
    for_other = await cli(cli_env, some_rep, "sign", workflow_id, "--member", other)
    assert for_other.returncode == 4 and "(member)" in for_other.stderr, for_other.stderr
    todo = ok(await cli(cli_env, some_rep, "todo"))
    assert {"bloc_year_id": workflow_id, "kind": "SIGN_PLEDGE", "member": "BTP"}.items() <= next(
        t for t in todo if t["bloc_year_id"] == workflow_id
    ).items()
    signed = [ok(await cli(cli_env, representatives[m], "sign", workflow_id)) for m in members]
    assert signed[-1]["phase"] == "IN_YEAR" and sorted(signed[-1]["signed"]) == sorted(members)
    twice = await cli(cli_env, some_rep, "sign", workflow_id)
    assert twice.returncode == 4, twice.stderr  # the workflow's refusal: not in PLEDGE any more

    called = ok(await cli(cli_env, BLOC_HEAD, "call", workflow_id))
    assert called["phase"] == "SELF_ASSESSMENT" and called["assessment_deadline"]

    # A self-assessment that does not fit the table: exit 2, every field at fault named, nothing sent.
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(bad_assessment("BTP", year)), encoding="utf-8")
    invalid = await cli(cli_env, some_rep, "submit", workflow_id, "--file", str(bad))
    assert invalid.returncode == 2, invalid.stderr
    assert "  scores.NV1.points:" in invalid.stderr and "  scores.KT3:" in invalid.stderr
    good = tmp_path / "good.json"
    good.write_text(json.dumps(assessment("BTP", year)), encoding="utf-8")
    submitted = ok(await cli(cli_env, some_rep, "submit", workflow_id, "--file", str(good)))
    assert submitted["submitted"] == ["BTP"]
    status = ok(await cli(cli_env, CENTRAL, "status", workflow_id))
    assert [a["member"] for a in status["assessments"]] == ["BTP"]
    # Before the review closes there is no ranking (the workflow's phase says so: refused).
    assert (await cli(cli_env, CENTRAL, "ranking", workflow_id)).returncode == 4


# ---- the API --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(client: Client, task_queue: str, db_engine: AsyncEngine) -> Any:
    return create_app(client, keyring=RING, task_queue=task_queue, engine=db_engine)


def token(actor: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {issue_token(RING, actor)}")]


def assert_problem(reply: Reply, status: int, slug: str) -> dict[str, Any]:
    assert reply.status == status, reply
    assert reply.header("content-type") == PROBLEM, reply.headers
    problem = reply.json()
    assert problem["type"] == f"/problems/{slug}" and problem["detail"]
    return dict(problem)


async def test_api_refusals_then_the_year_to_its_ranking(
    app: Any, representatives: dict[str, str], cli_env: dict[str, str], tmp_path: Path
):
    year = next(YEARS)
    workflow_id = bloc_year_id(BLOC, year)
    url = f"/bloc-years/{workflow_id}"
    rep = representatives["KTNN"]

    problem = assert_problem(
        await call(app, "POST", "/bloc-years", {"bloc": BLOC, "year": year}, token(rep)), 403, "forbidden"
    )
    assert "BLOC_HEAD" in problem["detail"]
    created = await call(app, "POST", "/bloc-years", {"bloc": BLOC, "year": year}, token(BLOC_HEAD))
    assert created.status == 201 and created.json()["bloc_year_id"] == workflow_id, created
    assert created.header("location") == url
    assert_problem(
        await call(app, "POST", "/bloc-years", {"bloc": BLOC, "year": year}, token(BLOC_HEAD)), 409, "duplicate"
    )
    bad_bloc = await call(app, "POST", "/bloc-years", {"bloc": "KHONG_CO", "year": year}, token(BLOC_HEAD))
    assert "bloc" in {e["field"] for e in assert_problem(bad_bloc, 422, "invalid-input")["errors"]}

    assert_problem(
        await call(app, "GET", f"/bloc-years/{bloc_year_id(BLOC, 2001)}", headers=token(CENTRAL)), 404, "not-found"
    )
    assert_problem(await call(app, "GET", url, headers=token(PROPOSER)), 403, "forbidden")
    for target in (url, f"/bloc-years/{bloc_year_id(BLOC, 2001)}"):
        assert_problem(await call(app, "POST", f"{target}/signatures", None, token(PROPOSER)), 403, "forbidden")
    assert_problem(
        await call(app, "POST", f"/bloc-years/{bloc_year_id(BLOC, 2001)}/pledge", None, token(BLOC_HEAD)),
        404,
        "not-found",
    )
    assert (await call(app, "GET", url, headers=token(rep))).json()["phase"] == "DRAFT"

    problem = assert_problem(await call(app, "POST", f"{url}/pledge", {}, token(rep)), 403, "forbidden")
    assert "BLOC_HEAD" in problem["detail"]
    published = await call(app, "POST", f"{url}/pledge", None, token(BLOC_HEAD))
    assert published.status == 200 and published.json()["phase"] == "PLEDGE", published
    members: list[str] = published.json()["members"]
    wrong = await call(app, "POST", f"{url}/signatures", {"member": "BTP"}, token(rep))
    assert (
        "BLOC_REPRESENTATIVE" in assert_problem(wrong, 403, "forbidden")["detail"]
        or "(member)" in wrong.json()["detail"]
    )
    for member in members:
        signed = await call(app, "POST", f"{url}/signatures", None, token(representatives[member]))
        assert signed.status == 200, signed
    assert signed.json()["phase"] == "IN_YEAR"
    assert_problem(await call(app, "POST", f"{url}/signatures", None, token(rep)), 409, "action-refused")

    assert (await call(app, "POST", f"{url}/assessment-call", None, token(BLOC_HEAD))).json()[
        "phase"
    ] == "SELF_ASSESSMENT"
    tasks = (await call(app, "GET", "/bloc-year-tasks", headers=token(rep))).json()
    assert {"kind": "SUBMIT_ASSESSMENT", "member": "KTNN"}.items() <= next(
        t for t in tasks if t["bloc_year_id"] == workflow_id
    ).items()

    # A bad self-assessment: 422 naming every field at fault; another member's: 403 naming the member.
    bad = await call(app, "POST", f"{url}/assessments", bad_assessment("KTNN", year), token(rep))
    fields = {e["field"] for e in assert_problem(bad, 422, "invalid-input")["errors"]}
    assert {"scores.NV1.points", "scores.KT3"} <= fields
    foreign = await call(app, "POST", f"{url}/assessments", assessment("BTP", year), token(rep))
    assert "(member)" in assert_problem(foreign, 403, "forbidden")["detail"]
    for n, member in enumerate(members):
        body = assessment(member, year, points=str(4 + n % 3))
        del body["member"]  # the representative's own organisation
        sent = await call(app, "POST", f"{url}/assessments", body, token(representatives[member]))
        assert sent.status == 200, sent

    # Every member in: the review. Only the panel adjusts (the head here), with a reason.
    status = await wait_phase(app, url, "REVIEW")
    panel = {status["leadership"]["head"], status["leadership"]["deputy"]}
    outsider = next(m for m in members if m not in panel)
    adjustment = {
        "kind": "CRITERION",
        "member": members[0],
        "code": "NV1",
        "points": "25",
        "reason": "Chấm chéo: đủ minh chứng",
    }
    if representatives[outsider] != BLOC_HEAD:
        refused = await call(app, "POST", f"{url}/adjustments", adjustment, token(representatives[outsider]))
        assert "chấm chéo" in assert_problem(refused, 403, "forbidden")["detail"]
    no_reason = await call(app, "POST", f"{url}/adjustments", adjustment | {"reason": ""}, token(BLOC_HEAD))
    assert "reason" in {e["field"] for e in assert_problem(no_reason, 422, "invalid-input")["errors"]}
    adjusted = await call(app, "POST", f"{url}/adjustments", {"adjustment": adjustment}, token(BLOC_HEAD))
    assert adjusted.status == 200 and len(adjusted.json()["adjustments"]) == 1, adjusted
    assert_problem(await call(app, "GET", f"{url}/ranking", headers=token(rep)), 409, "action-refused")

    closed = await call(app, "POST", f"{url}/review-close", None, token(BLOC_HEAD))
    assert closed.status == 200 and closed.json()["standings"] is not None, closed
    ranking = (await call(app, "GET", f"{url}/ranking", headers=token(rep))).json()
    # The adjustment put the first member first: 25 on NV1 makes 65, the others have at most 62.
    assert ranking["rows"][0]["member"] == members[0], ranking["rows"]
    assert sorted(r["member"] for r in ranking["rows"]) == sorted(members)
    sheet = await call(app, "GET", f"{url}/ranking.xlsx", headers=token(CENTRAL))
    assert sheet.status == 200 and sheet.header("content-type") == XLSX_MEDIA_TYPE, sheet
    book = load_workbook(io.BytesIO(sheet.body))
    table = list(book["Xếp hạng"].iter_rows(values_only=True))
    header = next(i for i, row in enumerate(table) if row[:2] == ("Xếp hạng", "Đơn vị"))
    ranks = [row[0] for row in table[header + 1 : header + 1 + len(members)]]
    assert ranks == [r["rank"] for r in ranking["rows"]], table
    assert_problem(await call(app, "GET", f"{url}/ranking.xlsx", headers=token(PROPOSER)), 403, "forbidden")
    # The CLI prints the same table and writes the same report.
    printed = ok(await cli(cli_env, rep, "ranking", workflow_id))
    assert [(row["Hạng"], row["Đơn vị"]) for row in printed] == [(r["rank"], r["member"]) for r in ranking["rows"]]
    report = tmp_path / "xep-hang.xlsx"
    assert ok(await cli(cli_env, CENTRAL, "ranking", workflow_id, "--xlsx", str(report))).startswith(str(report))
    assert "Xếp hạng" in load_workbook(report).sheetnames


async def wait_phase(app: Any, url: str, phase: str, timeout: float = 30) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        reply = await call(app, "GET", url, headers=token(CENTRAL))
        if reply.status == 200 and reply.json()["phase"] == phase:
            return dict(reply.json())
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{url} did not reach {phase}: {reply}")
        await asyncio.sleep(0.1)


async def test_the_openapi_document_lists_the_bloc_year_routes(app: Any):
    document = (await call(app, "GET", "/openapi.json")).json()
    paths = document["paths"]
    for path in (
        "pledge",
        "signatures",
        "assessment-call",
        "assessments",
        "adjustments",
        "review-close",
        "honouring",
        "election",
    ):
        operation = paths[f"/bloc-years/{{bloc_year_id}}/{path}"]["post"]
        assert {"403", "404", "409", "422"} <= set(operation["responses"]), path
    assert "get" in paths["/bloc-years/{bloc_year_id}/ranking.xlsx"]
    assert paths["/bloc-years/{bloc_year_id}/assessments"]["post"]["requestBody"]["content"]["application/json"]
    assert "SelfAssessment" in document["components"]["schemas"]


# ---- the inbox ------------------------------------------------------------------------------------------------


async def test_a_representative_sees_what_to_sign_in_the_inbox_and_signs_there(
    app: Any, client: Client, representatives: dict[str, str]
):
    year = next(YEARS)
    workflow_id = bloc_year_id(BLOC, year)
    assert (await call(app, "POST", "/bloc-years", {"bloc": BLOC, "year": year}, token(BLOC_HEAD))).status == 201
    assert (await call(app, "POST", f"/bloc-years/{workflow_id}/pledge", None, token(BLOC_HEAD))).status == 200
    rep = representatives["TTCP"]
    cookie = [("cookie", f"{COOKIE}={issue_token(RING, rep)}")]

    async def row() -> str:
        for _ in range(100):  # Temporal's visibility lists the new year shortly after it starts
            page = await call(app, "GET", "/inbox", headers=cookie)
            assert page.status == 200, page
            marker = f'data-bloc-year-id="{workflow_id}"'
            if marker in page.text:
                return page.text[page.text.index(marker) : page.text.index("</tr>", page.text.index(marker))]
            await asyncio.sleep(0.1)
        raise AssertionError(f"{workflow_id} is not in {rep}'s inbox")

    shown = await row()
    assert 'data-task="SIGN_PLEDGE"' in shown and "Ký giao ước thi đua" in shown and "TTCP" in shown
    signed = await call(app, "POST", f"/inbox/bloc-years/{quote(workflow_id)}/sign", b"", cookie)
    assert signed.status == 200 and "Đã ký giao ước thi đua" in signed.text, signed
    status = (await call(app, "GET", f"/bloc-years/{workflow_id}", headers=token(rep))).json()
    assert [(s["member"], s["actor"], s["channel"]) for s in status["signatures"]] == [("TTCP", rep, "API")]
    again = await call(app, "POST", f"/inbox/bloc-years/{quote(workflow_id)}/sign", b"", cookie)
    assert again.status == 409, again
    page = await call(app, "GET", "/inbox", headers=cookie)
    assert f'data-bloc-year-id="{workflow_id}"' not in page.text
    # Someone outside the bloc is refused the signature.
    outsider = [("cookie", f"{COOKIE}={issue_token(RING, PROPOSER)}")]
    assert (await call(app, "POST", f"/inbox/bloc-years/{quote(workflow_id)}/sign", b"", outsider)).status == 403
