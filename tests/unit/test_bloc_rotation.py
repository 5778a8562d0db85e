"""The bloc head and deputy by rotation, an elected head off the order, and the rotating flag's handover."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from domain.bloc.policy import bloc_rotation
from domain.bloc.rotation import (
    BlocLeadership,
    elected_leadership_errors,
    flag_handover,
    leadership_for,
    next_leadership,
    reanchored,
)
from domain.roster import Roster

ROTATION = bloc_rotation("NOI_CHINH")


def test_the_seed_years_state_audit_hands_the_flag_to_the_supreme_court():
    outgoing, incoming = leadership_for(ROTATION, 2023), leadership_for(ROTATION, 2024)
    assert (outgoing.head, incoming.head) == ("KTNN", "TANDTC")
    handover = flag_handover(outgoing, incoming)
    assert (handover.bloc, handover.year, handover.from_member, handover.to_member) == (
        "NOI_CHINH",
        2024,
        "KTNN",
        "TANDTC",
    )


def test_the_deputy_is_next_years_head():
    for year in range(2020, 2040):
        assert leadership_for(ROTATION, year).deputy == leadership_for(ROTATION, year + 1).head


def test_every_bloc_member_of_the_roster_is_in_the_rotation():
    roster = Roster.model_validate(
        json.loads((Path(__file__).resolve().parents[2] / "config" / "roster.json").read_text(encoding="utf-8"))
    )
    members = {m.code for m in roster.ministries if m.bloc == "NOI_CHINH"}
    assert members <= set(ROTATION.order)


def test_an_elected_head_off_the_order_and_the_rotation_continuing_from_them():
    assert elected_leadership_errors(ROTATION, 2025, "BCA", "BTP") == []
    elected = BlocLeadership(bloc="NOI_CHINH", year=2025, head="BCA", deputy="BTP")
    after = next_leadership(ROTATION, elected)
    assert (after.year, after.head, after.deputy) == (2026, "TCCT", "BTLBVL")
    moved = reanchored(ROTATION, elected)
    assert leadership_for(moved, 2026) == after
    assert flag_handover(leadership_for(ROTATION, 2024), elected).to_member == "BCA"


def test_an_election_names_its_fields():
    errors = [(e.field, e.message) for e in elected_leadership_errors(ROTATION, 2025, "BYT", "BNV")]
    assert errors == [
        ("head", "đơn vị BYT không phải thành viên Khối"),
        ("deputy", "đơn vị BNV không phải thành viên Khối"),
    ]
    same = [(e.field, e.message) for e in elected_leadership_errors(ROTATION, 2025, "BCA", "BCA")]
    assert same == [("deputy", "Khối trưởng và Khối phó phải là hai đơn vị khác nhau")]


def test_the_flag_passes_to_the_next_years_head_of_the_same_bloc():
    y2024, y2026 = leadership_for(ROTATION, 2024), leadership_for(ROTATION, 2026)
    with pytest.raises(ValueError, match="next year's head: 2024 → 2026"):
        flag_handover(y2024, y2026)
    other = y2026.model_copy(update={"bloc": "KINH_TE", "year": 2025})
    with pytest.raises(ValueError, match="within a bloc"):
        flag_handover(y2024, other)
    with pytest.raises(ValidationError, match="Cờ luân lưu chuyển sang một đơn vị khác"):
        flag_handover(y2024, y2024.model_copy(update={"year": 2025}))
