"""The counting committee's hold on the session's sealing key: any `threshold` shares rebuild it, fewer or a
wrong one do not; commitments bind each share; shares travel encrypted to each member's counting key; the
member's key file is private and never overwritten."""

from __future__ import annotations

import base64
import functools
import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from security import committee
from security.committee import (
    SessionSecret,
    counting_key_path,
    decrypt_share,
    encrypt_share,
    generate_counting_key,
    load_counting_key,
    make_session_secret,
    rebuild_sealing_key,
    save_counting_key,
    share_commitment,
)
from security.sealing import SealError, key_id_of

SESSION = "ballot-council-BTP-HD-2026-01"
SHAPES = [(1, 1), (3, 2), (4, 4), (7, 4), (15, 8)]  # (size, threshold)


@functools.cache
def secret_for(size: int, threshold: int) -> SessionSecret:
    return make_session_secret(SESSION, size, threshold)


@functools.cache
def member_key(which: int) -> rsa.RSAPrivateKey:
    return generate_counting_key()


def pem_of(key: rsa.RSAPrivateKey) -> str:
    public = key.public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@st.composite
def shape_and_subset(draw: st.DrawFn, extra: int = 0) -> tuple[int, int, list[int]]:
    size, threshold = draw(st.sampled_from(SHAPES))
    count = min(size, threshold + extra) if extra >= 0 else threshold + extra
    indices = draw(st.permutations(range(size)))[: max(count, 0)]
    return size, threshold, indices


def test_a_secret_has_one_share_per_member_and_publishes_only_the_public_key() -> None:
    secret = secret_for(3, 2)
    assert [index for index, _ in secret.shares] == [1, 2, 3]
    assert all(len(share) == 32 for _, share in secret.shares)
    assert len({share for _, share in secret.shares}) == 3
    assert secret.sealing.public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert len(secret.wrapped_private) > 12 + 16


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape_and_subset(extra=0))
def test_any_threshold_shares_rebuild_the_sealing_key(case: tuple[int, int, list[int]]) -> None:
    size, threshold, picked = case
    secret = secret_for(size, threshold)
    shares = [secret.shares[i] for i in picked]
    key = rebuild_sealing_key(SESSION, secret.wrapped_private, shares, threshold)
    assert key_id_of(key.public_key()) == secret.sealing.key_id


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape_and_subset(extra=5))
def test_more_than_threshold_shares_rebuild_it_too(case: tuple[int, int, list[int]]) -> None:
    size, threshold, picked = case
    secret = secret_for(size, threshold)
    key = rebuild_sealing_key(SESSION, secret.wrapped_private, [secret.shares[i] for i in picked], threshold)
    assert key_id_of(key.public_key()) == secret.sealing.key_id


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([s for s in SHAPES if s[1] > 1]), st.data())
def test_fewer_than_threshold_shares_are_refused_naming_how_many(shape: tuple[int, int], data: st.DataObject) -> None:
    size, threshold = shape
    secret = secret_for(size, threshold)
    count = data.draw(st.integers(min_value=0, max_value=threshold - 1))
    picked = data.draw(st.permutations(range(size)))[:count]
    with pytest.raises(SealError, match=f"needs {threshold} shares, only {count} were handed in"):
        rebuild_sealing_key(SESSION, secret.wrapped_private, [secret.shares[i] for i in picked], threshold)
    # Handing the same share in twice does not count twice.
    if count:
        twice = [secret.shares[picked[0]]] * threshold
        with pytest.raises(SealError, match=f"needs {threshold} shares, only 1"):
            rebuild_sealing_key(SESSION, secret.wrapped_private, twice, threshold)


@settings(max_examples=40, deadline=None)
@given(shape_and_subset(extra=0), st.data())
def test_a_wrong_share_does_not_rebuild(case: tuple[int, int, list[int]], data: st.DataObject) -> None:
    size, threshold, picked = case
    secret = secret_for(size, threshold)
    shares = [secret.shares[i] for i in picked]
    victim = data.draw(st.integers(min_value=0, max_value=len(shares) - 1))
    position = data.draw(st.integers(min_value=0, max_value=31))
    flip = data.draw(st.integers(min_value=1, max_value=255))
    index, share = shares[victim]
    broken = bytearray(share)
    broken[position] ^= flip
    shares[victim] = (index, bytes(broken))
    with pytest.raises(SealError, match="do not unwrap"):
        rebuild_sealing_key(SESSION, secret.wrapped_private, shares, threshold)


def test_shares_do_not_open_another_sessions_key() -> None:
    secret = secret_for(3, 2)
    with pytest.raises(SealError, match="do not unwrap"):
        rebuild_sealing_key("ballot-council-BTP-HD-2026-02", secret.wrapped_private, secret.shares[:2], 2)
    other = secret_for(4, 4)
    with pytest.raises(SealError, match="do not unwrap"):
        rebuild_sealing_key(SESSION, other.wrapped_private, [*other.shares[:3], secret_for(7, 4).shares[3]], 4)


def test_malformed_shares_and_committees_are_refused() -> None:
    secret = secret_for(3, 2)
    with pytest.raises(SealError, match="not 32"):
        rebuild_sealing_key(SESSION, secret.wrapped_private, [(1, b"\x00" * 31), secret.shares[1]], 2)
    with pytest.raises(SealError, match="1 to 15"):
        rebuild_sealing_key(SESSION, secret.wrapped_private, [(0, b"\x00" * 32), secret.shares[1]], 2)
    with pytest.raises(SealError, match="two different shares for index 1"):
        rebuild_sealing_key(SESSION, secret.wrapped_private, [(1, b"\x00" * 32), secret.shares[0]], 2)
    with pytest.raises(SealError, match="1 to 15 members"):
        make_session_secret(SESSION, 16, 2)
    with pytest.raises(SealError, match="threshold must be between 1 and the committee's size 3"):
        make_session_secret(SESSION, 3, 4)


def test_the_commitment_has_the_contract_bytes_and_binds_every_field() -> None:
    share = bytes(range(32))
    framed = f'["tdkt-share-commitment/2","{SESSION}","btp.hd.uy-vien-1",2,"{base64.b64encode(share).decode()}"]'
    expected = hashlib.sha256(framed.encode()).hexdigest()
    assert share_commitment(SESSION, "btp.hd.uy-vien-1", 2, share) == expected
    changed = {
        share_commitment("ballot-council-BTP-HD-2026-02", "btp.hd.uy-vien-1", 2, share),
        share_commitment(SESSION, "btp.hd.uy-vien-2", 2, share),
        share_commitment(SESSION, "btp.hd.uy-vien-1", 3, share),
        share_commitment(SESSION, "btp.hd.uy-vien-1", 2, bytes(31) + b"\x01"),
    }
    assert expected not in changed and len(changed) == 4


def test_a_share_travels_encrypted_to_its_members_counting_key() -> None:
    secret = secret_for(3, 2)
    mine, theirs = member_key(1), member_key(2)
    index, share = secret.shares[1]
    encrypted = encrypt_share(pem_of(mine), index, share)
    raw = base64.b64decode(encrypted)
    assert len(raw) == 384  # one RSA-3072 block
    assert share not in raw
    assert decrypt_share(mine, encrypted) == (index, share)
    with pytest.raises(SealError, match="does not decrypt with this counting key"):
        decrypt_share(theirs, encrypted)
    with pytest.raises(SealError, match="base64"):
        decrypt_share(mine, "not base64!")
    with pytest.raises(SealError, match="at least 3072"):
        encrypt_share(pem_of(rsa.generate_private_key(public_exponent=65537, key_size=2048)), index, share)
    with pytest.raises(SealError, match="32 bytes"):
        encrypt_share(pem_of(mine), index, share[:16])


def test_the_counting_key_file_is_private_never_overwritten_and_loads_back(tmp_path: Path) -> None:
    key = member_key(1)
    path = tmp_path / "nested" / "counting-btp.hd.uy-vien-1.pem"
    save_counting_key(path, key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind
    with pytest.raises(FileExistsError, match="never overwritten"):
        save_counting_key(path, member_key(2))
    loaded = load_counting_key(path)
    assert loaded.private_numbers() == key.private_numbers()
    assert generate_counting_key().key_size == 3072


def test_a_counting_key_file_that_is_missing_or_not_a_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SealError, match="no counting key file"):
        load_counting_key(tmp_path / "absent.pem")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    with pytest.raises(SealError, match="not an unencrypted PEM private key"):
        load_counting_key(junk)


def test_the_counting_key_path_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(committee.COUNTING_KEY_DIR_VARIABLE, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert (
        counting_key_path("btp.hd.uy-vien-1")
        == tmp_path / "home" / ".config" / "tdkt" / "counting-btp.hd.uy-vien-1.pem"
    )
    monkeypatch.setenv(committee.COUNTING_KEY_DIR_VARIABLE, str(tmp_path / "keys"))
    assert counting_key_path("a.b") == tmp_path / "keys" / "counting-a.b.pem"
    for bad in ["", "../etc", "a/b", ".hidden"]:
        with pytest.raises(SealError, match="path separators"):
            counting_key_path(bad)
