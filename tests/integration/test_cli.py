"""starter.py as staff and operators run it: real processes, real exit codes, against the dev server."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client

from domain.ballots import Choice
from domain.stages import Stage
from security.tokens import issue_token, keyring_from_env, verify_token
from tests.factories import nomination_data
from tests.integration.helpers import (
    CENTRAL,
    COUNCIL_SEATS,
    KEYRING,
    PROPOSER,
    SECRETARY,
    SHIPPED_ROSTER,
    cli_environment,
    token_for,
)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SEATS = str(COUNCIL_SEATS)  # BTP's council, as the roster seats it


@pytest.fixture(scope="module")
def cli_env(client: Client, task_queue: str, database_url: str) -> dict[str, str]:
    return cli_environment(client, task_queue, database_url, TDKT_ALLOW_SHORT_NOTICE="1")


def reads(args: tuple[str, ...]) -> bool:
    """A command that reads (and so needs its reader's token): status, list, report, ballot status, decision
    export."""
    return args[:1] in {("status",), ("list",), ("report",)} or args[:2] in {
        ("ballot", "status"),
        ("decision", "export"),
    }


async def cli(env: dict[str, str], *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run starter.py; a command naming `--actor X` runs with a token signed for X unless one is given,
    `nominate` with the sample files' proposer's, and a read with the central board's (it reads everything)."""
    if token is None and "--actor" in args and "--token" not in args:
        token = issue_token(KEYRING, args[args.index("--actor") + 1])
    elif token is None and args[:1] == ("nominate",):
        token = token_for(PROPOSER)
    elif token is None and reads(args):
        token = token_for(CENTRAL)
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(ROOT / "starter.py"), "--json", *args],  # the JSON document, not tables
        env=env | ({"TDKT_TOKEN": token} if token else {}),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def write(tmp_path: Path, name: str, data: dict) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


async def stage_of(env: dict[str, str], workflow_id: str) -> str:
    for _ in range(100):
        done = await cli(env, "status", workflow_id)
        assert done.returncode == 0, done.stderr
        stage = json.loads(done.stdout)["stage"]
        if stage != "PROPOSED":
            return stage
        await asyncio.sleep(0.1)
    raise AssertionError("still PROPOSED")


async def test_invalid_file_exits_2_naming_fields_and_starts_nothing(cli_env: dict[str, str], tmp_path: Path):
    data = nomination_data("BANG_KHEN_TTG", year=1999)
    data["dossier"] = data["dossier"][:1]
    data["nominee"]["full_name"] = ""
    done = await cli(cli_env, "nominate", write(tmp_path, "bad.json", data))
    assert done.returncode == 2
    for field in ("year", "nominee.full_name", "dossier"):
        assert f"  {field}:" in done.stderr, done.stderr
    workflow_id = f"nomination-1999-BTP-{data['reference']}"
    assert (await cli(cli_env, "status", workflow_id)).returncode == 5


async def test_a_nomination_needs_its_proposers_token_and_the_law_s_notice(cli_env: dict[str, str], tmp_path: Path):
    data = nomination_data("HUAN_CHUONG_LD_3")
    path = write(tmp_path, "p.json", data)
    workflow_id = f"nomination-2026-BTP-{data['reference']}"
    no_token = await cli(cli_env, "nominate", path, token="")
    assert no_token.returncode == 7 and "signed token is required" in no_token.stderr
    someone_else = await cli(cli_env, "nominate", path, token=token_for(SECRETARY))
    assert someone_else.returncode == 4, someone_else.stderr
    assert f"proposer: {PROPOSER!r} is not the token's actor {SECRETARY!r}" in someone_else.stderr
    production = {k: v for k, v in cli_env.items() if k != "TDKT_ALLOW_SHORT_NOTICE"}
    short = await cli(production, "nominate", path, "--public-notice-seconds", "5")
    assert short.returncode == 2 and "--public-notice-seconds: demo and tests only" in short.stderr
    assert (await cli(cli_env, "status", workflow_id)).returncode == 5  # none of them started anything


async def test_missing_and_malformed_files_exit_2(cli_env: dict[str, str], tmp_path: Path):
    assert (await cli(cli_env, "nominate", str(tmp_path / "none.json"))).returncode == 2
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    done = await cli(cli_env, "nominate", str(broken))
    assert done.returncode == 2 and "not valid JSON" in done.stderr


async def test_a_nomination_through_the_cli(cli_env: dict[str, str], tmp_path: Path):
    data = nomination_data("BANG_KHEN_TTG")
    path = write(tmp_path, "ok.json", data)
    started = await cli(cli_env, "nominate", path)
    assert started.returncode == 0, started.stderr
    workflow_id = started.stdout.strip().splitlines()[-1]
    assert workflow_id == f"nomination-2026-BTP-{data['reference']}"

    duplicate = await cli(cli_env, "nominate", path)
    assert duplicate.returncode == 3 and "already exists" in duplicate.stderr

    assert await stage_of(cli_env, workflow_id) == "COUNCIL_REVIEW"
    listed = await cli(cli_env, "list", "--stage", "COUNCIL_REVIEW", "--ministry", "BTP", "--year", "2026")
    assert listed.returncode == 0
    for _ in range(50):  # visibility is eventually consistent
        if workflow_id in listed.stdout:
            break
        await asyncio.sleep(0.2)
        listed = await cli(cli_env, "list", "--stage", "COUNCIL_REVIEW", "--ministry", "BTP", "--year", "2026")
    assert workflow_id in listed.stdout

    tally = ["--members", SEATS, "--present", SEATS, "--for", SEATS, "--against", "0"]
    impossible = await cli(
        cli_env,
        "council-result",
        workflow_id,
        "--actor",
        SECRETARY,
        "--members",
        SEATS,
        "--present",
        str(COUNCIL_SEATS + 1),
        "--for",
        SEATS,
        "--against",
        "0",
    )
    assert impossible.returncode == 2 and "tally.present" in impossible.stderr
    assert "cannot exceed members" in impossible.stderr
    wrong_actor = await cli(cli_env, "council-result", workflow_id, "--actor", "btp.hd.uy-vien-1", *tally)
    assert (
        wrong_actor.returncode == 4 and "refused:" in wrong_actor.stderr and "COUNCIL_SECRETARY" in wrong_actor.stderr
    )

    passed = await cli(cli_env, "council-result", workflow_id, "--actor", SECRETARY, *tally, "--minutes", "BB-01")
    assert passed.returncode == 0, passed.stderr
    assert json.loads(passed.stdout)["stage"] == "CENTRAL_REVIEW"

    no_reason = await cli(cli_env, "central", workflow_id, "--actor", CENTRAL, "--return")
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    returned = await cli(cli_env, "central", workflow_id, "--actor", CENTRAL, "--return", "--reason", "Thiếu biên bản")
    assert returned.returncode == 0 and json.loads(returned.stdout)["stage"] == "RETURNED"

    resubmitted = await cli(cli_env, "resubmit", workflow_id, path, "--actor", PROPOSER)
    assert resubmitted.returncode == 0, resubmitted.stderr
    assert json.loads(resubmitted.stdout)["stage"] == "CENTRAL_REVIEW"

    approved = await cli(
        cli_env,
        "central",
        workflow_id,
        "--actor",
        CENTRAL,
        "--approve",
        "--decision-no",
        "77/QĐ-TTg",
        "--decision-date",
        "2026-12-20",
    )
    assert approved.returncode == 0, approved.stderr
    final = json.loads((await cli(cli_env, "status", workflow_id)).stdout)
    assert final["stage"] == "AWARDED" and final["decision_no"] == "77/QĐ-TTg"
    assert [t["action"] for t in final["transitions"]] == [
        "SUBMIT",
        "RECORD_COUNCIL_RESULT",
        "RETURN",
        "RESUBMIT",
        "APPROVE",
    ]

    after_end = await cli(cli_env, "withdraw", workflow_id, "--actor", PROPOSER, "--reason", "Quá muộn")
    assert after_end.returncode == 4 and "ended" in after_end.stderr


async def test_withdraw_and_unknown_workflow(cli_env: dict[str, str], tmp_path: Path):
    started = await cli(cli_env, "nominate", write(tmp_path, "w.json", nomination_data("TAP_THE_LDXS")))
    workflow_id = started.stdout.strip().splitlines()[-1]
    assert await stage_of(cli_env, workflow_id) == "COUNCIL_REVIEW"
    done = await cli(cli_env, "withdraw", workflow_id, "--actor", PROPOSER, "--reason", "Đơn vị tự rút")
    assert done.returncode == 0 and json.loads(done.stdout)["stage"] == "WITHDRAWN"
    missing = await cli(cli_env, "withdraw", "nomination-2026-BTP-khong-co", "--actor", PROPOSER, "--reason", "Thử")
    assert missing.returncode == 5 and "not found" in missing.stderr


async def test_roster_load_reports_counts_and_refuses_a_bad_file(cli_env: dict[str, str], tmp_path: Path):
    done = await cli(cli_env, "roster", "load", str(ROOT / "config" / "roster.json"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["actors"] == len(SHIPPED_ROSTER.actors)
    bad = tmp_path / "roster.json"
    bad.write_text(json.dumps({"ministries": [{"code": "btp", "name": "x"}], "actors": []}), encoding="utf-8")
    refused = await cli(cli_env, "roster", "load", str(bad))
    assert refused.returncode == 2 and "ministries.0.code" in refused.stderr


async def test_the_procedure_through_the_cli(cli_env: dict[str, str], tmp_path: Path):
    """Objection, hold and release, consultation, approval for a decision, the decision and its export."""
    started = await cli(
        cli_env,
        "nominate",
        write(tmp_path, "h.json", nomination_data("HUAN_CHUONG_LD_3")),
        "--public-notice-seconds",
        "600",
    )
    workflow_id = started.stdout.strip().splitlines()[-1]
    assert await stage_of(cli_env, workflow_id) == "PUBLIC_NOTICE"

    filed = await cli(
        cli_env,
        "objection",
        "file",
        workflow_id,
        "--filed-by",
        "Nguyễn Văn Dân (hư cấu)",
        "--contact",
        "0900 000 000",
        "--reason",
        "Thành tích chưa đúng",
    )
    assert filed.returncode == 0, filed.stderr
    bad = await cli(
        cli_env,
        "objection",
        "resolve",
        workflow_id,
        "9",
        "--actor",
        SECRETARY,
        "--decision",
        "dismiss",
        "--reason",
        "Không có cơ sở",
    )
    assert bad.returncode == 4 and "objection_id" in bad.stderr
    held = await cli(
        cli_env, "hold", workflow_id, "--actor", SECRETARY, "--ground", "complaint", "--reason", "Có đơn khiếu nại"
    )
    assert held.returncode == 0, held.stderr
    while_held = await cli(
        cli_env,
        "objection",
        "resolve",
        workflow_id,
        "1",
        "--actor",
        SECRETARY,
        "--decision",
        "dismiss",
        "--reason",
        "Không có cơ sở",
    )
    assert while_held.returncode == 4 and "on hold" in while_held.stderr
    released = await cli(cli_env, "release", workflow_id, "--actor", CENTRAL, "--reason", "Đã giải quyết")
    assert released.returncode == 0, released.stderr
    status_now = json.loads((await cli(cli_env, "status", workflow_id)).stdout)
    assert status_now["hold"] is None and status_now["objections"][0]["resolution"] is None
    upheld = await cli(
        cli_env,
        "objection",
        "resolve",
        workflow_id,
        "1",
        "--actor",
        SECRETARY,
        "--decision",
        "uphold_reject",
        "--reason",
        "Có cơ sở",
    )
    assert upheld.returncode == 0 and json.loads(upheld.stdout)["stage"] == "REJECTED"

    started = await cli(cli_env, "nominate", write(tmp_path, "t.json", nomination_data("BANG_KHEN_TTG")))
    workflow_id = started.stdout.strip().splitlines()[-1]
    assert await stage_of(cli_env, workflow_id) == "COUNCIL_REVIEW"
    tally = ["--members", SEATS, "--present", SEATS, "--for", SEATS, "--against", "0"]
    assert (await cli(cli_env, "council-result", workflow_id, "--actor", SECRETARY, *tally)).returncode == 0
    consult = await cli(
        cli_env,
        "consult",
        workflow_id,
        "--actor",
        CENTRAL,
        "--agency",
        "Bộ Nội vụ",
        "--agency",
        "Thanh tra Chính phủ",
        "--reason",
        "Lấy ý kiến",
    )
    assert consult.returncode == 0, consult.stderr
    approved = await cli(cli_env, "central", workflow_id, "--actor", CENTRAL, "--approve")
    assert approved.returncode == 0 and json.loads(approved.stdout)["stage"] == "AWAITING_DECISION"

    listing = tmp_path / "decision.txt"
    listing.write_text(f"# Quyết định khen thưởng\n{workflow_id}\nnomination-2026-BTP-khong-co\n", encoding="utf-8")
    number = f"{uuid.uuid4().hex[:5]}/QĐ-TTg"
    issued = await cli(
        cli_env,
        "decision",
        "issue",
        str(listing),
        "--number",
        number,
        "--date",
        "2026-12-24",
        "--authority",
        "prime_minister",
        "--actor",
        CENTRAL,
    )
    assert issued.returncode == 4, issued.stderr  # one of the two was refused
    assert issued.stdout.strip().splitlines()[-1] == "accepted 1, refused 1"
    again = await cli(
        cli_env,
        "decision",
        "issue",
        str(listing),
        "--number",
        number,
        "--date",
        "2026-12-24",
        "--authority",
        "prime_minister",
        "--actor",
        CENTRAL,
    )
    assert again.returncode == 3 and "already been issued" in again.stderr
    final = json.loads((await cli(cli_env, "status", workflow_id)).stdout)
    assert final["stage"] == "AWARDED" and final["decision_no"] == number

    for suffix in ("csv", "xlsx"):
        out = tmp_path / f"decision.{suffix}"
        exported = await cli(cli_env, "decision", "export", number, "--out", str(out))
        assert exported.returncode == 0, exported.stderr
        assert exported.stdout.startswith("Đã ghi 1 người/tập thể được khen thưởng") and out.stat().st_size > 0
    wrong = await cli(cli_env, "decision", "export", number, "--out", str(tmp_path / "decision.pdf"))
    assert wrong.returncode == 2 and "--out" in wrong.stderr


async def test_every_human_action_needs_a_valid_token(cli_env: dict[str, str], tmp_path: Path):
    started = await cli(cli_env, "nominate", write(tmp_path, "a.json", nomination_data("BANG_KHEN_BO")))
    workflow_id = started.stdout.strip().splitlines()[-1]
    assert await stage_of(cli_env, workflow_id) == "COUNCIL_REVIEW"
    tally = ["--members", SEATS, "--present", SEATS, "--for", SEATS, "--against", "0"]

    async def council_result(token: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return await cli(cli_env, "--token", token, "council-result", workflow_id, *extra, *tally)

    no_token = await cli(cli_env, "council-result", workflow_id, *tally)
    assert no_token.returncode == 7 and "signed token is required" in no_token.stderr
    expired = issue_token(KEYRING, SECRETARY, timedelta(hours=1), now=datetime.now(UTC) - timedelta(hours=2))
    refused = await council_result(expired)
    assert refused.returncode == 7 and "expired" in refused.stderr
    genuine = issue_token(KEYRING, SECRETARY)
    head, payload, signature = genuine.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "btp.hd.uy-vien-1"  # the same signature over another name
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    forged = await council_result(f"{head}.{forged_payload}.{signature}")
    assert forged.returncode == 7 and "forged" in forged.stderr
    rogue = await council_result(issue_token(keyring_from_env({"TDKT_AUTH_KEYS": "rogue:" + "r" * 40}), SECRETARY))
    assert rogue.returncode == 7 and "unknown key" in rogue.stderr
    garbage = await council_result("not-a-token")
    assert garbage.returncode == 7 and "malformed" in garbage.stderr
    mismatch = await council_result(genuine, "--actor", "btp.hd.uy-vien-1")
    assert mismatch.returncode == 7 and "the token is for" in mismatch.stderr

    # A valid token for someone without the role: authenticated, then refused by the workflow's validator.
    member = await council_result(issue_token(KEYRING, "btp.hd.uy-vien-1"))
    assert member.returncode == 4 and "COUNCIL_SECRETARY" in member.stderr
    done = await council_result(genuine)
    assert done.returncode == 0 and json.loads(done.stdout)["stage"] == "AWAITING_DECISION"

    issued = await cli(cli_env, "token", "issue", "--for", SECRETARY, "--ttl-hours", "1")
    assert issued.returncode == 0
    assert verify_token(KEYRING, issued.stdout.strip().splitlines()[-1]).actor == SECRETARY


async def test_a_ballot_session_through_the_cli(
    cli_env: dict[str, str], client: Client, task_queue: str, tmp_path: Path
):
    from client.ballots import cast_anonymous
    from security.committee import counting_key_path
    from security.sealing import TOKEN_BYTES
    from tests.integration.helpers import start, wait_for_stage
    from tests.integration.test_ballot_sessions import anonymous_ballot, take_credential

    nomination = await start(client, task_queue, "BANG_KHEN_BO")
    await wait_for_stage(client, nomination.id, Stage.COUNCIL_REVIEW)
    meeting = f"CLI-{uuid.uuid4().hex[:8]}"
    session_id = f"ballot-council-BTP-{meeting}"
    opening = ["ballot", "open", "--kind", "council", "--scope", "BTP", "--meeting", meeting]
    timing = ["--deadline-hours", "1", "--reminder-hours", "0"]

    # Only the council's secretary or chair opens a session: a member is refused and nothing starts.
    member = await cli(cli_env, *opening, "--actor", "btp.hd.uy-vien-1", *timing)
    assert member.returncode == 4, member.stderr
    assert "'btp.hd.uy-vien-1' may not open" in member.stderr and "COUNCIL_SECRETARY" in member.stderr
    assert (await cli(cli_env, "ballot", "status", session_id)).returncode == 5
    elsewhere = [*opening[:5], "XYZ", *opening[6:]]
    unknown = await cli(cli_env, *elsewhere, "--actor", SECRETARY, *timing)
    assert unknown.returncode == 2 and "scope: ministry XYZ is not in the roster" in unknown.stderr

    opened = await cli(cli_env, *opening, "--actor", SECRETARY, *timing)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.strip().splitlines()[-1] == session_id
    assert (await cli(cli_env, *opening, "--actor", SECRETARY, *timing)).returncode == 3

    async def session() -> dict:
        # Read by the council's secretary, who organises it and so sees who voted.
        done = await cli(cli_env, "ballot", "status", session_id, token=token_for(SECRETARY))
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    for _ in range(100):
        if nomination.id in {c["workflow_id"] for c in (await session())["candidates"]}:
            break
        await asyncio.sleep(0.1)
    listed = await cli(cli_env, "ballot", "close-list", session_id, "--actor", SECRETARY)
    assert listed.returncode == 0, listed.stderr
    closed = json.loads(listed.stdout)
    assert closed["phase"] == "VOTING" and closed["electorate_size"] == 3
    # The list as it stands once closed: a nomination offered in the same moment may have joined after the
    # answer was written (other tests leave BTP nominations waiting in the council).
    voting = closed | {"candidates": (await session())["candidates"]}

    def choices_of(voter: str) -> dict[str, str]:
        mine = [c for c in voting["candidates"] if voter not in (c["nominee_actor_id"], c["proposer_actor_id"])]
        return {c["workflow_id"]: "FOR" for c in mine}

    def ballot_file(voter: str) -> str:
        return write(tmp_path, f"{voter}.json", {"choices": choices_of(voter)})

    chair = "btp.hd.chu-tich"
    cast = await cli(cli_env, "ballot", "cast", session_id, ballot_file(chair), "--actor", chair)
    assert cast.returncode == 0, cast.stderr
    receipt = cast.stdout.strip().splitlines()[-1]
    assert receipt.startswith(f"{session_id}:") and len(receipt.rpartition(":")[2]) == 64
    again = await cli(cli_env, "ballot", "cast", session_id, ballot_file(chair), "--actor", chair)
    assert again.returncode == 4 and "already taken this round's ballot credential" in again.stderr
    bad = write(tmp_path, "bad.json", {"choices": {nomination.id: "YES"}})
    invalid = await cli(cli_env, "ballot", "cast", session_id, bad, "--actor", "btp.hd.uy-vien-1")
    assert invalid.returncode == 2 and f"choices.{nomination.id}" in invalid.stderr
    still_open = await cli(cli_env, "ballot", "verify", receipt)
    assert still_open.returncode == 4 and "not closed yet" in still_open.stdout
    turnout = await session()
    assert turnout["voted"] == [chair] and turnout["results"] is None and turnout["counted_receipts"] is None

    # uy-vien-2's ballot is sealed to the session's key but under another token: it arrives, it won't open.
    current, credential = await take_credential(client, session_id, "btp.hd.uy-vien-2")
    marks = {wf: Choice.FOR for wf in choices_of("btp.hd.uy-vien-2")}
    crossed = anonymous_ballot(current, credential, marks, sealed_under=b"\x05" * TOKEN_BYTES)
    spoiled = await cast_anonymous(client, session_id, crossed)

    # No share is handed in while the voting is open; the committee is the council's first three members.
    teller = "btp.hd.uy-vien-1"
    early = await cli(cli_env, "ballot", "hand-in", "--session", session_id, "--actor", teller)
    assert early.returncode == 4 and "only while AWAITING_COUNT; the session is VOTING" in early.stderr, early.stderr

    not_chair = await cli(cli_env, "ballot", "close", session_id, "--actor", "btp.hd.uy-vien-1")
    assert not_chair.returncode == 4 and "may not close the voting" in not_chair.stderr
    closing = await cli(cli_env, "ballot", "close", session_id, "--actor", chair)
    assert closing.returncode == 0, closing.stderr

    # The round's voting is over: the count waits for 2 of the 3 members' shares.
    for _ in range(100):
        waiting = await session()
        if waiting["phase"] == "AWAITING_COUNT":
            break
        await asyncio.sleep(0.1)
    assert waiting["phase"] == "AWAITING_COUNT" and waiting["results"] is None
    assert waiting["committee"] == ["btp.hd.chu-tich", "btp.hd.uy-vien-1", "btp.hd.uy-vien-2"]
    assert (waiting["shares_in"], waiting["threshold"], waiting["ballots_cast"]) == (0, 2, 2)
    hand_in = ["ballot", "hand-in", "--session", session_id]
    # Someone off the committee holds no share; a teller's share opens only with their own key.
    stranger = await cli(cli_env, *hand_in, "--actor", SECRETARY, "--key-file", str(counting_key_path(chair)))
    assert stranger.returncode == 4 and "holds no share" in stranger.stderr, stranger.stderr
    wrong_key = await cli(cli_env, *hand_in, "--actor", teller, "--key-file", str(counting_key_path(chair)))
    assert wrong_key.returncode == 4 and "does not decrypt with this counting key" in wrong_key.stderr
    no_file = await cli(cli_env, *hand_in, "--actor", teller, "--key-file", str(tmp_path / "none.pem"))
    assert no_file.returncode == 2 and "--key-file" in no_file.stderr
    first = await cli(cli_env, *hand_in, "--actor", teller)
    assert first.returncode == 0, first.stderr
    assert "Ban kiểm phiếu: 1/3 đã nộp mảnh khóa (cần 2)" in first.stdout, first.stdout
    twice = await cli(cli_env, *hand_in, "--actor", teller)
    assert twice.returncode == 4 and "has already handed in their share" in twice.stderr
    second = await cli(cli_env, *hand_in, "--actor", chair)
    assert second.returncode == 0 and "Ban kiểm phiếu: 2/3 đã nộp mảnh khóa" in second.stdout, second.stderr
    for _ in range(100):
        closed = await session()
        if closed["phase"] == "CLOSED":
            break
        await asyncio.sleep(0.1)
    assert closed["phase"] == "CLOSED" and closed["counted_receipts"] == [receipt]
    # The session's secrets went with its close: no share is left to hand in.
    late_share = await cli(cli_env, *hand_in, "--actor", "btp.hd.uy-vien-2")
    assert late_share.returncode == 4 and "holds no share" in late_share.stderr
    late = await cli(
        cli_env, "ballot", "cast", session_id, ballot_file("btp.hd.uy-vien-1"), "--actor", "btp.hd.uy-vien-1"
    )
    assert late.returncode == 4, late.stderr

    # verify: 0 counted, 5 spoiled or not found, 2 for a malformed receipt.
    counted = await cli(cli_env, "ballot", "verify", receipt)
    assert counted.returncode == 0 and counted.stdout.strip() == f"{session_id}: counted"
    spoilt = await cli(cli_env, "ballot", "verify", spoiled.receipt)
    assert spoilt.returncode == 5 and "SPOILED" in spoilt.stdout, spoilt.stdout
    forged = await cli(cli_env, "ballot", "verify", receipt[:-4] + ("0000" if not receipt.endswith("0000") else "1111"))
    assert forged.returncode == 5 and "NOT FOUND" in forged.stdout
    malformed = await cli(cli_env, "ballot", "verify", f"{session_id}:abc")
    assert malformed.returncode == 2 and "RECEIPT" in malformed.stderr
    # One valid ballot of three: no quorum, so the nomination waits for the council's next meeting.
    entry = next(e for e in closed["results"] if e["candidate"]["workflow_id"] == nomination.id)
    assert entry["result"] == "NO_QUORUM" and not closed["quorum_met"]


async def test_a_member_enrolls_a_counting_key_of_their_own(cli_env: dict[str, str], db_engine, tmp_path: Path):
    """`ballot enroll` makes the key here (the private half stays in the file), enrolls its public half for the
    token's actor only, never overwrites a key, and replaces one only when asked (--replace)."""
    from client.ballots import enrolled_counting_key
    from security.committee import load_counting_key
    from security.sealing import public_key_info

    actor = "btp.vutckt.pham-van-duc"  # on no counting committee: the other tests' sessions never need them
    env = cli_env | {"TDKT_COUNTING_KEY_DIR": str(tmp_path / "keys")}
    key_file = tmp_path / "keys" / f"counting-{actor}.pem"

    someone_else = await cli(env, "ballot", "enroll", "--actor", CENTRAL, token=token_for(actor))
    assert someone_else.returncode == 7 and "the token is for" in someone_else.stderr
    assert await enrolled_counting_key(db_engine, actor) is None and not key_file.exists()

    made = await cli(env, "ballot", "enroll", "--actor", actor)
    assert made.returncode == 0, made.stderr
    key_id = made.stdout.strip().splitlines()[-1]
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert public_key_info(load_counting_key(key_file)).key_id == key_id
    enrolled = await enrolled_counting_key(db_engine, actor)
    assert enrolled is not None and enrolled.key_id == key_id
    # Again: the same key, nothing changed.
    again = await cli(env, "ballot", "enroll", "--actor", actor)
    assert again.returncode == 0 and again.stdout.strip().splitlines()[-1] == key_id
    # The file lost (or the key enrolled elsewhere, e.g. in the browser): another key is refused...
    key_file.rename(tmp_path / "kept.pem")
    refused = await cli(env, "ballot", "enroll", "--actor", actor)
    assert refused.returncode == 3 and f"counting key {key_id} enrolled already" in refused.stderr, refused.stderr
    assert not key_file.exists() and (await enrolled_counting_key(db_engine, actor)).key_id == key_id  # type: ignore[union-attr]
    # ...unless replacing it is asked for; the old key file, had it been here, is kept beside the new one.
    (tmp_path / "kept.pem").rename(key_file)
    replaced = await cli(env, "ballot", "enroll", "--replace", "--actor", actor)
    assert replaced.returncode == 0, replaced.stderr
    new_id = replaced.stdout.strip().splitlines()[-1]
    assert new_id != key_id and f"replaced key {key_id}" in replaced.stdout
    assert (await enrolled_counting_key(db_engine, actor)).key_id == new_id  # type: ignore[union-attr]
    kept = tmp_path / "keys" / f"counting-{actor}.pem.{key_id}.replaced"
    assert public_key_info(load_counting_key(kept)).key_id == key_id
    # A key file of another actor's (or any other) is not theirs to enroll while theirs is enrolled.
    other = tmp_path / "other.pem"
    elsewhere = await cli(env, "ballot", "enroll", "--key-file", str(other), "--actor", actor)
    assert elsewhere.returncode == 3 and other.exists() is False
