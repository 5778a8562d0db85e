"""The payload codec: AES-256-GCM round trip, key rotation, refusals, pass-through, and where keys come from."""

from __future__ import annotations

import base64
import json
import stat
import unicodedata
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError

from domain.nomination import Nomination
from security import codec as codec_module
from security.codec import (
    ENCODING,
    KEY_ID_METADATA,
    CodecError,
    EncryptionCodec,
    Keyring,
    data_converter,
    load_keyring,
    load_or_create_key_file,
    new_key,
    parse_keys,
    read_key_file,
    rotate_key_file,
)
from tests.factories import nomination_data

NAME = "Nguyễn Thị Ánh Tuyết"
KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))


def keyring(current: str = "a", **keys: bytes) -> Keyring:
    return Keyring(current_id=current, keys=keys or {"a": KEY_A})


def plain(text: str = NAME) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text, ensure_ascii=False).encode())


def forms_of(text: str) -> list[bytes]:
    """The ways a name could show in bytes: UTF-8 (both normal forms), JSON escapes, stripped of accents."""
    folded = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return [
        unicodedata.normalize("NFC", text).encode(),
        unicodedata.normalize("NFD", text).encode(),
        json.dumps(text).strip('"').encode(),
        folded.encode(),
        folded.split()[-1].encode(),  # even the given name alone
    ]


async def test_round_trip_keeps_every_payload_whole() -> None:
    codec = EncryptionCodec(keyring())
    originals = [plain(), Payload(metadata={"encoding": b"binary/null"}), plain("Bằng khen của Bộ trưởng")]
    encoded = await codec.encode(originals)
    assert len(encoded) == 3
    for p in encoded:
        assert p.metadata["encoding"] == ENCODING == b"binary/encrypted"
        assert p.metadata[KEY_ID_METADATA] == b"a"
        assert set(p.metadata) == {"encoding", KEY_ID_METADATA}
    assert await codec.decode(encoded) == originals


async def test_each_encryption_uses_a_fresh_nonce() -> None:
    codec = EncryptionCodec(keyring())
    first, second = await codec.encode([plain(), plain()])
    assert first.data != second.data
    assert first.data[:12] != second.data[:12]


async def test_no_plaintext_of_a_vietnamese_name_in_the_encoded_bytes() -> None:
    converter = data_converter(keyring())
    nomination = Nomination.model_validate(
        nomination_data(
            "CSTD_TOAN_QUOC",
            nominee={"kind": "INDIVIDUAL", "full_name": NAME, "position": "Chuyên viên", "unit": "Vụ Pháp chế"},
        )
    )
    # Control: without the codec the name is there to be read.
    clear = (await pydantic_data_converter.encode([nomination]))[0].SerializeToString()
    assert NAME.encode() in clear
    [encoded] = await converter.encode([nomination])
    raw = encoded.SerializeToString()
    for form in forms_of(NAME):
        assert form not in raw, form
    assert b"json/plain" not in raw  # not even the inner encoding shows
    [back] = await converter.decode([encoded], [Nomination])
    assert back == nomination


async def test_a_payload_encrypted_under_an_old_key_decodes_after_rotation() -> None:
    old = EncryptionCodec(keyring("a", a=KEY_A))
    [under_a] = await old.encode([plain()])

    rotated_ring = keyring("a", a=KEY_A).with_current("b", KEY_B)
    assert rotated_ring.current_id == "b" and set(rotated_ring.keys) == {"a", "b"}
    rotated = EncryptionCodec(rotated_ring)
    [under_b] = await rotated.encode([plain()])
    assert under_b.metadata[KEY_ID_METADATA] == b"b"
    assert await rotated.decode([under_a, under_b]) == [plain(), plain()]

    # A process still on the old keyring cannot read what the new key wrote: it says which key it lacks.
    with pytest.raises(CodecError, match=r"key id 'b', which is not in the keyring \(known: a\)"):
        await old.decode([under_b])


async def test_unknown_key_id_is_a_clear_error() -> None:
    [encoded] = await EncryptionCodec(keyring("x", x=KEY_A)).encode([plain()])
    with pytest.raises(CodecError) as raised:
        await EncryptionCodec(keyring("a", a=KEY_A)).decode([encoded])
    message = str(raised.value)
    assert "'x'" in message and "TDKT_CODEC_KEYS" in message
    missing = Payload(metadata={"encoding": ENCODING}, data=encoded.data)
    with pytest.raises(CodecError, match="key id ''"):
        await EncryptionCodec(keyring()).decode([missing])


@pytest.mark.parametrize("where", [0, 12, 20, -1])
async def test_tampered_ciphertext_is_refused(where: int) -> None:
    codec = EncryptionCodec(keyring())
    [encoded] = await codec.encode([plain()])
    data = bytearray(encoded.data)
    data[where] ^= 0x01  # the nonce, the ciphertext, or the tag
    tampered = Payload(metadata=dict(encoded.metadata), data=bytes(data))
    with pytest.raises(CodecError, match="does not decrypt"):
        await codec.decode([tampered])


async def test_the_same_id_under_another_key_is_refused_and_short_data_too() -> None:
    [encoded] = await EncryptionCodec(keyring("a", a=KEY_A)).encode([plain()])
    with pytest.raises(CodecError, match="does not decrypt"):
        await EncryptionCodec(keyring("a", a=KEY_B)).decode([encoded])
    short = Payload(metadata=dict(encoded.metadata), data=encoded.data[:20])
    with pytest.raises(CodecError, match="too short"):
        await EncryptionCodec(keyring()).decode([short])


async def test_unencrypted_payloads_pass_through_decode_unchanged() -> None:
    codec = EncryptionCodec(keyring())
    before_encryption = [plain(), Payload(metadata={"encoding": b"json/protobuf"}, data=b"{}"), Payload()]
    assert await codec.decode(before_encryption) == before_encryption
    # Mixed with encrypted ones, each is treated on its own.
    [encrypted] = await codec.encode([plain("mới")])
    assert await codec.decode([before_encryption[0], encrypted]) == [plain(), plain("mới")]


async def test_failure_messages_are_encrypted_and_come_back() -> None:
    converter = data_converter(keyring())
    failure = Failure()
    await converter.encode_failure(ApplicationError(f"hồ sơ của {NAME} thiếu biên bản", type="Refused"), failure)
    raw = failure.SerializeToString()
    for form in forms_of(NAME):
        assert form not in raw
    assert failure.application_failure_info.type == "Refused"  # the type stays readable
    back = await converter.decode_failure(failure)
    assert isinstance(back, ApplicationError) and back.message == f"hồ sơ của {NAME} thiếu biên bản"


def test_data_converter_keeps_the_pydantic_payload_converter() -> None:
    converter = data_converter(keyring())
    assert converter.payload_converter_class is pydantic_data_converter.payload_converter_class
    assert isinstance(converter.payload_codec, EncryptionCodec)
    assert converter.payload_codec.key_id == "a"


def test_keyring_refuses_bad_keys_and_never_shows_them() -> None:
    with pytest.raises(CodecError, match="16 bytes; AES-256 needs 32"):
        Keyring(current_id="a", keys={"a": b"k" * 16})
    with pytest.raises(CodecError, match="current codec key id 'b' is not among"):
        Keyring(current_id="b", keys={"a": KEY_A})
    with pytest.raises(CodecError, match="key id 'a:b'"):
        Keyring(current_id="a:b", keys={"a:b": KEY_A})
    ring = keyring("a", a=KEY_A, b=KEY_B)
    assert base64.b64encode(KEY_A).decode() not in repr(ring) and "a" in repr(ring)


# ---- configuration ------------------------------------------------------------------------------------


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_keys_from_the_environment() -> None:
    env = {"TDKT_CODEC_KEYS": f"2026a:{b64(KEY_A)}, 2026b:{b64(KEY_B)}", "TDKT_CODEC_KEY_ID": "2026b"}
    ring = load_keyring(env, key_file=Path("/nonexistent/never-read.json"))
    assert ring.current_id == "2026b" and ring.keys == {"2026a": KEY_A, "2026b": KEY_B}
    # One key needs no current id.
    single = load_keyring({"TDKT_CODEC_KEYS": f"only:{b64(KEY_A)}"}, key_file=Path("/nonexistent"))
    assert single.current_id == "only"


@pytest.mark.parametrize(
    ("keys", "key_id", "message"),
    [
        ("a" + b64(KEY_A), None, r"TDKT_CODEC_KEYS: entry 1 is not of the form id:base64key"),
        ("a:not base64!", None, r"TDKT_CODEC_KEYS: the key of 'a' is not valid base64"),
        (f"a:{b64(b'short')}", None, r"TDKT_CODEC_KEYS: the key of 'a' is 5 bytes; AES-256 needs 32"),
        (f"a:{b64(KEY_A)},a:{b64(KEY_B)}", None, r"TDKT_CODEC_KEYS: key id 'a' is listed twice"),
        (f"bad id:{b64(KEY_A)}", None, r"TDKT_CODEC_KEYS: key id 'bad id'"),
        (f"a:{b64(KEY_A)},b:{b64(KEY_B)}", None, r"set TDKT_CODEC_KEY_ID"),
        (f"a:{b64(KEY_A)}", "c", r"TDKT_CODEC_KEY_ID='c' is not one of the ids in TDKT_CODEC_KEYS"),
        (" , ", None, r"TDKT_CODEC_KEYS is set but lists no key"),
    ],
)
def test_a_malformed_key_names_the_variable(keys: str, key_id: str | None, message: str) -> None:
    with pytest.raises(CodecError, match=message) as raised:
        parse_keys(keys, key_id)
    assert b64(KEY_A) not in str(raised.value) and b64(KEY_B) not in str(raised.value)


def test_a_key_id_without_keys_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CodecError, match="TDKT_CODEC_KEY_ID is set but TDKT_CODEC_KEYS is not"):
        load_keyring({"TDKT_CODEC_KEY_ID": "a"}, key_file=tmp_path / "keys.json")
    assert not (tmp_path / "keys.json").exists()


def test_the_embedded_demo_makes_a_private_key_file_once(tmp_path: Path) -> None:
    path = tmp_path / "state" / "codec-keys.json"
    first = load_keyring({"TDKT_GENERATE_KEYS": "1"}, key_file=path)
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.keys[first.current_id]) == 32
    assert load_keyring({}, key_file=path) == first  # the same key next time, switch or not
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_the_default_key_file_is_in_state() -> None:
    assert codec_module.DEFAULT_KEY_FILE.parent.name == ".state"
    assert codec_module.DEFAULT_KEY_FILE.name == "codec-keys.json"


async def test_rotating_the_key_file_keeps_old_payloads_readable(tmp_path: Path) -> None:
    path = tmp_path / "codec-keys.json"
    before = load_or_create_key_file(path)
    [old] = await EncryptionCodec(before).encode([plain()])
    after = rotate_key_file(path)
    assert after.current_id != before.current_id and set(after.keys) == set(before.keys) | {after.current_id}
    assert read_key_file(path) == after
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert await EncryptionCodec(read_key_file(path)).decode([old]) == [plain()]


def test_a_broken_key_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "codec-keys.json"
    path.write_text('{"current": "a", "keys": {"a": "c2hvcnQ="}}')
    with pytest.raises(CodecError, match=r"codec-keys.json: codec key 'a' is 5 bytes"):
        read_key_file(path)
    path.write_text("not json")
    with pytest.raises(CodecError, match="is not a codec key file"):
        read_key_file(path)


def test_new_key_prints_an_entry_for_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    assert codec_module.main(["new-key"]) == 0
    entry = capsys.readouterr().out.strip()
    ring = parse_keys(entry, None)
    assert len(ring.keys[ring.current_id]) == 32
    assert len(new_key()) == 32
    assert codec_module.main(["bogus"]) == 2
