"""The bloc's ranking and its honouring (suy tôn) proposals.

Members are ordered by total, then by the table's declared tie-break rules in turn. Members that every rule
leaves equal share one rank (competition ranking: 1, 2, 2, 4) and are reported as a tie, never ordered by
anything else. Honouring seats the ranked members tier by tier (Cờ thi đua của Chính phủ, then Bằng khen của
Thủ tướng): a tie that straddles a tier's quota is reported for a vote of the bloc (its ballot session), and the
vote's choice is given back to settle it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from domain.bloc.policy import BlocScoringPolicy, TieBreakRule
from domain.bloc.scoring import Scorecard
from domain.errors import FieldError, InvalidInput

TOTAL = "TOTAL"


class StandingRow(BaseModel):
    model_config = ConfigDict(frozen=True)
    member: str
    rank: int
    total: Decimal
    criteria_total: Decimal
    bonus_points: Decimal
    penalty_points: Decimal
    group_totals: dict[str, Decimal]
    submitted: bool
    # Shares its rank with another member: the declared rules could not separate them.
    tied: bool
    # What put this row below the rank above: TOTAL, or the key of the tie-break rule that decided (e.g.
    # FEWER_PENALTY_POINTS); None on the first rank and on the second and later rows of a tie.
    separated_by: str | None


class TieGroup(BaseModel):
    model_config = ConfigDict(frozen=True)
    rank: int
    members: tuple[str, ...]


class Standings(BaseModel):
    """The ranking table: ranked rows best first (a tie's rows by member code, for display only), the members
    left out of the ranking, and every tie."""

    model_config = ConfigDict(frozen=True)
    policy_version: str
    rows: tuple[StandingRow, ...]
    unranked: tuple[str, ...] = ()
    ties: tuple[TieGroup, ...] = ()

    def rank_of(self, member: str) -> int | None:
        return next((row.rank for row in self.rows if row.member == member), None)

    def rank_groups(self) -> list[list[StandingRow]]:
        """The rows grouped by rank, best first: one member per group unless tied."""
        groups: list[list[StandingRow]] = []
        for row in self.rows:
            if groups and groups[-1][0].rank == row.rank:
                groups[-1].append(row)
            else:
                groups.append([row])
        return groups


def ranking_key(policy: BlocScoringPolicy, card: Scorecard) -> tuple[Decimal, ...]:
    """The sort key, smaller first: minus the total, then each declared tie-break in order."""
    key = [-card.total]
    for tie_break in policy.tie_breaks:
        if tie_break.rule == TieBreakRule.FEWER_PENALTY_POINTS:
            key.append(card.penalty_points)
        elif tie_break.rule == TieBreakRule.MORE_BONUS_POINTS:
            key.append(-card.bonus_points)
        else:
            assert tie_break.group is not None  # the policy validates it
            key.append(-card.group_totals[tie_break.group])
    return tuple(key)


def rank_members(policy: BlocScoringPolicy, scorecards: Sequence[Scorecard]) -> Standings:
    """Rank the scorecards of one bloc year. Input order never matters: equal keys share a rank."""
    members = [c.member for c in scorecards]
    duplicates = sorted({m for m in members if members.count(m) > 1})
    if duplicates:
        raise ValueError(f"more than one scorecard for: {', '.join(duplicates)}")
    foreign = sorted(c.member for c in scorecards if c.policy_version != policy.version)
    if foreign:
        raise ValueError(f"scorecards not scored by {policy.version}: {', '.join(foreign)}")
    ranked = sorted((c for c in scorecards if c.ranked), key=lambda c: (ranking_key(policy, c), c.member))
    rule_keys = [TOTAL, *(t.key for t in policy.tie_breaks)]
    rows: list[StandingRow] = []
    ties: list[TieGroup] = []
    previous_key: tuple[Decimal, ...] | None = None
    position = 0
    while position < len(ranked):
        key = ranking_key(policy, ranked[position])
        end = position
        while end < len(ranked) and ranking_key(policy, ranked[end]) == key:
            end += 1
        group = ranked[position:end]
        rank = position + 1
        separated_by = None
        if previous_key is not None:
            separated_by = next(rule_keys[i] for i, (a, b) in enumerate(zip(previous_key, key, strict=True)) if a != b)
        for i, card in enumerate(group):
            rows.append(
                StandingRow(
                    member=card.member,
                    rank=rank,
                    total=card.total,
                    criteria_total=card.criteria_total,
                    bonus_points=card.bonus_points,
                    penalty_points=card.penalty_points,
                    group_totals=card.group_totals,
                    submitted=card.submitted,
                    tied=len(group) > 1,
                    separated_by=separated_by if i == 0 else None,
                )
            )
        if len(group) > 1:
            ties.append(TieGroup(rank=rank, members=tuple(c.member for c in group)))
        previous_key = key
        position = end
    unranked = tuple(sorted(c.member for c in scorecards if not c.ranked))
    return Standings(policy_version=policy.version, rows=tuple(rows), unranked=unranked, ties=tuple(ties))


# ---- honouring ---------------------------------------------------------------------------------------------


class TierStatus(StrEnum):
    DECIDED = "DECIDED"  # the tier's proposals are settled
    TIED = "TIED"  # a tie straddles the quota: the bloc votes among `tied` for `seats_left` seats
    WAITING = "WAITING"  # an earlier tier's tie is unsettled, and it decides who is left for this one


class TierResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    award_form: str
    quota: int
    min_score: Decimal
    status: TierStatus
    proposed: tuple[str, ...] = ()  # settled proposals, in ranking order
    tied: tuple[str, ...] = ()
    seats_left: int = 0
    chosen_by_vote: tuple[str, ...] = ()  # those of `proposed` the bloc's vote placed


class HonourProposal(BaseModel):
    model_config = ConfigDict(frozen=True)
    policy_version: str
    tiers: tuple[TierResult, ...]

    @property
    def pending_tie(self) -> TierResult | None:
        """The tier whose boundary tie awaits the bloc's vote, if any."""
        return next((t for t in self.tiers if t.status == TierStatus.TIED), None)

    def proposed_for(self, award_form: str) -> tuple[str, ...]:
        return next((t.proposed for t in self.tiers if t.award_form == award_form), ())


def _chosen_errors(field: str, tied: Sequence[str], seats_left: int, chosen: Sequence[str]) -> list[FieldError]:
    problems = []
    repeated = sorted({m for m in chosen if list(chosen).count(m) > 1})
    if repeated:
        problems.append(f"chọn trùng: {', '.join(repeated)}")
    outside = [m for m in dict.fromkeys(chosen) if m not in tied]
    if outside:
        problems.append(f"không thuộc các đơn vị bằng điểm ({', '.join(tied)}): {', '.join(outside)}")
    if len(set(chosen)) != seats_left:
        problems.append(
            f"phải chọn đúng {seats_left} trong {len(tied)} đơn vị bằng điểm ({', '.join(tied)}), "
            f"đã chọn {len(set(chosen))}"
        )
    return [FieldError(field=field, message=p) for p in problems]


def propose_honours(
    policy: BlocScoringPolicy, standings: Standings, decided: Mapping[str, Sequence[str]] | None = None
) -> HonourProposal:
    """Seat the ranked members in the table's honours tiers, best first: each tier takes members not seated
    in an earlier tier whose total reaches its minimum, whole ranks at a time, up to its quota. A rank that
    does not fit whole is a tie: reported (status TIED) until `decided[award_form]` gives the bloc's vote,
    exactly `seats_left` of the tied; the others stay for later tiers. Tiers after an unsettled tie wait.
    Raises InvalidInput naming `decided.<award form>` for a choice that does not settle its tie."""
    decided = dict(decided or {})
    if standings.policy_version != policy.version:
        raise ValueError(f"standings scored by {standings.policy_version}, not {policy.version}")
    errors = [
        FieldError(field=f"decided.{form}", message=f"hình thức {form} không có trong chỉ tiêu suy tôn của Khối")
        for form in decided
        if form not in {t.award_form for t in policy.honours}
    ]
    seated: set[str] = set()
    results: list[TierResult] = []
    waiting = False
    for tier in policy.honours:
        if waiting:
            results.append(
                TierResult(
                    award_form=tier.award_form, quota=tier.quota, min_score=tier.min_score, status=TierStatus.WAITING
                )
            )
            continue
        proposed: list[str] = []
        tied: list[str] = []
        seats = tier.quota
        for group in standings.rank_groups():
            if seats == 0:
                break
            members = [row.member for row in group if row.member not in seated and row.total >= tier.min_score]
            if len(members) <= seats:
                proposed += members
                seats -= len(members)
            else:
                tied = members
                break
        choice = decided.get(tier.award_form)
        field = f"decided.{tier.award_form}"
        if not tied:
            if choice is not None:
                errors.append(FieldError(field=field, message="không có đơn vị bằng điểm tại vị trí cuối chỉ tiêu"))
            result = TierResult(
                award_form=tier.award_form,
                quota=tier.quota,
                min_score=tier.min_score,
                status=TierStatus.DECIDED,
                proposed=tuple(proposed),
            )
        elif choice is None:
            waiting = True
            result = TierResult(
                award_form=tier.award_form,
                quota=tier.quota,
                min_score=tier.min_score,
                status=TierStatus.TIED,
                proposed=tuple(proposed),
                tied=tuple(tied),
                seats_left=seats,
            )
        else:
            problems = _chosen_errors(field, tied, seats, choice)
            if problems:
                errors += problems
                waiting = True
                result = TierResult(
                    award_form=tier.award_form,
                    quota=tier.quota,
                    min_score=tier.min_score,
                    status=TierStatus.TIED,
                    proposed=tuple(proposed),
                    tied=tuple(tied),
                    seats_left=seats,
                )
            else:
                picked = tuple(m for m in tied if m in set(choice))
                result = TierResult(
                    award_form=tier.award_form,
                    quota=tier.quota,
                    min_score=tier.min_score,
                    status=TierStatus.DECIDED,
                    proposed=(*proposed, *picked),
                    chosen_by_vote=picked,
                )
        seated |= set(result.proposed)
        results.append(result)
    if errors:
        raise InvalidInput(errors)
    return HonourProposal(policy_version=policy.version, tiers=tuple(results))


def honour_choice_errors(proposal: HonourProposal, award_form: str, chosen: Sequence[str]) -> list[FieldError]:
    """Why the bloc's vote cannot settle the pending tie of `award_form` (empty when it can): a validator for
    the action that brings the vote's result back."""
    field = f"decided.{award_form}"
    tier = next((t for t in proposal.tiers if t.award_form == award_form), None)
    if tier is None:
        return [FieldError(field=field, message=f"hình thức {award_form} không có trong chỉ tiêu suy tôn của Khối")]
    if tier.status != TierStatus.TIED:
        return [FieldError(field=field, message="không có đơn vị bằng điểm đang chờ bỏ phiếu cho hình thức này")]
    return _chosen_errors(field, tier.tied, tier.seats_left, chosen)
