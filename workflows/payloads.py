"""A guard for update validators: a bare JSON `null` payload decodes to None (the payload converter does not
apply the type hint to it), and a validator reading its fields would fail with an AttributeError that names
nothing. The guard refuses it the way an undecodable payload is refused."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

Validator = TypeVar("Validator", bound=Callable[..., None])


def payload_required(validator: Validator) -> Validator:
    """Refuse a null payload with "invalid payload: <Model> expected, got null" before the validator runs."""
    parameters = list(inspect.signature(validator).parameters.values())
    expected: Any = parameters[1].annotation if len(parameters) > 1 else "a payload"
    name = expected if isinstance(expected, str) else getattr(expected, "__name__", str(expected))

    @functools.wraps(validator)
    def checked(self: Any, payload: Any) -> None:
        if payload is None:
            raise ValueError(f"invalid payload: {name} expected, got null")
        validator(self, payload)

    return cast(Validator, checked)
