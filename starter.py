"""The staff and operator CLI. Connection settings are the worker's (TEMPORAL_ADDRESS, ...).

Exit codes: 0 done · 1 failure (e.g. no server) · 2 invalid input · 3 duplicate (a nomination, session,
decision, or another counting key enrolled already) · 4 action refused by the workflow (or a read outside the
reader's scope) · 5 nomination not found ·
7 no valid token. Reading (status, list, report, ballot status, decision export) takes the reader's token too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from domain.ballots import Choice
from domain.calendar import VIETNAM_TZ
from domain.catalog import current_policy_version, policy_set
from domain.errors import FieldError, InvalidInput, field_errors_from
from domain.messages import CentralApproval, MeetingResult, ReasonedAction, Resubmission
from domain.nomination import Nomination, parse_nomination
from domain.stages import Stage
from domain.voting import tally_errors

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from sqlalchemy.ext.asyncio import AsyncEngine
    from temporalio.client import Client

    from client.revocation import RevocationStore
    from client.settings import Settings
    from domain.access import ReadScope
    from domain.ballot_messages import SessionStatus
    from security.tokens import Identity

EXIT_OK, EXIT_FAILURE, EXIT_INVALID, EXIT_DUPLICATE, EXIT_REFUSED, EXIT_NOT_FOUND = 0, 1, 2, 3, 4, 5
EXIT_UNAUTHENTICATED = 7
ACTOR_HELP = "optional: the actor of the signed token (--token or TDKT_TOKEN); if given, must match it"
# Reading follows the roster too: the reader is the token's actor (domain/access.py).
READER_HELP = "optional: the reader named by the signed token (--token or TDKT_TOKEN); if given, must match it"


class CliError(Exception):
    def __init__(self, code: int, message: str):
        self.code = code
        super().__init__(message)


def read_nomination(path: str, *, new: bool = True) -> Nomination:
    """A nomination file, validated in full; for a `new` nomination the award year too (today in Vietnam)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput([FieldError(field="FILE", message=f"{path} does not exist")]) from None
    except json.JSONDecodeError as err:
        raise InvalidInput([FieldError(field="FILE", message=f"not valid JSON: {err}")]) from None
    today = datetime.now(VIETNAM_TZ).date()
    return parse_nomination(raw, policy_set(current_policy_version(today)), today=today if new else None)


def build_payload(model: type[BaseModel], **fields: Any) -> BaseModel:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise InvalidInput(field_errors_from(exc)) from None


def meeting_result(args: argparse.Namespace) -> MeetingResult:
    """The typed-in counts as a payload; counts that cannot fit each other are refused here, each naming its
    field (tally.present, ...), before anything is asked of the server."""
    tally = {
        "members": args.members,
        "present": args.present,
        "votes_for": args.votes_for,
        "votes_against": args.votes_against,
        "written": args.written,
    }
    problems = tally_errors(**tally)
    if problems:
        raise InvalidInput(problems)
    payload = build_payload(MeetingResult, actor=args.actor, tally=tally, minutes_ref=args.minutes)
    assert isinstance(payload, MeetingResult)
    return payload


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


# ---- commands --------------------------------------------------------------------------------------


SHORT_NOTICE_SWITCH = "TDKT_ALLOW_SHORT_NOTICE"


async def cmd_nominate(args: argparse.Namespace) -> int:
    if args.public_notice_seconds is not None and os.environ.get(SHORT_NOTICE_SWITCH) != "1":
        message = f"demo and tests only (the law's notice is 10 working days): set {SHORT_NOTICE_SWITCH}=1 to allow"
        raise InvalidInput([FieldError(field="--public-notice-seconds", message=message)])
    nomination = read_nomination(args.file)  # validate before connecting: a bad file starts nothing
    if nomination.proposer != args.actor:
        raise CliError(
            EXIT_REFUSED,
            f"proposer: {nomination.proposer!r} is not the token's actor {args.actor!r}; a unit proposes as "
            "itself; nothing was started",
        )
    from client.nominations import start_nomination
    from store.db import create_engine, default_database_url

    # Checked against the database roster and the identity claims before anything starts: an unknown ministry
    # exits 2, a proposer without the role 4, a nominee another nomination holds for the form and year 3.
    engine = create_engine(_settings().database_url or default_database_url())
    try:
        client = await _client()
        handle = await start_nomination(
            client, nomination, _settings().task_queue, public_notice_seconds=args.public_notice_seconds, engine=engine
        )
    finally:
        await engine.dispose()
    print(handle.id)
    return EXIT_OK


async def _reader(args: argparse.Namespace) -> ReadScope:
    """What the token's actor may read, from the database roster (domain/access.py); ReadRefused (exit 4)
    for an actor who may read nothing."""
    from sqlalchemy.exc import SQLAlchemyError

    from client.access import checked_scope
    from store.db import create_engine, default_database_url

    engine = create_engine(_settings().database_url or default_database_url())
    try:
        return await checked_scope(engine, args.actor)
    except (SQLAlchemyError, OSError) as err:
        raise CliError(
            EXIT_FAILURE,
            f"cannot read the roster from the database ({type(err).__name__}); is DATABASE_URL right and the "
            "schema migrated (`starter.py db upgrade`)?",
        ) from None
    finally:
        await engine.dispose()


async def cmd_status(args: argparse.Namespace) -> int:
    from client.access import nomination_status

    client = await _client()
    scope = await _reader(args)
    print_json((await nomination_status(client, scope, args.workflow_id)).model_dump(mode="json"))
    return EXIT_OK


async def cmd_list(args: argparse.Namespace) -> int:
    from client.access import ReadRefused, list_nominations, ministry_filter_error

    client = await _client()
    scope = await _reader(args)
    if args.ministry and (refusal := ministry_filter_error(scope, args.ministry)) is not None:
        raise ReadRefused(refusal)
    rows = await list_nominations(client, scope, stage=args.stage, ministry=args.ministry, year=args.year)
    print_json(rows)
    return EXIT_OK


async def _act(workflow_id: str, update: str, payload: BaseModel) -> int:
    from client.nominations import act

    receipt = await act(await _client(), workflow_id, update, payload)
    print_json(receipt.model_dump(mode="json"))
    return EXIT_OK


async def _record_meeting(args: argparse.Namespace, stage: Stage, update: str) -> int:
    """Counts that do not fit the body as the roster seats it (members must be exactly its voting members)
    are refused here (exit 2) before the workflow refuses them again."""
    from client.meetings import check_meeting_counts
    from store.db import create_engine, default_database_url

    payload = meeting_result(args)
    client = await _client()
    engine = create_engine(_settings().database_url or default_database_url())
    try:
        await check_meeting_counts(client, engine, args.workflow_id, stage, payload.tally.model_dump())
    finally:
        await engine.dispose()
    return await _act(args.workflow_id, update, payload)


async def cmd_council_result(args: argparse.Namespace) -> int:
    return await _record_meeting(args, Stage.COUNCIL_REVIEW, "record_council_result")


async def cmd_bloc_result(args: argparse.Namespace) -> int:
    return await _record_meeting(args, Stage.BLOC_VOTE, "record_bloc_result")


async def cmd_central(args: argparse.Namespace) -> int:
    if args.approve:
        # Without --decision-no the nomination waits for the signing authority's (batch) decision.
        decision_date = (args.decision_date or date.today().isoformat()) if args.decision_no else None
        payload = build_payload(
            CentralApproval, actor=args.actor, decision_no=args.decision_no, decision_date=decision_date
        )
        return await _act(args.workflow_id, "approve", payload)
    if not args.reason:
        raise InvalidInput([FieldError(field="--reason", message="required with --reject and --return")])
    reasoned = build_payload(ReasonedAction, actor=args.actor, reason=args.reason)
    return await _act(args.workflow_id, "reject" if args.reject else "return_dossier", reasoned)


async def cmd_return(args: argparse.Namespace) -> int:
    payload = build_payload(ReasonedAction, actor=args.actor, reason=args.reason)
    return await _act(args.workflow_id, "return_dossier", payload)


async def cmd_withdraw(args: argparse.Namespace) -> int:
    payload = build_payload(ReasonedAction, actor=args.actor, reason=args.reason)
    return await _act(args.workflow_id, "withdraw", payload)


async def cmd_resubmit(args: argparse.Namespace) -> int:
    from client.nominations import protect_personal_id

    nomination = protect_personal_id(read_nomination(args.file, new=False))
    payload = build_payload(Resubmission, actor=args.actor, nomination=nomination.model_dump(mode="json"))
    return await _act(args.workflow_id, "resubmit", payload)


async def cmd_roster_load(args: argparse.Namespace) -> int:
    from domain.roster import Roster
    from store.db import create_engine, default_database_url
    from store.migrate import upgrade_to_head
    from store.roster import load_roster

    try:
        roster = Roster.model_validate_json(Path(args.file).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput([FieldError(field="FILE", message=f"{args.file} does not exist")]) from None
    except ValidationError as exc:
        raise InvalidInput(field_errors_from(exc)) from None
    url = _settings().database_url or default_database_url()
    await upgrade_to_head(url)
    engine = create_engine(url)
    try:
        counts = await load_roster(engine, roster)
    finally:
        await engine.dispose()
    print_json(counts)
    return EXIT_OK


async def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from store.db import default_database_url
    from store.migrate import upgrade_to_head

    await upgrade_to_head(_settings().database_url or default_database_url())
    print("schema at head")
    return EXIT_OK


async def cmd_verify_audit(args: argparse.Namespace) -> int:
    from audit_cli import verify
    from store.db import default_database_url

    # 0: intact and agreeing with every anchor; 6: the first bad entry (changed, relinked, recomputed or
    # truncated) on stderr; 1: no database or audit table, no audit key, or no anchors to read (audit_cli.py).
    settings = _settings()
    return await verify(settings.database_url or default_database_url(), settings, anchors=not args.no_anchors)


async def cmd_setup(args: argparse.Namespace) -> int:
    from client.temporal import ensure_search_attributes

    added = await ensure_search_attributes(await _client())
    print(f"search attributes added: {', '.join(added) or 'none (already registered)'}")
    return EXIT_OK


# ---- holds, objections, consultation, decisions ------------------------------------------------------


async def cmd_hold(args: argparse.Namespace) -> int:
    from domain.messages import HoldRequest

    payload = build_payload(HoldRequest, actor=args.actor, ground=args.ground.upper(), reason=args.reason)
    return await _act(args.workflow_id, "hold", payload)


async def cmd_release(args: argparse.Namespace) -> int:
    return await _act(args.workflow_id, "release", build_payload(ReasonedAction, actor=args.actor, reason=args.reason))


async def cmd_objection(args: argparse.Namespace) -> int:
    from domain.messages import ObjectionFiling, ObjectionResolution

    if args.objection_command == "file":
        filing = build_payload(ObjectionFiling, filed_by=args.filed_by, contact=args.contact, reason=args.reason)
        return await _act(args.workflow_id, "file_objection", filing)
    resolution = build_payload(
        ObjectionResolution,
        actor=args.actor,
        objection_id=args.objection_id,
        decision=args.decision.upper(),
        reason=args.reason,
    )
    return await _act(args.workflow_id, "resolve_objection", resolution)


async def cmd_consult(args: argparse.Namespace) -> int:
    from domain.messages import ConsultationRequest

    payload = build_payload(ConsultationRequest, actor=args.actor, agencies=args.agency, reason=args.reason)
    return await _act(args.workflow_id, "request_consultation", payload)


def read_workflow_ids(path: str) -> list[str]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InvalidInput([FieldError(field="LIST_FILE", message=f"{path} does not exist")]) from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


async def cmd_decision_issue(args: argparse.Namespace) -> int:
    from client.decisions import issue_decision
    from domain.decisions import DecisionRequest

    request = build_payload(
        DecisionRequest,
        decision={
            "decision_no": args.number,
            "decision_date": args.date,
            "authority": args.authority.upper(),
            "actor": args.actor,
        },
        workflow_ids=read_workflow_ids(args.list_file),
    )
    summary = await issue_decision(await _client(), _settings().task_queue, request)  # type: ignore[arg-type]
    print_json(summary.model_dump(mode="json"))
    print(f"accepted {len(summary.accepted)}, refused {len(summary.refused)}")
    return EXIT_OK if not summary.refused else EXIT_REFUSED


async def _anchor_stamp() -> str:
    """The audit chain's latest anchor as printed on exports (it says so when Temporal cannot be read)."""
    from client.audit_anchors import latest_anchor
    from domain.audit_anchors import anchor_stamp

    try:
        client = await _client()
    except CliError:
        return anchor_stamp(None)
    return anchor_stamp(await latest_anchor(client, _settings().task_queue))


async def cmd_decision_export(args: argparse.Namespace) -> int:
    from client.access import checked_scope
    from client.decisions import export_decision
    from store.db import create_engine, default_database_url

    engine = create_engine(_settings().database_url or default_database_url())
    try:
        scope = await checked_scope(engine, args.actor)
        # Only the awardees the reader may read (the central board: all of them).
        stamp = await _anchor_stamp()
        rows = await export_decision(engine, args.number, Path(args.out), scope=scope, audit_anchor=stamp)
    except ValueError as err:
        raise InvalidInput([FieldError(field="--out", message=str(err))]) from None
    except KeyError as err:
        raise CliError(EXIT_NOT_FOUND, str(err).strip("'\"")) from None
    finally:
        await engine.dispose()
    print(f"{rows} awardees written to {args.out}")
    return EXIT_OK


def add_procedure_parsers(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("hold", help="put a nomination on hold (discipline, investigation, inspection, complaint)")
    s.add_argument("workflow_id")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.add_argument("--ground", required=True, choices=["discipline", "investigation", "inspection", "complaint"])
    s.add_argument("--reason", required=True)
    s.set_defaults(run=cmd_hold)

    s = sub.add_parser("release", help="release a nomination from hold; it resumes where it was")
    s.add_argument("workflow_id")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.add_argument("--reason", required=True)
    s.set_defaults(run=cmd_release)

    objection = sub.add_parser("objection", help="objections during the public notice")
    osub = objection.add_subparsers(dest="objection_command", required=True)
    s = osub.add_parser("file", help="anyone identified files an objection (ý kiến phản ánh)")
    s.add_argument("workflow_id")
    s.add_argument("--filed-by", required=True, help="full name")
    s.add_argument("--contact", required=True, help="phone, e-mail or address")
    s.add_argument("--reason", required=True)
    s.set_defaults(run=cmd_objection)
    s = osub.add_parser("resolve", help="the secretariat resolves an objection")
    s.add_argument("workflow_id")
    s.add_argument("objection_id", type=int)
    s.add_argument("--actor", help=ACTOR_HELP)
    s.add_argument("--decision", required=True, choices=["dismiss", "uphold_reject", "uphold_return"])
    s.add_argument("--reason", required=True)
    s.set_defaults(run=cmd_objection)

    s = sub.add_parser("consult", help="the central board consults other agencies (longer appraisal period)")
    s.add_argument("workflow_id")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.add_argument("--agency", action="append", required=True, help="repeat for each agency")
    s.add_argument("--reason", required=True)
    s.set_defaults(run=cmd_consult)

    decision = sub.add_parser("decision", help="decisions naming many approved nominations")
    dsub = decision.add_subparsers(dest="decision_command", required=True)
    s = dsub.add_parser("issue", help="record a signed decision over a list of workflow ids (one per line)")
    s.add_argument("list_file")
    s.add_argument("--number", required=True, help="decision number, e.g. 1520/QĐ-TTg")
    s.add_argument("--date", required=True, help="YYYY-MM-DD")
    s.add_argument("--authority", required=True, choices=["minister", "agency_head", "prime_minister", "president"])
    s.add_argument("--actor", help=ACTOR_HELP)
    s.set_defaults(run=cmd_decision_issue)
    s = dsub.add_parser("export", help="the decision's list of awardees as CSV or XLSX (those the reader may read)")
    s.add_argument("number")
    s.add_argument("--out", required=True, help="FILE.csv or FILE.xlsx")
    s.add_argument("--actor", help=READER_HELP)
    s.set_defaults(run=cmd_decision_export)


# ---- ballot sessions -------------------------------------------------------------------------------


def parse_deadline(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput([FieldError(field="--deadline", message=f"not an ISO date-time: {text!r}")]) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=VIETNAM_TZ)


async def cmd_ballot_open(args: argparse.Namespace) -> int:
    from client.ballots import open_session
    from domain.ballot_messages import SessionStart

    if (args.deadline is None) == (args.deadline_hours is None):
        raise InvalidInput([FieldError(field="--deadline", message="give --deadline or --deadline-hours")])
    deadline = (
        parse_deadline(args.deadline) if args.deadline else datetime.now(UTC) + timedelta(hours=args.deadline_hours)
    )
    start = build_payload(
        SessionStart,
        kind=args.kind.upper(),
        scope=args.scope,
        meeting_ref=args.meeting,
        opened_by=args.actor,
        deadline=deadline,
        policy_version=current_policy_version(date.today()),
        reminder_before_seconds=int(args.reminder_hours * 3600),
        runoff_seconds=int(args.runoff_hours * 3600),
        committee=args.committee,
    )
    if deadline <= datetime.now(UTC):
        raise InvalidInput([FieldError(field="--deadline", message="must lie in the future")])
    from store.db import create_engine, default_database_url

    engine = create_engine(_settings().database_url or default_database_url())
    try:  # the opener's role is checked against the roster before anything starts
        handle = await open_session(await _client(), _settings().task_queue, start, engine=engine)  # type: ignore[arg-type]
    finally:
        await engine.dispose()
    print(handle.id)
    return EXIT_OK


async def cmd_ballot_close_list(args: argparse.Namespace) -> int:
    from client.ballots import close_list

    print_json((await close_list(await _client(), args.session_id, args.actor)).model_dump(mode="json"))
    return EXIT_OK


def read_choices(path: str) -> dict[str, Choice]:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput([FieldError(field="BALLOT_FILE", message=f"{path} does not exist")]) from None
    except json.JSONDecodeError as err:
        raise InvalidInput([FieldError(field="BALLOT_FILE", message=f"not valid JSON: {err}")]) from None
    choices = raw.get("choices") if isinstance(raw, dict) else None
    if not isinstance(choices, dict) or not choices:
        raise InvalidInput([FieldError(field="choices", message='expected {"choices": {"<workflow id>": "FOR"}}')])
    bad = [wf for wf, c in choices.items() if c not in Choice.__members__]
    if bad:
        allowed = ", ".join(Choice.__members__)
        raise InvalidInput([FieldError(field=f"choices.{wf}", message=f"must be one of {allowed}") for wf in bad])
    return {wf: Choice(c) for wf, c in choices.items()}


async def cmd_ballot_cast(args: argparse.Namespace) -> int:
    from client.ballots import cast

    # Sealed here: the voter's one-time credential is blind-signed, then the ballot goes without their name.
    receipt = await cast(await _client(), args.session_id, args.actor, read_choices(args.ballot_file))
    print_json(receipt.model_dump(mode="json"))
    print(receipt.receipt)
    return EXIT_OK


@asynccontextmanager
async def _database() -> AsyncIterator[AsyncEngine]:
    from store.db import create_engine, default_database_url

    engine = create_engine(_settings().database_url or default_database_url())
    try:
        yield engine
    finally:
        await engine.dispose()


def _counting_key_file(args: argparse.Namespace) -> Path:
    from security.committee import counting_key_path

    return Path(args.key_file).expanduser() if args.key_file else counting_key_path(args.actor)


def _load_counting_key(path: Path) -> RSAPrivateKey:
    from security.committee import load_counting_key
    from security.sealing import SealError

    try:
        return load_counting_key(path)
    except SealError as err:
        raise InvalidInput([FieldError(field="--key-file", message=str(err))]) from None


async def cmd_ballot_enroll(args: argparse.Namespace) -> int:
    """The member's counting key is made here and its private half never leaves this file; the engine keeps
    the public half, to which each session encrypts the member's share of its key."""
    from client.ballots import enroll_counting_key, enrolled_counting_key
    from security.committee import generate_counting_key, save_counting_key
    from security.sealing import public_key_info

    path = _counting_key_file(args)
    async with _database() as engine:
        enrolled = await enrolled_counting_key(engine, args.actor)
        if path.exists() and not args.replace:
            mine = public_key_info(_load_counting_key(path))
            if enrolled is not None and enrolled.key_id != mine.key_id:
                raise CliError(
                    EXIT_DUPLICATE,
                    f"{args.actor} has counting key {enrolled.key_id} enrolled, not the key in {path} "
                    f"({mine.key_id}); --replace makes a new key and enrolls it instead",
                )
            if enrolled is None:  # a file made by an enrolment cut short: enroll the key it holds
                await enroll_counting_key(engine, args.actor, mine.public_pem)
            print(f"counting key {mine.key_id} of {args.actor} is enrolled; private half in {path}")
            print(mine.key_id)
            return EXIT_OK
        if enrolled is not None and not args.replace:
            raise CliError(
                EXIT_DUPLICATE,
                f"{args.actor} has counting key {enrolled.key_id} enrolled already (in the inbox, or in another "
                "file); --replace makes a new key and enrolls it instead",
            )
        kept = None
        if path.exists():  # --replace: the old key still opens the shares issued to it before
            old = public_key_info(_load_counting_key(path))
            kept = path.with_name(f"{path.name}.{old.key_id}.replaced")
            path.rename(kept)
        key = generate_counting_key()
        save_counting_key(path, key)  # first the private half on this side, then the public half enrolled
        info = public_key_info(key)
        await enroll_counting_key(engine, args.actor, info.public_pem, replace=args.replace)
    print(f"counting key {info.key_id} of {args.actor} is enrolled; private half in {path} (keep it; mode 0600)")
    if enrolled is not None:
        where = f" ({kept})" if kept is not None else ""
        print(
            f"replaced key {enrolled.key_id}: the shares of sessions opened before are encrypted to it and open "
            f"only with its private half{where} (`ballot hand-in --key-file`)"
        )
    print(info.key_id)
    return EXIT_OK


async def cmd_ballot_hand_in(args: argparse.Namespace) -> int:
    """A counting committee member hands in their share once the round's voting is over (AWAITING_COUNT):
    decrypted here with the member's counting key, it goes to the session alone."""
    from client.ballots import hand_in
    from client.nominations import ActionRefused

    path = _counting_key_file(args)
    if not path.exists():
        message = f"no counting key at {path}; `ballot enroll` makes one (before the session opens)"
        raise InvalidInput([FieldError(field="--key-file", message=message)])
    key = _load_counting_key(path)
    async with _database() as engine:
        try:
            status = await hand_in(await _client(), engine, args.session, args.actor, key)
        except LookupError as err:  # no share for this actor: not a member, too early, or the session ended
            raise ActionRefused(str(err)) from None
    print_json(committee_summary(status))
    needed = f" (cần {status.keys.threshold})" if status.keys else ""
    print(
        f"Ban kiểm phiếu: {status.shares_in}/{len(status.committee)} đã nộp mảnh khóa{needed}; "
        f"phiên {status.phase.value}"
    )
    return EXIT_OK


def committee_summary(status: SessionStatus) -> dict[str, Any]:
    """What a status says of the count, without the keys' PEMs."""
    return {
        "session_id": status.session_id,
        "phase": status.phase.value,
        "round": status.round,
        "ballots_cast": status.ballots_cast,
        "committee": status.committee,
        "shares_in": status.shares_in,
        "threshold": status.keys.threshold if status.keys else None,
    }


async def cmd_ballot_status(args: argparse.Namespace) -> int:
    from client.access import session_status
    from domain.ballot_messages import SessionPhase

    # Who voted is listed for the organisers only; a voter sees themselves, others the count (domain/access.py).
    client = await _client()
    status = await session_status(client, await _reader(args), args.session_id)
    shown = status.model_dump(mode="json", exclude={"keys"}) | committee_summary(status)
    if status.phase == SessionPhase.CLOSED:  # the minutes are in the audit chain: the anchor that pins it
        shown["audit_anchor"] = await _anchor_stamp()
    print_json(shown)
    return EXIT_OK


async def cmd_ballot_chair(args: argparse.Namespace) -> int:
    from client.ballots import chair_action
    from domain.ballot_messages import ChairAction

    fields: dict[str, Any] = {"actor": args.actor, "reason": getattr(args, "reason", None)}
    if args.update == "extend":
        fields["new_deadline"] = parse_deadline(args.deadline)
    action = build_payload(ChairAction, **fields)
    status = await chair_action(await _client(), args.session_id, args.update, action)  # type: ignore[arg-type]
    print_json(status.model_dump(mode="json", exclude={"keys"}) | committee_summary(status))
    return EXIT_OK


async def cmd_ballot_decide_tie(args: argparse.Namespace) -> int:
    from client.ballots import decide_tie
    from domain.ballot_messages import TieDecision

    decision = build_payload(TieDecision, actor=args.actor, choose=args.choose)
    status = await decide_tie(await _client(), args.session_id, decision)  # type: ignore[arg-type]
    print_json(status.model_dump(mode="json", exclude={"keys"}) | committee_summary(status))
    return EXIT_OK


async def cmd_ballot_verify(args: argparse.Namespace) -> int:
    from client.ballots import check_receipt
    from domain.ballots import ReceiptState

    try:
        session_id, state = await check_receipt(await _client(), args.receipt)
    except ValueError as err:
        raise InvalidInput([FieldError(field="RECEIPT", message=str(err))]) from None
    if state == ReceiptState.SESSION_NOT_CLOSED:
        print(f"{session_id}: not closed yet; receipts are published when the count is done")
        return EXIT_REFUSED
    if state == ReceiptState.SPOILED:
        print(f"{session_id}: SPOILED: the ballot was received but its sealed content could not be opened; not counted")
        return EXIT_NOT_FOUND
    print(f"{session_id}: {'counted' if state == ReceiptState.COUNTED else 'NOT FOUND among the counted ballots'}")
    return EXIT_OK if state == ReceiptState.COUNTED else EXIT_NOT_FOUND


def add_ballot_parser(sub: argparse._SubParsersAction) -> None:
    ballot = sub.add_parser("ballot", help="secret-ballot sessions of councils and blocs")
    bsub = ballot.add_subparsers(dest="ballot_command", required=True)

    s = bsub.add_parser("open", help="the council secretary or bloc head opens a session")
    s.add_argument("--kind", choices=["council", "bloc"], required=True)
    s.add_argument("--scope", required=True, help="ministry code (council) or bloc code (bloc)")
    s.add_argument("--meeting", required=True, help="meeting reference, e.g. HD-2026-12")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.add_argument("--deadline", help="ISO date-time (Vietnam time if no offset)")
    s.add_argument("--deadline-hours", type=float)
    s.add_argument("--reminder-hours", type=float, default=24, help="remind non-voters this long before")
    s.add_argument("--runoff-hours", type=float, default=24, help="length of a runoff round after a tie")
    s.add_argument(
        "--committee",
        action="append",
        metavar="ACTOR",
        help="a member of the counting committee (Ban kiểm phiếu), once per member; default: the policy's "
        "(the body's first voting members). Each needs an enrolled counting key (`ballot enroll`)",
    )
    s.set_defaults(run=cmd_ballot_open)

    s = bsub.add_parser("close-list", help="close the list of nominations and open the voting")
    s.add_argument("session_id")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.set_defaults(run=cmd_ballot_close_list)

    s = bsub.add_parser("cast", help='cast one sealed ballot: BALLOT_FILE is {"choices": {"<workflow id>": "FOR"}}')
    s.add_argument("session_id")
    s.add_argument("ballot_file")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.set_defaults(run=cmd_ballot_cast)

    key_file_help = "the counting key's file (default: $TDKT_COUNTING_KEY_DIR or ~/.config/tdkt/counting-ACTOR.pem)"
    s = bsub.add_parser(
        "enroll",
        help="a voting member makes their counting key here (private half in a local file, mode 0600) and "
        "enrolls its public half; prints the key id",
    )
    s.add_argument("--key-file", help=key_file_help)
    s.add_argument(
        "--replace",
        action="store_true",
        help="make a new key in place of the enrolled one (the old file is kept beside it: shares of sessions "
        "opened before open only with it)",
    )
    s.add_argument("--actor", help=ACTOR_HELP)
    s.set_defaults(run=cmd_ballot_enroll)

    s = bsub.add_parser(
        "hand-in", help="a counting committee member hands in their share of the session key for the count"
    )
    s.add_argument("--session", required=True, help="the ballot session's id")
    s.add_argument("--key-file", help=key_file_help)
    s.add_argument("--actor", help=ACTOR_HELP)
    s.set_defaults(run=cmd_ballot_hand_in)

    s = bsub.add_parser("status", help="turnout while voting; tallies once closed")
    s.add_argument("session_id")
    s.add_argument("--actor", help=READER_HELP)
    s.set_defaults(run=cmd_ballot_status)

    for name, update, what in (
        ("close", "close_voting", "the chair closes the voting once a quorum has voted"),
        ("extend", "extend", "the chair moves the deadline"),
        ("cancel", "cancel", "the chair cancels the session"),
    ):
        s = bsub.add_parser(name, help=what)
        s.add_argument("session_id")
        s.add_argument("--actor", help=ACTOR_HELP)
        if name == "extend":
            s.add_argument("--deadline", required=True)
        if name == "cancel":
            s.add_argument("--reason", required=True)
        s.set_defaults(run=cmd_ballot_chair, update=update)

    s = bsub.add_parser(
        "decide-tie", help="the bloc head chooses among candidates still tied after the policy's runoff rounds"
    )
    s.add_argument("session_id")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.add_argument(
        "--choose",
        action="append",
        required=True,
        metavar="WORKFLOW_ID",
        help="a tied nomination taking a seat; once per seat left (`ballot status` shows tied, seats_left)",
    )
    s.set_defaults(run=cmd_ballot_decide_tie)

    s = bsub.add_parser("verify", help="check that the ballot behind a receipt was counted")
    s.add_argument("receipt")
    s.set_defaults(run=cmd_ballot_verify)


# ---- plumbing --------------------------------------------------------------------------------------


def _settings() -> Settings:
    from client.settings import Settings

    return Settings.from_env()


async def _client() -> Client:
    from client.temporal import connect

    settings = _settings()
    try:
        return await connect(settings.temporal_address, settings.temporal_namespace)
    except RuntimeError as err:
        raise CliError(EXIT_FAILURE, f"cannot reach Temporal at {settings.temporal_address}: {err}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="starter.py", description="Award nomination engine (TĐKT) CLI")
    p.add_argument("--token", help="signed token of the person acting (default: $TDKT_TOKEN)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("token", help="issue or revoke signed tokens")
    tokens = s.add_subparsers(dest="token_command", required=True)
    s = tokens.add_parser("issue", help="issue a signed token for local use (needs the signing keys)")
    s.add_argument("--for", dest="subject", required=True, help="the actor id the token names")
    s.add_argument("--ttl-hours", type=float, default=8)
    s.set_defaults(run=cmd_token_issue)
    s = tokens.add_parser(
        "revoke",
        help="revoke a token before it expires: your own (--token or TDKT_TOKEN), or any by its id (--jti, "
        "needs the signing keys)",
    )
    # SUPPRESS: when not given here, the top-level --token (or TDKT_TOKEN) stands.
    s.add_argument("--token", default=argparse.SUPPRESS, help="your token to revoke (default: $TDKT_TOKEN)")
    s.add_argument(
        "--jti",
        help="operator: the id of the token to revoke (`token issue` prints it); needs the signing keys and --reason",
    )
    s.add_argument("--reason", help="why it is revoked (required with --jti)")
    s.set_defaults(run=cmd_token_revoke)

    s = sub.add_parser("nominate", help="validate a nomination file and start its workflow")
    s.add_argument("file")
    s.add_argument("--actor", help=ACTOR_HELP + "; the file's proposer must be this actor")
    s.add_argument(
        "--public-notice-seconds",
        type=int,
        default=None,
        help=f"demo and tests only ({SHORT_NOTICE_SWITCH}=1): shorten the public notice to this many seconds",
    )
    s.set_defaults(run=cmd_nominate)

    s = sub.add_parser("status", help="a nomination's stage, transitions and what it waits for (JSON)")
    s.add_argument("workflow_id")
    s.add_argument("--actor", help=READER_HELP)
    s.set_defaults(run=cmd_status)

    s = sub.add_parser("list", help="the nominations the reader may read, from Temporal visibility")
    s.add_argument("--stage")
    s.add_argument("--ministry")
    s.add_argument("--year", type=int)
    s.add_argument("--actor", help=READER_HELP)
    s.set_defaults(run=cmd_list)

    for name, run, who in (
        ("council-result", cmd_council_result, "council secretary"),
        ("bloc-result", cmd_bloc_result, "bloc head"),
    ):
        s = sub.add_parser(name, help=f"the {who} records a meeting's result")
        s.add_argument("workflow_id")
        s.add_argument("--actor", help=ACTOR_HELP)
        s.add_argument("--members", type=int, required=True)
        s.add_argument("--present", type=int, required=True)
        s.add_argument("--for", dest="votes_for", type=int, required=True)
        s.add_argument("--against", dest="votes_against", type=int, required=True)
        s.add_argument("--written", type=int, default=0, help="absent members' written ballots")
        s.add_argument("--minutes", default=None, help="minutes reference (biên bản)")
        s.set_defaults(run=run)

    s = sub.add_parser("central", help="a central-board officer approves, rejects or returns")
    s.add_argument("workflow_id")
    s.add_argument("--actor", help=ACTOR_HELP)
    choice = s.add_mutually_exclusive_group(required=True)
    choice.add_argument("--approve", action="store_true")
    choice.add_argument("--reject", action="store_true")
    choice.add_argument("--return", dest="return_", action="store_true")
    s.add_argument("--decision-no")
    s.add_argument("--decision-date", help="YYYY-MM-DD (default: today)")
    s.add_argument("--reason")
    s.set_defaults(run=cmd_central)

    s = sub.add_parser("return", help="the body holding the nomination returns it for supplement")
    s.add_argument("workflow_id")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.add_argument("--reason", required=True)
    s.set_defaults(run=cmd_return)

    s = sub.add_parser("withdraw", help="the proposing unit withdraws its nomination")
    s.add_argument("workflow_id")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.add_argument("--reason", required=True)
    s.set_defaults(run=cmd_withdraw)

    s = sub.add_parser("resubmit", help="the proposing unit resubmits a corrected dossier after a return")
    s.add_argument("workflow_id")
    s.add_argument("file")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.set_defaults(run=cmd_resubmit)

    s = sub.add_parser("roster", help="load the roster seed file into the database")
    s.add_argument("action", choices=["load"])
    s.add_argument("file", nargs="?", default="config/roster.json")
    s.set_defaults(run=cmd_roster_load)

    s = sub.add_parser("db", help="database schema")
    s.add_argument("action", choices=["upgrade"])
    s.set_defaults(run=cmd_db_upgrade)

    s = sub.add_parser(
        "verify-audit", help="check the keyed audit chain against its anchors; reports the first bad entry"
    )
    from audit_cli import add_verify_arguments

    add_verify_arguments(s)
    s.set_defaults(run=cmd_verify_audit)

    s = sub.add_parser("setup", help="register the search attributes on the namespace")
    s.set_defaults(run=cmd_setup)
    add_ballot_parser(sub)
    add_procedure_parsers(sub)
    from client.importer import add_import_parser
    from client.reports import add_report_parser

    add_import_parser(sub)
    add_report_parser(sub)
    return p


def _signed_identity(args: argparse.Namespace) -> Identity:
    """The identity of the token given (--token or TDKT_TOKEN): signature, issuer, expiry and lifetime checked
    (security/tokens.py); whether it was revoked is the caller's to check. Exit 7 without one."""
    from security.tokens import AuthError, keyring_from_env, verify_token

    token = args.token or os.environ.get("TDKT_TOKEN")
    if not token:
        raise CliError(
            EXIT_UNAUTHENTICATED,
            "a signed token is required (--token or TDKT_TOKEN); an administrator issues one with "
            "`starter.py token issue --for ACTOR`",
        )
    try:
        return verify_token(keyring_from_env(), token)
    except (AuthError, ValueError) as err:
        raise CliError(EXIT_UNAUTHENTICATED, f"unauthenticated: {err}") from None


async def _with_revocations(work: Callable[[RevocationStore], Coroutine[Any, Any, Any]]) -> Any:
    """`work` over the revoked tokens in the database (DATABASE_URL); exit 1 when they cannot be read: no
    token is accepted unchecked."""
    from client.revocation import RevocationStore, RevocationUnavailable
    from store.db import create_engine, default_database_url

    engine = create_engine(_settings().database_url or default_database_url())
    try:
        return await work(RevocationStore(engine))
    except RevocationUnavailable as err:
        raise CliError(EXIT_FAILURE, str(err)) from None
    finally:
        await engine.dispose()


async def authenticate(args: argparse.Namespace) -> None:
    """Every human action carries an authenticated actor: the token's, never a bare --actor. A revoked token
    is no valid token (exit 7, naming its id)."""
    from client.revocation import TokenRevoked

    identity = _signed_identity(args)
    try:
        await _with_revocations(lambda revocations: revocations.check(identity))
    except TokenRevoked as err:
        raise CliError(EXIT_UNAUTHENTICATED, f"unauthenticated: {err}") from None
    if args.actor is not None and args.actor != identity.actor:
        raise CliError(EXIT_UNAUTHENTICATED, f"the token is for {identity.actor!r}, not {args.actor!r}")
    args.actor = identity.actor


async def cmd_token_issue(args: argparse.Namespace) -> int:
    from security.tokens import issue_token, keyring_from_env, verify_token

    if args.ttl_hours <= 0:
        raise InvalidInput([FieldError(field="--ttl-hours", message="must be positive")])
    keyring = keyring_from_env()  # a missing or published key is a configuration error, not the lifetime's
    try:
        token = issue_token(keyring, args.subject, timedelta(hours=args.ttl_hours))
    except ValueError as err:
        raise InvalidInput([FieldError(field="--ttl-hours", message=str(err))]) from None
    print(token)
    # Its id is what `token revoke --jti` takes; on stderr, so that stdout stays the token alone.
    issued = verify_token(keyring, token)
    print(
        f"token id (jti): {issued.token_id}; for {issued.actor}; expires {issued.expires_at.isoformat()}",
        file=sys.stderr,
    )
    return EXIT_OK


async def cmd_token_revoke(args: argparse.Namespace) -> int:
    """Your own token (the one given), or, with the signing keys, any token by its id. Revoking a revoked
    token again changes nothing and says when it was revoked."""
    from client.revocation import MAX_REASON
    from security.tokens import TOKEN_ID, keyring_from_env

    reason = (args.reason or "").strip() or None
    if reason is not None and len(reason) > MAX_REASON:
        raise InvalidInput([FieldError(field="--reason", message=f"at most {MAX_REASON} characters")])
    if args.jti is not None:
        if not TOKEN_ID.fullmatch(args.jti):
            message = "not a token id (1 to 64 letters, digits, '.', '_' or '-'; `token issue` prints it)"
            raise InvalidInput([FieldError(field="--jti", message=message)])
        if reason is None:
            raise InvalidInput([FieldError(field="--reason", message="required with --jti: say why it is revoked")])
        keyring_from_env()  # revoking by id alone is for whoever holds the signing keys, as issuing is
        jti = args.jti
        made = await _with_revocations(lambda revocations: revocations.revoke_by_id(jti, reason))
    else:
        identity = _signed_identity(args)
        made = await _with_revocations(lambda revocations: revocations.revoke_own(identity, reason))
    revocation, created = made
    print_json(
        {
            "jti": revocation.jti,
            "actor": revocation.actor_id,
            "revoked_at": revocation.revoked_at.isoformat(),
            "refused_until": revocation.expires_at.isoformat(),
            "already_revoked": not created,
        }
    )
    if not created:
        print(f"token {revocation.jti} was already revoked at {revocation.revoked_at.isoformat()}", file=sys.stderr)
    return EXIT_OK


async def _authenticated(
    command: Callable[[argparse.Namespace], Coroutine[Any, Any, int]], args: argparse.Namespace
) -> int:
    if hasattr(args, "actor"):
        await authenticate(args)
    return await command(args)


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    command: Callable[[argparse.Namespace], Coroutine[Any, Any, int]] = args.run
    from client.access import ReadRefused
    from client.ballots import DuplicateSession
    from client.decisions import DuplicateDecision
    from client.nominations import ActionRefused, DuplicateNomination, NominationNotFound
    from security.codec import CodecError, load_keyring
    from security.keys import MissingKey, PublishedKey

    try:
        if command not in (cmd_token_issue, cmd_token_revoke, cmd_db_upgrade, cmd_roster_load):
            load_keyring()  # payload keys first: a missing key stops here, before anything is read or sent
        return asyncio.run(_authenticated(command, args))
    except InvalidInput as err:
        print("invalid input:", file=sys.stderr)
        for error in err.errors:
            print(f"  {error.field}: {error.message}", file=sys.stderr)
        return EXIT_INVALID
    except (DuplicateNomination, DuplicateSession, DuplicateDecision) as err:
        print(f"duplicate: {err}", file=sys.stderr)
        return EXIT_DUPLICATE
    except (ActionRefused, ReadRefused) as err:
        print(f"refused: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except NominationNotFound as err:
        print(f"not found: {err}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except CliError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.code
    except (CodecError, MissingKey, PublishedKey) as err:  # keys missing, published or not in the keyring
        print(f"configuration: {err}", file=sys.stderr)
        return EXIT_FAILURE


def main() -> None:
    code = run(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # End without interpreter teardown, where the SDK's native runtime can abort (sdk-python#300).
    os._exit(code)


if __name__ == "__main__":
    main()
