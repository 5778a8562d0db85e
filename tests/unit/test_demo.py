"""The run command's demo keeps to a world of its own: its roster shares nothing with the shipped one, its
people may do what it makes them do, its counts are its roster's, and each run's nominations are new."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.ballots import meeting_count_errors, voting_members
from domain.bloc.policy import bloc_rotation
from domain.nomination import nominee_identity_key, workflow_id_for
from domain.procedure import proposal_error
from domain.roster import Roster
from domain.stages import Stage
from scripts.demo import DEMO_MINISTRY, DEMO_ROSTER, SAMPLE_FILES, USER_ROSTER, Cast, demo_nomination, same_database

DEMO = Roster.model_validate_json(DEMO_ROSTER.read_text(encoding="utf-8"))
SHIPPED = Roster.model_validate_json(USER_ROSTER.read_text(encoding="utf-8"))
CAST = Cast.from_roster(DEMO, DEMO_MINISTRY)


def test_the_demo_roster_shares_no_ministry_bloc_or_person_with_the_shipped_roster() -> None:
    # Except the bloc whose year the demo carries: its scoring table and rotation order are kept by its code and
    # its members' (domain/data/bloc-*-NOI_CHINH*.json); its people are the demo's own, in the demo's database.
    bloc_year = {"NOI_CHINH"}
    members = {m.code for m in DEMO.ministries if m.bloc in bloc_year}
    assert members == set(bloc_rotation("NOI_CHINH").order)
    assert {m.code for m in DEMO.ministries}.isdisjoint({m.code for m in SHIPPED.ministries} - members)
    assert {b.code for b in DEMO.blocs}.isdisjoint({b.code for b in SHIPPED.blocs} - bloc_year)
    assert {a.id for a in DEMO.actors}.isdisjoint({a.id for a in SHIPPED.actors})
    assert {str(a.email) for a in DEMO.actors if a.email}.isdisjoint({str(a.email) for a in SHIPPED.actors if a.email})


def test_the_cast_is_the_demo_rosters_own_and_its_typed_in_counts_fit_the_council() -> None:
    snapshot = DEMO.snapshot_for(DEMO_MINISTRY)
    assert CAST.council == tuple(a.id for a in voting_members(snapshot, Stage.COUNCIL_REVIEW))
    assert CAST.bloc_voters == tuple(a.id for a in voting_members(snapshot, Stage.BLOC_VOTE))
    assert CAST.secretary not in CAST.council and CAST.chair in CAST.council
    tally = CAST.council_pass(CAST.secretary).tally
    assert tally.members == len(CAST.council)
    assert meeting_count_errors(snapshot, Stage.COUNCIL_REVIEW, **tally.model_dump()) == []


@pytest.mark.parametrize("key", sorted(SAMPLE_FILES))
def test_each_demo_nomination_is_proposed_in_the_demo_ministry_by_its_unit_staff(key: str) -> None:
    nomination = demo_nomination(key, CAST, "261206-101500", 2026)
    assert nomination.ministry == DEMO_MINISTRY
    assert proposal_error(DEMO.snapshot_for(DEMO_MINISTRY), nomination.proposer) is None


stamps = st.from_regex(r"\A[0-9]{6}-[0-9]{6}\Z")


@given(first=stamps, second=stamps)
def test_two_runs_never_share_a_workflow_id_or_a_nominee(first: str, second: str) -> None:
    """Each run's stamp makes its business keys and its nominees' identities new, so a second run trips
    neither the duplicate workflow id nor the one-nomination-per-person rule on the first one's."""
    if first == second:
        return
    for key in SAMPLE_FILES:
        a, b = demo_nomination(key, CAST, first, 2026), demo_nomination(key, CAST, second, 2026)
        assert workflow_id_for(a) != workflow_id_for(b)
        assert nominee_identity_key(a) != nominee_identity_key(b)


def test_one_run_proposes_six_different_nominees() -> None:
    run = [demo_nomination(key, CAST, "261206-101500", 2026) for key in SAMPLE_FILES]
    assert len({nominee_identity_key(n) for n in run}) == len(run)
    assert len({workflow_id_for(n) for n in run}) == len(run)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("postgresql://postgres@127.0.0.1:5432/tdkt", "postgresql+asyncpg://postgres@127.0.0.1:5432/tdkt", True),
        ("postgresql://u:secret@db:5432/tdkt", "postgresql+asyncpg://other@db:5432/tdkt", True),
        ("postgresql://postgres@127.0.0.1:5432/tdkt", "postgresql://postgres@127.0.0.1:5432/tdkt_demo", False),
        ("postgresql://postgres@host-a/tdkt", "postgresql://postgres@host-b/tdkt", False),
        ("sqlite+aiosqlite:////x/.state/engine.db", "sqlite+aiosqlite:////x/.state/demo.db", False),
        ("sqlite+aiosqlite:////x/.state/engine.db", "sqlite+aiosqlite:////x/.state/engine.db", True),
    ],
)
def test_same_database_compares_where_the_data_lives_not_how_the_url_is_spelt(a: str, b: str, same: bool) -> None:
    assert same_database(a, b) is same
