"""Reversible, deterministic tokenization of PII values.

Why AES-SIV: tokens must be deterministic (the same e-mail always yields the
same token, so joins and de-duplication keep working on pseudonymised data)
and still authenticated (a tampered or swapped token must not decrypt).
AES-SIV (RFC 5297) is a deterministic AEAD designed for exactly this; the
PII type and key id are bound as associated data, so a token cannot be
replayed as another type or under another key.

Why a key *lookup*: the caller supplies ``key_lookup(key_id) -> bytes``.
Today that can return one service key; later it can return one key per data
subject, so deleting a subject's key ("crypto-shredding") makes all of their
tokens permanently unreadable without touching stored data.  Key material of
any length >= 16 bytes is stretched with HKDF-SHA256 into a 512-bit
AES-256-SIV key, so a 32-byte hex ``UF_PII_KEY`` works as-is.

Token format (ASCII, safe in JSON/logs/URLs)::

    <PII:v1:EMAIL_ADDRESS:default:Base64UrlOfSivAndCiphertext>
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KeyLookup = Callable[[str], bytes]
"""``key_lookup(key_id) -> key material``; raise ``KeyError`` for an unknown id."""

TOKEN_PATTERN = re.compile(r"<PII:v1:([A-Z][A-Z0-9_]*):([A-Za-z0-9._\-]{1,64}):([A-Za-z0-9_\-]{22,})>")
_KEY_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
_HKDF_INFO = b"universal-framework/pii/tokenize/aes-siv/v1"


class TokenError(ValueError):
    """A token is malformed, was tampered with, or its key is unavailable."""


def _siv(material: bytes) -> AESSIV:
    if not isinstance(material, (bytes, bytearray)) or len(material) < 16:
        raise TokenError("tokenization key material must be at least 16 bytes")
    key = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=_HKDF_INFO).derive(bytes(material))
    return AESSIV(key)


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def tokenize_value(value: str, type_name: str, key_id: str, key_lookup: KeyLookup) -> str:
    """Deterministic token for ``value`` of ``type_name`` under key ``key_id``."""
    if not _KEY_ID.match(key_id):
        raise TokenError(f"invalid key id {key_id!r} (allowed: 1-64 of A-Z a-z 0-9 . _ -)")
    siv = _siv(key_lookup(key_id))
    sealed = siv.encrypt(value.encode("utf-8"), [type_name.encode("ascii"), key_id.encode("ascii")])
    return f"<PII:v1:{type_name}:{key_id}:{_b64e(sealed)}>"


def detokenize_value(token: str, key_lookup: KeyLookup) -> str:
    """Recover the original value from one token (raises :class:`TokenError`)."""
    match = TOKEN_PATTERN.fullmatch(token)
    if match is None:
        raise TokenError(f"not a PII token: {token[:80]!r}")
    type_name, key_id, payload = match.groups()
    try:
        material = key_lookup(key_id)
    except KeyError as exc:
        raise TokenError(f"no key for key id {key_id!r}") from exc
    try:
        plain = _siv(material).decrypt(_b64d(payload), [type_name.encode("ascii"), key_id.encode("ascii")])
    except (InvalidTag, binascii.Error, ValueError) as exc:
        raise TokenError(f"token for {type_name} under key {key_id!r} failed authentication") from exc
    return plain.decode("utf-8")


def detokenize(text: str, key_lookup: KeyLookup, *, strict: bool = True) -> str:
    """Replace every token in ``text`` by its original value.

    With ``strict=False`` tokens that cannot be opened (unknown or shredded
    key, tampering) are left as they are instead of raising.
    """

    def _open(match: re.Match[str]) -> str:
        try:
            return detokenize_value(match.group(0), key_lookup)
        except TokenError:
            if strict:
                raise
            return match.group(0)

    return TOKEN_PATTERN.sub(_open, text)


def static_key_lookup(key: bytes, key_id: str = "default") -> KeyLookup:
    """A lookup that knows exactly one key (CLI / single-tenant services)."""

    def lookup(requested: str) -> bytes:
        if requested != key_id:
            raise KeyError(requested)
        return key

    return lookup
