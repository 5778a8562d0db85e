"""The priority policy (domain/priority.py): people's work ahead of bulk starts, bulk fair by ministry, a
bulk-started nomination raised to people's priority once its opening work is done; the admission window's
setting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.priority import (
    ADMISSION_WINDOW_ENV,
    DEFAULT_ADMISSION_WINDOW,
    HIGHEST,
    LOWEST,
    MAX_FAIRNESS_KEY_BYTES,
    PRIORITY_OF,
    TaskPriority,
    WorkKind,
    admission_window,
    after_opening,
    fairness_key,
    priorities_enabled,
    priority_for,
)
from workflows.priorities import as_temporal, priority_of

PEOPLE = (WorkKind.BALLOT_SESSION, WorkKind.NOMINATION, WorkKind.DECISION, WorkKind.BLOC_YEAR)


def test_every_kind_has_a_priority_in_the_servers_range() -> None:
    assert set(PRIORITY_OF) == set(WorkKind)
    assert all(HIGHEST <= key <= LOWEST for key in PRIORITY_OF.values())


def test_peoples_work_at_one_or_two_bulk_after_everything_else() -> None:
    assert priority_for(WorkKind.BALLOT_SESSION).priority_key == 1
    for kind in PEOPLE:
        assert priority_for(kind).priority_key in (1, 2), kind
    bulk = priority_for(WorkKind.BULK_NOMINATION).priority_key
    assert bulk > max(PRIORITY_OF[k] for k in WorkKind if k != WorkKind.BULK_NOMINATION)
    # Upkeep no one waits for sits at the server's default, between people and bulk.
    assert priority_for(WorkKind.UPKEEP).priority_key == 3


def test_a_decisions_tidings_run_after_peoples_actions_and_before_bulk() -> None:
    tidings = priority_for(WorkKind.DECISION_TIDINGS, "MINISTER")
    assert max(PRIORITY_OF[k] for k in PEOPLE) < tidings.priority_key < PRIORITY_OF[WorkKind.BULK_NOMINATION]
    assert tidings.fairness_key == "MINISTER"
    assert after_opening(WorkKind.DECISION_TIDINGS, "BTP") is None


@pytest.mark.parametrize(("setting", "enabled"), [(None, True), ("", True), (" on ", True), ("1", True)])
def test_the_policy_applies_unless_turned_off(setting: str | None, enabled: bool) -> None:
    assert priorities_enabled(setting) is enabled


@pytest.mark.parametrize("setting", ["off", "OFF", " 0 ", "no", "False"])
def test_the_policy_is_turned_off_by_off_0_no_or_false(setting: str) -> None:
    assert not priorities_enabled(setting)


def test_a_ballot_session_goes_before_a_single_nomination() -> None:
    assert priority_for(WorkKind.BALLOT_SESSION).priority_key < priority_for(WorkKind.NOMINATION).priority_key


def test_bulk_is_fair_by_ministry() -> None:
    btp = priority_for(WorkKind.BULK_NOMINATION, "BTP")
    bca = priority_for(WorkKind.BULK_NOMINATION, "BCA")
    assert (btp.fairness_key, bca.fairness_key) == ("BTP", "BCA")
    assert btp.priority_key == bca.priority_key  # fairness shares one priority level between ministries
    assert btp.fairness_weight is None  # equal weights: the server's default 1.0


def test_no_scope_no_fairness_key() -> None:
    assert priority_for(WorkKind.DECISION).fairness_key is None
    assert priority_for(WorkKind.DECISION, "  ").fairness_key is None


def test_a_bulk_nomination_is_raised_to_peoples_priority_after_its_opening_work() -> None:
    raised = after_opening(WorkKind.BULK_NOMINATION, "BTP")
    assert raised == priority_for(WorkKind.NOMINATION, "BTP")
    assert raised is not None and raised.priority_key == 2
    for kind in (*PEOPLE, WorkKind.UPKEEP):
        assert after_opening(kind, "BTP") is None, kind


@given(st.text(min_size=1, max_size=200))
def test_fairness_keys_fit_the_servers_limit(scope: str) -> None:
    key = fairness_key(scope)
    assert len(key.encode()) <= MAX_FAIRNESS_KEY_BYTES
    assert scope.strip().startswith(key)
    if len(scope.strip().encode()) <= MAX_FAIRNESS_KEY_BYTES:
        assert key == scope.strip()


@pytest.mark.parametrize(
    "bad",
    [
        {"priority_key": 0},
        {"priority_key": 6},
        {"priority_key": 2, "fairness_key": "x" * 65},
        {"priority_key": 2, "fairness_weight": 0.0},
        {"priority_key": 2, "fairness_weight": 1001.0},
    ],
)
def test_a_priority_outside_the_servers_bounds_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        TaskPriority(**bad)  # type: ignore[arg-type]


def test_as_the_sdks_priority() -> None:
    sdk = as_temporal(TaskPriority(priority_key=4, fairness_key="BTP", fairness_weight=2.0))
    assert (sdk.priority_key, sdk.fairness_key, sdk.fairness_weight) == (4, "BTP", 2.0)
    session = priority_of(WorkKind.BALLOT_SESSION, "KHOI_1")
    assert (session.priority_key, session.fairness_key) == (1, "KHOI_1")


@pytest.mark.parametrize(
    ("text", "window"), [(None, DEFAULT_ADMISSION_WINDOW), ("", DEFAULT_ADMISSION_WINDOW), ("0", 0), (" 7 ", 7)]
)
def test_admission_window_setting(text: str | None, window: int) -> None:
    assert admission_window(text) == window


@pytest.mark.parametrize("text", ["-1", "many", "2.5"])
def test_a_bad_admission_window_names_the_variable(text: str) -> None:
    with pytest.raises(ValueError, match=ADMISSION_WINDOW_ENV):
        admission_window(text)
