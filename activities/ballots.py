"""The activities of a ballot session: the session register, the list of waiting nominations and who holds
each (`ballot_list_members`: one open session at most), the electorate, the session's keys and the voters'
credentials, counting and the minutes. The tables are store/ballots.py's; the keys are made, sealed at rest
and opened here, with security/.

Every write is keyed on the session, round, voter or candidate (never on the attempt), so Temporal may
retry freely. Choices exist here only inside `open_and_count`: the sealing key is rebuilt there from the
counting committee's shares, in memory, the ballots are opened, counted and dropped; no log line, error,
return value or table ever holds a choice, and nothing here ties a voter to a ballot."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.ballot_messages import (
    JOIN_LIST_SIGNAL,
    ConflictClass,
    CountRequest,
    CountResult,
    CredentialIssue,
    MinutesAmendment,
    PublishedPaper,
    SessionAction,
    SessionKeys,
    SessionMinutes,
    SessionRow,
    TieDecisionRecord,
)
from domain.ballot_session_state import ClosedListClaim
from domain.ballots import (
    RECORDER_ROLE,
    STAGE_OF_KIND,
    VOTER_ROLE,
    BallotSessionKind,
    Candidate,
    Choice,
    Electorate,
    count_opened,
    opened_ballot_errors,
)
from domain.committee import missing_key_errors
from domain.notices import NotificationDraft
from observability.logs import activity_logger
from observability.metrics import activity_metrics
from security import blind
from security.audit_keys import audit_keyring
from security.codec import Keyring, load_keyring
from security.committee import encrypt_share, make_session_secret, rebuild_sealing_key, share_commitment
from security.sealing import SealError, class_message, frame, open_ballot, public_key_info, receipt_of, unb64
from store.ballots import (
    amend_minutes,
    claim_for_session,
    collecting_sessions,
    destroy_secrets,
    enrolled_counting_keys,
    list_waiting,
    publish_paper,
    queue_session_notices,
    read_electorate,
    record_minutes,
    record_tie_decision,
    register_session,
    release_claims,
    replace_round_keys,
    session_secrets,
    store_session_keys,
)

# An offer tries the newest few sessions collecting their list (one may close its list meanwhile).
OFFER_SESSIONS = 3


def session_kind(kind: str) -> BallotSessionKind:
    try:
        return BallotSessionKind(kind)
    except ValueError:
        raise ApplicationError(
            f"unknown ballot session kind {kind!r}; expected one of " + ", ".join(k.value for k in BallotSessionKind),
            type="UnknownKind",
            non_retryable=True,
        ) from None


def count_anonymous(private_key: rsa.RSAPrivateKey, request: CountRequest) -> tuple[CountResult, list[str]]:
    """Open and count the round's anonymous ballots, in the order given (receipt order); returns the result
    and why each spoiled ballot was spoiled (never a choice, never a receipt).

    A ballot is spoiled when it does not open, when its sealed class credential does not verify under the
    class key it names, or when it breaks its class's recusals (a choice where the class must recuse)."""
    classes: Mapping[str, ConflictClass] = {c.class_id: c for c in request.classes}
    opened: list[dict[str, Choice | None]] = []
    spoiled: list[str] = []
    why: list[str] = []
    for ballot in request.ballots:
        token = unb64(ballot.token, "the ballot token")
        receipt = receipt_of(request.session_id, request.round, token)
        try:
            content = open_ballot(private_key, request.session_id, request.round, token, ballot.ballot)
        except SealError as exc:
            spoiled.append(receipt)
            why.append(str(exc))
            continue
        voter_class = classes.get(content.class_id)
        signed = voter_class is not None and blind.verify(
            voter_class.key.public_pem,
            class_message(request.session_id, request.round, token, content.class_id),
            content.class_signature,
        )
        if voter_class is None or not signed:
            spoiled.append(receipt)
            why.append("the sealed conflict-class credential does not verify under the session's class keys")
            continue
        problems = opened_ballot_errors(content.choices, voter_class.excluded, list(request.members), request.struck)
        if problems:
            spoiled.append(receipt)
            why.append("; ".join(problems))
            continue
        opened.append(content.choices)
    tallies = count_opened(opened, request.members, struck=request.struck)
    return CountResult(tallies=tallies, spoiled=sorted(spoiled)), why


# ---- the session's signing keys at rest ---------------------------------------------------------------------
# The credential signing keys' private halves are kept encrypted under the deployment's codec key (AES-256-GCM,
# bound to the session and the key's name): the database alone signs nothing.
SIGNING_KEY_CONTEXT = "tdkt-signing-key/2"
NONCE_BYTES = 12


def seal_signing_key(keyring: Keyring, session_id: str, name: str, key: rsa.RSAPrivateKey) -> bytes:
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    nonce = secrets.token_bytes(NONCE_BYTES)
    aad = frame(SIGNING_KEY_CONTEXT, session_id, name)
    return nonce + AESGCM(keyring.keys[keyring.current_id]).encrypt(nonce, der, aad)


def open_signing_key(keyring: Keyring, key_id: str, session_id: str, name: str, sealed: bytes) -> rsa.RSAPrivateKey:
    if key_id not in keyring.keys:
        raise SealError(f"the session's signing keys are encrypted under codec key {key_id!r}, not in the keyring")
    aad = frame(SIGNING_KEY_CONTEXT, session_id, name)
    try:
        der = AESGCM(keyring.keys[key_id]).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except InvalidTag:
        raise SealError(f"the session's signing key {name!r} does not decrypt under codec key {key_id!r}") from None
    # The GCM tag above proves these bytes are the key prepare_session_keys made and sealed, so OpenSSL's RSA
    # consistency check (primality tests, ~50-150 ms per load, twice per credential) would only repeat it.
    key = serialization.load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SealError(f"the session's signing key {name!r} is not an RSA key")
    return key


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class BallotActivities:
    """Activities bound to one engine, one Temporal client and the codec keyring (which encrypts the sessions'
    signing keys at rest); register every `@activity.defn` method of an instance on the worker."""

    def __init__(self, engine: AsyncEngine, client: Client, keyring: Keyring | None = None) -> None:
        self._engine = engine
        self._client = client
        self._keyring = keyring or load_keyring()

    # ---- the session register ------------------------------------------------------------------------

    @activity.defn(name="register_ballot_session")
    async def register_ballot_session(self, row: SessionRow, actions: list[SessionAction] | None = None) -> None:
        """Upsert the session's row and, in the same transaction, audit the people's actions that led to it
        (each keyed on the session and its step: a retry appends nothing). Sessions always pass both
        arguments (the SDK decodes untyped when the count differs); one scheduled before the audit passes the
        row only."""
        audited = await register_session(self._engine, row, actions or [], audit_keyring())
        activity_logger(__name__).info(
            "ballot_session_registered",
            session_id=row.session_id,
            phase=row.phase.value,
            candidates=row.candidates,
            electorate_size=row.electorate_size,
            voted=row.voted,
            actions=[a.action.value for a in actions or []],
            audited=audited,
        )

    @activity.defn(name="publish_ballot_paper")
    async def publish_ballot_paper(self, paper: PublishedPaper) -> None:
        """The round's paper, for the voters' clients to read without asking the session (keyed on the session
        and round: a retry writes the same)."""
        await publish_paper(self._engine, paper)
        activity_logger(__name__).info(
            "ballot_paper_published",
            session_id=paper.session_id,
            round=paper.round,
            candidates=len(paper.status.candidates),
            voters=len(paper.classes),
        )

    # ---- the list -----------------------------------------------------------------------------------

    @activity.defn(name="waiting_candidates")
    async def waiting_candidates(self, kind: str, scope: str, session_id: str | None = None) -> list[Candidate]:
        """The nominations waiting at the stage in scope; with `session_id`, those the session takes up (see
        store.ballots.list_waiting: a retry or a second session claims nothing twice)."""
        session = session_kind(kind)
        candidates = await list_waiting(self._engine, session, scope, session_id)
        activity_logger(__name__).info(
            "waiting_candidates", kind=session.value, scope=scope, session_id=session_id, found=len(candidates)
        )
        return candidates

    @activity.defn(name="claim_closed_list")
    async def claim_closed_list(self, kind: str, scope: str, session_id: str, named: list[str]) -> ClosedListClaim:
        """A closed list's session takes up exactly the nominations it names, each waiting at the stage in scope
        and held by no other open session; for each it could not take, why. Claiming is keyed on the
        nomination: a retry claims nothing twice."""
        session = session_kind(kind)
        held = await list_waiting(self._engine, session, scope, session_id, named=named)
        taken = {c.workflow_id for c in held}
        missing = [wf for wf in named if wf not in taken]
        waiting = {c.workflow_id for c in await list_waiting(self._engine, session, scope, named=missing)}
        stage = STAGE_OF_KIND[session].value
        refused = {
            wf: (
                "held by another open ballot session"
                if wf in waiting
                else f"unknown, or not waiting at {stage} in {scope}"
            )
            for wf in missing
        }
        activity_logger(__name__).info(
            "closed_list_claimed",
            kind=session.value,
            scope=scope,
            session_id=session_id,
            held=len(held),
            refused=len(refused),
        )
        return ClosedListClaim(candidates=held, refused=refused)

    @activity.defn(name="offer_to_open_session")
    async def offer_to_open_session(
        self, kind: str, scope: str, candidate: Candidate, excluding: list[str] | None = None
    ) -> str | None:
        """Put a nomination that reached the stage on the list of the newest session of its body collecting
        one (but those in `excluding`, which refused it); returns the session whose list holds it (this one, or
        another that took it up already), or None.

        The nomination is claimed for the session first, then the session is sent its offer (a session whose
        list closed meanwhile lets go of the claim and tells the nomination, which offers itself again)."""
        session = session_kind(kind)
        log = activity_logger(__name__)
        wf = candidate.workflow_id
        skipped = set(excluding or [])
        collecting = await collecting_sessions(self._engine, session, scope, OFFER_SESSIONS + len(skipped))
        for session_id in (s for s in collecting if s not in skipped):
            holder = await claim_for_session(self._engine, wf, session_id)
            if holder != session_id and not await self._running(holder):
                # The session holding it ended without letting go (it was terminated): the claim is void.
                log.warning("stale_list_claim", session_id=holder, candidate=wf)
                await release_claims(self._engine, holder, [wf])
                holder = await claim_for_session(self._engine, wf, session_id)
            if holder != session_id:
                log.info("candidate_already_listed", session_id=holder, candidate=wf)
                return holder
            if await self._send_offer(session_id, candidate):
                log.info("candidate_offered", session_id=session_id, candidate=wf)
                return session_id
            await release_claims(self._engine, session_id, [wf])
        log.info("no_open_session", kind=session.value, scope=scope, candidate=wf, collecting=len(collecting))
        return None

    async def _running(self, session_id: str) -> bool:
        try:
            described = await self._client.get_workflow_handle(session_id).describe()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return described.status == WorkflowExecutionStatus.RUNNING

    async def _send_offer(self, session_id: str, candidate: Candidate) -> bool:
        """Send the session the offer: True once it is in the session's history, False when the session has
        ended."""
        try:
            await self._client.get_workflow_handle(session_id).signal(JOIN_LIST_SIGNAL, candidate)
            return True
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return False  # not found, or completed: a session that has ended lists nothing
            raise  # turned away in passing: the activity is retried (claiming is idempotent)

    @activity.defn(name="release_from_list")
    async def release_from_list(self, session_id: str, workflow_ids: list[str] | None, keep: list[str] | None) -> int:
        """The session lets go of nominations: those named (they left its list), or with `workflow_ids` None
        every one it holds but `keep` (its list closed, or it ended). Keyed on the session: a retry deletes
        nothing more."""
        released = await release_claims(self._engine, session_id, workflow_ids, keep)
        activity_logger(__name__).info(
            "list_released",
            session_id=session_id,
            named=None if workflow_ids is None else len(workflow_ids),
            kept=len(keep or []),
            released=released,
        )
        return released

    # ---- the electorate and the key -----------------------------------------------------------------

    @activity.defn(name="snapshot_electorate")
    async def snapshot_electorate(self, kind: str, scope: str) -> Electorate:
        session = session_kind(kind)
        role = VOTER_ROLE[session]
        recorder = RECORDER_ROLE.get(session)
        voters = await read_electorate(self._engine, session, scope)
        what = "ministry" if session == BallotSessionKind.COUNCIL else "bloc"
        if voters is None:
            raise ApplicationError(
                f"{what} {scope!r} is not in the roster; load it with `starter.py roster load`",
                type="UnknownScope",
                non_retryable=True,
            )
        if not voters:
            but = f" but {recorder.value}, who records the session and does not vote" if recorder else ""
            raise ApplicationError(
                f"no one holds {role.value} for {what} {scope!r}{but}, so a {session.value} ballot has no voters; "
                "add them to the roster and load it again",
                type="EmptyElectorate",
                non_retryable=True,
            )
        try:
            electorate = Electorate(voters=tuple(voters), kind=session)
        except ValidationError as exc:
            raise ApplicationError(
                f"the {role.value} holders of {what} {scope!r} do not form an electorate: "
                + "; ".join(str(e["msg"]) for e in exc.errors()),
                type="InvalidElectorate",
                non_retryable=True,
            ) from None
        activity_logger(__name__).info("electorate_snapshotted", kind=session.value, scope=scope, size=electorate.size)
        return electorate

    # ---- the session's keys, the voters' credentials, counting ------------------------------------------

    @activity.defn(name="prepare_session_keys")
    async def prepare_session_keys(
        self, session_id: str, committee: list[str], threshold: int, classes: dict[str, list[str]]
    ) -> SessionKeys:
        """Make the session's keys when voting opens: the sealing key (its private half wrapped under a key split
        among the committee, each member's share encrypted to their enrolled counting key), the issuer's and
        each conflict class's blind-signing keys. Returns the public halves. Keyed on the session: a retry
        returns the keys the first attempt stored. Refused (non-retryable) when a member has no counting key."""
        log = activity_logger(__name__)
        stored = await self._stored_keys(session_id)
        if stored is not None:
            return stored
        enrolled = await enrolled_counting_keys(self._engine, committee)
        missing = missing_key_errors(committee, enrolled)
        if missing:
            raise ApplicationError("; ".join(missing), type="CommitteeKeyMissing", non_retryable=True)

        def make() -> tuple[Any, rsa.RSAPrivateKey, dict[str, rsa.RSAPrivateKey]]:
            secret = make_session_secret(session_id, len(committee), threshold)
            return secret, blind.generate_signing_key(), {cid: blind.generate_signing_key() for cid in sorted(classes)}

        try:
            # Key generation is CPU work: keep the worker's event loop free.
            secret, issuer, class_keys = await asyncio.to_thread(make)
            shares = []
            for position, (member, (index, share)) in enumerate(zip(committee, secret.shares, strict=True)):
                assert index == position + 1, "share indices follow committee order"
                shares.append(
                    {
                        "session_id": session_id,
                        "member_id": member,
                        "idx": index,
                        "member_key_id": enrolled[member].key_id,
                        "encrypted_share": encrypt_share(enrolled[member].public_pem, index, share),
                        "commitment": share_commitment(session_id, member, index, share),
                    }
                )
        except SealError as exc:
            raise ApplicationError(str(exc), type="SessionKeysFailed", non_retryable=True) from None
        keys = SessionKeys(
            sealing=secret.sealing,
            issuer=public_key_info(issuer),
            classes=[
                ConflictClass(class_id=cid, key=public_key_info(key), excluded=sorted(classes[cid]))
                for cid, key in sorted(class_keys.items())
            ],
            committee=list(committee),
            threshold=threshold,
            commitments=[s.pop("commitment") for s in shares],
        )
        await store_session_keys(
            self._engine,
            session_id,
            keys,
            wrapped_sealing_key=secret.wrapped_private,
            issuer_private=seal_signing_key(self._keyring, session_id, "issuer", issuer),
            class_privates={
                cid: _b64(seal_signing_key(self._keyring, session_id, cid, key)) for cid, key in class_keys.items()
            },
            codec_key_id=self._keyring.current_id,
            shares=shares,
        )
        # Another attempt may have stored its keys first: theirs are the session's.
        final = await self._stored_keys(session_id)
        assert final is not None
        log.info(
            "session_keys_prepared",
            session_id=session_id,
            committee=len(committee),
            threshold=threshold,
            classes=len(classes),
            sealing_key_id=final.sealing.key_id,
        )
        return final

    async def _stored_keys(self, session_id: str) -> SessionKeys | None:
        row = await session_secrets(self._engine, session_id)
        if row is None:
            return None
        if row.destroyed_at is not None:
            raise ApplicationError(
                f"session {session_id}'s secrets were destroyed when it ended; its keys are not made again",
                type="SessionSecretsDestroyed",
                non_retryable=True,
            )
        return SessionKeys.model_validate(row.public_keys)

    async def _secrets(self, session_id: str) -> Any:
        row = await session_secrets(self._engine, session_id)
        if row is None or row.destroyed_at is not None:
            raise ApplicationError(
                f"session {session_id} holds no keys (never made, or destroyed when it ended)",
                type="SessionSecretsDestroyed",
                non_retryable=True,
            )
        return row

    @activity.defn(name="round_signing_keys")
    async def round_signing_keys(self, session_id: str, round: int, classes: dict[str, list[str]]) -> SessionKeys:
        """A runoff round's own issuer and class keys (the sealing key and the committee stay): replaces the
        earlier round's signing keys. Keyed on (session, round): a retry returns the keys already stored."""
        stored = await self._stored_keys(session_id)
        if stored is None:
            raise ApplicationError(
                f"session {session_id} has no keys to renew", type="SessionSecretsDestroyed", non_retryable=True
            )
        if stored.round >= round:
            return stored

        def make() -> tuple[rsa.RSAPrivateKey, dict[str, rsa.RSAPrivateKey]]:
            return blind.generate_signing_key(), {cid: blind.generate_signing_key() for cid in sorted(classes)}

        issuer, class_keys = await asyncio.to_thread(make)
        keys = stored.model_copy(
            update={
                "round": round,
                "issuer": public_key_info(issuer),
                "classes": [
                    ConflictClass(class_id=cid, key=public_key_info(key), excluded=sorted(classes[cid]))
                    for cid, key in sorted(class_keys.items())
                ],
            }
        )
        # Only over an earlier round's keys: a concurrent attempt that stored this round's keys first wins.
        await replace_round_keys(
            self._engine,
            session_id,
            keys,
            issuer_private=seal_signing_key(self._keyring, session_id, "issuer", issuer),
            class_privates={
                cid: _b64(seal_signing_key(self._keyring, session_id, cid, key)) for cid, key in class_keys.items()
            },
            codec_key_id=self._keyring.current_id,
        )
        final = await self._stored_keys(session_id)
        assert final is not None
        activity_logger(__name__).info(
            "round_keys_prepared", session_id=session_id, round=final.round, classes=len(final.classes)
        )
        return final

    @activity.defn(name="sign_credential")
    async def sign_credential(
        self, session_id: str, round: int, voter: str, class_id: str, blinded_token: str, blinded_class: str
    ) -> CredentialIssue:
        """Blind-sign a voter's one-time ballot token (issuer key) and class message (their class's key). The
        session checked the voter before asking; nothing here sees the token, so nothing here can tie the
        ballot cast later to this voter. Signing again gives signatures as good: a retry is harmless."""
        row = await self._secrets(session_id)
        keys = SessionKeys.model_validate(row.public_keys)
        if keys.round != round:
            raise ApplicationError(
                f"session {session_id}'s signing keys are for round {keys.round}, not round {round}",
                type="CredentialRefused",
                non_retryable=True,
            )
        voter_class = next((c for c in keys.classes if c.class_id == class_id), None)
        if voter_class is None or class_id not in (row.class_privates or {}):
            raise ApplicationError(
                f"session {session_id} has no conflict class {class_id!r}", type="UnknownClass", non_retryable=True
            )

        def sign() -> tuple[bytes, bytes]:
            issuer = open_signing_key(self._keyring, row.codec_key_id, session_id, "issuer", row.issuer_private)
            class_key = open_signing_key(
                self._keyring,
                row.codec_key_id,
                session_id,
                class_id,
                base64.b64decode(row.class_privates[class_id]),
            )
            return (
                blind.blind_sign(issuer, unb64(blinded_token, "blinded_token")),
                blind.blind_sign(class_key, unb64(blinded_class, "blinded_class")),
            )

        try:
            token_signature, class_signature = await asyncio.to_thread(sign)
        except (SealError, blind.BlindError) as exc:
            raise ApplicationError(str(exc), type="CredentialRefused", non_retryable=True) from None
        # Who asked is the session's participation record; the log keeps counts of the session only.
        activity_logger(__name__).info("credential_signed", session_id=session_id, round=round)
        return CredentialIssue(
            session_id=session_id,
            round=round,
            class_id=class_id,
            excluded=list(voter_class.excluded),
            blind_token_signature=_b64(token_signature),
            blind_class_signature=_b64(class_signature),
        )

    @activity.defn(name="open_and_count")
    async def open_and_count(self, request: CountRequest) -> CountResult:
        """Rebuild the sealing key from the committee's shares in memory, open and count the round's
        anonymous ballots, and drop the key. Non-retryable when the shares do not open it."""
        log = activity_logger(__name__)
        row = await self._secrets(request.session_id)
        try:
            shares = [(s.index, unb64(s.share, f"share {s.index}")) for s in request.shares]

            def count() -> tuple[CountResult, list[str]]:
                key = rebuild_sealing_key(request.session_id, row.wrapped_sealing_key, shares, request.threshold)
                return count_anonymous(key, request)

            # RSA unwrapping is CPU work: keep the worker's event loop free.
            result, why_spoiled = await asyncio.to_thread(count)
        except (SealError, ValueError) as exc:
            raise ApplicationError(
                f"session {request.session_id} round {request.round} cannot be counted: {exc}",
                type="CountFailed",
                non_retryable=True,
            ) from None
        for reason in why_spoiled:
            log.warning("ballot_spoiled", session_id=request.session_id, round=request.round, reason=reason)
        log.info(
            "ballots_counted",
            session_id=request.session_id,
            round=request.round,
            ballots=len(request.ballots),
            counted=len(request.ballots) - len(result.spoiled),
            spoiled=len(result.spoiled),
            candidates=len(request.members),
        )
        return result

    @activity.defn(name="destroy_session_secrets")
    async def destroy_session_secrets(self, session_id: str) -> None:
        """The session has ended: its wrapped sealing key, its signing keys' private halves and the members'
        encrypted shares are deleted; only the public keys stay. Idempotent."""
        emptied, shares = await destroy_secrets(self._engine, session_id)
        activity_logger(__name__).info(
            "session_secrets_destroyed",
            session_id=session_id,
            secrets=emptied,
            shares=shares,
        )

    @activity.defn(name="record_ballot_minutes")
    async def record_ballot_minutes(self, minutes: SessionMinutes) -> None:
        # One audit entry per round, counts only (idempotent: a retry appends nothing).
        first, audited = await record_minutes(self._engine, minutes, audit_keyring())
        if first:  # the round's minutes written now, not by an earlier attempt: its ballots counted once
            activity_metrics().ballots_cast(minutes.kind.value, minutes.ballots_cast)
        activity_logger(__name__).info(
            "ballot_minutes_recorded",
            session_id=minutes.session_id,
            round=minutes.round,
            entries=len(minutes.entries),
            participation=len(minutes.participation),
            spoiled=minutes.spoiled,
            first_write=first,
            audited=audited,
        )

    @activity.defn(name="record_tie_decision")
    async def record_tie_decision(self, record: TieDecisionRecord) -> None:
        """The bloc head's decision: the tied candidates' rows of that round's minutes take their final result,
        and the decision is audited, in one transaction (idempotent: the same rows, the same audit key)."""
        audited = await record_tie_decision(self._engine, record, audit_keyring())
        activity_logger(__name__).info(
            "tie_decision_recorded",
            session_id=record.session_id,
            round=record.round,
            tied=record.tied,
            head_decision=record.head_decision,
            audited=audited,
        )

    @activity.defn(name="amend_ballot_minutes")
    async def amend_ballot_minutes(self, amendment: MinutesAmendment) -> None:
        """Rows of a round's minutes that a strike changed after they were written (a candidate struck while a
        bloc tie awaited its head, or while the results were recorded, says WITHDRAWN_FROM_LIST with the
        reason; the ranking that follows may move others): written or rewritten, idempotent."""
        results = await amend_minutes(self._engine, amendment)
        activity_logger(__name__).info(
            "ballot_minutes_amended",
            session_id=amendment.session_id,
            round=amendment.round,
            entries=len(results),
            results=sorted(set(results)),
        )

    @activity.defn(name="write_session_notifications")
    async def write_session_notifications(self, workflow_id: str, seq: int, drafts: list[NotificationDraft]) -> None:
        written = await queue_session_notices(self._engine, workflow_id, seq, drafts)
        activity_logger(__name__).info("session_notifications_written", seq=seq, drafts=len(drafts), written=written)
