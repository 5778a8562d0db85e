"""NominationWorkflow: one nomination carried along its award form's route to a decision.

The workflow orchestrates; every rule (route, authorisation, vote outcome, deadlines, who is told)
comes from `domain/`. Human actions are updates whose validators refuse bad requests before anything
reaches history; each accepted action becomes one transition, persisted before the update returns.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.ballot_messages import BallotVerdict, ListJoined, ListLeaving, SessionCancelled
    from domain.ballots import (
        KIND_AT_STAGE,
        STAGE_OF_KIND,
        BallotSessionKind,
        Candidate,
        leaving_reason_vi,
        meeting_count_errors,
    )
    from domain.calendar import DEFAULT_CALENDAR, VIETNAM_TZ
    from domain.catalog import AUTHORITY_LABELS_VI, AwardForm, PolicySet, policy_set
    from domain.decisions import DecisionRef
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
        ObjectionDecision,
        ObjectionFiling,
        ObjectionResolution,
        ReasonedAction,
        Resubmission,
        SessionScheduled,
        TransitionView,
    )
    from domain.nomination import (
        IndividualNominee,
        Nomination,
        award_year_error,
        catalog_errors,
        nominee_identity_key,
    )
    from domain.notices import draft_notifications, waiting_for_vi
    from domain.records import IdentityClaim, NominationRow, RefusedStart, StageEventRow, TransitionRecord
    from domain.roster import Action, RosterSnapshot, authorisation_error, proposal_error
    from domain.stages import Stage
    from domain.transitions import (
        Approved,
        DecisionRecorded,
        Event,
        Held,
        Lapsed,
        Noted,
        NoticeElapsed,
        ObjectionDismissed,
        ObjectionFiled,
        ObjectionUpheld,
        Refusal,
        Rejected,
        Released,
        Resubmitted,
        ReturnedForSupplement,
        RouteState,
        Submitted,
        VoteRecorded,
        Withdrawn,
        transition,
    )
    from domain.voting import VoteOutcome, evaluate
    from workflows.payloads import payload_required
    from workflows.search_attributes import BLOC, NOMINATION_STAGE, STAGE_DUE_AT

from workflows.ballot_session import BallotSessionWorkflow

# A ballot session's deadline (signal session_scheduled) is waited for, and escalated when it passes.
SESSION_DEADLINE_WAIT_PATCH = "session-deadline-wait"
# A consultation that waits for another transition changes the due date only once accepted.
CHANGES_ON_ACCEPTANCE_PATCH = "changes-on-acceptance"
PERSIST_TIMEOUT = timedelta(seconds=30)
# Persistence retries until the database is back: a transition is never dropped.
PERSIST_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
ROSTER_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30), non_retryable_error_types=["UnknownMinistry"])
LOOKUP_TIMEOUT = timedelta(seconds=30)
CLOSE_AFTER = timedelta(seconds=1)
T = TypeVar("T")
# Nominations started by this code take every change below at once, decided by one patch in their first
# workflow task: a patch first asked for later, right after a local activity that finished in a task the SDK
# kept open by heartbeating (a database outage), was recorded one task late and replayed as "not patched"
# (nondeterminism, seen in the chaos test). Older histories keep their patches where they recorded them.
# What the current procedure changes:
# - writing a transition (idempotent, keyed on workflow id + seq), reloading the roster and offering the
#   nomination to a ballot session are local activities: a staff action's update returns after one workflow
#   task instead of three, and the server records one marker instead of three activity events
#   (year-end wave, docs/performance.md). A worker lost mid-write fails its task; the retry writes again.
CURRENT_PROCEDURE_PATCH = "procedure-2026-11"


BALLOT_KINDS = KIND_AT_STAGE


def refused(reason: str) -> ApplicationError:
    return ApplicationError(reason, type="ActionRefused", non_retryable=True)


@workflow.defn(name="NominationWorkflow")
class NominationWorkflow:
    @workflow.init
    def __init__(self, start: NominationStart) -> None:
        self._nomination: Nomination = start.nomination
        self._start = start
        self._policy: PolicySet = policy_set(start.policy_version)
        self._form: AwardForm = self._policy.form(start.nomination.award_form)
        self._route = RouteState(stage=Stage.PROPOSED, route=self._form.route)
        self._transitions: list[TransitionView] = []
        self._snapshot: RosterSnapshot | None = None
        self._decision_no: str | None = None
        self._decided_by: str | None = None
        self._calendar = self._policy.calendar.working_calendar()
        # Deadlines of the current stage (issue 4); histories from before them keep the old behaviour.
        self._with_deadlines = False
        self._stage_entered_at: datetime | None = None
        self._notice_ends_at: datetime | None = None
        self._due_at: datetime | None = None  # appraisal or session deadline; breach escalates once
        self._escalated = False
        self._return_due_at: datetime | None = None
        self._return_reminded = False
        self._hold: HoldView | None = None
        self._objections: list[Objection] = []
        self._pending_verdict: BallotVerdict | None = None
        self._ballot_session: str | None = None  # the open ballot session whose list holds this nomination
        self._due_session: str | None = None  # the ballot session whose deadline the stage is due at
        self._stage_changes = 0  # tells an offer whether the nomination moved while it was made
        self._exit: ListLeaving | None = None  # how it last left a council or bloc stage (session id blank)
        self._shown_due: datetime | None = None
        # Serialises transitions so they are applied and persisted in sequence order.
        self._lock = asyncio.Lock()
        self._current: bool | None = None  # see CURRENT_PROCEDURE_PATCH
        self._reschedules = 0  # deadlines set or moved outside a transition: the stage's wait re-arms
        self._refusal_reason: str | None = None  # REFUSED at registration: why

    # ---- the procedure -------------------------------------------------------------------------

    @workflow.run
    async def run(self, start: NominationStart) -> NominationStatus:
        current = self._current_procedure()
        self._with_deadlines = current or workflow.patched("procedure-deadlines")
        if current or workflow.patched("awaiting-decision-stage"):
            self._route = self._route.model_copy(update={"with_decision": True})
        refusal = await self._registration_refusal()
        if refusal is not None:
            await self._refuse(refusal, start)
            await workflow.wait_condition(workflow.all_handlers_finished)
            return self.status()
        if self._snapshot is not None and self._snapshot.bloc is not None:
            workflow.upsert_search_attributes([BLOC.value_set(self._snapshot.bloc.code)])
        await self._apply(
            Submitted(),
            action="SUBMIT",
            actor=self._nomination.proposer,
            channel=start.channel,
            outcome_vi="Đơn vị nộp hồ sơ đề nghị",
        )
        while not self._route.stage.is_final:
            seen = len(self._transitions)
            # Old histories asked for this patch only on reaching a ballot stage: keep the order of the checks.
            if self._route.stage in BALLOT_KINDS and (
                self._current_procedure() or workflow.patched("offer-to-ballot-session")
            ):
                await self._offer_to_ballot_session()
            if self._with_deadlines:
                await self._wait_in_stage(seen)
            elif self._route.stage == Stage.PUBLIC_NOTICE:
                await self._run_public_notice(seen)
            else:
                await workflow.wait_condition(self._moved_since(seen))
            if not self._route.stage.is_final:
                await self._refresh_roster()
        await workflow.wait_condition(workflow.all_handlers_finished)
        # Close in a later workflow task than the action that ended the procedure: a signal arriving while
        # that task runs makes the server refuse a task that closes the run, and abort the update in it,
        # after its transition was written. A task without the close command is accepted as it is.
        await workflow.sleep(CLOSE_AFTER)
        return self.status()

    async def _registration_refusal(self) -> str | None:
        """Why this start cannot be taken up, or None. The clients check all of this before starting; a
        start that skipped them (another client, a roster changed meanwhile, two starts of one nominee at
        once) is refused here, against this nomination's own roster snapshot and the identity claims."""
        nomination = self._nomination
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
        assert self._snapshot is not None
        problem = proposal_error(self._snapshot, nomination.proposer)
        if problem is not None:
            return f"proposer: {problem}"
        today = workflow.now().astimezone(VIETNAM_TZ).date()
        problem = award_year_error(nomination.year, self._policy, today)
        if problem is not None:
            return f"year: {problem}"
        errors = catalog_errors(nomination, self._policy)
        if errors:
            return "; ".join(str(e) for e in errors)
        workflow_id = workflow.info().workflow_id
        claim = IdentityClaim(
            identity_key=nominee_identity_key(nomination),
            award_form=nomination.award_form,
            year=nomination.year,
            workflow_id=workflow_id,
        )
        holder = await workflow.execute_local_activity(
            "claim_nominee_identity",
            claim,
            result_type=str,
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
        self._refusal_reason = reason
        self._route = self._route.model_copy(update={"stage": Stage.REFUSED})
        workflow.upsert_search_attributes([NOMINATION_STAGE.value_set(Stage.REFUSED.value)])
        workflow.set_current_details(f"**{Stage.REFUSED.label_vi}** — {reason}")
        workflow.logger.warning("nomination refused at registration (%s)", reason.split(":", 1)[0])
        refused = RefusedStart(
            workflow_id=workflow.info().workflow_id,
            proposer=self._nomination.proposer,
            channel=start.channel,
            ministry=self._nomination.ministry,
            award_form=self._nomination.award_form,
            year=self._nomination.year,
            reason=reason,
            occurred_at=workflow.now(),
        )
        await workflow.execute_local_activity(
            "record_refused_start", refused, start_to_close_timeout=PERSIST_TIMEOUT, retry_policy=PERSIST_RETRY
        )

    def _current_procedure(self) -> bool:
        """Whether this run follows the current procedure; asked once, in the run's first workflow task."""
        if self._current is None:
            self._current = workflow.patched(CURRENT_PROCEDURE_PATCH)
        return self._current

    async def _wait_in_stage(self, seen: int) -> None:
        """Wait for the next transition; when the stage's next deadline comes first, act on it. A deadline
        set or moved meanwhile (a ballot session's, by signal) is waited for from then on."""
        while len(self._transitions) == seen:
            moved_or_rescheduled = self._moved_or_rescheduled_since(seen, self._reschedules)
            deadline = self._next_deadline()
            if deadline is None:
                await workflow.wait_condition(moved_or_rescheduled)
                continue
            moment, on_reach = deadline
            timeout = moment - workflow.now()
            if timeout > timedelta(0):
                try:
                    await workflow.wait_condition(moved_or_rescheduled, timeout=timeout)
                    continue
                except TimeoutError:
                    pass
            await on_reach()

    def _moved_or_rescheduled_since(self, seen: int, reschedules: int) -> Callable[[], bool]:
        return lambda: len(self._transitions) != seen or self._reschedules != reschedules

    def _next_deadline(self) -> tuple[datetime, Callable[[], Awaitable[None]]] | None:
        """The current stage's next deadline and what happens then; None while on hold or with none."""
        if self._route.on_hold:
            return None  # nothing moves and deadlines stop while on hold
        stage = self._route.stage
        if stage == Stage.PUBLIC_NOTICE and self._notice_ends_at and not self._route.open_objections:
            return self._notice_ends_at, self._notice_elapsed
        if stage == Stage.RETURNED and self._return_due_at is not None:
            days_before = self._policy.time.return_reminder_working_days_before or 0
            remind_at = self._calendar.deadline_before(self._return_due_at, days_before)
            if not self._return_reminded and remind_at < self._return_due_at:
                return remind_at, self._remind_return
            return self._return_due_at, self._lapse
        appraised = stage in (Stage.COUNCIL_REVIEW, Stage.BLOC_VOTE, Stage.CENTRAL_REVIEW)
        if appraised and self._due_at and not self._escalated:
            return self._due_at, self._escalate
        return None

    async def _notice_elapsed(self) -> None:
        assert self._notice_ends_at is not None
        await self._apply(
            NoticeElapsed(),
            action="NOTICE_ELAPSED",
            actor=None,
            outcome_vi=f"Hết thời hạn công khai (đến {self._notice_ends_at.isoformat()})",
            details={"notice_ends_at": self._notice_ends_at.isoformat()},
        )

    async def _remind_return(self) -> None:
        self._return_reminded = True
        assert self._return_due_at is not None
        await self._apply(
            Noted(),
            action="RETURN_REMINDER",
            actor=None,
            outcome_vi=f"Nhắc đơn vị: hạn nộp lại hồ sơ bổ sung là {self._return_due_at.isoformat()}",
            details={"return_due_at": self._return_due_at.isoformat()},
        )

    async def _lapse(self) -> None:
        await self._apply(
            Lapsed(),
            action="LAPSED",
            actor=None,
            outcome_vi="Quá hạn bổ sung hồ sơ: đề nghị không còn hiệu lực",
            details={"return_due_at": self._return_due_at.isoformat() if self._return_due_at else None},
            escalate_to=self._route.returned_from,
        )

    async def _escalate(self) -> None:
        self._escalated = True
        assert self._due_at is not None
        await self._apply(
            Noted(),
            action="ESCALATED",
            actor=None,
            outcome_vi=f"Quá hạn xử lý ở giai đoạn {self._route.stage.label_vi} (hạn {self._due_at.isoformat()})",
            details={"due_at": self._due_at.isoformat()},
            escalate_to=self._route.stage,
        )

    def _enter_stage(self, stage: Stage) -> dict[str, str]:
        """Set the deadlines of a stage being entered; returns them for the transition's record."""
        now = workflow.now()
        self._stage_entered_at = now
        self._due_at, self._escalated = None, False
        self._notice_ends_at = None
        self._return_due_at, self._return_reminded = None, False
        details: dict[str, str] = {}
        if stage == Stage.PUBLIC_NOTICE:
            if self._start.public_notice_seconds is not None:
                self._notice_ends_at = now + timedelta(seconds=self._start.public_notice_seconds)
            else:
                days = self._policy.time.public_notice_working_days
                self._notice_ends_at = self._calendar.deadline_after(now, days)
            details = {"notice_starts_at": now.isoformat(), "notice_ends_at": self._notice_ends_at.isoformat()}
        elif stage == Stage.CENTRAL_REVIEW:
            self._due_at = self._calendar.deadline_after(now, self._policy.time.central_appraisal_working_days)
            details = {"due_at": self._due_at.isoformat()}
        elif stage == Stage.RETURNED and self._policy.enforces_return_deadline:
            days = self._policy.time.return_supplement_working_days
            self._return_due_at = self._calendar.deadline_after(now, days)
            details = {"return_due_at": self._return_due_at.isoformat()}
        self._show_due_date()
        return details

    def _current_due(self) -> datetime | None:
        if self._route.on_hold:
            return None
        return {
            Stage.PUBLIC_NOTICE: self._notice_ends_at,
            Stage.RETURNED: self._return_due_at,
        }.get(self._route.stage, self._due_at)

    def _show_due_date(self) -> None:
        """StageDueAt lets operators list what is overdue: `StageDueAt < "<now>"`."""
        if not self._with_deadlines:
            return
        due = self._current_due()
        if due == self._shown_due:
            return
        self._shown_due = due
        workflow.upsert_search_attributes([STAGE_DUE_AT.value_set(due) if due else STAGE_DUE_AT.value_unset()])

    async def _run_public_notice(self, seen: int) -> None:
        """Histories recorded before issue 4: the list is published for the policy's working days."""
        now = workflow.now()
        if self._start.public_notice_seconds is not None:
            ends_at = now + timedelta(seconds=self._start.public_notice_seconds)
        else:
            ends_at = DEFAULT_CALENDAR.deadline_after(now, self._policy.time.public_notice_working_days)
        try:
            await workflow.wait_condition(self._moved_since(seen), timeout=ends_at - now)
        except TimeoutError:
            await self._apply(
                NoticeElapsed(),
                action="NOTICE_ELAPSED",
                actor=None,
                outcome_vi=f"Hết thời hạn công khai (đến {ends_at.isoformat()})",
                details={"notice_ends_at": ends_at.isoformat()},
            )

    def _moved_since(self, seen: int) -> Callable[[], bool]:
        return lambda: len(self._transitions) != seen

    async def _offer_to_ballot_session(self) -> None:
        """Join the open ballot session of this stage's body, if one is collecting its list."""
        kind = BALLOT_KINDS[self._route.stage]
        scope = self._ballot_scope(kind)
        if scope is None:
            return
        nominee = self._nomination.nominee
        candidate = Candidate(
            workflow_id=workflow.info().workflow_id,
            award_form=self._form.code,
            nominee_name=nominee.display_name,
            nominee_actor_id=nominee.actor_id if isinstance(nominee, IndividualNominee) else None,
            proposing_organisation=self._nomination.ministry,
            proposer_actor_id=self._nomination.proposer,
        )
        changes = self._stage_changes
        # The session whose list holds it, or None (a null result decodes as None whatever the type).
        holder = await self._lookup("offer_to_open_session", kind.value, scope, candidate, result=str)
        if holder is None:
            return
        if self._stage_changes == changes:
            self._ballot_session = holder
        elif self._exit is not None:  # it left the stage while the offer was made: off that list again
            await self._tell_left(holder, self._exit)

    @workflow.signal
    async def ballot_list_joined(self, joined: ListJoined) -> None:
        """A ballot session put this nomination on its list (taken up when it opened, or on its offer)."""
        if self._route.stage == STAGE_OF_KIND[joined.kind]:
            self._ballot_session = joined.session_id
        elif self._exit is not None:  # it left the stage before the session could tell it
            await self._tell_left(joined.session_id, self._exit)

    @workflow.signal
    def ballot_session_cancelled(self, cancelled: SessionCancelled) -> None:
        """The session this nomination waited for was cancelled: it is off that list, and its stage is no longer
        due at that session's deadline (nor escalated from it) until a next session sets one."""
        if self._ballot_session == cancelled.session_id:
            self._ballot_session = None
        if self._due_session == cancelled.session_id:
            self._due_session = None
            if self._route.stage in BALLOT_KINDS:
                self._due_at, self._escalated = None, False
                self._show_due_date()
                self._reschedules += 1  # the stage's wait re-arms without the dead deadline

    def _leave_ballot_list(
        self, action: str, to_stage: Stage, outcome_vi: str, actor: str | None, channel: str | None, details: dict
    ) -> str | None:
        """It is leaving a council or bloc stage (called as the route changes, before anything is awaited, so an
        offer made meanwhile sees it): the session to tell once the move is recorded — the one whose list holds
        it, unless that session's own verdict moves it."""
        self._exit = ListLeaving.model_validate(
            {
                "workflow_id": workflow.info().workflow_id,
                "session_id": "",
                "action": action,
                "to_stage": to_stage,
                "reason_vi": leaving_reason_vi(to_stage, outcome_vi),
                "left_at": workflow.now(),
                "actor": actor,
                "channel": channel,
            }
        )
        session_id, self._ballot_session = self._ballot_session, None
        verdict_of = details.get("session_id") if action == "BALLOT_RESULT" else None
        # Another session's verdict (one that closed as this one took the nomination up) moves it too: told.
        return session_id if session_id is not None and verdict_of != session_id else None

    async def _tell_left(self, session_id: str, exit_: ListLeaving) -> None:
        """Tell the session that its list no longer holds this nomination (`exit_`: how it left its stage)."""
        leaving = exit_.model_copy(update={"session_id": session_id})
        session: workflow.ExternalWorkflowHandle[BallotSessionWorkflow] = workflow.get_external_workflow_handle_for(
            BallotSessionWorkflow.run, session_id
        )
        try:
            await session.signal(BallotSessionWorkflow.candidate_left, leaving)
        except Exception as err:  # the session has ended meanwhile: no list holds it any more
            workflow.logger.warning("leaving notice to %s not delivered: %s", session_id, err)

    def _ballot_scope(self, kind: BallotSessionKind) -> str | None:
        if kind == BallotSessionKind.COUNCIL:
            return self._nomination.ministry
        return self._snapshot.bloc.code if self._snapshot and self._snapshot.bloc else None

    @workflow.signal
    async def ballot_verdict(self, verdict: BallotVerdict) -> None:
        """A ballot session's result; applied like a typed-in meeting result, if it concerns this stage."""
        stage = STAGE_OF_KIND[verdict.stage_kind]
        scope = self._ballot_scope(verdict.stage_kind)
        expected = f"ballot-{verdict.stage_kind.value.lower()}-{scope}-"
        if scope is None or not verdict.session_id.startswith(expected) or self._route.stage != stage:
            workflow.logger.warning(
                "ignoring ballot verdict from %s in stage %s", verdict.session_id, self._route.stage
            )
            return
        if self._ballot_session == verdict.session_id:
            self._ballot_session = None  # the session has closed and let go of its list
        if self._hold is not None:
            self._pending_verdict = verdict  # applied when the nomination is released
            return
        await self._apply_verdict(verdict)

    async def _apply_verdict(self, verdict: BallotVerdict) -> None:
        stage = STAGE_OF_KIND[verdict.stage_kind]
        outcome = VoteOutcome(result=verdict.result, reason_vi=verdict.reason_vi, policy_code=verdict.policy_code)
        try:
            await self._apply(
                VoteRecorded(at_stage=stage, outcome=outcome),
                action="BALLOT_RESULT",
                actor=None,
                outcome_vi=f"Kết quả bỏ phiếu kín ({verdict.session_id}, vòng {verdict.round}): {verdict.reason_vi}",
                tally=verdict.tally.model_dump() | {"abstaining": verdict.tally.abstaining},
                details={
                    "result": verdict.result.value,
                    "policy": verdict.policy_code,
                    "session_id": verdict.session_id,
                    "round": verdict.round,
                },
            )
        except ApplicationError as refused:  # another action moved the nomination first
            workflow.logger.warning("ballot verdict not applied: %s", refused)

    async def _refresh_roster(self) -> None:
        self._snapshot = await self._lookup("load_roster_snapshot", self._nomination.ministry, result=RosterSnapshot)

    async def _lookup(self, activity: str, *args: Any, result: type[T] | None = None) -> T | None:
        """A short idempotent activity: local for new workflows, an ordinary one where the history has it so."""
        if self._current_procedure():
            return await workflow.execute_local_activity(
                activity,
                args=list(args),
                result_type=result,
                start_to_close_timeout=LOOKUP_TIMEOUT,
                retry_policy=ROSTER_RETRY,
            )
        return await workflow.execute_activity(
            activity,
            args=list(args),
            result_type=result,
            start_to_close_timeout=LOOKUP_TIMEOUT,
            retry_policy=ROSTER_RETRY,
        )

    # ---- human actions: updates with validators -------------------------------------------------

    @workflow.update
    async def record_council_result(self, result: MeetingResult) -> ActionReceipt:
        return await self._record_vote(Stage.COUNCIL_REVIEW, result)

    @record_council_result.validator
    @payload_required
    def _validate_council_result(self, result: MeetingResult) -> None:
        self._check(Action.RECORD_COUNCIL_RESULT, result.actor, self._vote_event(Stage.COUNCIL_REVIEW, result))
        self._check_body_size(Stage.COUNCIL_REVIEW, result)

    @workflow.update
    async def record_bloc_result(self, result: MeetingResult) -> ActionReceipt:
        return await self._record_vote(Stage.BLOC_VOTE, result)

    @record_bloc_result.validator
    @payload_required
    def _validate_bloc_result(self, result: MeetingResult) -> None:
        self._check(Action.RECORD_BLOC_RESULT, result.actor, self._vote_event(Stage.BLOC_VOTE, result))
        self._check_body_size(Stage.BLOC_VOTE, result)

    def _check_body_size(self, stage: Stage, result: MeetingResult) -> None:
        """The typed-in counts must fit the body as the roster this nomination holds seats it (the CLI and the
        API asked the same of the database's roster before sending)."""
        assert self._snapshot is not None  # _check refused before a snapshot
        problems = meeting_count_errors(self._snapshot, stage, **result.tally.model_dump())
        if problems:
            raise ValueError("; ".join(str(p) for p in problems))

    @workflow.update
    async def approve(self, approval: CentralApproval) -> ActionReceipt:
        authority = AUTHORITY_LABELS_VI[self._form.decided_by]
        if approval.decision_no is None or approval.decision_date is None:
            return await self._apply(
                Approved(decided=False),
                action="APPROVE",
                actor=approval.actor,
                channel=approval.channel,
                outcome_vi=f"Ban TĐKT Trung ương thẩm định đạt, trình {authority} quyết định khen thưởng",
                details={"decided_by": self._form.decided_by.value},
            )
        return await self._apply(
            Approved(),
            action="APPROVE",
            actor=approval.actor,
            channel=approval.channel,
            outcome_vi=(
                f"Ban TĐKT Trung ương trình {authority} khen thưởng: quyết định số {approval.decision_no} "
                f"ngày {approval.decision_date.isoformat()}"
            ),
            details={
                "decision_no": approval.decision_no,
                "decision_date": approval.decision_date.isoformat(),
                "decided_by": self._form.decided_by.value,
            },
            decision=(approval.decision_no, self._form.decided_by.value),
        )

    @approve.validator
    @payload_required
    def _validate_approve(self, approval: CentralApproval) -> None:
        self._check(Action.APPROVE, approval.actor, Approved(decided=approval.decision_no is not None))

    @workflow.update
    async def record_decision(self, decision: DecisionRef) -> ActionReceipt:
        authority = AUTHORITY_LABELS_VI[decision.authority]
        return await self._apply(
            DecisionRecorded(),
            action="DECISION",
            actor=decision.actor,
            channel=decision.channel,
            outcome_vi=(
                f"{authority} quyết định khen thưởng: quyết định số {decision.decision_no} "
                f"ngày {decision.decision_date.isoformat()}"
            ),
            details={
                "decision_no": decision.decision_no,
                "decision_date": decision.decision_date.isoformat(),
                "decided_by": decision.authority.value,
            },
            decision=(decision.decision_no, decision.authority.value),
        )

    @record_decision.validator
    @payload_required
    def _validate_record_decision(self, decision: DecisionRef) -> None:
        if self._route.stage == Stage.AWARDED:
            raise ValueError(f"the nomination is already decided (decision {self._decision_no}); not on two decisions")
        if decision.authority != self._form.decided_by:
            raise ValueError(
                f"authority: {self._form.name_vi} is decided by {self._form.decided_by.value}, "
                f"not {decision.authority.value}"
            )
        self._check(Action.RECORD_DECISION, decision.actor, DecisionRecorded())

    @workflow.update
    async def hold(self, request: HoldRequest) -> ActionReceipt:
        ground_vi = HOLD_GROUNDS_VI[request.ground]
        hold = HoldView(
            ground=request.ground, ground_vi=ground_vi, since=workflow.now(), by=request.actor, reason=request.reason
        )

        def start_hold() -> None:
            self._hold = hold

        return await self._apply(
            Held(),
            action="HOLD",
            actor=request.actor,
            channel=request.channel,
            reason=request.reason,
            outcome_vi=f"Tạm dừng xét khen thưởng: người được đề nghị {ground_vi} ({request.reason})",
            details={"ground": request.ground.value},
            on_accepted=start_hold,
        )

    @hold.validator
    @payload_required
    def _validate_hold(self, request: HoldRequest) -> None:
        if self._hold is not None:
            raise ValueError(f"the nomination is already on hold since {self._hold.since.isoformat()}")
        self._check(Action.HOLD, request.actor, Held())

    @workflow.update
    async def release(self, action: ReasonedAction) -> ActionReceipt:
        assert self._hold is not None
        since, until = self._hold.since, workflow.now()
        held_for = until - since

        def resumed(deadline: datetime | None) -> datetime | None:
            return self._calendar.resume_after_hold(deadline, since, until) if deadline else None

        def end_hold() -> None:
            # Deadlines stop while on hold: each resumes with the working days it had left (a demo's notice
            # of seconds, with the time it had left).
            if self._start.public_notice_seconds is not None:
                self._notice_ends_at = self._notice_ends_at + held_for if self._notice_ends_at else None
            else:
                self._notice_ends_at = resumed(self._notice_ends_at)
            self._due_at = resumed(self._due_at)
            self._return_due_at = resumed(self._return_due_at)
            self._hold = None

        receipt = await self._apply(
            Released(),
            action="RELEASE",
            actor=action.actor,
            channel=action.channel,
            reason=action.reason,
            outcome_vi=f"Tiếp tục xét khen thưởng sau {held_for.days} ngày tạm dừng ({action.reason})",
            details={"held_seconds": int(held_for.total_seconds())},
            on_accepted=end_hold,
        )
        if self._pending_verdict is not None:
            verdict, self._pending_verdict = self._pending_verdict, None
            await self._apply_verdict(verdict)
        return receipt

    @release.validator
    @payload_required
    def _validate_release(self, action: ReasonedAction) -> None:
        if self._hold is None:
            raise ValueError("the nomination is not on hold")
        self._check(Action.RELEASE, action.actor, Released())

    @workflow.update
    async def file_objection(self, filing: ObjectionFiling) -> ActionReceipt:
        # Numbered under the lock and listed only once accepted: a filing that loses a race to another
        # action (a withdrawal, say) leaves neither a number nor an objection behind.
        async with self._lock:
            objection = Objection(
                id=len(self._objections) + 1, filed_by=filing.filed_by, filed_at=workflow.now(), reason=filing.reason
            )
            return await self._apply(
                ObjectionFiled(),
                action="OBJECTION_FILED",
                actor=None,
                channel=filing.channel,
                reason=filing.reason,
                outcome_vi=f"Nhận ý kiến phản ánh số {objection.id}: hồ sơ chờ Cơ quan thường trực xử lý",
                # Who objected and how to reach them is kept for the secretariat, not shown in search results.
                details={"objection_id": objection.id, "filed_by": filing.filed_by, "contact": filing.contact},
                on_accepted=lambda: self._objections.append(objection),
                lock_held=True,
            )

    @file_objection.validator
    @payload_required
    def _validate_file_objection(self, filing: ObjectionFiling) -> None:
        outcome = transition(self._route, ObjectionFiled())
        if isinstance(outcome, Refusal):
            raise ValueError(f"objections are received only during the public notice: {outcome.reason}")
        if self._notice_ends_at is not None and workflow.now() >= self._notice_ends_at:
            raise ValueError(f"the public notice ended at {self._notice_ends_at.isoformat()}")

    @workflow.update
    async def resolve_objection(self, resolution: ObjectionResolution) -> ActionReceipt:
        upheld = "REJECT" if resolution.decision == ObjectionDecision.UPHOLD_REJECT else "RETURN"
        dismissed = resolution.decision == ObjectionDecision.DISMISS
        event: Event = ObjectionDismissed() if dismissed else ObjectionUpheld(outcome=upheld)
        index = resolution.objection_id - 1

        def mark_resolved() -> None:
            self._objections[index] = self._objections[index].model_copy(update={"resolution": resolution.decision})

        verdict = {
            ObjectionDecision.DISMISS: "không có cơ sở, tiếp tục công khai",
            ObjectionDecision.UPHOLD_REJECT: "có cơ sở, không đề nghị khen thưởng",
            ObjectionDecision.UPHOLD_RETURN: "có cơ sở, trả lại hồ sơ để bổ sung",
        }[resolution.decision]
        return await self._apply(
            event,
            action="OBJECTION_RESOLVED",
            actor=resolution.actor,
            channel=resolution.channel,
            reason=resolution.reason,
            outcome_vi=f"Ý kiến phản ánh số {resolution.objection_id}: {verdict} ({resolution.reason})",
            details={"objection_id": resolution.objection_id, "decision": resolution.decision.value},
            on_accepted=mark_resolved,
        )

    @resolve_objection.validator
    @payload_required
    def _validate_resolve_objection(self, resolution: ObjectionResolution) -> None:
        open_ids = [o.id for o in self._objections if o.resolution is None]
        if resolution.objection_id not in open_ids:
            raise ValueError(f"objection_id: {resolution.objection_id} is not an open objection (open: {open_ids})")
        self._check(Action.RESOLVE_OBJECTION, resolution.actor, ObjectionDismissed())

    @workflow.update
    async def request_consultation(self, request: ConsultationRequest) -> ActionReceipt:
        assert self._stage_entered_at is not None
        days = self._policy.time.central_appraisal_with_consultation_working_days
        due_at = self._calendar.deadline_after(self._stage_entered_at, days)

        def extend_appraisal() -> None:
            self._due_at, self._escalated = due_at, False

        # While another transition holds the lock, histories from before this patch moved the due date (and
        # showed it) before the request was accepted; a request that then lost the race left it moved.
        if self._lock.locked() and not workflow.patched(CHANGES_ON_ACCEPTANCE_PATCH):
            extend_appraisal()
            self._show_due_date()
        return await self._apply(
            Noted(at_stage=Stage.CENTRAL_REVIEW),
            action="CONSULTATION",
            actor=request.actor,
            channel=request.channel,
            reason=request.reason,
            outcome_vi=f"Lấy ý kiến {', '.join(request.agencies)}: hạn thẩm định {due_at.isoformat()}",
            details={"agencies": request.agencies, "due_at": due_at.isoformat()},
            on_accepted=extend_appraisal,
        )

    @request_consultation.validator
    @payload_required
    def _validate_request_consultation(self, request: ConsultationRequest) -> None:
        if not self._with_deadlines:
            raise ValueError("this nomination started before appraisal deadlines were kept")
        self._check(Action.REQUEST_CONSULTATION, request.actor, Noted(at_stage=Stage.CENTRAL_REVIEW))

    @workflow.signal
    def session_scheduled(self, scheduled: SessionScheduled) -> None:
        """The ballot session holding this nomination votes until its deadline: the stage is due then."""
        if self._route.stage in BALLOT_KINDS and self._with_deadlines:
            self._due_at, self._escalated = scheduled.deadline, False
            self._due_session = scheduled.session_id
            self._show_due_date()
            # Runs from before this patch set the due date without waiting for it: never escalated.
            if workflow.patched(SESSION_DEADLINE_WAIT_PATCH):
                self._reschedules += 1

    @workflow.update
    async def reject(self, action: ReasonedAction) -> ActionReceipt:
        return await self._apply(
            Rejected(),
            action="REJECT",
            actor=action.actor,
            channel=action.channel,
            reason=action.reason,
            outcome_vi=f"Không trình khen thưởng: {action.reason}",
        )

    @reject.validator
    @payload_required
    def _validate_reject(self, action: ReasonedAction) -> None:
        self._check(Action.REJECT, action.actor, Rejected())

    @workflow.update
    async def return_dossier(self, action: ReasonedAction) -> ActionReceipt:
        return await self._apply(
            ReturnedForSupplement(),
            action="RETURN",
            actor=action.actor,
            channel=action.channel,
            reason=action.reason,
            outcome_vi=f"Trả lại hồ sơ để bổ sung: {action.reason}",
        )

    @return_dossier.validator
    @payload_required
    def _validate_return(self, action: ReasonedAction) -> None:
        self._check(Action.RETURN, action.actor, ReturnedForSupplement())

    @workflow.update
    async def resubmit(self, resubmission: Resubmission) -> ActionReceipt:
        return await self._apply(
            Resubmitted(),
            action="RESUBMIT",
            actor=resubmission.actor,
            channel=resubmission.channel,
            outcome_vi="Đơn vị nộp lại hồ sơ đã bổ sung",
            details={"dossier_documents": len(resubmission.nomination.dossier)},
            corrected=resubmission.nomination,
        )

    @resubmit.validator
    @payload_required
    def _validate_resubmit(self, resubmission: Resubmission) -> None:
        self._check(Action.RESUBMIT, resubmission.actor, Resubmitted())
        corrected = resubmission.nomination
        for field in ("reference", "year", "ministry", "award_form"):
            if getattr(corrected, field) != getattr(self._nomination, field):
                raise ValueError(f"nomination.{field}: a resubmission cannot change {field}")
        nominee = corrected.nominee
        if isinstance(nominee, IndividualNominee) and nominee.personal_id is not None:
            raise ValueError(
                "nomination.nominee.personal_id: the identification number must not reach the engine in clear; "
                "the client sends its keyed hash"
            )
        if nominee_identity_key(corrected) != nominee_identity_key(self._nomination):
            # The claim on this nominee is this nomination's: another nominee needs a nomination of their own.
            raise ValueError(
                "nomination.nominee: a resubmission cannot change who is nominated (name, unit or "
                "identification number); withdraw this nomination and propose the other nominee anew"
            )
        errors = catalog_errors(corrected, self._policy)
        if errors:
            raise ValueError("; ".join(f"nomination.{e}" for e in errors))

    @workflow.update
    async def withdraw(self, action: ReasonedAction) -> ActionReceipt:
        return await self._apply(
            Withdrawn(),
            action="WITHDRAW",
            actor=action.actor,
            channel=action.channel,
            reason=action.reason,
            outcome_vi=f"Đơn vị rút đề nghị: {action.reason}",
        )

    @withdraw.validator
    @payload_required
    def _validate_withdraw(self, action: ReasonedAction) -> None:
        self._check(Action.WITHDRAW, action.actor, Withdrawn())

    @workflow.query
    def status(self) -> NominationStatus:
        stage = self._route.stage
        return NominationStatus(
            workflow_id=workflow.info().workflow_id,
            reference=self._nomination.reference,
            year=self._nomination.year,
            ministry=self._nomination.ministry,
            bloc=self._snapshot.bloc.code if self._snapshot and self._snapshot.bloc else None,
            award_form=self._form.code,
            award_name_vi=self._form.name_vi,
            nominee_name=self._nomination.nominee.display_name,
            policy_version=self._policy.version,
            stage=stage,
            stage_label_vi=stage.label_vi,
            status_vi=stage.status_vi,
            waiting_for_vi=waiting_for_vi(stage, self._snapshot),
            returned_from=self._route.returned_from,
            decision_no=self._decision_no,
            decided_by_vi=AUTHORITY_LABELS_VI[self._form.decided_by] if stage == Stage.AWARDED else None,
            hold=self._hold,
            objections=list(self._objections),
            notice_ends_at=self._notice_ends_at,
            due_at=self._current_due(),
            transitions=list(self._transitions),
            refusal_reason=self._refusal_reason,
        )

    # ---- helpers ------------------------------------------------------------------------------------

    def _vote_event(self, stage: Stage, result: MeetingResult) -> VoteRecorded:
        policy = (
            self._policy.council_policy(self._form.code)
            if stage == Stage.COUNCIL_REVIEW and self._form.council_policy
            else self._policy.bloc_policy(self._form.code)
            if stage == Stage.BLOC_VOTE and self._form.bloc_policy
            else None
        )
        if policy is None:
            raise ValueError(f"{self._form.code} has no {stage.value} on its route")
        return VoteRecorded(at_stage=stage, outcome=evaluate(result.tally, policy))

    async def _record_vote(self, stage: Stage, result: MeetingResult) -> ActionReceipt:
        event = self._vote_event(stage, result)
        tally = result.tally.model_dump() | {"abstaining": result.tally.abstaining}
        return await self._apply(
            event,
            action="RECORD_COUNCIL_RESULT" if stage == Stage.COUNCIL_REVIEW else "RECORD_BLOC_RESULT",
            actor=result.actor,
            channel=result.channel,
            outcome_vi=event.outcome.reason_vi,
            tally=tally,
            details={
                "result": event.outcome.result.value,
                "policy": event.outcome.policy_code,
                "minutes_ref": result.minutes_ref,
            },
        )

    def _check(self, action: Action, actor: str, event: Event) -> None:
        """Validator body: refuse before acceptance, so a refused action leaves history clean."""
        if self._snapshot is None:
            raise ValueError("the nomination is still being registered; try again in a moment")
        outcome = transition(self._route, event)
        if isinstance(outcome, Refusal):
            raise ValueError(outcome.reason)
        problem = authorisation_error(self._snapshot, actor, action, self._route.stage, self._form.decided_by.value)
        if problem:
            raise ValueError(problem)
        if actor == self._nomination.proposer and action not in (Action.WITHDRAW, Action.RESUBMIT):
            raise ValueError(f"actor {actor!r} proposed this nomination and may not decide on it")

    async def _apply(
        self,
        event: Event,
        *,
        action: str,
        actor: str | None,
        outcome_vi: str,
        channel: str | None = None,
        reason: str | None = None,
        tally: dict | None = None,
        details: dict | None = None,
        decision: tuple[str, str] | None = None,
        corrected: Nomination | None = None,
        escalate_to: Stage | None = None,
        on_accepted: Callable[[], None] | None = None,
        lock_held: bool = False,
    ) -> ActionReceipt:
        """Apply the event if the rules allow it now; `on_accepted` changes the handler's own state only then.
        `lock_held`: the caller took the lock to prepare the transition (it must not be taken twice)."""
        async with contextlib.nullcontext() if lock_held else self._lock:
            outcome = transition(self._route, event)
            if isinstance(outcome, Refusal):
                # Another action won the race after this one was validated.
                raise refused(outcome.reason)
            if on_accepted is not None:
                on_accepted()
            from_stage = self._route.stage
            self._route = outcome
            tell: str | None = None  # the ballot session to tell it left, once the move is recorded
            if from_stage != outcome.stage:
                self._stage_changes += 1
                self._due_session = None
                if from_stage in BALLOT_KINDS:
                    tell = self._leave_ballot_list(action, outcome.stage, outcome_vi, actor, channel, details or {})
            exit_ = self._exit
            if decision is not None:
                self._decision_no, self._decided_by = decision
            elif outcome.stage == Stage.AWARDED:
                # Ministry-level forms: the council's recommendation is decided by the catalog's authority.
                self._decided_by = self._form.decided_by.value
            if corrected is not None:
                self._nomination = corrected
            details = dict(details or {})
            if channel is not None:
                details["channel"] = channel
            if self._with_deadlines:
                if from_stage != outcome.stage:
                    details |= self._enter_stage(outcome.stage)
                self._show_due_date()
            seq = len(self._transitions) + 1
            view = TransitionView(
                seq=seq,
                action=action,
                actor=actor,
                from_stage=from_stage,
                to_stage=outcome.stage,
                occurred_at=workflow.now(),
                reason=reason,
                tally=tally,
                details=details,
            )
            self._transitions.append(view)
            if from_stage != outcome.stage:
                workflow.upsert_search_attributes([NOMINATION_STAGE.value_set(outcome.stage.value)])
            workflow.set_current_details(
                f"**{outcome.stage.label_vi}** ({outcome.stage.status_vi}) — "
                f"{waiting_for_vi(outcome.stage, self._snapshot)}"
            )
            record = self._record(view, outcome_vi, escalate_to)
            if self._current_procedure():
                await workflow.execute_local_activity(
                    "record_transition", record, start_to_close_timeout=PERSIST_TIMEOUT, retry_policy=PERSIST_RETRY
                )
            else:
                await workflow.execute_activity(
                    "record_transition", record, start_to_close_timeout=PERSIST_TIMEOUT, retry_policy=PERSIST_RETRY
                )
            if tell is not None and exit_ is not None:
                await self._tell_left(tell, exit_)
            return ActionReceipt(
                seq=seq, stage=outcome.stage, stage_label_vi=outcome.stage.label_vi, outcome_vi=outcome_vi
            )

    def _record(self, view: TransitionView, outcome_vi: str, escalate_to: Stage | None = None) -> TransitionRecord:
        assert self._snapshot is not None
        row = NominationRow(
            workflow_id=workflow.info().workflow_id,
            nomination=self._nomination,
            bloc=self._snapshot.bloc.code if self._snapshot.bloc else None,
            policy_version=self._policy.version,
            stage=self._route.stage,
            returned_from=self._route.returned_from,
            decision_no=self._decision_no,
            decided_by=self._decided_by,
        )
        event = StageEventRow(**view.model_dump())
        notifications = draft_notifications(
            workflow_id=row.workflow_id,
            nominee_name=self._nomination.nominee.display_name,
            award_name_vi=self._form.name_vi,
            from_stage=view.from_stage,
            to_stage=view.to_stage,
            outcome_vi=outcome_vi,
            proposer=self._nomination.proposer,
            snapshot=self._snapshot,
            escalate_to=escalate_to,
        )
        return TransitionRecord(nomination=row, event=event, notifications=notifications)
