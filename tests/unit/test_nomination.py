"""Parsing a nomination: every field at fault is named; the catalog's rules are applied."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from domain.catalog import DOCUMENT_LABELS_VI, DocumentKind, policy_set
from domain.errors import FieldError, InvalidInput
from domain.nomination import (
    CollectiveNominee,
    IndividualNominee,
    Nomination,
    catalog_errors,
    parse_nomination,
    workflow_id_for,
)

POLICY = policy_set("2025.07")
TODAY = date(2026, 6, 1)  # the award year 2026 below is this year
SHA = "3f" * 32  # 64 lowercase hex digits

# Every name, number and unit below is invented.
INDIVIDUAL: dict[str, Any] = {
    "reference": "125/TTr-BTP",
    "year": 2026,
    "ministry": "BTP",
    "proposing_unit": "Vụ Pháp luật hình sự – hành chính",
    "award_form": "CSTD_CAP_BO",
    "nominee": {
        "kind": "INDIVIDUAL",
        "full_name": "Nguyễn Thị Ánh Tuyết",
        "position": "Phó Vụ trưởng",
        "unit": "Vụ Pháp luật hình sự – hành chính",
    },
    "achievements": "Chủ trì soạn thảo hai dự thảo nghị định; sáng kiến số hoá hồ sơ được công nhận cấp bộ.",
    "dossier": [
        {
            "kind": "TO_TRINH",
            "title": "Tờ trình đề nghị công nhận Chiến sĩ thi đua cấp bộ",
            "reference": "125/TTr-BTP",
        },
        {"kind": "BAO_CAO_THANH_TICH", "title": "Báo cáo thành tích cá nhân năm 2026", "content_sha256": SHA},
        {"kind": "BIEN_BAN_BINH_XET", "title": "Biên bản bình xét thi đua của Vụ", "reference": "BB-07"},
        {"kind": "XAC_NHAN_SANG_KIEN", "title": "Quyết định công nhận sáng kiến", "reference": "QĐ-88"},
    ],
    "proposer": "btp.vutckt.le-thi-hoa",
}

COLLECTIVE: dict[str, Any] = {
    "reference": "31/TTr-KTNN",
    "year": 2026,
    "ministry": "KTNN",
    "proposing_unit": "Vụ Tổ chức cán bộ",
    "award_form": "CO_THI_DUA_CP",
    "nominee": {"kind": "COLLECTIVE", "name": "Kiểm toán Nhà nước khu vực Đồng bằng sông Cửu Long"},
    "achievements": "Dẫn đầu phong trào thi đua của Khối; hoàn thành vượt mức kế hoạch kiểm toán năm.",
    "dossier": [
        {
            "kind": "TO_TRINH",
            "title": "Tờ trình đề nghị tặng Cờ thi đua của Chính phủ",
            "reference": "31/TTr",
        },
        {"kind": "BAO_CAO_THANH_TICH", "title": "Báo cáo thành tích tập thể", "content_sha256": SHA},
        {"kind": "BIEN_BAN_BINH_XET", "title": "Biên bản bình xét của Khối", "reference": "BB-12"},
    ],
    "proposer": "ktnn.vutckt.hoang-anh",
}


def _data(base: dict[str, Any] = INDIVIDUAL) -> dict[str, Any]:
    return copy.deepcopy(base)


def _errors(raw: Any) -> list[FieldError]:
    with pytest.raises(InvalidInput) as info:
        parse_nomination(raw, POLICY, today=TODAY)
    assert info.value.errors, "InvalidInput must carry at least one FieldError"
    return info.value.errors


def _fields(raw: Any) -> set[str]:
    return {e.field for e in _errors(raw)}


# --- valid input ---------------------------------------------------------------------------------


def test_a_valid_individual_nomination_parses():
    nomination = parse_nomination(_data(), POLICY, today=TODAY)
    assert isinstance(nomination.nominee, IndividualNominee)
    assert nomination.nominee.display_name == "Nguyễn Thị Ánh Tuyết"
    assert nomination.proposing_unit == "Vụ Pháp luật hình sự – hành chính"
    assert [d.kind for d in nomination.dossier] == [
        DocumentKind.TO_TRINH,
        DocumentKind.BAO_CAO_THANH_TICH,
        DocumentKind.BIEN_BAN_BINH_XET,
        DocumentKind.XAC_NHAN_SANG_KIEN,
    ]
    assert nomination.dossier[1].content_sha256 == SHA
    assert nomination.business_key == (2026, "BTP", "125/TTr-BTP")


def test_a_valid_collective_nomination_parses():
    nomination = parse_nomination(_data(COLLECTIVE), POLICY, today=TODAY)
    assert isinstance(nomination.nominee, CollectiveNominee)
    assert nomination.nominee.display_name == "Kiểm toán Nhà nước khu vực Đồng bằng sông Cửu Long"
    assert nomination.award_form == "CO_THI_DUA_CP"


@pytest.mark.parametrize("code", sorted(c for c, f in POLICY.award_forms.items() if f.accepts_nominations))
def test_every_nominable_form_accepts_a_dossier_with_exactly_its_required_documents(code):
    form = POLICY.form(code)
    raw = _data(COLLECTIVE if form.subject == "COLLECTIVE" else INDIVIDUAL)
    raw["award_form"] = code
    raw["dossier"] = [
        {"kind": kind.value, "title": DOCUMENT_LABELS_VI[kind], "reference": f"HS-{i}"}
        for i, kind in enumerate(form.required_documents)
    ]
    assert parse_nomination(raw, POLICY, today=TODAY).award_form == code


def test_either_subject_forms_accept_both_kinds():
    for base in (INDIVIDUAL, COLLECTIVE):
        raw = _data(base)
        raw["award_form"] = "HUAN_CHUONG_LD_3"
        raw["dossier"] = [
            {"kind": k, "title": "Tài liệu", "reference": "HS-1"}
            for k in ("TO_TRINH", "BAO_CAO_THANH_TICH", "BIEN_BAN_XET_KHEN_THUONG")
        ]
        assert parse_nomination(raw, POLICY, today=TODAY).nominee.kind == base["nominee"]["kind"]


def test_surrounding_whitespace_is_stripped():
    raw = _data()
    raw["reference"] = "  125/TTr-BTP "
    raw["nominee"]["full_name"] = "  Nguyễn Thị Ánh Tuyết\t"
    raw["ministry"] = " BTP"
    nomination = parse_nomination(raw, POLICY, today=TODAY)
    assert nomination.reference == "125/TTr-BTP"
    assert isinstance(nomination.nominee, IndividualNominee)
    assert nomination.nominee.full_name == "Nguyễn Thị Ánh Tuyết"
    assert nomination.ministry == "BTP"


def test_extra_documents_beyond_the_required_ones_are_allowed():
    raw = _data()
    raw["dossier"].append({"kind": "KHAC", "title": "Bản sao bằng khen các năm trước", "reference": "BK-1"})
    assert len(parse_nomination(raw, POLICY, today=TODAY).dossier) == 5


# --- structural errors ---------------------------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(raw: dict[str, Any]) -> None:
        target: Any = raw
        *head, last = path.split(".")
        for part in head:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(raw: dict[str, Any]) -> None:
        target: Any = raw
        *head, last = path.split(".")
        for part in head:
            target = target[int(part)] if isinstance(target, list) else target[part]
        del target[last]

    return mutate


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (_set("reference", "125 TTr BTP"), "reference"),
        (_set("reference", "/125"), "reference"),
        (_set("reference", "125/TTr-BTP/" + "x" * 60), "reference"),
        (_set("reference", ""), "reference"),
        (_set("year", 1999), "year"),
        (_set("year", 2101), "year"),
        (_set("year", "năm nay"), "year"),
        (_set("ministry", "btp"), "ministry"),
        (_set("ministry", "Bộ Tư pháp"), "ministry"),
        (_set("proposing_unit", "   "), "proposing_unit"),
        (_set("award_form", "bang khen"), "award_form"),
        (_set("achievements", ""), "achievements"),
        (_set("proposer", "Lê Thị Hoa"), "proposer"),
        (_set("dossier", []), "dossier"),
        (_set("dossier.0.content_sha256", "ABC"), "dossier.0.content_sha256"),
        (_set("dossier.1.content_sha256", SHA.upper()), "dossier.1.content_sha256"),
        (_set("dossier.2.kind", "GIAY_TO_LA"), "dossier.2.kind"),
        (_set("dossier.0.title", ""), "dossier.0.title"),
        (_set("nominee", {"kind": "PERSON", "name": "X"}), "nominee"),
        (_drop("achievements"), "achievements"),
        (_drop("proposer"), "proposer"),
    ],
)
def test_each_bad_field_is_named(mutate, field):
    raw = _data()
    mutate(raw)
    assert field in _fields(raw)


def test_a_document_with_neither_hash_nor_reference_is_refused_on_that_document():
    raw = _data()
    raw["dossier"][0] = {"kind": "TO_TRINH", "title": "Tờ trình"}
    errors = [e for e in _errors(raw) if e.field == "dossier.0"]
    assert len(errors) == 1
    assert "(content_sha256) hoặc số, ký hiệu văn bản (reference)" in errors[0].message


def test_an_empty_individual_name_is_refused_on_the_nominee_name():
    raw = _data()
    raw["nominee"]["full_name"] = "   "
    fields = _fields(raw)
    assert any(f.startswith("nominee.") and f.endswith(".full_name") for f in fields), fields


def test_nominee_errors_name_the_input_path_without_the_union_tag():
    raw = _data()
    raw["nominee"]["full_name"] = ""
    assert "nominee.full_name" in _fields(raw)


def test_several_bad_fields_are_all_named_at_once():
    raw = _data()
    raw["reference"] = "125 TTr"
    raw["year"] = 1800
    raw["ministry"] = "btp"
    raw["dossier"][0]["content_sha256"] = "not-a-hash"
    raw["dossier"][1] = {"kind": "BAO_CAO_THANH_TICH", "title": "Báo cáo"}
    fields = _fields(raw)
    assert {"reference", "year", "ministry", "dossier.0.content_sha256", "dossier.1"} <= fields


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (_set("priority", "cao"), "priority"),
        (_set("nominee.email", "tuyet.ntat@btp.example.vn"), "email"),
        (_set("dossier.0.pages", 3), "dossier.0.pages"),
    ],
)
def test_extra_fields_are_refused(mutate, field):
    raw = _data()
    mutate(raw)
    errors = _errors(raw)
    assert any(e.field.endswith(field) and "trường không có trong mẫu" in e.message for e in errors), errors


def test_input_that_is_not_an_object_is_refused():
    assert _errors("125/TTr-BTP")


# --- catalog errors ------------------------------------------------------------------------------


def test_an_unknown_award_form_is_refused_on_award_form_listing_the_known_ones():
    raw = _data()
    raw["award_form"] = "HUY_CHUONG_KHONG_CO"
    errors = _errors(raw)
    assert [e.field for e in errors] == ["award_form"]
    assert "BANG_KHEN_BO" in errors[0].message


def test_giay_khen_is_refused_on_award_form():
    raw = _data()
    raw["award_form"] = "GIAY_KHEN"
    errors = _errors(raw)
    assert [e.field for e in errors] == ["award_form"]
    assert "Giấy khen" in errors[0].message


def test_a_collective_nominee_for_cstd_cap_bo_is_refused_on_nominee_kind():
    raw = _data()
    raw["nominee"] = {"kind": "COLLECTIVE", "name": "Phòng Phổ biến giáo dục pháp luật"}
    errors = _errors(raw)
    assert [e.field for e in errors] == ["nominee.kind"]
    assert "COLLECTIVE" in errors[0].message


@pytest.mark.parametrize("code", ["CO_THI_DUA_BO", "TAP_THE_LDXS", "CO_THI_DUA_CP"])
def test_an_individual_nominee_for_a_collective_form_is_refused_on_nominee_kind(code):
    raw = _data(COLLECTIVE)
    raw["award_form"] = code
    raw["nominee"] = _data()["nominee"]
    assert _fields(raw) == {"nominee.kind"}


def test_missing_required_documents_are_named_on_dossier():
    raw = _data()
    raw["dossier"] = [d for d in raw["dossier"] if d["kind"] in ("TO_TRINH", "BAO_CAO_THANH_TICH")]
    errors = _errors(raw)
    assert [e.field for e in errors] == ["dossier"]
    message = errors[0].message
    assert "BIEN_BAN_BINH_XET" in message
    assert "XAC_NHAN_SANG_KIEN" in message
    assert DOCUMENT_LABELS_VI[DocumentKind.XAC_NHAN_SANG_KIEN] in message
    assert "TO_TRINH" not in message
    assert "BAO_CAO_THANH_TICH" not in message


def test_wrong_subject_and_missing_documents_are_reported_together():
    raw = _data()
    raw["nominee"] = {"kind": "COLLECTIVE", "name": "Phòng Phổ biến giáo dục pháp luật"}
    raw["dossier"] = raw["dossier"][:1]
    assert _fields(raw) == {"nominee.kind", "dossier"}


def test_catalog_errors_is_empty_for_a_valid_nomination():
    nomination = Nomination.model_validate(_data())
    assert catalog_errors(nomination, POLICY) == []


def test_structural_and_catalog_errors_are_reported_together():
    raw = _data()
    raw["year"] = 1999
    raw["dossier"] = raw["dossier"][:1]
    assert {"year", "dossier"} <= _fields(raw)


def test_invalid_input_is_a_value_error_whose_message_names_the_fields():
    raw = _data()
    raw["year"] = 1999
    with pytest.raises(ValueError, match="year"):
        parse_nomination(raw, POLICY, today=TODAY)


# --- workflow id ---------------------------------------------------------------------------------


def test_workflow_id_uses_year_ministry_and_the_reference_staff_know():
    nomination = parse_nomination(_data(), POLICY, today=TODAY)
    assert workflow_id_for(nomination) == "nomination-2026-BTP-125/TTr-BTP"


def test_workflow_id_of_a_collective_nomination():
    nomination = parse_nomination(_data(COLLECTIVE), POLICY, today=TODAY)
    assert workflow_id_for(nomination) == "nomination-2026-KTNN-31/TTr-KTNN"


def test_workflow_ids_differ_with_year_and_ministry():
    a = Nomination.model_validate(_data())
    b = Nomination.model_validate(_data() | {"year": 2027})
    c = Nomination.model_validate(_data() | {"ministry": "BCA"})
    assert len({workflow_id_for(a), workflow_id_for(b), workflow_id_for(c)}) == 3


def test_distinct_references_get_distinct_workflow_ids():
    a = Nomination.model_validate(_data())
    b = Nomination.model_validate(_data() | {"reference": "125-TTr-BTP"})
    assert a.business_key != b.business_key
    assert workflow_id_for(a) != workflow_id_for(b)
