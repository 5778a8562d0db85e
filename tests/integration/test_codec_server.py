"""The codec server (driven in-process through ASGI: no network), and encryption end to end on the dev server.

The codec server decrypts what the engine's codec encrypted — for an operator who presents the token — but a
ballot stays sealed through it: its choices are sealed to the session's own key, which only the counting
committee's shares rebuild and the codec server never holds.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import unicodedata
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

import codec_server
from client.nominations import act, start_nomination, status
from codec_server import COOKIE, create_app, ui_origins
from domain.ballot_messages import AnonymousBallot
from domain.ballots import Choice
from domain.messages import NominationStart, ObjectionFiling, ReasonedAction
from domain.nomination import Nomination
from domain.stages import Stage
from security.codec import ENCODING, EncryptionCodec, Keyring, data_converter, new_key
from security.sealing import SEALED_CHOICE_BYTES, b64, generate_private_key, open_ballot, public_key_info, seal_ballot
from tests.asgi import call
from tests.factories import nomination_data
from tests.integration.helpers import PROPOSER, wait_for_stage

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "operator-token-for-tests-0123456789"
UI = "http://localhost:8233"
NAME = "Đặng Thị Thu Hường"
OBJECTOR = "Trịnh Văn Khải"
CONTACT = "0912 345 678"
CHOICE_WORDS = ("FOR", "AGAINST", "ABSTAIN")


def as_json(payloads: Sequence[Payload]) -> bytes:
    return json_format.MessageToJson(Payloads(payloads=payloads)).encode()


def from_json(body: bytes) -> list[Payload]:
    return list(json_format.Parse(body, Payloads()).payloads)


def bearer(token: str = TOKEN) -> list[tuple[str, str]]:
    return [("content-type", "application/json"), ("x-namespace", "default"), ("authorization", f"Bearer {token}")]


@pytest.fixture(scope="module")
def ring() -> Keyring:
    return Keyring(current_id="k2026", keys={"k2026": new_key()})


@pytest.fixture(scope="module")
def app(ring: Keyring) -> Any:
    return create_app(ring, token=TOKEN, origins=[UI])


async def encrypted(ring: Keyring, *values: Any) -> list[Payload]:
    return await data_converter(ring).encode(list(values))


def nomination(name: str = NAME) -> Nomination:
    nominee = {"kind": "INDIVIDUAL", "full_name": name, "position": "Chuyên viên chính", "unit": "Vụ Pháp chế"}
    return Nomination.model_validate(nomination_data("HUAN_CHUONG_LD_3", nominee=nominee))


# ---- authorisation --------------------------------------------------------------------------------------


async def test_decode_and_encode_require_the_token(app: Any, ring: Keyring) -> None:
    body = as_json(await encrypted(ring, "x"))
    json_only = [("content-type", "application/json")]
    for path in ("/decode", "/encode"):
        missing = await call(app, "POST", path, body, json_only)
        assert missing.status == 401 and missing.header("www-authenticate") == "Bearer"
        assert b"payloads" not in missing.body
        wrong = await call(app, "POST", path, body, bearer("operator-token-for-tests-9876543210"))
        assert wrong.status == 401
        basic = await call(app, "POST", path, body, [*json_only, ("authorization", f"Basic {TOKEN}")])
        assert basic.status == 401
        assert (await call(app, "POST", path, body, bearer())).status == 200


async def test_signing_in_sets_a_strict_http_only_cookie_that_admits_the_browser(app: Any, ring: Keyring) -> None:
    assert b"<form" in (await call(app, "GET", "/login")).body
    form = [("content-type", "application/x-www-form-urlencoded")]
    refused = await call(app, "POST", "/login", b"token=guess-guess-guess-guess", form)
    assert refused.status == 401 and refused.header("set-cookie") is None

    signed_in = await call(app, "POST", "/login", f"token={TOKEN}".encode(), form)
    assert signed_in.status == 200
    cookie = signed_in.header("set-cookie") or ""
    assert cookie.startswith(f"{COOKIE}={TOKEN}") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert b"Include cross-origin credentials" in signed_in.body

    body = as_json(await encrypted(ring, NAME))
    browser = [("content-type", "application/json"), ("origin", UI), ("cookie", f"{COOKIE}={TOKEN}")]
    decoded = await call(app, "POST", "/decode", body, browser)
    assert decoded.status == 200 and decoded.header("access-control-allow-origin") == UI
    assert decoded.header("access-control-allow-credentials") == "true"
    assert json.loads(from_json(decoded.body)[0].data) == NAME
    stale = await call(app, "POST", "/decode", body, [*browser[:2], ("cookie", f"{COOKIE}=old-token-old-token")])
    assert stale.status == 401


async def test_cors_admits_the_temporal_ui_only(app: Any) -> None:
    def preflight(origin: str) -> list[tuple[str, str]]:
        return [
            ("origin", origin),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type,x-namespace,authorization"),
        ]

    ok = await call(app, "OPTIONS", "/decode", headers=preflight(UI))
    assert ok.status == 200 and ok.header("access-control-allow-origin") == UI
    assert ok.header("access-control-allow-credentials") == "true"
    assert "x-namespace" in (ok.header("access-control-allow-headers") or "").lower()
    other = await call(app, "OPTIONS", "/decode", headers=preflight("https://elsewhere.example"))
    assert other.header("access-control-allow-origin") is None


def test_configuration_is_checked() -> None:
    with pytest.raises(ValueError, match="TDKT_CODEC_TOKEN must be at least 16"):
        create_app(Keyring("a", {"a": new_key()}), token="short")
    assert ui_origins({}) == ["http://localhost:8233"]
    assert ui_origins({"TDKT_CODEC_UI_ORIGINS": "https://ui.example, http://localhost:8080/"}) == [
        "https://ui.example",
        "http://localhost:8080",
    ]
    with pytest.raises(ValueError, match="TDKT_CODEC_UI_ORIGINS"):
        ui_origins({"TDKT_CODEC_UI_ORIGINS": "*"})


# ---- the protocol ----------------------------------------------------------------------------------------


async def test_decoded_nomination_payload_shows_the_nominee(app: Any, ring: Keyring) -> None:
    start = NominationStart(nomination=nomination(), policy_version="2025.07")
    payloads = await encrypted(ring, start)
    body = as_json(payloads)
    for form in visible_forms(NAME):
        assert form not in body
    reply = await call(app, "POST", "/decode", body, bearer())
    assert reply.status == 200 and reply.header("content-type") == "application/json"
    [decoded] = from_json(reply.body)
    assert decoded.metadata["encoding"] == b"json/plain"
    assert json.loads(decoded.data)["nomination"]["nominee"]["full_name"] == NAME
    # What the UI then shows is the engine's own model, intact.
    [back] = pydantic_data_converter.payload_converter.from_payloads([decoded], [NominationStart])
    assert back == start


async def test_encode_then_decode_round_trips_and_any_prefix_works(app: Any, ring: Keyring) -> None:
    original = [Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(NAME, ensure_ascii=False).encode())]
    encoded = await call(app, "POST", "/default/encode", as_json(original), bearer())
    assert encoded.status == 200
    [sealed] = from_json(encoded.body)
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata["encryption-key-id"] == b"k2026"
    decoded = await call(app, "POST", "/namespaces/default/decode", encoded.body, bearer())
    assert from_json(decoded.body) == original


async def test_unencrypted_and_foreign_payloads_come_back_as_they_were(app: Any, ring: Keyring) -> None:
    clear = (await pydantic_data_converter.encode(["trước khi mã hoá"]))[0]
    [foreign] = await EncryptionCodec(Keyring("retired", {"retired": new_key()})).encode([clear])
    [ours] = await encrypted(ring, NAME)
    reply = await call(app, "POST", "/decode", as_json([clear, foreign, ours]), bearer())
    assert reply.status == 200 and reply.header("x-codec-undecoded") == "1"
    got = from_json(reply.body)
    assert got[0] == clear and got[1] == foreign  # under a key this server lacks: left encrypted
    assert json.loads(got[2].data) == NAME


async def test_a_malformed_body_is_a_400(app: Any) -> None:
    assert (await call(app, "POST", "/decode", b"{not json", bearer())).status == 400
    assert (await call(app, "POST", "/decode", b'{"payloads": 3}', bearer())).status == 400


async def test_a_cast_ballot_stays_sealed_through_the_codec_server(app: Any, ring: Keyring) -> None:
    """The cast_ballot update's argument, as the voter's client sends it, decoded by an authorised operator: no
    voter, and no choice either."""
    sealing_key = generate_private_key()  # held here by the test, as only the count rebuilds it: never the server
    session, round_ = "ballot-council-BTP-HD-2026-07", 1
    token = bytes(range(32))
    choices: dict[str, Choice | None] = {
        "nomination-2026-BTP-11/TTr-BTP": Choice.FOR,
        "nomination-2026-BTP-12/TTr-BTP": Choice.AGAINST,
        "nomination-2026-BTP-13/TTr-BTP": Choice.ABSTAIN,
        "nomination-2026-BTP-14/TTr-BTP": None,  # recused (a conflict of interest): sealed like any choice
    }
    class_signature = bytes(256)  # its check is the count's, not the codec's
    sealed = seal_ballot(public_key_info(sealing_key), session, round_, token, choices, "k01", class_signature)
    cast = AnonymousBallot(round=round_, token=b64(token), token_signature=b64(bytes(256)), ballot=sealed)
    # Control: a payload with choices in clear does show them through the codec server...
    clear = {wf: (c.value if c else "RECUSE") for wf, c in choices.items()}
    clear_reply = await call(app, "POST", "/decode", as_json(await encrypted(ring, clear)), bearer())
    assert b'"FOR"' in from_json(clear_reply.body)[0].data

    reply = await call(app, "POST", "/decode", as_json(await encrypted(ring, cast)), bearer())
    assert reply.status == 200
    [decoded] = from_json(reply.body)
    text = decoded.data.decode()
    document = json.loads(text)
    # ...the ballot does not: on which nominations, then only ciphertext; no voter, and not their class.
    assert set(document) == {"round", "token", "token_signature", "ballot"}
    assert set(document["ballot"]["sealed_choices"]) == set(choices)
    for word in (*CHOICE_WORDS, "RECUSE", "btp.hd", "voter", "k01"):
        assert not re.search(rf"\b{re.escape(word)}\b", text, flags=re.IGNORECASE), word
    strings = list(_strings(document))
    assert not {s.upper() for s in strings} & {*CHOICE_WORDS, "F", "A", "B", "X"}
    assert all(len(_b64(v)) == SEALED_CHOICE_BYTES for v in document["ballot"]["sealed_choices"].values())
    # The same bytes open to the choices and the class, with the sealing key only.
    opened = AnonymousBallot.model_validate_json(decoded.data)
    content = open_ballot(sealing_key, session, round_, token, opened.ballot)
    assert content.choices == choices and content.class_id == "k01"


def test_the_codec_server_never_loads_the_ballot_sealing_code() -> None:
    probe = (
        "import sys, codec_server\n"
        "from security.codec import Keyring, new_key\n"
        "codec_server.create_app(Keyring('a', {'a': new_key()}), token='x' * 16)\n"
        "ballot = ('security.sealing', 'security.blind', 'security.committee', 'security.credentials')\n"
        "leaked = sorted(m for m in sys.modules if m.startswith((*ballot, 'activities', 'worker')))\n"
        "print(leaked)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert "sealing" not in Path(codec_server.__file__).read_text(encoding="utf-8").split('"""', 2)[2]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


# ---- end to end on the session's dev server ----------------------------------------------------------------


def payloads_in(message: Message, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Payload]]:
    """Every Payload anywhere inside a protobuf message, with the field path that leads to it."""
    for field, value in message.ListFields():
        message_type = field.message_type
        if field.type != field.TYPE_MESSAGE or message_type is None:
            continue
        if message_type.GetOptions().map_entry:
            value_field = message_type.fields_by_name["value"]
            if value_field.type != value_field.TYPE_MESSAGE:
                continue
            items: list[Any] = list(value.values())
        elif isinstance(value, Message):
            items = [value]
        else:
            items = list(value)
        for item in items:
            if isinstance(item, Payload):
                yield (*path, field.name), item
            else:
                yield from payloads_in(item, (*path, field.name))


def visible_forms(text: str) -> list[bytes]:
    folded = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return [
        text.encode(),
        unicodedata.normalize("NFD", text).encode(),
        json.dumps(text).strip('"').encode(),
        folded.encode(),
    ]


async def test_history_holds_no_personal_data_without_the_codec(client: Client, db_engine: AsyncEngine) -> None:
    from worker import build_worker

    ring = Keyring(current_id="e2e", keys={"e2e": new_key()})
    encrypting = await Client.connect(
        client.service_client.config.target_host, namespace=client.namespace, data_converter=data_converter(ring)
    )
    queue = f"codec-{uuid.uuid4().hex[:8]}"
    # A form with a public notice: the nomination waits there, out of reach of other tests' ballot sessions
    # (whose workers hold no codec key), and an objection carries a member of the public's name and number.
    async with build_worker(encrypting, db_engine, queue):
        handle = await start_nomination(encrypting, nomination(), queue, public_notice_seconds=3600)
        await wait_for_stage(encrypting, handle.id, Stage.PUBLIC_NOTICE)
        await act(
            encrypting,
            handle.id,
            "file_objection",
            ObjectionFiling(filed_by=OBJECTOR, contact=CONTACT, reason="Thành tích chưa đúng"),
        )
        current = await status(encrypting, handle.id)  # with the codec: read as usual
        assert current.stage == Stage.PUBLIC_NOTICE
        assert json.dumps(current.model_dump(mode="json"), ensure_ascii=False).count(NAME) >= 1
        withdrawn = await act(encrypting, handle.id, "withdraw", ReasonedAction(actor=PROPOSER, reason="Đơn vị rút"))
        assert withdrawn.stage == Stage.WITHDRAWN
        await encrypting.get_workflow_handle(handle.id).result()

        # Without the codec: the raw history.
        history = await client.get_workflow_handle(handle.id).fetch_history()
        raw = b"".join(event.SerializeToString() for event in history.events)
        for secret in (NAME, OBJECTOR, CONTACT):
            for form in visible_forms(secret):
                assert form not in raw, (secret, form)
        found = [(path, p) for event in history.events for path, p in payloads_in(event)]
        # The static summary and details are in clear by design, so the Temporal UI shows them without the codec
        # server: the form, the ministry, the year and the route only (no name: the search for secrets above).
        user_metadata = [(path, p) for path, p in found if "user_metadata" in path]
        assert {path[-1] for path, _ in user_metadata} == {"summary", "details"}
        assert all(p.metadata.get("encoding") == b"json/plain" for _, p in user_metadata)
        data_payloads = [
            (path, p)
            for path, p in found
            if "search_attributes" not in path and "header" not in path and "user_metadata" not in path
        ]
        assert len(data_payloads) >= 10  # input, activities, updates, memo, result
        not_encrypted = [
            path
            for path, p in data_payloads
            if p.metadata.get("encoding") != ENCODING and path[0] != "marker_recorded_event_attributes"
        ]
        assert not_encrypted == []
        markers = [
            e.marker_recorded_event_attributes.marker_name
            for e in history.events
            if e.HasField("marker_recorded_event_attributes")
        ]
        assert set(markers) == {"core_local_activity"}  # no patch markers: the procedure has one version
        # A local activity's marker keeps its result (the roster, with names) encrypted like any payload; its
        # "data" detail is the SDK core's own bookkeeping (activity type, id, time), read back without a codec.
        local_results = [
            p
            for e in history.events
            if e.marker_recorded_event_attributes.marker_name == "core_local_activity"
            for p in e.marker_recorded_event_attributes.details["result"].payloads
        ]
        assert local_results and all(p.metadata.get("encoding") == ENCODING for p in local_results)
        assert any("memo" in path for path, _ in data_payloads)
        # Search attributes stay plain (the server indexes them) and hold no personal data.
        attributes = [p for path, p in found if "search_attributes" in path]
        assert attributes and all(p.metadata.get("encoding") != ENCODING for p in attributes)

        # Without the codec the memo is ciphertext; with it, the nominee and the award an operator looks for.
        plain_description = await client.get_workflow_handle(handle.id).describe()
        memo_fields = plain_description.raw_description.workflow_execution_info.memo.fields
        assert {k: v.metadata["encoding"] for k, v in memo_fields.items()} == {"nominee": ENCODING, "award": ENCODING}
        memo = await (await encrypting.get_workflow_handle(handle.id).describe()).memo()
        assert memo["nominee"] == NAME and memo["award"]
        # A client without this key cannot read the status either.
        with pytest.raises((KeyError, ValueError), match=r"Unknown payload encoding|not in the keyring"):
            await status(client, handle.id)

        # Through the codec server, an operator reads the real history's payloads.
        started = history.events[0].workflow_execution_started_event_attributes
        server = create_app(ring, token=TOKEN, origins=[UI])
        reply = await call(server, "POST", "/decode", as_json(list(started.input.payloads)), bearer())
        assert json.loads(from_json(reply.body)[0].data)["nomination"]["nominee"]["full_name"] == NAME
