"""NominationWorkflow: one nomination carried along its award form's route to a decision.

The workflow orchestrates; every rule (route, authorisation, vote outcome, deadlines, who is told)
comes from `domain/`. Human actions are updates whose validators refuse bad requests before anything
reaches history; each accepted action becomes one transition, persisted before the update returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.ballot_messages import BallotVerdict
    from domain.ballots import BallotSessionKind, Candidate
    from domain.calendar import DEFAULT_CALENDAR
    from domain.catalog import AUTHORITY_LABELS_VI, AwardForm, PolicySet, policy_set
    from domain.messages import (
        ActionReceipt,
        CentralApproval,
        MeetingResult,
        NominationStart,
        NominationStatus,
        ReasonedAction,
        Resubmission,
        TransitionView,
    )
    from domain.nomination import IndividualNominee, Nomination, catalog_errors
    from domain.notices import draft_notifications, waiting_for_vi
    from domain.records import NominationRow, StageEventRow, TransitionRecord
    from domain.roster import Action, RosterSnapshot, authorisation_error
    from domain.stages import Stage
    from domain.transitions import (
        Approved,
        Event,
        NoticeElapsed,
        Refusal,
        Rejected,
        Resubmitted,
        ReturnedForSupplement,
        RouteState,
        Submitted,
        VoteRecorded,
        Withdrawn,
        transition,
    )
    from domain.voting import VoteOutcome, evaluate
    from workflows.search_attributes import BLOC, NOMINATION_STAGE

PERSIST_TIMEOUT = timedelta(seconds=30)
# Persistence retries until the database is back: a transition is never dropped.
PERSIST_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
ROSTER_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30), non_retryable_error_types=["UnknownMinistry"])


BALLOT_KINDS = {Stage.COUNCIL_REVIEW: BallotSessionKind.COUNCIL, Stage.BLOC_VOTE: BallotSessionKind.BLOC}
STAGE_OF_KIND = {kind: stage for stage, kind in BALLOT_KINDS.items()}


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
        # Serialises transitions so they are applied and persisted in sequence order.
        self._lock = asyncio.Lock()

    # ---- the procedure -------------------------------------------------------------------------

    @workflow.run
    async def run(self, start: NominationStart) -> NominationStatus:
        await self._refresh_roster()
        if self._snapshot is not None and self._snapshot.bloc is not None:
            workflow.upsert_search_attributes([BLOC.value_set(self._snapshot.bloc.code)])
        await self._apply(
            Submitted(), action="SUBMIT", actor=self._nomination.proposer, outcome_vi="Đơn vị nộp hồ sơ đề nghị"
        )
        while not self._route.stage.is_final:
            seen = len(self._transitions)
            if self._route.stage in BALLOT_KINDS and workflow.patched("offer-to-ballot-session"):
                await self._offer_to_ballot_session()
            if self._route.stage == Stage.PUBLIC_NOTICE:
                await self._run_public_notice(seen)
            else:
                await workflow.wait_condition(self._moved_since(seen))
            if not self._route.stage.is_final:
                await self._refresh_roster()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    async def _run_public_notice(self, seen: int) -> None:
        """The list is published for the policy's working days; the council cannot take it up earlier."""
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
        )
        await workflow.execute_activity(
            "offer_to_open_session",
            args=[kind.value, scope, candidate],
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=ROSTER_RETRY,
        )

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
        self._snapshot = await workflow.execute_activity(
            "load_roster_snapshot",
            self._nomination.ministry,
            result_type=RosterSnapshot,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=ROSTER_RETRY,
        )

    # ---- human actions: updates with validators -------------------------------------------------

    @workflow.update
    async def record_council_result(self, result: MeetingResult) -> ActionReceipt:
        return await self._record_vote(Stage.COUNCIL_REVIEW, result)

    @record_council_result.validator
    def _validate_council_result(self, result: MeetingResult) -> None:
        self._check(Action.RECORD_COUNCIL_RESULT, result.actor, self._vote_event(Stage.COUNCIL_REVIEW, result))

    @workflow.update
    async def record_bloc_result(self, result: MeetingResult) -> ActionReceipt:
        return await self._record_vote(Stage.BLOC_VOTE, result)

    @record_bloc_result.validator
    def _validate_bloc_result(self, result: MeetingResult) -> None:
        self._check(Action.RECORD_BLOC_RESULT, result.actor, self._vote_event(Stage.BLOC_VOTE, result))

    @workflow.update
    async def approve(self, approval: CentralApproval) -> ActionReceipt:
        authority = AUTHORITY_LABELS_VI[self._form.decided_by]
        receipt = await self._apply(
            Approved(),
            action="APPROVE",
            actor=approval.actor,
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
        return receipt

    @approve.validator
    def _validate_approve(self, approval: CentralApproval) -> None:
        self._check(Action.APPROVE, approval.actor, Approved())

    @workflow.update
    async def reject(self, action: ReasonedAction) -> ActionReceipt:
        return await self._apply(
            Rejected(),
            action="REJECT",
            actor=action.actor,
            reason=action.reason,
            outcome_vi=f"Không trình khen thưởng: {action.reason}",
        )

    @reject.validator
    def _validate_reject(self, action: ReasonedAction) -> None:
        self._check(Action.REJECT, action.actor, Rejected())

    @workflow.update
    async def return_dossier(self, action: ReasonedAction) -> ActionReceipt:
        return await self._apply(
            ReturnedForSupplement(),
            action="RETURN",
            actor=action.actor,
            reason=action.reason,
            outcome_vi=f"Trả lại hồ sơ để bổ sung: {action.reason}",
        )

    @return_dossier.validator
    def _validate_return(self, action: ReasonedAction) -> None:
        self._check(Action.RETURN, action.actor, ReturnedForSupplement())

    @workflow.update
    async def resubmit(self, resubmission: Resubmission) -> ActionReceipt:
        return await self._apply(
            Resubmitted(),
            action="RESUBMIT",
            actor=resubmission.actor,
            outcome_vi="Đơn vị nộp lại hồ sơ đã bổ sung",
            details={"dossier_documents": len(resubmission.nomination.dossier)},
            corrected=resubmission.nomination,
        )

    @resubmit.validator
    def _validate_resubmit(self, resubmission: Resubmission) -> None:
        self._check(Action.RESUBMIT, resubmission.actor, Resubmitted())
        corrected = resubmission.nomination
        for field in ("reference", "year", "ministry", "award_form"):
            if getattr(corrected, field) != getattr(self._nomination, field):
                raise ValueError(f"nomination.{field}: a resubmission cannot change {field}")
        errors = catalog_errors(corrected, self._policy)
        if errors:
            raise ValueError("; ".join(f"nomination.{e}" for e in errors))

    @workflow.update
    async def withdraw(self, action: ReasonedAction) -> ActionReceipt:
        return await self._apply(
            Withdrawn(),
            action="WITHDRAW",
            actor=action.actor,
            reason=action.reason,
            outcome_vi=f"Đơn vị rút đề nghị: {action.reason}",
        )

    @withdraw.validator
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
            transitions=list(self._transitions),
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
        problem = authorisation_error(self._snapshot, actor, action, self._route.stage)
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
        reason: str | None = None,
        tally: dict | None = None,
        details: dict | None = None,
        decision: tuple[str, str] | None = None,
        corrected: Nomination | None = None,
    ) -> ActionReceipt:
        async with self._lock:
            outcome = transition(self._route, event)
            if isinstance(outcome, Refusal):
                # Another action won the race after this one was validated.
                raise refused(outcome.reason)
            from_stage = self._route.stage
            self._route = outcome
            if decision is not None:
                self._decision_no, self._decided_by = decision
            elif outcome.stage == Stage.AWARDED:
                # Ministry-level forms: the council's recommendation is decided by the catalog's authority.
                self._decided_by = self._form.decided_by.value
            if corrected is not None:
                self._nomination = corrected
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
                details=details or {},
            )
            self._transitions.append(view)
            if from_stage != outcome.stage:
                workflow.upsert_search_attributes([NOMINATION_STAGE.value_set(outcome.stage.value)])
            workflow.set_current_details(
                f"**{outcome.stage.label_vi}** ({outcome.stage.status_vi}) — "
                f"{waiting_for_vi(outcome.stage, self._snapshot)}"
            )
            await workflow.execute_activity(
                "record_transition",
                self._record(view, outcome_vi),
                start_to_close_timeout=PERSIST_TIMEOUT,
                retry_policy=PERSIST_RETRY,
            )
            return ActionReceipt(
                seq=seq, stage=outcome.stage, stage_label_vi=outcome.stage.label_vi, outcome_vi=outcome_vi
            )

    def _record(self, view: TransitionView, outcome_vi: str) -> TransitionRecord:
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
        )
        return TransitionRecord(nomination=row, event=event, notifications=notifications)
