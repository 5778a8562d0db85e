"""Properties of the bloc year's scoring over random tables, sheets and adjustments: totals within the table's
bounds, the ranking a permutation that input order cannot change, ties kept, a penalty never lifting a rank,
honouring within its quota except by a reported tie, and the rotation visiting every member."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.bloc.policy import BlocRotation, BlocScoringPolicy, NoSubmission, bloc_scoring_policy
from domain.bloc.ranking import Standings, TierStatus, propose_honours, rank_members, ranking_key
from domain.bloc.rotation import leadership_for, next_leadership
from domain.bloc.scoring import (
    CriterionAdjustment,
    ItemAdjustment,
    ItemClaim,
    Scorecard,
    SelfAssessment,
    score_member,
)

HYPOTHESIS = settings(max_examples=200, deadline=None)
SHIPPED = bloc_scoring_policy("NOI_CHINH-2024.01")
EVIDENCE = ({"reference": "01/BC"},)
MEMBER_CODES = [f"M{i:02d}" for i in range(12)]


def half_points(low: float, high: float) -> st.SearchStrategy[Decimal]:
    return st.integers(int(low * 2), int(high * 2)).map(lambda n: Decimal(n) / 2)


@st.composite
def policies(draw: st.DrawFn) -> BlocScoringPolicy:
    """A random table, or the shipped one; small point ranges so that equal totals (ties) are common."""
    if draw(st.booleans()):
        return SHIPPED.model_copy(
            update={
                "submission": SHIPPED.submission.model_copy(
                    update={"no_submission": draw(st.sampled_from(NoSubmission))}
                )
            }
        )
    groups: list[dict[str, Any]] = []
    for g in range(draw(st.integers(1, 3))):
        criteria = [
            {"code": f"G{g}C{c}", "name_vi": f"Tiêu chí {g}.{c}", "max_points": str(draw(half_points(0.5, 6)))}
            for c in range(draw(st.integers(1, 3)))
        ]
        total = sum(Decimal(c["max_points"]) for c in criteria)
        groups.append({"code": f"G{g}", "name_vi": f"Nhóm {g}", "max_points": str(total), "criteria": criteria})

    def items(prefix: str) -> list[dict[str, Any]]:
        result = []
        for i in range(draw(st.integers(0, 3))):
            each = draw(half_points(0.5, 2))
            cap = each * draw(st.integers(1, 4))
            result.append({"code": f"{prefix}{i}", "name_vi": "Mục", "points_each": str(each), "max_points": str(cap)})
        return result

    rules: list[dict[str, str]] = [{"rule": "FEWER_PENALTY_POINTS"}, {"rule": "MORE_BONUS_POINTS"}]
    rules += [{"rule": "HIGHER_GROUP_SCORE", "group": g["code"]} for g in groups]
    tie_breaks = draw(st.permutations(rules).flatmap(lambda p: st.integers(0, len(p)).map(lambda n: p[:n])))
    penalty_items = items("P")
    if not penalty_items:
        penalty_items = [{"code": "P9", "name_vi": "Mục", "points_each": "1", "max_points": "3"}]
    criteria_max = float(sum((Decimal(g["max_points"]) for g in groups), Decimal(0)))
    honours = [
        {"award_form": f"HT{i}", "quota": draw(st.integers(1, 3)), "min_score": str(draw(half_points(0, criteria_max)))}
        for i in range(draw(st.integers(1, 3)))
    ]
    return BlocScoringPolicy.model_validate(
        {
            "version": "TEST-2024.01",
            "bloc": "TEST",
            "effective_year": 2024,
            "name_vi": "Bảng thử",
            "source": "test",
            "groups": groups,
            "bonus_items": items("B"),
            "bonus_cap": str(draw(half_points(0, 4))),
            "penalty_items": penalty_items,
            "penalty_cap": str(draw(half_points(0.5, 6))),
            "tie_breaks": tie_breaks,
            "submission": {
                "working_days": 10,
                "reminder_working_days_before": 2,
                "no_submission": draw(st.sampled_from(NoSubmission)),
                "source": "test",
            },
            "honours": honours,
        }
    )


@st.composite
def assessments(draw: st.DrawFn, policy: BlocScoringPolicy, member: str) -> SelfAssessment:
    scores = {
        code: {"points": draw(half_points(0, float(c.max_points))), "evidence": EVIDENCE}
        for code, c in policy.criteria.items()
    }

    def claims(items: dict[str, Any]) -> dict[str, Any]:
        chosen = draw(st.lists(st.sampled_from(sorted(items)), unique=True)) if items else []
        return {code: {"occurrences": draw(st.integers(1, 5)), "evidence": EVIDENCE} for code in chosen}

    return SelfAssessment.model_validate(
        {
            "member": member,
            "year": 2024,
            "policy_version": policy.version,
            "scores": scores,
            "bonuses": claims(policy.bonus),
            "penalties": claims(policy.penalty),
        }
    )


@st.composite
def adjustments(draw: st.DrawFn, policy: BlocScoringPolicy, member: str) -> CriterionAdjustment | ItemAdjustment:
    kinds = ["CRITERION"] + (["BONUS"] if policy.bonus else []) + ["PENALTY"]
    kind = draw(st.sampled_from(kinds))
    if kind == "CRITERION":
        code = draw(st.sampled_from(sorted(policy.criteria)))
        points = draw(half_points(0, float(policy.criteria[code].max_points)))
        return CriterionAdjustment(kind="CRITERION", member=member, code=code, points=points, reason="Chấm chéo")
    items = policy.bonus if kind == "BONUS" else policy.penalty
    code = draw(st.sampled_from(sorted(items)))
    return ItemAdjustment(kind=kind, member=member, code=code, occurrences=draw(st.integers(0, 5)), reason="Chấm chéo")


@st.composite
def bloc_years(
    draw: st.DrawFn,
) -> tuple[BlocScoringPolicy, dict[str, SelfAssessment | None], list[CriterionAdjustment | ItemAdjustment]]:
    """A table, each member's sheet (None: submitted nothing), and the panel's adjustments."""
    policy = draw(policies())
    members = MEMBER_CODES[: draw(st.integers(1, 9))]
    sheets: dict[str, SelfAssessment | None] = {}
    for member in members:
        sheets[member] = draw(assessments(policy, member)) if draw(st.integers(0, 5)) else None
    ranked_by_policy = policy.submission.no_submission == NoSubmission.ZERO
    adjustable = [m for m in members if sheets[m] is not None or ranked_by_policy]
    changes = []
    if adjustable:
        for _ in range(draw(st.integers(0, 4))):
            changes.append(draw(adjustments(policy, draw(st.sampled_from(adjustable)))))
    # Clones: a few members with exactly another's sheet, so that ties the rules cannot break occur.
    for extra in MEMBER_CODES[len(members) : len(members) + draw(st.integers(0, 2))]:
        original = sheets[draw(st.sampled_from(members))]
        sheets[extra] = original.model_copy(update={"member": extra}) if original is not None else None
    return policy, sheets, changes


def scorecards(
    policy: BlocScoringPolicy,
    sheets: dict[str, SelfAssessment | None],
    changes: list[CriterionAdjustment | ItemAdjustment],
) -> list[Scorecard]:
    return [score_member(policy, member, sheet, changes) for member, sheet in sheets.items()]


@HYPOTHESIS
@given(bloc_years())
def test_totals_stay_within_the_tables_bounds(year):
    policy, sheets, changes = year
    for card in scorecards(policy, sheets, changes):
        assert policy.min_total <= card.total <= policy.max_total
        assert card.total == card.criteria_total + card.bonus_points - card.penalty_points
        assert 0 <= card.bonus_points <= policy.bonus_cap
        assert 0 <= card.penalty_points <= policy.penalty_cap
        for group in policy.groups:
            assert 0 <= card.group_totals[group.code] <= group.max_points
        for line in card.criteria:
            assert 0 <= line.final_points <= policy.criteria[line.code].max_points
        if not card.submitted:
            assert card.ranked == (policy.submission.no_submission == NoSubmission.ZERO)


def _check_ranking(policy: BlocScoringPolicy, cards: list[Scorecard], standings: Standings) -> None:
    ranked = [c for c in cards if c.ranked]
    listed = [row.member for row in standings.rows]
    assert sorted(listed) == sorted(c.member for c in ranked)  # every ranked member exactly once
    assert sorted(standings.unranked) == sorted(c.member for c in cards if not c.ranked)
    keys = {c.member: ranking_key(policy, c) for c in ranked}
    for row in standings.rows:
        assert row.rank == 1 + sum(1 for other in ranked if keys[other.member] < keys[row.member])
    assert [keys[m] for m in listed] == sorted(keys[m] for m in listed)


@HYPOTHESIS
@given(bloc_years(), st.randoms(use_true_random=False))
def test_the_ranking_is_a_permutation_that_input_order_cannot_change(year, random):
    policy, sheets, changes = year
    cards = scorecards(policy, sheets, changes)
    standings = rank_members(policy, cards)
    _check_ranking(policy, cards, standings)
    shuffled = list(cards)
    random.shuffle(shuffled)
    assert rank_members(policy, shuffled) == standings


@HYPOTHESIS
@given(bloc_years())
def test_ties_stay_ties(year):
    policy, sheets, changes = year
    cards = scorecards(policy, sheets, changes)
    standings = rank_members(policy, cards)
    keys = {c.member: ranking_key(policy, c) for c in cards if c.ranked}
    for a in standings.rows:
        for b in standings.rows:
            assert (a.rank == b.rank) == (keys[a.member] == keys[b.member])
    tied = {m for group in standings.ties for m in group.members}
    assert tied == {row.member for row in standings.rows if row.tied}
    for group in standings.ties:
        assert len(group.members) > 1
        assert {standings.rank_of(m) for m in group.members} == {group.rank}
    # A clone of a ranked member (same sheet, no adjustment) always shares its rank.
    clean = {m: s for m, s in sheets.items()}
    clean_cards = scorecards(policy, clean, [])
    by_member = {c.member: c for c in clean_cards}
    clean_standings = rank_members(policy, clean_cards)
    for m, s in clean.items():
        for n, t in clean.items():
            if m < n and s is not None and t is not None and s.model_copy(update={"member": n}) == t:
                assert by_member[m].ranked and clean_standings.rank_of(m) == clean_standings.rank_of(n)
                assert any({m, n} <= set(g.members) for g in clean_standings.ties)


@HYPOTHESIS
@given(bloc_years(), st.data())
def test_adding_a_penalty_never_raises_a_rank(year, data):
    policy, sheets, changes = year
    submitted = sorted(m for m, s in sheets.items() if s is not None)
    assume(submitted)
    member = data.draw(st.sampled_from(submitted))
    item = data.draw(st.sampled_from(sorted(policy.penalty)))
    sheet = sheets[member]
    assert sheet is not None
    claims = dict(sheet.penalties)
    current = claims.get(item)
    claims[item] = ItemClaim(
        occurrences=current.occurrences + 1 if current else 1, evidence=current.evidence if current else ()
    )
    penalised = {**sheets, member: sheet.model_copy(update={"penalties": claims})}
    # An adjustment of that line would override the member's own count; leave the panel's lines out.
    kept = [c for c in changes if not (c.member == member and c.kind == "PENALTY" and c.code == item)]
    before = rank_members(policy, scorecards(policy, sheets, kept)).rank_of(member)
    after = rank_members(policy, scorecards(policy, penalised, kept)).rank_of(member)
    assert before is not None and after is not None
    assert after >= before


@HYPOTHESIS
@given(bloc_years(), st.data())
def test_honouring_never_exceeds_a_quota_except_by_a_reported_tie(year, data):
    policy, sheets, changes = year
    cards = scorecards(policy, sheets, changes)
    standings = rank_members(policy, cards)
    decided: dict[str, list[str]] = {}
    for _ in range(len(policy.honours) + 1):
        proposal = propose_honours(policy, standings, decided)
        seated: set[str] = set()
        waiting = False
        for tier in proposal.tiers:
            if waiting:
                assert tier.status == TierStatus.WAITING and not tier.proposed
                continue
            assert len(tier.proposed) <= tier.quota
            assert not seated & set(tier.proposed)
            for member in tier.proposed:
                row = next(r for r in standings.rows if r.member == member)
                assert row.total >= tier.min_score
            if tier.status == TierStatus.TIED:
                assert 0 < tier.seats_left < len(tier.tied)
                assert len(tier.proposed) + tier.seats_left == tier.quota
                assert len({standings.rank_of(m) for m in tier.tied}) == 1
                waiting = True
            else:
                assert not tier.tied and tier.seats_left == 0
                # Nobody left out ranks strictly above someone proposed while meeting the minimum.
                worst = max((standings.rank_of(m) or 0 for m in tier.proposed), default=0)
                for row in standings.rows:
                    if row.member not in seated and row.member not in tier.proposed and row.total >= tier.min_score:
                        assert row.rank >= worst
                        if len(tier.proposed) < tier.quota:
                            raise AssertionError(
                                f"{row.member} meets the minimum but a seat of {tier.award_form} is empty"
                            )
            seated |= set(tier.proposed)
        pending = proposal.pending_tie
        if pending is None:
            return
        decided[pending.award_form] = data.draw(
            st.lists(
                st.sampled_from(pending.tied), min_size=pending.seats_left, max_size=pending.seats_left, unique=True
            )
        )
    raise AssertionError("every tier is settled after one vote per tier")


@HYPOTHESIS
@given(
    st.lists(st.sampled_from(MEMBER_CODES), min_size=2, unique=True),
    st.integers(2000, 2100),
    st.integers(2000, 2100),
    st.data(),
)
def test_rotation_cycles_through_every_member(order, anchor_year, start, data):
    rotation = BlocRotation(
        bloc="TEST",
        order=tuple(order),
        anchor_year=anchor_year,
        anchor_head=data.draw(st.sampled_from(order)),
        source="test",
    )
    years = [y for y in range(start, start + len(order)) if y <= 2100]
    assume(len(years) == len(order))
    heads = [leadership_for(rotation, y).head for y in years]
    assert sorted(heads) == sorted(order)
    for year in years[:-1]:
        this, following = leadership_for(rotation, year), leadership_for(rotation, year + 1)
        assert this.deputy == following.head != this.head
        assert next_leadership(rotation, this) == following
