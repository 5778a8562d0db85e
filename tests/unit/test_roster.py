"""The roster (config/roster.json) and who may take which action in which stage."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, EmailStr, ValidationError

from domain.ballots import meeting_count_errors, voting_members
from domain.catalog import Authority, policy_sets
from domain.procedure import Action, authorisation_error, required_grants
from domain.roster import CENTRAL_SCOPE, ROLE_LABELS_VI, Actor, Role, Roster
from domain.stages import Stage

SEED_PATH = Path(__file__).resolve().parents[2] / "config" / "roster.json"
SEED: dict[str, Any] = json.loads(SEED_PATH.read_text(encoding="utf-8"))

MINISTRY, BLOC = "BTP", "NOI_CHINH"

# Seed actors holding each role for BTP's nominations (and no role another entry stands for).
HOLDER = {
    Role.UNIT_STAFF: "btp.vutckt.le-thi-hoa",
    Role.COUNCIL_SECRETARY: "btp.hd.thu-ky",
    Role.COUNCIL_CHAIR: "btp.hd.chu-tich",
    Role.COUNCIL_MEMBER: "btp.hd.uy-vien-1",
    Role.BLOC_HEAD: "tandtc.khoi.truong",
    Role.BLOC_REPRESENTATIVE: "btp.khoi.dai-dien",
    Role.CENTRAL_OFFICER: "tw.ban-tdkt.can-bo-1",
    Role.CENTRAL_HEAD: "tw.ban-tdkt.truong-ban",
}
SCOPE_OF = {
    Role.UNIT_STAFF: MINISTRY,
    Role.COUNCIL_SECRETARY: MINISTRY,
    Role.COUNCIL_CHAIR: MINISTRY,
    Role.COUNCIL_MEMBER: MINISTRY,
    Role.BLOC_HEAD: BLOC,
    Role.BLOC_REPRESENTATIVE: BLOC,
    Role.CENTRAL_OFFICER: CENTRAL_SCOPE,
    Role.CENTRAL_HEAD: CENTRAL_SCOPE,
}
# Actors added for these tests: each holds the needed role, but for another ministry or bloc, and one
# harmless role that puts them in BTP's snapshot.
OTHER_SCOPE_ACTOR = {
    Role.UNIT_STAFF: "ktnn.test.unit-staff",
    Role.COUNCIL_SECRETARY: "ktnn.test.thu-ky",
    Role.BLOC_HEAD: "btc.test.khoi-truong",
}

ROUTE = (Stage.PUBLIC_NOTICE, Stage.COUNCIL_REVIEW, Stage.BLOC_VOTE, Stage.CENTRAL_REVIEW)


def expected_roles(action: Action, stage: Stage, decided_by: str | None = None) -> set[Role]:
    """The authorisation table, written from domain.md independently of the code: the roles any
    one of which may take the action in the stage (empty when the action has no place there)."""
    if action in (Action.WITHDRAW, Action.RESUBMIT):
        return {Role.UNIT_STAFF}  # the proposing unit; whether the stage allows it is the transition's business
    if action in (Action.HOLD, Action.RELEASE):
        # Discipline, investigation, inspection or a complaint may reach the secretariat or the central board;
        # whether the stage allows it is the transition's business.
        return {Role.COUNCIL_SECRETARY, Role.CENTRAL_OFFICER}
    if action == Action.RECORD_DECISION:
        if stage != Stage.AWAITING_DECISION or decided_by is None:
            return set()
        clerk = {
            "MINISTER": Role.COUNCIL_SECRETARY,
            "AGENCY_HEAD": Role.COUNCIL_SECRETARY,
            "PRIME_MINISTER": Role.CENTRAL_OFFICER,
            "PRESIDENT": Role.CENTRAL_OFFICER,
        }
        return {clerk[decided_by]} if decided_by in clerk else set()
    table = {
        (Action.PROPOSE, Stage.PROPOSED): Role.UNIT_STAFF,  # the ministry's own unit staff start nominations
        (Action.RESOLVE_OBJECTION, Stage.PUBLIC_NOTICE): Role.COUNCIL_SECRETARY,
        (Action.RECORD_COUNCIL_RESULT, Stage.COUNCIL_REVIEW): Role.COUNCIL_SECRETARY,
        (Action.RECORD_BLOC_RESULT, Stage.BLOC_VOTE): Role.BLOC_HEAD,
        (Action.APPROVE, Stage.CENTRAL_REVIEW): Role.CENTRAL_OFFICER,
        (Action.REJECT, Stage.CENTRAL_REVIEW): Role.CENTRAL_OFFICER,
        (Action.REQUEST_CONSULTATION, Stage.CENTRAL_REVIEW): Role.CENTRAL_OFFICER,
        (Action.RETURN, Stage.PUBLIC_NOTICE): Role.COUNCIL_SECRETARY,
        (Action.RETURN, Stage.COUNCIL_REVIEW): Role.COUNCIL_SECRETARY,
        (Action.RETURN, Stage.BLOC_VOTE): Role.BLOC_HEAD,
        (Action.RETURN, Stage.CENTRAL_REVIEW): Role.CENTRAL_OFFICER,
    }
    role = table.get((action, stage))
    return {role} if role else set()


def _seed() -> dict[str, Any]:
    return copy.deepcopy(SEED)


def _extended_roster() -> Roster:
    raw = _seed()
    raw["blocs"].append({"code": "KINH_TE", "name": "Khối các bộ kinh tế tổng hợp", "head_ministry": "BTC"})
    raw["ministries"].append({"code": "BTC", "name": "Bộ Tài chính", "bloc": "KINH_TE"})
    raw["actors"] += [
        {
            "id": "ktnn.test.unit-staff",
            "full_name": "Cao Thị Hạnh",
            "organisation": "KTNN",
            "roles": [
                {"role": "UNIT_STAFF", "scope": "KTNN"},
                {"role": "BLOC_REPRESENTATIVE", "scope": BLOC},
            ],
        },
        {
            "id": "ktnn.test.thu-ky",
            "full_name": "Dương Văn Sơn",
            "organisation": "KTNN",
            "roles": [
                {"role": "COUNCIL_SECRETARY", "scope": "KTNN"},
                {"role": "BLOC_REPRESENTATIVE", "scope": BLOC},
            ],
        },
        {
            "id": "btc.test.khoi-truong",
            "full_name": "Kiều Minh Châu",
            "organisation": "BTC",
            "roles": [
                {"role": "BLOC_HEAD", "scope": "KINH_TE"},
                {"role": "COUNCIL_MEMBER", "scope": MINISTRY},
            ],
        },
    ]
    return Roster.model_validate(raw)


ROSTER = _extended_roster()
SNAPSHOT = ROSTER.snapshot_for(MINISTRY)

ALL_PAIRS = [(a, s) for a in Action for s in Stage]


# --- the seed file -------------------------------------------------------------------------------


def test_the_seed_file_validates():
    roster = Roster.model_validate(SEED)
    codes = {m.code for m in roster.ministries}
    assert {"BCA", "BTP", "TANDTC", "VKSNDTC", "TTCP", "KTNN"} <= codes
    assert [b.code for b in roster.blocs] == [BLOC]
    assert roster.blocs[0].head_ministry == "TANDTC"  # the rotating flag went to TANDTC for 2024
    assert all(m.bloc == BLOC for m in roster.ministries)
    ids = [a.id for a in roster.actors]
    assert len(ids) == len(set(ids))


def test_the_seed_has_someone_for_every_body_a_btp_nomination_meets():
    snapshot = Roster.model_validate(SEED).snapshot_for(MINISTRY)
    for role, scope in SCOPE_OF.items():
        assert snapshot.holders(role, scope), role
    assert all(a.email for a in snapshot.actors)


# --- references ----------------------------------------------------------------------------------


def test_a_ministry_in_an_unknown_bloc_is_refused():
    raw = _seed()
    raw["ministries"][0]["bloc"] = "KHOI_MA"
    with pytest.raises(ValidationError, match="unknown bloc KHOI_MA"):
        Roster.model_validate(raw)


def test_a_bloc_headed_by_an_unknown_ministry_is_refused():
    raw = _seed()
    raw["blocs"][0]["head_ministry"] = "BXX"
    with pytest.raises(ValidationError, match="unknown ministry BXX"):
        Roster.model_validate(raw)


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        ("COUNCIL_SECRETARY", "BXX"),  # unknown ministry
        ("UNIT_STAFF", BLOC),  # a bloc is not a ministry
        ("COUNCIL_MEMBER", CENTRAL_SCOPE),
        ("BLOC_HEAD", "BTP"),  # a ministry is not a bloc
        ("BLOC_REPRESENTATIVE", "KHOI_MA"),
        ("CENTRAL_OFFICER", "BTP"),  # central officers act for TW only
        ("CENTRAL_HEAD", "BTP"),  # so does the central board's head
        ("CENTRAL_HEAD", BLOC),
    ],
)
def test_a_role_with_an_unknown_scope_is_refused(role, scope):
    raw = _seed()
    raw["actors"][0]["roles"] = [{"role": role, "scope": scope}]
    with pytest.raises(ValidationError, match=f"scope {scope} unknown for {role}"):
        Roster.model_validate(raw)


def test_a_duplicate_actor_id_is_refused():
    raw = _seed()
    twin = copy.deepcopy(raw["actors"][0]) | {"full_name": "Người khác"}
    raw["actors"].append(twin)
    with pytest.raises(ValidationError, match=f"actors\\[{raw['actors'][0]['id']}\\]: duplicate id"):
        Roster.model_validate(raw)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("actors", 0, "email"), "không-phải-email"),
        (("actors", 0, "id"), "Le Thi Hoa"),
        (("actors", 0, "roles", 0, "role"), "MINISTER"),
        (("ministries", 0, "code"), "bca"),
        (("actors", 0, "nickname"), "Hoa"),
    ],
)
def test_malformed_entries_are_refused(path, value):
    raw = _seed()
    target: Any = raw
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(ValidationError):
        Roster.model_validate(raw)


# --- snapshots -----------------------------------------------------------------------------------


def test_snapshot_for_an_unknown_ministry_raises_key_error():
    with pytest.raises(KeyError, match="BXX"):
        ROSTER.snapshot_for("BXX")


def test_snapshot_holds_the_ministry_its_bloc_and_only_actors_with_a_role_there():
    snapshot = Roster.model_validate(SEED).snapshot_for(MINISTRY)
    assert snapshot.ministry.code == MINISTRY
    assert snapshot.bloc is not None and snapshot.bloc.code == BLOC
    ids = {a.id for a in snapshot.actors}
    assert {"btp.vutckt.le-thi-hoa", "btp.hd.thu-ky", "tandtc.khoi.truong", "tw.ban-tdkt.can-bo-1"} <= ids
    assert "ktnn.khoi.dai-dien" in ids  # a bloc representative takes part in the bloc vote
    assert "ktnn.hd.thu-ky" not in ids  # another ministry's council secretary
    assert "ktnn.vutckt.hoang-anh" not in ids
    assert snapshot.actor("ktnn.hd.thu-ky") is None
    assert [a.id for a in snapshot.holders(Role.COUNCIL_SECRETARY, MINISTRY)] == ["btp.hd.thu-ky"]


def test_the_voting_members_are_the_council_without_its_secretaries_and_the_blocs_representatives():
    raw = _seed()
    # The secretary also sits on the council: they record its meetings and are not counted as a voter.
    secretary = next(a for a in raw["actors"] if a["id"] == "btp.hd.thu-ky")
    secretary["roles"].append({"role": "COUNCIL_MEMBER", "scope": MINISTRY})
    snapshot = Roster.model_validate(raw).snapshot_for(MINISTRY)
    council = [a.id for a in voting_members(snapshot, Stage.COUNCIL_REVIEW)]
    assert council == [a.id for a in snapshot.holders(Role.COUNCIL_MEMBER, MINISTRY) if a.id != "btp.hd.thu-ky"]
    assert council and "btp.hd.thu-ky" not in council
    bloc = [a.id for a in voting_members(snapshot, Stage.BLOC_VOTE)]
    assert bloc == [a.id for a in snapshot.holders(Role.BLOC_REPRESENTATIVE, BLOC)] and bloc
    assert voting_members(snapshot, Stage.CENTRAL_REVIEW) == []


@pytest.mark.parametrize("stage", [Stage.COUNCIL_REVIEW, Stage.BLOC_VOTE])
def test_a_meeting_counts_exactly_the_seated_body(stage: Stage):
    snapshot = ROSTER.snapshot_for(MINISTRY)
    seated = len(voting_members(snapshot, stage))
    assert seated >= 2
    fits = {"present": seated - 1, "votes_for": seated - 1, "votes_against": 0}
    assert meeting_count_errors(snapshot, stage, members=seated, **fits) == []
    for members in (seated - 1, seated + 1, seated + 20, 100):
        [problem] = meeting_count_errors(snapshot, stage, members=members, **fits)
        assert problem.field == "tally.members"
        assert f"has {seated} voting members on the roster" in problem.message
        assert "starter.py roster load" in problem.message


def test_a_ministry_outside_any_bloc_has_no_bloc_and_no_bloc_actions():
    raw = _seed()
    raw["ministries"].append({"code": "BNG", "name": "Bộ Ngoại giao"})
    raw["actors"].append(
        {
            "id": "bng.hd.thu-ky",
            "full_name": "Lâm Thị Yến",
            "organisation": "BNG",
            "roles": [{"role": "COUNCIL_SECRETARY", "scope": "BNG"}],
        }
    )
    snapshot = Roster.model_validate(raw).snapshot_for("BNG")
    assert snapshot.bloc is None
    assert required_grants(Action.RECORD_BLOC_RESULT, Stage.BLOC_VOTE, snapshot) == []
    assert required_grants(Action.RETURN, Stage.BLOC_VOTE, snapshot) == []
    error = authorisation_error(snapshot, "bng.hd.thu-ky", Action.RECORD_BLOC_RESULT, Stage.BLOC_VOTE)
    assert error is not None and "BLOC_VOTE" in error
    assert authorisation_error(snapshot, "bng.hd.thu-ky", Action.RECORD_COUNCIL_RESULT, Stage.COUNCIL_REVIEW) is None


# --- authorisation -------------------------------------------------------------------------------

AUTHORITIES = ["MINISTER", "AGENCY_HEAD", "PRIME_MINISTER", "PRESIDENT"]
PLACED = [p for p in ALL_PAIRS if expected_roles(*p)]


def grant_text(role: Role) -> str:
    return f"{role.value} for {SCOPE_OF[role]} ({ROLE_LABELS_VI[role]})"


def test_every_role_is_held_in_the_seed_by_the_actor_these_tests_use():
    assert set(HOLDER) == set(Role)
    for role, actor_id in HOLDER.items():
        actor = SNAPSHOT.actor(actor_id)
        assert actor is not None and actor.holds(role, SCOPE_OF[role]), role


@pytest.mark.parametrize(("action", "stage"), ALL_PAIRS)
def test_required_grants_match_the_authorisation_table(action, stage):
    grants = required_grants(action, stage, SNAPSHOT)
    assert len(grants) == len(set(grants))
    assert {(g.role, g.scope) for g in grants} == {(r, SCOPE_OF[r]) for r in expected_roles(action, stage)}


@pytest.mark.parametrize("stage", list(Stage))
@pytest.mark.parametrize("decided_by", [*AUTHORITIES, "UNIT_HEAD", "KHONG_CO", None])
def test_required_grants_for_a_decision_follow_the_deciding_authority(stage, decided_by):
    grants = required_grants(Action.RECORD_DECISION, stage, SNAPSHOT, decided_by)
    expected = expected_roles(Action.RECORD_DECISION, stage, decided_by)
    assert [(g.role, g.scope) for g in grants] == [(r, SCOPE_OF[r]) for r in expected]


@pytest.mark.parametrize("decided_by", AUTHORITIES)
def test_a_decision_is_recorded_by_the_deciding_authoritys_clerk_only(decided_by):
    (clerk,) = expected_roles(Action.RECORD_DECISION, Stage.AWAITING_DECISION, decided_by)
    args = (Action.RECORD_DECISION, Stage.AWAITING_DECISION, decided_by)
    assert authorisation_error(SNAPSHOT, HOLDER[clerk], *args) is None
    # The catalog's Authority (a StrEnum) names the authority as well as its code does.
    assert authorisation_error(SNAPSHOT, HOLDER[clerk], *args[:2], Authority(decided_by)) is None
    for role, actor_id in HOLDER.items():
        if role != clerk:
            error = authorisation_error(SNAPSHOT, actor_id, *args)
            assert error is not None, actor_id
            assert f"'{actor_id}'" in error
            assert f"needs role {grant_text(clerk)}" in error


def test_the_secretariat_records_a_ministers_decision_and_the_central_board_a_prime_ministers():
    secretary, central = HOLDER[Role.COUNCIL_SECRETARY], HOLDER[Role.CENTRAL_OFFICER]
    stage = Stage.AWAITING_DECISION
    assert authorisation_error(SNAPSHOT, secretary, Action.RECORD_DECISION, stage, "MINISTER") is None
    assert authorisation_error(SNAPSHOT, central, Action.RECORD_DECISION, stage, "MINISTER")
    assert authorisation_error(SNAPSHOT, central, Action.RECORD_DECISION, stage, "PRIME_MINISTER") is None
    assert authorisation_error(SNAPSHOT, secretary, Action.RECORD_DECISION, stage, "PRIME_MINISTER")
    assert authorisation_error(SNAPSHOT, central, Action.RECORD_DECISION, stage, "PRESIDENT") is None


@pytest.mark.parametrize("decided_by", [None, "UNIT_HEAD", "KHONG_CO"])
def test_without_a_known_deciding_authority_nobody_records_a_decision(decided_by):
    for actor_id in HOLDER.values():
        error = authorisation_error(SNAPSHOT, actor_id, Action.RECORD_DECISION, Stage.AWAITING_DECISION, decided_by)
        assert error is not None
        assert "RECORD_DECISION is not possible in stage AWAITING_DECISION" in error


def test_every_authority_deciding_a_nominable_form_has_a_clerk_in_every_policy_version():
    for policy in policy_sets().values():
        for form in policy.award_forms.values():
            if form.accepts_nominations:
                grants = required_grants(Action.RECORD_DECISION, Stage.AWAITING_DECISION, SNAPSHOT, form.decided_by)
                assert len(grants) == 1, (policy.version, form.code)
                assert SNAPSHOT.holders(grants[0].role, grants[0].scope), (policy.version, form.code)


@pytest.mark.parametrize(("action", "stage"), PLACED)
def test_every_role_the_table_names_passes(action, stage):
    for role in expected_roles(action, stage):
        assert authorisation_error(SNAPSHOT, HOLDER[role], action, stage) is None, role


@pytest.mark.parametrize(("action", "stage"), ALL_PAIRS)
def test_an_unknown_actor_is_refused_by_name(action, stage):
    error = authorisation_error(SNAPSHOT, "nguoi.la.khong-co", action, stage)
    assert error is not None
    assert "'nguoi.la.khong-co'" in error
    assert MINISTRY in error


@pytest.mark.parametrize(("action", "stage"), ALL_PAIRS)
def test_another_ministrys_secretary_is_not_even_in_the_snapshot(action, stage):
    error = authorisation_error(SNAPSHOT, "ktnn.hd.thu-ky", action, stage)
    assert error is not None
    assert "'ktnn.hd.thu-ky'" in error


@pytest.mark.parametrize(("action", "stage"), PLACED)
def test_a_wrong_role_is_refused_naming_the_actor_and_every_role_that_would_do(action, stage):
    roles = expected_roles(action, stage)
    # Everyone else: for HOLD and RELEASE, those who are neither the secretary nor a central officer (the
    # council's chair and members, the bloc's head and representatives, the central board's head, the unit).
    wrong = {actor_id for role, actor_id in HOLDER.items() if role not in roles}
    assert wrong
    for actor_id in sorted(wrong):
        error = authorisation_error(SNAPSHOT, actor_id, action, stage)
        assert error is not None, actor_id
        assert f"'{actor_id}'" in error
        assert action.value in error and stage.value in error
        assert "needs role " in error
        for role in roles:
            assert grant_text(role) in error, role


@pytest.mark.parametrize("stage", list(Stage))
@pytest.mark.parametrize("action", [Action.HOLD, Action.RELEASE])
def test_the_secretariat_or_the_central_board_may_hold_and_release(action, stage):
    for role in (Role.COUNCIL_SECRETARY, Role.CENTRAL_OFFICER):
        assert authorisation_error(SNAPSHOT, HOLDER[role], action, stage) is None
    error = authorisation_error(SNAPSHOT, HOLDER[Role.COUNCIL_CHAIR], action, stage)
    assert error is not None
    assert "needs role " in error and " or " in error
    assert grant_text(Role.COUNCIL_SECRETARY) in error and grant_text(Role.CENTRAL_OFFICER) in error


@pytest.mark.parametrize(
    ("action", "stage"),
    [p for p in PLACED if expected_roles(*p) & set(OTHER_SCOPE_ACTOR)],
)
def test_the_role_held_for_another_ministry_or_bloc_is_refused(action, stage):
    for role in expected_roles(action, stage) & set(OTHER_SCOPE_ACTOR):
        actor_id = OTHER_SCOPE_ACTOR[role]
        assert SNAPSHOT.actor(actor_id) is not None
        error = authorisation_error(SNAPSHOT, actor_id, action, stage)
        assert error is not None
        assert f"'{actor_id}'" in error
        assert "needs role " in error
        assert f"{role.value} for {SCOPE_OF[role]}" in error


@pytest.mark.parametrize(("action", "stage"), [p for p in ALL_PAIRS if not expected_roles(*p)])
def test_an_action_without_a_place_in_the_stage_is_refused_even_for_holders(action, stage):
    for actor_id in HOLDER.values():
        error = authorisation_error(SNAPSHOT, actor_id, action, stage)
        assert error is not None
        assert f"{action.value} is not possible in stage {stage.value}" in error
        assert stage.label_vi in error


def test_the_chair_alone_does_not_record_the_council_result():
    # The secretary types in the result; holding COUNCIL_CHAIR is not COUNCIL_SECRETARY.
    assert authorisation_error(SNAPSHOT, "btp.hd.chu-tich", Action.RECORD_COUNCIL_RESULT, Stage.COUNCIL_REVIEW)


def test_the_central_boards_head_is_told_of_delays_but_does_not_appraise():
    head = HOLDER[Role.CENTRAL_HEAD]
    for action in (Action.APPROVE, Action.REJECT, Action.RETURN, Action.REQUEST_CONSULTATION):
        error = authorisation_error(SNAPSHOT, head, action, Stage.CENTRAL_REVIEW)
        assert error is not None and grant_text(Role.CENTRAL_OFFICER) in error


def test_every_role_has_a_vietnamese_label():
    assert set(ROLE_LABELS_VI) == set(Role)
    assert ROLE_LABELS_VI[Role.CENTRAL_HEAD] == "Trưởng Ban TĐKT Trung ương"


class _WithEmailStr(BaseModel):
    email: EmailStr | None = None


@pytest.mark.parametrize(
    "address",
    [
        "can.bo@bo-noi-vu.example.vn",
        "  Thu.Ky@Example.VN  ",  # stripped, the domain lower-cased
        "nguyễn@ví-dụ.vn",  # internationalised
        "no-at-sign.example.vn",
        "two@@example.vn",
        "x" * 300 + "@example.vn",
        "a@b\r\n.vn",
        "",
    ],
)
def test_an_actors_email_is_checked_and_normalised_as_pydantics_email_str(address: str) -> None:
    """The roster's e-mail check is pydantic's EmailStr, remembered per address: the same value or the same
    refusal, the second time as the first."""
    try:
        expected: str | None = _WithEmailStr(email=address).email
    except ValidationError as err:
        expected_error = err.errors()[0]["msg"]
        for _ in range(2):
            with pytest.raises(ValidationError) as refused:
                Actor(id="can-bo", full_name="Cán bộ", organisation="BNV", email=address)
            assert refused.value.errors()[0]["msg"] == expected_error
            assert refused.value.errors()[0]["loc"] == ("email",)
        return
    for _ in range(2):
        assert Actor(id="can-bo", full_name="Cán bộ", organisation="BNV", email=address).email == expected
