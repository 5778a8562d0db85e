"""Errors that name the field at fault, shared by every kind of input."""

from __future__ import annotations

from collections.abc import Iterable

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


def field_errors_from(exc: ValidationError) -> list[FieldError]:
    """Flatten pydantic's errors into `field.path: message` pairs, as the input spells the path.

    Pydantic puts a discriminated union's tag (e.g. INDIVIDUAL) in the location; our field names are
    snake_case, so an upper-case segment is always such a tag and is dropped."""
    errors = []
    for err in exc.errors(include_url=False):
        parts = [str(p) for p in err["loc"] if not (isinstance(p, str) and p.isupper())]
        path = ".".join(parts) or "(root)"
        errors.append(FieldError(field=path, message=err["msg"]))
    return errors
