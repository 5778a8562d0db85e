"""RFC 9474 blind signatures (RSABSSA-SHA384-PSS-Deterministic): the RFC's own test vector, round trips, and
the refusals: another key, a tampered blind signature, malformed input to verify."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from security import blind

# RFC 9474 Appendix A.3, "RSABSSA-SHA384-PSS-Deterministic Test Vector" (4096-bit key, 48-byte salt).
RFC9474_A3 = {
    "p": (
        "e1f4d7a34802e27c7392a3cea32a262a34dc3691bd87f3f310dc75673488930559c120fd0410194fb8a0da55bd0b81227e84"
        "3fdca6692ae80e5a5d414116d4803fca7d8c30eaaae57e44a1816ebb5c5b0606c536246c7f11985d731684150b63c9a3ad9e"
        "41b04c0b5b27cb188a692c84696b742a80d3cd00ab891f2457443dadfeba6d6daf108602be26d7071803c67105a5426838e6"
        "889d77e8474b29244cefaf418e381b312048b457d73419213063c60ee7b0d81820165864fef93523c9635c22210956e53a8d"
        "96322493ffc58d845368e2416e078e5bcb5d2fd68ae6acfa54f9627c42e84a9d3f2774017e32ebca06308a12ecc290c7cd11"
        "56dcccfb2311"
    ),
    "q": (
        "c601a9caea66dc3835827b539db9df6f6f5ae77244692780cd334a006ab353c806426b60718c05245650821d39445d3ab591"
        "ed10a7339f15d83fe13f6a3dfb20b9452c6a9b42eaa62a68c970df3cadb2139f804ad8223d56108dfde30ba7d367e9b0a7a8"
        "0c4fdba2fd9dde6661fc73fc2947569d2029f2870fc02d8325acf28c9afa19ecf962daa7916e21afad09eb62fe9f1cf91b77"
        "dc879b7974b490d3ebd2e95426057f35d0a3c9f45f79ac727ab81a519a8b9285932d9b2e5ccd347e59f3f32ad9ca359115e7"
        "da008ab7406707bd0e8e185a5ed8758b5ba266e8828f8d863ae133846304a2936ad7bc7c9803879d2fc4a28e69291d73dbd7"
        "99f8bc238385"
    ),
    "n": (
        "aec4d69addc70b990ea66a5e70603b6fee27aafebd08f2d94cbe1250c556e047a928d635c3f45ee9b66d1bc628a03bac9b7c"
        "3f416fe20dabea8f3d7b4bbf7f963be335d2328d67e6c13ee4a8f955e05a3283720d3e1f139c38e43e0338ad058a9495c533"
        "77fc35be64d208f89b4aa721bf7f7d3fef837be2a80e0f8adf0bcd1eec5bb040443a2b2792fdca522a7472aed74f31a1ebe1"
        "eebc1f408660a0543dfe2a850f106a617ec6685573702eaaa21a5640a5dcaf9b74e397fa3af18a2f1b7c03ba91a6336158de"
        "420d63188ee143866ee415735d155b7c2d854d795b7bc236cffd71542df34234221a0413e142d8c61355cc44d45bda942049"
        "74557ac2704cd8b593f035a5724b1adf442e78c542cd4414fce6f1298182fb6d8e53cef1adfd2e90e1e4deec52999bdc6c29"
        "144e8d52a125232c8c6d75c706ea3cc06841c7bda33568c63a6c03817f722b50fcf898237d788a4400869e44d90a3020923d"
        "c646388abcc914315215fcd1bae11b1c751fd52443aac8f601087d8d42737c18a3fa11ecd4131ecae017ae0a14acfc4ef85b"
        "83c19fed33cfd1cd629da2c4c09e222b398e18d822f77bb378dea3cb360b605e5aa58b20edc29d000a66bd177c682a17e7eb"
        "12a63ef7c2e4183e0d898f3d6bf567ba8ae84f84f1d23bf8b8e261c3729e2fa6d07b832e07cddd1d14f55325c6f924267957"
        "121902dc19b3b32948bdead5"
    ),
    "e": "010001",
    "d": (
        "0d43242aefe1fb2c13fbc66e20b678c4336d20b1808c558b6e62ad16a287077180b177e1f01b12f9c6cd6c52630257ccef26"
        "a45135a990928773f3bd2fc01a313f1dac97a51cec71cb1fd7efc7adffdeb05f1fb04812c924ed7f4a8269925dad88bd7dcf"
        "bc4ef01020ebfc60cb3e04c54f981fdbd273e69a8a58b8ceb7c2d83fbcbd6f784d052201b88a9848186f2a45c0d282687073"
        "3e6fd9aa46983e0a6e82e35ca20a439c5ee7b502a9062e1066493bdadf8b49eb30d9558ed85abc7afb29b3c9bc644199654a"
        "4676681af4babcea4e6f71fe4565c9c1b85d9985b84ec1abf1a820a9bbebee0df1398aae2c85ab580a9f13e7743afd3108eb"
        "32100b870648fa6bc17e8abac4d3c99246b1f0ea9f7f93a5dd5458c56d9f3f81ff2216b3c3680a13591673c43194d8e6fc93"
        "fc1e37ce2986bd628ac48088bc723d8fbe293861ca7a9f4a73e9fa63b1b6d0074f5dea2a624c5249ff3ad811b6255b299d6b"
        "c5451ba7477f19c5a0db690c3e6476398b1483d10314afd38bbaf6e2fbdbcd62c3ca9797a420ca6034ec0a83360a3ee2adf4"
        "b9d4ba29731d131b099a38d6a23cc463db754603211260e99d19affc902c915d7854554aabf608e3ac52c19b8aa26ae04224"
        "9b17b2d29669b5c859103ee53ef9bdc73ba3c6b537d5c34b6d8f034671d7f3a8a6966cc4543df223565343154140fd7391c7"
        "e7be03e241f4ecfeb877a051"
    ),
    "msg": "8f3dc6fb8c4a02f4d6352edf0907822c1210a9b32f9bdda4c45a698c80023aa6b59f8cfec5fdbb36331372ebefedae7d",
    "salt": "051722b35f458781397c3a671a7d3bd3096503940e4c4f1aaa269d60300ce449555cd7340100df9d46944c5356825abf",
    "inv": (
        "80682c48982407b489d53d1261b19ec8627d02b8cda5336750b8cee332ae260de57b02d72609c1e0e9f28e2040fc65b6f02d"
        "56dbd6aa9af8fde656f70495dfb723ba01173d4707a12fddac628ca29f3e32340bd8f7ddb557cf819f6b01e445ad96f874ba"
        "235584ee71f6581f62d4f43bf03f910f6510deb85e8ef06c7f09d9794a008be7ff2529f0ebb69decef646387dc767b749392"
        "65fec0223aa6d84d2a8a1cc912d5ca25b4e144ab8f6ba054b54910176d5737a2cff011da431bd5f2a0d2d66b9e70b39f4b05"
        "0e45c0d9c16f02deda9ddf2d00f3e4b01037d7029cd49c2d46a8e1fc2c0c17520af1f4b5e25ba396afc4cd60c494a4c42644"
        "8b35b49635b337cfb08e7c22a39b256dd032c00adddafb51a627f99a0e1704170ac1f1912e49d9db10ec04c19c58f4202129"
        "73e0cb329524223a6aa56c7937c5dffdb5d966b6cd4cbc26f3201dd25c80960a1a111b32947bb78973d269fac7f518653093"
        "0ed19f68507540eed9e1bab8b00f00d8ca09b3f099aae46180e04e3584bd7ca054df18a1504b89d1d1675d0966c4ae1407be"
        "325cdf623cf13ff13e4a28b594d59e3eadbadf6136eee7a59d6a444c9eb4e2198e8a974f27a39eb63af2c9af3870488b8ada"
        "ad444674f512133ad80b9220e09158521614f1faadfe8505ef57b7df6813048603f0dd04f4280177a11380fbfc861dbcbd74"
        "18d62155248dad5fdec0991f"
    ),
    "encoded_msg": (
        "6e0c464d9c2f9fbc147b43570fc4f238e0d0b38870b3addcf7a4217df912ccef17a7f629aa850f63a063925f312d61d6437b"
        "e954b45025e8282f9c0b1131bc8ff19a8a928d859b37113db1064f92a27f64761c181c1e1f9b251ae5a2f8a4047573b67a27"
        "0584e089beadcb13e7c82337797119712e9b849ff56e04385d144d3ca9d8d92bf78adb20b5bbeb3685f17038ec6afade3ef3"
        "54429c51c687b45a7018ee3a6966b3af15c9ba8f40e6461ba0a17ef5a799672ad882bab02b518f9da7c1a962945c2e9b0f02"
        "f29b31b9cdf3e633f9d9d2a22e96e1de28e25241ca7dd04147112f578973403e0f4fd80865965475d22294f065e17a1c4a20"
        "1de93bd14223e6b1b999fd548f2f759f52db71964528b6f15b9c2d7811f2a0a35d534b8216301c47f4f04f412cae142b48c4"
        "cdff78bc54df690fd43142d750c671dd8e2e938e6a440b2f825b6dbb3e19f1d7a3c0150428a47948037c322365b7fe6fe57a"
        "c88d8f80889e9ff38177bad8c8d8d98db42908b389cb59692a58ce275aa15acb032ca951b3e0a3404b7f33f655b7c7d83a2f"
        "8d1b6bbff49d5fcedf2e030e80881aa436db27a5c0dea13f32e7d460dbf01240c2320c2bb5b3225b17145c72d61d47c8f84d"
        "1e19417ebd8ce3638a82d395cc6f7050b6209d9283dc7b93fecc04f3f9e7f566829ac41568ef799480c733c09759aa9734e2"
        "013d7640dc6151018ea902bc"
    ),
    "blinded_msg": (
        "10c166c6a711e81c46f45b18e5873cc4f494f003180dd7f115585d871a28930259654fe28a54dab319cc5011204c8373b50a"
        "57b0fdc7a678bd74c523259dfe4fd5ea9f52f170e19dfa332930ad1609fc8a00902d725cfe50685c95e5b2968c9a2828a212"
        "07fcf393d15f849769e2af34ac4259d91dfd98c3a707c509e1af55647efaa31290ddf48e0133b798562af5eabd327270ac2f"
        "b6c594734ce339a14ea4fe1b9a2f81c0bc230ca523bda17ff42a377266bc2778a274c0ae5ec5a8cbbe364fcf0d2403f7ee17"
        "8d77ff28b67a20c7ceec009182dbcaa9bc99b51ebbf13b7d542be337172c6474f2cd3561219fe0dfa3fb207cff89632091ab"
        "841cf38d8aa88af6891539f263adb8eac6402c41b6ebd72984e43666e537f5f5fe27b2b5aa114957e9a580730308a5f5a9c6"
        "3a1eb599f093ab401d0c6003a451931b6d124180305705845060ebba6b0036154fcef3e5e9f9e4b87e8f084542fd1dd67e77"
        "82a5585150181c01eb6d90cb95883837384a5b91dbb606f266059ecc51b5acbaa280e45cfd2eec8cc1cdb1b7211c8e14805b"
        "a683f9b78824b2eb005bc8a7d7179a36c152cb87c8219e5569bba911bb32a1b923ca83de0e03fb10fba75d85c55907dda5a2"
        "606bf918b056c3808ba496a4d95532212040a5f44f37e1097f26dc27b98a51837daa78f23e532156296b64352669c94a8a85"
        "5acf30533d8e0594ace7c442"
    ),
    "blind_sig": (
        "364f6a40dbfbc3bbb257943337eeff791a0f290898a6791283bba581d9eac90a6376a837241f5f73a78a5c6746e1306ba3ad"
        "ab6067c32ff69115734ce014d354e2f259d4cbfb890244fd451a497fe6ecf9aa90d19a2d441162f7eaa7ce3fc4e89fd4e76b"
        "7ae585be2a2c0fd6fb246b8ac8d58bcb585634e30c9168a434786fe5e0b74bfe8187b47ac091aa571ffea0a864cb906d0e28"
        "c77a00e8cd8f6aba4317a8cc7bf32ce566bd1ef80c64de041728abe087bee6cadd0b7062bde5ceef308a23bd1ccc154fd0c3"
        "a26110df6193464fc0d24ee189aea8979d722170ba945fdcce9b1b4b63349980f3a92dc2e5418c54d38a862916926b3f9ca2"
        "70a8cf40dfb9772bfbdd9a3e0e0892369c18249211ba857f35963d0e05d8da98f1aa0c6bba58f47487b8f663e395091275f8"
        "2941830b050b260e4767ce2fa903e75ff8970c98bfb3a08d6db91ab1746c86420ee2e909bf681cac173697135983c3594b2d"
        "ef673736220452fde4ddec867d40ff42dd3da36c84e3e52508b891a00f50b4f62d112edb3b6b6cc3dbd546ba10f36b03f06c"
        "0d82aeec3b25e127af545fac28e1613a0517a6095ad18a98ab79f68801e05c175e15bae21f821e80c80ab4fdec6fb34ca315"
        "e194502b8f3dcf7892b511aee45060e3994cd15e003861bc7220a2babd7b40eda03382548a34a7110f9b1779bf3ef6011361"
        "611e6bc5c0dc851e1509de1a"
    ),
    "sig": (
        "6fef8bf9bc182cd8cf7ce45c7dcf0e6f3e518ae48f06f3c670c649ac737a8b8119a34d51641785be151a697ed7825fdfece8"
        "2865123445eab03eb4bb91cecf4d6951738495f8481151b62de869658573df4e50a95c17c31b52e154ae26a04067d5ecdc15"
        "92c287550bb982a5bb9c30fd53a768cee6baabb3d483e9f1e2da954c7f4cf492fe3944d2fe456c1ecaf0840369e33fb4010e"
        "6b44bb1d721840513524d8e9a3519f40d1b81ae34fb7a31ee6b7ed641cb16c2ac999004c2191de0201457523f5a4700dd649"
        "267d9286f5c1d193f1454c9f868a57816bf5ff76c838a2eeb616a3fc9976f65d4371deecfbab29362caebdff69c635fe5a21"
        "13da4d4d8c24f0b16a0584fa05e80e607c5d9a2f765f1f069f8d4da21f27c2a3b5c984b4ab24899bef46c6d9323df4862fe5"
        "1ce300fca40fb539c3bb7fe2dcc9409e425f2d3b95e70e9c49c5feb6ecc9d43442c33d50003ee936845892fb8be475647da9"
        "a080f5bc7f8a716590b3745c2209fe05b17992830ce15f32c7b22cde755c8a2fe50bd814a0434130b807dc1b7218d4e85342"
        "d70695a5d7f29306f25623ad1e8aa08ef71b54b8ee447b5f64e73d09bdd6c3b7ca224058d7c67cc7551e9241688ada12d859"
        "cb7646fbd3ed8b34312f3b49d69802f0eaa11bc4211c2f7a29cd5c01ed01a39001c5856fab36228f5ee2f2e1110811872fe7"
        "c865c42ed59029c706195d52"
    ),
}


def _vector() -> dict[str, bytes]:
    return {name: bytes.fromhex(value) for name, value in RFC9474_A3.items()}


def _pem(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def vector_key() -> rsa.RSAPrivateKey:
    v = _vector()
    p, q, n, e, d = (int.from_bytes(v[name], "big") for name in ("p", "q", "n", "e", "d"))
    assert p * q == n
    numbers = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), rsa.RSAPublicNumbers(e, n)
    )
    return numbers.private_key()


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return blind.generate_signing_key()


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return blind.generate_signing_key()


def test_the_rfc_9474_vector_is_reproduced_step_by_step(vector_key: rsa.RSAPrivateKey) -> None:
    v = _vector()
    public = vector_key.public_key()
    n = public.public_numbers().n
    assert blind.emsa_pss_encode(v["msg"], n.bit_length() - 1, v["salt"]) == v["encoded_msg"]
    r = pow(int.from_bytes(v["inv"], "big"), -1, n)  # the vector gives the inverse of the blinding factor
    blinded, inv = blind._blind_with(public, v["msg"], v["salt"], r)
    assert blinded == v["blinded_msg"]
    assert inv == v["inv"]
    assert blind.blind_sign(vector_key, blinded) == v["blind_sig"]
    pem = _pem(public)
    assert blind.finalize(pem, v["msg"], v["blind_sig"], v["inv"]) == v["sig"]
    assert blind.verify(pem, v["msg"], v["sig"])


def test_a_finalized_signature_is_ordinary_rsa_pss_sha384_salt_48(key: rsa.RSAPrivateKey) -> None:
    pem = _pem(key.public_key())
    message = b'["tdkt-ballot-token/2","ballot-council-BTP-HD-2026-01",1,"AAAA"]'
    blinded, inv = blind.blind(pem, message)
    signature = blind.finalize(pem, message, blind.blind_sign(key, blinded), inv)
    assert len(signature) == 256
    # cryptography's own verifier, with the RFC's parameters, accepts it (raises otherwise).
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
    key.public_key().verify(signature, message, pss, hashes.SHA384())
    assert blind.verify(pem, message, signature)
    assert not blind.verify(pem, message + b" ", signature)


def test_the_signer_sees_neither_the_message_nor_the_signature(key: rsa.RSAPrivateKey) -> None:
    pem = _pem(key.public_key())
    message = b"token-message-" + bytes(range(32))
    first, inv = blind.blind(pem, message)
    second, _ = blind.blind(pem, message)
    assert first != second  # fresh salt and blinding factor each time
    assert message not in first
    blind_signature = blind.blind_sign(key, first)
    signature = blind.finalize(pem, message, blind_signature, inv)
    assert signature != blind_signature


def test_a_signature_from_another_key_is_refused(key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey) -> None:
    pem, other_pem = _pem(key.public_key()), _pem(other_key.public_key())
    message = b"one ballot"
    blinded, inv = blind.blind(pem, message)
    # The other key signs the same value (reduced below its own modulus, which it checks for).
    other_n = other_key.public_key().public_numbers().n
    reduced = (int.from_bytes(blinded, "big") % other_n).to_bytes(256, "big")
    with pytest.raises(blind.BlindError, match=r"does not verify|out of range"):
        blind.finalize(pem, message, blind.blind_sign(other_key, reduced), inv)
    signature = blind.finalize(pem, message, blind.blind_sign(key, blinded), inv)
    assert not blind.verify(other_pem, message, signature)


def test_a_tampered_blind_signature_is_refused(key: rsa.RSAPrivateKey) -> None:
    pem = _pem(key.public_key())
    message = b"one ballot"
    blinded, inv = blind.blind(pem, message)
    blind_signature = bytearray(blind.blind_sign(key, blinded))
    blind_signature[-1] ^= 0x01
    with pytest.raises(blind.BlindError, match="does not verify"):
        blind.finalize(pem, message, bytes(blind_signature), inv)
    with pytest.raises(blind.BlindError, match="bytes each"):
        blind.finalize(pem, message, bytes(blind_signature[:-1]), inv)
    # The right signature finalized against another message is refused too.
    with pytest.raises(blind.BlindError, match="does not verify"):
        blind.finalize(pem, b"another ballot", blind.blind_sign(key, blinded), inv)


def test_blind_sign_refuses_a_value_of_the_wrong_size(key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(blind.BlindError, match="not 256"):
        blind.blind_sign(key, b"\x01" * 255)
    with pytest.raises(blind.BlindError, match="not smaller than the modulus"):
        blind.blind_sign(key, b"\xff" * 256)


@pytest.mark.parametrize(
    ("public_pem", "message", "signature"),
    [
        ("not a pem", b"m", b"\x00" * 256),
        ("", b"m", b""),
        (None, b"m", b"\x00" * 256),
        ("VALID", b"m", b"\x00" * 256),
        ("VALID", b"m", b"\x00" * 255),
        ("VALID", b"m", b"\xff" * 256),
        ("VALID", "a str, not bytes", b"\x00" * 256),
        ("VALID", b"m", "a str, not bytes"),
        ("VALID", None, None),
        ("SMALL", b"m", b"\x00" * 128),
    ],
)
def test_verify_never_raises_it_answers_false(
    key: rsa.RSAPrivateKey, public_pem: object, message: object, signature: object
) -> None:
    if public_pem == "VALID":
        public_pem = _pem(key.public_key())
    elif public_pem == "SMALL":
        public_pem = _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key())
    assert blind.verify(public_pem, message, signature) is False  # type: ignore[arg-type]


def test_keys_are_rsa_2048_with_exponent_65537(key: rsa.RSAPrivateKey) -> None:
    assert key.key_size == 2048
    assert key.public_key().public_numbers().e == 65537
    with pytest.raises(blind.BlindError, match="at least 2048"):
        blind.blind(_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()), b"m")
