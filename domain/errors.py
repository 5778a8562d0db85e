"""Errors that name the field at fault, shared by every kind of input."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ValidationError


class FieldError(BaseModel, frozen=True):
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidInput(ValueError):
    """Raised when input fails validation; carries one error per offending field."""

    def __init__(self, errors: Iterable[FieldError]):
        self.errors = list(errors)
        super().__init__("; ".join(str(e) for e in self.errors))


Language = Literal["vi", "en"]

# Pydantic's error types as staff read them (Vietnamese); a template may use the error's context. A type not
# listed keeps pydantic's English text; a domain model's own check ("value_error") says what it says.
PYDANTIC_MESSAGES_VI: dict[str, str] = {
    "missing": "thiếu trường bắt buộc",
    "extra_forbidden": "trường không có trong mẫu",
    "decimal_parsing": "phải là một số",
    "decimal_type": "phải là một số",
    "decimal_max_places": "tối đa {decimal_places} chữ số thập phân",
    "decimal_max_digits": "số quá lớn",
    "float_parsing": "phải là một số",
    "float_type": "phải là một số",
    "int_parsing": "phải là một số nguyên",
    "int_type": "phải là một số nguyên",
    "int_from_float": "phải là một số nguyên",
    "bool_parsing": "phải là đúng/sai (true/false)",
    "bool_type": "phải là đúng/sai (true/false)",
    "greater_than": "phải lớn hơn {gt}",
    "greater_than_equal": "phải từ {ge} trở lên",
    "less_than": "phải nhỏ hơn {lt}",
    "less_than_equal": "không được vượt quá {le}",
    "string_type": "phải là một chuỗi ký tự",
    "string_too_short": "quá ngắn (ít nhất {min_length} ký tự)",
    "string_too_long": "quá dài (tối đa {max_length} ký tự)",
    "string_pattern_mismatch": "sai định dạng",
    "date_parsing": "không phải ngày hợp lệ (YYYY-MM-DD)",
    "date_from_datetime_parsing": "không phải ngày hợp lệ (YYYY-MM-DD)",
    "date_type": "không phải ngày hợp lệ (YYYY-MM-DD)",
    "datetime_parsing": "không phải thời điểm hợp lệ (ISO 8601, có múi giờ)",
    "datetime_from_date_parsing": "không phải thời điểm hợp lệ (ISO 8601, có múi giờ)",
    "datetime_type": "không phải thời điểm hợp lệ (ISO 8601, có múi giờ)",
    "timezone_aware": "phải ghi rõ múi giờ (ví dụ +07:00)",
    "dict_type": "phải là một đối tượng JSON",
    "model_type": "phải là một đối tượng JSON",
    "model_attributes_type": "phải là một đối tượng JSON",
    "list_type": "phải là một danh sách",
    "tuple_type": "phải là một danh sách",
    "too_short": "quá ít mục (ít nhất {min_length})",
    "too_long": "quá nhiều mục (tối đa {max_length})",
    "literal_error": "phải là một trong: {expected}",
    "enum": "phải là một trong: {expected}",
    "union_tag_invalid": "loại {tag} không hợp lệ; phải là một trong: {expected_tags}",
    "union_tag_not_found": "thiếu trường phân loại {discriminator}",
    "value_error": "{error}",
    "assertion_error": "{error}",
    "json_invalid": "không phải JSON hợp lệ: {error}",
    "value_error.email": "địa chỉ thư điện tử không hợp lệ",
    "url_parsing": "không phải địa chỉ URL hợp lệ",
    "uuid_parsing": "không phải UUID hợp lệ",
    "recursion_loop": "dữ liệu lồng nhau quá sâu",
}


def pydantic_message(err: Mapping[str, Any], language: Language = "vi") -> str:
    """One pydantic error's message in the reader's language: Vietnamese for staff (the default), pydantic's
    own English on request."""
    if language == "en":
        return str(err.get("msg", "invalid"))
    template = PYDANTIC_MESSAGES_VI.get(str(err.get("type")))
    if template is None:
        return str(err.get("msg", "không hợp lệ"))
    context = dict(err.get("ctx") or {})
    try:
        return template.format(**{k: str(v) for k, v in context.items()})
    except (KeyError, IndexError):
        return str(err.get("msg", "không hợp lệ"))


def field_errors_from(exc: ValidationError, language: Language = "vi") -> list[FieldError]:
    """Flatten pydantic's errors into `field.path: message` pairs, as the input spells the path.

    Pydantic puts a discriminated union's tag (e.g. INDIVIDUAL) in the location; our field names are
    snake_case, so an upper-case segment is always such a tag and is dropped."""
    errors = []
    for err in exc.errors(include_url=False):
        parts = [str(p) for p in err["loc"] if not (isinstance(p, str) and p.isupper())]
        path = ".".join(parts) or "(root)"
        errors.append(FieldError(field=path, message=pydantic_message(err, language)))
    return errors
