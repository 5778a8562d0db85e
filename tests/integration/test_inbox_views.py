"""The browser inbox's pages as HTML, driven in-process through ASGI against the session's dev server, worker
and PostgreSQL: who the inbox offers a ballot to and on which nominations, and what each role's lists hold.

The people here are a fictional roster loaded into the test database on top of config/roster.json (three
ministries WEBA, WEBB, WEBC of a bloc KHOI_WEB that the shipped file does not have), so the inbox can only
show them if it reads the database roster, and the sessions' scopes are their own (no other test's
nomination joins them).
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from api import create_app
from api.inbox import COOKIE, inbox_router
from client import ballots as ballot_ops
from client.nominations import act
from domain.ballot_messages import SessionKeys, SessionPhase, SessionStart
from domain.ballots import BallotSessionKind, ConflictRule
from domain.messages import CentralApproval
from domain.roster import Roster
from domain.stages import Stage
from scripts.stand_in_committee import voting_actors
from security.credentials import prepare_request
from security.tokens import Keyring, issue_token
from store.roster import load_roster
from tests.asgi import call as asgi_call
from tests.integration.helpers import CENTRAL, enroll_counting_keys, meeting, passing_tally, start, wait_for_stage

pytestmark = pytest.mark.integration

RING = Keyring(keys={"inbox-test": "i" * 40}, current="inbox-test")
BLOC = "KHOI_WEB"
MINISTRIES = ("WEBA", "WEBB", "WEBC")
# A typed-in meeting of a ministry's council below: its chair and three members vote (the secretary records).
WEBC_COUNCIL = passing_tally(4)


def actor(actor_id: str, name: str, organisation: str, *grants: tuple[str, str]) -> dict[str, Any]:
    return {
        "id": actor_id,
        "full_name": name,
        "organisation": organisation,
        "roles": [{"role": role, "scope": scope} for role, scope in grants],
    }


def web_roster(**replaced: dict[str, Any]) -> Roster:
    """Per ministry: unit staff, the council's secretary, chair and two members, and one member from another
    ministry (organisation WEBC's for WEBA and WEBB); the bloc's head from WEBC and representatives from WEBA and
    WEBB (a session's counting committee is three of its body's voting members).
    `replaced` swaps actors by id (a roster load sets each listed actor's roles to exactly these)."""
    people: list[dict[str, Any]] = []
    for code in MINISTRIES:
        low = code.lower()
        outside = "WEBA" if code == "WEBC" else "WEBC"
        people += [
            actor(f"{low}.vutckt.can-bo", f"Cán bộ {code}", code, ("UNIT_STAFF", code)),
            actor(f"{low}.hd.thu-ky", f"Thư ký {code}", code, ("COUNCIL_SECRETARY", code)),
            actor(f"{low}.hd.chu-tich", f"Chủ tịch {code}", code, ("COUNCIL_CHAIR", code), ("COUNCIL_MEMBER", code)),
            actor(f"{low}.hd.uy-vien-1", f"Ủy viên một {code}", code, ("COUNCIL_MEMBER", code)),
            actor(f"{low}.hd.uy-vien-2", f"Ủy viên hai {code}", code, ("COUNCIL_MEMBER", code)),
            actor(f"{low}.hd.uy-vien-ngoai", f"Ủy viên ngoài {code}", outside, ("COUNCIL_MEMBER", code)),
            actor(f"{low}.hd.uy-vien-moi", f"Ủy viên mới {code}", code),
        ]
    people += [
        actor("webc.khoi.truong", "Khối trưởng Web", "WEBC", ("BLOC_HEAD", BLOC), ("BLOC_REPRESENTATIVE", BLOC)),
        actor("weba.khoi.dai-dien", "Đại diện WEBA", "WEBA", ("BLOC_REPRESENTATIVE", BLOC)),
        actor("webb.khoi.dai-dien", "Đại diện WEBB", "WEBB", ("BLOC_REPRESENTATIVE", BLOC)),
    ]
    people = [replaced.get(p["id"], p) for p in people]
    return Roster.model_validate(
        {
            "blocs": [{"code": BLOC, "name": "Khối thi đua thử nghiệm (hư cấu)", "head_ministry": "WEBC"}],
            "ministries": [{"code": c, "name": f"Bộ thử nghiệm {c} (hư cấu)", "bloc": BLOC} for c in MINISTRIES],
            "actors": people,
        }
    )


@pytest.fixture
async def roster(db_engine: AsyncEngine) -> Roster:
    """The fictional roster as it starts in every test (earlier tests may have loaded a changed one), its voting
    members' counting keys enrolled (a session's counting committee needs them to open)."""
    loaded = web_roster()
    await load_roster(db_engine, loaded)
    await enroll_counting_keys(db_engine, voting_actors(loaded))
    return loaded


@pytest.fixture(scope="module")
def app(client: Client, task_queue: str, db_engine: AsyncEngine) -> Any:
    return create_app(client, keyring=RING, task_queue=task_queue, engine=db_engine)


# ---- a minimal ASGI client with the inbox's cookie ---------------------------------------------------------


async def call(
    app: Any, method: str, url: str, actor_id: str, form: dict[str, str] | None = None, json_body: Any = None
) -> Any:
    """One request as `actor_id` (signed in: the inbox's cookie); (status, headers, body text)."""
    headers = [("cookie", f"{COOKIE}={issue_token(RING, actor_id)}")]
    body = json_body
    if form is not None:
        body = urlencode(form).encode()
        headers.append(("content-type", "application/x-www-form-urlencoded"))
    reply = await asgi_call(app, method, url, body, headers)
    return reply.status, dict(reply.headers), reply.text


async def inbox_html(app: Any, actor_id: str) -> str:
    status, _, text = await call(app, "GET", "/inbox", actor_id)
    assert status == 200, text
    return str(text)


def section(page: str, element_id: str) -> str:
    """The HTML of the element with this id (a <section> or <table>), or '' when the page has none."""
    found = re.search(rf'<(section|table) id="{element_id}">(.*?)</\1>', page, re.S)
    return found.group(2) if found else ""


def row_ids(fragment: str, attribute: str) -> set[str]:
    return {html.unescape(v) for v in re.findall(rf'<tr {attribute}="([^"]+)"', fragment)}


def fieldsets(page: str) -> dict[str, bool]:
    """workflow id -> whether its fieldset on the ballot page is disabled."""
    return {
        html.unescape(wf): "disabled" in rest
        for wf, rest in re.findall(r'<fieldset data-workflow-id="([^"]+)"([^>]*)>', page)
    }


# ---- driving the engine -------------------------------------------------------------------------------------


async def nomination_in(client: Client, task_queue: str, ministry: str, award_form: str = "BANG_KHEN_BO") -> str:
    handle = await start(
        client,
        task_queue,
        award_form,
        ministry=ministry,
        proposer=f"{ministry.lower()}.vutckt.can-bo",
        reference=f"{uuid.uuid4().hex[:8]}/TTr-{ministry}",
    )
    await wait_for_stage(client, handle.id, Stage.COUNCIL_REVIEW)
    return handle.id


async def voting_session(
    client: Client,
    task_queue: str,
    kind: BallotSessionKind,
    scope: str,
    keeper: str,
    workflow_ids: Sequence[str],
    rule: ConflictRule | None = None,
    deadline: timedelta = timedelta(minutes=30),
) -> str:
    """A session of this scope with these nominations on its list, its list closed (electorate snapshotted)."""
    handle = await ballot_ops.open_session(
        client,
        task_queue,
        SessionStart(
            kind=kind,
            scope=scope,
            meeting_ref=f"WEB-{uuid.uuid4().hex[:8]}",
            opened_by=keeper,
            deadline=datetime.now(UTC) + deadline,
            policy_version="2025.07",
            conflict_rule=rule,
            reminder_before_seconds=0,
        ),
    )
    for _ in range(300):
        listed = await ballot_ops.session_status(client, handle.id)
        if set(workflow_ids) <= {c.workflow_id for c in listed.candidates}:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"{workflow_ids} did not join {handle.id}")
    voting = await ballot_ops.close_list(client, handle.id, keeper)
    assert voting.phase == SessionPhase.VOTING
    return handle.id


async def credential_in_inbox(app: Any, session_id: str, voter: str) -> tuple[int, Any]:
    """The voter's one-time credential through the inbox's JSON endpoints, blinded as the ballot page does
    (here by security.credentials): (status, answer) of the class lookup when it refuses, else of the request."""
    url = f"/inbox/sessions/{quote(session_id)}"
    status, _, text = await call(app, "GET", f"{url}/credential", voter)
    if status != 200:
        return status, json.loads(text)
    info = json.loads(text)
    keys = SessionKeys.model_validate(info["keys"])
    request, _ = prepare_request(keys, session_id, info["round"], voter, info["conflict_class"]["class_id"])
    body = {"round": request.round, "blinded_token": request.blinded_token, "blinded_class": request.blinded_class}
    status, _, text = await call(app, "POST", f"{url}/credentials", voter, json_body=body)
    return status, json.loads(text)


async def voter_class_in_inbox(app: Any, session_id: str, voter: str) -> dict[str, Any]:
    status, _, text = await call(app, "GET", f"/inbox/sessions/{quote(session_id)}/credential", voter)
    assert status == 200, text
    return dict(json.loads(text)["conflict_class"])


# ---- 1. the roster is the database's, the electorate the session's ------------------------------------------


async def test_the_inbox_follows_the_database_roster_and_the_sessions_electorate(
    app: Any, client: Client, task_queue: str, db_engine: AsyncEngine, roster: Roster
):
    nomination = await nomination_in(client, task_queue, "WEBA")
    session_id = await voting_session(
        client, task_queue, BallotSessionKind.COUNCIL, "WEBA", "weba.hd.thu-ky", [nomination]
    )

    # Known only to the database roster (config/roster.json has no WEBA): named, and asked for a ballot.
    page = await inbox_html(app, "weba.hd.uy-vien-1")
    assert "Ủy viên một WEBA" in page and "không có trong danh sách cán bộ" not in page
    assert session_id in row_ids(section(page, "awaiting"), "data-session-id")
    # The council's secretary keeps the session and sees its turnout; they are not in its electorate.
    secretary = await inbox_html(app, "weba.hd.thu-ky")
    assert session_id in row_ids(section(secretary, "sessions"), "data-session-id")
    assert session_id not in row_ids(section(secretary, "awaiting"), "data-session-id")

    # A new roster load: member 1 leaves the council, a new member joins, the chair is renamed.
    changed = web_roster(
        **{
            "weba.hd.uy-vien-1": actor("weba.hd.uy-vien-1", "Ủy viên một WEBA", "WEBA", ("UNIT_STAFF", "WEBA")),
            "weba.hd.uy-vien-moi": actor("weba.hd.uy-vien-moi", "Ủy viên mới WEBA", "WEBA", ("COUNCIL_MEMBER", "WEBA")),
            "weba.hd.chu-tich": actor(
                "weba.hd.chu-tich",
                "Chủ tịch WEBA (đổi tên)",
                "WEBA",
                ("COUNCIL_CHAIR", "WEBA"),
                ("COUNCIL_MEMBER", "WEBA"),
            ),
        }
    )
    await load_roster(db_engine, changed)
    chair = await inbox_html(app, "weba.hd.chu-tich")
    assert "Chủ tịch WEBA (đổi tên)" in chair
    # Who votes in this session is its electorate, snapshotted when the list closed, not today's roster:
    # the new member is not asked (the workflow would refuse them), the one who left still is (it accepts).
    newcomer = await inbox_html(app, "weba.hd.uy-vien-moi")
    assert session_id not in row_ids(section(newcomer, "awaiting"), "data-session-id")
    status, _, ballot_page = await call(app, "GET", f"/inbox/sessions/{quote(session_id)}", "weba.hd.uy-vien-moi")
    assert status == 200 and "Phiên này không chờ phiếu của anh/chị" in ballot_page
    assert all(fieldsets(ballot_page).values())
    status, refusal = await credential_in_inbox(app, session_id, "weba.hd.uy-vien-moi")
    assert status == 403, refusal
    # The voter is whoever is signed in: a body naming one is refused, naming the field.
    asking = {"voter": "weba.hd.uy-vien-2", "round": 1, "blinded_token": "AAAA", "blinded_class": "AAAA"}
    credentials = f"/inbox/sessions/{quote(session_id)}/credentials"
    status, _, text = await call(app, "POST", credentials, "weba.hd.uy-vien-moi", json_body=asking)
    assert status == 422 and json.loads(text)["detail"].startswith("voter:"), text
    assert "weba.hd.uy-vien-moi" not in (await ballot_ops.session_status(client, session_id)).voted

    leaver = await inbox_html(app, "weba.hd.uy-vien-1")
    assert session_id in row_ids(section(leaver, "awaiting"), "data-session-id")
    status, issued = await credential_in_inbox(app, session_id, "weba.hd.uy-vien-1")
    assert status == 200 and issued["excluded"] == [], issued
    assert "weba.hd.uy-vien-1" in (await ballot_ops.session_status(client, session_id)).voted
    # A second credential in the round is the workflow's refusal, shown as such.
    status, again = await credential_in_inbox(app, session_id, "weba.hd.uy-vien-1")
    assert status == 409 and again["detail"], again

    # Choices posted to the inbox are refused unread: ballots are sealed in the browser and cast anonymously.
    form = {f"choice:{nomination}": "FOR"}
    status, _, text = await call(app, "POST", f"/inbox/sessions/{quote(session_id)}", "weba.hd.uy-vien-2", form)
    assert status == 422 and "chỉ nhận phiếu đã niêm phong" in text
    assert "weba.hd.uy-vien-2" not in (await ballot_ops.session_status(client, session_id)).voted


# ---- 2. the session's conflict rule ---------------------------------------------------------------------------


async def test_the_inbox_applies_the_sessions_own_conflict_rule(
    app: Any, client: Client, task_queue: str, roster: Roster
):
    nomination = await nomination_in(client, task_queue, "WEBB")
    session_id = await voting_session(
        client,
        task_queue,
        BallotSessionKind.COUNCIL,
        "WEBB",
        "webb.hd.thu-ky",
        [nomination],
        rule=ConflictRule.NOMINEE_AND_UNIT,  # a council's own rules: nobody from the proposing ministry votes
    )
    url = f"/inbox/sessions/{quote(session_id)}"

    # A WEBB member may not vote on WEBB's nomination under this session's rule: nothing awaits them.
    member = await inbox_html(app, "webb.hd.uy-vien-2")
    assert session_id not in row_ids(section(member, "awaiting"), "data-session-id")
    status, _, ballot_page = await call(app, "GET", url, "webb.hd.uy-vien-2")
    assert status == 200
    assert fieldsets(ballot_page)[nomination] is True
    assert "xung đột lợi ích" in ballot_page
    # The workflow agrees: the member's conflict class recuses on it (the ballot would carry RECUSE there).
    assert (await voter_class_in_inbox(app, session_id, "webb.hd.uy-vien-2"))["excluded"] == [nomination]

    # The member from another ministry (WEBC, by the electorate) votes on it, and the workflow agrees.
    outsider = await inbox_html(app, "webb.hd.uy-vien-ngoai")
    assert session_id in row_ids(section(outsider, "awaiting"), "data-session-id")
    status, _, ballot_page = await call(app, "GET", url, "webb.hd.uy-vien-ngoai")
    assert fieldsets(ballot_page)[nomination] is False
    status, issued = await credential_in_inbox(app, session_id, "webb.hd.uy-vien-ngoai")
    assert status == 200 and issued["excluded"] == [], issued
    assert "webb.hd.uy-vien-ngoai" in (await ballot_ops.session_status(client, session_id)).voted


# ---- 3. what each role's lists hold ----------------------------------------------------------------------------


async def test_bloc_heads_central_officers_and_unit_staff_see_their_nominations(
    app: Any, client: Client, task_queue: str, db_engine: AsyncEngine, roster: Roster
):
    # In the bloc vote (its session's deadline in 30 minutes), in the central appraisal (10 working days),
    # waiting for the Prime Minister's decision, waiting for the minister's decision.
    in_bloc = await nomination_in(client, task_queue, "WEBC", "CO_THI_DUA_CP")
    await act(client, in_bloc, "record_council_result", meeting("webc.hd.thu-ky", **WEBC_COUNCIL))
    await wait_for_stage(client, in_bloc, Stage.BLOC_VOTE)
    in_central = await nomination_in(client, task_queue, "WEBC", "BANG_KHEN_TTG")
    await act(client, in_central, "record_council_result", meeting("webc.hd.thu-ky", **WEBC_COUNCIL))
    await wait_for_stage(client, in_central, Stage.CENTRAL_REVIEW)
    for_pm = await nomination_in(client, task_queue, "WEBC", "BANG_KHEN_TTG")
    await act(client, for_pm, "record_council_result", meeting("webc.hd.thu-ky", **WEBC_COUNCIL))
    await wait_for_stage(client, for_pm, Stage.CENTRAL_REVIEW)
    await act(client, for_pm, "approve", CentralApproval(actor=CENTRAL))
    await wait_for_stage(client, for_pm, Stage.AWAITING_DECISION)
    for_minister = await nomination_in(client, task_queue, "WEBC", "BANG_KHEN_BO")
    await act(client, for_minister, "record_council_result", meeting("webc.hd.thu-ky", **WEBC_COUNCIL))
    await wait_for_stage(client, for_minister, Stage.AWAITING_DECISION)
    bloc_session = await voting_session(client, task_queue, BallotSessionKind.BLOC, BLOC, "webc.khoi.truong", [in_bloc])
    ours = {in_bloc, in_central, for_pm, for_minister}

    async def eventually(page_app: Any, actor_id: str, element_id: str, expected: set[str]) -> None:
        """Our nominations in that list are `expected`, once visibility has caught up with their stages."""
        found: set[str] = set()
        for _ in range(50):
            page = await inbox_html(page_app, actor_id)
            found = row_ids(section(page, element_id), "data-workflow-id") & ours
            if found == expected:
                return
            await asyncio.sleep(0.2)
        assert found == expected, f"{actor_id} #{element_id}: {found}"

    # The central board today: what waits for its appraisal or the decision it records (not the minister's).
    await eventually(app, CENTRAL, "central-waiting", {in_central, for_pm})

    # "Now" two months on, so the bloc session's deadline and the appraisal's have passed.
    later = FastAPI()
    later.include_router(
        inbox_router(client, task_queue, RING, engine=db_engine, clock=lambda: datetime.now(UTC) + timedelta(days=60))
    )

    # The bloc head: the bloc's nominations overdue in the bloc vote, and the session's turnout.
    await eventually(later, "webc.khoi.truong", "overdue", {in_bloc})
    head_page = await inbox_html(app, "webc.khoi.truong")
    assert bloc_session in row_ids(section(head_page, "sessions"), "data-session-id")
    await eventually(app, "webc.khoi.truong", "overdue", set())  # not overdue yet today

    # The central board: the appraisal overdue two months on, nothing overdue today.
    await eventually(later, CENTRAL, "overdue", {in_central})
    await eventually(app, CENTRAL, "overdue", set())
    central_page = await inbox_html(app, CENTRAL)
    assert "Tài khoản này không có việc nào" not in central_page

    # Unit staff: their ministry's nominations (the roster scopes UNIT_STAFF to a ministry and names no unit).
    await eventually(app, "webc.vutckt.can-bo", "nominations", ours)
    await eventually(app, "weba.vutckt.can-bo", "nominations", set())
