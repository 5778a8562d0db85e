"""The award catalog and voting/time policies, as versioned data with their legal sources.

Policy sets live in `domain/data/policy-<version>.json`. A nomination records the version it started
under and is carried by that version to its end; a new file applies to new nominations only.
"""

from __future__ import annotations

import json
from datetime import date
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.calendar import WorkingCalendar
from domain.stages import ROUTE_STAGES, Stage

if TYPE_CHECKING:
    from domain.nomination import BlocOrigin

DATA_DIR = Path(__file__).parent / "data"


class DocumentKind(StrEnum):
    TO_TRINH = "TO_TRINH"
    BAO_CAO_THANH_TICH = "BAO_CAO_THANH_TICH"
    BIEN_BAN_BINH_XET = "BIEN_BAN_BINH_XET"
    BIEN_BAN_XET_KHEN_THUONG = "BIEN_BAN_XET_KHEN_THUONG"
    XAC_NHAN_SANG_KIEN = "XAC_NHAN_SANG_KIEN"
    KHAC = "KHAC"


DOCUMENT_LABELS_VI: dict[DocumentKind, str] = {
    DocumentKind.TO_TRINH: "Tờ trình đề nghị khen thưởng",
    DocumentKind.BAO_CAO_THANH_TICH: "Báo cáo thành tích",
    DocumentKind.BIEN_BAN_BINH_XET: "Biên bản bình xét thi đua",
    DocumentKind.BIEN_BAN_XET_KHEN_THUONG: "Biên bản xét khen thưởng",
    DocumentKind.XAC_NHAN_SANG_KIEN: "Xác nhận sáng kiến / đề tài nghiên cứu",
    DocumentKind.KHAC: "Tài liệu khác",
}


class Authority(StrEnum):
    UNIT_HEAD = "UNIT_HEAD"
    MINISTER = "MINISTER"
    AGENCY_HEAD = "AGENCY_HEAD"
    PRIME_MINISTER = "PRIME_MINISTER"
    PRESIDENT = "PRESIDENT"


AUTHORITY_LABELS_VI: dict[Authority, str] = {
    Authority.UNIT_HEAD: "Thủ trưởng đơn vị",
    Authority.MINISTER: "Bộ trưởng",
    Authority.AGENCY_HEAD: "Người đứng đầu cơ quan",
    Authority.PRIME_MINISTER: "Thủ tướng Chính phủ",
    Authority.PRESIDENT: "Chủ tịch nước",
}


class Fraction(BaseModel):
    """`count` meets the rule when count/base >= n/d (or > when strict)."""

    model_config = ConfigDict(frozen=True)
    numerator: int = Field(ge=0)
    denominator: int = Field(gt=0)
    strict: bool = False
    base: Literal["ALL_MEMBERS", "BALLOTS_CAST"] = "ALL_MEMBERS"

    def met_by(self, count: int, base: int) -> bool:
        # Integer cross-multiplication: exact, no floating point at the boundary.
        lhs, rhs = count * self.denominator, base * self.numerator
        return lhs > rhs if self.strict else lhs >= rhs

    def describe_vi(self) -> str:
        pct = 100 * self.numerator / self.denominator
        op = "trên" if self.strict else "từ"
        base = "tổng số thành viên" if self.base == "ALL_MEMBERS" else "số phiếu"
        return f"{op} {pct:g}% {base}"


class VotingPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: str
    description_vi: str
    quorum: Fraction
    threshold: Fraction
    secret_ballot: bool = True
    quota: int | None = None
    # A bloc vote: how many runoff rounds among the tied at the quota boundary before the bloc head decides
    # (0: the head decides the first tie). Absent in older data: 1, one runoff as sessions have always run.
    max_runoff_rounds: int = Field(default=1, ge=0)
    source: str
    verified: bool = False


class AwardForm(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: str
    name_vi: str
    subject: Literal["INDIVIDUAL", "COLLECTIVE", "EITHER"]
    route: tuple[Stage, ...]
    decided_by: Authority
    accepts_nominations: bool = True
    required_documents: tuple[DocumentKind, ...]
    council_policy: str | None
    bloc_policy: str | None

    @model_validator(mode="after")
    def _route_is_ordered(self) -> AwardForm:
        order = {stage: i for i, stage in enumerate(ROUTE_STAGES)}
        for stage in self.route:
            if stage not in order:
                raise ValueError(f"route of {self.code}: {stage} is not a route stage")
        positions = [order[s] for s in self.route]
        if positions != sorted(set(positions)):
            raise ValueError(f"route of {self.code} must follow {[s.value for s in ROUTE_STAGES]}")
        if Stage.COUNCIL_REVIEW in self.route and not self.council_policy:
            raise ValueError(f"{self.code} has a council stage but no council_policy")
        if Stage.BLOC_VOTE in self.route and not self.bloc_policy:
            raise ValueError(f"{self.code} has a bloc stage but no bloc_policy")
        return self


class TimePolicy(BaseModel):
    model_config = ConfigDict(frozen=True)
    public_notice_working_days: int = Field(gt=0)
    public_notice_source: str
    central_appraisal_working_days: int = Field(gt=0)
    central_appraisal_with_consultation_working_days: int = Field(gt=0)
    central_appraisal_source: str
    return_supplement_working_days: int = Field(gt=0)
    return_supplement_source: str
    # Policy 2025.07 set no deadline for a returned dossier (None): only later versions enforce it.
    return_reminder_working_days_before: int | None = Field(default=None, ge=0)
    return_reminder_source: str | None = None


class AwardYearPolicy(BaseModel):
    """Which award years a new nomination may name: never a future year, and at most `years_back` years
    before the current one (a year's achievements are proposed during that year or early the next)."""

    model_config = ConfigDict(frozen=True)
    years_back: int = Field(ge=0, le=10)
    source: str
    verified: bool = False


class CountingCommitteePolicy(BaseModel):
    """Ban kiểm phiếu: how many members a ballot session names to hold its key, and how many of them must
    hand in their shares for the count to run (any `threshold` of `size`)."""

    model_config = ConfigDict(frozen=True)
    size: int = Field(default=3, ge=1, le=15)
    threshold: int = Field(default=2, ge=1, le=15)
    source: str = (
        "Engine default: a counting committee (Ban kiểm phiếu) of 3 elected at the meeting, any 2 of whom "
        "open the ballot box together, as councils' and blocs' own rules of procedure provide (unverified)."
    )
    verified: bool = False

    @model_validator(mode="after")
    def _threshold_within_size(self) -> CountingCommitteePolicy:
        if self.threshold > self.size:
            raise ValueError(f"counting_committee.threshold {self.threshold} exceeds its size {self.size}")
        return self


class CalendarPolicy(BaseModel):
    """Days the Government swaps in a given year, on top of the `holidays` package's calendar."""

    model_config = ConfigDict(frozen=True)
    extra_days_off: frozenset[date] = frozenset()
    makeup_working_days: frozenset[date] = frozenset()
    source: str = ""

    def working_calendar(self) -> WorkingCalendar:
        return WorkingCalendar(extra_days_off=self.extra_days_off, makeup_working_days=self.makeup_working_days)


class PolicySet(BaseModel):
    model_config = ConfigDict(frozen=True)
    version: str
    effective_from: date
    source: str
    voting_policies: dict[str, VotingPolicy]
    time: TimePolicy
    award_forms: dict[str, AwardForm]
    award_year: AwardYearPolicy
    calendar: CalendarPolicy = CalendarPolicy()
    counting_committee: CountingCommitteePolicy = CountingCommitteePolicy()

    # Versions from 2026.01 on: a returned dossier lapses if not resubmitted in time.
    @property
    def enforces_return_deadline(self) -> bool:
        return self.time.return_reminder_working_days_before is not None

    @model_validator(mode="before")
    @classmethod
    def _codes_from_keys(cls, data: dict) -> dict:
        if isinstance(data, dict):
            for key in ("voting_policies", "award_forms"):
                for code, item in data.get(key, {}).items():
                    if isinstance(item, dict):
                        item.setdefault("code", code)
        return data

    @model_validator(mode="after")
    def _policies_exist(self) -> PolicySet:
        for form in self.award_forms.values():
            for ref in (form.council_policy, form.bloc_policy):
                if ref and ref not in self.voting_policies:
                    raise ValueError(f"{form.code} refers to unknown voting policy {ref}")
        return self

    def form(self, code: str) -> AwardForm:
        return self.award_forms[code]

    def council_policy(self, form_code: str) -> VotingPolicy:
        ref = self.form(form_code).council_policy
        if ref is None:
            raise KeyError(f"{form_code} has no council stage")
        return self.voting_policies[ref]

    def bloc_policy(self, form_code: str) -> VotingPolicy:
        ref = self.form(form_code).bloc_policy
        if ref is None:
            raise KeyError(f"{form_code} has no bloc stage")
        return self.voting_policies[ref]


# A proposal the bloc makes itself at its year's honouring (suy tôn) begins at the bloc's vote and goes on to
# the central board, whatever the form's usual route (the member's own council has no say in it); the vote is
# judged by the bloc's majority policy, the decision is the form's decider's (the Prime Minister's).
BLOC_ORIGIN_ROUTE: tuple[Stage, ...] = (Stage.BLOC_VOTE, Stage.CENTRAL_REVIEW)
BLOC_ORIGIN_POLICY = "BLOC_MAJORITY"


def route_for(form: AwardForm, origin: BlocOrigin | None) -> tuple[Stage, ...]:
    """The stages a nomination of this form passes: the form's route, or the bloc's own when it began there."""
    return BLOC_ORIGIN_ROUTE if origin is not None else form.route


@cache
def policy_sets() -> dict[str, PolicySet]:
    sets = {}
    for path in sorted(DATA_DIR.glob("policy-*.json")):
        policy = PolicySet.model_validate(json.loads(path.read_text(encoding="utf-8")))
        sets[policy.version] = policy
    return sets


def policy_set(version: str) -> PolicySet:
    try:
        return policy_sets()[version]
    except KeyError:
        raise KeyError(f"unknown policy version {version!r}; known: {sorted(policy_sets())}") from None


def current_policy_version(on: date) -> str:
    """The newest policy set in force on a date: new nominations start under it."""
    in_force = [p for p in policy_sets().values() if p.effective_from <= on]
    if not in_force:
        raise LookupError(f"no policy set in force on {on.isoformat()}")
    return max(in_force, key=lambda p: p.effective_from).version
