"""Record workflow histories of every route for the replay tests.

    .venv/bin/python -m tests.replay.record_histories LABEL

Runs the current code on a fresh dev server (SQLite, temporary keys) and writes one JSON history per
route into tests/replay/histories/LABEL/; the replay test runs each of them against the current workflow
code, so a change that would break running nominations fails CI.

Until 1.0 nothing runs in production: workflow code changes directly, and the histories are recorded anew on
the current code (the older labels are removed). From 1.0 on, a change keeps the old histories and is
patched (`workflow.patched`, then `deprecate_patch`, then removed once no run needs it) or deployed with
Worker Versioning.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from client.audit_anchors import ensure_anchor_workflow
from client.ballots import cast, close_list, open_session, session_status
from client.decisions import issue_decision
from client.nominations import act, start_listed, start_nomination, status
from client.temporal import ensure_search_attributes
from domain.ballot_messages import SessionPhase, SessionStart
from domain.ballots import BallotSessionKind, Choice
from domain.catalog import current_policy_version
from domain.decisions import DecisionRef, DecisionRequest, decision_workflow_id
from domain.messages import (
    CentralApproval,
    HoldRequest,
    MeetingResult,
    NominationStart,
    ObjectionFiling,
    ObjectionResolution,
    ReasonedAction,
    Resubmission,
)
from domain.nomination import Nomination, workflow_id_for
from domain.roster import Roster
from domain.stages import Stage
from scripts.processes import temporal_binary
from scripts.stand_in_committee import enroll_members, hand_in_shares, voting_actors
from store.db import create_engine
from store.migrate import upgrade_to_head
from store.roster import load_roster
from tests.factories import nomination_data
from tests.integration.helpers import BLOC_SEATS, COUNCIL_SEATS
from worker import build_worker
from workflows.nomination import NominationWorkflow

ROOT = Path(__file__).resolve().parents[2]
SECRETARY, BLOC_HEAD, CENTRAL, PROPOSER = (
    "btp.hd.thu-ky",
    "tandtc.khoi.truong",
    "tw.ban-tdkt.can-bo-1",
    ("btp.vutckt.le-thi-hoa"),
)


def passing(actor: str = SECRETARY, members: int = COUNCIL_SEATS) -> MeetingResult:
    """A unanimous meeting of the whole body (a typed-in count must be the roster's voting seats)."""
    tally = {"members": members, "present": members, "votes_for": members, "votes_against": 0}
    return MeetingResult.model_validate({"actor": actor, "tally": tally})


async def until(client: Client, workflow_id: str, stage: Stage) -> None:
    for _ in range(300):
        try:
            if (await status(client, workflow_id)).stage == stage:
                return
        except Exception:  # not started yet
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{workflow_id} never reached {stage}")


async def started(client: Client, queue: str, form: str, **overrides: object) -> str:
    nomination = Nomination.model_validate(nomination_data(form, **overrides))
    return (await start_nomination(client, nomination, queue, public_notice_seconds=2)).id


async def record(label: str) -> None:
    out = ROOT / "tests" / "replay" / "histories" / label
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp())
    # A recording is a local run: its keys (audit, identity) are made in its own directory.
    os.environ["TDKT_GENERATE_KEYS"] = "1"
    os.environ["TDKT_AUDIT_KEY_FILE"] = str(workdir / "audit-keys.json")
    url = f"sqlite+aiosqlite:///{workdir / 'engine.db'}"
    await upgrade_to_head(url)
    engine = create_engine(url)
    roster = Roster.model_validate_json((ROOT / "config" / "roster.json").read_text(encoding="utf-8"))
    await load_roster(engine, roster)
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter, dev_server_existing_path=temporal_binary()
    )
    client = env.client
    await ensure_search_attributes(client)
    queue = f"record-{uuid.uuid4().hex[:6]}"
    runs: dict[str, str] = {}
    # The council's counting committee: keys made in the recording's own directory, enrolled.
    committee_keys = await enroll_members(engine, workdir / "counting", voting_actors(roster))
    async with build_worker(client, engine, queue):
        # As the worker does: the audit chain's head is anchored, and sessions and decisions ask for anchors.
        anchor_id = await ensure_anchor_workflow(client, queue, 60)
        approval = CentralApproval(actor=CENTRAL, decision_no="1/QĐ-TTg", decision_date=date(2026, 12, 20))

        minister = DecisionRef(
            decision_no=f"M{uuid.uuid4().hex[:4]}/QĐ-BTP",
            decision_date=date(2026, 12, 24),
            authority="MINISTER",
            actor=SECRETARY,
        )
        wf = await started(client, queue, "BANG_KHEN_BO")
        await until(client, wf, Stage.COUNCIL_REVIEW)
        await act(client, wf, "record_council_result", passing())
        await until(client, wf, Stage.AWAITING_DECISION)
        await act(client, wf, "record_decision", minister)
        runs["ministry-council-typed"] = wf

        wf = await started(client, queue, "CO_THI_DUA_CP")
        await until(client, wf, Stage.COUNCIL_REVIEW)
        await act(client, wf, "record_council_result", passing())
        await act(client, wf, "record_bloc_result", passing(BLOC_HEAD, BLOC_SEATS))
        await act(client, wf, "approve", approval)
        runs["government-flag-bloc"] = wf

        wf = await started(client, queue, "HUAN_CHUONG_LD_3")
        await until(client, wf, Stage.COUNCIL_REVIEW)
        await act(client, wf, "record_council_result", passing())
        await act(client, wf, "reject", ReasonedAction(actor=CENTRAL, reason="Chưa đủ tiêu chuẩn"))
        runs["order-notice-rejected"] = wf

        data = nomination_data("BANG_KHEN_TTG")
        wf = await started(client, queue, "BANG_KHEN_TTG", reference=data["reference"])
        await until(client, wf, Stage.COUNCIL_REVIEW)
        await act(client, wf, "record_council_result", passing())
        await act(client, wf, "return_dossier", ReasonedAction(actor=CENTRAL, reason="Bổ sung hồ sơ"))
        await act(client, wf, "resubmit", Resubmission(actor=PROPOSER, nomination=Nomination.model_validate(data)))
        await act(client, wf, "approve", approval)
        runs["pm-certificate-returned"] = wf

        wf = await started(client, queue, "TAP_THE_LDXS")
        await until(client, wf, Stage.COUNCIL_REVIEW)
        await act(client, wf, "withdraw", ReasonedAction(actor=PROPOSER, reason="Đơn vị rút"))
        runs["collective-withdrawn"] = wf

        # A row of a list: started at the bulk priority through the admission window, raised once through its opening.
        row = Nomination.model_validate(nomination_data("HUAN_CHUONG_LD_3"))
        wf, _ = await start_listed(client, queue, row)
        await until(client, wf, Stage.PUBLIC_NOTICE)
        await act(client, wf, "withdraw", ReasonedAction(actor=PROPOSER, reason="Đơn vị rút khỏi danh sách"))
        runs["listed-withdrawn"] = wf

        voted = await started(client, queue, "BANG_KHEN_BO")
        await until(client, voted, Stage.COUNCIL_REVIEW)
        session = await open_session(
            client,
            queue,
            SessionStart(
                kind=BallotSessionKind.COUNCIL,
                scope="BTP",
                meeting_ref=f"R-{uuid.uuid4().hex[:6]}",
                opened_by=SECRETARY,
                deadline=datetime.now(UTC) + timedelta(hours=1),
                policy_version="2025.07",
                reminder_before_seconds=0,
            ),
        )
        for _ in range(100):  # `voted` taken up as it opened
            if len((await session_status(client, session.id)).candidates) == 1:
                break
            await asyncio.sleep(0.1)
        # One reaches the council after the session opened: its offer puts it on the list.
        struck = await started(client, queue, "BANG_KHEN_BO")
        await until(client, struck, Stage.COUNCIL_REVIEW)
        for _ in range(100):
            if len((await session_status(client, session.id)).candidates) == 2:
                break
            await asyncio.sleep(0.1)
        listed = await close_list(client, session.id, SECRETARY)
        # One candidate leaves the list while the voting is open: struck, its votes void.
        await act(client, struck, "withdraw", ReasonedAction(actor=PROPOSER, reason="Đơn vị rút khi đang bỏ phiếu"))
        for member in ("btp.hd.chu-tich", "btp.hd.uy-vien-1", "btp.hd.uy-vien-2"):
            await cast(client, session.id, member, {c.workflow_id: Choice.FOR for c in listed.candidates})
        for _ in range(100):
            phase = (await session_status(client, session.id)).phase
            if phase == SessionPhase.AWAITING_COUNT:
                await hand_in_shares(client, engine, session.id, committee_keys)
            if phase == SessionPhase.CLOSED:
                break
            await asyncio.sleep(0.1)
        await until(client, voted, Stage.AWAITING_DECISION)
        await act(client, voted, "record_decision", minister.model_copy(update={"decision_no": "M2/QĐ-BTP"}))
        runs["council-ballot-session"] = session.id
        runs["ministry-council-ballot"] = voted
        runs["struck-while-voting"] = struck

        # A start the roster does not allow (a council secretary proposing) ends REFUSED, never failed.
        refused = Nomination.model_validate(nomination_data("BANG_KHEN_BO", proposer=SECRETARY))
        start = NominationStart(nomination=refused, policy_version=current_policy_version(date.today()))
        await client.start_workflow(NominationWorkflow.run, start, id=workflow_id_for(refused), task_queue=queue)
        runs["proposal-refused"] = workflow_id_for(refused)

        # The whole procedure: a hold, an objection, a decision over a list.
        wf = await started(client, queue, "HUAN_CHUONG_LD_3")
        await until(client, wf, Stage.PUBLIC_NOTICE)
        filing = ObjectionFiling(filed_by="Người dân (hư cấu)", contact="0900 000 000", reason="Phản ánh thành tích")
        await act(client, wf, "file_objection", filing)
        resolution = ObjectionResolution.model_validate(
            {"actor": SECRETARY, "objection_id": 1, "decision": "DISMISS", "reason": "Không có cơ sở"}
        )
        await act(client, wf, "resolve_objection", resolution)
        await until(client, wf, Stage.COUNCIL_REVIEW)
        hold = HoldRequest.model_validate({"actor": SECRETARY, "ground": "INSPECTION", "reason": "Đang thanh tra"})
        await act(client, wf, "hold", hold)
        await act(client, wf, "release", ReasonedAction(actor=CENTRAL, reason="Đã có kết luận thanh tra"))
        await act(client, wf, "record_council_result", passing())
        await act(client, wf, "approve", CentralApproval(actor=CENTRAL))
        await until(client, wf, Stage.AWAITING_DECISION)
        # A ministry's form on the President's decision refuses it (and is raised back to people's priority).
        refusing = await started(client, queue, "BANG_KHEN_BO")
        await until(client, refusing, Stage.COUNCIL_REVIEW)
        await act(client, refusing, "record_council_result", passing())
        await until(client, refusing, Stage.AWAITING_DECISION)
        decision = DecisionRequest(
            decision=DecisionRef(
                decision_no=f"R{uuid.uuid4().hex[:4]}/QĐ-CTN",
                decision_date=date(2026, 12, 24),
                authority="PRESIDENT",
                actor=CENTRAL,
            ),
            workflow_ids=[wf, refusing, "nomination-2026-BTP-khong-co"],
        )
        summary = await issue_decision(client, queue, decision)
        runs["order-objection-hold-decision"] = wf
        runs["decision-batch"] = decision_workflow_id(summary.decision.decision_no)

        for name, workflow_id in runs.items():
            handle = client.get_workflow_handle(workflow_id)
            await handle.result()
            history = await handle.fetch_history()
            (out / f"{name}.json").write_text(history.to_json(), encoding="utf-8")
            print(f"recorded {name}: {len(history.events)} events")
        # A history replays under its own workflow id (a nomination compares it with its identity claim's holder).
        ids = {name: workflow_id for name, workflow_id in runs.items()} | {"audit-anchor": anchor_id}
        (out / "workflow-ids.json").write_text(json.dumps(ids, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        # The anchor workflow runs for good: its history so far (start, anchors asked for by the decisions).
        history = await client.get_workflow_handle(anchor_id).fetch_history()
        (out / "audit-anchor.json").write_text(history.to_json(), encoding="utf-8")
        print(f"recorded audit-anchor: {len(history.events)} events")
        ids |= await record_bloc_year(env, workdir, out)
        (out / "workflow-ids.json").write_text(json.dumps(ids, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    await env.shutdown()
    await engine.dispose()


async def record_bloc_year(env: WorkflowEnvironment, workdir: Path, out: Path) -> dict[str, str]:
    """The bloc's year as the demo carries it (scripts/bloc_year_demo.py: pledge, self-assessments, the panel,
    the honouring votes, the Prime Minister's decision, the new head): in a namespace, database and roster of
    its own (the demo roster's NOI_CHINH with its eight members), beside the routes above. Records the year,
    its honouring sessions, one proposal and the next year, opened on New Year's Day."""
    from scripts.bloc_year_demo import carry_year
    from scripts.demo import ensure_namespace

    namespace = f"record-bloc-{uuid.uuid4().hex[:6]}"
    await ensure_namespace(env.client, namespace)
    client = await Client.connect(
        env.client.service_client.config.target_host, namespace=namespace, data_converter=pydantic_data_converter
    )
    await ensure_search_attributes(client)
    url = f"sqlite+aiosqlite:///{workdir / 'bloc-year.db'}"
    await upgrade_to_head(url)
    engine = create_engine(url)
    roster = Roster.model_validate_json((ROOT / "config" / "demo-roster.json").read_text(encoding="utf-8"))
    await load_roster(engine, roster)
    committee = await enroll_members(engine, workdir / "bloc-counting", voting_actors(roster))
    queue = f"record-bloc-{uuid.uuid4().hex[:6]}"
    runs: dict[str, str] = {}
    try:
        async with build_worker(client, engine, queue):
            await ensure_anchor_workflow(client, queue, 60)
            year = date.today().year
            final = await carry_year(client, queue, engine, roster, uuid.uuid4().hex[:6], committee, year)
            runs["bloc-year"] = final.bloc_year_id
            voted = [t for t in final.tiers if t.session_id is not None]
            runs |= {f"bloc-honouring-{i + 1}": t.session_id for i, t in enumerate(voted) if t.session_id}
            proposal = next(wf for t in voted for wf in t.nominations.values())
            runs["bloc-proposal"] = proposal
            if final.next_year_id is not None:
                runs["bloc-next-year"] = final.next_year_id
            for name, workflow_id in runs.items():
                history = await client.get_workflow_handle(workflow_id).fetch_history()
                (out / f"{name}.json").write_text(history.to_json(), encoding="utf-8")
                print(f"recorded {name}: {len(history.events)} events")
    finally:
        await engine.dispose()
    return runs


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1] if len(sys.argv) > 1 else "current"))
    sys.stdout.flush()
    os._exit(0)
