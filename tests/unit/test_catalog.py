"""The award catalog and its policies: versioned data checked against domain.md."""

from __future__ import annotations

import json
from datetime import date, datetime
from fractions import Fraction as Exact

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import domain.catalog as catalog
from domain.calendar import DEFAULT_CALENDAR, VIETNAM_TZ, WorkingCalendar
from domain.catalog import (
    AUTHORITY_LABELS_VI,
    DATA_DIR,
    DOCUMENT_LABELS_VI,
    Authority,
    AwardForm,
    CalendarPolicy,
    DocumentKind,
    Fraction,
    PolicySet,
    current_policy_version,
    policy_set,
    policy_sets,
)
from domain.stages import FAMILIAR_STATUS_VI, ROUTE_STAGES, STAGE_LABELS_VI, Stage

VERSION = "2025.07"
POLICY = policy_set(VERSION)
NEW_VERSION = "2026.01"  # adds return deadlines, escalation of overdue appraisals and the calendar's exceptions
NEW_POLICY = policy_set(NEW_VERSION)
VERSIONS = [VERSION, NEW_VERSION]

PN, CR, BV, CE = Stage.PUBLIC_NOTICE, Stage.COUNCIL_REVIEW, Stage.BLOC_VOTE, Stage.CENTRAL_REVIEW

# domain.md, "Award forms (hình thức) and who decides": route after the unit's proposal, and who decides.
DOMAIN_TABLE: dict[str, tuple[tuple[Stage, ...], Authority]] = {
    "BANG_KHEN_BO": ((CR,), Authority.MINISTER),
    "CSTD_CAP_BO": ((CR,), Authority.MINISTER),
    "CO_THI_DUA_BO": ((CR,), Authority.MINISTER),
    "TAP_THE_LDXS": ((CR,), Authority.MINISTER),
    "KY_NIEM_CHUONG": ((CR,), Authority.AGENCY_HEAD),
    "BANG_KHEN_TTG": ((CR, CE), Authority.PRIME_MINISTER),
    "CSTD_TOAN_QUOC": ((PN, CR, CE), Authority.PRIME_MINISTER),
    "CO_THI_DUA_CP": ((CR, BV, CE), Authority.PRIME_MINISTER),
    "HUAN_CHUONG_LD_3": ((PN, CR, CE), Authority.PRESIDENT),
}


def _form(**overrides) -> dict:
    data = {
        "code": "TEST_FORM",
        "name_vi": "Hình thức thử",
        "subject": "EITHER",
        "route": ["COUNCIL_REVIEW"],
        "decided_by": "MINISTER",
        "required_documents": ["TO_TRINH"],
        "council_policy": "COUNCIL_MAJORITY",
        "bloc_policy": None,
    }
    data.update(overrides)
    return data


def _raw_policy(version: str = VERSION) -> dict:
    return json.loads((DATA_DIR / f"policy-{version}.json").read_text(encoding="utf-8"))


@pytest.fixture(params=VERSIONS)
def policy(request) -> PolicySet:
    """Each shipped policy version: 2026.01 keeps the catalog and voting rules of 2025.07."""
    return policy_set(request.param)


# --- the shipped catalog -------------------------------------------------------------------------


def test_the_policy_files_are_found_and_named_by_their_versions():
    assert sorted(policy_sets()) == VERSIONS
    assert POLICY.version == VERSION
    assert POLICY.effective_from == date(2025, 7, 1)
    assert "06/2022/QH15" in POLICY.source
    assert NEW_POLICY.version == NEW_VERSION
    assert NEW_POLICY.effective_from == date(2026, 1, 1)
    assert "06/2022/QH15" in NEW_POLICY.source


def test_2026_01_keeps_the_forms_and_voting_rules_of_2025_07():
    assert NEW_POLICY.award_forms == POLICY.award_forms
    assert NEW_POLICY.voting_policies == POLICY.voting_policies
    unchanged = POLICY.time.model_dump(exclude={"return_reminder_working_days_before", "return_reminder_source"})
    assert NEW_POLICY.time.model_dump(exclude={"return_reminder_working_days_before", "return_reminder_source"}) == (
        unchanged
    )


@pytest.mark.parametrize("code", sorted(POLICY.award_forms))
def test_every_route_is_ordered_and_uses_only_route_stages(policy, code):
    form = policy.form(code)
    assert form.code == code
    assert all(stage in ROUTE_STAGES for stage in form.route)
    positions = [ROUTE_STAGES.index(stage) for stage in form.route]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)


@pytest.mark.parametrize("code", sorted(POLICY.award_forms))
def test_forms_with_council_or_bloc_stages_have_resolvable_policies(policy, code):
    form = policy.form(code)
    if CR in form.route:
        voting = policy.council_policy(code)
        assert voting.code == form.council_policy
        assert voting.source
    else:
        with pytest.raises(KeyError):
            policy.council_policy(code)
    if BV in form.route:
        voting = policy.bloc_policy(code)
        assert voting.code == form.bloc_policy
        assert voting.source
    else:
        with pytest.raises(KeyError):
            policy.bloc_policy(code)


@pytest.mark.parametrize(("code", "route", "authority"), [(c, r, a) for c, (r, a) in DOMAIN_TABLE.items()])
def test_domain_table_forms_exist_with_their_route_and_deciding_authority(policy, code, route, authority):
    form = policy.form(code)
    assert form.route == route
    assert form.decided_by == authority
    assert form.accepts_nominations is True
    assert form.name_vi


def test_the_catalog_has_exactly_the_domain_table_forms_and_giay_khen(policy):
    assert set(policy.award_forms) == set(DOMAIN_TABLE) | {"GIAY_KHEN"}


def test_giay_khen_is_unit_level_and_refuses_nominations(policy):
    form = policy.form("GIAY_KHEN")
    assert form.accepts_nominations is False
    assert form.decided_by == Authority.UNIT_HEAD
    assert form.route == ()


def test_co_thi_dua_cp_goes_through_the_bloc_vote_with_a_quota_of_one(policy):
    form = policy.form("CO_THI_DUA_CP")
    assert BV in form.route
    assert form.route.index(CR) < form.route.index(BV) < form.route.index(CE)
    assert form.subject == "COLLECTIVE"
    assert policy.bloc_policy("CO_THI_DUA_CP").quota == 1
    assert all(BV not in f.route for c, f in policy.award_forms.items() if c != "CO_THI_DUA_CP")


@pytest.mark.parametrize("code", ["HUAN_CHUONG_LD_3", "CSTD_TOAN_QUOC"])
def test_state_honours_start_with_public_notice(policy, code):
    assert policy.form(code).route[0] == PN


def test_bang_khen_bo_ends_after_council_review(policy):
    assert policy.form("BANG_KHEN_BO").route[-1] == CR
    assert CE not in policy.form("BANG_KHEN_BO").route


@pytest.mark.parametrize("code", ["CSTD_CAP_BO", "CSTD_TOAN_QUOC"])
def test_emulation_fighters_need_the_secret_90_percent_rule_and_initiatives(policy, code):
    voting = policy.council_policy(code)
    assert voting.secret_ballot is True
    assert (voting.threshold.numerator, voting.threshold.denominator) == (9, 10)
    assert voting.threshold.base == "ALL_MEMBERS"
    assert voting.threshold.strict is False
    assert DocumentKind.XAC_NHAN_SANG_KIEN in policy.form(code).required_documents


@pytest.mark.parametrize("code", sorted(POLICY.voting_policies))
def test_every_voting_policy_has_a_two_thirds_quorum_of_all_members_and_a_source(policy, code):
    voting = policy.voting_policies[code]
    assert voting.code == code
    assert (voting.quorum.numerator, voting.quorum.denominator, voting.quorum.strict) == (2, 3, False)
    assert voting.quorum.base == "ALL_MEMBERS"
    assert voting.source.strip()
    assert voting.description_vi.strip()


@pytest.mark.parametrize("code", sorted(DOMAIN_TABLE))
def test_every_nominable_form_requires_a_proposal_letter_and_an_achievement_report(policy, code):
    docs = policy.form(code).required_documents
    assert DocumentKind.TO_TRINH in docs
    assert DocumentKind.BAO_CAO_THANH_TICH in docs


def test_time_policy_keeps_ten_working_days_of_public_notice_with_its_source(policy):
    assert policy.time.public_notice_working_days == 10
    assert "98/2023" in policy.time.public_notice_source
    assert policy.time.central_appraisal_working_days == 10
    assert policy.time.central_appraisal_with_consultation_working_days == 20


def test_every_label_table_is_complete():
    assert set(DOCUMENT_LABELS_VI) == set(DocumentKind)
    assert set(AUTHORITY_LABELS_VI) == set(Authority)
    assert set(STAGE_LABELS_VI) == set(Stage)
    assert set(FAMILIAR_STATUS_VI) == set(Stage)
    assert Stage.RETURNED.status_vi == "Bị trả lại"
    assert Stage.AWARDED.status_vi == "Đã khen thưởng"
    assert {s for s in Stage if s.is_final} == {
        Stage.AWARDED,
        Stage.REJECTED,
        Stage.WITHDRAWN,
        Stage.LAPSED,
        Stage.REFUSED,
    }


# --- validation of catalog data ------------------------------------------------------------------


@pytest.mark.parametrize(
    "route",
    [
        ["CENTRAL_REVIEW", "COUNCIL_REVIEW"],
        ["COUNCIL_REVIEW", "PUBLIC_NOTICE"],
        ["COUNCIL_REVIEW", "COUNCIL_REVIEW"],
        ["BLOC_VOTE", "COUNCIL_REVIEW", "CENTRAL_REVIEW"],
    ],
)
def test_an_unordered_or_repeated_route_is_refused(route):
    with pytest.raises(ValidationError, match="must follow"):
        AwardForm.model_validate(_form(route=route, bloc_policy="BLOC_MAJORITY"))


@pytest.mark.parametrize("stage", [s.value for s in Stage if s not in ROUTE_STAGES])
def test_a_route_with_a_non_route_stage_is_refused(stage):
    with pytest.raises(ValidationError, match="is not a route stage"):
        AwardForm.model_validate(_form(route=[stage, "COUNCIL_REVIEW"]))


def test_a_council_stage_without_a_council_policy_is_refused():
    with pytest.raises(ValidationError, match="no council_policy"):
        AwardForm.model_validate(_form(council_policy=None))


def test_a_bloc_stage_without_a_bloc_policy_is_refused():
    with pytest.raises(ValidationError, match="no bloc_policy"):
        AwardForm.model_validate(_form(route=["COUNCIL_REVIEW", "BLOC_VOTE"], bloc_policy=None))


def test_a_valid_form_definition_is_accepted():
    form = AwardForm.model_validate(_form(route=["PUBLIC_NOTICE", "COUNCIL_REVIEW", "CENTRAL_REVIEW"]))
    assert form.route == (PN, CR, CE)


def test_a_policy_set_referring_to_an_unknown_voting_policy_is_refused():
    raw = _raw_policy()
    raw["award_forms"]["BANG_KHEN_BO"]["council_policy"] = "NO_SUCH_POLICY"
    with pytest.raises(ValidationError, match="unknown voting policy NO_SUCH_POLICY"):
        PolicySet.model_validate(raw)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_raw_policy_file_round_trips_and_fills_codes_from_keys(version):
    parsed = PolicySet.model_validate(_raw_policy(version))
    assert parsed == policy_set(version)
    assert all(code == form.code for code, form in parsed.award_forms.items())


# --- versions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "version"),
    [
        (date(2025, 7, 1), VERSION),
        (date(2025, 12, 31), VERSION),
        (date(2026, 1, 1), NEW_VERSION),
        (date(2026, 2, 10), NEW_VERSION),
        (date(2030, 1, 1), NEW_VERSION),
    ],
)
def test_current_policy_version_on_or_after_its_effective_date(day, version):
    assert current_policy_version(day) == version


def test_no_policy_is_in_force_before_the_first_effective_date():
    with pytest.raises(LookupError, match="2025-06-30"):
        current_policy_version(date(2025, 6, 30))


def test_current_policy_version_picks_the_newest_set_in_force(monkeypatch):
    later = NEW_POLICY.model_copy(update={"version": "2027.01", "effective_from": date(2027, 1, 1)})
    sets = {VERSION: POLICY, NEW_VERSION: NEW_POLICY, "2027.01": later}
    monkeypatch.setattr(catalog, "policy_sets", lambda: sets)
    assert current_policy_version(date(2025, 12, 31)) == VERSION
    assert current_policy_version(date(2026, 12, 31)) == NEW_VERSION
    assert current_policy_version(date(2027, 1, 1)) == "2027.01"
    assert current_policy_version(date(2030, 5, 5)) == "2027.01"
    assert catalog.policy_set("2027.01") is later


def test_an_unknown_policy_version_is_an_error_naming_it_and_the_known_ones():
    with pytest.raises(KeyError) as info:
        policy_set("1999.01")
    message = str(info.value)
    assert "1999.01" in message
    assert VERSION in message
    assert NEW_VERSION in message


def test_an_unknown_form_code_is_a_key_error():
    with pytest.raises(KeyError):
        POLICY.form("HUY_CHUONG_KHONG_CO")


# --- 2026.01: deadlines for a returned dossier, and the calendar's exceptions ----------------------


def test_only_2026_01_enforces_a_deadline_for_a_returned_dossier():
    assert POLICY.enforces_return_deadline is False
    assert POLICY.time.return_reminder_working_days_before is None
    assert POLICY.time.return_reminder_source is None
    assert NEW_POLICY.enforces_return_deadline is True
    assert NEW_POLICY.time.return_reminder_working_days_before == 2
    assert NEW_POLICY.time.return_reminder_source
    # The reminder falls inside the period the unit has to supplement the dossier.
    assert 0 < NEW_POLICY.time.return_reminder_working_days_before < NEW_POLICY.time.return_supplement_working_days


@pytest.mark.parametrize(("reminder", "enforced"), [(None, False), (0, True), (5, True)])
def test_the_return_deadline_is_enforced_exactly_when_a_reminder_is_set(reminder, enforced):
    raw = _raw_policy(NEW_VERSION)
    raw["time"]["return_reminder_working_days_before"] = reminder
    assert PolicySet.model_validate(raw).enforces_return_deadline is enforced


def test_a_negative_reminder_is_refused():
    raw = _raw_policy(NEW_VERSION)
    raw["time"]["return_reminder_working_days_before"] = -1
    with pytest.raises(ValidationError, match="return_reminder_working_days_before"):
        PolicySet.model_validate(raw)


def test_a_policy_file_without_the_new_time_fields_still_loads():
    raw = _raw_policy(NEW_VERSION)
    del raw["time"]["return_reminder_working_days_before"], raw["time"]["return_reminder_source"]
    assert PolicySet.model_validate(raw).enforces_return_deadline is False


def test_the_2026_01_reminder_lands_on_a_working_day_before_the_deadline_across_tet():
    calendar = NEW_POLICY.calendar.working_calendar()
    returned_at = datetime(2026, 2, 10, 9, 30, tzinfo=VIETNAM_TZ)
    deadline = calendar.deadline_after(returned_at, NEW_POLICY.time.return_supplement_working_days)
    days_before = NEW_POLICY.time.return_reminder_working_days_before
    assert days_before == 2
    remind_at = calendar.deadline_before(deadline, days_before)
    assert deadline == datetime(2026, 3, 4, tzinfo=VIETNAM_TZ)  # the end of Tuesday 3 March
    assert remind_at == datetime(2026, 2, 27, 8, 0, tzinfo=VIETNAM_TZ)  # Friday: 2 and 3 March are left
    assert returned_at < remind_at < deadline


def test_2025_07_has_no_calendar_section_and_uses_the_holidays_package_alone():
    assert "calendar" not in _raw_policy(VERSION)
    assert POLICY.calendar == CalendarPolicy()
    assert POLICY.calendar.working_calendar() == DEFAULT_CALENDAR


def test_2026_01_configures_no_swapped_days_yet_and_says_where_holidays_come_from():
    assert "calendar" in _raw_policy(NEW_VERSION)
    calendar = NEW_POLICY.calendar
    assert calendar.extra_days_off == frozenset()
    assert calendar.makeup_working_days == frozenset()
    assert "holidays" in calendar.source
    assert calendar.working_calendar() == DEFAULT_CALENDAR


def test_a_calendar_policy_parses_iso_dates_and_builds_its_working_calendar():
    policy = CalendarPolicy.model_validate(
        {
            "extra_days_off": ["2026-03-09"],  # a Monday given off...
            "makeup_working_days": ["2026-03-07"],  # ...worked on the Saturday before
            "source": "Thông báo hoán đổi ngày làm việc (thử)",
        }
    )
    assert policy.extra_days_off == frozenset({date(2026, 3, 9)})
    assert policy.makeup_working_days == frozenset({date(2026, 3, 7)})
    calendar = policy.working_calendar()
    assert isinstance(calendar, WorkingCalendar)
    assert calendar.is_working_day(date(2026, 3, 7))
    assert not calendar.is_working_day(date(2026, 3, 9))
    assert calendar.add_working_days(date(2026, 3, 6), 1) == date(2026, 3, 7)
    assert calendar.add_working_days(date(2026, 3, 7), 1) == date(2026, 3, 10)
    assert DEFAULT_CALENDAR.add_working_days(date(2026, 3, 6), 1) == date(2026, 3, 9)


def test_a_policy_files_calendar_section_reaches_its_working_calendar():
    raw = _raw_policy(NEW_VERSION)
    raw["calendar"]["extra_days_off"] = ["2026-12-31"]
    calendar = PolicySet.model_validate(raw).calendar.working_calendar()
    assert not calendar.is_working_day(date(2026, 12, 31))
    assert DEFAULT_CALENDAR.is_working_day(date(2026, 12, 31))


@pytest.mark.parametrize("bad", ["2026-02-30", "không phải ngày"])
def test_a_calendar_with_an_invalid_date_is_refused(bad):
    with pytest.raises(ValidationError):
        CalendarPolicy.model_validate({"extra_days_off": [bad]})


def test_a_calendar_policy_is_frozen():
    with pytest.raises(ValidationError):
        NEW_POLICY.calendar.source = "khác"  # type: ignore[misc]


# --- Fraction ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "d", "strict", "count", "base", "met"),
    [
        (2, 3, False, 6, 9, True),  # 2/3 of 9 is exactly 6
        (2, 3, False, 5, 9, False),
        (2, 3, False, 7, 10, True),
        (2, 3, False, 6, 10, False),  # 6/10 < 2/3
        (9, 10, False, 9, 10, True),  # 90% of 10 needs 9
        (9, 10, False, 8, 10, False),
        (9, 10, False, 9, 9, True),
        (9, 10, False, 8, 9, False),  # 8/9 = 88.9%
        (9, 10, False, 27, 30, True),
        (9, 10, False, 26, 30, False),
        (1, 2, True, 6, 10, True),  # strict majority of 10 needs 6
        (1, 2, True, 5, 10, False),  # exactly half is not a majority
        (1, 2, True, 5, 9, True),
        (1, 2, True, 4, 9, False),
        (1, 2, False, 5, 10, True),  # non-strict half
        (0, 1, False, 0, 10, True),
        (1, 1, False, 10, 10, True),
        (1, 1, False, 9, 10, False),
    ],
)
def test_fraction_met_by_at_exact_boundaries(n, d, strict, count, base, met):
    assert Fraction(numerator=n, denominator=d, strict=strict).met_by(count, base) is met


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(0, 20),
    d=st.integers(1, 20),
    strict=st.booleans(),
    base=st.integers(1, 1000),
    data=st.data(),
)
def test_fraction_met_by_agrees_with_exact_rational_comparison(n, d, strict, base, data):
    count = data.draw(st.integers(0, base))
    rule = Fraction(numerator=n, denominator=d, strict=strict)
    exact = Exact(count, base)
    expected = exact > Exact(n, d) if strict else exact >= Exact(n, d)
    assert rule.met_by(count, base) is expected


def test_fraction_refuses_a_zero_denominator_and_a_negative_numerator():
    with pytest.raises(ValidationError):
        Fraction(numerator=1, denominator=0)
    with pytest.raises(ValidationError):
        Fraction(numerator=-1, denominator=2)


def test_fraction_describes_itself_in_vietnamese():
    assert Fraction(numerator=9, denominator=10).describe_vi() == "từ 90% tổng số thành viên"
    assert Fraction(numerator=1, denominator=2, strict=True, base="BALLOTS_CAST").describe_vi() == "trên 50% số phiếu"
