"""Client-side operations on nominations, shared by the CLI, the demo and the tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution as ExecutionRef
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.converter import PayloadConverter
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from client.metadata import readable_without_codec
from client.pacing import OpeningWindow, start_priority
from domain.catalog import AUTHORITY_LABELS_VI, current_policy_version, policy_set
from domain.errors import FieldError, InvalidInput
from domain.messages import ActionChannel, ActionReceipt, NominationStart, NominationStatus
from domain.nomination import (
    IndividualNominee,
    Nomination,
    nominee_identity_key,
    with_personal_id_protected,
    workflow_id_for,
)
from domain.operator_view import static_details_vi, summary_vi
from domain.priority import WorkKind
from domain.procedure import proposal_refusal
from domain.records import IdentityClaim
from domain.stages import Stage
from security.codec import CodecError
from workflows.nomination import NominationWorkflow
from workflows.search_attributes import AWARD_FORM, AWARD_YEAR, MINISTRY, NOMINATION_STAGE

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T", bound=BaseModel)


class DuplicateNomination(Exception):
    def __init__(self, workflow_id: str):
        self.workflow_id = workflow_id
        super().__init__(
            f"nomination {workflow_id} already exists (same year, ministry and reference); nothing was started"
        )


class DuplicateNominee(DuplicateNomination):
    """The same nominee is already proposed for this award form and year, under another nomination."""

    def __init__(self, workflow_id: str, award_form: str, year: int):
        self.workflow_id = workflow_id
        Exception.__init__(
            self,
            f"the same nominee is already proposed for {award_form} in {year} by nomination {workflow_id} "
            "(one person, one nomination per award form and year); nothing was started",
        )


class ActionRefused(Exception):
    """The workflow's validator (or handler) refused the action; the reason is the workflow's own words."""


class ProposalRefused(ActionRefused):
    """The roster does not let this actor propose for this ministry (CLI exit 4, HTTP 403)."""


class NominationNotFound(Exception):
    pass


def protect_personal_id(nomination: Nomination, key: bytes | None = None) -> Nomination:
    """The nomination as it may leave the client: a clear identification number replaced by its keyed hash
    (the key: `key`, else TDKT_IDENTITY_KEY or the local default, security/identity_keys.py)."""
    nominee = nomination.nominee
    if not isinstance(nominee, IndividualNominee) or nominee.personal_id is None:
        return nomination
    if key is None:
        from security.identity_keys import identity_key_from_env

        key = identity_key_from_env()
    return with_personal_id_protected(nomination, key)


def request_identity(nomination: Nomination) -> tuple[str, str, int]:
    """(nominee, award form, year) to find one nominee twice in one request or file, before any key is at
    hand: a clear identification number stands for itself here, in memory only."""
    nominee = nomination.nominee
    if isinstance(nominee, IndividualNominee) and nominee.personal_id is not None:
        key = "pid-clear:" + nominee.personal_id
    else:
        key = nominee_identity_key(nomination)
    return key, nomination.award_form, nomination.year


async def check_proposer(engine: AsyncEngine, nomination: Nomination) -> None:
    """The ministry is on the database roster (else InvalidInput naming `ministry`) and the proposer may
    propose for it (else ProposalRefused naming the actor, the role and the ministry). A bloc's own proposal
    (`origin`): the proposer is a bloc head of that bloc (else ProposalRefused), and the rest of what the bloc may
    propose holds (else InvalidInput naming the field: ministry, nominee, award_form, origin)."""
    from store.roster import read_snapshot

    try:
        snapshot = await read_snapshot(engine, nomination.ministry)
    except KeyError:
        message = f"{nomination.ministry} is not in the roster (load it with `starter.py roster load`)"
        raise InvalidInput([FieldError(field="ministry", message=message)]) from None
    problem = proposal_refusal(snapshot, nomination)
    if problem is None:
        return
    field, _, message = problem.partition(": ")
    if field == "proposer":
        raise ProposalRefused(f"{message}; nothing was started")
    raise InvalidInput([FieldError(field=field, message=message)])


async def check_proposal(engine: AsyncEngine, nomination: Nomination) -> None:
    """What the workflow would refuse at registration, said before anything starts, against the database
    roster and the identity claims: check_proposer, then a nominee another nomination already holds for this
    form and year (DuplicateNominee naming it). `nomination` is the protected one (protect_personal_id).
    Starting claims the nominee itself (start_nomination), race-free; this is the look-ahead for a list."""
    from store.identity_claims import identity_holder

    await check_proposer(engine, nomination)
    holder = await identity_holder(engine, nominee_identity_key(nomination), nomination.award_form, nomination.year)
    if holder is not None and holder != workflow_id_for(nomination):
        raise DuplicateNominee(holder, nomination.award_form, nomination.year)


async def start_nomination(
    client: Client,
    nomination: Nomination,
    task_queue: str,
    *,
    today: date | None = None,
    public_notice_seconds: int | None = None,
    channel: ActionChannel = "CLI",
    engine: AsyncEngine | None = None,
    identity_key: bytes | None = None,
    kind: WorkKind = WorkKind.NOMINATION,
) -> WorkflowHandle[NominationWorkflow, NominationStatus]:
    """Start the nomination's workflow, at the priority `kind` has (domain/priority.py: one a person
    proposes, or one of a list), fair by its ministry. The nominee's identification number, if any, leaves as
    its keyed hash only. With `engine` the start is first checked against the roster (check_proposal) and the nominee is
    claimed for this workflow id (DuplicateNominee naming the holder when another nomination has them); the
    workflow checks again and ends REFUSED if a start slipped through."""
    nomination = protect_personal_id(nomination, identity_key)
    claimed: IdentityClaim | None = None
    if engine is not None:
        await check_proposer(engine, nomination)
        claimed = await claim_nominee(client, engine, nomination)
    try:
        return await _start(client, nomination, task_queue, today, public_notice_seconds, channel, kind)
    except BaseException:
        if claimed is not None and engine is not None:
            from store.identity_claims import drop_claim

            await drop_claim(engine, claimed)  # the workflow did not start: it holds no one
        raise


# A claim whose holder never started (its client stopped between claiming and starting) is taken over after this.
STALE_CLAIM = timedelta(minutes=10)


async def claim_nominee(client: Client, engine: AsyncEngine, nomination: Nomination) -> IdentityClaim | None:
    """Claim the nominee for the nomination's workflow id, in PostgreSQL, before it starts: the claim this call
    made (to undo if the start fails), None when the id held it already (a retry); DuplicateNominee when another
    nomination holds it."""
    from store.identity_claims import claim_identity, claimed_at, take_over

    workflow_id = workflow_id_for(nomination)
    claim = IdentityClaim(
        identity_key=nominee_identity_key(nomination),
        award_form=nomination.award_form,
        year=nomination.year,
        workflow_id=workflow_id,
    )
    holder, inserted = await claim_identity(engine, claim)
    if holder == workflow_id:
        return claim if inserted else None
    since = await claimed_at(engine, claim)
    cutoff = datetime.now(UTC) - STALE_CLAIM
    stale = since is not None and since < cutoff and not await workflow_exists(client, holder)
    if stale and await take_over(engine, claim, holder, cutoff):
        return claim
    raise DuplicateNominee(holder, nomination.award_form, nomination.year)


async def workflow_exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def _start(
    client: Client,
    nomination: Nomination,
    task_queue: str,
    today: date | None,
    public_notice_seconds: int | None,
    channel: ActionChannel,
    kind: WorkKind = WorkKind.NOMINATION,
) -> WorkflowHandle[NominationWorkflow, NominationStatus]:
    version = current_policy_version(today or date.today())
    form = policy_set(version).form(nomination.award_form)
    workflow_id = workflow_id_for(nomination)
    start = NominationStart(
        nomination=nomination, policy_version=version, public_notice_seconds=public_notice_seconds, channel=channel
    )
    try:
        return await client.start_workflow(
            NominationWorkflow.run,
            start,
            id=workflow_id,
            task_queue=task_queue,
            # A business key is used once: a finished nomination is not started again under the same number.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            priority=start_priority(kind, nomination.ministry),
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(NOMINATION_STAGE, Stage.PROPOSED.value),
                    SearchAttributePair(MINISTRY, nomination.ministry),
                    SearchAttributePair(AWARD_FORM, nomination.award_form),
                    SearchAttributePair(AWARD_YEAR, nomination.year),
                ]
            ),
            memo={"nominee": nomination.nominee.display_name, "award": form.name_vi},
            # In clear for the Temporal UI without the codec server: no personal data, the memo keeps the name.
            static_summary=readable_without_codec(summary_vi(form.name_vi, nomination.ministry, nomination.year)),
            static_details=readable_without_codec(
                static_details_vi(
                    form.name_vi,
                    form.code,
                    nomination.ministry,
                    nomination.year,
                    form.route,
                    AUTHORITY_LABELS_VI[form.decided_by],
                )
            ),
        )
    except WorkflowAlreadyStartedError:
        raise DuplicateNomination(workflow_id) from None


async def started_input(client: Client, workflow_id: str, type_: type[T]) -> T | None:
    """The input a workflow was started with (its first history event), or None if it cannot be read."""
    try:
        async for event in client.get_workflow_handle(workflow_id).fetch_history_events(page_size=1):
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            [value] = await client.data_converter.decode(payloads, [type_])
            return value if isinstance(value, type_) else None
    except Exception:  # unreadable (another codec key, no such workflow): not the same request
        return None
    return None


async def start_or_existing(
    client: Client,
    task_queue: str,
    nomination: Nomination,
    *,
    channel: ActionChannel = "CLI",
    engine: AsyncEngine | None = None,
    identity_key: bytes | None = None,
    kind: WorkKind = WorkKind.NOMINATION,
) -> tuple[str, bool]:
    """(workflow id, created?) — the existing workflow when this very nomination was started before (a retry,
    a list imported again, even after a restart); DuplicateNomination when another nomination (one that
    differs, or whose start cannot be read) holds its year, ministry and reference, DuplicateNominee when
    another holds its nominee for the form and year. Where it came from (`channel`) is not compared: the same
    nomination sent once by the CLI and once by the API is one. `engine`: checked first (check_proposal)."""
    nomination = protect_personal_id(nomination, identity_key)
    try:
        await start_nomination(client, nomination, task_queue, channel=channel, engine=engine, kind=kind)
        return workflow_id_for(nomination), True
    except DuplicateNominee:
        raise
    except DuplicateNomination as duplicate:
        existing = await started_input(client, duplicate.workflow_id, NominationStart)
        if existing is not None and existing.nomination == nomination:
            return duplicate.workflow_id, False
        raise


async def start_listed(
    client: Client,
    task_queue: str,
    nomination: Nomination,
    *,
    channel: ActionChannel = "CLI",
    engine: AsyncEngine | None = None,
) -> tuple[str, bool]:
    """start_or_existing for a row of a list (an import, the API's batch): at the bulk priority, fair by its
    ministry, once the ministry has a place in the task queue's admission window (client.pacing); returns
    when the nomination is through its opening work, raised to people's priority."""
    window = OpeningWindow.for_queue(client, task_queue)
    return await window.start(
        nomination.ministry,
        lambda: start_or_existing(
            client, task_queue, nomination, channel=channel, engine=engine, kind=WorkKind.BULK_NOMINATION
        ),
    )


# An update by method reference (`NominationWorkflow.approve`); a name is still taken, for tests that send what
# an old history recorded.
UpdateRef = str | Callable[..., Any]
# A nomination's human action: one payload in, a receipt out.
NominationUpdate = UpdateMethodMultiParam[[NominationWorkflow, Any], ActionReceipt]
ParamT = TypeVar("ParamT")
ReturnT = TypeVar("ReturnT")


@overload
async def act(
    client: Client,
    workflow_id: str,
    update: UpdateMethodMultiParam[[Any, ParamT], ReturnT],
    payload: ParamT,
    *,
    result_type: type[ReturnT] | None = None,
    attempts: int = 30,
) -> ReturnT: ...


@overload
async def act(
    client: Client, workflow_id: str, update: str, payload: BaseModel, *, attempts: int = 30
) -> ActionReceipt: ...


@overload
async def act(
    client: Client, workflow_id: str, update: str, payload: BaseModel, *, result_type: type[T], attempts: int = 30
) -> T: ...


@overload
async def act(
    client: Client,
    workflow_id: str,
    update: Callable[..., Any],
    payload: BaseModel,
    *,
    result_type: type[Any] | None = None,
    attempts: int = 30,
) -> Any: ...


async def act(
    client: Client,
    workflow_id: str,
    update: UpdateRef,
    payload: Any,
    *,
    result_type: type[Any] | None = None,
    attempts: int = 30,
) -> Any:
    """Send a human action as a workflow update; retry what the server turns away for load, and an update it
    aborted with its workflow task. Every attempt carries one update id: the server never applies it twice.
    The result is read as the update method declares it (`result_type` overrides; a name: ActionReceipt)."""
    if result_type is None and isinstance(update, str):
        result_type = ActionReceipt
    handle = client.get_workflow_handle(workflow_id)
    update_id = f"{update if isinstance(update, str) else update.__name__}-{uuid.uuid4().hex}"
    delay = 0.05
    for attempt in range(attempts):
        try:
            # The SDK takes a name or a method reference; the union is one of its overloads' arguments.
            return await handle.execute_update(cast(Any, update), payload, id=update_id, result_type=result_type)
        except WorkflowUpdateFailedError as err:
            raise ActionRefused(refusal_reason(err)) from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            # The server did not answer in time (a busy server under a wave): the same update id again reads the
            # outcome of the one already sent, or sends it once if it never arrived. A caller that cancelled
            # (a timeout of its own) is not asked again.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            if attempt + 1 < attempts:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            raise
        except RPCError as err:
            if aborted_with_its_task(err) and attempt + 1 < attempts:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if err.status == RPCStatusCode.NOT_FOUND or "already completed" in err.message:
                # Servers word an update to a closed workflow differently ("workflow execution already
                # completed", "update ... not found"): ask the workflow itself whether it ended or never was.
                answer = await ended_or_unknown(client, workflow_id)
                if answer is not None:
                    raise answer from None
                if attempt + 1 < attempts:  # it is running: the update was turned away in passing
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
                raise
            # At most 10 updates may be in flight per workflow; the server says RESOURCE_EXHAUSTED.
            if err.status == RPCStatusCode.RESOURCE_EXHAUSTED and attempt + 1 < attempts:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            raise
    raise AssertionError("unreachable")


def aborted_with_its_task(err: RPCError) -> bool:
    """The server dropped the update because the workflow task carrying it failed (a task refused for a
    concurrent event, a worker lost mid-task): nothing of it is in the history, so sending it again is safe."""
    message = err.message.lower()
    return "workflow task failure" in message or "update was aborted" in message


def refusal_reason(err: WorkflowUpdateFailedError) -> str:
    """The validator's words; for a payload that failed to decode, pydantic's message naming the fields."""
    messages = []
    cause: BaseException | None = err.cause
    while cause is not None:
        messages.append(cause.message if isinstance(cause, ApplicationError) else str(cause))
        cause = cause.cause if isinstance(cause, ApplicationError) else None
    if len(messages) > 1 and "Failed decoding arguments" in messages[0]:
        return "invalid payload: " + " ".join(messages[1:])
    return messages[0] if messages else "refused"


@dataclass(frozen=True)
class Execution:
    """What Temporal says of a workflow without running it: how it stands and, for a nomination, the stage and
    ministry its search attributes hold."""

    workflow_id: str
    status: WorkflowExecutionStatus
    stage: str | None = None
    ministry: str | None = None

    @property
    def running(self) -> bool:
        return self.status == WorkflowExecutionStatus.RUNNING

    def ended_message(self) -> str:
        """A closed workflow, said with the stage it ended in (and its Vietnamese label) when it is a nomination."""
        if self.stage is not None and self.stage in Stage.__members__:
            final = Stage(self.stage)
            if final.is_final:
                return f"{self.workflow_id} has ended ({final.value}: {final.label_vi}); no action is possible"
            return (
                f"{self.workflow_id} has ended without reaching a final stage (workflow {self.status.name} while "
                f"at {final.value}: {final.label_vi}); no action is possible"
            )
        return f"{self.workflow_id} has ended (workflow {self.status.name}); no action is possible"


async def describe_execution(client: Client, workflow_id: str) -> Execution | None:
    """The workflow's latest run as Temporal describes it, or None when no workflow has that id. Only the two
    search attributes read here are decoded (a server may hold others the SDK cannot decode)."""
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=ExecutionRef(workflow_id=workflow_id)
    )
    try:
        described = await client.workflow_service.describe_workflow_execution(request)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    info = described.workflow_execution_info
    fields = info.search_attributes.indexed_fields

    def keyword(key: SearchAttributeKey[str]) -> str | None:
        if key.name not in fields:
            return None
        value = PayloadConverter.default.from_payload(fields[key.name])
        value = value[0] if isinstance(value, list) and value else value
        return value if isinstance(value, str) else None

    return Execution(
        workflow_id=workflow_id,
        status=WorkflowExecutionStatus(info.status),
        stage=keyword(NOMINATION_STAGE),
        ministry=keyword(MINISTRY),
    )


async def ended_or_unknown(client: Client, workflow_id: str) -> Exception | None:
    """For a workflow Temporal answered "not found" or "completed" about: ActionRefused saying it has ended
    (and in which stage) when it ran and closed, NominationNotFound when no workflow has that id, None when it
    is running after all."""
    execution = await describe_execution(client, workflow_id)
    if execution is None:
        return NominationNotFound(f"no nomination with workflow id {workflow_id}")
    if execution.running:
        return None
    return ActionRefused(execution.ended_message())


async def status(client: Client, workflow_id: str) -> NominationStatus:
    """The nomination's status query; for a closed nomination that no worker answers for, the status it
    returned when it ended."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        return await handle.query(NominationWorkflow.status)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        answer = await ended_or_unknown(client, workflow_id)
        if isinstance(answer, ActionRefused):
            try:
                return await client.get_workflow_handle(workflow_id, result_type=NominationStatus).result()
            except WorkflowFailureError:
                raise answer from None
        raise NominationNotFound(f"no nomination with workflow id {workflow_id}") from None


def visibility_query(
    stage: str | None = None, ministry: str | None = None, year: int | None = None, award_form: str | None = None
) -> str:
    clauses = [f"WorkflowType = '{NominationWorkflow.__name__}'"]
    if stage:
        clauses.append(f"NominationStage = '{_quote(stage)}'")
    if ministry:
        clauses.append(f"Ministry = '{_quote(ministry)}'")
    if year is not None:
        clauses.append(f"AwardYear = {int(year)}")
    if award_form:
        clauses.append(f"AwardForm = '{_quote(award_form)}'")
    return " AND ".join(clauses)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


async def nomination_row(wf: WorkflowExecution) -> dict[str, Any]:
    """One row of the register; a memo under a key this keyring lacks (rotated out, another deployment's)
    leaves the names out instead of failing the whole listing."""
    attrs = wf.typed_search_attributes
    try:
        memo = await wf.memo()
    except CodecError:
        memo = {}
    return {
        "workflow_id": wf.id,
        "stage": attrs.get(NOMINATION_STAGE),
        "ministry": attrs.get(MINISTRY),
        "award_form": attrs.get(AWARD_FORM),
        "year": attrs.get(AWARD_YEAR),
        "nominee": memo.get("nominee"),
        "award": memo.get("award"),
        "running": wf.status == WorkflowExecutionStatus.RUNNING,
    }
