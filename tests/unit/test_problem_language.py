"""Problems speak the staff's language: Vietnamese unless the reader ranks English first."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, Field, ValidationError
from starlette.requests import Request

from api.problems import PROBLEM_TYPES, problem_response, request_language
from domain.errors import field_errors_from


def request_with(accept_language: str | None) -> Request:
    headers = [] if accept_language is None else [(b"accept-language", accept_language.encode())]
    return Request({"type": "http", "method": "GET", "path": "/nominations/x", "headers": headers})


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "vi"),
        ("", "vi"),
        ("vi", "vi"),
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("vi-VN,vi;q=0.9,en;q=0.8", "vi"),
        ("en;q=0.5,vi;q=0.8", "vi"),
        ("fr-FR,en;q=0.7", "en"),
        ("fr,de", "vi"),
        ("en;q=0", "vi"),
        ("en;q=abc,vi", "vi"),
    ],
)
def test_the_language_is_negotiated_with_vietnamese_as_the_default(header: str | None, language: str):
    assert request_language(request_with(header)) == language


def test_every_problem_has_a_vietnamese_title_distinct_from_the_english_one():
    for kind in PROBLEM_TYPES.values():
        assert kind.title_vi != kind.title, kind.slug


def test_a_problem_answers_in_the_readers_language_and_says_which():
    vi = problem_response(request_with(None), "not-found", "không có hồ sơ x")
    en = problem_response(request_with("en"), "not-found", "no nomination x")
    assert json.loads(bytes(vi.body))["title"] == "Không tìm thấy" and vi.headers["content-language"] == "vi"
    assert json.loads(bytes(en.body))["title"] == "Not found" and en.headers["content-language"] == "en"


class _Form(BaseModel):
    year: int = Field(ge=2000)
    reason: str = Field(min_length=3)


def test_field_messages_are_vietnamese_by_default_and_english_on_request():
    with pytest.raises(ValidationError) as caught:
        _Form.model_validate({"year": 1999, "reason": "x", "extra": 1})
    vi = {e.field: e.message for e in field_errors_from(caught.value)}
    en = {e.field: e.message for e in field_errors_from(caught.value, "en")}
    assert vi == {"year": "phải từ 2000 trở lên", "reason": "quá ngắn (ít nhất 3 ký tự)"}
    assert en["year"] == "Input should be greater than or equal to 2000"
