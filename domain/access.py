"""Who may read what, stated once: from a person's role grants on the roster, which nominations, ballot
sessions and decision rows they may see, and how much of a session's participation.

* **Unit staff** of ministry M read the nominations of M (the roster names no unit inside a ministry, so the
  ministry is the finest scope the data can tell apart).
* **A council's secretary, chair and members** (of M) read what their council handles: every nomination of M.
* **A bloc's head and representatives** (of bloc B) read their bloc's candidates: nominations of B's
  ministries whose award form's route goes through the bloc vote (BLOC_VOTE), and the bloc's own proposals
  (its honouring's nominations, whatever the form: their origin names the bloc). A nomination's bloc is the
  one it recorded when it started (its roster snapshot); where none is recorded, the roster's bloc of its
  ministry.
* **The central board** (CENTRAL_OFFICER, CENTRAL_HEAD, scope TW) appraises state-level nominations and records
  the Prime Minister's and the President's decisions; it is treated as reading every nomination, since any of
  them may reach it (a ministry form's record is the engine's register, which the board supervises).
* **Anyone else** — an actor the roster does not know, or one with no grant — reads nothing: a refusal
  naming the actor, never an empty answer.

Ballot sessions: a council session of M is read by M's council secretary, chair and members; a bloc session
of B by B's head and representatives; the central board reads every session. Who voted (the participation)
is shown in full only to the session's organisers (the council's secretary or chair, the bloc's head); a
voter sees only whether they themselves have voted; every other reader sees counts only.

Decisions: each row of a decision's list is shown only to a reader who may read that nomination; reports
count only what the reader may read.

Bloc years (the bloc's pledge, scores, ranking, honouring and leadership): a bloc year of B is read by B's head
and representatives and by the central board; anyone else is refused, whether or not that year exists.

These functions are pure: the client layer (API, CLI, inbox) reads the roster and applies them. Temporal
queries cannot know who is asking, so the rule is enforced in every client, not in the workflows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from domain.ballot_messages import SessionStatus
from domain.ballots import BallotSessionKind
from domain.catalog import PolicySet, policy_sets
from domain.roster import CENTRAL_SCOPE, Actor, Ministry, Role
from domain.stages import Stage

CENTRAL_ROLES = (Role.CENTRAL_OFFICER, Role.CENTRAL_HEAD)
# Roles that read every nomination of their ministry.
MINISTRY_READERS = (Role.UNIT_STAFF, Role.COUNCIL_SECRETARY, Role.COUNCIL_CHAIR, Role.COUNCIL_MEMBER)
BLOC_READERS = (Role.BLOC_HEAD, Role.BLOC_REPRESENTATIVE)
# Who reads a session of each kind (in its scope), who organises it, who votes in it.
SESSION_READERS: dict[BallotSessionKind, tuple[Role, ...]] = {
    BallotSessionKind.COUNCIL: (Role.COUNCIL_SECRETARY, Role.COUNCIL_CHAIR, Role.COUNCIL_MEMBER),
    BallotSessionKind.BLOC: (Role.BLOC_HEAD, Role.BLOC_REPRESENTATIVE),
}
SESSION_ORGANISERS: dict[BallotSessionKind, tuple[Role, ...]] = {
    BallotSessionKind.COUNCIL: (Role.COUNCIL_SECRETARY, Role.COUNCIL_CHAIR),
    BallotSessionKind.BLOC: (Role.BLOC_HEAD,),
}
SESSION_VOTERS: dict[BallotSessionKind, Role] = {
    BallotSessionKind.COUNCIL: Role.COUNCIL_MEMBER,
    BallotSessionKind.BLOC: Role.BLOC_REPRESENTATIVE,
}
_WORKFLOW_ID = re.compile(r"^nomination-\d{4}-(?P<ministry>[A-Z][A-Z0-9_]{1,23})-.+$")


class ReadScope(BaseModel):
    """What one person may read, derived from their grants (read_scope). Empty for an unknown actor."""

    model_config = ConfigDict(frozen=True)
    actor_id: str
    on_roster: bool = False
    everything: bool = False  # the central board
    ministries: frozenset[str] = frozenset()  # every nomination of these ministries
    blocs: frozenset[str] = frozenset()  # the bloc candidates of these blocs
    # Ministries the roster places in `blocs`: the bloc of a nomination that recorded none.
    bloc_ministries: frozenset[str] = frozenset()
    grants: frozenset[tuple[Role, str]] = frozenset()

    @property
    def reads_nothing(self) -> bool:
        return not (self.everything or self.ministries or self.blocs)

    def holds(self, roles: Iterable[Role], scope: str) -> bool:
        return any((role, scope) in self.grants for role in roles)


def read_scope(actor_id: str, actor: Actor | None, ministries: Iterable[Ministry] = ()) -> ReadScope:
    """The reader's scope from their roster entry (None: not on the roster) and the roster's ministries (for
    which ministries belong to a bloc)."""
    if actor is None:
        return ReadScope(actor_id=actor_id)
    grants = frozenset((g.role, g.scope) for g in actor.roles)
    blocs = frozenset(scope for role, scope in grants if role in BLOC_READERS)
    return ReadScope(
        actor_id=actor_id,
        on_roster=True,
        everything=any(role in CENTRAL_ROLES and scope == CENTRAL_SCOPE for role, scope in grants),
        ministries=frozenset(scope for role, scope in grants if role in MINISTRY_READERS),
        blocs=blocs,
        bloc_ministries=frozenset(m.code for m in ministries if m.bloc is not None and m.bloc in blocs),
        grants=grants,
    )


def nothing_readable_error(scope: ReadScope) -> str | None:
    """Why this person may read nothing at all (a refusal, not an empty answer), or None when they may read
    something."""
    if not scope.on_roster:
        return f"actor {scope.actor_id!r} is not on the roster: they may read nothing"
    if scope.reads_nothing:
        return f"actor {scope.actor_id!r} holds no role on the roster that lets them read nominations"
    return None


def bloc_vote_forms(policy: PolicySet | None = None) -> frozenset[str]:
    """Award forms whose route goes through the bloc vote: in `policy`, or in any policy version (for a list
    that cannot tell each nomination's version)."""
    policies = [policy] if policy is not None else list(policy_sets().values())
    return frozenset(code for p in policies for code, form in p.award_forms.items() if Stage.BLOC_VOTE in form.route)


def may_read_nomination(
    scope: ReadScope,
    ministry: str,
    bloc: str | None,
    award_form: str,
    policy: PolicySet | None = None,
    origin_bloc: str | None = None,
) -> bool:
    """Whether the reader may read a nomination of this ministry, bloc (as the nomination recorded it; None
    when it recorded none) and award form, carried by `policy` (None: unknown, any version's route counts);
    `origin_bloc`: the bloc whose own proposal it is (None: a unit's proposal)."""
    if scope.everything or ministry in scope.ministries:
        return True
    if not scope.blocs:
        return False
    if origin_bloc is not None and origin_bloc in scope.blocs:
        return True  # the bloc's own proposal: its route begins at the bloc's vote whatever the form
    in_bloc = bloc in scope.blocs if bloc is not None else ministry in scope.bloc_ministries
    return in_bloc and award_form in bloc_vote_forms(policy)


def reads_whole_ministry(scope: ReadScope, ministry: str) -> bool:
    """Whether the reader may read every nomination of this ministry (so telling them that a nomination of it
    does not exist reveals nothing they may not know)."""
    return scope.everything or ministry in scope.ministries


def ministry_in_workflow_id(workflow_id: str) -> str | None:
    """The ministry a nomination's workflow id names (`nomination-<year>-<ministry>-<reference>`), or None."""
    found = _WORKFLOW_ID.match(workflow_id)
    return found.group("ministry") if found else None


def nomination_refusal(scope: ReadScope, workflow_id: str) -> str:
    """The words of a refusal to read one nomination: the same whether or not it exists."""
    return f"actor {scope.actor_id!r} may not read nomination {workflow_id}"


def may_read_session(
    scope: ReadScope, kind: BallotSessionKind, session_scope: str, electorate: Iterable[str] = ()
) -> bool:
    """A council session of M: M's council secretary, chair and members; a bloc session of B: B's head and
    representatives; the central board: every session. Also anyone in the session's `electorate` (when the
    caller knows it: the voters it snapshotted when its list closed), whom it still asks for a ballot even
    after a roster load has changed their roles."""
    return scope.everything or scope.holds(SESSION_READERS[kind], session_scope) or scope.actor_id in set(electorate)


def session_refusal(scope: ReadScope, session_id: str) -> str:
    return f"actor {scope.actor_id!r} may not read ballot session {session_id}"


_BLOC_YEAR_ID = re.compile(r"^bloc-year-(?P<bloc>[A-Z][A-Z0-9_]{1,23})-(?P<year>\d{4})$")


def bloc_in_bloc_year_id(bloc_year_id: str) -> str | None:
    """The bloc a bloc year's id names (`bloc-year-<bloc>-<year>`, domain.bloc.year.bloc_year_id), or None."""
    found = _BLOC_YEAR_ID.match(bloc_year_id)
    return found.group("bloc") if found else None


def may_read_bloc_year(scope: ReadScope, bloc: str) -> bool:
    """A bloc year of B: B's head and representatives, and the central board."""
    return scope.everything or scope.holds(BLOC_READERS, bloc)


def bloc_year_refusal(scope: ReadScope, bloc_year_id: str) -> str:
    """The words of a refusal to read a bloc year: the same whether or not it exists."""
    return (
        f"actor {scope.actor_id!r} may not read bloc year {bloc_year_id} (its bloc's head and representatives "
        "and the central board read it)"
    )


class ParticipationView(StrEnum):
    FULL = "FULL"  # the organisers: who voted and who has not
    SELF = "SELF"  # a voter: whether they themselves have voted
    COUNTS = "COUNTS"  # any other reader: how many voted, of how many


def participation_view(
    scope: ReadScope, kind: BallotSessionKind, session_scope: str, electorate: Iterable[str] = ()
) -> ParticipationView:
    if scope.holds(SESSION_ORGANISERS[kind], session_scope):
        return ParticipationView.FULL
    if scope.holds((SESSION_VOTERS[kind],), session_scope) or scope.actor_id in set(electorate):
        return ParticipationView.SELF
    return ParticipationView.COUNTS


def sees_voter_list(scope: ReadScope, kind: BallotSessionKind, session_scope: str) -> bool:
    """Whether the reader sees who voted in the session (its organisers only)."""
    return participation_view(scope, kind, session_scope) == ParticipationView.FULL


class SessionView(SessionStatus):
    """A session's status as one reader may see it: `voted` holds every voter for its organisers, only the
    reader for a voter who has voted, nobody for anyone else; `voted_count` is always the number who voted."""

    voted_count: int
    participation: ParticipationView
    you_voted: bool | None = None  # a voter's own entry (SELF); None for everyone else


def session_view(status: SessionStatus, scope: ReadScope) -> SessionView:
    """The status redacted for this reader (who must be allowed to read the session at all)."""
    view = participation_view(scope, status.kind, status.scope)
    voted = list(status.voted)
    you_voted = None
    if view == ParticipationView.SELF:
        you_voted = scope.actor_id in voted
        voted = [scope.actor_id] if you_voted else []
    elif view == ParticipationView.COUNTS:
        voted = []
    redacted = {"voted": voted, "voted_count": len(status.voted), "participation": view, "you_voted": you_voted}
    return SessionView.model_validate(status.model_dump() | redacted)
