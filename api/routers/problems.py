"""What each problem `type` of an error answer means (api/problems.py), served at its URI."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.problems import PROBLEM_TYPES, ProblemError

router = APIRouter(tags=["problems"])


@router.get("/problems/{slug}", summary="What a problem type means", responses={404: {}})
async def problem_type(slug: str) -> dict[str, Any]:
    kind = PROBLEM_TYPES.get(slug)
    if kind is None:
        raise ProblemError(
            "not-found",
            f"không có loại lỗi {slug!r}; các loại có: {sorted(PROBLEM_TYPES)}",
            detail_en=f"no problem type {slug!r}; known: {sorted(PROBLEM_TYPES)}",
        )
    return {"type": kind.uri, "title": kind.title, "status": kind.status, "description": kind.description}
