"""Who may act where: the roster of bodies and people, and the authorisation rule for each action."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from domain.identity import NFC
from domain.stages import Stage

CENTRAL_SCOPE = "TW"
# Names as the roster file gives them, NFC-normalised as they enter (domain/identity.py).
Name = Annotated[str, Field(min_length=1), NFC]


class Role(StrEnum):
    UNIT_STAFF = "UNIT_STAFF"  # scope: ministry
    COUNCIL_SECRETARY = "COUNCIL_SECRETARY"  # scope: ministry (Vụ TĐKT, the council's secretariat)
    COUNCIL_CHAIR = "COUNCIL_CHAIR"  # scope: ministry
    COUNCIL_MEMBER = "COUNCIL_MEMBER"  # scope: ministry
    BLOC_HEAD = "BLOC_HEAD"  # scope: bloc (the khối trưởng's representative)
    BLOC_REPRESENTATIVE = "BLOC_REPRESENTATIVE"  # scope: bloc; one per member organisation
    CENTRAL_OFFICER = "CENTRAL_OFFICER"  # scope: TW (Ban TĐKT Trung ương)
    CENTRAL_HEAD = "CENTRAL_HEAD"  # scope: TW; told when an appraisal is overdue


ROLE_LABELS_VI: dict[Role, str] = {
    Role.UNIT_STAFF: "cán bộ đơn vị đề xuất",
    Role.COUNCIL_SECRETARY: "thư ký Hội đồng TĐKT",
    Role.COUNCIL_CHAIR: "Chủ tịch Hội đồng TĐKT",
    Role.COUNCIL_MEMBER: "thành viên Hội đồng TĐKT",
    Role.BLOC_HEAD: "đại diện Khối trưởng",
    Role.BLOC_REPRESENTATIVE: "đại diện đơn vị thành viên Khối",
    Role.CENTRAL_OFFICER: "cán bộ Ban TĐKT Trung ương",
    Role.CENTRAL_HEAD: "Trưởng Ban TĐKT Trung ương",
}


class RoleGrant(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    role: Role
    scope: str = Field(min_length=1)


class Actor(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")
    full_name: Name
    email: EmailStr | None = None
    organisation: str = Field(min_length=1, description="ministry code the person belongs to, or TW")
    roles: tuple[RoleGrant, ...] = ()

    def holds(self, role: Role, scope: str) -> bool:
        return any(g.role == role and g.scope == scope for g in self.roles)


class Ministry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,23}$")
    name: Name
    bloc: str | None = None


class Bloc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,23}$")
    name: Name
    head_ministry: str


class Roster(BaseModel):
    """The seed file's shape (config/roster.json) and the database's content."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    blocs: tuple[Bloc, ...] = ()
    ministries: tuple[Ministry, ...]
    actors: tuple[Actor, ...]

    @model_validator(mode="after")
    def _references_resolve(self) -> Roster:
        blocs = {b.code for b in self.blocs}
        ministries = {m.code for m in self.ministries}
        for m in self.ministries:
            if m.bloc is not None and m.bloc not in blocs:
                raise ValueError(f"ministries[{m.code}].bloc: unknown bloc {m.bloc}")
        for b in self.blocs:
            if b.head_ministry not in ministries:
                raise ValueError(f"blocs[{b.code}].head_ministry: unknown ministry {b.head_ministry}")
        ids: set[str] = set()
        for a in self.actors:
            if a.id in ids:
                raise ValueError(f"actors[{a.id}]: duplicate id")
            ids.add(a.id)
            for g in a.roles:
                known = blocs if g.role in (Role.BLOC_HEAD, Role.BLOC_REPRESENTATIVE) else ministries
                if g.role in (Role.CENTRAL_OFFICER, Role.CENTRAL_HEAD):
                    known = {CENTRAL_SCOPE}
                if g.scope not in known:
                    raise ValueError(f"actors[{a.id}].roles: scope {g.scope} unknown for {g.role}")
        return self

    def snapshot_for(self, ministry_code: str) -> RosterSnapshot:
        """The part of the roster that can act on a nomination from this ministry."""
        ministry = next((m for m in self.ministries if m.code == ministry_code), None)
        if ministry is None:
            raise KeyError(f"ministry {ministry_code} is not in the roster")
        scopes = {ministry.code, CENTRAL_SCOPE} | ({ministry.bloc} if ministry.bloc else set())
        actors = tuple(a for a in self.actors if any(g.scope in scopes for g in a.roles))
        bloc = next((b for b in self.blocs if b.code == ministry.bloc), None)
        return RosterSnapshot(ministry=ministry, bloc=bloc, actors=actors)


class RosterSnapshot(BaseModel):
    """What a workflow holds to validate actors without I/O; reloaded when a stage begins."""

    model_config = ConfigDict(frozen=True)
    ministry: Ministry
    bloc: Bloc | None
    actors: tuple[Actor, ...]

    def actor(self, actor_id: str) -> Actor | None:
        return next((a for a in self.actors if a.id == actor_id), None)

    def holders(self, role: Role, scope: str) -> list[Actor]:
        return [a for a in self.actors if a.holds(role, scope)]


class Action(StrEnum):
    PROPOSE = "PROPOSE"  # start a nomination: the unit's own staff, for their ministry
    RECORD_COUNCIL_RESULT = "RECORD_COUNCIL_RESULT"
    RECORD_BLOC_RESULT = "RECORD_BLOC_RESULT"
    APPROVE = "APPROVE"
    REJECT = "REJECT"
    RETURN = "RETURN"
    RESUBMIT = "RESUBMIT"
    WITHDRAW = "WITHDRAW"
    HOLD = "HOLD"
    RELEASE = "RELEASE"
    RESOLVE_OBJECTION = "RESOLVE_OBJECTION"
    REQUEST_CONSULTATION = "REQUEST_CONSULTATION"
    RECORD_DECISION = "RECORD_DECISION"


# Who records a decision on the deciding authority's behalf: the ministry's secretariat for the minister
# (or the agency head), the central board for the Prime Minister and the President.
DECISION_CLERKS = {
    "MINISTER": Role.COUNCIL_SECRETARY,
    "AGENCY_HEAD": Role.COUNCIL_SECRETARY,
    "PRIME_MINISTER": Role.CENTRAL_OFFICER,
    "PRESIDENT": Role.CENTRAL_OFFICER,
}


def required_grants(
    action: Action, stage: Stage, snapshot: RosterSnapshot, decided_by: str | None = None
) -> list[RoleGrant]:
    """The roles (any one of them, with its scope) an action needs in a stage; empty when the action has no
    place there."""
    ministry = snapshot.ministry.code
    bloc = snapshot.bloc.code if snapshot.bloc else None
    secretary = RoleGrant(role=Role.COUNCIL_SECRETARY, scope=ministry)
    central = RoleGrant(role=Role.CENTRAL_OFFICER, scope=CENTRAL_SCOPE)
    holder_of_stage: dict[Stage, RoleGrant] = {
        Stage.PUBLIC_NOTICE: secretary,
        Stage.COUNCIL_REVIEW: secretary,
        Stage.CENTRAL_REVIEW: central,
    }
    if bloc:
        holder_of_stage[Stage.BLOC_VOTE] = RoleGrant(role=Role.BLOC_HEAD, scope=bloc)
    match action:
        case Action.PROPOSE if stage == Stage.PROPOSED:
            # The roster records no unit inside a ministry, so any of its unit staff may propose for any unit.
            return [RoleGrant(role=Role.UNIT_STAFF, scope=ministry)]
        case Action.WITHDRAW | Action.RESUBMIT:
            return [RoleGrant(role=Role.UNIT_STAFF, scope=ministry)]
        case Action.HOLD | Action.RELEASE:
            # Discipline, investigation or a complaint may reach the secretariat or the central board.
            return [secretary, central]
        case Action.RECORD_COUNCIL_RESULT if stage == Stage.COUNCIL_REVIEW:
            return [secretary]
        case Action.RECORD_BLOC_RESULT if stage == Stage.BLOC_VOTE and bloc:
            return [holder_of_stage[stage]]
        case Action.APPROVE | Action.REJECT | Action.REQUEST_CONSULTATION if stage == Stage.CENTRAL_REVIEW:
            return [central]
        case Action.RESOLVE_OBJECTION if stage == Stage.PUBLIC_NOTICE:
            return [secretary]
        case Action.RETURN if stage in holder_of_stage:
            return [holder_of_stage[stage]]
        case Action.RECORD_DECISION if stage == Stage.AWAITING_DECISION and decided_by in DECISION_CLERKS:
            role = DECISION_CLERKS[str(decided_by)]
            return [secretary if role == Role.COUNCIL_SECRETARY else central]
    return []


def authorisation_error(
    snapshot: RosterSnapshot, actor_id: str, action: Action, stage: Stage, decided_by: str | None = None
) -> str | None:
    """Why this actor may not take this action now, or None when they may."""
    actor = snapshot.actor(actor_id)
    grants = required_grants(action, stage, snapshot, decided_by)
    needed = " or ".join(f"{g.role.value} for {g.scope} ({ROLE_LABELS_VI[g.role]})" for g in grants)
    if actor is None:
        problem = f"actor {actor_id!r} is unknown or has no role on nominations of {snapshot.ministry.code}"
        return f"{problem}; {action.value} needs role {needed}" if grants else problem
    if not grants:
        return f"{action.value} is not possible in stage {stage.value} ({stage.label_vi})"
    if not any(actor.holds(g.role, g.scope) for g in grants):
        return f"actor {actor_id!r} may not {action.value} in {stage.value}: needs role {needed}"
    return None


def proposal_error(snapshot: RosterSnapshot, proposer: str) -> str | None:
    """Why this actor may not propose (start) a nomination of the snapshot's ministry, or None when they may:
    the ministry's unit staff propose; no one else (council, bloc, central board, someone off the roster)."""
    problem = authorisation_error(snapshot, proposer, Action.PROPOSE, Stage.PROPOSED)
    if problem is None:
        return None
    return f"proposing a nomination of {snapshot.ministry.code} ({snapshot.ministry.name}): {problem}"
