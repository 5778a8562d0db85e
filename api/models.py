"""Request and response bodies of the HTTP API.

A request body never needs an actor: the token's actor acts. A body may still name it (`actor`, or a
nomination's `proposer`) — it must then be the token's (403 otherwise), as with the CLI's `--actor`. The
engine's own payloads (domain.messages, ...) are built from these with the token's actor, so the domain's
validation applies unchanged and the workflows' validators check the actor's role again.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from domain.ballot_messages import SealedBallot
from domain.ballots import BallotSessionKind, Choice, ConflictRule, ReceiptState
from domain.calendar import VIETNAM_TZ
from domain.catalog import Authority
from domain.decisions import DecisionNo
from domain.messages import HoldGround, ObjectionDecision, Reason
from domain.nomination import ActorId, Code, Text
from domain.stages import Stage
from domain.voting import Tally

MeetingRef = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z._-]{0,47}$")]
MAX_BATCH = 500


def in_vietnam_time(value: datetime | None) -> datetime | None:
    """A date-time without an offset is Vietnam time (as the CLI reads --deadline)."""
    return value.replace(tzinfo=VIETNAM_TZ) if value is not None and value.tzinfo is None else value


class Acting(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actor: ActorId | None = Field(
        default=None, description="optional: the token's actor acts; if given, it must be the token's actor"
    )


# ---- nominations ---------------------------------------------------------------------------------------


class NominationCreated(BaseModel):
    workflow_id: str
    created: bool = Field(description="false: the same nomination had been started already (an idempotent retry)")
    status_url: str


class BatchItem(BaseModel):
    index: int
    workflow_id: str
    outcome: Literal["CREATED", "EXISTING", "REFUSED"]
    detail: str | None = None


class BatchResult(BaseModel):
    created: int
    existing: int
    refused: int
    items: list[BatchItem]


class ImportItem(BaseModel):
    row: int = Field(description="the row's number as the spreadsheet shows it (row 1 is the header)")
    outcome: Literal["STARTED", "ALREADY_STARTED", "FAILED", "INVALID"] = Field(
        description="STARTED; ALREADY_STARTED (this very nomination had been started before); FAILED (another "
        "nomination holds its year, ministry and reference, or the server refused it); INVALID (skip_invalid: "
        "left out, `detail` says what is wrong)"
    )
    workflow_id: str | None = None
    detail: str | None = None


class ImportResult(BaseModel):
    started: int
    already_started: int
    failed: int
    invalid_skipped: int
    items: list[ImportItem] = Field(description="every row with a nomination, in row order")


class NominationRow(BaseModel):
    workflow_id: str
    stage: str | None
    ministry: str | None
    award_form: str | None
    year: int | None
    nominee: str | None
    award: str | None
    running: bool


class MeetingResultBody(Acting):
    """The counts of a council meeting (council secretary) or a bloc vote (bloc head)."""

    tally: Tally
    minutes_ref: Text | None = None


class ApprovalBody(Acting):
    """The central board approves. With `decision_no` it is the decision itself (dated `decision_date`,
    default today); without, the nomination waits for a (batch) decision: POST /decisions."""

    decision_no: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = None
    decision_date: date | None = None

    @model_validator(mode="after")
    def _date_needs_number(self) -> ApprovalBody:
        if self.decision_date is not None and self.decision_no is None:
            raise ValueError("decision_date: only with decision_no")
        return self


class ReasonBody(Acting):
    reason: Reason


class HoldBody(Acting):
    ground: HoldGround = Field(description="Decree 152 Art. 4")
    reason: Reason

    @field_validator("ground", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class ObjectionBody(BaseModel):
    """Anyone may object: no actor, but a name and a way to reach them."""

    model_config = ConfigDict(extra="forbid")
    filed_by: Text
    contact: Text
    reason: Reason


class ResolutionBody(Acting):
    decision: ObjectionDecision
    reason: Reason

    @field_validator("decision", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class ConsultationBody(Acting):
    agencies: list[Text] = Field(min_length=1, max_length=20)
    reason: Reason


# ---- ballot sessions -----------------------------------------------------------------------------------


class SessionOpenBody(Acting):
    """Open a secret-ballot session: the council secretary (kind COUNCIL, scope = ministry) or the bloc
    head (kind BLOC, scope = bloc). Give `deadline` or `deadline_hours`."""

    kind: BallotSessionKind
    scope: Code
    meeting_ref: MeetingRef
    deadline: datetime | None = Field(default=None, description="ISO date-time; Vietnam time without an offset")
    deadline_hours: float | None = Field(default=None, gt=0, le=24 * 366)
    reminder_hours: float = Field(default=24, ge=0, le=24 * 366, description="remind non-voters this long before")
    runoff_hours: float = Field(default=24, gt=0, le=24 * 366, description="length of a runoff round after a tie")
    conflict_rule: ConflictRule | None = None

    @field_validator("kind", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("deadline")
    @classmethod
    def _local(cls, value: datetime | None) -> datetime | None:
        return in_vietnam_time(value)

    @model_validator(mode="after")
    def _one_deadline(self) -> SessionOpenBody:
        if (self.deadline is None) == (self.deadline_hours is None):
            raise ValueError("deadline: give deadline or deadline_hours (one of them)")
        return self


class SessionOpened(BaseModel):
    session_id: str
    created: bool = Field(description="false: the same session had been opened already (an idempotent retry)")
    status_url: str


class BallotBody(Acting):
    """One voter's ballot covering every nomination on the list (leave off those you have a conflict on).

    Either `choices` in clear — the API seals them to the session's tally key before anything is sent, so
    Temporal's history and the database hold ciphertext only (the choices are in clear over this HTTPS
    connection and in this process's memory for that moment) — or `ballot`, already sealed by the voter's
    own browser or client with the key GET /ballot-sessions/{id} publishes (`key_id`, `public_pem`), the
    scheme of runtime/sealing.py: RSA-OAEP-wrapped AES-GCM key, one byte per choice, bound to session,
    voter and nomination; then this API never sees a choice."""

    choices: dict[str, Choice] | None = Field(default=None, description='{"<workflow id>": "FOR|AGAINST|ABSTAIN"}')
    ballot: SealedBallot | None = None

    @model_validator(mode="after")
    def _one_form(self) -> BallotBody:
        if (self.choices is None) == (self.ballot is None):
            raise ValueError("choices: give choices (sealed here) or ballot (sealed by the voter), one of them")
        if self.choices is not None and not self.choices:
            raise ValueError("choices: at least one nomination")
        return self


class ChairBody(Acting):
    reason: Text | None = None


class ExtendBody(Acting):
    new_deadline: datetime = Field(description="ISO date-time; Vietnam time without an offset")
    reason: Text | None = None

    @field_validator("new_deadline")
    @classmethod
    def _local(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=VIETNAM_TZ) if value.tzinfo is None else value


class CancelBody(Acting):
    reason: Text


class TieBody(Acting):
    choose: list[str] = Field(
        min_length=1,
        max_length=50,
        description="workflow ids of the tied nominations that take the seats left (the status's `tied`, `seats_left`)",
    )


class ReceiptCheck(BaseModel):
    receipt: str
    session_id: str
    counted: bool | None = Field(description="null while the session has not closed (receipts are published then)")
    state: ReceiptState


# ---- decisions -----------------------------------------------------------------------------------------


class DecisionBody(Acting):
    """A signed decision naming up to 1,000 nominations waiting for that authority's decision."""

    decision_no: DecisionNo
    decision_date: date
    authority: Authority
    workflow_ids: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=1000
    )

    @field_validator("authority", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class DecisionAccepted(BaseModel):
    decision_no: str
    workflow_id: str
    created: bool
    status_url: str


STAGES = tuple(s.value for s in Stage)
