"""What travels between voters, the ballot session workflow, its activities and the nominations.

A ballot's choices never travel in the clear: the voter's client seals each choice to the session's sealing
key (hybrid RSA-OAEP + AES-GCM, security/sealing.py), whose private half rests only wrapped under a key the
counting committee holds in shares. A cast ballot names no voter: a one-time blind-signed credential
(security/blind.py) shows it comes from the electorate. Formats: docs/ballot-crypto.md.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from domain.ballots import BallotSessionKind, Candidate, ConflictRule
from domain.messages import ActionChannel
from domain.nomination import ActorId, Code, Text
from domain.stages import Stage
from domain.voting import Tally, VoteResult

Base64 = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/=]{4,4096}$")]


class SessionPhase(StrEnum):
    COLLECTING = "COLLECTING"  # the list is open: nominations reaching the stage join it
    VOTING = "VOTING"  # the list is closed, the electorate snapshotted, ballots are cast
    AWAITING_CHAIR = "AWAITING_CHAIR"  # the deadline passed without a quorum: the chair extends or cancels
    AWAITING_HEAD = "AWAITING_HEAD"  # a bloc tie outlasted its runoff rounds: the bloc head decides (decide_tie)
    # The round's voting is over; the count waits for `threshold` of the counting committee's shares.
    AWAITING_COUNT = "AWAITING_COUNT"
    CLOSED = "CLOSED"  # counted, results sent to the nominations
    CANCELLED = "CANCELLED"


class SessionStart(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: BallotSessionKind
    scope: Code  # ministry code (council) or bloc code (bloc)
    meeting_ref: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z._-]{0,47}$")]
    opened_by: ActorId
    deadline: datetime
    policy_version: str
    conflict_rule: ConflictRule | None = None  # None: the kind's natural rule
    reminder_before_seconds: int = Field(default=24 * 3600, ge=0)
    runoff_seconds: int = Field(default=24 * 3600, ge=1)
    channel: ActionChannel = "CLI"  # through which interface the opener opened it (the audit record)
    # Ban kiểm phiếu: voting members of the session's body who hold the session key's shares. None: the
    # client names the policy's default (domain.committee.default_committee). Checked by committee_errors.
    committee: list[ActorId] | None = Field(default=None, max_length=15)
    # A closed list (the bloc year's honouring vote): exactly these nominations, each waiting at the stage, and
    # no others; the list closes as the session opens. None: the stage's waiting nominations join as usual.
    candidates: list[str] | None = Field(default=None, min_length=1, max_length=50)
    # Seats a bloc vote fills (None: the voting policy's quota).
    seats: int | None = Field(default=None, ge=1, le=50)


def session_workflow_id(kind: BallotSessionKind, scope: str, meeting_ref: str) -> str:
    return f"ballot-{kind.value.lower()}-{scope}-{meeting_ref}"


# The session's signal through which a nomination reaching the stage joins the list it is collecting. The
# offer activity (activities.ballots.offer_to_open_session) claims the nomination for the session in the
# register, then sends it through the client. A signal, not an update: a wave's nominations reach one council
# at once, and the server admits only 10 updates in flight per workflow, which the members' ballots need. The
# session answers a signal that comes after its list closed with `ballot_list_refused` (ListRefused). Activities
# do not import workflows, so the session's handler and the activity share this one name.
JOIN_LIST_SIGNAL = "join_list"


class ListJoined(BaseModel):
    """Signal from a session to a nomination it took up from the waiting list: this session holds it now."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    session_id: str
    kind: BallotSessionKind


class ListRefused(BaseModel):
    """Signal from a session to a nomination whose offer came after its list closed: the session let go of the
    nomination's claim, and the nomination offers itself to another session collecting (or waits for one)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    session_id: str
    kind: BallotSessionKind


class ListLeaving(BaseModel):
    """Signal from a nomination to the session holding it: it left the stage by something other than the
    session's own verdict (withdrawn, returned, rejected, a typed-in result...), so it leaves the list."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    workflow_id: str
    session_id: str
    action: str  # the nomination's transition that moved it: WITHDRAW, RETURN, REJECT, ...
    to_stage: Stage | None  # None: the nomination had ended before the session could tell it
    reason_vi: str
    left_at: datetime
    actor: str | None = None  # who moved it, and through which interface (the session's audit)
    channel: str | None = None


class SessionCancelled(BaseModel):
    """Signal from a cancelled session to the nominations on its list: the deadline it set is gone."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    session_id: str
    reason: str | None = None


class StruckCandidate(BaseModel):
    """A candidate struck from the list after voting opened: shown struck out with the reason; its votes are
    void and it gets no result."""

    candidate: Candidate
    round: int
    action: str
    to_stage: Stage | None
    reason_vi: str
    struck_at: datetime


class SealedBallot(BaseModel):
    """A ballot's sealed content. It covers every candidate on the round's list (struck ones may be left
    out), so its shape is the same whoever cast it; a recusal is sealed like any choice (code X). The class
    credential is sealed too: only the count learns the class, and only in memory."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    key_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{16,64}$")]
    wrapped_key: Base64
    sealed_choices: dict[str, Base64] = Field(min_length=1, max_length=2000)
    sealed_credential: Base64 | None = None  # AES-GCM of {"class_id", "signature"}; required from format 2


class BallotReceipt(BaseModel):
    session_id: str
    receipt: str  # "<session id>:<sha256 hex>"; reveals nothing of the choices
    round: int
    voted_at: datetime


class ChairAction(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    actor: ActorId
    new_deadline: AwareDatetime | None = None  # for extend; with its time zone (the API reads Hanoi time)
    reason: Text | None = None
    channel: ActionChannel = "CLI"


class ListClosing(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    actor: ActorId
    channel: ActionChannel = "CLI"


class TieDecision(BaseModel):
    """The bloc head's recorded decision on a tie that outlasted the policy's runoff rounds: exactly
    `seats_left` of the tied candidates (their workflow ids) take the remaining seats."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    actor: ActorId
    choose: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(min_length=1, max_length=50)
    channel: ActionChannel = "CLI"


class SessionActionKind(StrEnum):
    """The people's actions on a session that the audit chain records (its `action`)."""

    OPENED = "BALLOT_SESSION_OPENED"
    LIST_CLOSED = "BALLOT_LIST_CLOSED"
    DEADLINE_EXTENDED = "BALLOT_DEADLINE_EXTENDED"
    VOTING_CLOSED = "BALLOT_VOTING_CLOSED"
    CANCELLED = "BALLOT_SESSION_CANCELLED"
    TIE_DECIDED = "BALLOT_TIE_DECIDED"
    # A counting committee member handed in their share of the session's key (never the share itself here).
    SHARE_HANDED_IN = "BALLOT_SHARE_HANDED_IN"
    # A nomination left its stage while on the list (its own action, by whoever took it): taken off the list
    # while it was collected, struck once voting had opened.
    CANDIDATE_REMOVED = "BALLOT_CANDIDATE_REMOVED"
    CANDIDATE_STRUCK = "BALLOT_CANDIDATE_STRUCK"


class SessionAction(BaseModel):
    """A person's action on a session, for the audit chain: who, what, when, through which interface, keyed on
    the session and a step number. Never any ballot content."""

    session_id: str
    step: int = Field(ge=1)
    action: SessionActionKind
    actor: str
    channel: ActionChannel | Literal["SYSTEM"]
    occurred_at: datetime
    outcome: str
    details: dict[str, str | int | list[str] | None] = Field(default_factory=dict)


class PublicKeyInfo(BaseModel):
    key_id: str
    public_pem: str


# ---- the counting committee's key and the anonymous ballot (formats: docs/ballot-crypto.md) ----------------

ClassId = Annotated[str, StringConstraints(pattern=r"^k[0-9]{2}$")]  # fixed length: sealed, it reveals nothing


class ConflictClass(BaseModel):
    """Voters who must recuse on the same candidates share a class and its credential key. The class travels
    only inside the sealed ballot; the count voids a class's choices on its `excluded` candidates."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    class_id: ClassId
    key: PublicKeyInfo  # RFC 9474 key that blind-signs the class credential
    excluded: list[str] = Field(default_factory=list)  # candidate workflow ids its holders recuse on


class SessionKeys(BaseModel):
    """The public halves of a session's keys, made when voting opens. The sealing key's private half rests
    only wrapped under a key split among the counting committee; the signing keys' private halves are held
    by the worker until the session ends, then destroyed with the wrapped sealing key."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    sealing: PublicKeyInfo  # choices are sealed to it (RSA-OAEP-SHA256 + AES-256-GCM)
    issuer: PublicKeyInfo  # blind-signs each voter's one-time ballot token (RFC 9474)
    classes: list[ConflictClass]
    committee: list[str]  # member ids, in share-index order (member i holds share index i + 1)
    threshold: int
    commitments: list[str]  # per member, in the same order: sha256 hex binding their share (share_commitment)
    # The round the issuer and class keys sign for. A blind signer cannot see the round inside what it signs,
    # so each round has keys of its own: a credential taken in one round is worthless in the next.
    round: int = Field(default=1, ge=1)


class CredentialRequest(BaseModel):
    """A voter asks for this round's one-time ballot credential. The issuer sees who asks and two blinded
    messages; it never sees the token they hide, so the ballot cast later cannot be tied back to this."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    voter: ActorId
    round: int = Field(ge=1)
    blinded_token: Base64  # RFC 9474 blind of token_message(session, round, token) under SessionKeys.issuer
    blinded_class: Base64  # blind of class_message(session, round, token, class_id) under the voter's class key
    channel: ActionChannel = "CLI"


class CredentialIssue(BaseModel):
    """The issuer's answer: the blind signatures, and which class (and so which recusals) the voter holds."""

    session_id: str
    round: int
    class_id: str
    excluded: list[str]  # the candidates this voter must mark RECUSE (sealed code X)
    blind_token_signature: Base64
    blind_class_signature: Base64


class AnonymousBallot(BaseModel):
    """A cast ballot: no voter id anywhere. The unblinded token signature shows it comes from someone the
    roster let vote in this round, once; the class credential rides sealed inside `ballot`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    round: int = Field(ge=1)
    token: Base64  # 32 random bytes the voter's client chose
    token_signature: Base64  # RSA-PSS (RFC 9474, SHA-384) under SessionKeys.issuer over token_message
    ballot: SealedBallot


class ShareHandIn(BaseModel):
    """A counting committee member hands in their share at the close (decrypted on their side)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    member: ActorId
    index: int = Field(ge=1, le=15)
    share: Base64  # 32 bytes: the Shamir shares of both 16-byte halves of the wrapping key
    channel: ActionChannel = "CLI"


class MemberShare(BaseModel):
    """A member's share as delivered: encrypted to the counting key they enrolled (RSA-OAEP-SHA256)."""

    session_id: str
    member: str
    index: int
    member_key_id: str
    encrypted_share: Base64


class KeyShare(BaseModel):
    """A handed-in share as the count gets it: the index and the 32 share bytes, no member id."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    index: int = Field(ge=1, le=15)
    share: Base64


class CountRequest(BaseModel):
    """What the count needs, and not one voter id: the round's anonymous ballots in receipt order (never the
    order they were cast), the shares the committee handed in (the wrapping key is rebuilt from them in
    memory), the conflict classes, and per candidate on the list how many may vote on it."""

    session_id: str
    round: int
    ballots: list[AnonymousBallot]
    shares: list[KeyShare]
    threshold: int
    classes: list[ConflictClass]
    members: dict[str, int]  # candidate workflow id -> voters who may vote on it (domain.ballots.eligible_members)
    struck: list[str] = Field(default_factory=list)  # candidates struck from the list: their choices are void


class CountResult(BaseModel):
    tallies: dict[str, Tally]
    spoiled: list[str] = Field(default_factory=list)  # receipts of ballots that did not open or break the rules


class BallotVerdict(BaseModel):
    """A session's result for one nomination, signalled back to its workflow."""

    session_id: str
    round: int
    stage_kind: BallotSessionKind
    tally: Tally
    result: VoteResult
    reason_vi: str
    policy_code: str


class MinutesResult(StrEnum):
    """What the minutes record of a candidate: a vote's result, or that it left the list before one."""

    PASSED = VoteResult.PASSED.value
    FAILED = VoteResult.FAILED.value
    NO_QUORUM = VoteResult.NO_QUORUM.value
    # Struck: it left its stage while voting was open. Its votes are void; it has no tally and no result.
    WITHDRAWN_FROM_LIST = "WITHDRAWN_FROM_LIST"


class MinutesEntry(BaseModel):
    candidate: Candidate
    tally: Tally
    result: MinutesResult
    reason_vi: str


class Participation(BaseModel):
    """Who took a ballot credential in a round, and when. Nothing here leads to their ballot."""

    voter_id: str
    voted_at: datetime


class SessionMinutes(BaseModel):
    """Biên bản kiểm phiếu: per nomination the counts, who voted (not what), when, the policy version."""

    session_id: str
    kind: BallotSessionKind
    scope: str
    meeting_ref: str
    round: int
    policy_version: str
    closed_at: datetime
    electorate_size: int
    entries: list[MinutesEntry]
    participation: list[Participation]
    spoiled: int = 0
    ballots_cast: int = 0  # anonymous ballots received this round (spoiled included)


class SessionRow(BaseModel):
    session_id: str
    kind: BallotSessionKind
    scope: str
    meeting_ref: str
    phase: SessionPhase
    opened_by: str
    deadline: datetime
    policy_version: str
    candidates: int = 0
    electorate_size: int = 0
    voted: int = 0


class HeadDecision(BaseModel):
    """The bloc head's recorded decision on a tie at the quota boundary, as the minutes print it: who chose,
    in which round, which of the tied took the seats left."""

    actor: str
    round: int
    tied: list[str]  # workflow ids, the ranking's order
    seats_left: int
    chosen: list[str]
    decided_at: datetime


class SessionStatus(BaseModel):
    session_id: str
    kind: BallotSessionKind
    scope: str
    meeting_ref: str
    phase: SessionPhase
    round: int
    deadline: datetime
    candidates: list[Candidate]  # the list to vote on: struck candidates are in `struck`, not here
    electorate_size: int
    voted: list[str]  # who took this round's ballot credential; what they voted is not known, nor which ballot
    quorum_met: bool  # counted on the ballots cast
    ballots_cast: int = 0  # anonymous ballots received this round
    committee: list[str] = Field(default_factory=list)  # Ban kiểm phiếu, in share-index order
    shares_in: int = 0  # how many members have handed in their share (the count needs keys.threshold)
    keys: SessionKeys | None = None  # the session's public keys, from the moment voting opens
    # Only once the session is CLOSED: the tallies and results (never before).
    results: list[MinutesEntry] | None = None
    counted_receipts: list[str] | None = None
    # Receipts of ballots received but not counted because their sealed content did not open.
    spoiled_receipts: list[str] | None = None
    cancel_reason: str | None = None  # why the session was cancelled: the chair's reason, or a refused opener
    # AWAITING_HEAD: the candidates tied at the quota boundary and how many of them the bloc head chooses.
    tied: list[str] = Field(default_factory=list)
    seats_left: int = 0
    # Struck from the list after voting opened, with the reason (the minutes say WITHDRAWN_FROM_LIST).
    struck: list[StruckCandidate] = Field(default_factory=list)
    # A bloc session whose tie outlasted its runoffs: the head's decision once recorded (the minutes name them).
    head_decision: HeadDecision | None = None


class BallotPaper(BaseModel):
    """What a voter's client reads before casting, in one query: the session as it stands and the conflict class
    the voter holds (None outside the electorate, or before voting opens)."""

    status: SessionStatus
    held: ConflictClass | None


class PublishedPaper(BaseModel):
    """A round's ballot paper as the session publishes it to the register (store.ballots.ballot_papers): the
    status as voting opened, and the class each voter holds (by voter id)."""

    session_id: str
    round: int
    status: SessionStatus
    classes: dict[str, ConflictClass]


class MinutesAmendment(BaseModel):
    """Rows of a round's minutes that a strike changed after they were written (a candidate struck while the
    results were recorded or a bloc tie awaited its head, and the ranking that follows): written anew."""

    session_id: str
    round: int
    policy_version: str
    closed_at: datetime
    spoiled: int = 0
    entries: list[MinutesEntry]


class TieDecisionRecord(BaseModel):
    """What the minutes and the audit chain keep of the bloc head's decision on round `round`'s tie."""

    session_id: str
    round: int
    tied: list[str]
    seats_left: int
    head_decision: list[str]
    entries: list[MinutesEntry]  # the tied candidates' final results
    action: SessionAction
