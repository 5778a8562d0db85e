"""The keyed audit chain checked against its anchors, without a database: the verifier fed rows as the database
returns them, the anchors' own rules, the audit keys' configuration and what verify-audit prints."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import os
import stat
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli.audit import report_lines
from client.audit_anchors import anchor_interval
from domain.audit_anchors import (
    GENESIS,
    MAX_REQUESTERS,
    Anchor,
    AnchorLog,
    AnchorReason,
    AnchorStart,
    AuditHead,
    anchor_stamp,
    record_head,
    thin,
    went_back,
)
from security.audit_keys import AuditKeyError, AuditKeyring, load_audit_keyring, parse_keys, rotate_key_file
from store.audit import (
    MIRRORED,
    AuditEntry,
    AuditReport,
    ChainVerifier,
    Channel,
    canonical,
    chain_hash,
    content_of,
    keyed_hash,
)
from store.tuning import TuningError

KEYRING = AuditKeyring(current_id="k1", keys={"k1": b"1" * 32})
ROTATED = AuditKeyring(current_id="k2", keys={"k1": b"1" * 32, "k2": b"2" * 32})
T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)

Row = dict[str, Any]


# ---- building chains the way append_audit writes them ---------------------------------------------------


def row_for(row_id: int, prev: str, keyring: AuditKeyring | None, key_id: str | None = None, seq: int = 1) -> Row:
    """One row; keyring None: a legacy sha256 row (key_id NULL)."""
    entry = AuditEntry(
        workflow_id=f"nomination-2026-BTP-{row_id}",
        seq=seq,
        action="TEST_STEP",
        actor="btp.hd.thu-ky",
        channel=Channel.CLI,
        outcome="Đủ điều kiện",
        details={"n": row_id},
    )
    recorded_at = T0 + timedelta(seconds=row_id)
    content = content_of(entry, recorded_at)
    key = None if keyring is None else key_id or keyring.current_id
    digest = chain_hash(prev, content) if keyring is None else keyed_hash(keyring, key or "", prev, content)
    return {
        "id": row_id,
        "recorded_at": recorded_at,
        **{column: content[column] for column in MIRRORED},
        "entry": content,
        "prev_hash": prev,
        "hash": digest,
        "key_id": key,
    }


def build(count: int, keyring: AuditKeyring | None = KEYRING, *, legacy: int = 0, first_id: int = 1) -> list[Row]:
    """`legacy` sha256 rows, then keyed ones, `count` in all, ids from `first_id` (consecutive)."""
    rows: list[Row] = []
    prev = GENESIS
    for index in range(count):
        row = row_for(first_id + index, prev, None if index < legacy else keyring)
        rows.append(row)
        prev = row["hash"]
    return rows


def rechain(rows: list[Row], start: int, keyring: AuditKeyring | None) -> None:
    """Recompute every hash from index `start` on, as an attacker would: with plain sha256 (keyring None, keeping
    whatever key_id the rows say) or with the key."""
    prev = rows[start - 1]["hash"] if start else GENESIS
    for row in rows[start:]:
        row["prev_hash"] = prev
        if keyring is None:
            row["hash"] = chain_hash(prev, row["entry"])
        else:
            row["hash"] = keyed_hash(keyring, row["key_id"], prev, row["entry"])
        prev = row["hash"]


def edit(row: Row, outcome: str = "Không đủ điều kiện") -> None:
    row["outcome"] = outcome
    row["entry"] = row["entry"] | {"outcome": outcome}


def anchor_at(rows: Sequence[Row], index: int, minutes: int = 0) -> Anchor:
    """The anchor the workflow would have taken with rows[:index + 1] committed."""
    head = rows[index]
    at = T0 + timedelta(minutes=minutes)
    return Anchor(
        last_id=head["id"],
        count=index + 1,
        hash=head["hash"],
        keyed=head["key_id"] is not None,
        anchored_at=at,
        confirmed_at=at,
        reason=AnchorReason.TIMER,
    )


def verify(
    rows: Sequence[Row], anchors: Sequence[Anchor] | None = None, keyring: AuditKeyring = KEYRING
) -> AuditReport:
    verifier = ChainVerifier(keyring, anchors)
    for row in rows:
        if verifier.feed(row) is not None:
            break
    return verifier.finish()


# ---- the keyed hash ------------------------------------------------------------------------------------------


def test_a_keyed_hash_is_an_hmac_that_depends_on_the_key() -> None:
    content = build(1)[0]["entry"]
    expected = hmac.new(b"1" * 32, GENESIS.encode() + canonical(content), hashlib.sha256).hexdigest()
    assert keyed_hash(KEYRING, "k1", GENESIS, content) == expected
    assert keyed_hash(ROTATED, "k2", GENESIS, content) != expected
    assert chain_hash(GENESIS, content) != expected  # the attacker's plain sha256 is another value
    with pytest.raises(KeyError):
        keyed_hash(KEYRING, "k9", GENESIS, content)


# ---- the verifier: the chain alone ------------------------------------------------------------------------


def test_an_intact_keyed_chain_verifies() -> None:
    rows = build(5)
    report = verify(rows)
    assert (report.intact, report.checked, report.head_id, report.head_hash, report.legacy) == (
        True,
        5,
        5,
        rows[-1]["hash"],
        0,
    )
    assert report.anchors_checked is None  # not checked against anchors


def test_legacy_entries_are_accepted_as_the_prefix_before_the_keyed_ones() -> None:
    rows = build(5, legacy=2)
    report = verify(rows)
    assert (report.intact, report.checked, report.legacy) == (True, 5, 2)


def test_an_unkeyed_entry_after_keyed_ones_is_written_without_the_key() -> None:
    rows = build(5)
    rows[3]["key_id"] = None
    rechain(rows, 3, None)  # plain sha256 from there on, as if older than the key
    for row in rows[4:]:
        row["key_id"] = None
    report = verify(rows)
    assert report.broken is not None
    assert (report.broken.id, report.broken.check, report.broken.kind) == (4, "unkeyed", "recomputed")


def test_an_edit_in_place_is_a_changed_entry() -> None:
    rows = build(4)
    edit(rows[1])
    report = verify(rows)
    assert report.broken is not None
    assert (report.broken.id, report.broken.check, report.broken.kind, report.checked) == (2, "hash", "changed", 1)


def test_an_edit_recomputed_with_plain_sha256_is_caught_at_the_edited_entry() -> None:
    rows = build(6)
    edit(rows[2])
    rechain(rows, 2, None)  # the attacker without the key
    report = verify(rows)
    assert report.broken is not None
    assert (report.broken.id, report.broken.check, report.broken.kind) == (3, "recomputed", "recomputed")
    assert "plain sha256" in report.broken.detail


def test_an_edit_recomputed_with_a_guessed_key_is_a_changed_entry() -> None:
    rows = build(3)
    edit(rows[1])
    rechain(rows, 1, AuditKeyring(current_id="k1", keys={"k1": b"x" * 32}))
    report = verify(rows)
    assert report.broken is not None
    assert (report.broken.id, report.broken.check) == (2, "hash")


@pytest.mark.parametrize("stored", ["ü" * 64, "F" * 64, "0" * 63, ""])
def test_a_stored_hash_that_cannot_be_one_is_a_changed_entry(stored: str) -> None:
    rows = build(3)
    rows[1]["hash"] = stored
    report = verify(rows)
    assert report.broken is not None
    assert (report.broken.id, report.broken.check) == (2, "hash")


def test_an_entry_edited_into_what_the_canonical_form_refuses_is_a_changed_entry() -> None:
    rows = build(2)
    rows[0]["entry"] = rows[0]["entry"] | {"details": {"ratio": 0.5}}
    report = verify(rows)
    assert report.broken is not None
    assert (report.broken.id, report.broken.check) == (1, "hash")
    assert "floats are not allowed" in report.broken.detail


def test_a_deleted_middle_entry_breaks_the_next_link() -> None:
    rows = build(5)
    del rows[2]
    report = verify(rows)
    assert report.broken is not None
    assert (report.broken.id, report.broken.check, report.broken.kind) == (4, "prev_hash", "relinked")


def test_a_key_id_outside_the_keyring_cannot_be_vouched_for() -> None:
    rows = build(3)
    rows[1]["key_id"] = "k-forged"
    report = verify(rows)
    assert report.broken is not None
    assert (report.broken.id, report.broken.check) == (2, "unknown_key")
    assert "TDKT_AUDIT_KEYS" in report.broken.detail


def test_after_a_rotation_both_keys_verify_and_a_keyring_without_the_old_one_refuses() -> None:
    rows = build(2, KEYRING)
    rows += [row_for(3, rows[-1]["hash"], ROTATED)]
    assert rows[-1]["key_id"] == "k2"
    assert verify(rows, keyring=ROTATED).intact
    report = verify(rows, keyring=AuditKeyring(current_id="k2", keys={"k2": b"2" * 32}))
    assert report.broken is not None and report.broken.check == "unknown_key"


# ---- the verifier against the anchors ------------------------------------------------------------------------


def test_a_chain_that_agrees_with_every_anchor_is_intact() -> None:
    rows = build(6)
    anchors = [anchor_at(rows, 1), anchor_at(rows, 3, 1), anchor_at(rows, 5, 2)]
    report = verify(rows + build(0), anchors)
    assert (report.intact, report.anchors_checked, report.latest_anchor) == (True, 3, anchors[-1])


def test_cutting_off_the_last_entries_is_truncation_with_the_first_missing_id() -> None:
    rows = build(7)
    anchors = [anchor_at(rows, 2), anchor_at(rows, 6, 1)]
    report = verify(rows[:4], anchors)  # ids 5, 6 and 7 deleted
    assert report.broken is not None
    assert (report.broken.id, report.broken.workflow_id, report.broken.check, report.broken.kind) == (
        5,
        None,
        "truncated",
        "truncated",
    )
    assert "at least 3 entries from id 5 on are missing" in report.broken.detail
    assert (report.checked, report.anchors_checked) == (4, 1)


def test_deleting_every_entry_is_truncation_from_the_first_id() -> None:
    rows = build(3)
    report = verify([], [anchor_at(rows, 2)])
    assert report.broken is not None
    assert (report.broken.id, report.broken.check) == (1, "truncated")


def test_an_empty_chain_anchored_empty_is_intact() -> None:
    empty = Anchor(last_id=0, count=0, hash=GENESIS, anchored_at=T0, confirmed_at=T0, reason=AnchorReason.START)
    assert verify([], [empty]).intact


def test_a_rewrite_with_the_key_passes_alone_and_is_caught_by_the_anchor() -> None:
    rows = build(8)
    anchors = [anchor_at(rows, 1), anchor_at(rows, 5, 1)]
    edit(rows[3])
    rechain(rows, 3, KEYRING)  # the insider who holds the key
    assert verify(rows).intact  # the chain alone cannot tell
    report = verify(rows, anchors)
    assert report.broken is not None
    assert (report.broken.id, report.broken.check, report.broken.kind) == (6, "anchor", "recomputed")
    assert "entries after id 2 (the last anchored entry that agrees) were rewritten" in report.broken.detail


def test_deleting_an_anchored_entry_and_relinking_with_the_key_is_caught() -> None:
    rows = build(6)
    anchors = [anchor_at(rows, 3)]
    del rows[3]  # id 4, the anchored one
    rechain(rows, 3, KEYRING)
    report = verify(rows, anchors)
    assert report.broken is not None
    assert (report.broken.id, report.broken.workflow_id, report.broken.check) == (4, None, "anchor")
    assert "no longer exists" in report.broken.detail


def test_the_whole_chain_rewritten_unkeyed_is_caught_where_an_anchor_saw_a_keyed_entry() -> None:
    rows = build(5)
    anchors = [anchor_at(rows, 2)]
    for row in rows:
        row["key_id"] = None
    edit(rows[0])
    rechain(rows, 0, None)
    assert verify(rows).intact  # as legacy rows, alone, it would pass...
    report = verify(rows, anchors)  # ...but an anchor saw entry 3 keyed
    assert report.broken is not None
    assert (report.broken.id, report.broken.check) == (3, "unkeyed")


def test_a_reused_id_with_another_hash_disagrees_with_its_anchor() -> None:
    # SQLite can hand out a deleted id again: the anchor of the old entry at that id still disagrees.
    rows = build(4)
    anchors = [anchor_at(rows, 3)]
    rows[3] = row_for(4, rows[2]["hash"], KEYRING, seq=9)
    report = verify(rows, anchors)
    assert report.broken is not None
    assert (report.broken.id, report.broken.check) == (4, "anchor")


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=12), st.data())
def test_any_truncation_below_the_latest_anchor_is_reported_at_its_first_missing_id(length: int, data: Any) -> None:
    rows = build(length)
    kept = data.draw(st.integers(min_value=0, max_value=length - 1))
    report = verify(rows[:kept], [anchor_at(rows, length - 1)])
    assert report.broken is not None
    assert (report.broken.check, report.broken.id, report.checked) == ("truncated", kept + 1, kept)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=12), st.data())
def test_any_edit_before_the_latest_anchor_is_reported_whoever_recomputes(length: int, data: Any) -> None:
    rows = build(length)
    anchors = [anchor_at(rows, length - 1)]
    at = data.draw(st.integers(min_value=0, max_value=length - 1))
    how = data.draw(st.sampled_from(["in place", "sha256", "key"]))
    edit(rows[at])
    if how != "in place":
        rechain(rows, at, None if how == "sha256" else KEYRING)
    report = verify(rows, anchors)
    assert report.broken is not None
    # Without the key the edited entry itself is named; with it, the anchor that no longer agrees.
    expected = {"in place": (at + 1, "hash"), "sha256": (at + 1, "recomputed"), "key": (length, "anchor")}[how]
    assert (report.broken.id, report.broken.check) == expected


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=10), st.data())
def test_an_untouched_chain_agrees_with_anchors_taken_at_any_points(length: int, data: Any) -> None:
    rows = build(length, legacy=data.draw(st.integers(min_value=0, max_value=length)))
    points = data.draw(st.lists(st.integers(min_value=0, max_value=length - 1), max_size=5))
    anchors = [anchor_at(rows, p, minutes=i) for i, p in enumerate(sorted(points))]
    report = verify(rows, anchors)
    assert (report.intact, report.anchors_checked) == (True, len(anchors))


# ---- the anchors' own rules ----------------------------------------------------------------------------------


def head(last_id: int, count: int | None = None, digest: str = "a" * 64) -> AuditHead:
    return AuditHead(last_id=last_id, count=last_id if count is None else count, hash=digest, keyed=True)


def test_a_new_head_is_a_new_anchor_and_an_unchanged_one_is_confirmed() -> None:
    anchors = record_head([], head(3), T0, AnchorReason.START)
    assert [(a.last_id, a.count, a.reason, a.anchored_at) for a in anchors] == [(3, 3, AnchorReason.START, T0)]
    later = T0 + timedelta(minutes=1)
    anchors = record_head(anchors, head(3), later, AnchorReason.REQUESTED, ["decision-1/QĐ-TTg"])
    assert len(anchors) == 1
    assert (anchors[0].anchored_at, anchors[0].confirmed_at, anchors[0].requested_by) == (
        T0,
        later,
        ("decision-1/QĐ-TTg",),
    )
    anchors = record_head(anchors, head(4, digest="b" * 64), later, AnchorReason.TIMER)
    assert [a.last_id for a in anchors] == [3, 4]
    # The same id with another hash (rewritten) is a new anchor too.
    anchors = record_head(anchors, head(4, digest="c" * 64), later, AnchorReason.TIMER)
    assert [a.hash[0] for a in anchors] == ["a", "b", "c"]


def test_requesters_are_remembered_once_and_capped() -> None:
    sources = [f"decision-{i}/QĐ-TTg" for i in range(MAX_REQUESTERS + 3)]
    anchors = record_head([], head(1), T0, AnchorReason.REQUESTED, [sources[0], sources[0], *sources])
    assert anchors[0].requested_by == tuple(sources[:MAX_REQUESTERS])


def test_a_head_behind_the_last_anchor_went_back() -> None:
    [anchor] = record_head([], head(5), T0, AnchorReason.TIMER)
    assert went_back(anchor, head(4))
    assert went_back(anchor, head(6, count=4))
    assert not went_back(anchor, head(5))
    assert not went_back(anchor, head(7))


def test_thinning_keeps_the_recent_anchors_and_the_last_of_each_older_day() -> None:
    anchors: list[Anchor] = []
    for i in range(30):  # every 4 hours for 5 days
        anchors = record_head(anchors, head(i + 1), T0 + timedelta(hours=4 * i), AnchorReason.TIMER, recent=10**6)
    thinned = thin(anchors, recent=5, daily=2)
    assert thinned[-5:] == anchors[-5:]
    older = thinned[:-5]
    assert len(older) == 2
    assert all(a.anchored_at.date() != b.anchored_at.date() for a, b in itertools.pairwise(older))
    for kept in older:  # each is the last of its day among the older ones
        same_day = [a for a in anchors[:-5] if a.anchored_at.date() == kept.anchored_at.date()]
        assert kept == same_day[-1]
    assert [a.anchored_at for a in thinned] == sorted(a.anchored_at for a in thinned)
    assert thin(anchors[:3], recent=5) == anchors[:3]


def test_the_stamp_gives_the_count_the_hash_prefix_and_the_time_in_vietnam() -> None:
    [anchor] = record_head([], head(42, count=40, digest="0123456789abcdef" + "f" * 48), T0, AnchorReason.TIMER)
    assert anchor_stamp(anchor) == (
        "Neo nhật ký kiểm toán: 40 mục (đến mục số 42), mã băm 0123456789abcdef…, neo lúc 06/12/2026 16:00:00 (UTC+7)"
    )
    assert "chưa có" in anchor_stamp(None)


def test_the_anchor_models_refuse_what_cannot_be_a_head() -> None:
    with pytest.raises(ValueError):
        AuditHead(last_id=1, count=1, hash="XYZ")
    with pytest.raises(ValueError):
        AuditHead(last_id=-1)
    with pytest.raises(ValueError):
        AnchorStart(interval_seconds=61)
    with pytest.raises(ValueError):
        AnchorStart(interval_seconds=0)
    assert AnchorLog(interval_seconds=60, anchors=[]).latest is None


# ---- configuration -------------------------------------------------------------------------------------------


def test_the_anchor_interval_comes_from_its_variable_and_is_at_most_a_minute() -> None:
    assert anchor_interval({}) == 60
    assert anchor_interval({"TDKT_AUDIT_ANCHOR_SECONDS": " 2 "}) == 2
    for bad in ("0", "61", "abc", "-5", "1.5"):
        with pytest.raises(TuningError, match="TDKT_AUDIT_ANCHOR_SECONDS"):
            anchor_interval({"TDKT_AUDIT_ANCHOR_SECONDS": bad})


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_audit_keys_from_the_variables_with_rotation() -> None:
    keyring = parse_keys(f"old:{b64(b'o' * 32)}, new:{b64(b'n' * 32)}", "new")
    assert (keyring.current_id, sorted(keyring.keys)) == ("new", ["new", "old"])
    assert "n" * 8 not in repr(keyring)  # never printed
    env = {"TDKT_AUDIT_KEYS": f"only:{b64(b'k' * 32)}"}
    assert load_audit_keyring(env).current_id == "only"


@pytest.mark.parametrize(
    ("keys", "key_id", "named"),
    [
        ("nocolon", None, "TDKT_AUDIT_KEYS: entry 1"),
        (f"a:{b64(b'short')}", None, "is 5 bytes"),
        ("a:not base64!", None, "not valid base64"),
        (f"a:{b64(b'k' * 32)},a:{b64(b'k' * 32)}", None, "listed twice"),
        (f"a:{b64(b'k' * 32)},b:{b64(b'j' * 32)}", None, "set TDKT_AUDIT_KEY_ID"),
        (f"a:{b64(b'k' * 32)}", "zz", "TDKT_AUDIT_KEY_ID='zz'"),
        (" , ", None, "lists no key"),
    ],
)
def test_malformed_audit_keys_are_refused_naming_the_variable(keys: str, key_id: str | None, named: str) -> None:
    with pytest.raises(AuditKeyError, match=named.replace("(", r"\(")):
        parse_keys(keys, key_id)


def test_a_missing_audit_key_names_the_variable_and_the_file_and_makes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "audit-keys.json"
    with pytest.raises(AuditKeyError, match=rf"TDKT_AUDIT_KEYS.*{path}"):
        load_audit_keyring({}, key_file=path)
    assert not path.exists()
    with pytest.raises(AuditKeyError, match="TDKT_AUDIT_KEYS is not"):
        load_audit_keyring({"TDKT_AUDIT_KEY_ID": "a"}, key_file=path)


def test_only_the_demo_switch_makes_the_key_file_private_and_it_is_read_back(tmp_path: Path) -> None:
    path = tmp_path / "state" / "audit-keys.json"
    made = load_audit_keyring({"TDKT_GENERATE_KEYS": "1"}, key_file=path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_audit_keyring({}, key_file=path) == made  # once made, read without the switch
    rotated = rotate_key_file(path)
    assert rotated.current_id != made.current_id and made.current_id in rotated.keys
    assert load_audit_keyring({}, key_file=path).current_id == rotated.current_id
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(AuditKeyError, match="not an audit key file"):
        load_audit_keyring({}, key_file=path)


# ---- what verify-audit prints --------------------------------------------------------------------------------


def test_the_report_names_the_first_missing_id_of_a_truncated_chain() -> None:
    rows = build(5)
    report = verify(rows[:3], [anchor_at(rows, 4)])
    lines, intact = report_lines(report)
    assert not intact
    assert lines[0] == (
        "audit chain broken at entry 4 (missing): "
        "truncated — entries from this id on are missing; an anchor recorded more"
    )
    assert "at least 2 entries from id 4 on are missing" in lines[1]


def test_the_intact_report_shows_the_latest_anchor_and_what_came_after_it() -> None:
    rows = build(5, legacy=1)
    anchors = [anchor_at(rows, 3).model_copy(update={"confirmed_at": datetime(2020, 1, 1, tzinfo=UTC)})]
    lines, intact = report_lines(verify(rows, anchors), AnchorLog(interval_seconds=60, anchors=anchors))
    assert intact
    assert lines[0] == "audit chain intact: 5 entries"
    assert any(line.startswith("legacy: the first 1 entries") for line in lines)
    assert any(line.startswith("anchors: 1 agree; latest 4 entries up to entry 4") for line in lines)
    assert "  1 entries written since the latest anchor (not yet anchored)" in lines
    assert any(line.startswith("warning: the latest anchor was last confirmed") for line in lines)  # long ago
    fresh = [anchors[0].model_copy(update={"confirmed_at": datetime.now(UTC)})]
    lines, _ = report_lines(verify(rows, fresh), AnchorLog(interval_seconds=60, anchors=fresh))
    assert not any(line.startswith("warning:") for line in lines)
    unanchored, _ = report_lines(verify(rows))
    assert unanchored[-1].startswith("anchors: not checked (--no-anchors)")
