"""Reports from the permanent record: counts per ministry, bloc, year, award form, stage and outcome, and
the list of decisions, on screen and exported to CSV and XLSX.

Rows are written as the workflows write them (PersistenceActivities.record_transition; the decisions'
register by store.decisions.write_decision) into a database of their own next to the session's, so
the counts are exact whatever other tests have recorded."""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import ActivityEnvironment

from activities.persistence import PersistenceActivities
from cli.reports import add_parsers as add_report_parser
from cli.reports import report_command
from client.reports import (
    COUNT_HEADERS,
    DECISION_HEADERS,
    NO_BLOC_VI,
    OUTCOMES,
    count_nominations,
    count_table,
    decision_table,
    list_decisions,
)
from domain.catalog import Authority
from domain.decisions import DecisionItem, DecisionRef, DecisionSummary
from domain.nomination import workflow_id_for
from domain.roster import Ministry, RosterSnapshot
from domain.stages import Stage
from store.db import create_engine
from store.decisions import write_decision
from store.roster import load_roster
from tests.conftest import new_database
from tests.integration.helpers import AUTH_ENV, CENTRAL, token_for
from tests.integration.test_persistence import ROSTER, new_nomination, transition_record

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
STARTER = ROOT / "starter.py"
# A ministry outside the roster and outside any bloc (fictional data like the rest).
OUTSIDE = RosterSnapshot(ministry=Ministry(code="BQP", name="Bộ Quốc phòng"), bloc=None, actors=())

# (ministry, year, award form, the stage it has reached)
NOMINATIONS: list[tuple[str, int, str, Stage]] = [
    ("BTP", 2026, "BANG_KHEN_BO", Stage.COUNCIL_REVIEW),
    ("BTP", 2026, "BANG_KHEN_BO", Stage.AWARDED),
    ("BTP", 2026, "BANG_KHEN_BO", Stage.REJECTED),
    ("BTP", 2025, "CSTD_CAP_BO", Stage.WITHDRAWN),
    ("KTNN", 2026, "BANG_KHEN_TTG", Stage.CENTRAL_REVIEW),
    ("KTNN", 2026, "BANG_KHEN_TTG", Stage.LAPSED),
    ("BQP", 2026, "BANG_KHEN_BO", Stage.AWAITING_DECISION),
]


def outcomes(**counts: int) -> dict[str, int]:
    return dict.fromkeys(OUTCOMES, 0) | counts


async def seed(engine: AsyncEngine) -> list[str]:
    """The roster, NOMINATIONS and two decisions; the nominations' workflow ids (in NOMINATIONS' order)."""
    await load_roster(engine, ROSTER)
    activities = PersistenceActivities(engine)
    ids = []
    for ministry, year, form, stage in NOMINATIONS:
        proposer = {"KTNN": "ktnn.vutckt.hoang-anh"}.get(ministry, "btp.vutckt.le-thi-hoa")
        nomination = new_nomination(award_form=form, ministry=ministry, year=year, proposer=proposer)
        record = transition_record(
            nomination,
            seq=1,
            from_stage=Stage.PROPOSED,
            to_stage=stage,
            snapshot=OUTSIDE if ministry == "BQP" else None,
        )
        await ActivityEnvironment().run(activities.record_transition, record)
        ids.append(workflow_id_for(nomination))
    for number, when, authority, items in (
        ("12/QĐ-BTP", date(2026, 12, 20), Authority.MINISTER, [DecisionItem(workflow_id=ids[1], accepted=True)]),
        (
            "1520/QĐ-TTg",
            date(2026, 11, 30),
            Authority.PRIME_MINISTER,
            [
                DecisionItem(workflow_id=ids[4], accepted=False, reason="chưa được phê duyệt"),
                DecisionItem(workflow_id="nomination-2026-KTNN-khong-co", accepted=False, reason="không có"),
            ],
        ),
        ("3/QĐ-BTP", date(2025, 6, 2), Authority.MINISTER, []),
    ):
        ref = DecisionRef(decision_no=number, decision_date=when, authority=authority, actor="tw.ban-tdkt.can-bo-1")
        async with engine.begin() as conn:
            await write_decision(conn, DecisionSummary(decision=ref, items=items))
    return ids


@pytest.fixture(scope="module")
async def reports_db(database_url: str) -> AsyncIterator[tuple[str, AsyncEngine, list[str]]]:
    """A fresh database beside the session's, seeded; its URL, engine and the nominations' workflow ids."""
    async with new_database("tdkt_reports") as url:
        engine = create_engine(url)
        try:
            yield url, engine, await seed(engine)
        finally:
            await engine.dispose()


@pytest.fixture
def engine(reports_db: tuple[str, AsyncEngine, list[str]]) -> AsyncEngine:
    return reports_db[1]


def by_value(rows: list[Any], dimension: str) -> dict[Any, tuple[str, int, dict[str, int]]]:
    return {r.value: (r.label_vi, r.total, r.outcomes) for r in rows if r.dimension == dimension}


# ---- counts -------------------------------------------------------------------------------------------


async def test_counts_per_ministry_bloc_and_year_with_their_outcomes(engine: AsyncEngine) -> None:
    rows = await count_nominations(engine)
    assert [r.dimension for r in rows] == ["ministry"] * 3 + ["bloc"] * 2 + ["year"] * 2 + ["award_form"] * 3 + [
        "stage"
    ] * 7 + ["outcome"] * 5
    assert by_value(rows, "ministry") == {
        "BQP": ("BQP", 1, outcomes(IN_PROGRESS=1)),  # not in the roster: its code
        "BTP": ("Bộ Tư pháp", 4, outcomes(IN_PROGRESS=1, AWARDED=1, REJECTED=1, WITHDRAWN=1)),
        "KTNN": ("Kiểm toán Nhà nước", 2, outcomes(IN_PROGRESS=1, LAPSED=1)),
    }
    bloc = by_value(rows, "bloc")
    assert list(bloc) == ["NOI_CHINH", None]  # no bloc comes last
    assert bloc["NOI_CHINH"][:2] == ("Khối Thi đua các bộ, ngành nội chính Trung ương", 6)
    assert bloc[None] == (NO_BLOC_VI, 1, outcomes(IN_PROGRESS=1))
    assert by_value(rows, "year") == {
        2025: ("2025", 1, outcomes(WITHDRAWN=1)),
        2026: ("2026", 6, outcomes(IN_PROGRESS=3, AWARDED=1, REJECTED=1, LAPSED=1)),
    }


async def test_counts_per_award_form_stage_and_outcome_in_the_catalogs_order(engine: AsyncEngine) -> None:
    rows = await count_nominations(engine, ["award_form", "stage", "outcome"])
    forms = by_value(rows, "award_form")
    assert list(forms) == ["BANG_KHEN_BO", "CSTD_CAP_BO", "BANG_KHEN_TTG"]
    assert {code: total for code, (_, total, _) in forms.items()} == {
        "BANG_KHEN_BO": 4,
        "CSTD_CAP_BO": 1,
        "BANG_KHEN_TTG": 2,
    }
    assert forms["BANG_KHEN_TTG"][0] == "Bằng khen của Thủ tướng Chính phủ"
    stages = by_value(rows, "stage")
    assert list(stages) == [
        "COUNCIL_REVIEW",
        "CENTRAL_REVIEW",
        "AWAITING_DECISION",
        "AWARDED",
        "REJECTED",
        "WITHDRAWN",
        "LAPSED",
    ]
    assert all(total == 1 for _, total, _ in stages.values())
    assert stages["AWAITING_DECISION"][0] == "Chờ quyết định khen thưởng"
    assert {code: total for code, (_, total, _) in by_value(rows, "outcome").items()} == {
        "IN_PROGRESS": 3,
        "AWARDED": 1,
        "REJECTED": 1,
        "WITHDRAWN": 1,
        "LAPSED": 1,
    }


async def test_counts_of_one_year(engine: AsyncEngine) -> None:
    rows = await count_nominations(engine, ["ministry"], year=2025)
    assert [(r.value, r.total) for r in rows] == [("BTP", 1)]
    assert await count_nominations(engine, ["stage"], year=1999) == []
    with pytest.raises(ValueError, match="unknown dimension"):
        await count_nominations(engine, ["colour"])


# ---- decisions ------------------------------------------------------------------------------------------


async def test_the_decisions_by_date(engine: AsyncEngine) -> None:
    decisions = await list_decisions(engine)
    assert [(d.decision_no, d.decision_date, d.authority, d.accepted, d.refused) for d in decisions] == [
        ("3/QĐ-BTP", date(2025, 6, 2), "MINISTER", 0, 0),
        ("1520/QĐ-TTg", date(2026, 11, 30), "PRIME_MINISTER", 0, 2),
        ("12/QĐ-BTP", date(2026, 12, 20), "MINISTER", 1, 0),
    ]
    assert all(d.created_at.tzinfo is not None for d in decisions)
    assert [d.decision_no for d in await list_decisions(engine, year=2026)] == ["1520/QĐ-TTg", "12/QĐ-BTP"]
    table = decision_table(decisions)
    assert table[1][:7] == [2, "1520/QĐ-TTg", date(2026, 11, 30), "Thủ tướng Chính phủ", "tw.ban-tdkt.can-bo-1", 0, 2]
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", table[1][7])


# ---- reports follow the reader -----------------------------------------------------------------------


async def test_counts_and_decisions_cover_only_what_the_reader_may_read(engine: AsyncEngine) -> None:
    from client.access import ReadRefused, checked_scope
    from domain.access import read_scope

    def ministries(rows: list[Any]) -> dict[Any, int]:
        return {r.value: r.total for r in rows}

    def listed(rows: list[Any]) -> list[tuple[str, int, int]]:
        return [(d.decision_no, d.accepted, d.refused) for d in rows]

    btp = await checked_scope(engine, "btp.hd.uy-vien-1")  # a council member reads the council's ministry
    ktnn = await checked_scope(engine, "ktnn.vutckt.hoang-anh")
    bloc = await checked_scope(engine, "btp.khoi.dai-dien")  # no bloc-vote form among these nominations
    central = await checked_scope(engine, CENTRAL)
    assert ministries(await count_nominations(engine, ["ministry"], scope=btp)) == {"BTP": 4}
    assert ministries(await count_nominations(engine, ["ministry"], scope=ktnn)) == {"KTNN": 2}
    assert await count_nominations(engine, scope=bloc) == []
    assert ministries(await count_nominations(engine, ["ministry"], scope=central)) == {"BQP": 1, "BTP": 4, "KTNN": 2}
    # Each decision lists only the reader's rows; one naming none of them is not shown.
    assert listed(await list_decisions(engine, scope=btp)) == [("12/QĐ-BTP", 1, 0)]
    # KTNN's: its registered nomination and the unknown id naming KTNN, both refused.
    assert listed(await list_decisions(engine, scope=ktnn)) == [("1520/QĐ-TTg", 0, 2)]
    assert await list_decisions(engine, scope=bloc) == []
    assert listed(await list_decisions(engine, scope=central)) == listed(await list_decisions(engine))
    with pytest.raises(ReadRefused, match=r"'nguoi\.la' is not on the roster"):
        await checked_scope(engine, "nguoi.la")
    assert read_scope("nguoi.la", None).reads_nothing
    # Through the command: a stranger is refused (exit 4 in starter.py), the BTP member's table is BTP's.
    with pytest.raises(ReadRefused):
        await report_command(report_args("counts", reader="nguoi.la"), engine=engine)


# ---- the command: files and screen ------------------------------------------------------------------


def report_args(*argv: str, reader: str = CENTRAL) -> argparse.Namespace:
    """The command's arguments as starter.py parses them, read by `reader` (the central board reads all)."""
    parser = argparse.ArgumentParser()
    add_report_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["report", *argv, "--actor", reader])


def read_csv(path: Path) -> list[list[str]]:
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # the BOM Excel needs
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


async def test_counts_export_to_csv_and_xlsx(engine: AsyncEngine, tmp_path: Path, capsys: Any) -> None:
    for name in ("counts.csv", "counts.XLSX"):
        assert await report_command(report_args("counts", "--out", str(tmp_path / name)), engine=engine) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"22 rows written to {tmp_path / 'counts.csv'}",
        f"22 rows written to {tmp_path / 'counts.XLSX'}",
    ]
    expected = count_table(await count_nominations(engine))
    written = read_csv(tmp_path / "counts.csv")
    assert written[0] == list(COUNT_HEADERS)
    assert written[1:] == [[str(v) for v in row] for row in expected]
    assert written[1] == ["Bộ/ngành", "BQP", "BQP", "1", "1", "0", "0", "0", "0"]
    sheet = load_workbook(tmp_path / "counts.XLSX").active
    assert sheet is not None
    assert sheet.title == "Thống kê hồ sơ"
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert cells[0] == list(COUNT_HEADERS)
    assert cells[1:] == [[None if v == "" else v for v in row] for row in expected]  # an empty cell reads None

    assert (
        await report_command(report_args("counts", "--by", "year", "--out", str(tmp_path / "y.csv")), engine=engine)
        == 0
    )
    assert read_csv(tmp_path / "y.csv")[1:] == [
        ["Năm", "2025", "2025", "1", "0", "0", "0", "1", "0"],
        ["Năm", "2026", "2026", "6", "3", "1", "1", "0", "1"],
    ]


async def test_decisions_export_to_csv_and_xlsx(engine: AsyncEngine, tmp_path: Path) -> None:
    assert await report_command(report_args("decisions", "--out", str(tmp_path / "qd.csv")), engine=engine) == 0
    written = read_csv(tmp_path / "qd.csv")
    assert written[0] == list(DECISION_HEADERS)
    assert [row[:7] for row in written[1:]] == [
        ["1", "3/QĐ-BTP", "02/06/2025", "Bộ trưởng", "tw.ban-tdkt.can-bo-1", "0", "0"],
        ["2", "1520/QĐ-TTg", "30/11/2026", "Thủ tướng Chính phủ", "tw.ban-tdkt.can-bo-1", "0", "2"],
        ["3", "12/QĐ-BTP", "20/12/2026", "Bộ trưởng", "tw.ban-tdkt.can-bo-1", "1", "0"],
    ]
    out = tmp_path / "qd.xlsx"
    assert await report_command(report_args("decisions", "--year", "2026", "--out", str(out)), engine=engine) == 0
    sheet = load_workbook(out).active
    assert sheet is not None
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert [row[1] for row in cells[1:]] == ["1520/QĐ-TTg", "12/QĐ-BTP"]
    assert cells[1][2] == datetime(2026, 11, 30)
    assert sheet.cell(row=2, column=3).number_format == "DD/MM/YYYY"


async def test_without_out_the_report_is_a_table_on_screen(engine: AsyncEngine, capsys: Any) -> None:
    assert await report_command(report_args("counts", "--by", "ministry"), engine=engine) == 0
    shown = capsys.readouterr().out
    assert "Hồ sơ đề nghị theo bộ/ngành" in shown
    assert "Kiểm toán Nhà nước" in shown and "Bộ Tư pháp" in shown
    assert await report_command(report_args("decisions"), engine=engine) == 0
    shown = capsys.readouterr().out
    assert "1520/QĐ-TTg" in shown and "30/11/2026" in shown and "Thủ tướng Chính phủ" in shown


async def test_an_unknown_format_is_invalid_input_and_an_unreachable_database_a_failure(
    engine: AsyncEngine, tmp_path: Path, capsys: Any
) -> None:
    from domain.errors import InvalidInput

    with pytest.raises(InvalidInput, match=r"use \.csv or \.xlsx"):
        await report_command(report_args("counts", "--out", str(tmp_path / "x.ods")), engine=engine)
    missing = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'none.db'}")  # no schema
    try:
        assert await report_command(report_args("decisions"), engine=missing) == 1
    finally:
        await missing.dispose()
    assert "không đọc được cơ sở dữ liệu" in capsys.readouterr().err


# ---- through starter.py ---------------------------------------------------------------------------------


async def test_starter_report(reports_db: tuple[str, AsyncEngine, list[str]], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TDKT_TOKEN"} | AUTH_ENV | {"DATABASE_URL": reports_db[0]}
    env |= {"TDKT_TOKEN": token_for(CENTRAL)}  # reports follow the reader; the central board reads everything

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(STARTER), "report", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )

    out = tmp_path / "bo.csv"
    done = await asyncio.to_thread(run, "counts", "--by", "ministry", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert [row[1:4] for row in read_csv(out)[1:]] == [
        ["BQP", "BQP", "1"],
        ["BTP", "Bộ Tư pháp", "4"],
        ["KTNN", "Kiểm toán Nhà nước", "2"],
    ]
    shown = await asyncio.to_thread(run, "decisions")
    assert shown.returncode == 0, shown.stderr
    assert "1520/QĐ-TTg" in shown.stdout
    wrong = await asyncio.to_thread(run, "decisions", "--out", str(tmp_path / "qd.pdf"))
    assert wrong.returncode == 2 and "--out: cannot write a report to '.pdf'" in wrong.stderr
