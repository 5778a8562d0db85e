"""Who leads the bloc each year and the rotating flag (Cờ luân lưu).

The head (Khối trưởng) rotates yearly along the bloc's order (domain/data/bloc-rotation-<bloc>.json); the
deputy (Khối phó) is the member next in the order, who heads the bloc the year after. When the review
conference elects someone off the order, the rotation continues from the elected head.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.bloc.policy import BlocRotation
from domain.errors import FieldError


class BlocLeadership(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    bloc: str
    year: int = Field(ge=2000, le=2100)
    head: str
    deputy: str

    @model_validator(mode="after")
    def _two_members(self) -> BlocLeadership:
        if self.head == self.deputy:
            raise ValueError("Khối trưởng và Khối phó phải là hai đơn vị khác nhau")
        return self


class FlagHandover(BaseModel):
    """The record of the rotating flag passing from the outgoing head to the head of `year`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    bloc: str
    year: int = Field(ge=2000, le=2100)
    from_member: str
    to_member: str

    @model_validator(mode="after")
    def _moves(self) -> FlagHandover:
        if self.from_member == self.to_member:
            raise ValueError("Cờ luân lưu chuyển sang một đơn vị khác đơn vị đang giữ")
        return self


def _after(order: Sequence[str], member: str, steps: int = 1) -> str:
    return order[(order.index(member) + steps) % len(order)]


def leadership_for(rotation: BlocRotation, year: int) -> BlocLeadership:
    """The head and deputy the rotation order gives for a year (any year, before or after its anchor)."""
    head = _after(rotation.order, rotation.anchor_head, year - rotation.anchor_year)
    return BlocLeadership(bloc=rotation.bloc, year=year, head=head, deputy=_after(rotation.order, head))


def next_leadership(rotation: BlocRotation, current: BlocLeadership) -> BlocLeadership:
    """Next year's head and deputy by rotation, continuing from this year's head (elected or rotated)."""
    if current.bloc != rotation.bloc:
        raise ValueError(f"leadership of bloc {current.bloc}, rotation of {rotation.bloc}")
    if current.head not in rotation.order:
        raise ValueError(f"{current.head} is not in the rotation order of {rotation.bloc}")
    head = _after(rotation.order, current.head)
    return BlocLeadership(bloc=rotation.bloc, year=current.year + 1, head=head, deputy=_after(rotation.order, head))


def elected_leadership_errors(rotation: BlocRotation, year: int, head: str, deputy: str) -> list[FieldError]:
    """What is wrong with a head and deputy the conference elected by ballot, each naming its field."""
    errors = [
        FieldError(field=field, message=f"đơn vị {member} không phải thành viên Khối")
        for field, member in (("head", head), ("deputy", deputy))
        if member not in rotation.order
    ]
    if head == deputy:
        errors.append(FieldError(field="deputy", message="Khối trưởng và Khối phó phải là hai đơn vị khác nhau"))
    return errors


def reanchored(rotation: BlocRotation, leadership: BlocLeadership) -> BlocRotation:
    """The rotation anchored on an elected head, so later years follow the order from them."""
    if leadership.head not in rotation.order:
        raise ValueError(f"{leadership.head} is not in the rotation order of {rotation.bloc}")
    return rotation.model_copy(update={"anchor_year": leadership.year, "anchor_head": leadership.head})


def flag_handover(outgoing: BlocLeadership, incoming: BlocLeadership) -> FlagHandover:
    """The Cờ luân lưu passing from this year's head to next year's: the bloc keeps the record."""
    if outgoing.bloc != incoming.bloc:
        raise ValueError(f"the flag stays within a bloc: {outgoing.bloc} → {incoming.bloc}")
    if incoming.year != outgoing.year + 1:
        raise ValueError(f"the flag passes to the next year's head: {outgoing.year} → {incoming.year}")
    return FlagHandover(bloc=incoming.bloc, year=incoming.year, from_member=outgoing.head, to_member=incoming.head)
