"""Operators, tokenization round-trip, overlap merging and Unicode offsets."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from uf_pii import (
    Finding,
    KeyedHash,
    Mask,
    Replace,
    TokenError,
    Tokenize,
    detokenize,
    detokenize_value,
    make_operator,
    merge_overlaps,
    redact,
    static_key_lookup,
    tokenize_value,
)

KEY = bytes(range(32))


def f(type_name: str, start: int, end: int, score: float = 0.9, name: str = "t") -> Finding:
    return Finding(type_name, start, end, score, name)


def test_replace_with_type_tag() -> None:
    text = "mail jane@example.com now"
    assert redact(text, [f("EMAIL_ADDRESS", 5, 21)]) == "mail <EMAIL_ADDRESS> now"


def test_mask_keeps_shape_and_last_digits() -> None:
    text = "card 4111 1111 1111 1111."
    assert redact(text, [f("CREDIT_CARD", 5, 24)], Mask(keep_last=4)) == "card **** **** **** 1111."
    assert redact("ab", [f("X", 0, 2)], Mask(char="#", preserve_format=False)) == "##"


def test_keyed_hash_is_hmac_sha256() -> None:
    value = "jane@example.com"
    expected = hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()
    assert redact(value, [f("EMAIL_ADDRESS", 0, len(value))], KeyedHash(KEY)) == expected
    assert "bytes" in repr(KeyedHash(KEY)) and KEY.hex() not in repr(KeyedHash(KEY))
    with pytest.raises(ValueError):
        KeyedHash(b"")


def test_per_type_operator_mapping() -> None:
    text = "a@example.com 4111111111111111"
    out = redact(text, [f("EMAIL_ADDRESS", 0, 13), f("CREDIT_CARD", 14, 30)], {"CREDIT_CARD": Mask(keep_last=4)})
    assert out == "<EMAIL_ADDRESS> ************1111"


def test_tokenize_roundtrip_is_deterministic_and_bound_to_type_and_key() -> None:
    lookup = static_key_lookup(KEY, "subject-42")
    token = tokenize_value("jane@example.com", "EMAIL_ADDRESS", "subject-42", lookup)
    assert token == tokenize_value("jane@example.com", "EMAIL_ADDRESS", "subject-42", lookup)
    assert token.startswith("<PII:v1:EMAIL_ADDRESS:subject-42:")
    assert detokenize_value(token, lookup) == "jane@example.com"
    swapped = token.replace("EMAIL_ADDRESS", "PHONE_NUMBER")
    with pytest.raises(TokenError):
        detokenize_value(swapped, lookup)
    tampered = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    with pytest.raises(TokenError):
        detokenize_value(tampered, lookup)


def test_tokenize_operator_and_detokenize_text_with_unicode() -> None:
    keys = {"alice": b"k" * 32, "bob": b"b" * 32}
    text = "😀 José Müller 東京 josé@example.com, 📞 +44 20 7946 0958 ✨"
    email_start = text.index("josé@")
    phone_start = text.index("+44")
    findings = [f("EMAIL_ADDRESS", email_start, email_start + 16), f("PHONE_NUMBER", phone_start, phone_start + 16)]
    operator = Tokenize(keys.__getitem__, key_id=lambda finding, value: "alice" if finding.type == "EMAIL_ADDRESS" else "bob")
    redacted = redact(text, findings, operator)
    assert "josé@example.com" not in redacted and "7946" not in redacted
    assert redacted.startswith("😀 José Müller 東京 <PII:v1:EMAIL_ADDRESS:alice:")
    assert detokenize(redacted, keys.__getitem__) == text


def test_crypto_shredding_makes_tokens_unreadable() -> None:
    keys = {"alice": b"k" * 32}
    token = tokenize_value("+44 20 7946 0958", "PHONE_NUMBER", "alice", keys.__getitem__)
    del keys["alice"]
    with pytest.raises(TokenError, match="no key"):
        detokenize(f"x {token} y", keys.__getitem__)
    assert detokenize(f"x {token} y", keys.__getitem__, strict=False) == f"x {token} y"


def test_token_key_rules() -> None:
    with pytest.raises(TokenError):
        tokenize_value("x", "EMAIL_ADDRESS", "bad id!", static_key_lookup(KEY, "bad id!"))
    with pytest.raises(TokenError):
        tokenize_value("x", "EMAIL_ADDRESS", "default", static_key_lookup(b"short"))


def test_make_operator_by_name() -> None:
    assert isinstance(make_operator("replace"), Replace)
    assert isinstance(make_operator("mask"), Mask)
    assert isinstance(make_operator("hash", key=KEY), KeyedHash)
    assert isinstance(make_operator("tokenize", key=KEY), Tokenize)
    with pytest.raises(ValueError):
        make_operator("hash")
    with pytest.raises(ValueError):
        make_operator("shred")


def test_merge_keeps_union_and_best_type() -> None:
    merged = merge_overlaps(
        [
            f("PHONE_NUMBER", 10, 21, 0.75),
            f("CA_SIN", 10, 21, 0.95),
            f("PERSON", 0, 4, 0.85),
            f("IP_ADDRESS", 30, 45, 0.95),
            f("IP_ADDRESS", 38, 47, 0.95),
            f("EMAIL_ADDRESS", 47, 50, 1.0),  # touching, not overlapping
        ]
    )
    assert [(m.type, m.start, m.end) for m in merged] == [
        ("PERSON", 0, 4),
        ("CA_SIN", 10, 21),
        ("IP_ADDRESS", 30, 47),
        ("EMAIL_ADDRESS", 47, 50),
    ]


def test_merge_prefers_wider_span_on_equal_score_and_is_transitive() -> None:
    merged = merge_overlaps([f("A", 0, 5, 0.9), f("B", 3, 12, 0.9), f("C", 11, 14, 0.5)])
    assert [(m.type, m.start, m.end, m.score) for m in merged] == [("B", 0, 14, 0.9)]


def test_redact_overlaps_leave_no_fragment() -> None:
    text = "id 046 454 286 end"
    out = redact(text, [f("PHONE_NUMBER", 3, 14, 0.75), f("CA_SIN", 3, 10, 0.9)])
    assert out == "id <CA_SIN> end"


def test_finding_validation() -> None:
    with pytest.raises(ValueError):
        Finding("X", 5, 5, 0.5, "r")
    with pytest.raises(ValueError):
        Finding("X", 0, 5, 1.5, "r")
    assert Finding("X", 0, 5, 0.5, "r").to_dict() == {"type": "X", "start": 0, "end": 5, "score": 0.5}
