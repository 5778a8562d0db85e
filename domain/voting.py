"""Evaluating a vote's tally against a voting policy: passed, failed or no quorum, with the reason."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.catalog import VotingPolicy


class Tally(BaseModel):
    """A meeting's counts. `written` are absent members' written ballots (counted where rules allow)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    members: int = Field(ge=1, le=1000)
    present: int = Field(ge=0)
    votes_for: int = Field(ge=0)
    votes_against: int = Field(ge=0)
    written: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> Tally:
        if self.present > self.members:
            raise ValueError(f"present ({self.present}) cannot exceed members ({self.members})")
        if self.present + self.written > self.members:
            raise ValueError(
                f"present + written ({self.present + self.written}) cannot exceed members ({self.members})"
            )
        if self.votes_for + self.votes_against > self.ballots_cast:
            raise ValueError(
                f"votes_for + votes_against ({self.votes_for + self.votes_against}) cannot exceed "
                f"ballots cast (present + written = {self.ballots_cast})"
            )
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
