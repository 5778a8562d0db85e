"""Typed search attributes operators filter on in the Temporal UI and `temporal workflow list`."""

from temporalio.common import SearchAttributeKey

NOMINATION_STAGE = SearchAttributeKey.for_keyword("NominationStage")
MINISTRY = SearchAttributeKey.for_keyword("Ministry")
AWARD_FORM = SearchAttributeKey.for_keyword("AwardForm")
AWARD_YEAR = SearchAttributeKey.for_int("AwardYear")
BLOC = SearchAttributeKey.for_keyword("Bloc")
# The bloc whose own proposal (suy tôn) a nomination is; unset for a unit's proposal.
ORIGIN_BLOC = SearchAttributeKey.for_keyword("OriginBloc")
# When the current stage is due: `temporal workflow list --query 'StageDueAt < "2026-12-01T00:00:00Z"'`.
STAGE_DUE_AT = SearchAttributeKey.for_datetime("StageDueAt")
# Stuck work at a glance (domain/operator_view.py): `OnHold = true`, `Overdue = true`,
# `AwaitingRole = 'CENTRAL_OFFICER'`.
ON_HOLD = SearchAttributeKey.for_bool("OnHold")
OVERDUE = SearchAttributeKey.for_bool("Overdue")
AWAITING_ROLE = SearchAttributeKey.for_keyword("AwaitingRole")
# A bloc year's phase (domain/bloc/year.py): `BlocYearPhase = 'SELF_ASSESSMENT' AND Bloc = 'NOI_CHINH'`.
BLOC_YEAR_PHASE = SearchAttributeKey.for_keyword("BlocYearPhase")

ALL_KEYS = (
    NOMINATION_STAGE,
    MINISTRY,
    AWARD_FORM,
    AWARD_YEAR,
    BLOC,
    ORIGIN_BLOC,
    STAGE_DUE_AT,
    ON_HOLD,
    OVERDUE,
    AWAITING_ROLE,
    BLOC_YEAR_PHASE,
)
