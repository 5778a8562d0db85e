"""BallotSessionWorkflow: one secret-ballot session of a ministry council meeting or a bloc's year-end vote.

COLLECTING: nominations reaching the stage join the list (by the `join_list` signal their offer sends, or
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

The session's state and its rules (which phase follows which, who may do what when, the quorum, the ranking,
the minutes) are domain/ballot_session_state.py; this module runs the procedure over them.
Choices exist here only sealed, in ballots that carry no voter id; they are opened and counted inside one
activity that returns tallies.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TypedDict, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.types import MethodSyncOrAsyncSingleParam

with workflow.unsafe.imports_passed_through():
    from activities.ballots import BallotActivities
    from activities.session_roster import SessionRosterActivities
    from domain import ballot_notices
    from domain.ballot_messages import (
        JOIN_LIST_SIGNAL,
        AnonymousBallot,
        BallotPaper,
        BallotReceipt,
        BallotVerdict,
        ChairAction,
        ConflictClass,
        CredentialIssue,
        CredentialRequest,
        ListClosing,
        ListJoined,
        ListLeaving,
        ListRefused,
        Participation,
        PublishedPaper,
        SessionActionKind,
        SessionCancelled,
        SessionPhase,
        SessionStart,
        SessionStatus,
        ShareHandIn,
        TieDecision,
    )
    from domain.ballot_session_state import (
        OfferAnswer,
        SessionAct,
        SessionState,
        closed_list_refusal,
        credential_digest,
    )
    from domain.ballots import (
        BallotSessionKind,
        BlocRanking,
        Candidate,
        ballot_shape_errors,
        bloc_verdicts,
        council_outcomes,
        head_decision_pending,
        head_decision_verdicts,
        runoff_pending,
        runoffs_exhausted,
        tie_decision_errors,
    )
    from domain.catalog import policy_set
    from domain.committee import conflict_classes
    from domain.messages import SessionScheduled
    from domain.notices import NotificationDraft
    from domain.operator_view import session_details_vi
    from domain.roster import Role
    from domain.voting import VoteOutcome
    from security.blind import verify
    from security.committee import share_commitment
    from security.sealing import SealError, receipt_hex, token_message, unb64
    from workflows.audit_anchor import request_anchor
    from workflows.payloads import payload_required

Message = TypeVar("Message")


class _Step(TypedDict):
    start_to_close_timeout: timedelta
    retry_policy: RetryPolicy


RETRY = RetryPolicy(
    maximum_interval=timedelta(seconds=30), non_retryable_error_types=["UnknownScope", "EmptyElectorate"]
)
# A register write, a lookup, the minutes.
STEP: _Step = {"start_to_close_timeout": timedelta(seconds=60), "retry_policy": RETRY}
# Blind signatures and the count are RSA work on a busy worker: more time than the register's writes.
CRYPTO_STEP: _Step = {"start_to_close_timeout": timedelta(minutes=5), "retry_policy": RETRY}
BLINDED_BYTES = 256  # RSA-2048 issuer and class keys
TOKEN_BYTES = 32


@workflow.defn(name="BallotSessionWorkflow")
class BallotSessionWorkflow:
    @workflow.init
    def __init__(self, start: SessionStart) -> None:
        self._state = SessionState.opening(workflow.info().workflow_id, start, policy_set(start.policy_version))
        self._register_lock = asyncio.Lock()  # register writes in order: a later phase is never overwritten

    # ---- the procedure -------------------------------------------------------------------------

    @workflow.run
    async def run(self, start: SessionStart) -> SessionStatus:
        s = self._state
        if not await self._open():
            return self.status()
        if s.closed_list:
            await self._take_up_closed_list()
        else:
            await self._take_up_waiting()
        await workflow.wait_condition(lambda: s.list_closing or s.cancelled)
        if not s.cancelled:
            await self._open_voting()
        if not s.cancelled:
            await self._run_rounds()
        # A session whose results went out stays CLOSED, even when a cancel slipped in while it was counted.
        if s.cancelled and not s.closed:
            await self._end_cancelled()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    async def _open(self) -> bool:
        """Load the roster, check the opener and name the committee, register the session. False when it may
        not open: the client checks first, this catches what slipped through (another client, or a roster
        changed meanwhile); nothing has been registered, the session ends there."""
        s, start = self._state, self._state.start
        kind, scope = start.kind.value, start.scope
        s.snapshot = await workflow.execute_activity_method(
            SessionRosterActivities.load_scope_snapshot, args=[kind, scope], **STEP
        )
        refusal = s.seat_committee()
        if refusal is not None:
            workflow.logger.warning("session refused at opening: %s", refusal)
            s.cancel(refusal)
            s.move(SessionPhase.CANCELLED)
            return False
        s.note(
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
            committee=list(s.committee),
        )
        await self._register()
        return True

    async def _take_up_waiting(self) -> None:
        """The waiting nominations no other open session holds are claimed for this one, and told so."""
        s = self._state
        waiting = await workflow.execute_activity_method(
            BallotActivities.waiting_candidates, args=[s.start.kind.value, s.start.scope, s.session_id], **STEP
        )
        taken = [c for c in waiting if s.join(c)]  # one that joined on its offer meanwhile is told already
        await self._tell_joined([c.workflow_id for c in taken])

    async def _take_up_closed_list(self) -> None:
        """A closed list (the bloc's honouring): exactly the nominations the start names are claimed, told they
        joined, and the list closes at once. One that is unknown, not waiting at the stage or held by another
        open session cancels the opening, with the reason naming it (the client checks first)."""
        s = self._state
        named = list(s.start.candidates or [])
        claim = await workflow.execute_activity_method(
            BallotActivities.claim_closed_list, args=[s.start.kind.value, s.start.scope, s.session_id, named], **STEP
        )
        refusal = closed_list_refusal(named, claim)
        if refusal is not None:
            workflow.logger.warning("closed list refused at opening (%d named)", len(named))
            s.cancel(refusal)
            s.note(
                SessionActionKind.CANCELLED,
                "system",
                "SYSTEM",
                f"cancelled as it opened: {refusal}",
                at=workflow.now(),
                phase=s.phase.value,
                round=s.round.number,
                reason=refusal,
            )
            return
        listed = s.take_up_closed_list(claim, workflow.now())
        await self._tell_joined(listed)

    async def _open_voting(self) -> None:
        """The list is closed: the electorate is snapshotted, the session's keys are made and the voters told.
        A committee member without an enrolled counting key (the client checks first) cancels the session."""
        s = self._state
        electorate = await workflow.execute_activity_method(
            BallotActivities.snapshot_electorate, args=[s.start.kind.value, s.start.scope], **STEP
        )
        s.open_voting(electorate)
        classes, voter_class = conflict_classes(electorate, s.round.candidates, s.rule)
        try:
            s.round.keys = await workflow.execute_activity_method(
                BallotActivities.prepare_session_keys,
                args=[s.session_id, s.committee, s.policy.counting_committee.threshold, classes],
                **CRYPTO_STEP,
            )
        except ActivityError as err:
            cause = err.cause
            if not isinstance(cause, ApplicationError) or cause.type != "CommitteeKeyMissing":
                raise
            workflow.logger.warning("session cancelled as voting opened: %s", cause.message)
            s.cancel(cause.message)
            s.note(
                SessionActionKind.CANCELLED,
                "system",
                "SYSTEM",
                f"cancelled as voting opened: {cause.message}",
                at=workflow.now(),
                phase=s.phase.value,
                round=s.round.number,
                reason=cause.message,
            )
            return
        s.round.voter_class = voter_class
        # Before the session shows VOTING: the nominations on the list learn when their stage is due (a signal to
        # each, whose acknowledgements would otherwise keep the session's workflow tasks busy as the first
        # ballots come in), and the paper is published (a voter who sees VOTING finds it).
        await self._announce_deadline()
        await self._publish_paper()
        s.move(SessionPhase.VOTING)
        # Together, so the session is quiet sooner as the first ballots come in:
        # - the register shows VOTING, and then the voters are told (a voter told finds it so);
        # - an offer whose claim landed as the list closed did not make the list: let go of it. After VOTING is
        #   the session's phase: an offer until then costs nothing (its claim goes here), one after it is refused
        #   and released alone.
        await asyncio.gather(self._register_then_tell_voters(), self._release(None, keep=list(s.candidates)))

    async def _register_then_tell_voters(self) -> None:
        s = self._state
        await self._register()
        await self._notify(
            ballot_notices.voting_opened(s.label(), s.voter_ids(), len(s.round.candidates), s.deadline, s.roster())
        )

    async def _run_rounds(self) -> None:
        """Vote, count and rank round after round until the results are settled, then close; returns early when
        the session is cancelled (before its count)."""
        s = self._state
        while True:
            if not await self._collect_ballots() or not await self._collect_shares():
                return
            await self._count()
            if s.start.kind == BallotSessionKind.COUNCIL:
                live = s.live(s.round.candidates)
                outcomes = council_outcomes(s.live_tallies(), live, s.council_policy, s.turnout())
                s.decide(outcomes)
                await self._record_minutes(outcomes)
                break
            ranking = s.rank_round()
            decided = bloc_verdicts(ranking)
            s.decide(decided)
            # The runoffs the policy allows are used up and the tie remains: the bloc head decides.
            to_head = runoffs_exhausted(ranking, s.bloc_policy(), s.round.number - 1)
            pending = head_decision_pending(ranking) if to_head else runoff_pending(ranking)
            await self._record_minutes(decided | pending)
            if to_head:
                settled = await self._head_decides()
                if settled is None:
                    return
                s.decide(settled)
                break
            ranking = s.rank_round()  # a candidate struck while the minutes were written is out of it
            if not ranking.needs_runoff:
                s.decide(bloc_verdicts(ranking))
                break
            await self._open_runoff(ranking)  # never break a tie at the quota boundary silently
        await self._close()

    async def _collect_ballots(self) -> bool:
        """Wait until the round's voting is over (reminding those who have not voted, the chair asked when
        the deadline passes without a quorum); False when the session is cancelled."""
        s = self._state
        reminded = False
        while True:
            if s.cancelled:
                return False
            if s.round_complete():
                if s.unwritten:  # the chair closed early: audited before the count
                    await self._register()
                return True
            if s.unwritten:  # e.g. the chair extended the deadline: the new one is registered and audited
                await self._register()
            if s.deadline != s.announced_deadline:
                await self._announce_deadline()  # extended while voting: the nominations are due later too
            now = workflow.now()
            remind_at = s.deadline - timedelta(seconds=s.start.reminder_before_seconds)
            if not reminded and s.start.reminder_before_seconds and remind_at > now:
                if not await self._wait(remind_at - now):
                    reminded = True
                    await self._notify(ballot_notices.reminder(s.label(), s.not_voted(), s.deadline, s.roster()))
                continue
            if await self._wait(s.deadline - now) or workflow.now() < s.deadline:
                continue  # something happened, or the chair extended the deadline meanwhile
            if s.quorum_met():
                return True
            await self._await_chair()
            reminded = False

    async def _await_chair(self) -> None:
        """The deadline passed without a quorum: the chair is told, then extends or cancels."""
        s = self._state
        deadline_before = s.deadline
        turnout = s.turnout()
        await self._notify(
            ballot_notices.quorum_missed(s.label(), s.chairs(), turnout.voted, turnout.eligible, s.roster())
        )
        s.move(SessionPhase.AWAITING_CHAIR)
        await self._register()
        await workflow.wait_condition(lambda: s.cancelled or s.deadline != deadline_before)
        if not s.cancelled:
            # Voting again at once (a voter is not turned away while the nominations are told); the register and
            # the nominations learn the new deadline together.
            s.move(SessionPhase.VOTING)
            await asyncio.gather(self._register(), self._announce_deadline())

    async def _wait(self, timeout: timedelta) -> bool:
        """Wait for the round's voting to be over; True if it is, False when the timeout ran out first (an
        action waiting to be audited ends the wait early)."""
        s = self._state
        if timeout <= timedelta(0):
            return s.round_complete()
        try:
            await workflow.wait_condition(lambda: s.round_complete() or bool(s.unwritten), timeout=timeout)
            return True
        except TimeoutError:
            return False

    async def _collect_shares(self) -> bool:
        """Wait until `threshold` committee members have handed in their shares (AWAITING_COUNT; the members
        who have not are told); a runoff's count reuses the shares handed in for round 1. False when the
        session is cancelled meanwhile."""
        s = self._state
        if s.enough_shares():
            return True
        if s.unwritten:  # the chair closed early: audited before the session shows it awaits the count
            await self._register()
        keys = s.keys()
        waiting = [m for m in s.committee if m not in s.shares]
        await self._notify(
            ballot_notices.count_needed(s.label(), waiting, keys.threshold, len(s.round.ballots), s.roster())
        )
        # Told and registered before the session shows it awaits the count: whoever sees AWAITING_COUNT finds both.
        await self._register(SessionPhase.AWAITING_COUNT)
        s.move(SessionPhase.AWAITING_COUNT)
        await workflow.wait_condition(lambda: s.enough_shares() or s.cancelled)
        if s.unwritten and not s.cancelled:  # the hand-ins are audited before the count
            await self._register()
        return not s.cancelled

    async def _count(self) -> None:
        s = self._state
        s.counting = True  # from here the round's results go out: no cancelling them
        counted = await workflow.execute_activity_method(
            BallotActivities.open_and_count, s.count_request(), **CRYPTO_STEP
        )
        s.counted(counted)

    async def _record_minutes(self, outcomes: dict[str, VoteOutcome]) -> None:
        minutes = self._state.minutes(outcomes, workflow.now())
        await workflow.execute_activity_method(BallotActivities.record_ballot_minutes, minutes, **STEP)
        await request_anchor()  # the minutes are in the audit chain: anchor its head now

    async def _open_runoff(self, ranking: BlocRanking) -> None:
        """A runoff among the tied, with issuer and class keys of its own (a credential blind-signed in an
        earlier round could hide this round's token; under new keys it is worthless)."""
        s = self._state
        s.begin_runoff(ranking)
        assert s.electorate is not None
        classes, voter_class = conflict_classes(s.electorate, s.round.candidates, s.rule)
        s.round.keys = await workflow.execute_activity_method(
            BallotActivities.round_signing_keys, args=[s.session_id, s.round.number, classes], **CRYPTO_STEP
        )
        s.round.voter_class = voter_class
        s.runoff_voting(workflow.now())
        await self._publish_paper()
        await self._register()
        await self._notify(ballot_notices.runoff_opened(s.label(), s.voter_ids(), ranking.tied, s.deadline, s.roster()))

    async def _head_decides(self) -> dict[str, VoteOutcome] | None:
        """Wait for the bloc head's decision on the tie; record it in the minutes and the audit; the tied
        candidates' outcomes (None when the session is cancelled meanwhile). A strike meanwhile ranks the
        round again: the tie narrows, or is settled without the head."""
        s = self._state
        tie = s.rank_round()
        if not tie.needs_runoff:  # a strike while the minutes were written settled it
            return bloc_verdicts(tie)
        s.tie, s.counting = tie, False
        await self._notify(
            ballot_notices.tie_decision_needed(
                s.label(), s.holders(Role.BLOC_HEAD), tie.tied, tie.seats_left, s.round.number, s.roster()
            )
        )
        # Told and registered before the session shows it awaits the head: whoever sees AWAITING_HEAD finds both.
        await self._register(SessionPhase.AWAITING_HEAD)
        s.move(SessionPhase.AWAITING_HEAD)
        while True:
            await workflow.wait_condition(lambda: s.tie_decision is not None or s.cancelled or s.tie is None)
            if s.cancelled:
                return None
            ranking = s.tie if s.tie is not None else s.rank_round()
            if not ranking.needs_runoff:
                s.tie = None
                return bloc_verdicts(ranking)  # settled by a strike: the minutes are amended when the session closes
            decision = s.tie_decision
            if decision is not None and not tie_decision_errors(ranking, decision.choose):
                break
            # A strike narrowed the tie as the decision came in and the choice no longer fits it: decided anew.
            workflow.logger.warning("tie decision of %s no longer fits the tie after a strike", s.session_id)
            s.tie_decision = None
        outcomes = head_decision_verdicts(ranking, decision.choose)
        chosen = [wf for wf in ranking.tied if wf in set(decision.choose)]
        action = s.note(
            SessionActionKind.TIE_DECIDED,
            decision.actor,
            decision.channel,
            f"chose {', '.join(chosen)} for {ranking.seats_left} seat(s) among the tied {', '.join(ranking.tied)}",
            at=workflow.now(),
            written_later=True,
            round=s.round.number,
            tied=list(ranking.tied),
            seats_left=ranking.seats_left,
            head_decision=chosen,
        )
        record = s.tie_record(ranking, chosen, outcomes, action)
        await workflow.execute_activity_method(BallotActivities.record_tie_decision, record, **STEP)
        s.tie_recorded(record)
        s.tie = None
        return outcomes

    async def _close(self) -> None:
        """The results are settled: the minutes amended where a strike changed them, the secrets destroyed, the
        session CLOSED, its list let go and each verdict sent."""
        s = self._state
        while (amendment := s.amendment(workflow.now())) is not None:
            await workflow.execute_activity_method(BallotActivities.amend_ballot_minutes, amendment, **STEP)
            s.recorded(amendment.entries)
        s.settle()
        # Nothing is left to count: whoever sees the session CLOSED finds its secrets gone.
        await self._destroy_secrets()
        s.move(SessionPhase.CLOSED)
        await self._register()
        # Let go of the list before the verdicts go out: a nomination left in its stage (no quorum) is free
        # for the next session.
        await self._release(None, keep=[])
        # 300 nominations: one workflow task, not 300 round trips.
        await asyncio.gather(*(self._deliver_verdict(wf, verdict) for wf, verdict in s.verdicts_to_send()))

    async def _end_cancelled(self) -> None:
        s = self._state
        await self._destroy_secrets()
        s.move(SessionPhase.CANCELLED)
        await self._register()
        # Its nominations are free for the next session, and their stage is no longer due at its deadline.
        await self._release(None, keep=[])
        cancelled = SessionCancelled(session_id=s.session_id, reason=s.cancel_reason)
        await asyncio.gather(
            *(
                self._tell(wf, nomination.NominationWorkflow.ballot_session_cancelled, cancelled)
                for wf in s.candidates
                if wf not in s.struck
            )
        )

    # ---- what the session tells the nominations ----------------------------------------------------

    async def _tell(
        self,
        workflow_id: str,
        signal: MethodSyncOrAsyncSingleParam[nomination.NominationWorkflow, Message, None],
        message: Message,
    ) -> bool:
        """Signal a nomination; False when it could not be delivered (the nomination has ended)."""
        handle: workflow.ExternalWorkflowHandle[nomination.NominationWorkflow] = (
            workflow.get_external_workflow_handle_for(nomination.NominationWorkflow.run, workflow_id)
        )
        try:
            await handle.signal(signal, message)
        except Exception as err:  # e.g. the unit withdrew the nomination while the session ran
            workflow.logger.warning(
                "%s for %s not delivered: %s", getattr(signal, "__name__", signal), workflow_id, err
            )
            return False
        return True

    async def _announce_deadline(self) -> None:
        """Tell each nomination on the list when this session's voting ends: its stage is due then."""
        s = self._state
        s.announced_deadline = s.deadline
        scheduled = SessionScheduled(session_id=s.session_id, deadline=s.deadline)
        await asyncio.gather(
            *(
                self._tell(c.workflow_id, nomination.NominationWorkflow.session_scheduled, scheduled)
                for c in s.live(s.round.candidates)
            )
        )

    async def _tell_joined(self, workflow_ids: list[str]) -> None:
        """Tell nominations put on the list that this session holds them. One that cannot be told has ended
        meanwhile: it leaves the list."""
        s = self._state
        joined = ListJoined(session_id=s.session_id, kind=s.start.kind)
        delivered = await asyncio.gather(
            *(self._tell(wf, nomination.NominationWorkflow.ballot_list_joined, joined) for wf in workflow_ids)
        )
        for wf, ok in zip(workflow_ids, delivered, strict=True):
            if not ok:
                await self._take_off(
                    ListLeaving(
                        workflow_id=wf,
                        session_id=s.session_id,
                        action="ENDED",
                        to_stage=None,
                        reason_vi="hồ sơ đã kết thúc trước khi vào danh sách",
                        left_at=workflow.now(),
                    )
                )

    async def _deliver_verdict(self, workflow_id: str, verdict: BallotVerdict) -> None:
        await self._tell(workflow_id, nomination.NominationWorkflow.ballot_verdict, verdict)

    # ---- the session's own writes ------------------------------------------------------------------

    async def _register(self, phase: SessionPhase | None = None) -> None:
        """Write the session's row (in `phase`, default its own) with the people's actions noted since."""
        # One write at a time, each of the state as it is then: an earlier phase never lands after a later one.
        async with self._register_lock:
            s = self._state
            row = s.row(phase)
            workflow.set_current_details(session_details_vi(row))  # what operators read in the UI, counts only
            await workflow.execute_activity_method(
                BallotActivities.register_ballot_session, args=[row, s.take_unwritten()], **STEP
            )

    async def _publish_paper(self) -> None:
        """The round's paper (the list, the public keys, each voter's class) into the register, where the
        voters' clients read it: a meeting voting at once would fill the session's query buffer."""
        s = self._state
        classes = {voter: held for voter in s.round.voter_class if (held := self.voter_class(voter)) is not None}
        paper = PublishedPaper(session_id=s.session_id, round=s.round.number, status=s.status(), classes=classes)
        await workflow.execute_activity_method(BallotActivities.publish_ballot_paper, paper, **STEP)

    async def _notify(self, drafts: list[NotificationDraft]) -> None:
        if not drafts:
            return
        s = self._state
        s.notices_sent += 1
        await workflow.execute_activity_method(
            BallotActivities.write_session_notifications, args=[s.session_id, s.notices_sent, drafts], **STEP
        )

    async def _release(self, workflow_ids: list[str] | None, keep: list[str] | None = None) -> None:
        """Let go of nominations in the register of lists: those named, or all but `keep`."""
        await workflow.execute_activity_method(
            BallotActivities.release_from_list, args=[self._state.session_id, workflow_ids, keep], **STEP
        )

    async def _destroy_secrets(self) -> None:
        """The session has ended: the wrapped sealing key, the signing keys and the encrypted shares go."""
        await workflow.execute_activity_method(BallotActivities.destroy_session_secrets, self._state.session_id, **STEP)

    # ---- the list ----------------------------------------------------------------------------------

    @workflow.signal(name=JOIN_LIST_SIGNAL)
    async def join_list(self, candidate: Candidate) -> None:
        """A nomination reaching the stage joins the list while it is collected (its offer claimed it for this
        session first); it is told, once, as one taken up at the opening is (an offer sent again finds it
        listed). One offered while the list is closing costs nothing here: the claim goes with every other
        claim off the list as the voting opens, and the nomination waits for the next session. One offered
        after that (its offer was on its way) is let go and told, and offers itself elsewhere."""
        s = self._state
        match s.offer_answer(candidate.workflow_id):
            case OfferAnswer.REFUSE:
                await self._release([candidate.workflow_id])
                refused = ListRefused(session_id=s.session_id, kind=s.start.kind)
                await self._tell(candidate.workflow_id, nomination.NominationWorkflow.ballot_list_refused, refused)
            case OfferAnswer.LET_GO_AT_OPENING:
                workflow.logger.info("offer of %s while the list closes: let go as voting opens", candidate.workflow_id)
            case OfferAnswer.LIST if s.join(candidate):
                await self._tell_joined([candidate.workflow_id])

    @workflow.signal
    async def candidate_left(self, leaving: ListLeaving) -> None:
        """A nomination on the list left its stage by something other than this session's verdict."""
        await self._take_off(leaving)

    async def _take_off(self, leaving: ListLeaving) -> None:
        """Taken off the list while it is collected, struck once voting has opened (the voters are told)."""
        s, wf = self._state, leaving.workflow_id
        if not s.take_off(leaving, workflow.now()):
            workflow.logger.info("leaving notice for %s not applied (phase %s)", wf, s.phase.value)
            return
        await self._release([wf])
        if s.phase != SessionPhase.COLLECTING and s.round.keys is not None:
            await self._publish_paper()  # the voters' paper shows it struck
        await self._register()
        if s.phase != SessionPhase.COLLECTING and s.electorate is not None:
            await self._notify(
                ballot_notices.candidate_struck(s.label(), s.voter_ids(), wf, leaving.reason_vi, s.roster())
            )

    @workflow.update
    async def close_list(self, closing: ListClosing) -> SessionStatus:
        """Returns once voting is open, with the final list and the electorate."""
        s = self._state
        s.list_closing = True
        s.note(
            SessionActionKind.LIST_CLOSED,
            closing.actor,
            closing.channel,
            f"list closed with {len(s.candidates)} nominations",
            at=workflow.now(),
            nominations=len(s.candidates),
        )
        await workflow.wait_condition(lambda: s.phase != SessionPhase.COLLECTING)
        return self.status()

    @close_list.validator
    @payload_required
    def _validate_close_list(self, closing: ListClosing) -> None:
        _refuse(self._state.close_list_refusal(closing.actor))

    # ---- voting --------------------------------------------------------------------------------------

    @workflow.update
    async def request_credential(self, request: CredentialRequest) -> CredentialIssue:
        """A voter takes this round's one-time ballot credential: the session blind-signs their token and their
        conflict class. Who took one, and when, is recorded (turnout, reminders, the minutes); the token stays
        hidden from the session, so the ballot cast with it cannot be tied back to this request."""
        s = self._state
        issued = s.reissue(request)
        if issued is not None:
            return issued  # the same request again (its answer was lost): the same credential, not a second
        r = s.round
        if request.voter in r.participation:  # a second request that passed the validator in the same task
            raise ApplicationError(f"voter {request.voter!r} has already taken this round's ballot credential")
        r.participation[request.voter] = Participation(voter_id=request.voter, voted_at=workflow.now())
        try:
            # A local activity: the voter waits on it, and a wave's activity backlog is not in its way.
            issue = await workflow.execute_local_activity_method(
                BallotActivities.sign_credential,
                args=[
                    s.session_id,
                    request.round,
                    request.voter,
                    r.voter_class[request.voter],
                    request.blinded_token,
                    request.blinded_class,
                ],
                **CRYPTO_STEP,
            )
        except ActivityError as err:
            # Not signed (the blinded values did not fit the keys): the voter has no credential and may ask again.
            del r.participation[request.voter]
            raise ApplicationError(f"no credential was given: {err.cause or err}") from None
        r.issued[request.voter] = (credential_digest(request), issue)
        return issue

    @request_credential.validator
    @payload_required
    def _validate_request_credential(self, request: CredentialRequest) -> None:
        s = self._state
        _refuse(s.credential_refusal(request))
        if s.reissue(request) is not None:
            return  # asking again with the very same blinded values: answered with the credential already given
        for field in ("blinded_token", "blinded_class"):
            if len(_decoded(getattr(request, field), field)) != BLINDED_BYTES:
                raise ValueError(f"{field}: a blinded message under a 2048-bit key is {BLINDED_BYTES} bytes")

    @workflow.query
    def voter_class(self, voter_id: str) -> ConflictClass | None:
        """The conflict class a voter holds (its key blinds their class message, its exclusions are their
        recusals), from the moment voting opens; None for anyone outside the electorate, or before."""
        r = self._state.round
        class_id = r.voter_class.get(voter_id)
        if r.keys is None or class_id is None:
            return None
        return next(c for c in r.keys.classes if c.class_id == class_id)

    @workflow.query
    def ballot_paper(self, voter_id: str) -> BallotPaper:
        """The status and the voter's class together: a voter's client reads both before casting."""
        return BallotPaper(status=self._state.status(), held=self.voter_class(voter_id))

    @workflow.update
    def cast_ballot(self, ballot: AnonymousBallot) -> BallotReceipt:
        """An anonymous sealed ballot: its token's blind signature shows a voter of this round took it; nothing
        in it names the voter. The receipt is the digest of the token, which only the voter's client knows."""
        s = self._state
        digest = receipt_hex(s.session_id, ballot.round, unb64(ballot.token, "token"))
        if digest in s.round.ballots:  # the same token twice in one workflow task: the validator saw neither
            raise ApplicationError("token: this credential has already cast its ballot")
        s.round.ballots[digest] = ballot
        return BallotReceipt(
            session_id=s.session_id, receipt=s.receipt(digest), round=ballot.round, voted_at=workflow.now()
        )

    @cast_ballot.validator
    @payload_required
    def _validate_cast(self, ballot: AnonymousBallot) -> None:
        s = self._state
        _refuse(s.refusal(SessionAct.CAST_BALLOT) or s.round_refusal(ballot.round))
        keys = s.keys()
        token = _decoded(ballot.token, "token")
        if len(token) != TOKEN_BYTES:
            raise ValueError(f"token: a ballot token is {TOKEN_BYTES} bytes")
        message = token_message(s.session_id, ballot.round, token)
        if not verify(keys.issuer.public_pem, message, _decoded(ballot.token_signature, "token_signature")):
            raise ValueError(
                "token_signature: not this session's credential for this round (forged, unsigned, or from another "
                "round or session)"
            )
        if receipt_hex(s.session_id, ballot.round, token) in s.round.ballots:
            raise ValueError("token: this credential has already cast its ballot (one ballot each, never amended)")
        if ballot.ballot.key_id != keys.sealing.key_id:
            raise ValueError(
                f"ballot.key_id: sealed to key {ballot.ballot.key_id}, the session's sealing key is "
                f"{keys.sealing.key_id}"
            )
        if ballot.ballot.sealed_credential is None:
            raise ValueError("ballot.sealed_credential: a ballot carries its sealed class credential")
        round_ids = [c.workflow_id for c in s.round.candidates]
        _refuse("; ".join(ballot_shape_errors(ballot.ballot.sealed_choices, round_ids, s.struck)) or None)

    # ---- the chair, the counting committee, the bloc head --------------------------------------------

    @workflow.update
    def close_voting(self, action: ChairAction) -> SessionStatus:
        s = self._state
        s.round.closed_early = True
        turnout = s.turnout()
        s.note(
            SessionActionKind.VOTING_CLOSED,
            action.actor,
            action.channel,
            f"voting closed early in round {s.round.number}: {turnout.voted} of {turnout.eligible} voted",
            at=workflow.now(),
            round=s.round.number,
            voted=turnout.voted,
            eligible=turnout.eligible,
            reason=action.reason,
        )
        return self.status()

    @close_voting.validator
    @payload_required
    def _validate_close_voting(self, action: ChairAction) -> None:
        _refuse(self._state.close_voting_refusal(action.actor))

    @workflow.update
    def extend(self, action: ChairAction) -> SessionStatus:
        s = self._state
        assert action.new_deadline is not None
        before, s.deadline = s.deadline, action.new_deadline
        s.note(
            SessionActionKind.DEADLINE_EXTENDED,
            action.actor,
            action.channel,
            f"deadline moved to {action.new_deadline.isoformat()}",
            at=workflow.now(),
            round=s.round.number,
            previous_deadline=before.isoformat(),
            new_deadline=action.new_deadline.isoformat(),
            reason=action.reason,
        )
        return self.status()

    @extend.validator
    @payload_required
    def _validate_extend(self, action: ChairAction) -> None:
        _refuse(self._state.extend_refusal(action.actor, action.new_deadline, workflow.now()))

    @workflow.update
    def cancel(self, action: ChairAction) -> SessionStatus:
        s = self._state
        assert action.reason is not None
        s.cancel(action.reason)
        s.note(
            SessionActionKind.CANCELLED,
            action.actor,
            action.channel,
            f"cancelled while {s.phase.value}: {action.reason}",
            at=workflow.now(),
            phase=s.phase.value,
            round=s.round.number,
            reason=action.reason,
        )
        return self.status()

    @cancel.validator
    @payload_required
    def _validate_cancel(self, action: ChairAction) -> None:
        _refuse(self._state.cancel_refusal(action.actor, action.reason))

    @workflow.update
    def hand_in_share(self, hand_in: ShareHandIn) -> SessionStatus:
        """A counting committee member hands in their share (decrypted on their side); the count runs once
        `threshold` have."""
        s = self._state
        s.shares[hand_in.member] = hand_in
        s.note(
            SessionActionKind.SHARE_HANDED_IN,
            hand_in.member,
            hand_in.channel,
            f"share {hand_in.index} handed in for round {s.round.number}",
            at=workflow.now(),
            round=s.round.number,
            index=hand_in.index,
        )
        return self.status()

    @hand_in_share.validator
    @payload_required
    def _validate_hand_in(self, hand_in: ShareHandIn) -> None:
        s = self._state
        _refuse(s.share_refusal(hand_in))
        member, index = hand_in.member, hand_in.index
        share = _decoded(hand_in.share, "share")
        if share_commitment(s.session_id, member, index, share) != s.keys().commitments[index - 1]:
            raise ValueError(f"share: not the share {member!r} was given for this session (its commitment differs)")

    @workflow.update
    async def decide_tie(self, decision: TieDecision) -> SessionStatus:
        """The bloc head's recorded decision on a tie that outlasted the runoff rounds; returns once the
        results have gone to the nominations."""
        s = self._state
        s.tie_decision = decision
        await workflow.wait_condition(lambda: s.phase != SessionPhase.AWAITING_HEAD)
        return self.status()

    @decide_tie.validator
    @payload_required
    def _validate_decide_tie(self, decision: TieDecision) -> None:
        _refuse(self._state.tie_refusal(decision))

    @workflow.query
    def status(self) -> SessionStatus:
        return self._state.status()


def _refuse(reason: str | None) -> None:
    """An update's validator refuses with the reason, or lets it through (None)."""
    if reason is not None:
        raise ValueError(reason)


def _decoded(value: str, field: str) -> bytes:
    try:
        return unb64(value, field)
    except SealError:
        raise ValueError(f"{field}: not valid base64") from None


# Imported last: workflows/nomination.py and this module each name the other's workflow (a nomination signals
# `candidate_left`, the session signals its nominations back); whichever is imported first, the other finds
# its class defined. Read when a signal is sent, never at import.
with workflow.unsafe.imports_passed_through():
    from workflows import nomination
