"""BlocYearWorkflow: one bloc's emulation year (năm thi đua của Khối), one workflow per bloc and year.

The procedure (domain/bloc/year.py): the head publishes the pledge (giao ước thi đua) with the year's scoring
table; each member organisation's representative signs; once all have signed the year runs. The head calls
for the self-assessments: members submit until the deadline (working days, or the start's clock), those that
have not are reminded before it, and at the deadline the missing ones are late and scored as the table says.
The review panel adjusts scores with reasons (chấm chéo); the head closes the review: scorecards, the
ranking and what it suggests are computed and published. Honouring (suy tôn), tier by tier as the head opens
each: one proposal nomination per candidate member on the route that begins at the bloc's vote, then one
secret-ballot session of the bloc over exactly those nominations; the members whose nomination it passed are
proposed. A session that ends without results (cancelled, or failed) voids its tier: the head re-opens the
tier's vote under a new meeting reference, over the same nominations (they wait at the bloc's vote meanwhile).
The conference's choice of next year's head and deputy (rotation or ballot) is recorded; on 1 January the
roster's bloc-head role and the rotating flag (Cờ luân lưu) pass to the new head and next year's bloc year
opens. The year follows its proposals until every one has ended, then closes: each proposal nomination
signals its end (proposal_ended) to the year that started it, whichever run of it is current.

The year's state and every rule (who may do what in which phase, the checks, what each act changes and the
write it leads to) are domain/bloc/year_state.py; this module runs the procedure over them. The year
continues as new when Temporal suggests it, carrying its state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypedDict

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, SearchAttributeUpdate, TypedSearchAttributes
from temporalio.exceptions import ApplicationError, ChildWorkflowError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.bloc_year import BlocYearActivities
    from domain.ballot_messages import MinutesResult, SessionStart, SessionStatus, session_workflow_id
    from domain.ballots import BallotSessionKind
    from domain.bloc.year import (
        AdjustScore,
        BlocYearAct,
        BlocYearPhase,
        BlocYearStart,
        BlocYearStatus,
        CallForAssessments,
        CloseReview,
        OpenHonouring,
        ProposalEnded,
        PublishPledge,
        RecordElection,
        SignPledge,
        SubmitAssessment,
        bloc_year_id,
        bloc_year_summary,
    )
    from domain.bloc.year_state import BlocYearState, BlocYearWrite
    from domain.calendar import VIETNAM_TZ
    from domain.catalog import current_policy_version, policy_set
    from domain.messages import HumanAction, NominationStart
    from domain.nomination import workflow_id_for
    from domain.priority import WorkKind
    from domain.stages import Stage
    from domain.task_queues import session_task_queue
    from workflows.payloads import payload_required
    from workflows.priorities import priority_of
    from workflows.search_attributes import (
        AWARD_FORM,
        AWARD_YEAR,
        BLOC,
        BLOC_YEAR_PHASE,
        MINISTRY,
        NOMINATION_STAGE,
        ORIGIN_BLOC,
    )

# Module references: the nomination and ballot session workflows import each other.
from workflows import ballot_session as ballot_session_workflow
from workflows import nomination as nomination_workflow


class _Step(TypedDict):
    start_to_close_timeout: timedelta
    retry_policy: RetryPolicy


# A register write, the roster: retried until the database is back.
STEP: _Step = {
    "start_to_close_timeout": timedelta(seconds=60),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30), non_retryable_error_types=["UnknownScope"]),
}
# The proposals register as they start: asked again until every one waits at the bloc's vote (or has ended).
WAITING: _Step = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=1.5,
        maximum_interval=timedelta(seconds=10),
        maximum_attempts=120,
    ),
}


def _refuse(reason: str | None) -> None:
    """An update's validator refuses with the reason, or lets it through (None)."""
    if reason is not None:
        raise ValueError(reason)


@workflow.defn(name="BlocYearWorkflow")
class BlocYearWorkflow:
    @workflow.init
    def __init__(self, start: BlocYearStart) -> None:
        self._s = BlocYearState.opening(workflow.info().workflow_id, start)
        self._lock = asyncio.Lock()  # the year's writes land in step order
        self._shown_phase: BlocYearPhase | None = None

    # ---- the procedure -------------------------------------------------------------------------------

    @workflow.run
    async def run(self, start: BlocYearStart) -> BlocYearStatus:
        s = self._s
        await self._load_roster()
        if start.carried is None:
            refusal = s.opener_refusal()
            if refusal is not None:
                # The client checks first; this catches what slipped through. Nothing was registered.
                workflow.logger.warning("bloc year refused at opening: %s", refusal)
                raise ApplicationError(refusal, type="ActionRefused", non_retryable=True)
            await self._record(s.opened(workflow.now()))
        while s.phase != BlocYearPhase.CLOSED:
            phase = s.phase
            self._show()
            if phase == BlocYearPhase.SELF_ASSESSMENT:
                await self._collect_assessments()
            elif phase == BlocYearPhase.HONOURING:
                await self._honour_next_tier()
            elif phase == BlocYearPhase.HANDOVER:
                await self._hand_over()
            elif phase == BlocYearPhase.FOLLOWING:
                await self._follow_proposals()
            else:  # the people's acts move these phases on
                await self._await_acts(phase)
            if s.phase != phase:
                await self._load_roster()  # whoever holds a role now acts in the next phase
            elif self._continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                if s.phase == phase:
                    workflow.continue_as_new(start.model_copy(update={"carried": s.r}))
        self._show()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return s.status()

    async def _await_acts(self, phase: BlocYearPhase) -> None:
        s = self._s
        await workflow.wait_condition(lambda: s.phase != phase or self._continue_as_new_suggested())

    def _continue_as_new_suggested(self) -> bool:
        # The proposals' ends come by signal to whichever run is current: nothing holds the year in this run.
        return workflow.info().is_continue_as_new_suggested()

    async def _load_roster(self) -> None:
        roster = await workflow.execute_activity_method(BlocYearActivities.load_bloc_roster, self._s.r.bloc, **STEP)
        self._s.set_roster(roster)

    async def _collect_assessments(self) -> None:
        """Until the deadline: the members that have not submitted are reminded once, at the reminder time;
        at the deadline (or once every member has submitted) the missing are late and the review begins."""
        s = self._s
        deadline, reminder_at = s.r.assessment_deadline, s.r.reminder_at
        assert deadline is not None and reminder_at is not None

        def all_in() -> bool:
            return not s.missing()

        reminding = not s.r.reminded and not all_in()
        if reminding and not await self._wait_until(reminder_at, all_in) and workflow.now() < deadline:
            await self._record(s.remind(workflow.now()))
        await self._wait_until(deadline, all_in)
        await self._record(s.close_submissions(workflow.now()))

    async def _wait_until(self, at: datetime, condition: Callable[[], bool]) -> bool:
        """Wait for `condition` until `at`; True if it holds, False when the time came first (a durable timer)."""
        timeout = at - workflow.now()
        if timeout <= timedelta(0):
            return condition()
        try:
            await workflow.wait_condition(condition, timeout=timeout)
        except TimeoutError:
            return False
        return True

    # ---- honouring ---------------------------------------------------------------------------------------

    async def _honour_next_tier(self) -> None:
        """The head opened the next tier's vote: a proposal nomination per candidate member, a ballot session
        of the bloc over exactly those, and the members it passed proposed."""
        s = self._s
        await workflow.wait_condition(lambda: s.r.honouring_request is not None or s.phase != BlocYearPhase.HONOURING)
        request = s.r.honouring_request
        if request is None:
            return
        plan = s.plan_tier()
        # A voided vote's nominations: those still waiting at the bloc's vote are voted on again; one the head
        # withdrew meanwhile (the tier given up for that member) stays out, and is never proposed anew.
        reused = s.reusable_proposals(plan.award_form)
        reused_stages: dict[str, Stage] = {}
        if reused:
            reused_stages = await workflow.execute_activity_method(
                BlocYearActivities.proposals_at_bloc_vote, list(reused.values()), **WAITING
            )
        nominations: dict[str, str] = {}
        for member in plan.candidates:
            if member in reused:
                if reused_stages.get(reused[member]) == Stage.BLOC_VOTE:
                    nominations[member] = reused[member]
                continue
            started = await self._start_proposal(plan.award_form, member, request)
            if started is not None:
                nominations[member] = started
        if not nominations:  # nobody to vote on: the tier is recorded as it is, the head goes on
            await self._record(s.tier_without_vote(request, plan, workflow.now()))
            return
        session_id = session_workflow_id(BallotSessionKind.BLOC, s.r.bloc, request.meeting_ref)
        today = workflow.now().astimezone(VIETNAM_TZ).date()
        form = policy_set(current_policy_version(today)).award_forms.get(plan.award_form)
        name_vi = form.name_vi if form is not None else None
        await self._record(s.tier_opened(request, plan, nominations, session_id, workflow.now(), name_vi))
        stages = await workflow.execute_activity_method(
            BlocYearActivities.proposals_at_bloc_vote, list(nominations.values()), **WAITING
        )
        waiting = [wf for wf in nominations.values() if stages.get(wf) == Stage.BLOC_VOTE]
        passed = await self._vote(session_id, request, waiting, min(plan.seats, len(waiting))) if waiting else set()
        if isinstance(passed, str):  # no results: the tier is voided, to be re-opened by the head
            await self._record(s.tier_voided(passed, workflow.now()))
            return
        proposed = [member for member, wf in nominations.items() if wf in passed]
        await self._record(s.tier_voted(proposed, workflow.now()))

    async def _start_proposal(self, award_form: str, member: str, request: OpenHonouring) -> str | None:
        """Start the member's proposal nomination (bloc origin, proposed by the acting head); its workflow id,
        or None when it could not start (one of that id exists already)."""
        s = self._s
        nomination = s.proposal_nomination(award_form, member, request.actor, request.meeting_ref)
        today = workflow.now().astimezone(VIETNAM_TZ).date()
        start = NominationStart(
            nomination=nomination, policy_version=current_policy_version(today), channel=request.channel
        )
        workflow_id = workflow_id_for(nomination)
        form = policy_set(start.policy_version).award_forms.get(award_form)
        try:
            # Its end is not awaited here: the nomination signals it (proposal_ended) to the current run.
            await workflow.start_child_workflow(
                nomination_workflow.NominationWorkflow.run,
                start,
                id=workflow_id,
                parent_close_policy=ParentClosePolicy.ABANDON,
                # What the clients' lists and read rules filter on, as a unit's nomination has from its start.
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(NOMINATION_STAGE, Stage.PROPOSED.value),
                        SearchAttributePair(MINISTRY, nomination.ministry),
                        SearchAttributePair(AWARD_FORM, nomination.award_form),
                        SearchAttributePair(AWARD_YEAR, nomination.year),
                        SearchAttributePair(ORIGIN_BLOC, s.r.bloc),
                    ]
                ),
                memo={"nominee": nomination.nominee.display_name, "award": form.name_vi if form else award_form},
                # A person's proposal: people's priority, fair by the member it proposes.
                priority=priority_of(WorkKind.NOMINATION, nomination.ministry),
            )
        except Exception as err:  # e.g. WorkflowAlreadyStartedError: a nomination of that id exists
            workflow.logger.warning("proposal %s not started: %s", workflow_id, type(err).__name__)
            return None
        return workflow_id

    async def _settle(self, workflow_id: str, stage: Stage) -> None:
        write = self._s.proposal_ended(workflow_id, stage, workflow.now())
        if write is not None:
            await self._record(write)

    async def _vote(self, session_id: str, request: OpenHonouring, candidates: list[str], seats: int) -> set[str] | str:
        """The bloc's secret ballot over exactly these nominations; the nominations it passed, or why it gave
        no results (it was cancelled, or failed)."""
        today = workflow.now().astimezone(VIETNAM_TZ).date()
        session = SessionStart(
            kind=BallotSessionKind.BLOC,
            scope=self._s.r.bloc,
            meeting_ref=request.meeting_ref,
            opened_by=request.actor,
            deadline=request.deadline,
            policy_version=current_policy_version(today),
            channel=request.channel,
            committee=request.committee,
            candidates=candidates,
            seats=seats,
        )
        try:
            result: SessionStatus = await workflow.execute_child_workflow(
                ballot_session_workflow.BallotSessionWorkflow.run,
                session,
                id=session_id,
                task_queue=session_task_queue(workflow.info().task_queue),
                parent_close_policy=ParentClosePolicy.ABANDON,
                # A meeting the bloc's members wait on together: ahead of the year's own work.
                priority=priority_of(WorkKind.BALLOT_SESSION, self._s.r.bloc),
            )
        except ChildWorkflowError as err:  # the session failed: nobody is proposed by it, the tier is voided
            workflow.logger.warning("honouring session %s failed: %s", session_id, type(err.cause).__name__)
            return f"phiên bỏ phiếu lỗi ({type(err.cause).__name__})"
        if result.results is None:
            workflow.logger.warning("honouring session %s ended %s without results", session_id, result.phase.value)
            cancelled = f": {result.cancel_reason}" if result.cancel_reason else ""
            return f"phiên bỏ phiếu {result.phase.value}{cancelled}"
        return {entry.candidate.workflow_id for entry in result.results or () if entry.result == MinutesResult.PASSED}

    # ---- the next head, the flag, the proposals ------------------------------------------------------------

    async def _hand_over(self) -> None:
        """On 1 January (Vietnam time) of next year: the roster's head role and the flag pass to the new head,
        and next year's bloc year opens with them."""
        s = self._s
        await self._wait_until(s.handover_at(), lambda: False)
        next_id = bloc_year_id(s.r.bloc, s.r.year + 1)
        following = s.next_year_start()
        write = s.handed_over(next_id, workflow.now())
        async with self._lock:
            await workflow.execute_activity_method(BlocYearActivities.hand_over_bloc_head, write, **STEP)
        try:
            await workflow.start_child_workflow(
                BlocYearWorkflow.run,
                following,
                id=next_id,
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=bloc_year_summary(following.bloc, following.year),
            )
        except Exception as err:  # next year's was opened already (by its head): it goes on as it is
            workflow.logger.warning("next bloc year %s not started: %s", next_id, type(err).__name__)

    async def _follow_proposals(self) -> None:
        """Until every proposal has told its end (or Temporal suggests continuing as new: the signals reach the
        next run just the same)."""
        s = self._s
        await workflow.wait_condition(lambda: not s.unsettled() or self._continue_as_new_suggested())
        if not s.unsettled():
            await self._record(s.close(workflow.now()))

    # ---- the writes and what the Temporal UI shows --------------------------------------------------------

    async def _record(self, write: BlocYearWrite) -> None:
        async with self._lock:
            await workflow.execute_activity_method(BlocYearActivities.record_bloc_year, write, **STEP)
        self._show()

    def _show(self) -> None:
        s = self._s
        if s.phase != self._shown_phase:
            attributes: list[SearchAttributeUpdate[Any]] = [BLOC_YEAR_PHASE.value_set(s.phase.value)]
            if self._shown_phase is None:
                attributes += [BLOC.value_set(s.r.bloc), AWARD_YEAR.value_set(s.r.year)]
            workflow.upsert_search_attributes(attributes)
            self._shown_phase = s.phase
        workflow.set_current_details(s.details_vi())

    # ---- the people's acts ---------------------------------------------------------------------------------

    def _validate(self, act: BlocYearAct, action: HumanAction) -> None:
        """The validator's check: the phase always; the person and the payload once the roster is loaded
        (the handler waits for it and checks again)."""
        s = self._s
        if s.r.roster is None:
            _refuse(s.phase_refusal(act))
            return
        _refuse(s.refusal(act, action, workflow.now()))

    async def _checked(self, act: BlocYearAct, action: HumanAction) -> None:
        """In the handler: the same check again (another update may have changed the year in this task)."""
        s = self._s
        await workflow.wait_condition(lambda: s.r.roster is not None)
        problem = s.refusal(act, action, workflow.now())
        if problem is not None:
            raise ApplicationError(problem, type="ActionRefused", non_retryable=True)

    @workflow.update
    async def publish_pledge(self, action: PublishPledge) -> BlocYearStatus:
        await self._checked(BlocYearAct.PUBLISH_PLEDGE, action)
        await self._record(self._s.publish(action, workflow.now()))
        return self._s.status()

    @publish_pledge.validator
    @payload_required
    def _validate_publish(self, action: PublishPledge) -> None:
        self._validate(BlocYearAct.PUBLISH_PLEDGE, action)

    @workflow.update
    async def sign_pledge(self, action: SignPledge) -> BlocYearStatus:
        await self._checked(BlocYearAct.SIGN_PLEDGE, action)
        await self._record(self._s.sign(action, workflow.now()))
        return self._s.status()

    @sign_pledge.validator
    @payload_required
    def _validate_sign(self, action: SignPledge) -> None:
        self._validate(BlocYearAct.SIGN_PLEDGE, action)

    @workflow.update
    async def call_for_assessments(self, action: CallForAssessments) -> BlocYearStatus:
        await self._checked(BlocYearAct.CALL_FOR_ASSESSMENTS, action)
        await self._record(self._s.call_for_assessments(action, workflow.now()))
        return self._s.status()

    @call_for_assessments.validator
    @payload_required
    def _validate_call(self, action: CallForAssessments) -> None:
        self._validate(BlocYearAct.CALL_FOR_ASSESSMENTS, action)

    @workflow.update
    async def submit_assessment(self, action: SubmitAssessment) -> BlocYearStatus:
        await self._checked(BlocYearAct.SUBMIT_ASSESSMENT, action)
        await self._record(self._s.submit(action, workflow.now()))
        return self._s.status()

    @submit_assessment.validator
    @payload_required
    def _validate_submit(self, action: SubmitAssessment) -> None:
        self._validate(BlocYearAct.SUBMIT_ASSESSMENT, action)

    @workflow.update
    async def adjust_score(self, action: AdjustScore) -> BlocYearStatus:
        await self._checked(BlocYearAct.ADJUST_SCORE, action)
        await self._record(self._s.adjust(action, workflow.now()))
        return self._s.status()

    @adjust_score.validator
    @payload_required
    def _validate_adjust(self, action: AdjustScore) -> None:
        self._validate(BlocYearAct.ADJUST_SCORE, action)

    @workflow.update
    async def close_review(self, action: CloseReview) -> BlocYearStatus:
        await self._checked(BlocYearAct.CLOSE_REVIEW, action)
        await self._record(self._s.close_review(action, workflow.now()))
        return self._s.status()

    @close_review.validator
    @payload_required
    def _validate_close_review(self, action: CloseReview) -> None:
        self._validate(BlocYearAct.CLOSE_REVIEW, action)

    @workflow.update
    async def open_honouring(self, action: OpenHonouring) -> BlocYearStatus:
        """Returns once the tier's proposals have started and its session is named (the vote runs on)."""
        await self._checked(BlocYearAct.OPEN_HONOURING, action)
        s = self._s
        opened = len(s.r.tiers)
        s.request_honouring(action)
        await workflow.wait_condition(lambda: len(s.r.tiers) > opened)
        return s.status()

    @open_honouring.validator
    @payload_required
    def _validate_open_honouring(self, action: OpenHonouring) -> None:
        self._validate(BlocYearAct.OPEN_HONOURING, action)

    @workflow.update
    async def record_election(self, action: RecordElection) -> BlocYearStatus:
        await self._checked(BlocYearAct.RECORD_ELECTION, action)
        await self._record(self._s.record_election(action, workflow.now()))
        return self._s.status()

    @record_election.validator
    @payload_required
    def _validate_election(self, action: RecordElection) -> None:
        self._validate(BlocYearAct.RECORD_ELECTION, action)

    @workflow.signal
    async def proposal_ended(self, ended: ProposalEnded) -> None:
        """A proposal nomination this year started has ended: sent by the nomination as it ends (or by an
        operator for one that cannot, e.g. terminated); a second word of the same end changes nothing."""
        if ended.stage.is_final:
            await self._settle(ended.workflow_id, ended.stage)

    @workflow.query
    def status(self) -> BlocYearStatus:
        return self._s.status()
