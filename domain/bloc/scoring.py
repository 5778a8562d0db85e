"""A member's score for the bloc year: its self-assessment against the scoring table, the review panel's
adjustments (chấm chéo), what a member that submitted nothing gets, and the submission deadline and reminder.

Every error names the field at fault, in Vietnamese (staff read them): `scores.NV1.points`, `bonuses.CD1`,
`reason`. Pure: no clock, no I/O; the caller gives the members, the year and the times.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from domain.bloc.policy import BlocScoringPolicy, NoSubmission, ScoreItem
from domain.calendar import DEFAULT_CALENDAR, WorkingCalendar
from domain.errors import PYDANTIC_MESSAGES_VI, FieldError, InvalidInput
from domain.identity import NFC

Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Z][A-Z0-9_]{1,23}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), NFC]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=2000), NFC]
# The range (0..the criterion's maximum) depends on the table, so it is checked against the policy, in
# Vietnamese, rather than by the type.
Points = Annotated[Decimal, Field(max_digits=7, decimal_places=2)]
Occurrences = Annotated[int, Field(ge=0, le=100)]
Sha256 = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[0-9a-fA-F]{64}$")]

ZERO = Decimal(0)


class EvidenceRef(BaseModel):
    """Evidence (minh chứng) as in a dossier: the document's reference number, its content hash, or both."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    title: Text | None = None
    reference: Text | None = None
    content_sha256: Sha256 | None = None

    @model_validator(mode="after")
    def _identified(self) -> EvidenceRef:
        if self.reference is None and self.content_sha256 is None:
            raise ValueError("cần số/ký hiệu văn bản (reference) hoặc mã băm SHA-256 (content_sha256)")
        return self


class CriterionScore(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    points: Points
    evidence: tuple[EvidenceRef, ...] = Field(default=(), max_length=50)


class ItemClaim(BaseModel):
    """A bonus or penalty item the member declares, with how many times it occurred."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    occurrences: Annotated[int, Field(ge=1, le=100)]
    evidence: tuple[EvidenceRef, ...] = Field(default=(), max_length=50)


class SelfAssessment(BaseModel):
    """A member's self-assessment (bản tự chấm điểm): a score for every criterion of the table, keyed by
    criterion code, and the bonus and penalty items it declares, keyed by item code."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    member: Code
    year: int = Field(ge=2000, le=2100)
    policy_version: str
    scores: dict[str, CriterionScore]
    bonuses: dict[str, ItemClaim] = Field(default_factory=dict)
    penalties: dict[str, ItemClaim] = Field(default_factory=dict)


class CriterionAdjustment(BaseModel):
    """The review panel sets a criterion's score for a member, saying why."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["CRITERION"]
    member: Code
    code: str
    points: Points
    reason: Reason


class ItemAdjustment(BaseModel):
    """The review panel sets how many times a bonus or penalty item counts for a member (0 removes it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["BONUS", "PENALTY"]
    member: Code
    code: str
    occurrences: Occurrences
    reason: Reason


Adjustment = Annotated[CriterionAdjustment | ItemAdjustment, Field(discriminator="kind")]


class _AdjustmentInput(BaseModel):
    adjustment: Adjustment


# ---- validation -----------------------------------------------------------------------------------------

# The shared Vietnamese messages, with what a scoring form says more precisely.
_PYDANTIC_VI: dict[str, str] = {
    **PYDANTIC_MESSAGES_VI,
    "dict_type": "phải là một bảng (đối tượng JSON) theo mã",
    "literal_error": "giá trị không hợp lệ",
    "union_tag_invalid": "phải là CRITERION, BONUS hoặc PENALTY",
    "union_tag_not_found": "thiếu trường bắt buộc (CRITERION, BONUS hoặc PENALTY)",
}


def _field_errors_vi(exc: ValidationError, *, drop: Collection[str] = (), prefix: str = "") -> list[FieldError]:
    """Pydantic's errors as `field.path: Vietnamese message`. `drop` removes location segments that are not
    fields (a discriminated union's tag); criterion codes are upper case, so nothing else is dropped."""
    errors: list[FieldError] = []
    for err in exc.errors(include_url=False):
        parts = [str(p) for p in err["loc"] if str(p) not in drop]
        path = ".".join(parts)
        path = path[len(prefix) :] if prefix and path.startswith(prefix) else path
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            path = f"{path}.kind" if path else "kind"
        template = _PYDANTIC_VI.get(err["type"])
        ctx = err.get("ctx") or {}
        if err["type"] == "value_error":
            message = str(ctx.get("error", err["msg"]))
        elif template is None:
            message = err["msg"]
        else:
            try:
                message = template.format(**ctx)
            except (KeyError, IndexError):
                message = template
        if parts and parts[-1] == "reason" and err["type"] in ("missing", "string_too_short"):
            message = "chấm chéo phải nêu lý do điều chỉnh (ít nhất 3 ký tự)"
        errors.append(FieldError(field=path or "(gốc)", message=message))
    return errors


def _points_vi(points: Decimal) -> str:
    """Points as Vietnamese write them: decimal comma, no trailing zeros."""
    text = f"{points.normalize():f}" if points != points.to_integral() else f"{points.to_integral():f}"
    return text.replace(".", ",")


def _range_error(field: str, points: Decimal, maximum: Decimal, what: str) -> FieldError | None:
    if points < 0:
        return FieldError(field=field, message=f"điểm {_points_vi(points)} không được âm ({what})")
    if points > maximum:
        return FieldError(
            field=field,
            message=f"điểm {_points_vi(points)} vượt quá điểm tối đa {_points_vi(maximum)} của {what}",
        )
    return None


def _key_errors(
    policy: BlocScoringPolicy, scores: Collection[str], bonuses: Collection[str], penalties: Collection[str]
) -> list[FieldError]:
    errors = []
    criteria = policy.criteria
    for code in scores:
        if code not in criteria:
            errors.append(
                FieldError(
                    field=f"scores.{code}",
                    message=f"tiêu chí «{code}» không có trong bảng chấm điểm {policy.version}",
                )
            )
    for code, criterion in criteria.items():
        if code not in scores:
            errors.append(
                FieldError(
                    field=f"scores.{code}",
                    message=f"thiếu điểm tự chấm cho tiêu chí {code} «{criterion.name_vi}»",
                )
            )
    for name, claims, items, kind_vi in (
        ("bonuses", bonuses, policy.bonus, "điểm cộng"),
        ("penalties", penalties, policy.penalty, "điểm trừ"),
    ):
        for code in claims:
            if code not in items:
                errors.append(
                    FieldError(
                        field=f"{name}.{code}",
                        message=f"mục {kind_vi} «{code}» không có trong bảng chấm điểm {policy.version}",
                    )
                )
    return errors


def assessment_errors(
    assessment: SelfAssessment, policy: BlocScoringPolicy, *, members: Collection[str], year: int
) -> list[FieldError]:
    """Everything the scoring table says is wrong with a self-assessment, each naming its field: a member
    outside the bloc, another year or table, an unknown or missing criterion, a score outside 0..maximum, a
    score above zero without the evidence its criterion requires, an unknown bonus or penalty item, a bonus
    without evidence."""
    errors: list[FieldError] = []
    if assessment.member not in members:
        errors.append(FieldError(field="member", message=f"đơn vị {assessment.member} không phải thành viên Khối"))
    if assessment.year != year:
        errors.append(FieldError(field="year", message=f"năm {assessment.year} khác năm thi đua của Khối ({year})"))
    if assessment.policy_version != policy.version:
        errors.append(
            FieldError(
                field="policy_version",
                message=f"bản tự chấm theo bảng {assessment.policy_version}, Khối chấm theo bảng {policy.version}",
            )
        )
    errors += _key_errors(policy, assessment.scores, assessment.bonuses, assessment.penalties)
    criteria = policy.criteria
    for code, score in assessment.scores.items():
        criterion = criteria.get(code)
        if criterion is None:
            continue
        field = f"scores.{code}"
        problem = _range_error(f"{field}.points", score.points, criterion.max_points, f"tiêu chí {code}")
        if problem:
            errors.append(problem)
        elif criterion.evidence_required and score.points > 0 and not score.evidence:
            errors.append(
                FieldError(
                    field=f"{field}.evidence",
                    message=f"tiêu chí {code} chấm {_points_vi(score.points)} điểm cần ít nhất một minh chứng "
                    "(số/ký hiệu văn bản hoặc mã băm SHA-256)",
                )
            )
    for code, claim in assessment.bonuses.items():
        item = policy.bonus.get(code)
        if item is not None and item.evidence_required and not claim.evidence:
            errors.append(
                FieldError(
                    field=f"bonuses.{code}.evidence",
                    message=f"mục điểm cộng {code} cần ít nhất một minh chứng (số/ký hiệu văn bản hoặc mã băm SHA-256)",
                )
            )
    return errors


def parse_self_assessment(
    raw: Any, policy: BlocScoringPolicy, *, members: Collection[str], year: int
) -> SelfAssessment:
    """Validate a member's input completely; raise InvalidInput naming every field at fault (structure and
    table together where the structure allows, so a member fixes its sheet in one pass)."""
    try:
        assessment = SelfAssessment.model_validate(raw)
    except ValidationError as exc:
        errors = _field_errors_vi(exc)
        if isinstance(raw, dict):
            sections = [raw.get(k, {}) for k in ("scores", "bonuses", "penalties")]
            if all(isinstance(s, dict) for s in sections):
                known = {e.field for e in errors}
                errors += [e for e in _key_errors(policy, *sections) if e.field not in known]
        raise InvalidInput(errors) from None
    errors = assessment_errors(assessment, policy, members=members, year=year)
    if errors:
        raise InvalidInput(errors)
    return assessment


def adjustment_errors(
    adjustment: CriterionAdjustment | ItemAdjustment,
    policy: BlocScoringPolicy,
    *,
    members: Collection[str],
    submitted: Collection[str],
) -> list[FieldError]:
    """What is wrong with a panel adjustment: a member outside the bloc, one left out of the ranking for not
    submitting (nothing to cross-check), an unknown criterion or item, a score outside 0..maximum."""
    errors: list[FieldError] = []
    if adjustment.member not in members:
        errors.append(FieldError(field="member", message=f"đơn vị {adjustment.member} không phải thành viên Khối"))
    elif adjustment.member not in submitted and policy.submission.no_submission == NoSubmission.NOT_RANKED:
        errors.append(
            FieldError(
                field="member",
                message=f"đơn vị {adjustment.member} không nộp bản tự chấm nên không được xếp hạng "
                f"(bảng {policy.version}); không có điểm để chấm chéo",
            )
        )
    if isinstance(adjustment, CriterionAdjustment):
        criterion = policy.criteria.get(adjustment.code)
        if criterion is None:
            errors.append(
                FieldError(
                    field="code",
                    message=f"tiêu chí «{adjustment.code}» không có trong bảng chấm điểm {policy.version}",
                )
            )
        else:
            problem = _range_error("points", adjustment.points, criterion.max_points, f"tiêu chí {adjustment.code}")
            if problem:
                errors.append(problem)
    else:
        items = policy.bonus if adjustment.kind == "BONUS" else policy.penalty
        if adjustment.code not in items:
            kind_vi = "điểm cộng" if adjustment.kind == "BONUS" else "điểm trừ"
            errors.append(
                FieldError(
                    field="code",
                    message=f"mục {kind_vi} «{adjustment.code}» không có trong bảng chấm điểm {policy.version}",
                )
            )
    return errors


def parse_adjustment(
    raw: Any, policy: BlocScoringPolicy, *, members: Collection[str], submitted: Collection[str]
) -> CriterionAdjustment | ItemAdjustment:
    """Validate the panel's input; raise InvalidInput naming every field at fault."""
    try:
        adjustment = _AdjustmentInput.model_validate({"adjustment": raw}).adjustment
    except ValidationError as exc:
        tags = {"CRITERION", "BONUS", "PENALTY"}
        raise InvalidInput(_field_errors_vi(exc, drop={"adjustment", *tags})) from None
    errors = adjustment_errors(adjustment, policy, members=members, submitted=submitted)
    if errors:
        raise InvalidInput(errors)
    return adjustment


# ---- the scorecard ---------------------------------------------------------------------------------------


class CriterionLine(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: str
    group: str
    self_points: Decimal | None  # None: nothing submitted
    final_points: Decimal
    adjusted_reason: str | None = None


class ItemLine(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: str
    self_occurrences: int
    final_occurrences: int
    points: Decimal  # this item's points after its own cap, before the bonus or penalty cap
    adjusted_reason: str | None = None


class Scorecard(BaseModel):
    """A member's final score: the self-assessment where the panel left it, the panel's score where it
    adjusted, each line showing both. Bonus and penalty points are after their caps; total = criteria +
    bonus − penalty. `ranked` is False only for a member that submitted nothing under NOT_RANKED."""

    model_config = ConfigDict(frozen=True)
    member: str
    policy_version: str
    submitted: bool
    ranked: bool
    criteria: tuple[CriterionLine, ...]
    bonuses: tuple[ItemLine, ...]
    penalties: tuple[ItemLine, ...]
    group_totals: dict[str, Decimal]
    criteria_total: Decimal
    bonus_points: Decimal
    penalty_points: Decimal
    total: Decimal

    @property
    def adjusted(self) -> int:
        """How many lines the panel changed."""
        lines: Iterable[CriterionLine | ItemLine] = (*self.criteria, *self.bonuses, *self.penalties)
        return sum(1 for line in lines if line.adjusted_reason is not None)


def _item_lines(
    items: Sequence[ScoreItem],
    claims: dict[str, ItemClaim],
    adjustments: dict[str, ItemAdjustment],
) -> tuple[ItemLine, ...]:
    lines = []
    for item in items:
        claimed = claims[item.code].occurrences if item.code in claims else 0
        adjustment = adjustments.get(item.code)
        final = adjustment.occurrences if adjustment else claimed
        if claimed or adjustment:
            lines.append(
                ItemLine(
                    code=item.code,
                    self_occurrences=claimed,
                    final_occurrences=final,
                    points=item.points_for(final),
                    adjusted_reason=adjustment.reason if adjustment else None,
                )
            )
    return tuple(lines)


def score_member(
    policy: BlocScoringPolicy,
    member: str,
    assessment: SelfAssessment | None,
    adjustments: Iterable[CriterionAdjustment | ItemAdjustment] = (),
) -> Scorecard:
    """The member's scorecard. `assessment` None: the member submitted nothing by the deadline, scored as
    the table's `submission.no_submission` says. `adjustments` may hold other members' (ignored); of several
    on one line the last counts. Raises InvalidInput if the assessment or an adjustment does not fit the
    table (they are validated when received; this guards a caller that skipped it)."""
    mine = [a for a in adjustments if a.member == member]
    submitted = assessment is not None
    errors: list[FieldError] = []
    if assessment is not None:
        if assessment.member != member:
            errors.append(
                FieldError(field="member", message=f"bản tự chấm của {assessment.member}, không của {member}")
            )
        errors += assessment_errors(assessment, policy, members={member}, year=assessment.year)
    for adjustment in mine:
        errors += adjustment_errors(adjustment, policy, members={member}, submitted={member} if submitted else ())
    if errors:
        raise InvalidInput(errors)
    criterion_adjustments = {a.code: a for a in mine if isinstance(a, CriterionAdjustment)}
    bonus_adjustments = {a.code: a for a in mine if isinstance(a, ItemAdjustment) and a.kind == "BONUS"}
    penalty_adjustments = {a.code: a for a in mine if isinstance(a, ItemAdjustment) and a.kind == "PENALTY"}

    criteria: list[CriterionLine] = []
    group_totals: dict[str, Decimal] = {}
    for group in policy.groups:
        group_total = ZERO
        for criterion in group.criteria:
            own = assessment.scores[criterion.code].points if assessment is not None else None
            change = criterion_adjustments.get(criterion.code)
            final = change.points if change else (own if own is not None else ZERO)
            group_total += final
            criteria.append(
                CriterionLine(
                    code=criterion.code,
                    group=group.code,
                    self_points=own,
                    final_points=final,
                    adjusted_reason=change.reason if change else None,
                )
            )
        group_totals[group.code] = group_total
    bonuses = _item_lines(policy.bonus_items, assessment.bonuses if assessment else {}, bonus_adjustments)
    penalties = _item_lines(policy.penalty_items, assessment.penalties if assessment else {}, penalty_adjustments)
    criteria_total = sum(group_totals.values(), ZERO)
    bonus_points = min(sum((line.points for line in bonuses), ZERO), policy.bonus_cap)
    penalty_points = min(sum((line.points for line in penalties), ZERO), policy.penalty_cap)
    return Scorecard(
        member=member,
        policy_version=policy.version,
        submitted=submitted,
        ranked=submitted or policy.submission.no_submission == NoSubmission.ZERO,
        criteria=tuple(criteria),
        bonuses=bonuses,
        penalties=penalties,
        group_totals=group_totals,
        criteria_total=criteria_total,
        bonus_points=bonus_points,
        penalty_points=penalty_points,
        total=criteria_total + bonus_points - penalty_points,
    )


# ---- the submission window -------------------------------------------------------------------------------


def submission_deadline(
    policy: BlocScoringPolicy, opened_at: datetime, calendar: WorkingCalendar = DEFAULT_CALENDAR
) -> datetime:
    """The end (midnight, Vietnam time) of the last working day for self-assessments, counted from the day the
    bloc head called for them."""
    return calendar.deadline_after(opened_at, policy.submission.working_days)


def submission_reminder_at(
    policy: BlocScoringPolicy, deadline: datetime, calendar: WorkingCalendar = DEFAULT_CALENDAR
) -> datetime:
    """When members that have not submitted are reminded: 08:00 on the working day the table says before the
    deadline's last day."""
    return calendar.deadline_before(deadline, policy.submission.reminder_working_days_before)


def missing_submissions(members: Sequence[str], submitted: Collection[str]) -> list[str]:
    """The members, in the given order, that have not submitted: whom to remind, and who gets the table's
    no-submission treatment at the deadline."""
    return [m for m in members if m not in submitted]
