"""The state of one secret-ballot session and the rules that read it.

`SessionState` is everything the session workflow keeps: its phase, list, electorate, the current round
(`Round`), the counting committee's shares, the candidates struck from the list, the results so far and the
people's actions waiting to be audited. Its methods are the session's rules: which phase may follow which
(`PHASE_MOVES`), who may do what in which phase (`ACTS`), when a round's voting is over, the quorum, the
bloc ranking among the candidates still on the list, and what the minutes say. All pure: the workflow
(workflows/ballot_session.py) runs the procedure over one SessionState and does the I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.ballot_messages import (
    AnonymousBallot,
    BallotVerdict,
    CountRequest,
    CountResult,
    CredentialIssue,
    CredentialRequest,
    HeadDecision,
    KeyShare,
    ListLeaving,
    MinutesAmendment,
    MinutesEntry,
    MinutesResult,
    Participation,
    SessionAction,
    SessionActionKind,
    SessionKeys,
    SessionMinutes,
    SessionPhase,
    SessionRow,
    SessionStart,
    SessionStatus,
    ShareHandIn,
    StruckCandidate,
    TieDecision,
    TieDecisionRecord,
)
from domain.ballot_notices import session_label_vi
from domain.ballots import (
    BallotSessionKind,
    BlocRanking,
    Candidate,
    ConflictRule,
    Electorate,
    Turnout,
    ballot_turnout,
    bloc_quota,
    bloc_verdicts,
    conflicted,
    eligible_members,
    live_candidates,
    natural_conflict_rule,
    opener_error,
    rank_bloc,
    runoff_seats,
    struck_reason_vi,
    struck_tally,
    tie_decision_errors,
)
from domain.catalog import PolicySet, VotingPolicy
from domain.committee import committee_errors, default_committee, share_index
from domain.roster import Role, RosterSnapshot
from domain.voting import Tally, VoteOutcome, VoteResult

P = SessionPhase

# Which phase may follow which. VOTING follows VOTING when a runoff opens on a count that needed no new
# shares (they were handed in for round 1); CLOSED and CANCELLED are final.
PHASE_MOVES: Mapping[SessionPhase, frozenset[SessionPhase]] = {
    P.COLLECTING: frozenset({P.VOTING, P.CANCELLED}),
    P.VOTING: frozenset({P.VOTING, P.AWAITING_CHAIR, P.AWAITING_COUNT, P.AWAITING_HEAD, P.CLOSED, P.CANCELLED}),
    P.AWAITING_CHAIR: frozenset({P.VOTING, P.CANCELLED}),
    P.AWAITING_COUNT: frozenset({P.VOTING, P.AWAITING_HEAD, P.CLOSED, P.CANCELLED}),
    P.AWAITING_HEAD: frozenset({P.CLOSED, P.CANCELLED}),
    P.CLOSED: frozenset(),
    P.CANCELLED: frozenset(),
}
ENDED = frozenset({P.CLOSED, P.CANCELLED})


class OfferAnswer(StrEnum):
    """What a session does with a nomination's offer to join its list."""

    LIST = "LIST"  # it joins (or is listed already: told once, when it joined)
    LET_GO_AT_OPENING = "LET_GO_AT_OPENING"  # the list is closing: its claim goes with the others as voting opens
    REFUSE = "REFUSE"  # voting has opened, or the session ended: let go now, and told to offer elsewhere


class SessionAct(StrEnum):
    """What may be asked of a session (its updates)."""

    JOIN_LIST = "JOIN_LIST"
    CLOSE_LIST = "CLOSE_LIST"
    REQUEST_CREDENTIAL = "REQUEST_CREDENTIAL"
    CAST_BALLOT = "CAST_BALLOT"
    CLOSE_VOTING = "CLOSE_VOTING"
    EXTEND = "EXTEND"
    HAND_IN_SHARE = "HAND_IN_SHARE"
    DECIDE_TIE = "DECIDE_TIE"
    CANCEL = "CANCEL"


@dataclass(frozen=True)
class ActRule:
    phases: frozenset[SessionPhase]  # the phases it may happen in
    refusal: str  # why not, in any other phase ({phase}: the session's)
    roles: Mapping[BallotSessionKind, Role] | None = None  # who may, by the session's kind (None: no role)
    what: str = ""  # the act, as a refusal to an actor without the role names it


LIST_KEEPER = {BallotSessionKind.COUNCIL: Role.COUNCIL_SECRETARY, BallotSessionKind.BLOC: Role.BLOC_HEAD}
CHAIR = {BallotSessionKind.COUNCIL: Role.COUNCIL_CHAIR, BallotSessionKind.BLOC: Role.BLOC_HEAD}
TIE_DECIDER = {BallotSessionKind.BLOC: Role.BLOC_HEAD}  # a council never ranks: it has no tie to decide

ACTS: Mapping[SessionAct, ActRule] = {
    SessionAct.JOIN_LIST: ActRule(frozenset({P.COLLECTING}), "the list is closed; the session is {phase}"),
    SessionAct.CLOSE_LIST: ActRule(
        frozenset({P.COLLECTING}),
        "the list can only be closed while COLLECTING; the session is {phase}",
        LIST_KEEPER,
        "close the list",
    ),
    SessionAct.REQUEST_CREDENTIAL: ActRule(
        frozenset({P.VOTING}), "ballot credentials are given only while VOTING; the session is {phase}"
    ),
    SessionAct.CAST_BALLOT: ActRule(
        frozenset({P.VOTING}), "ballots are accepted only while VOTING; the session is {phase}"
    ),
    SessionAct.CLOSE_VOTING: ActRule(
        frozenset({P.VOTING}),
        "voting can only be closed while VOTING; the session is {phase}",
        CHAIR,
        "close the voting",
    ),
    SessionAct.EXTEND: ActRule(
        frozenset({P.VOTING, P.AWAITING_CHAIR}),
        "only a session that is voting can be extended; the session is {phase}",
        CHAIR,
        "extend the deadline",
    ),
    SessionAct.HAND_IN_SHARE: ActRule(
        frozenset({P.AWAITING_COUNT}), "shares are handed in only while AWAITING_COUNT; the session is {phase}"
    ),
    SessionAct.DECIDE_TIE: ActRule(
        frozenset({P.AWAITING_HEAD}),
        "a tie is decided only while it awaits the bloc head's decision (AWAITING_HEAD); the session is {phase}",
        TIE_DECIDER,
        "decide the tie",
    ),
    SessionAct.CANCEL: ActRule(
        frozenset(PHASE_MOVES) - ENDED, "the session has ended ({phase})", CHAIR, "cancel the session"
    ),
}


class ClosedListClaim(BaseModel):
    """What a closed list's session took up as it opened: the named nominations it now holds, and why each
    other named one could not be taken (unknown, not waiting at the stage, held by another open session)."""

    candidates: list[Candidate] = Field(default_factory=list)
    refused: dict[str, str] = Field(default_factory=dict)


def closed_list_refusal(named: list[str], claim: ClosedListClaim) -> str | None:
    """Why a closed list cannot be voted on as named, or None: every named nomination must be held."""
    held = {c.workflow_id for c in claim.candidates}
    problems = [f"{wf}: {claim.refused.get(wf, 'not taken up')}" for wf in named if wf not in held]
    return f"candidates: {'; '.join(problems)}" if problems else None


def credential_digest(request: CredentialRequest) -> str:
    """What identifies a credential request: its round and blinded values (the same ones get the same
    signatures)."""
    return hashlib.sha256(f"{request.round}|{request.blinded_token}|{request.blinded_class}".encode()).hexdigest()


def said(entry: MinutesEntry) -> tuple[str, str]:
    """What a minutes row says of its candidate: (result, reason)."""
    return entry.result.value, entry.reason_vi


@dataclass
class Round:
    """One round of voting: its list, its signing keys, who took a credential and when (never which ballot is
    theirs), the anonymous ballots by receipt digest (the two are never joined), and its count."""

    number: int = 1
    candidates: list[Candidate] = field(default_factory=list)
    keys: SessionKeys | None = None  # round 1's are the session's; a runoff has signing keys of its own
    voter_class: dict[str, str] = field(default_factory=dict)  # voter -> conflict class (travels sealed)
    participation: dict[str, Participation] = field(default_factory=dict)
    # The credential each voter took, with the digest of the request it answered: the same request again
    # gets the same answer; different values are a second credential, refused.
    issued: dict[str, tuple[str, CredentialIssue]] = field(default_factory=dict)
    ballots: dict[str, AnonymousBallot] = field(default_factory=dict)
    closed_early: bool = False  # the chair closed the voting once a quorum of ballots was in
    tallies: dict[str, Tally] = field(default_factory=dict)  # its count, kept to rank again on a strike
    spoiled: int = 0  # ballots that did not open or broke their class's recusals
    recorded: dict[str, tuple[str, str]] = field(default_factory=dict)  # what its minutes rows say (said())


@dataclass
class SessionState:
    session_id: str
    start: SessionStart
    policy: PolicySet
    rule: ConflictRule
    deadline: datetime
    phase: SessionPhase = SessionPhase.COLLECTING
    announced_deadline: datetime | None = None  # what the nominations on the list were last told
    snapshot: RosterSnapshot | None = None  # the roster of the session's scope, loaded as it opens
    committee: list[str] = field(default_factory=list)  # Ban kiểm phiếu, in share-index order
    candidates: dict[str, Candidate] = field(default_factory=dict)  # the list, by workflow id
    list_closing: bool = False  # the list keeper closed the list: voting opens next
    electorate: Electorate | None = None  # snapshotted as voting opens
    round: Round = field(default_factory=Round)
    shares: dict[str, ShareHandIn] = field(default_factory=dict)  # by member; a runoff's count reuses them
    counting: bool = False  # a round's ballots are being counted: its results will go out, no cancelling
    struck: dict[str, StruckCandidate] = field(default_factory=dict)  # left their stage after voting opened
    verdicts: dict[str, tuple[Tally, VoteOutcome]] = field(default_factory=dict)  # decided so far
    earlier_winners: list[str] = field(default_factory=list)  # bloc: winners of the rounds before this one
    tie: BlocRanking | None = None  # AWAITING_HEAD: the tie the bloc head decides
    tie_decision: TieDecision | None = None
    head_decision: HeadDecision | None = None  # the decision applied to the tie, once recorded
    # Receipts of every round, filed as each round is counted (published once the session closes).
    receipts_counted: list[str] = field(default_factory=list)
    receipts_spoiled: list[str] = field(default_factory=list)
    cancel_reason: str | None = None  # set once a cancel is accepted (a chair's, or a refusal to open)
    results: list[MinutesEntry] | None = None  # set once settled: a nomination leaving changes nothing then
    step: int = 0  # the number of the last person's action: its audit key, never an attempt
    unwritten: list[SessionAction] = field(default_factory=list)  # audited with the next register of the row
    notices_sent: int = 0  # the key of each batch of notifications

    @classmethod
    def opening(cls, session_id: str, start: SessionStart, policy: PolicySet) -> SessionState:
        return cls(
            session_id=session_id,
            start=start,
            policy=policy,
            rule=start.conflict_rule or natural_conflict_rule(start.kind),
            deadline=start.deadline,
        )

    # ---- the phase machine -----------------------------------------------------------------------------

    @property
    def cancelled(self) -> bool:
        return self.cancel_reason is not None

    @property
    def closed(self) -> bool:
        return self.phase == SessionPhase.CLOSED

    @property
    def closed_list(self) -> bool:
        """The session votes on the nominations its start names, and on no others (the bloc's honouring)."""
        return self.start.candidates is not None

    def move(self, phase: SessionPhase) -> None:
        if phase not in PHASE_MOVES[self.phase]:
            raise ValueError(f"a session does not move from {self.phase.value} to {phase.value}")
        self.phase = phase

    def cancel(self, reason: str) -> None:
        """A cancel accepted: the procedure ends the session as soon as it sees it (unless it has closed)."""
        self.cancel_reason = reason

    def seat_committee(self) -> str | None:
        """Why the session may not open (an opener without the role, a committee that cannot hold its key), or
        None; names the committee (the start's, or the policy's default) on the way."""
        start, snapshot = self.start, self.roster()
        refusal = opener_error(snapshot, start.kind, start.scope, start.opened_by)
        if refusal is not None:
            return refusal
        policy = self.policy.counting_committee
        committee = start.committee
        if committee is None:
            committee = default_committee(snapshot, start.kind, start.scope, policy.size)
        errors = committee_errors(snapshot, start.kind, start.scope, committee, policy)
        if errors:
            return "; ".join(errors)
        self.committee = list(committee)
        return None

    def open_voting(self, electorate: Electorate) -> None:
        """The list is closed: its candidates are round 1's, voted on by `electorate`."""
        self.electorate = electorate
        self.round.candidates = list(self.candidates.values())

    def begin_runoff(self, ranking: BlocRanking) -> None:
        """A tie at the quota boundary: the next round votes among the tied (its keys come next)."""
        self.earlier_winners = [wf for wf, (_, o) in self.verdicts.items() if o.result == VoteResult.PASSED]
        self.round = Round(number=self.round.number + 1, candidates=[self.candidates[wf] for wf in ranking.tied])

    def runoff_voting(self, now: datetime) -> None:
        """The runoff's keys are made: it votes until its own deadline."""
        self.deadline = now + timedelta(seconds=self.start.runoff_seconds)
        self.counting = False
        self.move(SessionPhase.VOTING)

    # ---- who may do what, in which phase ----------------------------------------------------------------

    def label(self) -> str:
        return session_label_vi(self.start.kind, self.start.scope, self.start.meeting_ref)

    def roster(self) -> RosterSnapshot:
        assert self.snapshot is not None
        return self.snapshot

    def holders(self, role: Role) -> list[str]:
        return [a.id for a in self.roster().holders(role, self.start.scope)]

    def list_keepers(self) -> list[str]:
        return self.holders(LIST_KEEPER[self.start.kind])

    def chairs(self) -> list[str]:
        return self.holders(CHAIR[self.start.kind])

    def refusal(self, act: SessionAct, actor: str | None = None) -> str | None:
        """Why `act` may not happen now (the phase, then what else the state says, then the actor's role), or
        None."""
        rule = ACTS[act]
        if self.phase not in rule.phases:
            return rule.refusal.format(phase=self._phase_shown(act))
        held_back = self._held_back(act)
        if held_back is not None:
            return held_back
        if rule.roles is None or actor is None:
            return None
        if self.snapshot is None:
            return "the session is still opening; try again in a moment"
        role = rule.roles.get(self.start.kind)
        allowed = self.holders(role) if role is not None else []
        if actor not in allowed:
            return f"actor {actor!r} may not {rule.what} in {self.label()}; allowed: {', '.join(allowed) or 'none'}"
        return None

    def _held_back(self, act: SessionAct) -> str | None:
        """What besides the phase stops an act: the list already closing, the voting not yet set up or being
        counted, a cancel accepted, a tie already decided."""
        rule, phase = ACTS[act], self._phase_shown(act)
        match act:
            case SessionAct.JOIN_LIST if self.closed_list:
                return "the list is closed: this session votes only on the nominations named as it opened"
            case SessionAct.JOIN_LIST if self.list_closing or self.cancelled:
                return rule.refusal.format(phase=phase)
            case SessionAct.CLOSE_LIST if self.list_closing:
                return rule.refusal.format(phase=phase)
            case SessionAct.REQUEST_CREDENTIAL | SessionAct.CAST_BALLOT if (
                self.electorate is None or self.round.keys is None
            ):
                return rule.refusal.format(phase=phase)
            # A runoff counted on round 1's shares never leaves VOTING: its count is what ends the voting.
            case SessionAct.REQUEST_CREDENTIAL | SessionAct.CAST_BALLOT if self.counting:
                return f"round {self.round.number}'s voting is over: its ballots are being counted"
            case SessionAct.HAND_IN_SHARE if self.round.keys is None or self.cancelled:
                return rule.refusal.format(phase=phase)
            case SessionAct.DECIDE_TIE if self.tie is None or self.cancelled:
                return rule.refusal.format(phase=phase)
            case SessionAct.DECIDE_TIE if self.tie_decision is not None:
                return f"the tie has already been decided by {self.tie_decision.actor!r}"
            case SessionAct.CANCEL if self.counting:
                return "the ballots are being counted: the session can no longer be cancelled"
        return None

    def _phase_shown(self, act: SessionAct) -> str:
        # A share handed in after a cancel was accepted is refused as such, whatever the phase still says.
        return "being cancelled" if act == SessionAct.HAND_IN_SHARE and self.cancelled else self.phase.value

    def round_refusal(self, round: int) -> str | None:
        if round != self.round.number:
            return f"round: the session is voting in round {self.round.number}, not {round}"
        return None

    def close_list_refusal(self, actor: str) -> str | None:
        if refusal := self.refusal(SessionAct.CLOSE_LIST, actor):
            return refusal
        return None if self.candidates else "the list is empty: no nomination has reached this stage yet"

    def close_voting_refusal(self, actor: str) -> str | None:
        if refusal := self.refusal(SessionAct.CLOSE_VOTING, actor):
            return refusal
        if not self.quorum_met():
            turnout = self.turnout()
            return f"no quorum yet: {turnout.voted}/{turnout.eligible} have voted"
        return None

    def extend_refusal(self, actor: str, new_deadline: datetime | None, now: datetime) -> str | None:
        if refusal := self.refusal(SessionAct.EXTEND, actor):
            return refusal
        if new_deadline is None or new_deadline <= now:
            return "new_deadline: must be given and lie in the future"
        return None

    def cancel_refusal(self, actor: str, reason: str | None) -> str | None:
        if refusal := self.refusal(SessionAct.CANCEL, actor):
            return refusal
        return None if reason else "reason: a cancellation needs a reason"

    def tie_refusal(self, decision: TieDecision) -> str | None:
        if refusal := self.refusal(SessionAct.DECIDE_TIE, decision.actor):
            return refusal
        assert self.tie is not None
        return "; ".join(tie_decision_errors(self.tie, decision.choose)) or None

    def reissue(self, request: CredentialRequest) -> CredentialIssue | None:
        """The credential already given for this very request (its answer was lost), or None."""
        issued = self.round.issued.get(request.voter)
        return issued[1] if issued is not None and issued[0] == credential_digest(request) else None

    def credential_refusal(self, request: CredentialRequest) -> str | None:
        """Why this voter may not take this round's credential, or None: one each, for a voter of the
        electorate with at least one candidate to vote on (the council's secretary records and never votes).
        The same request again is answered again."""
        refusal = self.refusal(SessionAct.REQUEST_CREDENTIAL) or self.round_refusal(request.round)
        if refusal is not None:
            return refusal
        assert self.electorate is not None
        voter = request.voter
        if self.start.kind == BallotSessionKind.COUNCIL and voter in self.list_keepers():
            return f"voter {voter!r} is the council's secretary and records this session; no ballot"
        if self.electorate.voter(voter) is None or voter not in self.round.voter_class:
            return f"voter {voter!r} is not in this session's electorate"
        if self.reissue(request) is not None:
            return None
        if voter in self.round.participation:
            return f"voter {voter!r} has already taken this round's ballot credential (one ballot each)"
        if voter not in self.expected_voters():
            return f"voter {voter!r} may vote on no candidate on this round's list (conflicted on all)"
        return None

    def share_refusal(self, hand_in: ShareHandIn) -> str | None:
        """Why this hand-in does not fit (the phase, a non-member, a second hand-in, the wrong index), or None.
        Whether the share is the one given to the member is for the caller to check against its commitment."""
        if refusal := self.refusal(SessionAct.HAND_IN_SHARE):
            return refusal
        member, keys = hand_in.member, self.keys()
        index = share_index(keys.committee, member)
        if index is None:
            return f"member: {member!r} is not on this session's counting committee ({', '.join(keys.committee)})"
        if member in self.shares:
            return f"member: {member!r} has already handed in their share"
        if hand_in.index != index:
            return f"index: {member!r} holds share {index}, not {hand_in.index}"
        return None

    # ---- the round: who votes, the quorum, when its voting is over --------------------------------------

    def keys(self) -> SessionKeys:
        assert self.round.keys is not None
        return self.round.keys

    def live(self, candidates: list[Candidate]) -> list[Candidate]:
        return live_candidates(candidates, self.struck)

    def voter_ids(self) -> list[str]:
        return [v.id for v in self.electorate.voters] if self.electorate else []

    def expected_voters(self) -> list[str]:
        """Voters with at least one candidate they may vote on this round (a voter conflicted on the whole
        list has no ballot to cast, and must not hold the session open)."""
        if self.electorate is None:
            return []
        live = self.live(self.round.candidates)
        return [v.id for v in self.electorate.voters if any(not conflicted(v, c, self.rule) for c in live)]

    def not_voted(self) -> list[str]:
        return [v for v in self.expected_voters() if v not in self.round.participation]

    def council_policy(self, candidate: Candidate) -> VotingPolicy:
        return self.policy.council_policy(candidate.award_form)

    def bloc_policy(self) -> VotingPolicy:
        codes = {self.policy.form(c.award_form).bloc_policy for c in self.candidates.values()}
        codes.discard(None)
        return self.policy.voting_policies[str(codes.pop()) if len(codes) == 1 else "BLOC_MAJORITY"]

    def quorum_policy(self) -> VotingPolicy:
        """A bloc's policy; a council session's quorum is the strictest among its candidates' policies."""
        if self.start.kind == BallotSessionKind.BLOC:
            return self.bloc_policy()
        policies = [self.council_policy(c) for c in self.live(self.round.candidates)] or [
            self.policy.voting_policies["COUNCIL_MAJORITY"]
        ]
        return max(policies, key=lambda p: p.quorum.numerator / p.quorum.denominator)

    def turnout(self) -> Turnout:
        """Counted on the ballots cast, less those spoiled once counted; never on the credentials taken."""
        assert self.electorate is not None
        counted = min(len(self.round.ballots) - self.round.spoiled, self.electorate.size)
        return ballot_turnout(self.electorate, counted, self.quorum_policy().quorum)

    def quorum_met(self) -> bool:
        return self.electorate is not None and self.turnout().quorum_met

    def round_complete(self) -> bool:
        """Everyone who may vote took a credential and every credential taken has cast its ballot; or the
        chair closed the voting; or a cancel was accepted."""
        r = self.round
        everyone = (
            self.electorate is not None
            and set(self.expected_voters()) <= set(r.participation)
            and len(r.ballots) >= len(r.participation)
        )
        return everyone or r.closed_early or self.cancelled

    def enough_shares(self) -> bool:
        return len(self.shares) >= self.keys().threshold

    # ---- the count and its results ---------------------------------------------------------------------

    def receipt(self, digest: str) -> str:
        return f"{self.session_id}:{digest}"

    def count_request(self) -> CountRequest:
        """The count's input, with no voter id in it: the ballots in receipt order (never the order they were
        cast, which timing could tie to voters), the shares without their members, the members per
        candidate."""
        assert self.electorate is not None
        keys, r = self.keys(), self.round
        return CountRequest(
            session_id=self.session_id,
            round=r.number,
            ballots=[r.ballots[digest] for digest in sorted(r.ballots)],
            shares=[
                KeyShare(index=self.shares[m].index, share=self.shares[m].share)
                for m in self.committee
                if m in self.shares
            ],
            threshold=keys.threshold,
            classes=list(keys.classes),
            members=eligible_members(self.electorate, r.candidates, self.rule),
            struck=sorted(self.struck),
        )

    def counted(self, result: CountResult) -> None:
        """File the round's receipts as counted or spoiled and keep its tallies. A ballot that does not open is
        not counted, nor present for the quorum."""
        spoiled = set(result.spoiled)
        for receipt in (self.receipt(digest) for digest in sorted(self.round.ballots)):
            (self.receipts_spoiled if receipt in spoiled else self.receipts_counted).append(receipt)
        self.round.tallies, self.round.spoiled = dict(result.tallies), len(result.spoiled)

    def live_tallies(self) -> dict[str, Tally]:
        return {wf: t for wf, t in self.round.tallies.items() if wf not in self.struck}

    def decide(self, outcomes: Mapping[str, VoteOutcome]) -> None:
        """Keep the outcomes of candidates still on the list (a strike during the count drops its own)."""
        for wf, outcome in outcomes.items():
            if wf not in self.struck:
                self.verdicts[wf] = (self.round.tallies[wf], outcome)

    def rank_round(self) -> BlocRanking:
        """The round's bloc ranking among the candidates still on the list: a struck candidate is out of the
        ranking and of the quota (a struck earlier winner's seat goes back to the runoff)."""
        policy = self.bloc_policy()
        quota = self.quota()
        seats = quota if self.round.number == 1 else runoff_seats(quota, self.earlier_winners, self.struck)
        return rank_bloc(self.live_tallies(), self.live(self.round.candidates), policy, self.turnout(), seats=seats)

    def quota(self) -> int:
        """The seats the bloc vote fills: the start's (a closed list's), else the voting policy's quota."""
        return self.start.seats if self.start.seats is not None else bloc_quota(self.bloc_policy())

    def rerank_tie(self) -> None:
        """A candidate struck while the bloc head's decision is awaited: rank the round again; the tie narrows
        (the head chooses among what is left) or is settled (`tie` None)."""
        ranking = self.rank_round()
        for wf in [c.workflow_id for c in self.round.candidates]:
            self.verdicts.pop(wf, None)
        self.decide(bloc_verdicts(ranking))
        self.tie = ranking if ranking.needs_runoff else None

    def entry(self, workflow_id: str, tally: Tally, outcome: VoteOutcome) -> MinutesEntry:
        return MinutesEntry(
            candidate=self.candidates[workflow_id],
            tally=tally,
            result=MinutesResult(outcome.result.value),
            reason_vi=outcome.reason_vi,
        )

    def struck_entry(self, workflow_id: str) -> MinutesEntry:
        struck = self.struck[workflow_id]
        assert self.electorate is not None
        return MinutesEntry(
            candidate=struck.candidate,
            tally=struck_tally(struck.candidate, self.electorate, self.rule),
            result=MinutesResult.WITHDRAWN_FROM_LIST,
            reason_vi=struck_reason_vi(struck.reason_vi),
        )

    def _struck_this_round(self, workflow_id: str) -> bool:
        """A struck candidate the round's minutes show: one of its own, or one struck while it ran (a bloc's
        earlier winner)."""
        on_round = any(c.workflow_id == workflow_id for c in self.round.candidates)
        return on_round or self.struck[workflow_id].round == self.round.number

    def minutes(self, outcomes: Mapping[str, VoteOutcome], closed_at: datetime) -> SessionMinutes:
        """The round's minutes: each counted candidate's tally and outcome, and each candidate struck since the
        last minutes, as withdrawn from the list with the reason. What they say is kept, to amend it later."""
        assert self.electorate is not None
        entries = [self.entry(wf, self.round.tallies[wf], o) for wf, o in outcomes.items() if wf not in self.struck]
        entries += [self.struck_entry(wf) for wf in self.struck if self._struck_this_round(wf)]
        entries.sort(key=lambda e: e.candidate.workflow_id)
        self.round.recorded = {e.candidate.workflow_id: said(e) for e in entries}
        return SessionMinutes(
            session_id=self.session_id,
            kind=self.start.kind,
            scope=self.start.scope,
            meeting_ref=self.start.meeting_ref,
            round=self.round.number,
            policy_version=self.policy.version,
            closed_at=closed_at,
            electorate_size=self.electorate.size,
            entries=entries,
            participation=[p for _, p in sorted(self.round.participation.items())],
            spoiled=self.round.spoiled,
            ballots_cast=len(self.round.ballots),
        )

    def round_entries(self) -> list[MinutesEntry]:
        """What the round's minutes must say now: each of its candidates' outcome, or that it was struck; and
        any candidate struck while it ran."""
        round_ids = {c.workflow_id for c in self.round.candidates}
        entries = []
        for wf in sorted(round_ids | set(self.struck)):
            if wf in self.struck:
                if self._struck_this_round(wf):
                    entries.append(self.struck_entry(wf))
            elif wf in self.verdicts:
                entries.append(self.entry(wf, *self.verdicts[wf]))
        return entries

    def amendment(self, closed_at: datetime) -> MinutesAmendment | None:
        """The round's minutes rows a strike changed since they were written, or None when they all stand."""
        changed = [e for e in self.round_entries() if self.round.recorded.get(e.candidate.workflow_id) != said(e)]
        if not changed:
            return None
        return MinutesAmendment(
            session_id=self.session_id,
            round=self.round.number,
            policy_version=self.policy.version,
            closed_at=closed_at,
            spoiled=self.round.spoiled,
            entries=changed,
        )

    def recorded(self, entries: list[MinutesEntry]) -> None:
        self.round.recorded.update({e.candidate.workflow_id: said(e) for e in entries})

    def tie_recorded(self, record: TieDecisionRecord) -> None:
        """The head's decision is in the minutes: its rows as they say, and the decision for the status."""
        self.recorded(record.entries)
        self.head_decision = HeadDecision(
            actor=record.action.actor,
            round=record.round,
            tied=list(record.tied),
            seats_left=record.seats_left,
            chosen=list(record.head_decision),
            decided_at=record.action.occurred_at,
        )

    def tie_record(
        self, ranking: BlocRanking, chosen: list[str], outcomes: Mapping[str, VoteOutcome], action: SessionAction
    ) -> TieDecisionRecord:
        return TieDecisionRecord(
            session_id=self.session_id,
            round=self.round.number,
            tied=list(ranking.tied),
            seats_left=ranking.seats_left,
            head_decision=chosen,
            entries=[self.entry(wf, self.round.tallies[wf], o) for wf, o in sorted(outcomes.items())],
            action=action,
        )

    def settle(self) -> None:
        """The results are final: each decided candidate's, then each struck one's."""
        self.results = [
            *(self.entry(wf, tally, outcome) for wf, (tally, outcome) in sorted(self.verdicts.items())),
            *(self.struck_entry(wf) for wf in sorted(self.struck)),
        ]

    def verdicts_to_send(self) -> list[tuple[str, BallotVerdict]]:
        return [
            (
                wf,
                BallotVerdict(
                    session_id=self.session_id,
                    round=self.round.number,
                    stage_kind=self.start.kind,
                    tally=tally,
                    result=outcome.result,
                    reason_vi=outcome.reason_vi,
                    policy_code=outcome.policy_code,
                ),
            )
            for wf, (tally, outcome) in sorted(self.verdicts.items())
        ]

    # ---- the list ---------------------------------------------------------------------------------------

    def take_up_closed_list(self, claim: ClosedListClaim, now: datetime) -> list[str]:
        """A closed list as it opens: the named nominations, in the order named, and the list closes at once
        (no keeper's action: nothing else may join). Returns those newly listed, to be told."""
        named = self.start.candidates or []
        held = {c.workflow_id: c for c in claim.candidates}
        listed = [wf for wf in named if wf in held and self.join(held[wf])]
        self.list_closing = True
        self.note(
            SessionActionKind.LIST_CLOSED,
            self.start.opened_by,
            self.start.channel,
            f"closed list of {len(self.candidates)} nominations named as the session opened",
            at=now,
            nominations=len(self.candidates),
            seats=self.start.seats,
        )
        return listed

    def offer_answer(self, workflow_id: str) -> OfferAnswer:
        """The answer to an offer: one listed already, or offered while the list is collected, is listed. One
        offered while the list is closing costs nothing (the claim is let go with every other claim off the list
        as the voting opens); one offered later is refused, so that it offers itself to the next session."""
        if workflow_id in self.candidates or self.refusal(SessionAct.JOIN_LIST) is None:
            return OfferAnswer.LIST
        return OfferAnswer.LET_GO_AT_OPENING if self.phase == SessionPhase.COLLECTING else OfferAnswer.REFUSE

    def join(self, candidate: Candidate) -> bool:
        """List a candidate; False when it is listed already."""
        if candidate.workflow_id in self.candidates:
            return False
        self.candidates[candidate.workflow_id] = candidate
        return True

    def take_off(self, leaving: ListLeaving, now: datetime) -> bool:
        """A nomination on the list left its stage: while the list is collected it is taken off; once voting has
        opened it is struck (its votes void, no result). False when nothing changes: not on the list, struck
        already, or the results settled (they were counted while it was on the list)."""
        wf = leaving.workflow_id
        candidate = self.candidates.get(wf)
        if candidate is None or wf in self.struck or self.results is not None or self.phase == SessionPhase.CANCELLED:
            return False
        # Who moved it, for the audit; anything but a person's CLI or API action is the system's.
        actor = leaving.actor or "system"
        channel = leaving.channel if leaving.channel in ("CLI", "API") else "SYSTEM"
        if self.phase == SessionPhase.COLLECTING:
            del self.candidates[wf]
            self.note(
                SessionActionKind.CANDIDATE_REMOVED,
                actor,
                channel,
                f"{wf} taken off the list: {leaving.reason_vi}",
                at=now,
                nomination=wf,
                nomination_action=leaving.action,
            )
            return True
        self.struck[wf] = StruckCandidate(
            candidate=candidate,
            round=self.round.number,
            action=leaving.action,
            to_stage=leaving.to_stage,
            reason_vi=leaving.reason_vi,
            struck_at=leaving.left_at,
        )
        self.verdicts.pop(wf, None)
        self.note(
            SessionActionKind.CANDIDATE_STRUCK,
            actor,
            channel,
            f"{wf} struck from the list in round {self.round.number}: {leaving.reason_vi}",
            at=now,
            nomination=wf,
            nomination_action=leaving.action,
            round=self.round.number,
        )
        if self.tie is not None:
            self.rerank_tie()
        return True

    # ---- the audit of people's actions, the register, the status -----------------------------------------

    def note(
        self,
        what: SessionActionKind,
        actor: str,
        channel: str,
        outcome: str,
        /,
        *,
        at: datetime,
        written_later: bool = False,
        **details: str | int | list[str] | None,
    ) -> SessionAction:
        """A person's action, numbered by the session's step; kept to be audited with the next register of
        the session (unless `written_later` by the caller's own write)."""
        self.step += 1
        action = SessionAction.model_validate(
            {
                "session_id": self.session_id,
                "step": self.step,
                "action": what,
                "actor": actor,
                "channel": channel,
                "occurred_at": at,
                "outcome": outcome,
                "details": details,
            }
        )
        if not written_later:
            self.unwritten.append(action)
        return action

    def take_unwritten(self) -> list[SessionAction]:
        actions, self.unwritten = self.unwritten, []
        return actions

    def row(self, phase: SessionPhase | None = None) -> SessionRow:
        """The session's register row, in `phase` (default its own)."""
        return SessionRow(
            session_id=self.session_id,
            kind=self.start.kind,
            scope=self.start.scope,
            meeting_ref=self.start.meeting_ref,
            phase=phase or self.phase,
            opened_by=self.start.opened_by,
            deadline=self.deadline,
            policy_version=self.policy.version,
            candidates=len(self.candidates) - len(self.struck),
            electorate_size=self.electorate.size if self.electorate else 0,
            voted=len(self.round.participation),
        )

    def status(self) -> SessionStatus:
        """What anyone may see: tallies, results and receipts only once the session is CLOSED."""
        turnout = self.turnout() if self.electorate else None
        closed = self.closed
        return SessionStatus(
            session_id=self.session_id,
            kind=self.start.kind,
            scope=self.start.scope,
            meeting_ref=self.start.meeting_ref,
            phase=self.phase,
            round=self.round.number,
            deadline=self.deadline,
            candidates=self.live(self.round.candidates or list(self.candidates.values())),
            electorate_size=self.electorate.size if self.electorate else 0,
            voted=sorted(self.round.participation),
            quorum_met=bool(turnout and turnout.quorum_met),
            ballots_cast=len(self.round.ballots),
            committee=list(self.committee),
            shares_in=len(self.shares),
            keys=self.round.keys,
            results=self.results if closed else None,
            counted_receipts=sorted(self.receipts_counted) if closed else None,
            spoiled_receipts=sorted(self.receipts_spoiled) if closed else None,
            cancel_reason=self.cancel_reason,
            tied=list(self.tie.tied) if self.tie else [],
            seats_left=self.tie.seats_left if self.tie else 0,
            struck=[self.struck[wf] for wf in sorted(self.struck)],
            head_decision=self.head_decision,
        )
