"""NominationWorkflow: one nomination carried along its award form's route to a decision.

The workflow orchestrates; the procedure is data in `domain/procedure.py` (each step's event, who may take it
in which stage, its audit name and narration) and every rule comes from `domain/`. Human actions are updates
whose validators refuse bad requests before anything reaches history; each accepted action becomes one
transition, persisted (a local activity, keyed on workflow id + seq) before the update returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.ballots import BallotActivities
    from activities.identity_claims import IdentityActivities
    from activities.persistence import PersistenceActivities
    from domain.ballot_messages import BallotVerdict, ListJoined, ListLeaving, ListRefused, SessionCancelled
    from domain.ballots import (
        KIND_AT_STAGE,
        STAGE_OF_KIND,
        BallotSessionKind,
        Candidate,
        leaving_reason_vi,
        meeting_count_errors,
    )
    from domain.bloc.year import ProposalEnded
    from domain.calendar import VIETNAM_TZ
    from domain.catalog import AUTHORITY_LABELS_VI
    from domain.decisions import DECISION_ISSUED_SIGNAL, DecisionDelivery, DecisionItem, DecisionRef
    from domain.messages import (
        HOLD_GROUNDS_VI,
        ActionReceipt,
        CentralApproval,
        ConsultationRequest,
        HoldRequest,
        HoldView,
        MeetingResult,
        NominationStart,
        NominationStatus,
        Objection,
        ObjectionFiling,
        ObjectionResolution,
        ReasonedAction,
        Resubmission,
        SessionScheduled,
        TransitionView,
    )
    from domain.nomination import IndividualNominee, award_year_error, catalog_errors, nominee_identity_key
    from domain.notices import draft_notifications, waiting_for_vi
    from domain.operator_view import OperatorView, current_details_vi, operator_view
    from domain.procedure import (
        OBJECTION_VERDICTS_VI,
        Move,
        NominationState,
        Step,
        objection_event,
        proposal_refusal,
        resubmission_error,
        tally_record,
    )
    from domain.records import IdentityClaim, NominationRow, RefusedStart, StageEventRow, TransitionRecord
    from domain.roster import RosterSnapshot
    from domain.stages import Stage
    from domain.transitions import Refusal, VoteRecorded, transition
    from domain.voting import VoteOutcome, evaluate
    from workflows.payloads import payload_required
    from workflows.search_attributes import (
        AWAITING_ROLE,
        BLOC,
        NOMINATION_STAGE,
        ON_HOLD,
        ORIGIN_BLOC,
        OVERDUE,
        STAGE_DUE_AT,
    )

# Module references, not names: the ballot session and bloc year workflows signal nominations too, and a
# nomination answers its decision (the bloc year starts its proposals as children, and is told here when one
# ends).
from workflows import ballot_session as ballot_session_workflow
from workflows import bloc_year as bloc_year_workflow
from workflows import decision as decision_workflow

PERSIST_TIMEOUT = timedelta(seconds=30)
# Persistence retries until the database is back: a transition is never dropped.
PERSIST_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
ROSTER_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30), non_retryable_error_types=["UnknownMinistry"])
LOOKUP_TIMEOUT = timedelta(seconds=30)
CLOSE_AFTER = timedelta(seconds=1)


def refused(reason: str) -> ApplicationError:
    return ApplicationError(reason, type="ActionRefused", non_retryable=True)


def refuse_if(problem: str | None) -> None:
    """Validator body: a refusal before acceptance leaves history clean."""
    if problem is not None:
        raise ValueError(problem)


@workflow.defn(name="NominationWorkflow")
class NominationWorkflow:
    @workflow.init
    def __init__(self, start: NominationStart) -> None:
        self._state = NominationState.starting(start)
        # Serialises transitions so they are applied and persisted in sequence order.
        self._lock = asyncio.Lock()
        self._reschedules = 0  # deadlines set or moved outside a transition: the stage's wait re-arms
        self._shown: OperatorView | None = None  # the operators' search attributes as last upserted
        self._refused_by: set[str] = set()  # sessions whose list closed as this nomination was offered

    # ---- the procedure -------------------------------------------------------------------------

    @workflow.run
    async def run(self, start: NominationStart) -> NominationStatus:
        origin = self._state.nomination.origin
        if origin is not None:  # the bloc's people find their bloc's own proposals by it
            workflow.upsert_search_attributes([ORIGIN_BLOC.value_set(origin.bloc)])
        refusal = await self._registration_refusal()
        if refusal is not None:
            await self._refuse(refusal, start)
            await workflow.wait_condition(workflow.all_handlers_finished)
            await self._tell_origin_ended()
            return self.status()
        if self._state.bloc is not None:
            workflow.upsert_search_attributes([BLOC.value_set(self._state.bloc)])
        await self._apply(Move(Step.SUBMIT, actor=self._state.nomination.proposer, channel=start.channel))
        while not self._state.stage.is_final:
            seen = len(self._state.transitions)
            # The bloc's own proposal waits for the honouring session that names it: it offers itself to none.
            if self._state.stage in KIND_AT_STAGE and not self._state.from_bloc:
                await self._offer_to_ballot_session()
            await self._wait_in_stage(seen)
            if not self._state.stage.is_final:
                await self._refresh_roster()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._tell_origin_ended()
        # Close in a later workflow task than the action that ended the procedure: a signal arriving while
        # that task runs makes the server refuse a task that closes the run, and abort the update in it,
        # after its transition was written. A task without the close command is accepted as it is.
        await workflow.sleep(CLOSE_AFTER)
        # A signal taken meanwhile (a decision delivered to an ended nomination) is answered before the close.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    async def _tell_origin_ended(self) -> None:
        """The bloc's own proposal tells the bloc year that made it where it ended (the year follows its
        proposals until each has ended). A year that has closed or is gone needs no word: the ending stays in
        this history and the register."""
        origin = self._state.nomination.origin
        if origin is None:
            return
        years = bloc_year_workflow.BlocYearWorkflow
        year: workflow.ExternalWorkflowHandle[bloc_year_workflow.BlocYearWorkflow]
        year = workflow.get_external_workflow_handle_for(years.run, origin.bloc_year_id)
        ended = ProposalEnded(workflow_id=workflow.info().workflow_id, stage=self._state.stage)
        try:
            await year.signal(years.proposal_ended, ended)
        except FailureError as err:  # the bloc year has ended or never existed
            workflow.logger.warning("proposal's end not told to %s: %s", origin.bloc_year_id, type(err).__name__)

    async def _registration_refusal(self) -> str | None:
        """Why this start cannot be taken up, or None. The clients check all of this before starting; a
        start that skipped them (another client, a roster changed meanwhile, two starts of one nominee at
        once) is refused here, against this nomination's own roster snapshot and the identity claims."""
        nomination = self._state.nomination
        nominee = nomination.nominee
        if isinstance(nominee, IndividualNominee) and nominee.personal_id is not None:
            # Already in this history, but nothing of it goes further: no row, no claim, no notification.
            return (
                "nominee.personal_id: the identification number reached the engine in clear; the client must "
                "send its keyed hash (personal_id_hmac)"
            )
        try:
            await self._refresh_roster()
        except (ActivityError, ApplicationError) as err:
            # A local activity's failure arrives as the ApplicationError itself, an ordinary one's wrapped.
            cause = err.cause if isinstance(err, ActivityError) else err
            if isinstance(cause, ApplicationError) and cause.type == "UnknownMinistry":
                return f"ministry: {nomination.ministry} is not in the roster"
            raise
        assert self._state.snapshot is not None
        problem = proposal_refusal(self._state.snapshot, nomination)
        if problem is not None:
            return problem
        today = workflow.now().astimezone(VIETNAM_TZ).date()
        problem = award_year_error(nomination.year, self._state.policy, today)
        if problem is not None:
            return f"year: {problem}"
        errors = catalog_errors(nomination, self._state.policy)
        if errors:
            return "; ".join(str(e) for e in errors)
        workflow_id = workflow.info().workflow_id
        claim = IdentityClaim(
            identity_key=nominee_identity_key(nomination),
            award_form=nomination.award_form,
            year=nomination.year,
            workflow_id=workflow_id,
        )
        holder = await workflow.execute_local_activity_method(
            IdentityActivities.claim_nominee_identity,
            claim,
            start_to_close_timeout=PERSIST_TIMEOUT,
            retry_policy=PERSIST_RETRY,
        )
        if holder != workflow_id:
            return (
                f"nominee: duplicate — the same nominee is already proposed for {nomination.award_form} in "
                f"{nomination.year} by nomination {holder}"
            )
        return None

    async def _refuse(self, reason: str, start: NominationStart) -> None:
        """End at REFUSED with the reason: a completed workflow, never a failed one. Nothing is registered
        (no nominations row, no claim, no notification); the audit chain keeps who tried and why."""
        state = self._state
        state.refusal_reason = reason
        state.route = state.route.model_copy(update={"stage": Stage.REFUSED})
        workflow.upsert_search_attributes([NOMINATION_STAGE.value_set(Stage.REFUSED.value)])
        workflow.set_current_details(f"**{Stage.REFUSED.label_vi}** — {reason}")
        workflow.logger.warning("nomination refused at registration (%s)", reason.split(":", 1)[0])
        refusal = RefusedStart(
            workflow_id=workflow.info().workflow_id,
            proposer=state.nomination.proposer,
            channel=start.channel,
            ministry=state.nomination.ministry,
            award_form=state.nomination.award_form,
            year=state.nomination.year,
            reason=reason,
            occurred_at=workflow.now(),
        )
        await workflow.execute_local_activity_method(
            IdentityActivities.record_refused_start,
            refusal,
            start_to_close_timeout=PERSIST_TIMEOUT,
            retry_policy=PERSIST_RETRY,
        )

    async def _wait_in_stage(self, seen: int) -> None:
        """Wait for the next transition; when the stage's next deadline comes first, take its step. A deadline
        set or moved meanwhile (a ballot session's, by signal) is waited for from then on."""
        while len(self._state.transitions) == seen:
            moved_or_rescheduled = self._moved_or_rescheduled_since(seen, self._reschedules)
            deadline = self._state.next_deadline()
            if deadline is None:
                await workflow.wait_condition(moved_or_rescheduled)
                continue
            moment, step = deadline
            timeout = moment - workflow.now()
            if timeout > timedelta(0):
                try:
                    await workflow.wait_condition(moved_or_rescheduled, timeout=timeout)
                    continue
                except TimeoutError:
                    pass
            await self._apply(self._state.reach(step))

    def _moved_or_rescheduled_since(self, seen: int, reschedules: int) -> Callable[[], bool]:
        return lambda: len(self._state.transitions) != seen or self._reschedules != reschedules

    def _show_where_it_stands(self, *also: SearchAttributeUpdate[Any]) -> None:
        """What operators filter on, those that changed: StageDueAt (`StageDueAt < "<now>"`), OnHold, Overdue,
        AwaitingRole (domain/operator_view.py), with `also` in the same upsert (one event, one visibility write);
        and the current details saying it in Vietnamese."""
        state = self._state
        view, before = operator_view(state), self._shown
        changes: list[SearchAttributeUpdate[Any]] = list(also)
        if view.due_at != (before.due_at if before else None):
            changes.append(STAGE_DUE_AT.value_set(view.due_at) if view.due_at else STAGE_DUE_AT.value_unset())
        if before is None or view.on_hold != before.on_hold:
            changes.append(ON_HOLD.value_set(view.on_hold))
        if before is None or view.overdue != before.overdue:
            changes.append(OVERDUE.value_set(view.overdue))
        if view.awaiting != (before.awaiting if before else None):
            role = view.awaiting
            changes.append(AWAITING_ROLE.value_set(role.value) if role else AWAITING_ROLE.value_unset())
        if changes:
            workflow.upsert_search_attributes(changes)
        self._shown = view
        waiting = waiting_for_vi(view.stage, state.snapshot)
        overdue_since = state.deadlines.due_at if view.overdue else None
        workflow.set_current_details(current_details_vi(view, waiting, hold=state.hold, overdue_since=overdue_since))

    async def _refresh_roster(self) -> None:
        self._state.snapshot = await workflow.execute_local_activity_method(
            PersistenceActivities.load_roster_snapshot,
            self._state.nomination.ministry,
            start_to_close_timeout=LOOKUP_TIMEOUT,
            retry_policy=ROSTER_RETRY,
        )

    # ---- ballot sessions ------------------------------------------------------------------------------

    async def _offer_to_ballot_session(self, excluding: list[str] | None = None) -> None:
        """Join the open ballot session of this stage's body, if one is collecting its list (but those in
        `excluding`, whose list closed as it was offered)."""
        state = self._state
        kind = KIND_AT_STAGE[state.stage]
        scope = self._ballot_scope(kind)
        if scope is None:
            return
        nominee = state.nomination.nominee
        candidate = Candidate(
            workflow_id=workflow.info().workflow_id,
            award_form=state.form.code,
            nominee_name=nominee.display_name,
            nominee_actor_id=nominee.actor_id if isinstance(nominee, IndividualNominee) else None,
            proposing_organisation=state.nomination.ministry,
            proposer_actor_id=state.nomination.proposer,
        )
        changes = state.stage_changes
        holder = await workflow.execute_local_activity_method(
            BallotActivities.offer_to_open_session,
            args=[kind.value, scope, candidate, excluding],
            start_to_close_timeout=LOOKUP_TIMEOUT,
            retry_policy=ROSTER_RETRY,
        )
        if holder is None or holder in self._refused_by:  # its refusal came before the offer's answer
            return
        if state.stage_changes == changes:
            state.ballot_session = holder
        elif state.exit is not None:  # it left the stage while the offer was made: off that list again
            await self._tell_left(holder, state.exit)

    @workflow.signal
    async def ballot_list_joined(self, joined: ListJoined) -> None:
        """A ballot session put this nomination on its list (taken up when it opened, or on its offer)."""
        if self._state.stage == STAGE_OF_KIND[joined.kind]:
            self._state.ballot_session = joined.session_id
        elif self._state.exit is not None:  # it left the stage before the session could tell it
            await self._tell_left(joined.session_id, self._state.exit)

    @workflow.signal
    async def ballot_list_refused(self, refused: ListRefused) -> None:
        """The session this nomination was offered to had closed its list: it is offered to another session
        collecting, if it still waits at that stage and no session has listed it meanwhile."""
        state = self._state
        self._refused_by.add(refused.session_id)
        if state.ballot_session == refused.session_id:
            state.ballot_session = None
        if state.stage == STAGE_OF_KIND[refused.kind] and state.ballot_session is None and not state.from_bloc:
            await self._offer_to_ballot_session(excluding=sorted(self._refused_by))

    @workflow.signal
    def ballot_session_cancelled(self, cancelled: SessionCancelled) -> None:
        """The session this nomination waited for was cancelled: it is off that list, and its stage is no longer
        due at that session's deadline (nor escalated from it) until a next session sets one."""
        if self._state.ballot_session == cancelled.session_id:
            self._state.ballot_session = None
        if self._state.unschedule(cancelled.session_id):
            self._show_where_it_stands()
            self._reschedules += 1  # the stage's wait re-arms without the dead deadline

    @workflow.signal
    def session_scheduled(self, scheduled: SessionScheduled) -> None:
        """The ballot session holding this nomination votes until its deadline: the stage is due then."""
        if self._state.stage in KIND_AT_STAGE:
            self._state.schedule(scheduled.session_id, scheduled.deadline)
            self._show_where_it_stands()
            self._reschedules += 1

    def _leave_ballot_list(self, move: Move, to_stage: Stage, outcome_vi: str) -> str | None:
        """It is leaving a council or bloc stage (called as the route changes, before anything is awaited, so an
        offer made meanwhile sees it): the session to tell once the move is recorded — the one whose list holds
        it, unless that session's own verdict moves it."""
        state = self._state
        state.exit = ListLeaving(
            workflow_id=workflow.info().workflow_id,
            session_id="",
            action=move.audit,
            to_stage=to_stage,
            reason_vi=leaving_reason_vi(to_stage, outcome_vi),
            left_at=workflow.now(),
            actor=move.actor,
            channel=move.channel,
        )
        session_id, state.ballot_session = state.ballot_session, None
        verdict_of = move.details.get("session_id") if move.step == Step.BALLOT_RESULT else None
        # Another session's verdict (one that closed as this one took the nomination up) moves it too: told.
        return session_id if session_id is not None and verdict_of != session_id else None

    async def _tell_left(self, session_id: str, exit_: ListLeaving) -> None:
        """Tell the session that its list no longer holds this nomination (`exit_`: how it left its stage)."""
        sessions = ballot_session_workflow.BallotSessionWorkflow
        session: workflow.ExternalWorkflowHandle[ballot_session_workflow.BallotSessionWorkflow]
        session = workflow.get_external_workflow_handle_for(sessions.run, session_id)
        try:
            await session.signal(sessions.candidate_left, exit_.model_copy(update={"session_id": session_id}))
        except FailureError as err:  # the session has ended meanwhile: no list holds it any more
            workflow.logger.warning("leaving notice to %s not delivered: %s", session_id, err)

    def _ballot_scope(self, kind: BallotSessionKind) -> str | None:
        return self._state.nomination.ministry if kind == BallotSessionKind.COUNCIL else self._state.bloc

    @workflow.signal
    async def ballot_verdict(self, verdict: BallotVerdict) -> None:
        """A ballot session's result; applied like a typed-in meeting result, if it concerns this stage."""
        stage = STAGE_OF_KIND[verdict.stage_kind]
        scope = self._ballot_scope(verdict.stage_kind)
        expected = f"ballot-{verdict.stage_kind.value.lower()}-{scope}-"
        if scope is None or not verdict.session_id.startswith(expected) or self._state.stage != stage:
            workflow.logger.warning(
                "ignoring ballot verdict from %s in stage %s", verdict.session_id, self._state.stage
            )
            return
        if self._state.ballot_session == verdict.session_id:
            self._state.ballot_session = None  # the session has closed and let go of its list
        if self._state.hold is not None:
            self._state.pending_verdict = verdict  # applied when the nomination is released
            return
        await self._apply_verdict(verdict)

    async def _apply_verdict(self, verdict: BallotVerdict) -> None:
        stage = STAGE_OF_KIND[verdict.stage_kind]
        outcome = VoteOutcome(result=verdict.result, reason_vi=verdict.reason_vi, policy_code=verdict.policy_code)
        move = Move(
            Step.BALLOT_RESULT,
            event=VoteRecorded(at_stage=stage, outcome=outcome),
            tally=tally_record(verdict.tally),
            details={
                "result": verdict.result.value,
                "policy": verdict.policy_code,
                "session_id": verdict.session_id,
                "round": verdict.round,
            },
            facts={"session_id": verdict.session_id, "round": verdict.round, "outcome_vi": verdict.reason_vi},
        )
        try:
            await self._apply(move)
        except ApplicationError as refusal:  # another action moved the nomination first
            workflow.logger.warning("ballot verdict not applied: %s", refusal)

    # ---- decisions ------------------------------------------------------------------------------------

    @workflow.signal(name=DECISION_ISSUED_SIGNAL)
    async def decision_issued(self, delivery: DecisionDelivery) -> None:
        """A decision naming this nomination, from the DecisionWorkflow `reply_to`: recorded as
        `record_decision` records it, and the outcome (accepted, or refused with the reason) sent back."""
        await workflow.wait_condition(lambda: bool(self._state.transitions) or self._state.stage.is_final)
        item = await self._take_decision(delivery.decision)
        decisions = decision_workflow.DecisionWorkflow
        reply: workflow.ExternalWorkflowHandle[decision_workflow.DecisionWorkflow]
        reply = workflow.get_external_workflow_handle_for(decisions.run, delivery.reply_to)
        try:
            await reply.signal(decisions.item_decided, item)
        except FailureError as err:  # the decision has ended: nothing waits for this answer
            workflow.logger.warning("decision answer to %s not delivered: %s", delivery.reply_to, err)

    async def _take_decision(self, decision: DecisionRef) -> DecisionItem:
        state = self._state
        workflow_id = workflow.info().workflow_id
        accepted = DecisionItem(
            workflow_id=workflow_id,
            accepted=True,
            nominee_name=state.nomination.nominee.display_name,
            award_name_vi=state.form.name_vi,
            ministry=state.nomination.ministry,
        )
        if state.awarded_by(decision):  # delivered again: still this decision's nomination
            return accepted
        problem = state.decision_refusal(decision)
        if problem is None:
            try:
                await self._decide(decision)
                return accepted
            except ApplicationError as refusal:  # another action moved the nomination first
                problem = refusal.message
        return DecisionItem(workflow_id=workflow_id, accepted=False, reason=problem)

    async def _decide(self, decision: DecisionRef) -> ActionReceipt:
        def record() -> None:
            self._state.decision_no, self._state.decided_by = decision.decision_no, decision.authority.value

        move = Move.by(
            Step.DECISION,
            decision,
            details={
                "decision_no": decision.decision_no,
                "decision_date": decision.decision_date.isoformat(),
                "decided_by": decision.authority.value,
            },
            facts={
                "authority_vi": AUTHORITY_LABELS_VI[decision.authority],
                "decision_no": decision.decision_no,
                "decision_date": decision.decision_date.isoformat(),
            },
        )
        return await self._apply(move, on_accepted=record)

    @workflow.update
    async def record_decision(self, decision: DecisionRef) -> ActionReceipt:
        return await self._decide(decision)

    @record_decision.validator
    @payload_required
    def _validate_record_decision(self, decision: DecisionRef) -> None:
        refuse_if(self._state.decision_refusal(decision))

    # ---- human actions: updates with validators -------------------------------------------------

    @workflow.update
    async def record_council_result(self, result: MeetingResult) -> ActionReceipt:
        return await self._record_vote(Step.COUNCIL_RESULT, Stage.COUNCIL_REVIEW, result)

    @record_council_result.validator
    @payload_required
    def _validate_council_result(self, result: MeetingResult) -> None:
        self._check_vote(Step.COUNCIL_RESULT, Stage.COUNCIL_REVIEW, result)

    @workflow.update
    async def record_bloc_result(self, result: MeetingResult) -> ActionReceipt:
        return await self._record_vote(Step.BLOC_RESULT, Stage.BLOC_VOTE, result)

    @record_bloc_result.validator
    @payload_required
    def _validate_bloc_result(self, result: MeetingResult) -> None:
        self._check_vote(Step.BLOC_RESULT, Stage.BLOC_VOTE, result)

    @workflow.update
    async def approve(self, approval: CentralApproval) -> ActionReceipt:
        decided_by = self._state.form.decided_by.value
        facts = {"authority_vi": self._state.authority_vi}
        if approval.decision_no is None or approval.decision_date is None:
            return await self._apply(Move.by(Step.APPROVE, approval, details={"decided_by": decided_by}, facts=facts))
        decision_no, decision_date = approval.decision_no, approval.decision_date.isoformat()

        def record() -> None:
            self._state.decision_no, self._state.decided_by = decision_no, decided_by

        move = Move.by(
            Step.APPROVE_WITH_DECISION,
            approval,
            details={"decision_no": decision_no, "decision_date": decision_date, "decided_by": decided_by},
            facts=facts | {"decision_no": decision_no, "decision_date": decision_date},
        )
        return await self._apply(move, on_accepted=record)

    @approve.validator
    @payload_required
    def _validate_approve(self, approval: CentralApproval) -> None:
        step = Step.APPROVE if approval.decision_no is None else Step.APPROVE_WITH_DECISION
        refuse_if(self._state.refusal(step, approval.actor))

    @workflow.update
    async def reject(self, action: ReasonedAction) -> ActionReceipt:
        return await self._apply(Move.by(Step.REJECT, action, reason=action.reason))

    @reject.validator
    @payload_required
    def _validate_reject(self, action: ReasonedAction) -> None:
        refuse_if(self._state.refusal(Step.REJECT, action.actor))

    @workflow.update
    async def return_dossier(self, action: ReasonedAction) -> ActionReceipt:
        return await self._apply(Move.by(Step.RETURN, action, reason=action.reason))

    @return_dossier.validator
    @payload_required
    def _validate_return(self, action: ReasonedAction) -> None:
        refuse_if(self._state.refusal(Step.RETURN, action.actor))

    @workflow.update
    async def resubmit(self, resubmission: Resubmission) -> ActionReceipt:
        def correct() -> None:
            self._state.nomination = resubmission.nomination

        move = Move.by(Step.RESUBMIT, resubmission, details={"dossier_documents": len(resubmission.nomination.dossier)})
        return await self._apply(move, on_accepted=correct)

    @resubmit.validator
    @payload_required
    def _validate_resubmit(self, resubmission: Resubmission) -> None:
        refuse_if(self._state.refusal(Step.RESUBMIT, resubmission.actor))
        refuse_if(resubmission_error(self._state.nomination, resubmission.nomination, self._state.policy))

    @workflow.update
    async def withdraw(self, action: ReasonedAction) -> ActionReceipt:
        return await self._apply(Move.by(Step.WITHDRAW, action, reason=action.reason))

    @withdraw.validator
    @payload_required
    def _validate_withdraw(self, action: ReasonedAction) -> None:
        refuse_if(self._state.refusal(Step.WITHDRAW, action.actor))

    @workflow.update
    async def hold(self, request: HoldRequest) -> ActionReceipt:
        ground_vi = HOLD_GROUNDS_VI[request.ground]
        hold = HoldView(
            ground=request.ground, ground_vi=ground_vi, since=workflow.now(), by=request.actor, reason=request.reason
        )

        def start_hold() -> None:
            self._state.hold = hold

        move = Move.by(
            Step.HOLD,
            request,
            reason=request.reason,
            details={"ground": request.ground.value},
            facts={"ground_vi": ground_vi},
        )
        return await self._apply(move, on_accepted=start_hold)

    @hold.validator
    @payload_required
    def _validate_hold(self, request: HoldRequest) -> None:
        refuse_if(self._state.hold_refusal(request.actor))

    @workflow.update
    async def release(self, action: ReasonedAction) -> ActionReceipt:
        assert self._state.hold is not None
        since, until = self._state.hold.since, workflow.now()

        def end_hold() -> None:
            self._state.resume(since, until)
            self._state.hold = None

        move = Move.by(
            Step.RELEASE,
            action,
            reason=action.reason,
            details={"held_seconds": int((until - since).total_seconds())},
            facts={"held_days": (until - since).days},
        )
        receipt = await self._apply(move, on_accepted=end_hold)
        if self._state.pending_verdict is not None:
            verdict, self._state.pending_verdict = self._state.pending_verdict, None
            await self._apply_verdict(verdict)
        return receipt

    @release.validator
    @payload_required
    def _validate_release(self, action: ReasonedAction) -> None:
        refuse_if(self._state.release_refusal(action.actor))

    @workflow.update
    async def file_objection(self, filing: ObjectionFiling) -> ActionReceipt:
        # Numbered under the lock and listed only once accepted: a filing that loses a race to another
        # action (a withdrawal, say) leaves neither a number nor an objection behind.
        async with self._lock:
            objection = Objection(
                id=len(self._state.objections) + 1,
                filed_by=filing.filed_by,
                filed_at=workflow.now(),
                reason=filing.reason,
            )
            move = Move(
                Step.OBJECTION_FILED,
                channel=filing.channel,
                reason=filing.reason,
                # Who objected and how to reach them is kept for the secretariat, not shown in search results.
                details={"objection_id": objection.id, "filed_by": filing.filed_by, "contact": filing.contact},
                facts={"objection_id": objection.id},
            )
            return await self._commit(move, on_accepted=lambda: self._state.objections.append(objection))

    @file_objection.validator
    @payload_required
    def _validate_file_objection(self, filing: ObjectionFiling) -> None:
        refuse_if(self._state.filing_refusal(workflow.now()))

    @workflow.update
    async def resolve_objection(self, resolution: ObjectionResolution) -> ActionReceipt:
        index = resolution.objection_id - 1

        def mark_resolved() -> None:
            objections = self._state.objections
            objections[index] = objections[index].model_copy(update={"resolution": resolution.decision})

        move = Move.by(
            Step.OBJECTION_RESOLVED,
            resolution,
            reason=resolution.reason,
            event=objection_event(resolution.decision),
            details={"objection_id": resolution.objection_id, "decision": resolution.decision.value},
            facts={"objection_id": resolution.objection_id, "verdict_vi": OBJECTION_VERDICTS_VI[resolution.decision]},
        )
        return await self._apply(move, on_accepted=mark_resolved)

    @resolve_objection.validator
    @payload_required
    def _validate_resolve_objection(self, resolution: ObjectionResolution) -> None:
        refuse_if(self._state.resolution_refusal(resolution))

    @workflow.update
    async def request_consultation(self, request: ConsultationRequest) -> ActionReceipt:
        due_at = self._state.consultation_due()
        move = Move.by(
            Step.CONSULTATION,
            request,
            reason=request.reason,
            details={"agencies": request.agencies, "due_at": due_at.isoformat()},
            facts={"agencies": ", ".join(request.agencies), "due_at": due_at.isoformat()},
        )
        return await self._apply(move, on_accepted=lambda: self._state.extend_appraisal(due_at))

    @request_consultation.validator
    @payload_required
    def _validate_request_consultation(self, request: ConsultationRequest) -> None:
        refuse_if(self._state.refusal(Step.CONSULTATION, request.actor))

    @workflow.query
    def status(self) -> NominationStatus:
        state = self._state
        stage = state.stage
        return NominationStatus(
            workflow_id=workflow.info().workflow_id,
            reference=state.nomination.reference,
            year=state.nomination.year,
            ministry=state.nomination.ministry,
            bloc=state.bloc,
            award_form=state.form.code,
            award_name_vi=state.form.name_vi,
            origin_bloc=state.nomination.origin.bloc if state.nomination.origin is not None else None,
            nominee_name=state.nomination.nominee.display_name,
            policy_version=state.policy.version,
            stage=stage,
            stage_label_vi=stage.label_vi,
            status_vi=stage.status_vi,
            waiting_for_vi=waiting_for_vi(stage, state.snapshot),
            returned_from=state.route.returned_from,
            decision_no=state.decision_no,
            decided_by_vi=state.authority_vi if stage == Stage.AWARDED else None,
            hold=state.hold,
            objections=list(state.objections),
            notice_ends_at=state.deadlines.notice_ends_at,
            due_at=state.current_due(),
            transitions=list(state.transitions),
            refusal_reason=state.refusal_reason,
        )

    # ---- helpers ------------------------------------------------------------------------------------

    def _vote_event(self, stage: Stage, result: MeetingResult) -> VoteRecorded:
        return VoteRecorded(at_stage=stage, outcome=evaluate(result.tally, self._state.vote_policy(stage)))

    def _check_vote(self, step: Step, stage: Stage, result: MeetingResult) -> None:
        refuse_if(self._state.refusal(step, result.actor, self._vote_event(stage, result)))
        # The typed-in counts must fit the body as the roster this nomination holds seats it (the CLI and the
        # API asked the same of the database's roster before sending).
        assert self._state.snapshot is not None  # refusal() refused before a snapshot
        problems = meeting_count_errors(self._state.snapshot, stage, **result.tally.model_dump())
        refuse_if("; ".join(str(p) for p in problems) if problems else None)

    async def _record_vote(self, step: Step, stage: Stage, result: MeetingResult) -> ActionReceipt:
        event = self._vote_event(stage, result)
        move = Move.by(
            step,
            result,
            event=event,
            tally=tally_record(result.tally),
            details={
                "result": event.outcome.result.value,
                "policy": event.outcome.policy_code,
                "minutes_ref": result.minutes_ref,
            },
            facts={"outcome_vi": event.outcome.reason_vi},
        )
        return await self._apply(move)

    async def _apply(self, move: Move, on_accepted: Callable[[], None] | None = None) -> ActionReceipt:
        """Take the step if the rules allow it now; `on_accepted` changes the handler's own state only then."""
        async with self._lock:
            return await self._commit(move, on_accepted)

    async def _commit(self, move: Move, on_accepted: Callable[[], None] | None = None) -> ActionReceipt:
        """_apply with the lock already held: apply, record and persist one transition."""
        state = self._state
        outcome = transition(state.route, move.the_event())
        if isinstance(outcome, Refusal):
            # Another action won the race after this one was validated.
            raise refused(outcome.reason)
        escalate_to = state.escalation_target(move.step)
        outcome_vi = move.narration_vi()
        if on_accepted is not None:
            on_accepted()
        from_stage = state.stage
        state.route = outcome
        moved = from_stage != outcome.stage
        tell: str | None = None  # the ballot session to tell it left, once the move is recorded
        details: dict[str, Any] = dict(move.details)
        if move.channel is not None:
            details["channel"] = move.channel
        if moved:
            state.stage_changes += 1
            if from_stage in KIND_AT_STAGE:
                tell = self._leave_ballot_list(move, outcome.stage, outcome_vi)
            details |= state.enter(outcome.stage, workflow.now())
        exit_ = state.exit
        self._show_where_it_stands(*([NOMINATION_STAGE.value_set(outcome.stage.value)] if moved else []))
        view = TransitionView(
            seq=len(state.transitions) + 1,
            action=move.audit,
            actor=move.actor,
            from_stage=from_stage,
            to_stage=outcome.stage,
            occurred_at=workflow.now(),
            reason=move.reason,
            tally=move.tally,
            details=details,
        )
        state.transitions.append(view)
        await workflow.execute_local_activity_method(
            PersistenceActivities.record_transition,
            self._record(view, outcome_vi, escalate_to),
            start_to_close_timeout=PERSIST_TIMEOUT,
            retry_policy=PERSIST_RETRY,
        )
        if tell is not None and exit_ is not None:
            await self._tell_left(tell, exit_)
        return ActionReceipt(
            seq=view.seq, stage=outcome.stage, stage_label_vi=outcome.stage.label_vi, outcome_vi=outcome_vi
        )

    def _record(self, view: TransitionView, outcome_vi: str, escalate_to: Stage | None) -> TransitionRecord:
        state = self._state
        snapshot: RosterSnapshot | None = state.snapshot
        assert snapshot is not None
        row = NominationRow(
            workflow_id=workflow.info().workflow_id,
            nomination=state.nomination,
            bloc=state.bloc,
            policy_version=state.policy.version,
            stage=state.stage,
            returned_from=state.route.returned_from,
            decision_no=state.decision_no,
            decided_by=state.decided_by,
        )
        notifications = draft_notifications(
            workflow_id=row.workflow_id,
            nominee_name=state.nomination.nominee.display_name,
            award_name_vi=state.form.name_vi,
            from_stage=view.from_stage,
            to_stage=view.to_stage,
            outcome_vi=outcome_vi,
            proposer=state.nomination.proposer,
            snapshot=snapshot,
            escalate_to=escalate_to,
        )
        return TransitionRecord(nomination=row, event=StageEventRow(**view.model_dump()), notifications=notifications)
