"""What a document names: bodies, people and award forms by their Vietnamese names, given by the caller (the
client reads them from the roster); a code nobody named is printed as the code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.catalog import policy_set, policy_sets


@dataclass(frozen=True)
class Names:
    ministries: Mapping[str, str] = field(default_factory=dict)  # code → "Bộ Tư pháp"
    blocs: Mapping[str, str] = field(default_factory=dict)  # code → "Khối Thi đua các bộ, ngành ..."
    people: Mapping[str, str] = field(default_factory=dict)  # actor id → full name

    def ministry(self, code: str) -> str:
        return self.ministries.get(code, code)

    def bloc(self, code: str) -> str:
        return self.blocs.get(code, code)

    def person(self, actor_id: str) -> str:
        return self.people.get(actor_id, actor_id)


def award_form_vi(code: str, policy_version: str | None = None) -> str:
    """The award form's name in the given policy version, else in the newest version that has it."""
    if policy_version is not None and policy_version in policy_sets():
        forms = policy_set(policy_version).award_forms
        if code in forms:
            return forms[code].name_vi
    for version in sorted(policy_sets(), reverse=True):
        forms = policy_sets()[version].award_forms
        if code in forms:
            return forms[code].name_vi
    return code
