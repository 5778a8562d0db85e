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

from client.revocation import MAX_REASON
from domain.ballot_messages import AnonymousBallot, Base64, ConflictClass, SessionKeys, SessionPhase
from domain.ballots import BallotSessionKind, ConflictRule, ReceiptState
from domain.calendar import VIETNAM_TZ
from domain.catalog import Authority
from domain.decisions import DecisionNo
from domain.messages import HoldGround, ObjectionDecision, Reason
from domain.nomination import ActorId, Code, Text
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
    committee: list[ActorId] | None = Field(
        default=None,
        min_length=1,
        max_length=15,
        description="the counting committee (Ban kiểm phiếu): voting members of the session's body, each with an "
        "enrolled counting key; default: the policy's (the body's first voting members)",
    )

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


class BallotBody(AnonymousBallot):
    """An anonymous ballot (no voter anywhere): the one-time `token` with its unblinded `token_signature` under
    the session's issuer key, and the `ballot` sealed on the voter's side to the session's sealing key (every
    candidate of the round; RECUSE, code X, on the candidates the voter's class excludes), its class credential
    sealed inside. Byte formats: security/sealing.py and security/blind.py.

    A body naming `choices` in clear is refused (422 naming `choices`): this API takes only a ballot the
    voter's own client sealed, so no choice ever reaches it."""

    @model_validator(mode="before")
    @classmethod
    def _sealed_only(cls, data: Any) -> Any:
        if isinstance(data, dict) and "choices" in data:
            raise ValueError(
                "choices: only sealed ballots are accepted; seal the choices on the voter's side "
                "(the inbox's ballot page, `starter.py ballot cast`) and send `ballot`"
            )
        return data


class CredentialBody(BaseModel):
    """The voter asks for this round's one-time credential: two blinded messages (RFC 9474,
    RSABSSA-SHA384-PSS-Deterministic) — the token under the session's issuer key, the class message under the
    voter's class key (GET /ballot-sessions/{id}/credential). The voter is the token's actor."""

    model_config = ConfigDict(extra="forbid")
    round: int = Field(ge=1, le=100)
    blinded_token: Base64
    blinded_class: Base64


class CredentialInfo(BaseModel):
    """What a voter's client needs to ask for a credential and to seal: the session's public keys, and the
    voter's conflict class (its key, and the candidates the voter recuses on)."""

    session_id: str
    round: int
    phase: SessionPhase
    conflict_class: ConflictClass
    keys: SessionKeys


class CountingKeyBody(BaseModel):
    """The token's actor enrolls the public half of their counting key: RSA-3072, SubjectPublicKeyInfo PEM,
    used with RSA-OAEP-SHA256. The private half stays with them (a file for the CLI, a non-extractable key in
    the browser for the inbox)."""

    model_config = ConfigDict(extra="forbid")
    public_pem: Annotated[str, StringConstraints(min_length=100, max_length=4096)]
    replace: bool = Field(
        default=False,
        description="replace a key enrolled before (otherwise 409). Shares of sessions opened before the "
        "replacement stay encrypted to the old key: only its private half opens them",
    )


class CountingKeyEnrolled(BaseModel):
    actor: str
    key_id: str
    replaced: str | None = Field(default=None, description="the key id this enrolment replaced")


class ShareBody(BaseModel):
    """A counting committee member's share, decrypted on their side with their counting key (GET
    /ballot-sessions/{id}/share): its index and the 32 share bytes in base64. The member is the token's actor."""

    model_config = ConfigDict(extra="forbid")
    index: int = Field(ge=1, le=15)
    share: Base64


class ShareReceipt(BaseModel):
    """Where the count stands after a hand-in: `shares_in` of the committee's `committee_size`; the count runs
    once `threshold` are in."""

    session_id: str
    phase: SessionPhase
    round: int
    shares_in: int
    threshold: int
    committee_size: int


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


# ---- tokens --------------------------------------------------------------------------------------------


# The bodies of POST /tokens/revoke: the token carrying the request revokes itself (client/revocation.py).


class TokenRevocationBody(BaseModel):
    # No other field: the token revoked is the one carrying the request, never one the body names (a `jti`
    # here is refused naming it).
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(
        default=None, max_length=MAX_REASON, description="optional: why (kept with the revocation)"
    )


class TokenRevocation(BaseModel):
    jti: str = Field(description="the revoked token's id")
    revoked_at: datetime
    refused_until: datetime = Field(
        description="the token's own expiry: the revocation is kept until then; after it the token is expired"
    )
    already_revoked: bool = Field(description="true when the token had been revoked before: nothing changed")
