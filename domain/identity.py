"""Text as it enters the engine, and who a nominee is.

- Every piece of free text is normalised to Unicode NFC where it enters (`NFC`, a pydantic validator the
  shared string types carry): "Hằng" typed composed and typed decomposed (NFD) is one string.
- A nominee's identity key says whether two nominations are for the same person or collective, whatever
  their references: an individual is their normalised full name and unit within the ministry, a collective
  its normalised name within the ministry. When the unit gives the person's identification number (CCCD),
  the key is a keyed hash (HMAC-SHA256) of that number instead; the clear number is never stored nor sent
  to Temporal (the client replaces it by its HMAC before starting).
- `search_key` makes search insensitive to case, Unicode form and diacritics: "Hang" finds "Hằng".

Pure functions: no I/O, no clock; the HMAC key is given by the caller (security/identity_keys.py).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from typing import Any

from pydantic import BeforeValidator

PERSONAL_ID_PATTERN = r"^[0-9]{12}$"  # căn cước công dân: 12 digits
HMAC_HEX_PATTERN = r"^[0-9a-f]{64}$"
NAME_PREFIX = "name:"
PERSONAL_ID_PREFIX = "pid:"
_SPACE = re.compile(r"\s+")


def nfc(text: str) -> str:
    """Unicode NFC: composed and decomposed spellings of one text become the same string."""
    return unicodedata.normalize("NFC", text)


def _nfc_if_text(value: Any) -> Any:
    return nfc(value) if isinstance(value, str) else value


# A before-validator: list it LAST in an Annotated type, so it runs ahead of the type's own checks (strip,
# length, pattern) and a decomposed text is measured composed (listed first, pydantic applies them after it).
NFC = BeforeValidator(_nfc_if_text)


def collapse_spaces(text: str) -> str:
    """Runs of whitespace (tabs, newlines, non-breaking spaces) as one space, none at either end."""
    return _SPACE.sub(" ", text).strip()


# The five Vietnamese tone marks (huyền, sắc, ngã, hỏi, nặng) as combining characters. Where a syllable carries
# its tone is a spelling convention ("Hoà" / "Hòa", "Thuỷ" / "Thủy"), not a different name.
TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")


def _tone_at_syllable_end(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word)
    tones = [ch for ch in decomposed if ch in TONE_MARKS]
    return "".join(ch for ch in decomposed if ch not in TONE_MARKS) + "".join(tones)


def normalised_name(text: str) -> str:
    """A name as identities compare it: compatibility forms folded (NFKC: a full-width letter is the letter),
    invisible format characters (zero-width spaces and joiners, soft hyphens) dropped, case-folded, whitespace
    collapsed, and each syllable's tone mark in one place whatever the spelling convention ("Hoà" is "Hòa").
    Diacritics count: "Hằng" and "Hàng" are different people."""
    visible = "".join(ch for ch in unicodedata.normalize("NFKC", text) if unicodedata.category(ch) != "Cf")
    words = collapse_spaces(visible.casefold()).split(" ")
    return nfc(" ".join(_tone_at_syllable_end(word) for word in words))


def search_key(text: str) -> str:
    """A text as search compares it: no diacritics (đ counts as d), case-folded, whitespace collapsed, so
    "Hang", "HẰNG" and a decomposed "Hằng" all give "hang"."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return collapse_spaces(unicodedata.normalize("NFC", bare).casefold())


def matches(query: str, *texts: str | None) -> bool:
    """Whether `query` occurs in any of the texts, compared by search_key."""
    needle = search_key(query)
    return any(needle in search_key(text) for text in texts if text)


def personal_id_hmac(personal_id: str, key: bytes) -> str:
    """The keyed hash that stands for an identification number: HMAC-SHA256, hex. Without the key the
    number cannot be recovered nor a guess checked."""
    if not re.fullmatch(PERSONAL_ID_PATTERN, personal_id):
        raise ValueError("personal_id: expected 12 digits")
    if len(key) < 32:
        raise ValueError("the identity key must be at least 32 bytes")
    return hmac.new(key, personal_id.encode("ascii"), hashlib.sha256).hexdigest()


def identity_key(
    *,
    kind: str,
    name: str,
    ministry: str,
    unit: str | None = None,
    personal_id_hmac: str | None = None,
) -> str:
    """The key one nominee has whatever the nomination's reference: `pid:<hmac>` when the unit gave the
    person's identification number, else `name:<sha256 of the normalised name, unit and ministry>` (a
    collective: name and ministry). Fixed length, so it fits a database key; the parts are joined with a
    separator no normalised text contains."""
    if kind == "INDIVIDUAL" and personal_id_hmac:
        return PERSONAL_ID_PREFIX + personal_id_hmac
    parts = [kind, ministry, normalised_name(name)]
    if kind == "INDIVIDUAL":
        parts.append(normalised_name(unit or ""))
    return NAME_PREFIX + hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
