"""BallotSessionWorkflow: one secret-ballot session of a ministry council meeting or a bloc's year-end vote.

COLLECTING: nominations reaching the stage join the list (by the `join_list` update their offer sends, or
taken up when the session opens). A nomination is on at most one open session's list: the session claims it
in PostgreSQL (`ballot_list_members`), and lets go when it leaves the list and when the session ends.
VOTING: the electorate is snapshotted and the session's keys are made (activities.ballots
.prepare_session_keys): a sealing key whose private half only the counting committee (Ban kiểm phiếu, named at
opening) can rebuild, any `threshold` of them together, and blind-signing keys for the voters' one-time
credentials. A voter takes a credential (`request_credential`: the session knows who asks, never the token it
signs blind) and casts an anonymous sealed ballot with it (`cast_ballot`: no voter id). The round's voting
ends when every voter has taken a credential and cast, at the deadline with a quorum of ballots, or when the
chair closes it once a quorum of ballots is in; without a quorum at the deadline the chair extends or cancels.
AWAITING_COUNT: the count waits for `threshold` committee members to hand in their shares (`hand_in_share`);
then the ballots, in receipt order, are opened and counted in one activity. A tie at the
bloc's quota boundary runs a runoff round among the tied; once the bloc policy's runoff rounds are used up
and the tie remains, the bloc head decides (`decide_tie`). Results go back to each nomination by signal.
A nomination that leaves its stage otherwise (withdrawn, returned, rejected...) tells the session
(`candidate_left`): while the list is collected it is taken off; once voting has opened it is struck — shown
struck out with the reason, its votes void, no tally and no result (the minutes say WITHDRAWN_FROM_LIST) and
no verdict. A cancelled session tells its nominations, whose stage is then no longer due at its deadline.
Every person's action on the session (open, close the list, extend, close early, cancel, decide a tie) is
audited with the write it leads to. When the session ends (closed or cancelled) its secrets are destroyed:
nothing kept afterwards opens a ballot.

Choices exist here only sealed, in ballots that carry no voter id; they are opened and counted inside one
activity that returns tallies.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.ballots import BallotActivities
    from domain import ballot_notices
    from domain.ballot_messages import (
        JOIN_LIST_UPDATE,
        AnonymousBallot,
        BallotReceipt,
        BallotVerdict,
        ChairAction,
        ConflictClass,
        CountRequest,
        CountResult,
        CredentialIssue,
        CredentialRequest,
        KeyShare,
        ListClosing,
        ListJoined,
        ListLeaving,
        MinutesAmendment,
        MinutesEntry,
        MinutesResult,
        Participation,
        SessionAction,
        SessionActionKind,
        SessionCancelled,
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
    from domain.ballots import (
        BallotSessionKind,
        BlocRanking,
        Candidate,
        Electorate,
        Turnout,
        ballot_shape_errors,
        ballot_turnout,
        bloc_quota,
        bloc_verdicts,
        conflicted,
        council_outcomes,
        eligible_members,
        head_decision_pending,
        head_decision_verdicts,
        live_candidates,
        natural_conflict_rule,
        opener_error,
        rank_bloc,
        runoff_pending,
        runoff_seats,
        runoffs_exhausted,
        struck_reason_vi,
        struck_tally,
        tie_decision_errors,
    )
    from domain.catalog import VotingPolicy, policy_set
    from domain.committee import committee_errors, conflict_classes, default_committee, share_index
    from domain.messages import SessionScheduled
    from domain.notices import NotificationDraft
    from domain.roster import Role, RosterSnapshot
    from domain.voting import Tally, VoteOutcome, VoteResult
    from security.blind import verify
    from security.committee import share_commitment
    from security.sealing import SealError, receipt_hex, token_message, unb64
    from workflows.audit_anchor import request_anchor
    from workflows.payloads import payload_required

T = TypeVar("T")
# An extension while voting is announced to the nominations (their stage is due at the new deadline).
ANNOUNCE_EXTENSION_PATCH = "announce-extended-deadline"
# A cancel accepted while the ballots were counted no longer turns a closed session into a cancelled one.
CLOSED_STAYS_CLOSED_PATCH = "closed-stays-closed"

ACTIVITY_TIMEOUT = timedelta(seconds=60)
RETRY = RetryPolicy(
    maximum_interval=timedelta(seconds=30), non_retryable_error_types=["UnknownScope", "EmptyElectorate"]
)
# Blind signatures and the count are RSA work on a busy worker: more time than the register's writes.
CRYPTO_TIMEOUT = timedelta(minutes=5)
BLINDED_BYTES = 256  # RSA-2048 issuer and class keys
TOKEN_BYTES = 32


@workflow.defn(name="BallotSessionWorkflow")
class BallotSessionWorkflow:
    @workflow.init
    def __init__(self, start: SessionStart) -> None:
        self._start = start
        self._policy = policy_set(start.policy_version)
        self._rule = start.conflict_rule or natural_conflict_rule(start.kind)
        self._phase = SessionPhase.COLLECTING
        self._deadline = start.deadline
        self._announced_deadline: datetime | None = None  # what the nominations were last told
        self._candidates: dict[str, Candidate] = {}
        self._round_candidates: list[Candidate] = []
        self._electorate: Electorate | None = None
        self._snapshot: RosterSnapshot | None = None
        self._committee: list[str] = []  # Ban kiểm phiếu, in share-index order
        self._keys: SessionKeys | None = None  # made when voting opens
        self._voter_class: dict[str, str] = {}  # voter -> conflict class (the class travels sealed in the ballot)
        # Current round: who took a credential and when (never which ballot is theirs), and the anonymous
        # ballots by receipt (hex). The two are never joined.
        self._participation: dict[str, Participation] = {}
        # The credential each voter took this round, by the digest of the blinded values they sent: the same
        # request again gets the same answer; different values are a second credential, refused.
        self._issued: dict[str, tuple[str, CredentialIssue]] = {}
        self._ballots: dict[str, AnonymousBallot] = {}
        self._shares: dict[str, ShareHandIn] = {}  # member -> handed-in share, kept for a runoff's count
        # Receipts of every round, settled when each round is counted: a runoff never loses round 1's.
        self._receipts_counted: list[str] = []
        self._receipts_spoiled: list[str] = []
        self._round = 1
        self._list_closed = False
        self._close_requested = False
        self._counting = False  # the round's ballots are being counted: its results will go out
        self._cancelled = False
        self._cancel_reason: str | None = None
        self._results: list[MinutesEntry] | None = None
        self._counted_receipts: list[str] = []
        self._notice_seq = 0
        # The audit of people's actions (off for sessions opened before it existed: their histories replay).
        self._audit = False
        self._step = 0  # the session's step number: the audit key of each action, never an attempt
        self._actions: list[SessionAction] = []  # noted, written with the next register of the session
        self._tie: BlocRanking | None = None  # AWAITING_HEAD: the tie the bloc head decides
        self._tie_decision: TieDecision | None = None
        # Candidates struck from the list after voting opened (they left their stage), by workflow id.
        self._struck: dict[str, StruckCandidate] = {}
        # Each decided candidate's result so far (a struck one loses it); sent once the session closes.
        self._verdicts: dict[str, tuple[Tally, VoteOutcome]] = {}
        self._round_tallies: dict[str, Tally] = {}  # the current round's count, kept to rank again on a strike
        self._earlier_winners: list[str] = []  # bloc: winners of the rounds before the current one
        self._round_spoiled = 0  # current round: ballots that did not open or broke their class's recusals
        # What the current round's minutes rows say (result, reason), to amend them when a strike changes it.
        self._recorded: dict[str, tuple[str, str]] = {}
        self._final = False  # the results are settled: a nomination leaving now no longer changes them
        self._register_lock = asyncio.Lock()  # register writes in order: a later phase is never overwritten

    # ---- the procedure -------------------------------------------------------------------------

    @workflow.run
    async def run(self, start: SessionStart) -> SessionStatus:
        kind, scope = start.kind.value, start.scope
        self._snapshot = await self._activity("load_scope_snapshot", kind, scope, result_type=RosterSnapshot)
        refusal = self._opening_refusal()
        if refusal is not None:
            # The client checks the opener and the committee first; this catches what slipped through (another
            # client, or a roster changed meanwhile). Nothing has been registered yet: the session ends here.
            workflow.logger.warning("session refused at opening: %s", refusal)
            self._cancelled = True
            self._cancel_reason = refusal
            self._phase = SessionPhase.CANCELLED
            return self.status()
        self._audit = True
        self._note(
            SessionActionKind.OPENED,
            start.opened_by,
            start.channel,
            f"opened {kind} {scope} {start.meeting_ref}",
            at=workflow.info().start_time,
            kind=kind,
            scope=scope,
            meeting_ref=start.meeting_ref,
            deadline=start.deadline.isoformat(),
            policy_version=start.policy_version,
            committee=list(self._committee),
        )
        await self._register()
        # The waiting nominations no other open session holds are claimed for this one, and told so.
        waiting = await self._activity("waiting_candidates", kind, scope, self._id(), result_type=list[Candidate])
        taken = [c for c in waiting if c.workflow_id not in self._candidates]  # not already joined on an offer
        for candidate in taken:
            self._add_candidate(candidate)
        await self._tell_joined([c.workflow_id for c in taken])

        await workflow.wait_condition(lambda: self._list_closed or self._cancelled)
        if not self._cancelled:
            self._electorate = await self._activity("snapshot_electorate", kind, scope, result_type=Electorate)
            self._round_candidates = list(self._candidates.values())
            await self._make_keys()
        if not self._cancelled:
            self._phase = SessionPhase.VOTING
            await self._register()
            # An offer whose claim landed as the list closed did not make the list: let go of it.
            await self._release(None, keep=list(self._candidates))
            await self._announce_deadline()
            await self._notify(
                ballot_notices.voting_opened(
                    self._label(), self._voter_ids(), len(self._round_candidates), self._deadline, self._snapshot
                )
            )
            await self._run_rounds()
        # A session whose results went out stays CLOSED, even when a cancel slipped in while it was counted.
        if self._cancelled and self._phase != SessionPhase.CLOSED:
            await self._destroy_secrets()
            self._phase = SessionPhase.CANCELLED
            await self._register()
            # Its nominations are free for the next session, and their stage is no longer due at its deadline.
            await self._release(None, keep=[])
            await self._tell_cancelled()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    def _opening_refusal(self) -> str | None:
        """Why the session may not open (an opener without the role, a committee that cannot hold its key), or
        None; names the committee (the start's, or the policy's default) on the way."""
        start, snapshot = self._start, self._require_snapshot()
        refusal = opener_error(snapshot, start.kind, start.scope, start.opened_by)
        if refusal is not None:
            return refusal
        policy = self._policy.counting_committee
        committee = start.committee
        if committee is None:
            committee = default_committee(snapshot, start.kind, start.scope, policy.size)
        errors = committee_errors(snapshot, start.kind, start.scope, committee, policy)
        if errors:
            return "; ".join(errors)
        self._committee = list(committee)
        return None

    async def _make_keys(self) -> None:
        """Voting opens: the conflict classes of the electorate on the list, and the session's keys. A committee
        member without an enrolled counting key (the client checks first) cancels the session with the reason."""
        assert self._electorate is not None
        classes, self._voter_class = conflict_classes(self._electorate, self._round_candidates, self._rule)
        try:
            self._keys = await workflow.execute_activity_method(
                BallotActivities.prepare_session_keys,
                args=[self._id(), self._committee, self._policy.counting_committee.threshold, classes],
                start_to_close_timeout=CRYPTO_TIMEOUT,
                retry_policy=RETRY,
            )
        except ActivityError as err:
            cause = err.cause
            if not isinstance(cause, ApplicationError) or cause.type != "CommitteeKeyMissing":
                raise
            workflow.logger.warning("session cancelled as voting opened: %s", cause.message)
            self._cancelled = True
            self._cancel_reason = cause.message
            self._note(
                SessionActionKind.CANCELLED,
                "system",
                "SYSTEM",
                f"cancelled as voting opened: {cause.message}",
                phase=self._phase.value,
                round=self._round,
                reason=cause.message,
            )

    async def _make_round_keys(self) -> None:
        """A runoff opens: the classes of its candidates, and issuer and class keys of its own (a credential
        blind-signed in an earlier round could hide this round's token; under new keys it is worthless)."""
        assert self._electorate is not None
        classes, self._voter_class = conflict_classes(self._electorate, self._round_candidates, self._rule)
        self._keys = await workflow.execute_activity_method(
            BallotActivities.round_signing_keys,
            args=[self._id(), self._round, classes],
            start_to_close_timeout=CRYPTO_TIMEOUT,
            retry_policy=RETRY,
        )

    async def _destroy_secrets(self) -> None:
        """The session has ended: the wrapped sealing key, the signing keys and the encrypted shares go."""
        await workflow.execute_activity_method(
            BallotActivities.destroy_session_secrets,
            self._id(),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=RETRY,
        )

    async def _run_rounds(self) -> None:
        while True:
            if not await self._collect_ballots():
                return  # cancelled
            if not await self._collect_shares():
                return  # cancelled while the count waited for the committee
            self._counting = True  # from here the round's results go out: no cancelling them
            counted = await workflow.execute_activity_method(
                BallotActivities.open_and_count,
                self._count_request(),
                start_to_close_timeout=CRYPTO_TIMEOUT,
                retry_policy=RETRY,
            )
            self._settle_receipts(counted)
            # A ballot that does not open is not counted, nor present for the quorum.
            self._round_tallies, self._round_spoiled = dict(counted.tallies), len(counted.spoiled)
            if self._start.kind == BallotSessionKind.COUNCIL:
                live = self._live(self._round_candidates)
                outcomes = council_outcomes(self._live_tallies(), live, self._council_policy, self._turnout())
                self._decide(outcomes)
                await self._record_minutes(outcomes)
                break
            policy = self._bloc_policy()
            ranking = self._rank_round()
            decided = bloc_verdicts(ranking)
            self._decide(decided)
            # The runoffs the policy allows are used up and the tie remains: the bloc head decides. (Sessions
            # that ran further runoffs before this existed keep running them on replay.)
            to_head = runoffs_exhausted(ranking, policy, self._round - 1) and workflow.patched("bloc-tie-head-decision")
            pending = head_decision_pending(ranking) if to_head else runoff_pending(ranking)
            await self._record_minutes(decided | pending)
            if to_head:
                settled = await self._head_decides()
                if settled is None:
                    return  # cancelled
                self._decide(settled)
                break
            ranking = self._rank_round()  # a candidate struck while the minutes were written is out of it
            if not ranking.needs_runoff:
                self._decide(bloc_verdicts(ranking))
                break
            # Never break a tie at the quota boundary silently: vote again among the tied.
            self._earlier_winners = [wf for wf, (_, o) in self._verdicts.items() if o.result == VoteResult.PASSED]
            self._round_candidates = [self._candidates[wf] for wf in ranking.tied]
            self._round += 1
            self._ballots, self._participation, self._issued = {}, {}, {}
            await self._make_round_keys()
            self._round_spoiled = 0
            self._recorded = {}
            self._deadline = workflow.now() + timedelta(seconds=self._start.runoff_seconds)
            self._close_requested, self._counting = False, False
            self._phase = SessionPhase.VOTING
            await self._register()
            await self._notify(
                ballot_notices.runoff_opened(
                    self._label(), self._voter_ids(), ranking.tied, self._deadline, self._require_snapshot()
                )
            )
        await self._settle_minutes()
        self._results = [
            *(
                MinutesEntry(
                    candidate=self._candidates[wf], tally=tally, result=outcome.result, reason_vi=outcome.reason_vi
                )
                for wf, (tally, outcome) in sorted(self._verdicts.items())
            ),
            *(self._struck_entry(wf) for wf in sorted(self._struck)),
        ]
        self._counted_receipts = sorted(self._receipts_counted)
        # Nothing is left to count: whoever sees the session CLOSED finds its secrets gone.
        await self._destroy_secrets()
        self._phase = SessionPhase.CLOSED
        await self._register()
        # Let go of the list before the verdicts go out: a nomination left in its stage (no quorum) is free
        # for the next session.
        await self._release(None, keep=[])
        deliveries = [
            self._deliver_verdict(
                wf,
                BallotVerdict(
                    session_id=self._id(),
                    round=self._round,
                    stage_kind=self._start.kind,
                    tally=tally,
                    result=outcome.result,
                    reason_vi=outcome.reason_vi,
                    policy_code=outcome.policy_code,
                ),
            )
            for wf, (tally, outcome) in sorted(self._verdicts.items())
        ]
        if workflow.patched("concurrent-verdict-delivery"):
            await asyncio.gather(*deliveries)  # 300 nominations: one workflow task, not 300 round trips
        else:
            for delivery in deliveries:
                await delivery

    def _decide(self, outcomes: dict[str, VoteOutcome]) -> None:
        """Keep the outcomes of candidates still on the list (a strike during the count drops its own)."""
        for wf, outcome in outcomes.items():
            if wf not in self._struck:
                self._verdicts[wf] = (self._round_tallies[wf], outcome)

    def _live(self, candidates: list[Candidate]) -> list[Candidate]:
        return live_candidates(candidates, self._struck)

    def _live_tallies(self) -> dict[str, Tally]:
        return {wf: t for wf, t in self._round_tallies.items() if wf not in self._struck}

    def _bloc_policy(self) -> VotingPolicy:
        return self._policy.voting_policies[self._bloc_policy_code()]

    def _rank_round(self) -> BlocRanking:
        """The current round's bloc ranking among the candidates still on the list: a struck candidate is out
        of the ranking and of the quota (a struck earlier winner's seat goes back to the runoff)."""
        policy = self._bloc_policy()
        seats = None if self._round == 1 else runoff_seats(bloc_quota(policy), self._earlier_winners, self._struck)
        live = self._live(self._round_candidates)
        return rank_bloc(self._live_tallies(), live, policy, self._turnout(), seats=seats)

    def _struck_entry(self, workflow_id: str) -> MinutesEntry:
        struck = self._struck[workflow_id]
        assert self._electorate is not None
        return MinutesEntry(
            candidate=struck.candidate,
            tally=struck_tally(struck.candidate, self._electorate, self._rule),
            result=MinutesResult.WITHDRAWN_FROM_LIST,
            reason_vi=struck_reason_vi(struck.reason_vi),
        )

    def _round_entries(self) -> list[MinutesEntry]:
        """What the current round's minutes must say now: each of its candidates' outcome, or that it was
        struck; and any candidate struck since its own round's minutes (a bloc's earlier winner)."""
        round_ids = {c.workflow_id for c in self._round_candidates}
        entries = []
        for wf in sorted(round_ids | set(self._struck)):
            if wf in self._struck:
                if wf in round_ids or self._struck[wf].round == self._round:
                    entries.append(self._struck_entry(wf))
            elif wf in self._verdicts:
                tally, outcome = self._verdicts[wf]
                entries.append(
                    MinutesEntry(
                        candidate=self._candidates[wf], tally=tally, result=outcome.result, reason_vi=outcome.reason_vi
                    )
                )
        return entries

    async def _settle_minutes(self) -> None:
        """Amend the last round's minutes rows a strike changed after they were written; the results are
        final once nothing is left to amend."""
        while True:
            changed = [e for e in self._round_entries() if self._recorded.get(e.candidate.workflow_id) != _said(e)]
            if not changed:
                break
            amendment = MinutesAmendment(
                session_id=self._id(),
                round=self._round,
                policy_version=self._policy.version,
                closed_at=workflow.now(),
                spoiled=self._round_spoiled,
                entries=changed,
            )
            await self._activity("amend_ballot_minutes", amendment)
            self._recorded.update({e.candidate.workflow_id: _said(e) for e in changed})
        self._final = True

    async def _head_decides(self) -> dict[str, VoteOutcome] | None:
        """Wait for the bloc head's decision on the tie; record it in the minutes and the audit; the tied
        candidates' outcomes (None when the session is cancelled meanwhile). A strike meanwhile ranks the
        round again: the tie narrows, or is settled without the head."""
        tie = self._rank_round()
        if not tie.needs_runoff:  # a strike while the minutes were written settled it
            return bloc_verdicts(tie)
        self._tie, self._counting = tie, False
        heads = self._holders(Role.BLOC_HEAD)
        await self._notify(
            ballot_notices.tie_decision_needed(
                self._label(), heads, tie.tied, tie.seats_left, self._round, self._require_snapshot()
            )
        )
        # Told and registered before the session shows it awaits the head: whoever sees AWAITING_HEAD finds both.
        await self._register(SessionPhase.AWAITING_HEAD)
        self._phase = SessionPhase.AWAITING_HEAD
        while True:
            await workflow.wait_condition(
                lambda: self._tie_decision is not None or self._cancelled or self._tie is None
            )
            if self._cancelled:
                return None
            ranking = self._tie if self._tie is not None else self._rank_round()
            if not ranking.needs_runoff:
                self._tie = None
                return bloc_verdicts(ranking)  # settled by a strike: the minutes are amended when the session closes
            decision = self._tie_decision
            if decision is not None and not tie_decision_errors(ranking, decision.choose):
                break
            # A strike narrowed the tie as the decision came in and the choice no longer fits it: decided anew.
            workflow.logger.warning("tie decision of %s no longer fits the tie after a strike", self._id())
            self._tie_decision = None
        outcomes = head_decision_verdicts(ranking, decision.choose)
        chosen = [wf for wf in ranking.tied if wf in set(decision.choose)]
        action = self._note(
            SessionActionKind.TIE_DECIDED,
            decision.actor,
            decision.channel,
            f"chose {', '.join(chosen)} for {ranking.seats_left} seat(s) among the tied {', '.join(ranking.tied)}",
            written_later=True,
            round=self._round,
            tied=list(ranking.tied),
            seats_left=ranking.seats_left,
            head_decision=chosen,
        )
        record = TieDecisionRecord(
            session_id=self._id(),
            round=self._round,
            tied=list(ranking.tied),
            seats_left=ranking.seats_left,
            head_decision=chosen,
            entries=[
                MinutesEntry(
                    candidate=self._candidates[wf],
                    tally=self._round_tallies[wf],
                    result=o.result,
                    reason_vi=o.reason_vi,
                )
                for wf, o in sorted(outcomes.items())
            ],
            action=action,
        )
        await self._activity("record_tie_decision", record)
        self._recorded.update({e.candidate.workflow_id: _said(e) for e in record.entries})
        self._tie = None
        return outcomes

    def _settle_receipts(self, counted: CountResult) -> None:
        """File this round's receipts as counted or spoiled (published once the session closes)."""
        spoiled = set(counted.spoiled)
        for receipt in (self._receipt(digest) for digest in sorted(self._ballots)):
            (self._receipts_spoiled if receipt in spoiled else self._receipts_counted).append(receipt)

    def _receipt(self, digest: str) -> str:
        return f"{self._id()}:{digest}"

    async def _collect_shares(self) -> bool:
        """Wait until `threshold` committee members have handed in their shares (AWAITING_COUNT; the members
        who have not are told); a runoff's count reuses the shares handed in for round 1. False when the
        session is cancelled meanwhile."""
        keys = self._require_keys()
        if len(self._shares) >= keys.threshold:
            return True
        if self._actions:  # the chair closed early: audited before the session shows it awaits the count
            await self._register()
        waiting = [m for m in self._committee if m not in self._shares]
        await self._notify(
            ballot_notices.count_needed(
                self._label(), waiting, keys.threshold, len(self._ballots), self._require_snapshot()
            )
        )
        # Told and registered before the session shows it awaits the count: whoever sees AWAITING_COUNT finds both.
        await self._register(SessionPhase.AWAITING_COUNT)
        self._phase = SessionPhase.AWAITING_COUNT
        await workflow.wait_condition(lambda: len(self._shares) >= keys.threshold or self._cancelled)
        if self._actions and not self._cancelled:  # the hand-ins are audited before the count
            await self._register()
        return not self._cancelled

    def _require_keys(self) -> SessionKeys:
        assert self._keys is not None
        return self._keys

    async def _announce_deadline(self) -> None:
        """Tell each nomination on the list when this session's voting ends: its stage is due then."""
        if not workflow.patched("announce-session-deadline"):
            return
        self._announced_deadline = self._deadline
        scheduled = SessionScheduled(session_id=self._id(), deadline=self._deadline)
        await asyncio.gather(
            *(self._signal(c.workflow_id, "session_scheduled", scheduled) for c in self._live(self._round_candidates))
        )

    async def _signal(self, workflow_id: str, name: str, payload: object) -> bool:
        """Signal a nomination; False when it could not be delivered (the nomination has ended)."""
        try:
            await workflow.get_external_workflow_handle(workflow_id).signal(name, payload)
        except Exception as err:  # e.g. the unit withdrew the nomination while the session ran
            workflow.logger.warning("%s for %s not delivered: %s", name, workflow_id, err)
            return False
        return True

    async def _tell_joined(self, workflow_ids: list[str]) -> None:
        """Tell nominations put on the list that this session holds them. One that cannot be told has ended
        meanwhile: it leaves the list."""
        joined = ListJoined(session_id=self._id(), kind=self._start.kind)
        delivered = await asyncio.gather(*(self._signal(wf, "ballot_list_joined", joined) for wf in workflow_ids))
        for wf, ok in zip(workflow_ids, delivered, strict=True):
            if not ok:
                await self._take_off(
                    ListLeaving(
                        workflow_id=wf,
                        session_id=self._id(),
                        action="ENDED",
                        to_stage=None,
                        reason_vi="hồ sơ đã kết thúc trước khi vào danh sách",
                        left_at=workflow.now(),
                    )
                )

    async def _tell_cancelled(self) -> None:
        cancelled = SessionCancelled(session_id=self._id(), reason=self._cancel_reason)
        await asyncio.gather(
            *(
                self._signal(wf, "ballot_session_cancelled", cancelled)
                for wf in self._candidates
                if wf not in self._struck
            )
        )

    async def _release(self, workflow_ids: list[str] | None, keep: list[str] | None = None) -> None:
        """Let go of nominations in the register of lists: those named, or all but `keep`."""
        await self._activity("release_from_list", self._id(), workflow_ids, keep)

    async def _deliver_verdict(self, workflow_id: str, verdict: BallotVerdict) -> None:
        try:
            await workflow.get_external_workflow_handle(workflow_id).signal("ballot_verdict", verdict)
        except Exception as err:  # e.g. the unit withdrew the nomination while the session ran
            workflow.logger.warning("verdict for %s not delivered: %s", workflow_id, err)

    async def _collect_ballots(self) -> bool:
        """Wait until the round can be counted; False when the session is cancelled."""
        reminded = False
        while True:
            if self._cancelled:
                return False
            if self._round_complete():
                if self._actions:  # the chair closed early: audited before the count
                    await self._register()
                return True
            if self._actions:  # e.g. the chair extended the deadline: the new one is registered and audited
                await self._register()
            if self._deadline != self._announced_deadline and workflow.patched(ANNOUNCE_EXTENSION_PATCH):
                await self._announce_deadline()  # extended while voting: the nominations are due later too
            now = workflow.now()
            remind_at = self._deadline - timedelta(seconds=self._start.reminder_before_seconds)
            if not reminded and self._start.reminder_before_seconds and remind_at > now:
                if not await self._wait(remind_at - now):
                    reminded = True
                    snapshot = self._require_snapshot()
                    await self._notify(
                        ballot_notices.reminder(self._label(), self._not_voted(), self._deadline, snapshot)
                    )
                continue
            if await self._wait(self._deadline - now) or workflow.now() < self._deadline:
                continue  # something happened, or the chair extended the deadline meanwhile
            if self._quorum_met():
                return True
            # The deadline passed without a quorum: the chair is told, then extends or cancels.
            deadline_before = self._deadline
            session = self._turnout()
            await self._notify(
                ballot_notices.quorum_missed(
                    self._label(), self._chairs(), session.voted, session.eligible, self._require_snapshot()
                )
            )
            self._phase = SessionPhase.AWAITING_CHAIR
            await self._register()
            await workflow.wait_condition(self._chair_decided(deadline_before))
            if not self._cancelled:
                self._phase = SessionPhase.VOTING
                await self._register()
                await self._announce_deadline()
                reminded = False

    def _chair_decided(self, deadline_before: datetime) -> Callable[[], bool]:
        return lambda: self._cancelled or self._deadline != deadline_before

    def _round_complete(self) -> bool:
        # Everyone who may vote took a credential, and every credential taken has cast its ballot.
        everyone = (
            self._electorate is not None
            and set(self._expected_voters()) <= set(self._participation)
            and len(self._ballots) >= len(self._participation)
        )
        return everyone or self._close_requested or self._cancelled

    def _expected_voters(self) -> list[str]:
        """Voters with at least one candidate they may vote on this round (a voter conflicted on the whole
        list has no ballot to cast, and must not hold the session open)."""
        if self._electorate is None:
            return []
        live = self._live(self._round_candidates)
        return [v.id for v in self._electorate.voters if any(not conflicted(v, c, self._rule) for c in live)]

    async def _wait(self, timeout: timedelta) -> bool:
        """Wait for the round to complete; True if it did, False when the timeout ran out first."""
        if timeout <= timedelta(0):
            return self._round_complete()
        try:
            await workflow.wait_condition(lambda: self._round_complete() or bool(self._actions), timeout=timeout)
            return True
        except TimeoutError:
            return False

    # ---- human actions -----------------------------------------------------------------------------

    @workflow.update(name=JOIN_LIST_UPDATE)
    async def join_list(self, candidate: Candidate) -> None:
        """A nomination reaching the stage joins the list while it is collected (its offer claimed it for this
        session first); later ones wait for the next session. It is told, once, as one taken up at the opening
        is (an offer sent again finds it listed)."""
        if candidate.workflow_id not in self._candidates:
            self._add_candidate(candidate)
            await self._tell_joined([candidate.workflow_id])

    @join_list.validator
    @payload_required
    def _validate_join_list(self, candidate: Candidate) -> None:
        if self._phase != SessionPhase.COLLECTING or self._list_closed or self._cancelled:
            raise ValueError(f"the list is closed; the session is {self._phase.value}")

    @workflow.signal
    async def candidate_left(self, leaving: ListLeaving) -> None:
        """A nomination on the list left its stage by something other than this session's verdict."""
        await self._take_off(leaving)

    async def _take_off(self, leaving: ListLeaving) -> None:
        """While the list is collected the nomination is taken off it; once voting has opened it is struck.
        After the results are settled nothing changes: they were counted while it was on the list."""
        wf = leaving.workflow_id
        candidate = self._candidates.get(wf)
        if candidate is None or wf in self._struck or self._final or self._phase == SessionPhase.CANCELLED:
            workflow.logger.info("leaving notice for %s not applied (phase %s)", wf, self._phase.value)
            return
        # Who moved it, for the audit; anything but a person's CLI or API action is the system's.
        actor = leaving.actor or "system"
        channel = leaving.channel if leaving.channel in ("CLI", "API") else "SYSTEM"
        if self._phase == SessionPhase.COLLECTING:
            del self._candidates[wf]
            self._note(
                SessionActionKind.CANDIDATE_REMOVED,
                actor,
                channel,
                f"{wf} taken off the list: {leaving.reason_vi}",
                nomination=wf,
                nomination_action=leaving.action,
            )
        else:
            self._struck[wf] = StruckCandidate(
                candidate=candidate,
                round=self._round,
                action=leaving.action,
                to_stage=leaving.to_stage,
                reason_vi=leaving.reason_vi,
                struck_at=leaving.left_at,
            )
            self._verdicts.pop(wf, None)
            self._note(
                SessionActionKind.CANDIDATE_STRUCK,
                actor,
                channel,
                f"{wf} struck from the list in round {self._round}: {leaving.reason_vi}",
                nomination=wf,
                nomination_action=leaving.action,
                round=self._round,
            )
            if self._tie is not None:
                self._rerank_tie()
        await self._release([wf])
        await self._register()
        if self._phase != SessionPhase.COLLECTING and self._electorate is not None:
            await self._notify(
                ballot_notices.candidate_struck(
                    self._label(), self._voter_ids(), wf, leaving.reason_vi, self._require_snapshot()
                )
            )

    def _rerank_tie(self) -> None:
        """A candidate struck while the bloc head's decision is awaited: rank the round again; the tie narrows
        (the head chooses among what is left) or is settled (`_tie` None)."""
        ranking = self._rank_round()
        for wf in [c.workflow_id for c in self._round_candidates]:
            self._verdicts.pop(wf, None)
        self._decide(bloc_verdicts(ranking))
        self._tie = ranking if ranking.needs_runoff else None

    @workflow.update
    async def close_list(self, closing: ListClosing) -> SessionStatus:
        """Returns once voting is open, with the final list and the electorate."""
        self._list_closed = True
        self._note(
            SessionActionKind.LIST_CLOSED,
            closing.actor,
            closing.channel,
            f"list closed with {len(self._candidates)} nominations",
            nominations=len(self._candidates),
        )
        await workflow.wait_condition(lambda: self._phase != SessionPhase.COLLECTING)
        return self.status()

    @close_list.validator
    @payload_required
    def _validate_close_list(self, closing: ListClosing) -> None:
        if self._phase != SessionPhase.COLLECTING or self._list_closed:
            raise ValueError(f"the list can only be closed while COLLECTING; the session is {self._phase.value}")
        self._require_role(closing.actor, self._list_keepers(), "close the list")
        if not self._candidates:
            raise ValueError("the list is empty: no nomination has reached this stage yet")

    @workflow.update
    async def request_credential(self, request: CredentialRequest) -> CredentialIssue:
        """A voter takes this round's one-time ballot credential: the session blind-signs their token and their
        conflict class. Who took one, and when, is recorded (turnout, reminders, the minutes); the token stays
        hidden from the session, so the ballot cast with it cannot be tied back to this request."""
        asked = _blinded_digest(request)
        issued = self._issued.get(request.voter)
        if issued is not None and issued[0] == asked:
            return issued[1]  # the same request again (its answer was lost): the same credential, not a second
        if request.voter in self._participation:  # a second request that passed the validator in the same task
            raise ApplicationError(f"voter {request.voter!r} has already taken this round's ballot credential")
        self._participation[request.voter] = Participation(voter_id=request.voter, voted_at=workflow.now())
        try:
            issue = await workflow.execute_activity_method(
                BallotActivities.sign_credential,
                args=[
                    self._id(),
                    request.round,
                    request.voter,
                    self._voter_class[request.voter],
                    request.blinded_token,
                    request.blinded_class,
                ],
                start_to_close_timeout=CRYPTO_TIMEOUT,
                retry_policy=RETRY,
            )
        except ActivityError as err:
            # Not signed (the blinded values did not fit the keys): the voter has no credential and may ask again.
            del self._participation[request.voter]
            raise ApplicationError(f"no credential was given: {err.cause or err}") from None
        self._issued[request.voter] = (asked, issue)
        return issue

    @request_credential.validator
    @payload_required
    def _validate_request_credential(self, request: CredentialRequest) -> None:
        self._require_voting(request.round, "ballot credentials are given")
        assert self._electorate is not None
        voter = request.voter
        if self._start.kind == BallotSessionKind.COUNCIL and voter in self._list_keepers():
            raise ValueError(f"voter {voter!r} is the council's secretary and records this session; no ballot")
        if self._electorate.voter(voter) is None or voter not in self._voter_class:
            raise ValueError(f"voter {voter!r} is not in this session's electorate")
        issued = self._issued.get(voter)
        if issued is not None and issued[0] == _blinded_digest(request):
            return  # asking again with the very same blinded values: answered with the credential already given
        if voter in self._participation:
            raise ValueError(f"voter {voter!r} has already taken this round's ballot credential (one ballot each)")
        if voter not in self._expected_voters():
            raise ValueError(f"voter {voter!r} may vote on no candidate on this round's list (conflicted on all)")
        for field in ("blinded_token", "blinded_class"):
            if len(_decoded(getattr(request, field), field)) != BLINDED_BYTES:
                raise ValueError(f"{field}: a blinded message under a 2048-bit key is {BLINDED_BYTES} bytes")

    @workflow.query
    def voter_class(self, voter_id: str) -> ConflictClass | None:
        """The conflict class a voter holds (its key blinds their class message, its exclusions are their
        recusals), from the moment voting opens; None for anyone outside the electorate, or before."""
        keys = self._keys
        class_id = self._voter_class.get(voter_id)
        if keys is None or class_id is None:
            return None
        return next(c for c in keys.classes if c.class_id == class_id)

    @workflow.update
    def cast_ballot(self, ballot: AnonymousBallot) -> BallotReceipt:
        """An anonymous sealed ballot: its token's blind signature shows a voter of this round took it; nothing
        in it names the voter. The receipt is the digest of the token, which only the voter's client knows."""
        digest = receipt_hex(self._id(), ballot.round, unb64(ballot.token, "token"))
        if digest in self._ballots:  # the same token twice in one workflow task: the validator saw neither
            raise ApplicationError("token: this credential has already cast its ballot")
        self._ballots[digest] = ballot
        return BallotReceipt(
            session_id=self._id(), receipt=self._receipt(digest), round=ballot.round, voted_at=workflow.now()
        )

    @cast_ballot.validator
    @payload_required
    def _validate_cast(self, ballot: AnonymousBallot) -> None:
        self._require_voting(ballot.round, "ballots are accepted")
        keys = self._require_keys()
        token = _decoded(ballot.token, "token")
        if len(token) != TOKEN_BYTES:
            raise ValueError(f"token: a ballot token is {TOKEN_BYTES} bytes")
        message = token_message(self._id(), ballot.round, token)
        if not verify(keys.issuer.public_pem, message, _decoded(ballot.token_signature, "token_signature")):
            raise ValueError(
                "token_signature: not this session's credential for this round (forged, unsigned, or from another "
                "round or session)"
            )
        if receipt_hex(self._id(), ballot.round, token) in self._ballots:
            raise ValueError("token: this credential has already cast its ballot (one ballot each, never amended)")
        if ballot.ballot.key_id != keys.sealing.key_id:
            raise ValueError(
                f"ballot.key_id: sealed to key {ballot.ballot.key_id}, the session's sealing key is "
                f"{keys.sealing.key_id}"
            )
        if ballot.ballot.sealed_credential is None:
            raise ValueError("ballot.sealed_credential: a ballot carries its sealed class credential")
        round_ids = [c.workflow_id for c in self._round_candidates]
        errors = ballot_shape_errors(ballot.ballot.sealed_choices, round_ids, self._struck)
        if errors:
            raise ValueError("; ".join(errors))

    def _require_voting(self, round: int, what: str) -> None:
        if self._phase != SessionPhase.VOTING or self._electorate is None or self._keys is None:
            raise ValueError(f"{what} only while VOTING; the session is {self._phase.value}")
        if round != self._round:
            raise ValueError(f"round: the session is voting in round {self._round}, not {round}")

    @workflow.update
    def hand_in_share(self, hand_in: ShareHandIn) -> SessionStatus:
        """A counting committee member hands in their share (decrypted on their side); the count runs once
        `threshold` have."""
        self._shares[hand_in.member] = hand_in
        self._note(
            SessionActionKind.SHARE_HANDED_IN,
            hand_in.member,
            hand_in.channel,
            f"share {hand_in.index} handed in for round {self._round}",
            round=self._round,
            index=hand_in.index,
        )
        return self.status()

    @hand_in_share.validator
    @payload_required
    def _validate_hand_in(self, hand_in: ShareHandIn) -> None:
        if self._phase != SessionPhase.AWAITING_COUNT or self._keys is None or self._cancelled:
            phase = "being cancelled" if self._cancelled else self._phase.value
            raise ValueError(f"shares are handed in only while AWAITING_COUNT; the session is {phase}")
        member, keys = hand_in.member, self._keys
        index = share_index(keys.committee, member)
        if index is None:
            raise ValueError(
                f"member: {member!r} is not on this session's counting committee ({', '.join(keys.committee)})"
            )
        if member in self._shares:
            raise ValueError(f"member: {member!r} has already handed in their share")
        if hand_in.index != index:
            raise ValueError(f"index: {member!r} holds share {index}, not {hand_in.index}")
        share = _decoded(hand_in.share, "share")
        if share_commitment(self._id(), member, index, share) != keys.commitments[index - 1]:
            raise ValueError(f"share: not the share {member!r} was given for this session (its commitment differs)")

    @workflow.update
    def close_voting(self, action: ChairAction) -> SessionStatus:
        self._close_requested = True
        session = self._turnout()
        self._note(
            SessionActionKind.VOTING_CLOSED,
            action.actor,
            action.channel,
            f"voting closed early in round {self._round}: {session.voted} of {session.eligible} voted",
            round=self._round,
            voted=session.voted,
            eligible=session.eligible,
            reason=action.reason,
        )
        return self.status()

    @close_voting.validator
    @payload_required
    def _validate_close_voting(self, action: ChairAction) -> None:
        if self._phase != SessionPhase.VOTING:
            raise ValueError(f"voting can only be closed while VOTING; the session is {self._phase.value}")
        self._require_role(action.actor, self._chairs(), "close the voting")
        if not self._quorum_met():
            session = self._turnout()
            raise ValueError(f"no quorum yet: {session.voted}/{session.eligible} have voted")

    @workflow.update
    def extend(self, action: ChairAction) -> SessionStatus:
        assert action.new_deadline is not None
        before, self._deadline = self._deadline, action.new_deadline
        self._note(
            SessionActionKind.DEADLINE_EXTENDED,
            action.actor,
            action.channel,
            f"deadline moved to {action.new_deadline.isoformat()}",
            round=self._round,
            previous_deadline=before.isoformat(),
            new_deadline=action.new_deadline.isoformat(),
            reason=action.reason,
        )
        return self.status()

    @extend.validator
    @payload_required
    def _validate_extend(self, action: ChairAction) -> None:
        if self._phase not in (SessionPhase.VOTING, SessionPhase.AWAITING_CHAIR):
            raise ValueError(f"only a session that is voting can be extended; the session is {self._phase.value}")
        self._require_role(action.actor, self._chairs(), "extend the deadline")
        if action.new_deadline is None or action.new_deadline <= workflow.now():
            raise ValueError("new_deadline: must be given and lie in the future")

    @workflow.update
    def cancel(self, action: ChairAction) -> SessionStatus:
        self._cancelled = True
        self._cancel_reason = action.reason
        self._note(
            SessionActionKind.CANCELLED,
            action.actor,
            action.channel,
            f"cancelled while {self._phase.value}: {action.reason}",
            phase=self._phase.value,
            round=self._round,
            reason=action.reason,
        )
        return self.status()

    @cancel.validator
    @payload_required
    def _validate_cancel(self, action: ChairAction) -> None:
        if self._phase in (SessionPhase.CLOSED, SessionPhase.CANCELLED):
            raise ValueError(f"the session has ended ({self._phase.value})")
        if self._counting:
            raise ValueError("the ballots are being counted: the session can no longer be cancelled")
        self._require_role(action.actor, self._chairs(), "cancel the session")
        if not action.reason:
            raise ValueError("reason: a cancellation needs a reason")

    @workflow.update
    async def decide_tie(self, decision: TieDecision) -> SessionStatus:
        """The bloc head's recorded decision on a tie that outlasted the runoff rounds; returns once the
        results have gone to the nominations."""
        self._tie_decision = decision
        await workflow.wait_condition(lambda: self._phase != SessionPhase.AWAITING_HEAD)
        return self.status()

    @decide_tie.validator
    @payload_required
    def _validate_decide_tie(self, decision: TieDecision) -> None:
        if self._phase != SessionPhase.AWAITING_HEAD or self._tie is None or self._cancelled:
            raise ValueError(
                "a tie is decided only while it awaits the bloc head's decision (AWAITING_HEAD); "
                f"the session is {self._phase.value}"
            )
        if self._tie_decision is not None:
            raise ValueError(f"the tie has already been decided by {self._tie_decision.actor!r}")
        self._require_role(decision.actor, self._holders(Role.BLOC_HEAD), "decide the tie")
        errors = tie_decision_errors(self._tie, decision.choose)
        if errors:
            raise ValueError("; ".join(errors))

    @workflow.query
    def status(self) -> SessionStatus:
        session = self._turnout() if self._electorate else None
        closed = self._phase == SessionPhase.CLOSED
        return SessionStatus(
            session_id=self._id(),
            kind=self._start.kind,
            scope=self._start.scope,
            meeting_ref=self._start.meeting_ref,
            phase=self._phase,
            round=self._round,
            deadline=self._deadline,
            candidates=self._live(self._round_candidates or list(self._candidates.values())),
            electorate_size=self._electorate.size if self._electorate else 0,
            voted=sorted(self._participation),
            quorum_met=bool(session and session.quorum_met),
            ballots_cast=len(self._ballots),
            committee=list(self._committee),
            shares_in=len(self._shares),
            keys=self._keys,
            results=self._results if closed else None,
            counted_receipts=self._counted_receipts if closed else None,
            spoiled_receipts=sorted(self._receipts_spoiled) if closed else None,
            cancel_reason=self._cancel_reason,
            tied=list(self._tie.tied) if self._tie else [],
            seats_left=self._tie.seats_left if self._tie else 0,
            struck=[self._struck[wf] for wf in sorted(self._struck)],
        )

    # ---- helpers ------------------------------------------------------------------------------------

    def _id(self) -> str:
        return workflow.info().workflow_id

    def _label(self) -> str:
        return ballot_notices.session_label_vi(self._start.kind, self._start.scope, self._start.meeting_ref)

    def _note(
        self,
        what: SessionActionKind,
        actor: str,
        channel: str,
        outcome: str,
        /,
        *,
        at: datetime | None = None,
        written_later: bool = False,
        **details: str | int | list[str] | None,
    ) -> SessionAction:
        """A person's action, numbered by the session's step; kept to be audited with the next register of
        the session (unless `written_later` by the caller's own write)."""
        self._step += 1
        action = SessionAction.model_validate(
            {
                "session_id": self._id(),
                "step": self._step,
                "action": what,
                "actor": actor,
                "channel": channel,
                "occurred_at": at or workflow.now(),
                "outcome": outcome,
                "details": details,
            }
        )
        if self._audit and not written_later:
            self._actions.append(action)
        return action

    def _add_candidate(self, candidate: Candidate) -> None:
        self._candidates.setdefault(candidate.workflow_id, candidate)

    def _require_snapshot(self) -> RosterSnapshot:
        assert self._snapshot is not None
        return self._snapshot

    def _holders(self, role: Role) -> list[str]:
        return [a.id for a in self._require_snapshot().holders(role, self._start.scope)]

    def _list_keepers(self) -> list[str]:
        role = Role.COUNCIL_SECRETARY if self._start.kind == BallotSessionKind.COUNCIL else Role.BLOC_HEAD
        return self._holders(role)

    def _chairs(self) -> list[str]:
        role = Role.COUNCIL_CHAIR if self._start.kind == BallotSessionKind.COUNCIL else Role.BLOC_HEAD
        return self._holders(role)

    def _require_role(self, actor: str, allowed: list[str], what: str) -> None:
        if self._snapshot is None:
            raise ValueError("the session is still opening; try again in a moment")
        if actor not in allowed:
            raise ValueError(
                f"actor {actor!r} may not {what} in {self._label()}; allowed: {', '.join(allowed) or 'none'}"
            )

    def _voter_ids(self) -> list[str]:
        return [v.id for v in self._electorate.voters] if self._electorate else []

    def _not_voted(self) -> list[str]:
        return [v for v in self._expected_voters() if v not in self._participation]

    def _quorum_policy(self) -> VotingPolicy:
        if self._start.kind == BallotSessionKind.BLOC:
            return self._policy.voting_policies[self._bloc_policy_code()]
        # A council session's quorum is the strictest among its candidates' policies.
        policies = [self._council_policy(c) for c in self._live(self._round_candidates)] or [
            self._policy.voting_policies["COUNCIL_MAJORITY"]
        ]
        return max(policies, key=lambda p: p.quorum.numerator / p.quorum.denominator)

    def _turnout(self) -> Turnout:
        assert self._electorate is not None
        # The quorum is counted on the ballots cast (less those spoiled once counted), not on the credentials.
        counted = min(len(self._ballots) - self._round_spoiled, self._electorate.size)
        return ballot_turnout(self._electorate, counted, self._quorum_policy().quorum)

    def _quorum_met(self) -> bool:
        return self._electorate is not None and self._turnout().quorum_met

    def _council_policy(self, candidate: Candidate) -> VotingPolicy:
        return self._policy.council_policy(candidate.award_form)

    def _bloc_policy_code(self) -> str:
        codes = {self._policy.form(c.award_form).bloc_policy for c in self._candidates.values()}
        codes.discard(None)
        return str(codes.pop()) if len(codes) == 1 else "BLOC_MAJORITY"

    def _count_request(self) -> CountRequest:
        """The count's input: no voter id in it. The ballots in receipt order (the order they were cast, which
        timing could tie to voters, is gone), the shares without their members, the members per candidate."""
        assert self._electorate is not None
        keys = self._require_keys()
        return CountRequest(
            session_id=self._id(),
            round=self._round,
            ballots=[self._ballots[digest] for digest in sorted(self._ballots)],
            shares=[
                KeyShare(index=self._shares[m].index, share=self._shares[m].share)
                for m in self._committee
                if m in self._shares
            ],
            threshold=keys.threshold,
            classes=list(keys.classes),
            members=eligible_members(self._electorate, self._round_candidates, self._rule),
            struck=sorted(self._struck),
        )

    async def _record_minutes(self, outcomes: dict[str, VoteOutcome]) -> None:
        """The round's minutes: each counted candidate's tally and outcome, and each candidate struck since
        the last minutes, as withdrawn from the list with the reason."""
        assert self._electorate is not None
        entries = [
            MinutesEntry(
                candidate=self._candidates[wf], tally=self._round_tallies[wf], result=o.result, reason_vi=o.reason_vi
            )
            for wf, o in outcomes.items()
            if wf not in self._struck
        ]
        round_ids = {c.workflow_id for c in self._round_candidates}
        entries += [
            self._struck_entry(wf)
            for wf, struck in self._struck.items()
            if wf in round_ids or struck.round == self._round
        ]
        entries.sort(key=lambda e: e.candidate.workflow_id)
        minutes = SessionMinutes(
            session_id=self._id(),
            kind=self._start.kind,
            scope=self._start.scope,
            meeting_ref=self._start.meeting_ref,
            round=self._round,
            policy_version=self._policy.version,
            closed_at=workflow.now(),
            electorate_size=self._electorate.size,
            entries=entries,
            participation=[p for _, p in sorted(self._participation.items())],
            spoiled=self._round_spoiled,
            ballots_cast=len(self._ballots),
        )
        self._recorded = {e.candidate.workflow_id: _said(e) for e in entries}
        await self._activity("record_ballot_minutes", minutes)
        await request_anchor()  # the minutes are in the audit chain: anchor its head now

    async def _register(self, phase: SessionPhase | None = None) -> None:
        """Write the session's row (in `phase`, default its own) with the people's actions noted since."""
        # One write at a time, each of the state as it is then: an earlier phase never lands after a later one.
        async with self._register_lock:
            row = SessionRow(
                session_id=self._id(),
                kind=self._start.kind,
                scope=self._start.scope,
                meeting_ref=self._start.meeting_ref,
                phase=phase or self._phase,
                opened_by=self._start.opened_by,
                deadline=self._deadline,
                policy_version=self._policy.version,
                candidates=len(self._candidates) - len(self._struck),
                electorate_size=self._electorate.size if self._electorate else 0,
                voted=len(self._participation),
            )
            actions, self._actions = self._actions, []
            await self._activity("register_ballot_session", row, actions)

    async def _notify(self, drafts: list[NotificationDraft]) -> None:
        if not drafts:
            return
        self._notice_seq += 1
        await self._activity("write_session_notifications", self._id(), self._notice_seq, drafts)

    async def _activity(self, name: str, *args: Any, result_type: type[T] | None = None) -> T:
        return await workflow.execute_activity(
            name, args=list(args), result_type=result_type, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY
        )


def _said(entry: MinutesEntry) -> tuple[str, str]:
    return entry.result.value, entry.reason_vi


def _blinded_digest(request: CredentialRequest) -> str:
    """What identifies a credential request: the blinded values (the same ones give the same signatures)."""
    return hashlib.sha256(f"{request.round}|{request.blinded_token}|{request.blinded_class}".encode()).hexdigest()


def _decoded(value: str, field: str) -> bytes:
    try:
        return unb64(value, field)
    except SealError:
        raise ValueError(f"{field}: not valid base64") from None
