"""A nomination (đề nghị khen thưởng) as the proposing unit submits it."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from domain import identity
from domain.catalog import DOCUMENT_LABELS_VI, DocumentKind, PolicySet
from domain.errors import FieldError, InvalidInput, field_errors_from

# Free text is NFC-normalised as it enters (domain/identity.py): a before-validator, listed last so it runs
# ahead of the constraints and a decomposed text is measured composed.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300), identity.NFC]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10000), identity.NFC]
Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Z][A-Z0-9_]{1,23}$")]
ActorId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")]
PersonalId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=identity.PERSONAL_ID_PATTERN)]
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
    # The person's identification number (CCCD), when the unit gives it: the client replaces it by its keyed
    # hash (personal_id_hmac) before anything starts, so the clear number is never stored nor sent on.
    personal_id: PersonalId | None = None
    personal_id_hmac: Annotated[str, StringConstraints(pattern=identity.HMAC_HEX_PATTERN)] | None = None

    @model_validator(mode="after")
    def _one_form_of_personal_id(self) -> IndividualNominee:
        if self.personal_id is not None and self.personal_id_hmac is not None:
            raise ValueError("personal_id and personal_id_hmac: give one, not both")
        return self

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
            raise ValueError("cần mã SHA-256 (content_sha256) hoặc số, ký hiệu văn bản (reference)")
        return self


class BlocOrigin(BaseModel):
    """A proposal the bloc makes itself at its year's honouring (suy tôn): the nomination's route begins at
    the bloc's vote (bloc → central board → the decision), proposed by the bloc head, for a member
    organisation; the bloc year that made it follows it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    bloc: Code
    year: int = Field(ge=2000, le=2100)
    bloc_year_id: str = Field(min_length=1, max_length=80)


class Nomination(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    reference: Reference
    year: int = Field(ge=2000, le=2100)
    ministry: Code
    proposing_unit: Text
    award_form: Code
    nominee: Nominee
    achievements: LongText
    dossier: list[DossierDocument] = Field(min_length=1, max_length=100)
    proposer: ActorId
    origin: BlocOrigin | None = None  # None: the unit's proposal, through its ministry's council

    @property
    def business_key(self) -> tuple[int, str, str]:
        return (self.year, self.ministry, self.reference)


def nominee_identity_key(nomination: Nomination) -> str:
    """Who the nomination is for (domain/identity.py): the same key for the same nominee, whatever the
    reference, spelling of case, spacing or Unicode form."""
    nominee = nomination.nominee
    if isinstance(nominee, IndividualNominee):
        return identity.identity_key(
            kind=nominee.kind,
            name=nominee.full_name,
            unit=nominee.unit,
            ministry=nomination.ministry,
            personal_id_hmac=nominee.personal_id_hmac,
        )
    return identity.identity_key(kind=nominee.kind, name=nominee.name, ministry=nomination.ministry)


def with_personal_id_protected(nomination: Nomination, key: bytes) -> Nomination:
    """The nomination with the nominee's clear identification number replaced by its keyed hash (unchanged
    when there is none): what the client sends and the engine keeps."""
    nominee = nomination.nominee
    if not isinstance(nominee, IndividualNominee) or nominee.personal_id is None:
        return nomination
    protected = nominee.model_copy(
        update={"personal_id": None, "personal_id_hmac": identity.personal_id_hmac(nominee.personal_id, key)}
    )
    return nomination.model_copy(update={"nominee": protected})


def award_year_error(year: int, policy: PolicySet, today: date) -> str | None:
    """Why an award year is impossible today, or None: no future year, and no further back than the
    policy's window (domain/data/policy-*.json, `award_year`)."""
    window = policy.award_year
    earliest = today.year - window.years_back
    if year > today.year:
        return f"{year} is in the future: the award year is at most {today.year}"
    if year < earliest:
        return (
            f"{year} is too far back: the policy ({policy.version}) accepts nominations for {earliest} to "
            f"{today.year} ({window.source})"
        )
    return None


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


def parse_nomination(raw: Any, policy: PolicySet, *, today: date | None) -> Nomination:
    """Validate raw input completely; raise InvalidInput naming every field at fault, structural, catalog
    and award-year errors together, so a user fixes a file in one pass. `today` (the date where the unit
    is, Vietnam) bounds the award year of a new nomination; None only for a corrected dossier of a nomination
    already started (its year was checked then and cannot change). A person's input never carries
    `personal_id_hmac`: the engine computes it from `personal_id`."""
    errors: list[FieldError] = []
    nominee = raw.get("nominee") if isinstance(raw, dict) else None
    if isinstance(nominee, dict) and "personal_id_hmac" in nominee:
        message = "set by the engine from personal_id; give the identification number as personal_id"
        errors.append(FieldError(field="nominee.personal_id_hmac", message=message))
    try:
        nomination = Nomination.model_validate(raw)
    except ValidationError as exc:
        errors += [e for e in field_errors_from(exc) if e.field not in {x.field for x in errors}]
        if isinstance(raw, dict):
            errors += [e for e in _raw_catalog_errors(raw, policy) if e.field not in {x.field for x in errors}]
            year = raw.get("year")
            if isinstance(year, str) and year.strip().isdigit():
                year = int(year)  # a spreadsheet's cell
            known = {x.field for x in errors}
            if today is not None and isinstance(year, int) and not isinstance(year, bool) and "year" not in known:
                problem = award_year_error(year, policy, today)
                if problem:
                    errors.append(FieldError(field="year", message=problem))
        raise InvalidInput(errors) from None
    errors += catalog_errors(nomination, policy)
    problem = award_year_error(nomination.year, policy, today) if today is not None else None
    if problem:
        errors.append(FieldError(field="year", message=problem))
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
