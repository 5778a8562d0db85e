"""Honouring (suy tôn): which ranked members one honours tier puts to the bloc's vote, and how many seats the
vote fills.

A tier (Cờ thi đua của Chính phủ, then Bằng khen của Thủ tướng) takes the ranked members whose total reaches
its minimum and that no earlier tier seated, in ranking order, whole rank groups at a time until at least its
quota is on the list: a tie straddling the quota is on the ballot whole, never cut by anything but the vote.
The vote fills `seats` = min(quota, candidates); its own ties are settled as in every bloc vote (the ballot
session's ranking, a runoff among the tied, then the bloc head's decision), with `seats` in place of the
voting policy's quota. Pure: the bloc year's workflow asks, starts one nomination per candidate and runs the
session.
"""

from __future__ import annotations

from collections.abc import Collection

from pydantic import BaseModel, ConfigDict, Field

from domain.bloc.policy import BlocScoringPolicy
from domain.bloc.ranking import Standings


class TierCandidates(BaseModel):
    """One tier's ballot: the members put to the vote (ranking order) and the seats it fills. An empty tier
    (no member left who reaches the minimum) has no candidates and no seats: no vote is held for it."""

    model_config = ConfigDict(frozen=True)
    award_form: str
    candidates: tuple[str, ...] = ()
    seats: int = Field(default=0, ge=0)

    @property
    def empty(self) -> bool:
        return not self.candidates


def honour_tier_candidates(
    policy: BlocScoringPolicy, standings: Standings, tier_index: int, seated: Collection[str] = ()
) -> TierCandidates:
    """The candidates and seats of the policy's honours tier `tier_index` (0: the first), leaving out the
    members in `seated` (those an earlier tier's vote proposed). Raises ValueError for standings of another
    table or a tier the policy does not have."""
    if standings.policy_version != policy.version:
        raise ValueError(f"standings scored by {standings.policy_version}, not {policy.version}")
    if not 0 <= tier_index < len(policy.honours):
        raise ValueError(f"tier_index {tier_index}: the table {policy.version} has {len(policy.honours)} tier(s)")
    tier = policy.honours[tier_index]
    taken: list[str] = []
    for group in standings.rank_groups():
        if len(taken) >= tier.quota:
            break
        taken += [row.member for row in group if row.member not in seated and row.total >= tier.min_score]
    return TierCandidates(award_form=tier.award_form, candidates=tuple(taken), seats=min(tier.quota, len(taken)))
