"""The counting committee (Ban kiểm phiếu) of a ballot session, and the voters' conflict classes.

The committee holds the session's key in shares: named when the session opens, from the voting members of
the session's body (the council's members less its secretaries, who record; the bloc's representatives).
Any `threshold` of its `size` members open the count together.

A conflict class groups the voters who must recuse on the same candidates. Each class has a credential key of
its own, so the count learns which candidates a ballot must leave out (sealed RECUSE) without learning who
cast it: the class rides sealed inside the ballot. Class ids have a fixed length (`k` + two digits), so a
sealed class reveals nothing by its size either.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from domain.ballots import RECORDER_ROLE, VOTER_ROLE, BallotSessionKind, Candidate, ConflictRule, Electorate, conflicted
from domain.catalog import CountingCommitteePolicy
from domain.roster import RosterSnapshot

COMMITTEE_FIELD = "committee"
NO_EXCLUSION_CLASS = "k00"
MAX_CLASSES = 100  # k00..k99


def class_id(number: int) -> str:
    if not 0 <= number < MAX_CLASSES:
        raise ValueError(f"class number {number} is outside k00..k99")
    return f"k{number:02d}"


def conflict_classes(
    electorate: Electorate, candidates: Sequence[Candidate], rule: ConflictRule
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """(class id -> the candidates its holders recuse on, sorted; voter id -> class id).

    `k00` is the class without exclusions and is always present (so its key exists whoever votes); the
    others are numbered k01, k02, ... in the sorted order of their excluded candidates. The same electorate,
    candidates and rule always give the same classes."""
    excluded_of = {
        v.id: tuple(sorted(c.workflow_id for c in candidates if conflicted(v, c, rule))) for v in electorate.voters
    }
    others = sorted({excluded for excluded in excluded_of.values() if excluded})
    if len(others) + 1 > MAX_CLASSES:
        raise ValueError(f"{len(others) + 1} conflict classes: at most {MAX_CLASSES} fit the class id (k00..k99)")
    number = {(): NO_EXCLUSION_CLASS} | {excluded: class_id(i) for i, excluded in enumerate(others, start=1)}
    classes = {class_id_: list(excluded) for excluded, class_id_ in number.items()}
    return classes, {voter: number[excluded] for voter, excluded in excluded_of.items()}


def body_voting_members(snapshot: RosterSnapshot, kind: BallotSessionKind, scope: str) -> list[str]:
    """The voting members of the session's body in roster order: the holders of the kind's voter role in
    scope, less those who record the session (a council's secretaries)."""
    recorder = RECORDER_ROLE.get(kind)
    return [a.id for a in snapshot.holders(VOTER_ROLE[kind], scope) if recorder is None or not a.holds(recorder, scope)]


def default_committee(snapshot: RosterSnapshot, kind: BallotSessionKind, scope: str, size: int) -> list[str]:
    """The policy's default committee: the first `size` voting members in roster order (fewer when the body
    has fewer; committee_errors then says so)."""
    return body_voting_members(snapshot, kind, scope)[:size]


def committee_errors(
    snapshot: RosterSnapshot,
    kind: BallotSessionKind,
    scope: str,
    committee: Sequence[str],
    policy: CountingCommitteePolicy,
) -> list[str]:
    """Why this committee cannot hold the session's key (each message names the field `committee`), or []:
    exactly the policy's `size` distinct members, each a voting member of the session's body."""
    errors: list[str] = []
    members = body_voting_members(snapshot, kind, scope)
    body = f"Hội đồng TĐKT {scope}" if kind == BallotSessionKind.COUNCIL else f"Khối thi đua {scope}"
    if policy.threshold > policy.size:
        errors.append(
            f"{COMMITTEE_FIELD}: số thành viên cần nộp mảnh khóa ({policy.threshold}) vượt quá số thành viên "
            f"Ban kiểm phiếu ({policy.size})"
        )
    twice = sorted({m for m in committee if list(committee).count(m) > 1})
    if twice:
        errors.append(f"{COMMITTEE_FIELD}: thành viên được nêu hơn một lần: " + ", ".join(repr(m) for m in twice))
    outsiders = [m for m in dict.fromkeys(committee) if m not in members]
    for member in outsiders:
        errors.append(
            f"{COMMITTEE_FIELD}: {member!r} không phải thành viên biểu quyết của {body}, không thể ở Ban kiểm phiếu"
        )
    distinct = len(set(committee))
    if distinct != policy.size:
        errors.append(
            f"{COMMITTEE_FIELD}: Ban kiểm phiếu cần đúng {policy.size} thành viên (bất kỳ {policy.threshold} "
            f"người mở phiếu), đã nêu {distinct}"
            + (f"; {body} có {len(members)} thành viên biểu quyết" if len(members) < policy.size else "")
        )
    return errors


def missing_key_errors(committee: Sequence[str], enrolled: Collection[str]) -> list[str]:
    """Members of the committee without an enrolled counting key, each named (field `committee`): their share
    could not be given to them, so the session cannot open with them."""
    return [
        f"{COMMITTEE_FIELD}: thành viên Ban kiểm phiếu {member!r} chưa đăng ký khóa kiểm phiếu "
        "(ballot enroll, hoặc trang Hộp thư)"
        for member in committee
        if member not in enrolled
    ]


def share_index(committee: Sequence[str], member: str) -> int | None:
    """The share index a member holds (1-based, in committee order), or None for a non-member."""
    return committee.index(member) + 1 if member in committee else None
