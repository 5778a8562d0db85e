"""Decisions naming many approved nominations: record one, export its awardees."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.common import (
    ACTOR_HELP,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_REFUSED,
    READER_HELP,
    CliError,
    anchor_stamp,
    build_payload,
    database,
    settings,
    show,
    temporal_client,
)
from domain.errors import FieldError, InvalidInput


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
    summary = await issue_decision(await temporal_client(), settings().task_queue, request)
    show(summary.model_dump(mode="json"))
    print(f"accepted {len(summary.accepted)}, refused {len(summary.refused)}")
    return EXIT_OK if not summary.refused else EXIT_REFUSED


async def cmd_decision_export(args: argparse.Namespace) -> int:
    from client.access import checked_scope
    from client.decisions import export_decision

    async with database() as engine:
        try:
            scope = await checked_scope(engine, args.actor)
            # Only the awardees the reader may read (the central board: all of them).
            stamp = await anchor_stamp()
            rows = await export_decision(engine, args.number, Path(args.out), scope=scope, audit_anchor=stamp)
        except ValueError as err:
            raise InvalidInput([FieldError(field="--out", message=str(err))]) from None
        except KeyError as err:
            raise CliError(EXIT_NOT_FOUND, str(err).strip("'\"")) from None
    print(f"{rows} awardees written to {args.out}")
    return EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:
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
