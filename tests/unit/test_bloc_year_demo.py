"""The demo's bloc year tells the story it says, by the rules in domain/: its cast from the demo roster, its
fictional self-assessments' totals, the panel's adjustment moving a member from first to third, the flag's
two tied candidates for one seat, the certificate's two."""

from __future__ import annotations

from decimal import Decimal

from domain.bloc.honouring import honour_tier_candidates
from domain.bloc.policy import bloc_rotation, bloc_scoring_policy_for
from domain.bloc.ranking import Standings, rank_members
from domain.bloc.rotation import leadership_for
from domain.bloc.scoring import CriterionAdjustment, SelfAssessment, score_member
from domain.roster import Role, Roster
from scripts.bloc_year_demo import ADJUST_REASON, BLOC, SHEETS, BlocCast, sheet
from scripts.demo import DEMO_ROSTER

YEAR = 2026
DEMO = Roster.model_validate_json(DEMO_ROSTER.read_text(encoding="utf-8"))
CAST = BlocCast.from_roster(DEMO, YEAR)
POLICY = bloc_scoring_policy_for(BLOC, YEAR)


def test_the_cast_is_the_demo_rosters_bloc_led_as_the_rotation_says() -> None:
    assert CAST.leadership == leadership_for(bloc_rotation(BLOC), YEAR)  # the roster's head heads this year
    assert sorted(CAST.parts.values()) == sorted(bloc_rotation(BLOC).order)  # each member plays one part
    assert set(CAST.parts) == {*SHEETS, "late"}
    head = next(a for a in DEMO.actors if a.id == CAST.head)
    assert head.holds(Role.BLOC_HEAD, BLOC) and head.organisation == CAST.leadership.head
    assert CAST.next.head == CAST.leadership.deputy
    for member, representative in CAST.reps.items():
        actor = next(a for a in DEMO.actors if a.id == representative)
        assert actor.organisation == member and actor.holds(Role.BLOC_REPRESENTATIVE, BLOC)


def test_the_story_ranks_as_the_demo_tells_it() -> None:
    parts = CAST.parts
    assessments = {
        member: SelfAssessment.model_validate(
            {"member": member, "year": YEAR, "policy_version": POLICY.version} | sheet(part, YEAR)
        )
        for part, member in parts.items()
        if part != "late"
    }
    adjustment = CriterionAdjustment(
        kind="CRITERION", member=parts["adjusted"], code="NV1", points=Decimal(20), reason=ADJUST_REASON
    )

    def standings(adjustments: list[CriterionAdjustment]) -> Standings:
        cards = [score_member(POLICY, m, assessments.get(m), adjustments) for m in parts.values()]
        return rank_members(POLICY, cards)

    before = standings([])
    assert [r.member for r in before.rows if r.rank == 1] == [parts["adjusted"]]
    after = standings([adjustment])
    totals = {r.member: r.total for r in after.rows}
    assert totals[parts["tied_first"]] == totals[parts["tied_second"]] == 93
    assert totals[parts["adjusted"]] == 91 and after.rank_of(parts["adjusted"]) == 3
    assert totals[parts["late"]] == 0 and after.rank_of(parts["late"]) == len(parts)  # scored ZERO, ranked last
    flag = honour_tier_candidates(POLICY, after, 0)
    assert set(flag.candidates) == {parts["tied_first"], parts["tied_second"]} and flag.seats == 1
    certificate = honour_tier_candidates(POLICY, after, 1, seated={parts["tied_first"]})
    assert certificate.candidates == (parts["tied_second"], parts["adjusted"]) and certificate.seats == 2
