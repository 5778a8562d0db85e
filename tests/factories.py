"""Fictional nominations for tests: every name and number here is invented."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from domain.calendar import VIETNAM_TZ
from domain.catalog import policy_set
from domain.nomination import Nomination, workflow_id_for
from domain.notices import draft_notifications
from domain.records import NominationRow, StageEventRow, TransitionRecord
from domain.roster import Roster, RosterSnapshot
from domain.stages import Stage

POLICY_VERSION = "2025.07"


def current_year() -> int:
    """The award year a new nomination may name today (Vietnam's date): the policy refuses future years."""
    return datetime.now(VIETNAM_TZ).year


_DOC_TITLES = {
    "TO_TRINH": "Tờ trình đề nghị khen thưởng",
    "BAO_CAO_THANH_TICH": "Báo cáo thành tích năm 2026",
    "BIEN_BAN_BINH_XET": "Biên bản bình xét thi đua",
    "BIEN_BAN_XET_KHEN_THUONG": "Biên bản họp xét khen thưởng",
    "XAC_NHAN_SANG_KIEN": "Giấy xác nhận sáng kiến cấp bộ",
}


def nomination_data(award_form: str = "BANG_KHEN_BO", **overrides: Any) -> dict[str, Any]:
    """A valid nomination of BTP for this year, proposed by BTP's unit staff. Each reference names another
    nominee (the unit or the collective carries a tag of it): one person is nominated once per form and year."""
    form = policy_set(POLICY_VERSION).form(award_form)
    # The nominee follows the reference: the same reference twice (a corrected dossier) names the same nominee.
    reference = overrides.get("reference") or f"{uuid.uuid4().hex[:8]}/TTr-BTP"
    tag = hashlib.sha256(str(reference).encode()).hexdigest()[:8]
    if form.subject == "COLLECTIVE":
        nominee: dict[str, Any] = {"kind": "COLLECTIVE", "name": f"Phòng Phổ biến giáo dục pháp luật {tag}"}
    else:
        nominee = {
            "kind": "INDIVIDUAL",
            "full_name": "Nguyễn Thị Ánh Tuyết",
            "position": "Chuyên viên chính",
            "unit": f"Vụ Pháp luật hình sự – hành chính, tổ {tag}",
        }
    data: dict[str, Any] = {
        "reference": reference,
        "year": current_year(),
        "ministry": "BTP",
        "proposing_unit": "Vụ Pháp luật hình sự – hành chính",
        "award_form": award_form,
        "nominee": nominee,
        "achievements": "Hoàn thành xuất sắc nhiệm vụ năm 2026; chủ trì xây dựng hai dự thảo nghị định.",
        "dossier": [
            {"kind": kind.value, "title": _DOC_TITLES[kind.value], "reference": f"HS-{i + 1}"}
            for i, kind in enumerate(form.required_documents)
        ],
        "proposer": "btp.vutckt.le-thi-hoa",
    }
    data.update(overrides)
    return data


# ---- transition records, as the nomination workflow hands them to record_transition ------------------------

ROSTER = Roster.model_validate(
    json.loads((Path(__file__).resolve().parents[1] / "config" / "roster.json").read_text(encoding="utf-8"))
)


def transition_record(
    nomination: Nomination,
    *,
    seq: int,
    from_stage: Stage | None,
    to_stage: Stage,
    workflow_id: str | None = None,
    snapshot: RosterSnapshot | None = None,
) -> TransitionRecord:
    """A record as the workflow builds it, with the notifications domain.notices drafts for it."""
    snapshot = snapshot or ROSTER.snapshot_for(nomination.ministry)
    workflow_id = workflow_id or workflow_id_for(nomination)
    return TransitionRecord(
        nomination=NominationRow(
            workflow_id=workflow_id,
            nomination=nomination,
            bloc=snapshot.bloc.code if snapshot.bloc else None,
            policy_version=POLICY_VERSION,
            stage=to_stage,
            returned_from=None,
        ),
        event=StageEventRow(
            seq=seq,
            action=f"TEST_STEP_{seq}",
            actor="btp.hd.thu-ky",
            from_stage=from_stage,
            to_stage=to_stage,
            reason="Đủ điều kiện theo quy chế",
            tally={"members": 9, "present": 8, "votes_for": 7, "votes_against": 1},
            details={"minutes_ref": f"BB-{seq:02d}", "ghi_chú": "Họp trực tiếp"},
            occurred_at=datetime(2026, 3, 2, 9, 30, tzinfo=VIETNAM_TZ) + timedelta(hours=seq),
        ),
        notifications=draft_notifications(
            workflow_id=workflow_id,
            nominee_name=nomination.nominee.display_name,
            award_name_vi="Bằng khen của Bộ trưởng",
            from_stage=from_stage,
            to_stage=to_stage,
            outcome_vi="Hội đồng đồng ý đề nghị khen thưởng",
            proposer=nomination.proposer,
            snapshot=snapshot,
        ),
    )


def new_nomination(**overrides: Any) -> Nomination:
    return Nomination.model_validate(nomination_data(**overrides))
