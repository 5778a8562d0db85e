"""Text as it enters (NFC), who a nominee is (the identity key), search keys, the award-year window, the
identification number's keyed hash and who may propose: pure rules, with property tests. Every name and number
here is invented."""

from __future__ import annotations

import base64
import json
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.catalog import policy_set
from domain.errors import InvalidInput
from domain.identity import identity_key, matches, nfc, normalised_name, personal_id_hmac, search_key
from domain.messages import ObjectionFiling, ReasonedAction
from domain.nomination import (
    IndividualNominee,
    Nomination,
    award_year_error,
    nominee_identity_key,
    parse_nomination,
    with_personal_id_protected,
)
from domain.procedure import Action, authorisation_error, proposal_error, required_grants
from domain.roster import Actor, Roster
from domain.stages import Stage
from security.identity_keys import KEY_ENV, identity_key_from_env
from security.keys import GENERATE_SWITCH, MissingKey
from tests.factories import nomination_data

ROOT = Path(__file__).resolve().parents[2]
POLICY = policy_set("2026.01")
TODAY = date(2026, 12, 6)
KEY = b"k" * 32
ROSTER = Roster.model_validate(json.loads((ROOT / "config" / "roster.json").read_text(encoding="utf-8")))

# Vietnamese letters, both cases, with every tone mark, and spaces: the text names are made of.
VIETNAMESE = "aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợpqrstuùúủũụưừứửữựvxyỳýỷỹỵ"
LETTERS = VIETNAMESE + VIETNAMESE.upper()
names = st.text(alphabet=LETTERS + " ", min_size=1, max_size=40).filter(lambda t: t.strip())


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def individual(full_name: str, unit: str = "Vụ Pháp chế", **extra: Any) -> dict[str, Any]:
    return {"kind": "INDIVIDUAL", "full_name": full_name, "position": "Chuyên viên", "unit": unit, **extra}


def nomination(**overrides: Any) -> Nomination:
    return Nomination.model_validate(nomination_data(**overrides))


# ---- NFC where text enters --------------------------------------------------------------------------------


def test_every_text_of_a_nomination_is_stored_composed() -> None:
    data = nomination_data(
        nominee=individual(nfd("Trần Thị Hằng"), nfd("Vụ Phổ biến, giáo dục pháp luật")),
        proposing_unit=nfd("Cục Bổ trợ tư pháp"),
        achievements=nfd("Hoàn thành xuất sắc nhiệm vụ"),
    )
    data["dossier"][0]["title"] = nfd("Tờ trình đề nghị")
    parsed = parse_nomination(data, policy_set("2025.07"), today=TODAY)
    texts = [
        parsed.nominee.full_name,  # type: ignore[union-attr]
        parsed.nominee.unit,  # type: ignore[union-attr]
        parsed.proposing_unit,
        parsed.achievements,
        parsed.dossier[0].title,
    ]
    assert texts == [nfc(t) for t in texts]
    assert parsed.nominee.display_name == "Trần Thị Hằng"


def test_reasons_objections_and_roster_names_are_composed() -> None:
    assert ReasonedAction(actor="btp.vutckt.le-thi-hoa", reason=nfd("Đơn vị rút")).reason == "Đơn vị rút"
    filing = ObjectionFiling(filed_by=nfd("Nguyễn Văn Ân"), contact="0900000000", reason=nfd("Thành tích chưa đúng"))
    assert (filing.filed_by, filing.reason) == ("Nguyễn Văn Ân", "Thành tích chưa đúng")
    actor = Actor(id="btp.x", full_name=nfd("Lê Thị Hoa"), organisation="BTP")
    assert actor.full_name == "Lê Thị Hoa"


def test_a_decomposed_text_is_measured_composed() -> None:
    # 300 composed characters are more than 300 code points decomposed: the limit is on what is kept.
    long_name = "Ằ" * 300
    assert len(nfd(long_name)) == 900  # A, breve, grave
    parsed = parse_nomination(nomination_data(nominee=individual(nfd(long_name))), POLICY, today=TODAY)
    assert parsed.nominee.display_name == long_name


@given(names)
def test_nfc_is_idempotent_and_forgets_the_typed_form(text: str) -> None:
    assert nfc(nfd(text)) == nfc(text) == nfc(nfc(text))


# ---- the identity key ---------------------------------------------------------------------------------------


@given(names, names)
def test_the_key_ignores_case_spacing_and_unicode_form(name: str, unit: str) -> None:
    typed = identity_key(kind="INDIVIDUAL", name=name, unit=unit, ministry="BTP")
    retyped = identity_key(kind="INDIVIDUAL", name=f"  {nfd(name.upper())} ", unit=nfd(unit.lower()), ministry="BTP")
    assert typed == retyped
    assert typed.startswith("name:") and len(typed) <= 80


@given(names, names, names)
def test_another_unit_or_ministry_is_another_person(name: str, unit: str, other_unit: str) -> None:
    key = identity_key(kind="INDIVIDUAL", name=name, unit=unit, ministry="BTP")
    if normalised_name(unit) != normalised_name(other_unit):
        assert key != identity_key(kind="INDIVIDUAL", name=name, unit=other_unit, ministry="BTP")
    assert key != identity_key(kind="INDIVIDUAL", name=name, unit=unit, ministry="KTNN")
    assert key != identity_key(kind="COLLECTIVE", name=name, ministry="BTP")


def test_diacritics_tell_people_apart() -> None:
    hang = identity_key(kind="INDIVIDUAL", name="Trần Thị Hằng", unit="Vụ Pháp chế", ministry="BTP")
    assert hang != identity_key(kind="INDIVIDUAL", name="Trần Thị Hàng", unit="Vụ Pháp chế", ministry="BTP")


def test_the_same_nominee_typed_twice_has_one_key_whatever_the_reference() -> None:
    first = nomination(nominee=individual("Trần Thị Hằng"))
    second = nomination(nominee=individual(nfd("TRẦN  THỊ HẰNG ")))
    assert first.reference != second.reference
    assert nominee_identity_key(first) == nominee_identity_key(second)


def test_a_personal_id_is_replaced_by_its_keyed_hash() -> None:
    number = "001203004567"
    given_ = nomination(nominee=individual("Lý Thị Ngọc", personal_id=number))
    protected = with_personal_id_protected(given_, KEY)
    nominee = protected.nominee
    assert isinstance(nominee, IndividualNominee)
    assert nominee.personal_id is None and nominee.personal_id_hmac == personal_id_hmac(number, KEY)
    assert number not in protected.model_dump_json()
    # The key is the number's: another spelling of the name or another unit is the same person.
    elsewhere = with_personal_id_protected(
        nomination(nominee=individual("Lý Ngọc", "Văn phòng", personal_id=number)), KEY
    )
    assert nominee_identity_key(protected) == nominee_identity_key(elsewhere)
    assert nominee_identity_key(protected).startswith("pid:")
    # Without the number, nothing changes.
    plain = nomination()
    assert with_personal_id_protected(plain, KEY) is plain


@given(st.from_regex(r"[0-9]{12}", fullmatch=True))
@settings(max_examples=50)
def test_the_hash_depends_on_the_key_and_hides_the_number(number: str) -> None:
    digest = personal_id_hmac(number, KEY)
    assert digest == personal_id_hmac(number, KEY) != personal_id_hmac(number, b"x" * 32)
    assert len(digest) == 64 and number not in digest


def test_an_identification_number_must_be_twelve_digits_and_the_hash_is_never_input() -> None:
    with pytest.raises(InvalidInput) as short:
        parse_nomination(nomination_data(nominee=individual("Lý Thị Ngọc", personal_id="12345")), POLICY, today=TODAY)
    assert [e.field for e in short.value.errors] == ["nominee.personal_id"]
    forged = nomination_data(nominee=individual("Lý Thị Ngọc", personal_id_hmac="0" * 64))
    with pytest.raises(InvalidInput) as hashed:
        parse_nomination(forged, POLICY, today=TODAY)
    assert [e.field for e in hashed.value.errors] == ["nominee.personal_id_hmac"]
    with pytest.raises(ValueError, match="12 digits"):
        personal_id_hmac("abc", KEY)


# ---- search -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["Hang", "hang", "HẰNG", "hằng", "Hằng", "Hàng", "doan thi hang", "Đoàn"])
def test_search_finds_hang_however_it_is_typed(query: str) -> None:
    assert matches(query, "Đoàn Thị Hằng")
    assert matches(nfd(query), nfd("Đoàn Thị Hằng"))


def test_search_still_tells_words_apart() -> None:
    assert not matches("Hùng", "Đoàn Thị Hằng")
    assert search_key("  Đặng   Văn\tĐức ") == "dang van duc"


@given(names)
def test_search_key_ignores_form_case_and_diacritics(text: str) -> None:
    key = search_key(text)
    assert key == search_key(nfd(text)) == search_key(text.upper()) == search_key(text.lower())
    assert all(unicodedata.combining(ch) == 0 for ch in unicodedata.normalize("NFD", key))
    assert matches(text, f"xx {nfd(text)} yy")


# ---- the award year -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("year", "allowed"), [(2031, False), (2027, False), (2026, True), (2025, True), (2024, False)])
def test_the_award_year_window(year: int, allowed: bool) -> None:
    assert POLICY.award_year.years_back == 1 and POLICY.award_year.source and not POLICY.award_year.verified
    assert (award_year_error(year, POLICY, TODAY) is None) is allowed


def test_an_impossible_year_is_named_and_the_rest_reported_with_it() -> None:
    data = nomination_data(year=2031)
    data["nominee"]["full_name"] = ""
    with pytest.raises(InvalidInput) as refused:
        parse_nomination(data, POLICY, today=TODAY)
    fields = {e.field: e.message for e in refused.value.errors}
    assert set(fields) == {"year", "nominee.full_name"} and "2031 is in the future" in fields["year"]
    # A spreadsheet cell is text.
    cell = nomination_data(year="2031")
    cell["nominee"]["full_name"] = ""
    with pytest.raises(InvalidInput) as from_cell:
        parse_nomination(cell, POLICY, today=TODAY)
    assert "year" in {e.field for e in from_cell.value.errors}


def test_a_corrected_dossier_is_not_held_to_today_s_window() -> None:
    later = date(TODAY.year + 3, 1, 5)
    assert parse_nomination(nomination_data(year=TODAY.year), POLICY, today=None).year == TODAY.year
    with pytest.raises(InvalidInput):
        parse_nomination(nomination_data(year=TODAY.year), POLICY, today=later)


# ---- who may propose ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "ministry", "allowed"),
    [
        ("btp.vutckt.le-thi-hoa", "BTP", True),
        ("ktnn.vutckt.hoang-anh", "KTNN", True),
        ("btp.vutckt.le-thi-hoa", "KTNN", False),  # another ministry's staff
        ("btp.hd.chu-tich", "BTP", False),  # the council's chair
        ("btp.hd.thu-ky", "BTP", False),  # its secretary
        ("tw.ban-tdkt.can-bo-1", "BTP", False),  # the central board
        ("tandtc.khoi.truong", "TANDTC", False),  # the bloc head
        ("khach.ngoai.danh-sach", "BTP", False),  # not on the roster
    ],
)
def test_only_the_ministry_s_unit_staff_propose(actor: str, ministry: str, allowed: bool) -> None:
    problem = proposal_error(ROSTER.snapshot_for(ministry), actor)
    assert (problem is None) is allowed
    if problem is not None:
        for named in (actor, f"UNIT_STAFF for {ministry}", "cán bộ đơn vị đề xuất", ministry):
            assert named in problem, problem


def test_proposing_has_its_place_only_at_the_start() -> None:
    snapshot = ROSTER.snapshot_for("BTP")
    assert [g.role.value for g in required_grants(Action.PROPOSE, Stage.PROPOSED, snapshot)] == ["UNIT_STAFF"]
    for stage in Stage:
        if stage != Stage.PROPOSED:
            assert authorisation_error(snapshot, "btp.vutckt.le-thi-hoa", Action.PROPOSE, stage) is not None


@given(st.sampled_from([a.id for a in ROSTER.actors]), st.sampled_from([m.code for m in ROSTER.ministries]))
def test_a_proposer_needs_exactly_the_unit_staff_grant_of_the_ministry(actor_id: str, ministry: str) -> None:
    actor = next(a for a in ROSTER.actors if a.id == actor_id)
    may = any(g.role.value == "UNIT_STAFF" and g.scope == ministry for g in actor.roles)
    assert (proposal_error(ROSTER.snapshot_for(ministry), actor_id) is None) is may


# ---- the key's configuration ------------------------------------------------------------------------------


def test_the_identity_key_comes_from_configuration(tmp_path: Path) -> None:
    configured = base64.b64encode(b"c" * 32).decode()
    assert identity_key_from_env({KEY_ENV: configured}, tmp_path) == b"c" * 32
    with pytest.raises(ValueError, match=KEY_ENV):
        identity_key_from_env({KEY_ENV: base64.b64encode(b"short").decode()}, tmp_path)
    with pytest.raises(MissingKey, match=KEY_ENV):
        identity_key_from_env({}, tmp_path)  # not the embedded demo: no key is made silently
    assert not (tmp_path / "identity-key.json").exists()
    made = identity_key_from_env({GENERATE_SWITCH: "1"}, tmp_path)
    assert len(made) == 32 and (tmp_path / "identity-key.json").stat().st_mode & 0o077 == 0
    assert identity_key_from_env({}, tmp_path) == made  # the file, once there, is the key


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Nguyễn Thị Hòa", "Nguyễn Thị Hoà"),  # tone on the o or on the a: two spellings of one name
        ("Lê Văn Thủy", "Lê Văn Thuỷ"),
        ("Trần Khỏe", "Trần Khoẻ"),
        ("Đoàn Thị Hằng", "Đoàn\u200b Thị Hằng"),  # a zero-width space pasted in
        ("Đoàn Thị Hằng", "Đoàn Thị\u00ad Hằng"),  # a soft hyphen
        ("Lê Thị Hằng", "Ｌê Ｔhị Ｈằng"),  # full-width letters
    ],
)
def test_spellings_of_one_name_are_one_nominee(one: str, other: str):
    assert normalised_name(one) == normalised_name(other)
    key = {"kind": "INDIVIDUAL", "ministry": "BTP", "unit": "Vụ Pháp chế"}
    assert identity_key(name=one, **key) == identity_key(name=other, **key)


@pytest.mark.parametrize(("one", "other"), [("Hằng", "Hàng"), ("Hòa", "Hóa"), ("Thủy", "Thúy"), ("Hoa", "Hòa")])
def test_a_different_tone_is_a_different_name(one: str, other: str):
    assert normalised_name(one) != normalised_name(other)


@given(st.text(alphabet="aăâeêioôơuưyAĂÂĐ hnt", min_size=1, max_size=20), st.integers(min_value=0, max_value=20))
def test_an_invisible_character_anywhere_changes_no_identity(name: str, position: int):
    spliced = name[:position] + "\u200b" + name[position:]
    assert normalised_name(spliced) == normalised_name(name)
