"""What may interrupt a nomination's path: holds, objections during the public notice, consultation."""

from __future__ import annotations

import argparse

from cli.common import ACTOR_HELP, act, build_payload
from domain.messages import ReasonedAction


async def cmd_hold(args: argparse.Namespace) -> int:
    from domain.messages import HoldRequest
    from workflows.nomination import NominationWorkflow

    payload = build_payload(HoldRequest, actor=args.actor, ground=args.ground.upper(), reason=args.reason)
    return await act(args.workflow_id, NominationWorkflow.hold, payload)


async def cmd_release(args: argparse.Namespace) -> int:
    from workflows.nomination import NominationWorkflow

    payload = build_payload(ReasonedAction, actor=args.actor, reason=args.reason)
    return await act(args.workflow_id, NominationWorkflow.release, payload)


async def cmd_objection(args: argparse.Namespace) -> int:
    from domain.messages import ObjectionFiling, ObjectionResolution
    from workflows.nomination import NominationWorkflow

    if args.objection_command == "file":
        filing = build_payload(ObjectionFiling, filed_by=args.filed_by, contact=args.contact, reason=args.reason)
        return await act(args.workflow_id, NominationWorkflow.file_objection, filing)
    resolution = build_payload(
        ObjectionResolution,
        actor=args.actor,
        objection_id=args.objection_id,
        decision=args.decision.upper(),
        reason=args.reason,
    )
    return await act(args.workflow_id, NominationWorkflow.resolve_objection, resolution)


async def cmd_consult(args: argparse.Namespace) -> int:
    from domain.messages import ConsultationRequest
    from workflows.nomination import NominationWorkflow

    payload = build_payload(ConsultationRequest, actor=args.actor, agencies=args.agency, reason=args.reason)
    return await act(args.workflow_id, NominationWorkflow.request_consultation, payload)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("hold", help="tạm dừng xét hồ sơ (kỷ luật, điều tra, thanh tra, khiếu nại)")
    s.add_argument("workflow_id", help="mã hồ sơ (workflow id)")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.add_argument(
        "--ground",
        required=True,
        choices=["discipline", "investigation", "inspection", "complaint"],
        help="căn cứ: kỷ luật, điều tra, thanh tra, khiếu nại",
    )
    s.add_argument("--reason", required=True, help="lý do")
    s.set_defaults(run=cmd_hold)

    s = sub.add_parser("release", help="tiếp tục xét hồ sơ đang tạm dừng, từ chỗ đã dừng")
    s.add_argument("workflow_id", help="mã hồ sơ (workflow id)")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.add_argument("--reason", required=True, help="lý do")
    s.set_defaults(run=cmd_release)

    objection = sub.add_parser("objection", help="ý kiến phản ánh trong thời gian công khai")
    osub = objection.add_subparsers(dest="objection_command", required=True)
    s = osub.add_parser("file", help="người có danh tính rõ ràng gửi ý kiến phản ánh")
    s.add_argument("workflow_id", help="mã hồ sơ (workflow id)")
    s.add_argument("--filed-by", required=True, help="họ và tên")
    s.add_argument("--contact", required=True, help="điện thoại, thư điện tử hoặc địa chỉ")
    s.add_argument("--reason", required=True, help="lý do")
    s.set_defaults(run=cmd_objection)
    s = osub.add_parser("resolve", help="cơ quan thường trực giải quyết ý kiến phản ánh")
    s.add_argument("workflow_id", help="mã hồ sơ (workflow id)")
    s.add_argument("objection_id", type=int, help="số thứ tự ý kiến phản ánh")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.add_argument(
        "--decision",
        required=True,
        choices=["dismiss", "uphold_reject", "uphold_return"],
        help="dismiss: bác; uphold_reject: chấp nhận, không xét tiếp; uphold_return: chấp nhận, trả lại hồ sơ",
    )
    s.add_argument("--reason", required=True, help="lý do")
    s.set_defaults(run=cmd_objection)

    s = sub.add_parser(
        "consult", help="Ban Thi đua – Khen thưởng Trung ương lấy ý kiến cơ quan khác (kéo dài thời hạn thẩm định)"
    )
    s.add_argument("workflow_id", help="mã hồ sơ (workflow id)")
    s.add_argument("--actor", help=ACTOR_HELP)
    s.add_argument("--agency", action="append", required=True, help="cơ quan được lấy ý kiến; nhắc lại cho mỗi cơ quan")
    s.add_argument("--reason", required=True, help="lý do")
    s.set_defaults(run=cmd_consult)
