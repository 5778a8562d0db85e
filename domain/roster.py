"""The roster: the bodies (ministries, blocs, the central board) and the people with a role in them.

Who may take which step of a nomination in which stage is the procedure's table (domain/procedure.py)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic.networks import validate_email

from domain.identity import NFC

CENTRAL_SCOPE = "TW"
# Names as the roster file gives them, NFC-normalised as they enter (domain/identity.py).
Name = Annotated[str, Field(min_length=1), NFC]


@lru_cache(maxsize=4096)
def _normalised_email(value: str) -> str:
    """pydantic's EmailStr check (email-validator) and its normalised form, once per address per process: a
    roster is deserialised at every step of every nomination, with the same few hundred addresses each time."""
    return validate_email(value)[1]


# As pydantic's EmailStr (the same check, message and schema), remembered per address.
Email = Annotated[str, AfterValidator(_normalised_email), WithJsonSchema({"type": "string", "format": "email"})]


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
    email: Email | None = None
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
