"""A bloc's year as policy data: the scoring table (bảng chấm điểm) with its bonus and penalty items, the
tie-break rules, the self-assessment window, the honouring quotas, and the rotation of the bloc head.

Scoring tables live in `domain/data/bloc-scoring-<bloc>-<version>.json`, one per bloc and version; a bloc year
is scored by the newest table of its bloc in force for that year and records the version it used. The rotation
order lives in `domain/data/bloc-rotation-<bloc>.json`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from domain.identity import NFC

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Z][A-Z0-9_]{1,23}$")]
NameVi = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), NFC]
# Points carry at most two decimals (half and quarter points are common); Decimal keeps sums exact.
MaxPoints = Annotated[Decimal, Field(gt=0, max_digits=6, decimal_places=2)]


class Criterion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    code: Code
    name_vi: NameVi
    max_points: MaxPoints
    # A score above zero on this criterion needs evidence (minh chứng): a document reference or content hash.
    evidence_required: bool = True


class CriteriaGroup(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    code: Code
    name_vi: NameVi
    max_points: MaxPoints
    criteria: tuple[Criterion, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _max_is_the_sum(self) -> CriteriaGroup:
        total = sum((c.max_points for c in self.criteria), Decimal(0))
        if total != self.max_points:
            raise ValueError(
                f"group {self.code}: max_points {self.max_points} is not the sum of its criteria ({total})"
            )
        return self


class ScoreItem(BaseModel):
    """A bonus (cộng điểm) or penalty (trừ điểm) item: `points_each` per occurrence, at most `max_points`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    code: Code
    name_vi: NameVi
    points_each: MaxPoints
    max_points: MaxPoints
    evidence_required: bool = True

    @model_validator(mode="after")
    def _cap_holds_one(self) -> ScoreItem:
        if self.max_points < self.points_each:
            raise ValueError(f"item {self.code}: max_points {self.max_points} is below points_each {self.points_each}")
        return self

    def points_for(self, occurrences: int) -> Decimal:
        return min(self.points_each * occurrences, self.max_points)


class TieBreakRule(StrEnum):
    FEWER_PENALTY_POINTS = "FEWER_PENALTY_POINTS"
    MORE_BONUS_POINTS = "MORE_BONUS_POINTS"
    HIGHER_GROUP_SCORE = "HIGHER_GROUP_SCORE"


class TieBreak(BaseModel):
    """One declared rule that orders members with equal totals; `group` names the group for
    HIGHER_GROUP_SCORE and is absent otherwise."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    rule: TieBreakRule
    group: Code | None = None

    @model_validator(mode="after")
    def _group_with_group_rule(self) -> TieBreak:
        if (self.rule == TieBreakRule.HIGHER_GROUP_SCORE) != (self.group is not None):
            raise ValueError(f"tie-break {self.rule}: `group` is required for HIGHER_GROUP_SCORE and only for it")
        return self

    @property
    def key(self) -> str:
        return f"{self.rule}:{self.group}" if self.group else self.rule.value


class NoSubmission(StrEnum):
    ZERO = "ZERO"  # scored zero on every criterion and ranked
    NOT_RANKED = "NOT_RANKED"  # left out of the ranking (and so of honouring)


class SubmissionPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    working_days: int = Field(gt=0, le=120)
    reminder_working_days_before: int = Field(ge=0, le=60)
    no_submission: NoSubmission
    source: str

    @model_validator(mode="after")
    def _reminder_inside_window(self) -> SubmissionPolicy:
        if self.reminder_working_days_before >= self.working_days:
            raise ValueError("submission.reminder_working_days_before must be less than submission.working_days")
        return self


class HonourTier(BaseModel):
    """The members proposed for one award form: at most `quota`, each with a total of at least `min_score`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    award_form: Code
    quota: int = Field(ge=1, le=50)
    min_score: Decimal = Field(ge=0, max_digits=6, decimal_places=2)


class BlocScoringPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    version: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,23}-[0-9]{4}\.[0-9]{2}$")
    bloc: Code
    effective_year: int = Field(ge=2000, le=2100)
    name_vi: NameVi
    source: str = Field(min_length=1)
    verified: bool = False
    groups: tuple[CriteriaGroup, ...] = Field(min_length=1)
    bonus_items: tuple[ScoreItem, ...] = ()
    bonus_cap: Decimal = Field(ge=0, max_digits=6, decimal_places=2)
    penalty_items: tuple[ScoreItem, ...] = ()
    penalty_cap: Decimal = Field(ge=0, max_digits=6, decimal_places=2)
    tie_breaks: tuple[TieBreak, ...] = ()
    submission: SubmissionPolicy
    honours: tuple[HonourTier, ...] = ()
    honours_source: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> BlocScoringPolicy:
        if not self.version.startswith(f"{self.bloc}-"):
            raise ValueError(f"version {self.version} must start with the bloc code {self.bloc}-")
        codes = [g.code for g in self.groups] + [c.code for g in self.groups for c in g.criteria]
        codes += [i.code for i in (*self.bonus_items, *self.penalty_items)]
        duplicates = sorted({c for c in codes if codes.count(c) > 1})
        if duplicates:
            raise ValueError(f"codes used more than once: {', '.join(duplicates)}")
        groups = {g.code for g in self.groups}
        for tie_break in self.tie_breaks:
            if tie_break.group is not None and tie_break.group not in groups:
                raise ValueError(f"tie-break {tie_break.key}: unknown group {tie_break.group}")
        keys = [t.key for t in self.tie_breaks]
        if len(keys) != len(set(keys)):
            raise ValueError("a tie-break rule is declared twice")
        forms = [h.award_form for h in self.honours]
        if len(forms) != len(set(forms)):
            raise ValueError("an award form appears in more than one honours tier")
        for tier in self.honours:
            if tier.min_score > self.max_total:
                raise ValueError(f"honours {tier.award_form}: min_score {tier.min_score} above the best total")
        return self

    @property
    def criteria(self) -> dict[str, Criterion]:
        return {c.code: c for g in self.groups for c in g.criteria}

    @property
    def group_of(self) -> dict[str, str]:
        """Criterion code → its group's code."""
        return {c.code: g.code for g in self.groups for c in g.criteria}

    @property
    def bonus(self) -> dict[str, ScoreItem]:
        return {i.code: i for i in self.bonus_items}

    @property
    def penalty(self) -> dict[str, ScoreItem]:
        return {i.code: i for i in self.penalty_items}

    @property
    def criteria_max(self) -> Decimal:
        return sum((g.max_points for g in self.groups), Decimal(0))

    @property
    def max_total(self) -> Decimal:
        return self.criteria_max + self.bonus_cap

    @property
    def min_total(self) -> Decimal:
        return -self.penalty_cap


TIE_BREAK_LABELS_VI: dict[TieBreakRule, str] = {
    TieBreakRule.FEWER_PENALTY_POINTS: "ít điểm trừ hơn",
    TieBreakRule.MORE_BONUS_POINTS: "nhiều điểm cộng hơn",
    TieBreakRule.HIGHER_GROUP_SCORE: "điểm nhóm tiêu chí «{group}» cao hơn",
}


def tie_break_label_vi(policy: BlocScoringPolicy, tie_break: TieBreak) -> str:
    """How a report says why one member stands above another with the same total."""
    label = TIE_BREAK_LABELS_VI[tie_break.rule]
    if tie_break.group is None:
        return label
    group = next(g for g in policy.groups if g.code == tie_break.group)
    return label.format(group=group.name_vi)


@cache
def bloc_scoring_policies() -> dict[str, BlocScoringPolicy]:
    policies = {}
    for path in sorted(DATA_DIR.glob("bloc-scoring-*.json")):
        policy = BlocScoringPolicy.model_validate(json.loads(path.read_text(encoding="utf-8")))
        policies[policy.version] = policy
    return policies


def bloc_scoring_policy(version: str) -> BlocScoringPolicy:
    try:
        return bloc_scoring_policies()[version]
    except KeyError:
        known = sorted(bloc_scoring_policies())
        raise KeyError(f"unknown bloc scoring table {version!r}; known: {known}") from None


def bloc_scoring_policy_for(bloc: str, year: int) -> BlocScoringPolicy:
    """The newest scoring table of a bloc in force for a year: the bloc year records its version."""
    in_force = [p for p in bloc_scoring_policies().values() if p.bloc == bloc and p.effective_year <= year]
    if not in_force:
        raise LookupError(f"no scoring table for bloc {bloc} in force for {year}")
    return max(in_force, key=lambda p: (p.effective_year, p.version))


class BlocRotation(BaseModel):
    """The order in which members take the bloc head's role (Khối trưởng), one year each, anchored on a year
    whose head is known; the deputy (Khối phó) is the next year's head."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    bloc: Code
    order: tuple[Code, ...] = Field(min_length=2)
    anchor_year: int = Field(ge=2000, le=2100)
    anchor_head: Code
    deputy: Literal["NEXT_IN_ORDER"] = "NEXT_IN_ORDER"
    source: str = Field(min_length=1)
    verified: bool = False

    @model_validator(mode="after")
    def _anchor_in_order(self) -> BlocRotation:
        if len(set(self.order)) != len(self.order):
            raise ValueError("order: a member appears more than once")
        if self.anchor_head not in self.order:
            raise ValueError(f"anchor_head {self.anchor_head} is not in the order")
        return self


@cache
def _rotations() -> dict[str, BlocRotation]:
    rotations = {}
    for path in sorted(DATA_DIR.glob("bloc-rotation-*.json")):
        rotation = BlocRotation.model_validate(json.loads(path.read_text(encoding="utf-8")))
        rotations[rotation.bloc] = rotation
    return rotations


def bloc_rotation(bloc: str) -> BlocRotation:
    try:
        return _rotations()[bloc]
    except KeyError:
        raise KeyError(f"no rotation order for bloc {bloc!r}; known: {sorted(_rotations())}") from None
