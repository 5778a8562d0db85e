"""What a year-end wave is made of: the generated roster, the nominations, and what each must end as.

Pure and deterministic (no I/O), so the harness (`bench.wave`), the raw floor (`bench.raw_workflow`) and
the smoke test agree on the same numbers. Every name here is invented.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from domain.ballots import BallotSessionKind, Candidate, Choice
from domain.catalog import Authority, policy_set
from domain.nomination import Nomination, workflow_id_for
from domain.roster import CENTRAL_SCOPE, Roster
from domain.stages import Stage
from tests.factories import nomination_data

YEAR = 2026
CENTRAL_OFFICER = "tw.can-bo"
CENTRAL_HEAD = "tw.truong-ban"

# Twenty slots, repeated: 60 % ministry-level forms (council only), 15 % Prime Minister's certificates
# (council -> central), 15 % with a public notice first (Huân chương, national emulation fighters),
# 10 % Government emulation flags (council -> bloc -> central).
FORM_CYCLE: tuple[str, ...] = (
    "BANG_KHEN_BO",
    "BANG_KHEN_TTG",
    "CSTD_CAP_BO",
    "HUAN_CHUONG_LD_3",
    "BANG_KHEN_BO",
    "TAP_THE_LDXS",
    "CO_THI_DUA_CP",
    "CSTD_CAP_BO",  # slot 7: council members vote against, the 90 % rule fails -> REJECTED
    "BANG_KHEN_BO",
    "BANG_KHEN_TTG",
    "KY_NIEM_CHUONG",
    "CSTD_TOAN_QUOC",
    "BANG_KHEN_BO",
    "TAP_THE_LDXS",
    "HUAN_CHUONG_LD_3",
    "BANG_KHEN_BO",
    "CO_THI_DUA_CP",
    "BANG_KHEN_TTG",
    "CO_THI_DUA_BO",
    "BANG_KHEN_BO",
)
FAIL_SLOT = 7

# Route shapes (what one nomination costs Temporal), derived from workflows/nomination.py as it stands:
# L = a local activity (the roster reload `load_roster_snapshot`; at registration also the nominee's identity
# claim `claim_nominee_identity`), LS / LU = a local activity after which the
# nomination waits for signals / an update (LS: the offer `offer_to_open_session`, then the session's
# `ballot_list_joined`, whichever way it joined the list; LU: the roster reload on
# entering a stage where a staff action decides; LD: the same on entering AWAITING_DECISION, after which the
# decision arrives as a signal from its DecisionWorkflow), R = a transition (search-attribute upsert + the persisting
# activity `record_transition`, a local activity: LOCAL_TRANSITIONS), S = a signal, SR = a signal that causes
# a transition, T = a timer that fires then a transition, U = an update causing a transition, UT = the same while a
# deadline timer runs (cancelled by the update), C = the timer after which a finished nomination closes (its
# last action's task never carries the close). The raw floor still accepts A / AS / AU (the same with a
# normal activity: the shape before the roster reload and the offer became local activities).
ROUTE_STEPS: dict[str, tuple[str, ...]] = {
    # roster, nominee claim, SUBMIT, offer | joined, scheduled, verdict (awaited until the session's deadline) |
    # roster | the decision (signalled by its DecisionWorkflow)
    "council": ("L", "L", "R", "LS", "S", "S", "SRT", "LD", "SR", "C"),
    "council_rejected": ("L", "L", "R", "LS", "S", "S", "SRT", "C"),
    # ... | roster | central approve (deadline timer) | roster | decision
    "central": ("L", "L", "R", "LS", "S", "S", "SRT", "LU", "UT", "LD", "SR", "C"),
    # roster, nominee claim, SUBMIT | notice timer fires | roster, offer | ... as central
    "notice": ("L", "L", "R", "T", "L", "LS", "S", "S", "SRT", "LU", "UT", "LD", "SR", "C"),
    # council | roster, offer | joined, scheduled, verdict | as central
    "bloc_winner": ("L", "L", "R", "LS", "S", "S", "SRT", "L", "LS", "S", "S", "SRT", "LU", "UT", "LD", "SR", "C"),
    "bloc_loser": ("L", "L", "R", "LS", "S", "S", "SRT", "L", "LS", "S", "S", "SRT", "C"),
}
LOCAL_STEPS = ("L", "LS", "LD", "LU")
# Steps that make a transition (R, SRT, T, and the updates U / UT, whose handler records it): its write,
# `record_transition`, is a local activity; the raw floor follows.
TRANSITION_STEPS = ("R", "SR", "SRT", "T", "U", "UT")
LOCAL_TRANSITIONS = True
# Steps that schedule a normal activity: the old roster / offer codes, and the transitions unless local.
ACTIVITY_STEPS = ("A", "AS", "AU") + (() if LOCAL_TRANSITIONS else TRANSITION_STEPS)


def route_counts(route: str) -> dict[str, int]:
    """Normal activities (ACTIVITY_TASK_SCHEDULED), local activities (core_local_activity markers), signals,
    updates and timers one nomination of this route causes."""
    steps = ROUTE_STEPS[route]
    return {
        "activities": sum(1 for s in steps if s in ACTIVITY_STEPS),
        "local_activities": sum(1 for s in steps if s in LOCAL_STEPS or (LOCAL_TRANSITIONS and s in TRANSITION_STEPS)),
        "signals": sum(1 for s in steps if s in ("S", "SR", "SRT")),
        "updates": sum(1 for s in steps if s in ("U", "UT")),
        "timers": sum(1 for s in steps if s in ("T", "UT", "SRT", "C")),
    }


def ministry_codes(count: int) -> list[str]:
    return [f"BW{i + 1:02d}" for i in range(count)]


def bloc_codes(ministries: int) -> list[str]:
    return [f"KHOI_W{i + 1}" for i in range(max(1, ministries // 3))]


def bloc_of(ministry_index: int, ministries: int) -> str:
    blocs = bloc_codes(ministries)
    return blocs[ministry_index * len(blocs) // ministries]  # contiguous: BW01-BW03, BW04-BW06, ...


def unit_staff(ministry: str) -> str:
    return f"{ministry.lower()}.can-bo"


def secretary(ministry: str) -> str:
    return f"{ministry.lower()}.thu-ky"


def council_members(ministry: str, voters: int) -> list[str]:
    return [f"{ministry.lower()}.uy-vien-{i:02d}" for i in range(voters)]


def bloc_head(bloc: str) -> str:
    return f"{bloc.lower()}.khoi-truong"


def representative(ministry: str) -> str:
    return f"{ministry.lower()}.khoi.dai-dien"


def make_roster(ministries: int, voters: int) -> Roster:
    """Per ministry: unit staff, council secretary, chair and `voters` members, one bloc representative;
    per bloc (three ministries each): the bloc head; the central board's officer and head."""
    codes = ministry_codes(ministries)
    blocs = bloc_codes(ministries)
    members_of = {b: [m for i, m in enumerate(codes) if bloc_of(i, ministries) == b] for b in blocs}

    def actor(actor_id: str, organisation: str, role: str, scope: str) -> dict[str, Any]:
        return {
            "id": actor_id,
            "full_name": f"Cán bộ {actor_id}",
            "email": f"{actor_id}@bench.example.vn",
            "organisation": organisation,
            "roles": [{"role": role, "scope": scope}],
        }

    actors: list[dict[str, Any]] = []
    for i, m in enumerate(codes):
        actors += [
            actor(unit_staff(m), m, "UNIT_STAFF", m),
            actor(secretary(m), m, "COUNCIL_SECRETARY", m),
            actor(f"{m.lower()}.chu-tich", m, "COUNCIL_CHAIR", m),
            actor(representative(m), m, "BLOC_REPRESENTATIVE", bloc_of(i, ministries)),
        ]
        actors += [actor(v, m, "COUNCIL_MEMBER", m) for v in council_members(m, voters)]
    for b in blocs:
        actors.append(actor(bloc_head(b), members_of[b][0], "BLOC_HEAD", b))
    actors += [
        actor(CENTRAL_OFFICER, CENTRAL_SCOPE, "CENTRAL_OFFICER", CENTRAL_SCOPE),
        actor(CENTRAL_HEAD, CENTRAL_SCOPE, "CENTRAL_HEAD", CENTRAL_SCOPE),
    ]
    return Roster.model_validate(
        {
            "blocs": [
                {"code": b, "name": f"Khối thi đua {b} (hư cấu)", "head_ministry": members_of[b][0]} for b in blocs
            ],
            "ministries": [
                {"code": m, "name": f"Bộ {m} (hư cấu)", "bloc": bloc_of(i, ministries)} for i, m in enumerate(codes)
            ],
            "actors": actors,
        }
    )


@dataclass
class Planned:
    index: int
    workflow_id: str
    nomination: Nomination
    ministry: str
    bloc: str
    award_form: str
    authority: Authority
    notice: bool  # starts with the (shortened) public notice
    council_fails: bool
    through_bloc: bool
    # AWARDED / REJECTED; a bloc candidate's is set when its bloc session's ballots are cast.
    expected: Stage | None

    @property
    def route(self) -> str:
        if self.council_fails:
            return "council_rejected"
        if self.through_bloc:
            return "bloc_winner" if self.expected == Stage.AWARDED else "bloc_loser"
        if self.notice:
            return "notice"
        return "central" if self.authority in (Authority.PRIME_MINISTER, Authority.PRESIDENT) else "council"


@dataclass
class WavePlan:
    tag: str
    ministries: list[str]
    blocs: list[str]
    voters: int
    policy_version: str
    items: list[Planned]
    by_id: dict[str, Planned] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {p.workflow_id: p for p in self.items}

    def council_expected(self, ministry: str) -> int:
        return sum(1 for p in self.items if p.ministry == ministry)

    def bloc_expected(self, bloc: str) -> int:
        return sum(1 for p in self.items if p.through_bloc and p.bloc == bloc and not p.council_fails)

    def bloc_quota(self) -> int:
        policy = policy_set(self.policy_version)
        code = policy.form("CO_THI_DUA_CP").bloc_policy
        quota = policy.voting_policies[str(code)].quota if code else None
        return quota or 1

    def raw_routes(self, bloc_cap: int) -> list[str]:
        """The routes of the raw floor: the wave's, with bloc winners as the bloc sessions will pick them
        (quota winners per session; a bloc holds ceil(candidates / cap) sessions)."""
        winners_left = {
            b: min(self.bloc_expected(b), self.bloc_quota() * math.ceil(self.bloc_expected(b) / bloc_cap))
            for b in self.blocs
        }
        routes = []
        for p in self.items:
            if p.through_bloc and not p.council_fails:
                won = winners_left[p.bloc] > 0
                winners_left[p.bloc] -= won
                routes.append("bloc_winner" if won else "bloc_loser")
            else:
                routes.append(p.route)
        return routes

    def route_mix(self) -> Counter[str]:
        return Counter(p.route for p in self.items)


def make_plan(nominations: int, ministries: int, voters: int, tag: str, policy_version: str) -> WavePlan:
    codes = ministry_codes(ministries)
    policy = policy_set(policy_version)
    items = []
    for i in range(nominations):
        slot = i % len(FORM_CYCLE)
        form_code = FORM_CYCLE[slot]
        m_index = (i + i // len(FORM_CYCLE)) % ministries  # every form reaches every ministry
        ministry = codes[m_index]
        data = nomination_data(
            form_code, ministry=ministry, proposer=unit_staff(ministry), reference=f"{tag}-{i:05d}/TTr", year=YEAR
        )
        nomination = Nomination.model_validate(data)
        form = policy.form(form_code)
        through_bloc = Stage.BLOC_VOTE in form.route
        fails = slot == FAIL_SLOT
        items.append(
            Planned(
                index=i,
                workflow_id=workflow_id_for(nomination),
                nomination=nomination,
                ministry=ministry,
                bloc=bloc_of(m_index, ministries),
                award_form=form_code,
                authority=form.decided_by,
                notice=Stage.PUBLIC_NOTICE in form.route,
                council_fails=fails,
                through_bloc=through_bloc,
                expected=Stage.REJECTED if fails else (None if through_bloc else Stage.AWARDED),
            )
        )
    return WavePlan(
        tag=tag,
        ministries=codes,
        blocs=bloc_codes(ministries),
        voters=voters,
        policy_version=policy_version,
        items=items,
    )


def against_count(voters: int) -> int:
    """Members voting against a planned failure: enough to miss the 90 % rule, not everyone."""
    return voters // 10 + 1


def council_ballot(plan: WavePlan, voter_index: int, candidates: list[Candidate]) -> dict[str, Choice]:
    choices = {}
    for c in candidates:
        planned = plan.by_id.get(c.workflow_id)
        against = planned is not None and planned.council_fails and voter_index < against_count(plan.voters)
        choices[c.workflow_id] = Choice.AGAINST if against else Choice.FOR
    return choices


def bloc_winners(candidates: list[Candidate], quota: int) -> list[str]:
    return sorted(c.workflow_id for c in candidates)[:quota]


def bloc_ballot(voter_organisation: str, candidates: list[Candidate], winners: list[str]) -> dict[str, Choice]:
    """FOR the bloc's pick, AGAINST the rest; a member organisation leaves its own candidates off."""
    return {
        c.workflow_id: Choice.FOR if c.workflow_id in winners else Choice.AGAINST
        for c in candidates
        if c.proposing_organisation != voter_organisation
    }


def decision_group(planned: Planned) -> tuple[Authority, str]:
    """Which batch decision a nomination goes on: the minister's (or agency head's) per ministry, the
    Prime Minister's and the President's for everyone."""
    if planned.authority in (Authority.MINISTER, Authority.AGENCY_HEAD):
        return planned.authority, planned.ministry
    return planned.authority, CENTRAL_SCOPE


def decision_clerk(group: tuple[Authority, str]) -> str:
    authority, scope = group
    return secretary(scope) if authority in (Authority.MINISTER, Authority.AGENCY_HEAD) else CENTRAL_OFFICER


BALLOT_KINDS = {Stage.COUNCIL_REVIEW: BallotSessionKind.COUNCIL, Stage.BLOC_VOTE: BallotSessionKind.BLOC}
