"""Endpoints made from a table row rather than written out: FastAPI reads an endpoint's parameters from its
signature, so a generated endpoint takes keyword arguments and is given the signature its row describes."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

Parameter = tuple[str, Any] | tuple[str, Any, Any]  # (name, annotation) or (name, annotation, default)


def with_parameters(endpoint: Callable[..., Any], *parameters: Parameter) -> Callable[..., Any]:
    """`endpoint` as FastAPI sees it: these keyword parameters, in this order (the document lists them so)."""
    signature = inspect.Signature(
        [
            inspect.Parameter(
                spec[0],
                inspect.Parameter.KEYWORD_ONLY,
                annotation=spec[1],
                default=spec[2] if len(spec) > 2 else inspect.Parameter.empty,
            )
            for spec in parameters
        ]
    )
    endpoint.__signature__ = signature  # type: ignore[attr-defined]
    return endpoint
