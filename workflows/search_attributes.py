"""Typed search attributes operators filter on in the Temporal UI and `temporal workflow list`."""

from temporalio.common import SearchAttributeKey

NOMINATION_STAGE = SearchAttributeKey.for_keyword("NominationStage")
MINISTRY = SearchAttributeKey.for_keyword("Ministry")
AWARD_FORM = SearchAttributeKey.for_keyword("AwardForm")
AWARD_YEAR = SearchAttributeKey.for_int("AwardYear")
BLOC = SearchAttributeKey.for_keyword("Bloc")

ALL_KEYS = (NOMINATION_STAGE, MINISTRY, AWARD_FORM, AWARD_YEAR, BLOC)
