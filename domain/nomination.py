"""A nomination (đề nghị khen thưởng) as the proposing unit submits it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from domain.catalog import DOCUMENT_LABELS_VI, DocumentKind, PolicySet
from domain.errors import FieldError, InvalidInput, field_errors_from

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Z][A-Z0-9_]{1,23}$")]
ActorId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]
# A unit's own reference number, e.g. "125/TTr-BTP": letters, digits and / . - _ only.
Reference = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9A-Za-z][0-9A-Za-z/._-]{0,47}$")]


class IndividualNominee(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["INDIVIDUAL"]
    full_name: Text
    position: Text
    unit: Text
    # The nominee's roster id when they may also act (e.g. vote): they never vote on themselves.
    actor_id: ActorId | None = None

    @property
    def display_name(self) -> str:
        return self.full_name


class CollectiveNominee(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["COLLECTIVE"]
    name: Text

    @property
    def display_name(self) -> str:
        return self.name


Nominee = Annotated[IndividualNominee | CollectiveNominee, Field(discriminator="kind")]


class DossierDocument(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: DocumentKind
    title: Text
    content_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    reference: Text | None = None

    @model_validator(mode="after")
    def _identified(self) -> DossierDocument:
        if self.content_sha256 is None and self.reference is None:
            raise ValueError("a document needs content_sha256 or reference")
        return self


class Nomination(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    reference: Reference
    year: int = Field(ge=2000, le=2100)
    ministry: Code
    proposing_unit: Text
    award_form: Code
    nominee: Nominee
    achievements: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10000)]
    dossier: list[DossierDocument] = Field(min_length=1, max_length=100)
    proposer: ActorId

    @property
    def business_key(self) -> tuple[int, str, str]:
        return (self.year, self.ministry, self.reference)


def workflow_id_for(nomination: Nomination) -> str:
    """`nomination-<year>-<ministry>-<reference>`: the number staff already use finds the workflow.

    The reference is kept verbatim (its characters are restricted to letters, digits and / . - _), so two
    different business keys never share a workflow id."""
    return f"nomination-{nomination.year}-{nomination.ministry}-{nomination.reference}"


def catalog_errors(nomination: Nomination, policy: PolicySet) -> list[FieldError]:
    """What the award catalog says is wrong with this nomination (form, subject, dossier)."""
    return _catalog_errors(
        nomination.award_form, nomination.nominee.kind, {doc.kind.value for doc in nomination.dossier}, policy
    )


def _catalog_errors(
    award_form: object, nominee_kind: object, document_kinds: set[str], policy: PolicySet
) -> list[FieldError]:
    if not isinstance(award_form, str):
        return []  # the structural check names this field already
    form = policy.award_forms.get(award_form)
    if form is None:
        return [FieldError(field="award_form", message=f"unknown award form; known: {sorted(policy.award_forms)}")]
    if not form.accepts_nominations:
        return [FieldError(field="award_form", message=f"{form.name_vi} is decided by the unit itself")]
    errors = []
    kind = nominee_kind
    if form.subject != "EITHER" and kind in ("INDIVIDUAL", "COLLECTIVE") and form.subject != kind:
        errors.append(
            FieldError(field="nominee.kind", message=f"{form.name_vi} is for a {form.subject.lower()}, not {kind}")
        )
    missing = [k for k in form.required_documents if k.value not in document_kinds]
    if missing:
        names = ", ".join(f"{k.value} ({DOCUMENT_LABELS_VI[k]})" for k in missing)
        errors.append(FieldError(field="dossier", message=f"missing required documents: {names}"))
    return errors


def parse_nomination(raw: Any, policy: PolicySet) -> Nomination:
    """Validate raw input completely; raise InvalidInput naming every field at fault, structural and
    catalog errors together, so a user fixes a file in one pass."""
    try:
        nomination = Nomination.model_validate(raw)
    except ValidationError as exc:
        errors = field_errors_from(exc)
        if isinstance(raw, dict):
            errors += [e for e in _raw_catalog_errors(raw, policy) if e.field not in {x.field for x in errors}]
        raise InvalidInput(errors) from None
    errors = catalog_errors(nomination, policy)
    if errors:
        raise InvalidInput(errors)
    return nomination


def _raw_catalog_errors(raw: dict[str, Any], policy: PolicySet) -> list[FieldError]:
    nominee = raw.get("nominee")
    dossier = raw.get("dossier")
    kinds = (
        {str(d["kind"]) for d in dossier if isinstance(d, dict) and isinstance(d.get("kind"), str)}
        if isinstance(dossier, list)
        else set()
    )
    return _catalog_errors(
        raw.get("award_form"), nominee.get("kind") if isinstance(nominee, dict) else None, kinds, policy
    )
