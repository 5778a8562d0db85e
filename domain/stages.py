"""The stages a nomination passes through, with the Vietnamese labels staff know."""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    PROPOSED = "PROPOSED"
    PUBLIC_NOTICE = "PUBLIC_NOTICE"
    COUNCIL_REVIEW = "COUNCIL_REVIEW"
    BLOC_VOTE = "BLOC_VOTE"
    CENTRAL_REVIEW = "CENTRAL_REVIEW"
    AWAITING_DECISION = "AWAITING_DECISION"
    RETURNED = "RETURNED"
    AWARDED = "AWARDED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"
    LAPSED = "LAPSED"
    # Not taken up at all: the start itself was refused (a proposer without the role, an unknown ministry, an
    # impossible award year, a nominee already proposed for this form and year). The reason is in the status.
    REFUSED = "REFUSED"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STAGES

    @property
    def label_vi(self) -> str:
        return STAGE_LABELS_VI[self]

    @property
    def status_vi(self) -> str:
        """The status name of the TĐKT software staff already use (domain.md, 'Statuses')."""
        return FAMILIAR_STATUS_VI[self]


FINAL_STAGES = frozenset({Stage.AWARDED, Stage.REJECTED, Stage.WITHDRAWN, Stage.LAPSED, Stage.REFUSED})

# Stages that may appear in an award form's route (the catalog orders them).
ROUTE_STAGES = (Stage.PUBLIC_NOTICE, Stage.COUNCIL_REVIEW, Stage.BLOC_VOTE, Stage.CENTRAL_REVIEW)

STAGE_LABELS_VI: dict[Stage, str] = {
    Stage.PROPOSED: "Đơn vị đề xuất",
    Stage.PUBLIC_NOTICE: "Công khai danh sách đề nghị",
    Stage.COUNCIL_REVIEW: "Hội đồng Thi đua – Khen thưởng xét",
    Stage.BLOC_VOTE: "Khối thi đua bình xét, suy tôn",
    Stage.CENTRAL_REVIEW: "Ban Thi đua – Khen thưởng Trung ương thẩm định",
    Stage.AWAITING_DECISION: "Chờ quyết định khen thưởng",
    Stage.RETURNED: "Trả lại hồ sơ để bổ sung",
    Stage.AWARDED: "Đã khen thưởng",
    Stage.REJECTED: "Không được khen thưởng",
    Stage.WITHDRAWN: "Đơn vị rút đề nghị",
    Stage.LAPSED: "Quá hạn bổ sung hồ sơ",
    Stage.REFUSED: "Không tiếp nhận đề nghị",
}

FAMILIAR_STATUS_VI: dict[Stage, str] = {
    Stage.PROPOSED: "Chờ duyệt",
    Stage.PUBLIC_NOTICE: "Đã tiếp nhận",
    Stage.COUNCIL_REVIEW: "Đã tiếp nhận",
    Stage.BLOC_VOTE: "Đã tiếp nhận",
    Stage.CENTRAL_REVIEW: "Chờ xét khen thưởng",
    Stage.AWAITING_DECISION: "Chờ xét khen thưởng",
    Stage.RETURNED: "Bị trả lại",
    Stage.AWARDED: "Đã khen thưởng",
    Stage.REJECTED: "Không khen thưởng",
    Stage.WITHDRAWN: "Đã rút",
    Stage.LAPSED: "Bị trả lại (quá hạn)",
    Stage.REFUSED: "Không tiếp nhận",
}
