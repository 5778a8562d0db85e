"""The pure rules of an electronic secret-ballot session (bỏ phiếu kín).

One set of rules serves a ministry council meeting (Hội đồng TĐKT) and a bloc's year-end vote (Khối thi
đua). The electorate is snapshotted when voting opens; each voter sends one ballot that gives a choice on
every candidate they are not conflicted on, and omits the ones they are. Who voted is known (turnout,
reminders, receipts); what each voted is never exposed here beyond the per-candidate tallies.

Tallies are `domain.voting.Tally` and are evaluated with `domain.voting.evaluate`, so a result computed
from ballots is the same as one recorded by hand from the minutes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.catalog import Fraction, VotingPolicy
from domain.errors import FieldError
from domain.roster import ROLE_LABELS_VI, Actor, Role, RosterSnapshot
from domain.stages import Stage
from domain.voting import Tally, VoteOutcome, VoteResult, evaluate, tally_errors


class Choice(StrEnum):
    FOR = "FOR"
    AGAINST = "AGAINST"
    ABSTAIN = "ABSTAIN"


class BallotSessionKind(StrEnum):
    COUNCIL = "COUNCIL"  # one ballot per council member
    BLOC = "BLOC"  # one ballot per member organisation of the bloc


# The nomination stage each kind of session votes on, and who votes there: the council's members (its
# secretaries record the session and never vote in it, even when they also sit on the council) or one
# representative per member organisation of the bloc.
STAGE_OF_KIND = {BallotSessionKind.COUNCIL: Stage.COUNCIL_REVIEW, BallotSessionKind.BLOC: Stage.BLOC_VOTE}
KIND_AT_STAGE = {stage: kind for kind, stage in STAGE_OF_KIND.items()}
VOTER_ROLE = {BallotSessionKind.COUNCIL: Role.COUNCIL_MEMBER, BallotSessionKind.BLOC: Role.BLOC_REPRESENTATIVE}
RECORDER_ROLE = {BallotSessionKind.COUNCIL: Role.COUNCIL_SECRETARY}


def voting_members(snapshot: RosterSnapshot, stage: Stage) -> list[Actor]:
    """Who the roster seats on the body that votes at this stage (VOTER_ROLE less RECORDER_ROLE)."""
    kind = KIND_AT_STAGE.get(stage)
    if kind == BallotSessionKind.COUNCIL:
        scope = snapshot.ministry.code
    elif kind == BallotSessionKind.BLOC and snapshot.bloc is not None:
        scope = snapshot.bloc.code
    else:
        return []
    recorder = RECORDER_ROLE.get(kind)
    return [a for a in snapshot.holders(VOTER_ROLE[kind], scope) if recorder is None or not a.holds(recorder, scope)]


def voting_body_vi(snapshot: RosterSnapshot, stage: Stage) -> str:
    """The body that votes at this stage, as a refusal names it."""
    if stage == Stage.BLOC_VOTE:
        return f"bloc {snapshot.bloc.code if snapshot.bloc else '?'} (Khối thi đua)"
    return f"the council of {snapshot.ministry.code} (Hội đồng TĐKT)"


def meeting_count_errors(
    snapshot: RosterSnapshot,
    stage: Stage,
    *,
    members: int,
    present: int,
    votes_for: int,
    votes_against: int,
    written: int = 0,
) -> list[FieldError]:
    """Why a typed-in meeting's counts cannot be this body's, each naming its field (tally.members, ...), or
    [] when they fit: the member count is exactly the voting members the roster seats on the body, and the
    counts fit each other (domain.voting.tally_errors). The CLI and the API ask before sending (from the
    database's roster); the workflow's validator asks again (from the roster it holds)."""
    return tally_errors(
        members,
        present,
        votes_for,
        votes_against,
        written,
        seats=len(voting_members(snapshot, stage)),
        body=voting_body_vi(snapshot, stage),
    )


class ConflictRule(StrEnum):
    NOMINEE_ONLY = "NOMINEE_ONLY"  # the nominee does not vote on their own nomination
    NOMINEE_AND_UNIT = "NOMINEE_AND_UNIT"  # nor does anyone from the proposing organisation


def natural_conflict_rule(kind: BallotSessionKind) -> ConflictRule:
    """The usual rule for a kind of session: in a bloc a member organisation does not vote on its own
    candidate; a council excludes only the nominee unless its own rules say otherwise."""
    return ConflictRule.NOMINEE_AND_UNIT if kind == BallotSessionKind.BLOC else ConflictRule.NOMINEE_ONLY


# Who may open a session (any one of these roles, in the session's scope): the council's secretary or chair
# for a ministry council meeting, the bloc head for a bloc's vote.
OPENER_ROLES: dict[BallotSessionKind, tuple[Role, ...]] = {
    BallotSessionKind.COUNCIL: (Role.COUNCIL_SECRETARY, Role.COUNCIL_CHAIR),
    BallotSessionKind.BLOC: (Role.BLOC_HEAD,),
}


def opener_error(snapshot: RosterSnapshot, kind: BallotSessionKind, scope: str, actor_id: str) -> str | None:
    """Why this actor may not open a session of this kind and scope, or None when they may. `snapshot` is
    the roster of the session's ministry (for a bloc, of its head ministry, which holds the bloc's roles)."""
    roles = OPENER_ROLES[kind]
    actor = snapshot.actor(actor_id)
    if actor is not None and any(actor.holds(role, scope) for role in roles):
        return None
    needed = " or ".join(f"{role.value} for {scope} ({ROLE_LABELS_VI[role]})" for role in roles)
    return f"actor {actor_id!r} may not open a {kind.value} ballot session of {scope}: needs role {needed}"


class Voter(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(min_length=1)
    organisation: str = Field(min_length=1)


class Electorate(BaseModel):
    """Who may vote, snapshotted when voting opens. In a BLOC session each voter stands for one member
    organisation."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    voters: tuple[Voter, ...] = Field(min_length=1, max_length=1000)
    kind: BallotSessionKind = BallotSessionKind.COUNCIL

    @model_validator(mode="after")
    def _one_ballot_each(self) -> Electorate:
        seen_ids: set[str] = set()
        seen_orgs: dict[str, str] = {}
        for v in self.voters:
            if v.id in seen_ids:
                raise ValueError(f"voter {v.id!r} appears more than once in the electorate")
            seen_ids.add(v.id)
            if self.kind == BallotSessionKind.BLOC:
                if v.organisation in seen_orgs:
                    raise ValueError(
                        f"organisation {v.organisation!r} has two voters ({seen_orgs[v.organisation]!r} "
                        f"and {v.id!r}); a bloc vote has one ballot per member organisation"
                    )
                seen_orgs[v.organisation] = v.id
        return self

    @property
    def size(self) -> int:
        return len(self.voters)

    def voter(self, voter_id: str) -> Voter | None:
        return next((v for v in self.voters if v.id == voter_id), None)

    def ids(self) -> frozenset[str]:
        return frozenset(v.id for v in self.voters)


class Candidate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    workflow_id: str = Field(min_length=1)
    award_form: str = Field(min_length=1)
    nominee_name: str = Field(min_length=1)
    nominee_actor_id: str | None = None  # set when the nominee is a person who may also be a voter
    proposing_organisation: str = Field(min_length=1)
    # Separation of duties: whoever proposed the nomination does not vote on it.
    proposer_actor_id: str | None = None

    def label(self) -> str:
        return f"{self.workflow_id} ({self.nominee_name})"


class Ballot(BaseModel):
    """One voter's choices, keyed by candidate workflow_id. Conflicted candidates are omitted."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    voter_id: str = Field(min_length=1)
    choices: dict[str, Choice]


def conflicted(voter: Voter, candidate: Candidate, rule: ConflictRule = ConflictRule.NOMINEE_ONLY) -> bool:
    """Whether the voter must not vote on this candidate."""
    if voter.id in (candidate.nominee_actor_id, candidate.proposer_actor_id):
        return True
    return rule == ConflictRule.NOMINEE_AND_UNIT and voter.organisation == candidate.proposing_organisation


def _conflict_reason(voter: Voter, candidate: Candidate) -> str:
    if candidate.nominee_actor_id is not None and voter.id == candidate.nominee_actor_id:
        return "they are the nominee"
    if candidate.proposer_actor_id is not None and voter.id == candidate.proposer_actor_id:
        return "they proposed it"
    return f"their organisation {voter.organisation!r} proposed the candidate"


def _candidate_index(candidates: Sequence[Candidate]) -> dict[str, Candidate]:
    index: dict[str, Candidate] = {}
    for c in candidates:
        if c.workflow_id in index:
            raise ValueError(f"candidate {c.workflow_id!r} appears more than once in the session")
        index[c.workflow_id] = c
    return index


def session_errors(
    electorate: Electorate, candidates: Sequence[Candidate], rule: ConflictRule = ConflictRule.NOMINEE_ONLY
) -> list[str]:
    """What is wrong with a session before it opens: duplicate candidates, or a candidate that no voter
    may vote on (every voter conflicted), which could never be counted."""
    errors = []
    seen: set[str] = set()
    for c in candidates:
        if c.workflow_id in seen:
            errors.append(f"candidate {c.workflow_id!r} appears more than once in the session")
        seen.add(c.workflow_id)
        if all(conflicted(v, c, rule) for v in electorate.voters):
            errors.append(f"no voter may vote on candidate {c.label()}: every voter is conflicted under {rule.value}")
    return errors


def live_candidates(candidates: Sequence[Candidate], struck: Collection[str] = ()) -> list[Candidate]:
    """The candidates still on the list: those not struck from it (in list order)."""
    gone = set(struck)
    return [c for c in candidates if c.workflow_id not in gone]


def void_struck(ballot: Ballot, struck: Collection[str]) -> Ballot:
    """The ballot without its choices on struck candidates: those choices are void, never counted."""
    gone = set(struck)
    if not gone & ballot.choices.keys():
        return ballot
    return Ballot(voter_id=ballot.voter_id, choices={wf: c for wf, c in ballot.choices.items() if wf not in gone})


def ballot_errors(
    ballot: Ballot,
    electorate: Electorate,
    candidates: Sequence[Candidate],
    rule: ConflictRule = ConflictRule.NOMINEE_ONLY,
    already_voted: bool = False,
    amend_allowed: bool = False,
    struck: Collection[str] = (),
) -> list[str]:
    """Why this ballot cannot be accepted; empty when it can. The messages never repeat a choice.

    A struck candidate (one that left the list while voting was open) is neither required nor refused: a
    ballot may omit it, and a choice on it is accepted and void."""
    voter = electorate.voter(ballot.voter_id)
    if voter is None:
        return [f"voter {ballot.voter_id!r} is not in this session's electorate"]
    if struck:
        ballot, candidates = void_struck(ballot, struck), live_candidates(candidates, struck)
    errors = []
    if already_voted and not amend_allowed:
        errors.append(f"voter {voter.id!r} has already cast a ballot and this session does not allow amending it")
    index = _candidate_index(candidates)
    invented = [wf for wf in ballot.choices if wf not in index]
    if invented:
        errors.append(
            f"ballot from {voter.id!r} names candidate(s) not on this session's list: "
            + ", ".join(repr(wf) for wf in invented)
        )
    barred = [c for c in candidates if c.workflow_id in ballot.choices and conflicted(voter, c, rule)]
    for c in barred:
        errors.append(
            f"voter {voter.id!r} may not vote on candidate {c.label()} because "
            f"{_conflict_reason(voter, c)}; omit it from the ballot"
        )
    missing = [c for c in candidates if c.workflow_id not in ballot.choices and not conflicted(voter, c, rule)]
    if missing:
        errors.append(
            f"ballot from {voter.id!r} has no choice for candidate(s): " + ", ".join(c.label() for c in missing)
        )
    return errors


def receipt_counted(receipt: str, counted_receipts: Iterable[str]) -> bool:
    """Whether a voter's receipt is among the receipts of the ballots that were counted."""
    wanted = receipt.strip().lower()
    return any(wanted == r.strip().lower() for r in counted_receipts)


class ReceiptState(StrEnum):
    COUNTED = "COUNTED"
    SPOILED = "SPOILED"  # the ballot arrived but its sealed content did not open: not counted
    NOT_FOUND = "NOT_FOUND"  # no ballot of this session issued this receipt
    SESSION_NOT_CLOSED = "SESSION_NOT_CLOSED"  # receipts are published when the count is done


def receipt_state(
    receipt: str, counted_receipts: Iterable[str] | None, spoiled_receipts: Iterable[str] | None
) -> ReceiptState:
    """What became of the ballot behind a receipt; `counted_receipts` None while the session is open."""
    if counted_receipts is None:
        return ReceiptState.SESSION_NOT_CLOSED
    if receipt_counted(receipt, counted_receipts):
        return ReceiptState.COUNTED
    if receipt_counted(receipt, spoiled_receipts or ()):
        return ReceiptState.SPOILED
    return ReceiptState.NOT_FOUND


def count(
    ballots: Iterable[Ballot],
    candidates: Sequence[Candidate],
    electorate: Electorate,
    rule: ConflictRule = ConflictRule.NOMINEE_ONLY,
    struck: Collection[str] = (),
) -> dict[str, Tally]:
    """Tally each candidate still on the list: members are the voters not conflicted on it, present the
    ballots cast by them; abstaining is what remains. Struck candidates get no tally and every choice on
    them is void, whenever the ballot was cast. Pass at most one (the latest) ballot per voter; an invalid
    ballot is a caller error and raises ValueError."""
    _candidate_index(candidates)  # duplicates are refused, struck or not
    candidates = live_candidates(candidates, struck)
    index = _candidate_index(candidates)
    by_voter: dict[str, Ballot] = {}
    for ballot in (void_struck(b, struck) for b in ballots):
        if ballot.voter_id in by_voter:
            raise ValueError(f"two ballots from voter {ballot.voter_id!r}; count only the latest one")
        problems = ballot_errors(ballot, electorate, candidates, rule)
        if problems:
            raise ValueError("; ".join(problems))
        by_voter[ballot.voter_id] = ballot
    tallies: dict[str, Tally] = {}
    for wf, candidate in index.items():
        eligible = [v for v in electorate.voters if not conflicted(v, candidate, rule)]
        if not eligible:
            raise ValueError(
                f"no voter may vote on candidate {candidate.label()}: every voter is conflicted under {rule.value}"
            )
        choices = [by_voter[v.id].choices[wf] for v in eligible if v.id in by_voter]
        tallies[wf] = Tally(
            members=len(eligible),
            present=len(choices),
            votes_for=sum(1 for c in choices if c == Choice.FOR),
            votes_against=sum(1 for c in choices if c == Choice.AGAINST),
        )
    return tallies


# ---- anonymous ballots ---------------------------------------------------------------------------------
# A cast ballot names no voter: it shows it comes from the electorate by a one-time credential, and carries
# its voter's conflict class sealed inside. Its plain shape is the same for every voter: one sealed entry per
# candidate on the round's list (a recusal is sealed like a choice), so the shape never reveals the class.

# What an opened ballot says of one candidate: a choice, or None for a recusal (sealed RECUSE).
OpenedChoices = Mapping[str, Choice | None]


def ballot_shape_errors(covered: Collection[str], candidates: Sequence[str], struck: Collection[str] = ()) -> list[str]:
    """Why a sealed ballot's shape does not fit the round (naming `ballot.sealed_choices`), or []: it covers
    every candidate (workflow id) still on the list and nothing else; a struck one may be covered or left out."""
    gone = set(struck)
    live = set(candidates) - gone
    named = set(covered) - gone
    errors = []
    invented = sorted(named - live)
    if invented:
        errors.append(
            "ballot.sealed_choices: names candidate(s) not on this round's list: " + ", ".join(map(repr, invented))
        )
    missing = sorted(live - named)
    if missing:
        errors.append("ballot.sealed_choices: has no sealed entry for candidate(s): " + ", ".join(map(repr, missing)))
    return errors


def opened_ballot_errors(
    choices: OpenedChoices, excluded: Collection[str], candidates: Sequence[str], struck: Collection[str] = ()
) -> list[str]:
    """Why an opened ballot is spoiled, or [] when it counts. Its class's `excluded` candidates must be
    RECUSE, every other live candidate must hold a choice; struck candidates are void either way. The messages
    never repeat a choice."""
    errors = ballot_shape_errors(choices.keys(), candidates, struck)
    barred, gone = set(excluded), set(struck)
    for wf in candidates:
        if wf in gone or wf not in choices:
            continue
        if wf in barred and choices[wf] is not None:
            errors.append(f"candidate {wf!r} is excluded for the ballot's conflict class but holds a choice")
        elif wf not in barred and choices[wf] is None:
            errors.append(f"candidate {wf!r} is marked RECUSE but the ballot's conflict class may vote on it")
    return errors


def eligible_members(
    electorate: Electorate, candidates: Sequence[Candidate], rule: ConflictRule = ConflictRule.NOMINEE_ONLY
) -> dict[str, int]:
    """Per candidate (workflow id), how many voters may vote on it: the members its tally is counted against.
    ValueError for a candidate no voter may vote on (it could never be counted)."""
    members: dict[str, int] = {}
    for wf, candidate in _candidate_index(candidates).items():
        members[wf] = sum(1 for v in electorate.voters if not conflicted(v, candidate, rule))
        if not members[wf]:
            raise ValueError(
                f"no voter may vote on candidate {candidate.label()}: every voter is conflicted under {rule.value}"
            )
    return members


def count_opened(
    ballots: Iterable[OpenedChoices], members: Mapping[str, int], struck: Collection[str] = ()
) -> dict[str, Tally]:
    """Tally each candidate still on the list from opened anonymous ballots (each already checked with
    opened_ballot_errors): `members` its voters (eligible_members), present the ballots with a choice on it,
    abstaining the rest of those. Struck candidates get no tally. The count never needs to know who voted."""
    opened = list(ballots)
    gone = set(struck)
    tallies: dict[str, Tally] = {}
    for wf, eligible in members.items():
        if wf in gone:
            continue
        choices = [b[wf] for b in opened if b.get(wf) is not None]
        tallies[wf] = Tally(
            members=eligible,
            present=len(choices),
            votes_for=sum(1 for c in choices if c == Choice.FOR),
            votes_against=sum(1 for c in choices if c == Choice.AGAINST),
        )
    return tallies


class Turnout(BaseModel):
    """What may be shown while voting is open: how many voted, never what."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    eligible: int = Field(ge=1)
    voted: int = Field(ge=0)
    quorum_met: bool

    @model_validator(mode="after")
    def _bounded(self) -> Turnout:
        if self.voted > self.eligible:
            raise ValueError(f"voted ({self.voted}) cannot exceed eligible ({self.eligible})")
        return self


def turnout(electorate: Electorate, voted_ids: Iterable[str], quorum: Fraction) -> Turnout:
    """The session's turnout against a quorum rule (the policy's `quorum`)."""
    voted = set(voted_ids)
    strangers = sorted(voted - electorate.ids())
    if strangers:
        raise ValueError("not in the electorate: " + ", ".join(repr(s) for s in strangers))
    return Turnout(eligible=electorate.size, voted=len(voted), quorum_met=quorum.met_by(len(voted), electorate.size))


def ballot_turnout(electorate: Electorate, ballots: int, quorum: Fraction) -> Turnout:
    """The turnout of anonymous ballots: how many counted ballots were cast, against the electorate."""
    if ballots < 0 or ballots > electorate.size:
        raise ValueError(f"{ballots} ballots do not fit an electorate of {electorate.size}")
    return Turnout(eligible=electorate.size, voted=ballots, quorum_met=quorum.met_by(ballots, electorate.size))


def _session_no_quorum(session: Turnout | None, policy: VotingPolicy) -> VoteOutcome | None:
    """evaluate()'s NO_QUORUM outcome for the whole session, or None when the session is quorate."""
    if session is None:
        return None
    outcome = evaluate(Tally(members=session.eligible, present=session.voted, votes_for=0, votes_against=0), policy)
    return outcome if outcome.result == VoteResult.NO_QUORUM else None


def council_outcomes(
    tallies: Mapping[str, Tally],
    candidates: Sequence[Candidate],
    policy_for: Callable[[Candidate], VotingPolicy],
    session: Turnout | None = None,
) -> dict[str, VoteOutcome]:
    """Each candidate's outcome under its own policy. When `session` is given and the session's turnout
    misses a policy's quorum, every candidate under that policy is NO_QUORUM."""
    outcomes: dict[str, VoteOutcome] = {}
    for wf, candidate in _candidate_index(candidates).items():
        if wf not in tallies:
            raise ValueError(f"no tally for candidate {candidate.label()}")
        policy = policy_for(candidate)
        outcomes[wf] = _session_no_quorum(session, policy) or evaluate(tallies[wf], policy)
    extra = sorted(set(tallies) - {c.workflow_id for c in candidates})
    if extra:
        raise ValueError("tallies for unknown candidate(s): " + ", ".join(repr(wf) for wf in extra))
    return outcomes


class BlocRanking(BaseModel):
    """The bloc's result. `winners` are clear winners; when a tie straddles the quota boundary, `tied`
    holds every candidate on the boundary count and `seats_left` (< len(tied)) seats remain for a runoff
    among them or the bloc head's recorded decision. Nothing is ever broken silently."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    quota: int = Field(ge=1)
    winners: list[str]
    tied: list[str] = Field(default_factory=list)
    seats_left: int = Field(default=0, ge=0)
    losers: list[str] = Field(default_factory=list)
    quorum_met: bool = True
    outcomes: dict[str, VoteOutcome] = Field(default_factory=dict)
    head_decision: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> BlocRanking:
        groups = [*self.winners, *self.tied, *self.losers]
        if len(groups) != len(set(groups)):
            raise ValueError("a candidate appears in more than one of winners, tied and losers")
        if bool(self.tied) != (self.seats_left > 0):
            raise ValueError("seats_left is set exactly when there is a tie to resolve")
        if self.tied and self.seats_left >= len(self.tied):
            raise ValueError(f"{len(self.tied)} tied for {self.seats_left} seat(s) is not a tie")
        if len(self.winners) + self.seats_left > self.quota:
            raise ValueError(f"more than {self.quota} seat(s) filled or open")
        if not set(self.head_decision) <= set(self.winners):
            raise ValueError("the head's decision must be among the winners")
        return self

    @property
    def needs_runoff(self) -> bool:
        return bool(self.tied)


def rank_bloc(
    tallies: Mapping[str, Tally],
    candidates: Sequence[Candidate],
    policy: VotingPolicy,
    session: Turnout | None = None,
    seats: int | None = None,
) -> BlocRanking:
    """Rank the candidates that pass the policy by votes in favour; the top `seats` (default the
    policy's quota, else 1) win. A tie across the boundary is reported in `tied`, never broken.

    For a runoff, open a new session with `runoff_candidates(...)` and rank it with
    `seats=ranking.seats_left`; the policy's threshold applies again."""
    quota = seats if seats is not None else bloc_quota(policy)
    if quota < 1:
        raise ValueError(f"a bloc vote needs at least one seat, got quota {quota}")
    index = _candidate_index(candidates)
    missing = [c.label() for c in candidates if c.workflow_id not in tallies]
    if missing:
        raise ValueError("no tally for candidate(s): " + ", ".join(missing))
    extra = sorted(set(tallies) - set(index))
    if extra:
        raise ValueError("tallies for unknown candidate(s): " + ", ".join(repr(wf) for wf in extra))
    order = {wf: i for i, wf in enumerate(index)}

    def by_votes(wf: str) -> tuple[int, int]:
        return (-tallies[wf].votes_for, order[wf])

    no_quorum = _session_no_quorum(session, policy)
    if no_quorum is not None:
        return BlocRanking(
            quota=quota,
            winners=[],
            losers=sorted(index, key=by_votes),
            quorum_met=False,
            outcomes=dict.fromkeys(index, no_quorum),
        )
    outcomes = {wf: evaluate(tallies[wf], policy) for wf in index}
    passing = sorted((wf for wf in index if outcomes[wf].result == VoteResult.PASSED), key=by_votes)
    failing = sorted((wf for wf in index if outcomes[wf].result != VoteResult.PASSED), key=by_votes)
    if len(passing) <= quota:
        return BlocRanking(quota=quota, winners=passing, losers=failing, outcomes=outcomes)
    boundary = tallies[passing[quota - 1]].votes_for
    if tallies[passing[quota]].votes_for != boundary:
        return BlocRanking(
            quota=quota,
            winners=passing[:quota],
            losers=sorted([*passing[quota:], *failing], key=by_votes),
            outcomes=outcomes,
        )
    winners = [wf for wf in passing if tallies[wf].votes_for > boundary]
    tied = [wf for wf in passing if tallies[wf].votes_for == boundary]
    below = [wf for wf in passing if tallies[wf].votes_for < boundary]
    return BlocRanking(
        quota=quota,
        winners=winners,
        tied=tied,
        seats_left=quota - len(winners),
        losers=sorted([*below, *failing], key=by_votes),
        outcomes=outcomes,
    )


def runoff_candidates(ranking: BlocRanking, candidates: Sequence[Candidate]) -> list[Candidate]:
    """The candidates to put on a runoff ballot (those tied at the boundary), in session order."""
    if not ranking.tied:
        raise ValueError("there is no tie to run off")
    index = _candidate_index(candidates)
    unknown = [wf for wf in ranking.tied if wf not in index]
    if unknown:
        raise ValueError("tied candidate(s) not in the list: " + ", ".join(repr(wf) for wf in unknown))
    tied = set(ranking.tied)
    return [c for c in candidates if c.workflow_id in tied]


def resolve_with_head_decision(ranking: BlocRanking, chosen: Sequence[str]) -> BlocRanking:
    """Record the bloc head's decision on a boundary tie: exactly `seats_left` distinct candidates among
    the tied. The rest of the tied become losers; the decision is kept in `head_decision`."""
    if not ranking.tied:
        raise ValueError("there is no tie for the bloc head to decide")
    errors = []
    duplicates = sorted({wf for wf in chosen if list(chosen).count(wf) > 1})
    if duplicates:
        errors.append("chosen more than once: " + ", ".join(repr(wf) for wf in duplicates))
    outside = [wf for wf in dict.fromkeys(chosen) if wf not in ranking.tied]
    if outside:
        errors.append("not among the tied candidates: " + ", ".join(repr(wf) for wf in outside))
    distinct = len(set(chosen))
    if distinct != ranking.seats_left:
        errors.append(
            f"the bloc head must choose exactly {ranking.seats_left} of the tied candidates "
            f"({', '.join(ranking.tied)}), got {distinct}"
        )
    if errors:
        raise ValueError("; ".join(errors))
    picked = [wf for wf in ranking.tied if wf in set(chosen)]
    return ranking.model_copy(
        update={
            "winners": [*ranking.winners, *picked],
            "tied": [],
            "seats_left": 0,
            "losers": [*[wf for wf in ranking.tied if wf not in set(chosen)], *ranking.losers],
            "head_decision": picked,
        }
    )


def tie_decision_errors(ranking: BlocRanking, chosen: Sequence[str]) -> list[str]:
    """Why the bloc head's choice cannot settle this tie (empty when it can); each message names `choose`."""
    try:
        resolve_with_head_decision(ranking, chosen)
    except ValueError as err:
        return [f"choose: {problem}" for problem in str(err).split("; ")]
    return []


def runoffs_exhausted(ranking: BlocRanking, policy: VotingPolicy, runoffs_held: int) -> bool:
    """Whether a boundary tie now goes to the bloc head: the policy's runoff rounds have all been held."""
    return ranking.needs_runoff and runoffs_held >= policy.max_runoff_rounds


def head_decision_pending(ranking: BlocRanking) -> dict[str, VoteOutcome]:
    """How the minutes record the tied candidates of a round when no runoff is left: the bloc head decides."""
    return {
        wf: ranking.outcomes[wf].model_copy(
            update={
                "reason_vi": f"{ranking.outcomes[wf].reason_vi}; bằng phiếu tại vị trí cuối chỉ tiêu, "
                "chờ Trưởng Khối quyết định"
            }
        )
        for wf in ranking.tied
    }


def head_decision_verdicts(ranking: BlocRanking, chosen: Sequence[str]) -> dict[str, VoteOutcome]:
    """The outcome of each tied candidate once the bloc head has decided (ValueError if the choice is not
    exactly `seats_left` distinct tied candidates): the chosen PASS, the others FAIL, both saying why."""
    resolved = resolve_with_head_decision(ranking, chosen)
    verdicts = bloc_verdicts(resolved)
    picked = set(resolved.head_decision)
    decided: dict[str, VoteOutcome] = {}
    for wf in ranking.tied:
        note = "được Trưởng Khối chọn" if wf in picked else "không được Trưởng Khối chọn"
        outcome = verdicts[wf]
        decided[wf] = outcome.model_copy(
            update={"reason_vi": f"{outcome.reason_vi}; bằng phiếu tại vị trí cuối chỉ tiêu, {note}"}
        )
    return decided


def bloc_verdicts(ranking: BlocRanking) -> dict[str, VoteOutcome]:
    """The final outcome of each decided candidate: winners PASSED; every loser FAILED, including one that
    met the threshold but ranked below the quota. Tied candidates are left out until their runoff."""
    verdicts: dict[str, VoteOutcome] = {}
    for wf in ranking.winners:
        base = ranking.outcomes[wf]
        verdicts[wf] = base.model_copy(
            update={"reason_vi": f"{base.reason_vi}; được suy tôn trong chỉ tiêu {ranking.quota}"}
        )
    for wf in ranking.losers:
        base = ranking.outcomes[wf]
        if base.result == VoteResult.PASSED:
            base = base.model_copy(
                update={
                    "result": VoteResult.FAILED,
                    "reason_vi": f"{base.reason_vi}; nhưng xếp ngoài chỉ tiêu {ranking.quota} của Khối",
                }
            )
        verdicts[wf] = base
    return verdicts


def runoff_pending(ranking: BlocRanking) -> dict[str, VoteOutcome]:
    """How the minutes record the tied candidates of a round: undecided, going to a runoff."""
    return {
        wf: ranking.outcomes[wf].model_copy(
            update={
                "reason_vi": f"{ranking.outcomes[wf].reason_vi}; bằng phiếu tại vị trí cuối chỉ tiêu, bỏ phiếu vòng hai"
            }
        )
        for wf in ranking.tied
    }


# ---- leaving the list --------------------------------------------------------------------------------
# A nomination is on at most one open session's list. When it leaves its council or bloc stage by anything
# other than that session's own verdict (withdrawn, returned, rejected, a typed-in result...), it leaves the
# list: while the list is being collected it is simply taken off; once voting has opened it is struck — shown
# struck out with the reason, every choice on it void, no tally, no result and no verdict.


def leaving_reason_vi(to_stage: Stage, outcome_vi: str) -> str:
    """Why a nomination left a list, as voters and the minutes read it."""
    return f"hồ sơ đã chuyển sang «{to_stage.label_vi}» ({outcome_vi})"


def struck_reason_vi(reason_vi: str) -> str:
    """The minutes' reason for a struck candidate: withdrawn from the list, never a result."""
    return f"Rút khỏi danh sách bỏ phiếu: {reason_vi}; các phiếu đã bỏ cho hồ sơ này không được tính"


def struck_tally(candidate: Candidate, electorate: Electorate, rule: ConflictRule) -> Tally:
    """What the minutes show of a struck candidate's count: its members, and nothing counted."""
    eligible = sum(1 for v in electorate.voters if not conflicted(v, candidate, rule))
    return Tally(members=max(eligible, 1), present=0, votes_for=0, votes_against=0)


def bloc_quota(policy: VotingPolicy) -> int:
    """How many candidates a bloc vote honours (the policy's quota, else one)."""
    return policy.quota if policy.quota is not None else 1


def runoff_seats(quota: int, earlier_winners: Iterable[str], struck: Collection[str] = ()) -> int:
    """The seats a runoff round fills: the quota less the earlier rounds' winners still on the list (a struck
    winner is out of the quota: its seat goes back to the vote). Never below one."""
    gone = set(struck)
    return max(quota - sum(1 for wf in earlier_winners if wf not in gone), 1)
