"""The CLI speaks Vietnamese to staff: `--help` of the entry point and of a command (usage line, headings,
descriptions, option help), argparse's own errors (a missing argument, an unknown command or option, a bad
value) with exit 2, and every command's help written in Vietnamese (option names unchanged)."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cli.common import VietnameseArgumentParser, argparse_message_vi
from cli.main import parser

ROOT = Path(__file__).resolve().parents[2]
STARTER = ROOT / "starter.py"
# Letters only Vietnamese uses (with its tone marks): a help text with none of them is not Vietnamese.
VIETNAMESE_LETTERS = re.compile(r"[ăâđêôơưàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ]", re.I)
ENGLISH_ARGPARSE = ("usage:", "positional arguments", "options:", "show this help message", "error:", "required")


def starter(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(STARTER), *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_entry_points_help_is_vietnamese() -> None:
    shown = starter("--help")
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert out.startswith("Cách dùng: starter.py")
    for heading in ("tùy chọn:", "lệnh:"):
        assert heading in out
    assert "Công cụ dòng lệnh của hệ thống xét đề nghị thi đua – khen thưởng" in out
    assert "in hướng dẫn này rồi thoát" in out and "mã đăng nhập đã ký của người thực hiện" in out
    assert "kiểm tra tệp hồ sơ đề nghị và khởi động quy trình xét" in out  # nominate's line
    assert "Mã thoát: 0 xong" in out
    for english in ENGLISH_ARGPARSE:
        assert english not in out, english
    assert "--token" in out and "--json" in out  # option names unchanged


def test_a_commands_help_is_vietnamese() -> None:
    shown = starter("nominate", "--help")
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert out.startswith("Cách dùng: starter.py nominate")
    assert "\nkiểm tra tệp hồ sơ đề nghị và khởi động quy trình xét\n" in out  # the description
    assert "tham số vị trí:" in out and "tùy chọn:" in out
    assert "tệp hồ sơ đề nghị (JSON)" in out
    assert "người đề nghị trong tệp phải là người này" in out
    assert "--actor ACTOR" in out and "--public-notice-seconds" in out
    for english in ENGLISH_ARGPARSE:
        assert english not in out, english


def test_a_missing_argument_is_said_in_vietnamese_with_exit_2() -> None:
    missing = starter("nominate")
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.startswith("Cách dùng: starter.py nominate")
    assert missing.stderr.rstrip().endswith("starter.py nominate: lỗi: thiếu tham số bắt buộc: file")
    assert "Traceback" not in missing.stderr
    for english in ENGLISH_ARGPARSE:
        assert english not in missing.stderr, english


def test_argparse_errors_are_vietnamese_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    cases = {
        ("bogus",): "không có lựa chọn 'bogus' (chọn một trong 'token', 'nominate',",
        ("list", "--nope"): "tham số không nhận ra: --nope",
        ("ballot", "open", "--kind", "town", "--scope", "BTP", "--meeting", "M"): "không có lựa chọn 'town'",
        ("ballot", "status", "s", "--actor"): "tham số --actor: cần đúng một giá trị",
        ("objection", "resolve", "wf", "abc"): "tham số objection_id: giá trị 'abc' không phải kiểu int",
        ("central", "wf", "--approve", "--reject"): "tham số --reject: không dùng cùng tham số --approve",
        ("central", "wf"): "cần một trong các tham số --approve --reject --return",
    }
    for argv, expected in cases.items():
        with pytest.raises(SystemExit) as ended:
            parser().parse_args(list(argv))
        assert ended.value.code == 2, argv
        err = capsys.readouterr().err
        assert expected in err, (argv, err)
        assert "Cách dùng:" in err and ": lỗi: " in err and "error:" not in err, err


def test_every_commands_help_is_vietnamese() -> None:
    """Each subcommand's description and each of its options' help (where one is given) has Vietnamese letters."""
    english: list[str] = []

    def walk(p: argparse.ArgumentParser, path: str) -> None:
        assert isinstance(p, VietnameseArgumentParser), path
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    if not child.description or not VIETNAMESE_LETTERS.search(child.description):
                        english.append(f"{path} {name}: {child.description!r}")
                    walk(child, f"{path} {name}")
            elif action.help not in (None, argparse.SUPPRESS) and not VIETNAMESE_LETTERS.search(str(action.help)):
                english.append(f"{path} {'/'.join(action.option_strings) or action.dest}: {action.help!r}")

    walk(parser(), "starter.py")
    assert english == []


def test_unknown_messages_pass_through() -> None:
    assert argparse_message_vi("something new in a later Python") == "something new in a later Python"
    assert argparse_message_vi("the following arguments are required: a, b") == "thiếu tham số bắt buộc: a, b"


def test_tables_show_moments_in_vietnam_time_and_json_stays_as_it_was(capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime

    from cli import output

    assert output.cell("2026-12-06T17:30:00Z") == "07/12/2026 00:30 (giờ VN)"  # past midnight in Hà Nội
    assert output.cell("2026-12-06T07:00:00.5+00:00") == "06/12/2026 14:00 (giờ VN)"
    assert output.cell(datetime(2026, 12, 6, 1, 5, tzinfo=UTC)) == "06/12/2026 08:05 (giờ VN)"
    assert output.cell("2026-12-06") == "2026-12-06" and output.cell("HD-2026-12") == "HD-2026-12"
    row = {"workflow_id": "nomination-x", "due_at": "2026-12-06T17:30:00Z"}
    output.set_json(False)
    output.show([row])
    assert "07/12/2026 00:30 (giờ VN)" in capsys.readouterr().out
    output.set_json(True)
    try:
        output.show([row])
        assert '"due_at": "2026-12-06T17:30:00Z"' in capsys.readouterr().out
    finally:
        output.set_json(False)
