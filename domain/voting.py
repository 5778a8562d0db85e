"""Evaluating a vote's tally against a voting policy: passed, failed or no quorum, with the reason."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.catalog import VotingPolicy
from domain.errors import FieldError

ROSTER_LOAD_HINT = "`starter.py roster load`"


def tally_errors(
    members: int,
    present: int,
    votes_for: int,
    votes_against: int,
    written: int = 0,
    *,
    seats: int | None = None,
    body: str = "the body",
    prefix: str = "tally.",
) -> list[FieldError]:
    """Every way a meeting's counts cannot have happened, each naming its field (`prefix` + the field).

    With `seats` (the voting members the roster seats on the body) the meeting is a typed-in one and its
    member count must be exactly that: a larger count would let votes be recorded that no member cast, a
    smaller one would lower the quorum and the "of all members" thresholds. Then, as for any tally: the
    members present are at most the members; `written` are absent members' ballots, so present + written
    (the ballots cast) are at most the members; and for + against + abstaining are the ballots cast, so
    for + against cannot exceed them (abstaining is what is left)."""
    errors: list[FieldError] = []
    if seats is not None and members != seats:
        if seats == 0:
            message = (
                f"{body} has no voting members on the roster, so no meeting of it can be recorded; load its "
                f"members with {ROSTER_LOAD_HINT} first"
            )
        else:
            message = (
                f"{body} has {seats} voting members on the roster; the meeting's member count must be exactly "
                f"{seats}, not {members}. If the body's membership has changed, update the roster first "
                f"({ROSTER_LOAD_HINT})"
            )
        errors.append(FieldError(field=prefix + "members", message=message))
    if present > members:
        errors.append(
            FieldError(field=prefix + "present", message=f"present ({present}) cannot exceed members ({members})")
        )
    elif present + written > members:
        errors.append(
            FieldError(
                field=prefix + "written",
                message=(
                    f"present + written ({present + written}) cannot exceed members ({members}): written "
                    "ballots come from absent members"
                ),
            )
        )
    cast = present + written
    if votes_for + votes_against > cast:
        errors.append(
            FieldError(
                field=prefix + ("votes_for" if votes_for > cast else "votes_against"),
                message=(
                    f"votes_for + votes_against ({votes_for + votes_against}) cannot exceed ballots cast "
                    f"(present + written = {cast})"
                ),
            )
        )
    return errors


class Tally(BaseModel):
    """A meeting's counts. `written` are absent members' written ballots, counted as cast (they count
    towards the thresholds, never towards the quorum, which is of members present)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    members: int = Field(ge=1, le=1000)
    present: int = Field(ge=0)
    votes_for: int = Field(ge=0)
    votes_against: int = Field(ge=0)
    written: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> Tally:
        # The first problem, named by its field ("present: ..."), which the API reports as tally.present.
        problems = tally_errors(self.members, self.present, self.votes_for, self.votes_against, self.written, prefix="")
        if problems:
            raise ValueError(str(problems[0]))
        return self

    @property
    def ballots_cast(self) -> int:
        return self.present + self.written

    @property
    def abstaining(self) -> int:
        return self.ballots_cast - self.votes_for - self.votes_against


class VoteResult(StrEnum):
    PASSED = "PASSED"
    FAILED = "FAILED"
    NO_QUORUM = "NO_QUORUM"


class VoteOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)
    result: VoteResult
    reason_vi: str
    policy_code: str


def evaluate(tally: Tally, policy: VotingPolicy) -> VoteOutcome:
    """Quorum counts members present; the threshold counts against all members or ballots cast."""
    if not policy.quorum.met_by(tally.present, tally.members):
        return VoteOutcome(
            result=VoteResult.NO_QUORUM,
            reason_vi=(
                f"Không đủ số thành viên dự họp: {tally.present}/{tally.members} có mặt, "
                f"cần {policy.quorum.describe_vi()}"
            ),
            policy_code=policy.code,
        )
    base = tally.members if policy.threshold.base == "ALL_MEMBERS" else tally.ballots_cast
    passed = policy.threshold.met_by(tally.votes_for, base)
    verdict = "Đạt" if passed else "Không đạt"
    return VoteOutcome(
        result=VoteResult.PASSED if passed else VoteResult.FAILED,
        reason_vi=(
            f"{verdict}: {tally.votes_for}/{base} phiếu đồng ý, cần {policy.threshold.describe_vi()} "
            f"({policy.description_vi})"
        ),
        policy_code=policy.code,
    )
