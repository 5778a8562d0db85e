"""Encryption of every Temporal payload with AES-256-GCM, under rotatable keys.

What it covers: workflow and activity inputs and results, signal, query and update arguments and results,
memos, the workflows' current details (served by a query) and — with the failure converter set below —
failure messages and stack traces. Each is replaced in history by a payload with metadata
``encoding: binary/encrypted`` and ``encryption-key-id: <id>`` whose data is
``nonce (12 bytes) || ciphertext || tag`` of the original payload serialised as protobuf: the same layout as
temporalio/samples-python's encryption sample (and its Go and TypeScript siblings), so their tools can read
it given the key.

What it does not cover, by Temporal's design: search attributes (the server indexes them) and workflow ids.
Neither carries personal data: the search attributes are the stage, ministry, award form, year, bloc, due
date, whether held or overdue and the role awaited, and a workflow id is
``nomination-<year>-<ministry>-<the unit's document number>``. Nor, by the engine's choice, the static summary
and details a workflow is started with (client/metadata.py): built from the award form, the ministry, the year
and the route only, they are what an operator reads in the Temporal UI without the codec server. The memo
(``nominee``: the nominee's display name, ``award``: the award's name) is a payload, so it is encrypted like
the rest and read in clear only through the codec server (codec_server.py) by an operator who holds its token.

Ballot choices are sealed before they reach Temporal (security/sealing.py): through this codec a ballot decodes
to its sealed form, never to the choices, because the codec's keys are not the session's sealing key (which only
the counting committee's shares rebuild, in memory, at the count).

Keys: ``TDKT_CODEC_KEYS`` = ``id:base64key[,id:base64key...]`` (32-byte keys) and ``TDKT_CODEC_KEY_ID`` = the
id that encrypts new payloads; every key listed decrypts. Without them, ``.state/codec-keys.json`` (created
with mode 0600 on first use). To rotate: add a new key, make it current, keep the old ones listed for as long
as histories encrypted under them may be read (replay, queries, the UI), and restart the worker, the CLI's
processes and the codec server. ``python -m security.codec new-key`` prints a fresh ``id:base64key``;
``python -m security.codec rotate`` adds one to the key file and makes it current.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from security import keyrings
from security.keyrings import KEY_ID, KeyringFormat
from security.keys import MissingKey, PublishedKey, refuse_published, require_generation_allowed

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16

KEYS_ENV = "TDKT_CODEC_KEYS"
KEY_ID_ENV = "TDKT_CODEC_KEY_ID"

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_KEY_FILE = REPO_ROOT / ".state" / "codec-keys.json"
KEY_FILE_ENV = "TDKT_CODEC_KEY_FILE"  # where the key file is, when not the default


class CodecError(ValueError):
    """A payload that cannot be decrypted, or a keyring that cannot be read. Never contains key material."""


@dataclass(frozen=True)
class Keyring:
    """The keys that decrypt (by id), and the id of the one that encrypts."""

    current_id: str
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        for key_id, key in self.keys.items():
            if not KEY_ID.fullmatch(key_id):
                raise CodecError(f"codec key id {key_id!r} must be 1-64 of A-Z a-z 0-9 . _ -")
            if len(key) != KEY_BYTES:
                raise CodecError(f"codec key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}")
        if self.current_id not in self.keys:
            raise CodecError(f"the current codec key id {self.current_id!r} is not among the keys {sorted(self.keys)}")
        object.__setattr__(self, "keys", dict(self.keys))

    def __repr__(self) -> str:  # never print the keys
        return f"Keyring(current_id={self.current_id!r}, key_ids={sorted(self.keys)!r})"

    def with_current(self, key_id: str, key: bytes) -> Keyring:
        """This keyring plus `key` under `key_id`, which becomes current (old keys still decrypt)."""
        return Keyring(current_id=key_id, keys={**self.keys, key_id: key})


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each whole payload; the current key encrypts, any key of the keyring decrypts."""

    def __init__(self, keyring: Keyring) -> None:
        super().__init__()
        self._current_id = keyring.current_id
        # Direct AESGCM, as in the samples, to stay byte-compatible with their Go and TypeScript codecs.
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keyring.keys.items()}

    @property
    def key_id(self) -> str:
        return self._current_id

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        # Every payload, whatever it holds, is encrypted under the current key and names it.
        cipher = self._ciphers[self._current_id]
        return [
            Payload(
                metadata={"encoding": ENCODING, KEY_ID_METADATA: self._current_id.encode()},
                data=_encrypt(cipher, p.SerializeToString()),
            )
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded: list[Payload] = []
        for p in payloads:
            # Not ours (written before encryption was turned on, or by a plain client): left as it is.
            if p.metadata.get("encoding", b"") != ENCODING:
                decoded.append(p)
                continue
            key_id = p.metadata.get(KEY_ID_METADATA, b"").decode("utf-8", errors="replace")
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise CodecError(
                    f"payload encrypted under codec key id {key_id!r}, which is not in the keyring "
                    f"(known: {', '.join(sorted(self._ciphers))}); add it to {KEYS_ENV} or the key file"
                )
            if len(p.data) < NONCE_BYTES + TAG_BYTES:
                raise CodecError(f"payload encrypted under codec key id {key_id!r} is too short to be AES-GCM")
            try:
                plain = cipher.decrypt(p.data[:NONCE_BYTES], p.data[NONCE_BYTES:], None)
            except InvalidTag:
                raise CodecError(
                    f"payload encrypted under codec key id {key_id!r} does not decrypt: "
                    "it was altered, or the key under that id is not the one it was encrypted with"
                ) from None
            decoded.append(Payload.FromString(plain))
        return decoded


def _encrypt(cipher: AESGCM, data: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + cipher.encrypt(nonce, data, None)


def data_converter(keyring: Keyring | None = None) -> DataConverter:
    """The engine's converter (pydantic JSON) with every payload encrypted, failure messages included.

    `keyring` None: `load_keyring()` (the environment, else the key file)."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keyring or load_keyring()),
        # Failure messages and stack traces can quote what a payload held: encrypt them too.
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


# ---- where the keys come from ------------------------------------------------------------------------


def new_key_id() -> str:
    return f"k{secrets.token_hex(4)}"


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


FORMAT = KeyringFormat(
    keys_env=KEYS_ENV,
    key_id_env=KEY_ID_ENV,
    key_bytes=KEY_BYTES,
    error=CodecError,
    size_rule="AES-256 needs",
    new_key_command="python -m security.codec new-key",
    current_does="encrypts",
    file_kind="a codec key file",
)


def _make(current_id: str, keys: dict[str, bytes]) -> Keyring:
    return Keyring(current_id=current_id, keys=keys)


def parse_keys(spec: str, current_id: str | None) -> Keyring:
    """The keyring from `TDKT_CODEC_KEYS` / `TDKT_CODEC_KEY_ID` values; CodecError naming the variable."""
    return _make(*keyrings.parse_key_list(FORMAT, spec, current_id))


def load_keyring(environ: Mapping[str, str] | None = None, key_file: Path | None = None) -> Keyring:
    """`TDKT_CODEC_KEYS` (+ `TDKT_CODEC_KEY_ID`) if set; otherwise the key file (default
    `.state/codec-keys.json`), created with one fresh key and mode 0600 if it does not exist and the embedded
    demo's switch allows it (security/keys.py); CodecError naming the variable and the file otherwise."""
    env = os.environ if environ is None else environ
    spec = env.get(KEYS_ENV, "")
    if spec.strip():
        try:
            refuse_published(KEYS_ENV, (entry.partition(":")[2] for entry in spec.split(",")), env)
        except PublishedKey as err:
            raise CodecError(str(err)) from None
        return parse_keys(spec, env.get(KEY_ID_ENV))
    if env.get(KEY_ID_ENV, "").strip():
        raise CodecError(f"{KEY_ID_ENV} is set but {KEYS_ENV} is not: set both, or neither to use the key file")
    path = key_file or Path(env.get(KEY_FILE_ENV, "").strip() or DEFAULT_KEY_FILE)
    if not path.exists():
        try:
            require_generation_allowed("payload encryption key", KEYS_ENV, path, env)
        except MissingKey as err:
            raise CodecError(str(err)) from None
    return load_or_create_key_file(path)


def read_key_file(path: Path) -> Keyring:
    return keyrings.read_key_file(FORMAT, path, _make)


def load_or_create_key_file(path: Path) -> Keyring:
    """Read the key file, or create it with one fresh key; two processes starting at once share one key."""
    if path.exists():
        return read_key_file(path)
    key_id = new_key_id()
    return keyrings.create_key_file(FORMAT, path, _make(key_id, {key_id: new_key()}), _make)


def rotate_key_file(path: Path) -> Keyring:
    """Add a fresh key to the key file and make it current; the old keys stay to decrypt old payloads."""
    keyring = load_or_create_key_file(path).with_current(new_key_id(), new_key())
    keyrings.replace_key_file(path, keyring)
    return keyring


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["new-key"]:
        print(f"{new_key_id()}:{base64.b64encode(new_key()).decode('ascii')}")
        return 0
    if args and args[0] == "rotate" and len(args) <= 2:
        path = Path(args[1]) if len(args) == 2 else DEFAULT_KEY_FILE
        keyring = rotate_key_file(path)
        print(f"{path}: current key is now {keyring.current_id}; keys {sorted(keyring.keys)} still decrypt")
        print("restart the worker, the codec server and any running CLI process to use it")
        return 0
    print(
        "usage: python -m security.codec new-key        # prints id:base64key for TDKT_CODEC_KEYS\n"
        "       python -m security.codec rotate [FILE]  # new current key in the key file (.state/codec-keys.json)",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
