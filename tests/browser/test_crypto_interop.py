"""The browser's ballot cryptography (api/static/ballot-crypto.js, Web Crypto and the vendored RFC 9474 library)
against security/ in Python, byte for byte: what the browser blinds, finalizes, seals and decrypts is what the
workflow signs, verifies, opens and shares. Runs in Debian's Chromium; needs no Temporal or database."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from playwright.async_api import Page

from domain.ballot_messages import PublicKeyInfo, SealedBallot
from domain.ballots import Choice
from security import blind, committee, sealing
from tests.browser.conftest import in_browser, needs_chromium

pytestmark = needs_chromium

SESSION = "ballot-council-BTP-HD-2025-07"
ROUND = 2


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def public_pem(key: RSAPrivateKey) -> str:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(serialization.Encoding.PEM, spki).decode()


@pytest.fixture(scope="module")
def issuer() -> RSAPrivateKey:
    return blind.generate_signing_key()


@pytest.fixture(scope="module")
def class_key() -> RSAPrivateKey:
    return blind.generate_signing_key()


@pytest.fixture(scope="module")
def sealing_key() -> RSAPrivateKey:
    return committee.generate_counting_key()  # RSA-3072 OAEP, as the session's sealing key


async def test_messages_and_receipt_are_the_same_bytes(static_page: Page):
    token = bytes(range(32))
    got = await in_browser(
        static_page,
        """
        const token = m.unb64(arg.token);
        return {
          token: m.b64(m.tokenMessage(arg.session, arg.round, token)),
          cls: m.b64(m.classMessage(arg.session, arg.round, token, "k03")),
          receipt: await m.receiptHex(arg.session, arg.round, token),
        };
        """,
        {"token": b64(token), "session": SESSION, "round": ROUND},
    )
    assert unb64(got["token"]) == sealing.token_message(SESSION, ROUND, token)
    assert unb64(got["cls"]) == sealing.class_message(SESSION, ROUND, token, "k03")
    assert got["receipt"] == sealing.receipt_hex(SESSION, ROUND, token)
    assert sealing.receipt_of(SESSION, ROUND, token) == f"{SESSION}:{got['receipt']}"


async def test_key_ids_agree(static_page: Page, sealing_key: RSAPrivateKey):
    info = sealing.public_key_info(sealing_key)
    got = await in_browser(static_page, "return await m.keyIdOf(arg);", info.public_pem)
    assert got == info.key_id


async def test_a_signature_finalized_in_the_browser_verifies_in_python(static_page: Page, issuer: RSAPrivateKey):
    """The browser blinds, security.blind signs blind, the browser finalizes: an RSA-PSS signature that
    security.blind.verify accepts over the token message, and that the issuer never saw."""
    token = bytes(range(100, 132))
    message = sealing.token_message(SESSION, ROUND, token)
    pem = public_pem(issuer)
    blinded = await in_browser(
        static_page,
        """
        const {blinded, inv} = await m.blind(arg.pem, m.unb64(arg.message));
        window.kept = inv;
        return m.b64(blinded);
        """,
        {"pem": pem, "message": b64(message)},
    )
    assert len(unb64(blinded)) == 256 and message not in unb64(blinded)
    blind_signature = blind.blind_sign(issuer, unb64(blinded))
    signature = await in_browser(
        static_page,
        "return m.b64(await m.finalize(arg.pem, m.unb64(arg.message), m.unb64(arg.sig), window.kept));",
        {"pem": pem, "message": b64(message), "sig": b64(blind_signature)},
    )
    assert blind.verify(pem, message, unb64(signature))
    assert not blind.verify(pem, sealing.token_message(SESSION, ROUND + 1, token), unb64(signature))


async def test_the_browser_refuses_a_blind_signature_for_another_message(static_page: Page, issuer: RSAPrivateKey):
    """An issuer's answer that signs something else (here: another blinded message) does not finalize."""
    pem = public_pem(issuer)
    message = sealing.token_message(SESSION, ROUND, bytes(32))
    await in_browser(
        static_page,
        "const r = await m.blind(arg.pem, m.unb64(arg.message)); window.kept = r.inv; return m.b64(r.blinded);",
        {"pem": pem, "message": b64(message)},
    )
    other, _ = blind.blind(pem, sealing.token_message(SESSION, ROUND, bytes(range(32))))
    wrong = blind.blind_sign(issuer, other)
    error = await in_browser(
        static_page,
        """
        try { await m.finalize(arg.pem, m.unb64(arg.message), m.unb64(arg.sig), window.kept); return null; }
        catch (e) { return String(e.message || e); }
        """,
        {"pem": pem, "message": b64(message), "sig": b64(wrong)},
    )
    assert error == "invalid signature"


async def test_python_blinds_and_the_browser_verifies(static_page: Page, issuer: RSAPrivateKey):
    """The other way round: a signature security.blind finalizes verifies under the browser's verify."""
    message = sealing.class_message(SESSION, ROUND, bytes(32), "k01")
    blinded, inv = blind.blind(public_pem(issuer), message)
    signature = blind.finalize(public_pem(issuer), message, blind.blind_sign(issuer, blinded), inv)
    ok, tampered = await in_browser(
        static_page,
        """
        const sig = m.unb64(arg.sig), msg = m.unb64(arg.message);
        const bad = sig.slice(); bad[10] ^= 1;
        return [await m.verify(arg.pem, msg, sig), await m.verify(arg.pem, msg, bad)];
        """,
        {"pem": public_pem(issuer), "message": b64(message), "sig": b64(signature)},
    )
    assert ok is True and tampered is False


async def test_a_ballot_sealed_in_the_browser_opens_in_python(
    static_page: Page, sealing_key: RSAPrivateKey, class_key: RSAPrivateKey
):
    """Credential and seal made in the browser; security.sealing.open_ballot gives back every choice, RECUSE
    (code X) as None, and the class credential, whose signature verifies under the class key."""
    info = sealing.public_key_info(sealing_key)
    token = bytes(range(7, 39))
    class_message = sealing.class_message(SESSION, ROUND, token, "k02")
    blinded, inv = blind.blind(public_pem(class_key), class_message)
    class_signature = blind.finalize(public_pem(class_key), class_message, blind.blind_sign(class_key, blinded), inv)
    codes = {"nomination-a": "F", "nomination-b": "A", "nomination-c": "B", "nomination-d": "X"}
    sealed_json = await in_browser(
        static_page,
        """
        return await m.sealBallot(arg.sealing, arg.session, arg.round, m.unb64(arg.token), arg.codes, "k02",
                                  m.unb64(arg.classSignature));
        """,
        {
            "sealing": info.model_dump(),
            "session": SESSION,
            "round": ROUND,
            "token": b64(token),
            "codes": codes,
            "classSignature": b64(class_signature),
        },
    )
    sealed = SealedBallot.model_validate(sealed_json)
    assert sealed.key_id == info.key_id
    assert {len(unb64(v)) for v in sealed.sealed_choices.values()} == {29}
    opened = sealing.open_ballot(sealing_key, SESSION, ROUND, token, sealed)
    assert opened.choices == {
        "nomination-a": Choice.FOR,
        "nomination-b": Choice.AGAINST,
        "nomination-c": Choice.ABSTAIN,
        "nomination-d": None,
    }
    assert opened.class_id == "k02" and opened.class_signature == class_signature
    assert blind.verify(public_pem(class_key), class_message, opened.class_signature)

    # Bound to its round, token and candidate: moved anywhere else it does not open.
    with pytest.raises(sealing.SealError):
        sealing.open_ballot(sealing_key, SESSION, ROUND + 1, token, sealed)
    with pytest.raises(sealing.SealError):
        sealing.open_ballot(sealing_key, SESSION, ROUND, bytes(32), sealed)
    swapped = sealed.model_copy(
        update={
            "sealed_choices": sealed.sealed_choices
            | {"nomination-a": sealed.sealed_choices["nomination-b"]}
            | {"nomination-b": sealed.sealed_choices["nomination-a"]}
        }
    )
    with pytest.raises(sealing.SealError):
        sealing.open_ballot(sealing_key, SESSION, ROUND, token, swapped)


async def test_the_browser_and_python_seal_alike(static_page: Page, sealing_key: RSAPrivateKey):
    """Same shape whoever seals: the same candidates, the same lengths of every value."""
    info = sealing.public_key_info(sealing_key)
    token = bytes(32)
    signature = bytes(256)
    ours = sealing.seal_ballot(info, SESSION, ROUND, token, {"n1": Choice.FOR, "n2": None}, "k00", signature)
    theirs = SealedBallot.model_validate(
        await in_browser(
            static_page,
            "return await m.sealBallot(arg.sealing, arg.s, arg.r, new Uint8Array(32), {n1: 'F', n2: 'X'}, 'k00',"
            " new Uint8Array(256));",
            {"sealing": info.model_dump(), "s": SESSION, "r": ROUND},
        )
    )
    assert theirs.sealed_choices.keys() == ours.sealed_choices.keys()
    lengths = [[len(unb64(v)) for v in sealed.sealed_choices.values()] for sealed in (theirs, ours)]
    assert lengths[0] == lengths[1] == [29, 29]
    assert theirs.sealed_credential and ours.sealed_credential
    assert len(unb64(theirs.sealed_credential)) == len(unb64(ours.sealed_credential))
    assert len(unb64(theirs.wrapped_key)) == len(unb64(ours.wrapped_key)) == 384


async def test_the_browser_refuses_a_sealing_key_that_does_not_match_its_id(
    static_page: Page, sealing_key: RSAPrivateKey
):
    info = sealing.public_key_info(sealing_key)
    forged = PublicKeyInfo(key_id="0" * 32, public_pem=info.public_pem)
    error = await in_browser(
        static_page,
        """
        try { await m.sealBallot(arg, "s", 1, new Uint8Array(32), {n: "F"}, "k00", new Uint8Array(256)); return null; }
        catch (e) { return String(e.message || e); }
        """,
        forged.model_dump(),
    )
    assert error == "the session's sealing key does not match its key id"


async def test_a_counting_key_made_in_the_browser_stays_there_and_decrypts_a_share(static_page: Page):
    """The browser makes the member's RSA-OAEP-3072 key non-extractable and keeps it in IndexedDB; a share
    security.committee encrypted to its public half decrypts in the browser to the same index and bytes."""
    made = await in_browser(
        static_page,
        """
        const rec = await m.createCountingKey("btp.hd.uy-vien-1");
        let exported = null;
        try { await crypto.subtle.exportKey("pkcs8", rec.privateKey); exported = "exported"; }
        catch (e) { exported = e.name; }
        let again = null;
        try { await m.createCountingKey("btp.hd.uy-vien-1"); } catch (e) { again = String(e.message); }
        return {pem: rec.publicPem, keyId: rec.keyId, extractable: rec.privateKey.extractable, exported, again};
        """,
    )
    assert made["extractable"] is False and made["exported"] == "InvalidAccessError"
    assert made["again"] == "this browser already keeps a counting key for the actor"
    member_key = serialization.load_pem_public_key(made["pem"].encode())
    assert isinstance(member_key, RSAPublicKey) and member_key.key_size == 3072
    assert made["keyId"] == sealing.key_id_of(member_key)

    share = bytes(range(40, 72))
    encrypted = committee.encrypt_share(made["pem"], 3, share)
    got = await in_browser(
        static_page,
        """
        const rec = await m.storedCountingKey("btp.hd.uy-vien-1");
        const other = await m.storedCountingKey("btp.hd.uy-vien-2");
        return {share: await m.decryptShare(rec.privateKey, arg), other, keyId: rec.keyId};
        """,
        encrypted,
    )
    assert got == {"share": {"index": 3, "share": b64(share)}, "other": None, "keyId": made["keyId"]}
    session_id = "ballot-council-BTP-X"
    assert committee.share_commitment(session_id, "m", 3, unb64(got["share"]["share"])) == committee.share_commitment(
        session_id, "m", 3, share
    )


def test_the_vendored_library_is_one_file_with_its_licence():
    from tests.browser.conftest import STATIC

    bundle = (STATIC / "vendor" / "blindrsa.js").read_text(encoding="utf-8")
    assert bundle.startswith("/*!\n * @cloudflare/blindrsa-ts 0.4.4")
    assert "Apache License, Version 2.0" in bundle and "BSD 2-Clause" in bundle
    # Bundled: it fetches nothing at run time (no import of its own, no URL it loads from).
    assert not [line for line in bundle.splitlines() if line.startswith("import ") or ' from "' in line]
    assert "export {\n  RSABSSA\n};" in bundle
