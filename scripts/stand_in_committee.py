"""A whole counting committee (Ban kiểm phiếu) played by one process: the demo, the bench and the tests.

In a deployment each member makes their own counting key (`starter.py ballot enroll`, or the inbox's page,
where the key never leaves the browser) and hands in their own share (`starter.py ballot hand-in`, or the
inbox). Here one process holds every member's key, in a directory of its own, so that it can carry a session
through its count. Keys are made only where a deployment may make local keys at all (TDKT_GENERATE_KEYS=1:
the embedded demo, the bench, the test suite).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from client.ballots import enroll_counting_key, hand_in, session_status
from client.nominations import ActionRefused
from domain.ballot_messages import SessionPhase, SessionStatus
from domain.ballots import VOTER_ROLE, BallotSessionKind
from domain.committee import default_committee
from domain.roster import Roster
from security.committee import generate_counting_key, load_counting_key, save_counting_key
from security.keys import require_generation_allowed
from security.sealing import public_key_info


def voting_actors(roster: Roster) -> list[str]:
    """Everyone the roster lets vote in some session (council members, bloc representatives): who may sit on
    a counting committee."""
    roles = set(VOTER_ROLE.values())
    return [actor.id for actor in roster.actors if any(grant.role in roles for grant in actor.roles)]


def default_committees(roster: Roster, size: int) -> list[str]:
    """Every member of a default counting committee the roster makes: each ministry's council and each bloc
    (domain.committee.default_committee), in roster order, once each."""
    members: list[str] = []
    for ministry in roster.ministries:
        snapshot = roster.snapshot_for(ministry.code)
        members += default_committee(snapshot, BallotSessionKind.COUNCIL, ministry.code, size)
        if snapshot.bloc is not None:
            members += default_committee(snapshot, BallotSessionKind.BLOC, snapshot.bloc.code, size)
    return list(dict.fromkeys(members))


def key_file(directory: Path, actor: str) -> Path:
    """The member's key file, named as `security.committee.counting_key_path` names it."""
    return directory / f"counting-{actor}.pem"


def member_key(directory: Path, actor: str) -> rsa.RSAPrivateKey:
    """The member's counting key from `directory`, made there on first use (mode 0600)."""
    path = key_file(directory, actor)
    if not path.exists():
        require_generation_allowed(f"counting key of {actor}", "TDKT_COUNTING_KEY_DIR", path)
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process: read theirs
            save_counting_key(path, generate_counting_key())
    return load_counting_key(path)


async def enroll_members(engine: AsyncEngine, directory: Path, actors: Iterable[str]) -> dict[str, rsa.RSAPrivateKey]:
    """Each actor's key from `directory` (made if missing), its public half enrolled in this database; an
    actor enrolled with another key before (an earlier run's directory) gets this one instead."""
    keys: dict[str, rsa.RSAPrivateKey] = {}
    for actor in actors:
        keys[actor] = member_key(directory, actor)
        await enroll_counting_key(engine, actor, public_key_info(keys[actor]).public_pem, replace=True)
    return keys


async def hand_in_shares(
    client: Client, engine: AsyncEngine, session_id: str, keys: Mapping[str, rsa.RSAPrivateKey]
) -> SessionStatus:
    """While the session awaits its count: members of its committee whose keys are held here hand in their
    shares, each decrypted with that member's key, in committee order until `threshold` are in. A member the
    session refuses (one who handed in already, say, by an attempt whose answer was lost) is passed over for
    the next. Returns the status after the last hand-in (the count then runs on its own)."""
    current = await session_status(client, session_id)
    if current.keys is None:
        raise ValueError(f"ballot session {session_id} has no keys: voting never opened")
    threshold = current.keys.threshold
    refusals: list[str] = []
    for member in (m for m in current.committee if m in keys):
        if current.phase != SessionPhase.AWAITING_COUNT or current.shares_in >= threshold:
            break
        try:
            current = await hand_in(client, engine, session_id, member, keys[member])
        except ActionRefused as refused:
            refusals.append(f"{member}: {refused}")
            current = await session_status(client, session_id)
    if current.phase == SessionPhase.AWAITING_COUNT and current.shares_in < threshold:
        raise ActionRefused(
            f"ballot session {session_id} has {current.shares_in} of the {threshold} shares its count needs; "
            + ("; ".join(refusals) or "no member's key is held here")
        )
    return current
