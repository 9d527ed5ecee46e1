"""Context-word scoring shared by built-in and custom recognizers.

Why: a bare 9-digit number is only an SSN if the text says so, and a
10-digit number right after "Order #" is an order number even when it is also
a dialable phone number.  Recognizers ask these helpers about the words around
a candidate instead of each re-implementing windowing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from uf_pii.checksums import IBAN_LENGTHS

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)

# A label that says "the number that follows is an identifier, not PII".
# Anchored at the end of the left context, so "Call the order desk at 415 ..."
# is unaffected while "Order #4155550132" / "tracking no: 7749..." are caught.
_IDENTIFIER_LABEL = re.compile(
    r"(?:(?<![a-z])(?:order|orders|tracking|track|invoice|inv|ref|reference|ticket|case|sku|po|"
    r"shipment|parcel|package|awb|waybill|confirmation|booking|transaction|txn|serial|part|"
    r"model|build|version|ver|release|rev|revision|item|product|article|batch|lot|"
    r"ean|upc|isbn|imei|job|request|req|pr|issue|bug|account|acct|member|membership|policy|contract|"
    r"customer|client|user|record|device|session|kunden|kundennummer|(?<!caller )(?<!caller-)id)"
    r"[\"']?\s*(?:no\.?|nr\.?|num\.?|number|id|code|#)?(?:(?:\s+[a-z]+){0,3}\s+(?:is|was|reads))?"
    r"[\"']?\s*[:#=]?\s*[\"']?\s*|#\s*)$",
    re.IGNORECASE,
)


def label_before(text: str, start: int, labels: re.Pattern[str]) -> bool:
    """True when ``labels`` (a pattern anchored with ``$``) ends right before ``start``."""
    return labels.search(text[max(0, start - 40) : start]) is not None


def left_context(text: str, start: int, chars: int = 40) -> str:
    """The ``chars`` characters before ``start`` (lower-cased)."""
    return text[max(0, start - chars) : start].lower()


def right_context(text: str, end: int, chars: int = 40) -> str:
    """The ``chars`` characters after ``end`` (lower-cased)."""
    return text[end : end + chars].lower()


_PHONE_WORD_BEFORE_HASH = re.compile(r"(?:phone|tel|telephone|fax|mobile|cell|whatsapp|sms)\.?\s*$", re.IGNORECASE)
_IBAN_GROUPS_BEFORE = re.compile(r"(?<![0-9A-Za-z])([A-Za-z]{2})[0-9]{2}(?: [0-9A-Za-z]{4})* $")


_DELIMITED_ROW = re.compile(r"\t|,\S|;\S|\|")


def _wrapped_prose(text: str, newline: int) -> bool:
    """True when the line ending at ``newline`` is prose hard-wrapped there ("... Case\n432315794"),
    not a table row or header, whose last cell labels nothing on the next line."""
    line_start = max(text.rfind("\n", 0, newline), text.rfind("\r", 0, newline)) + 1
    line = text[line_start:newline]
    return bool(line.strip()) and _DELIMITED_ROW.search(line) is None


def preceded_by_identifier_label(text: str, start: int) -> bool:
    """True when the span follows e.g. ``"Order #"``, ``"tracking no:"``, ``"ref="`` on the same line.

    The label must be on the same line: in CSV the previous line is a header
    ("...,order\n4111 1111 1111 1111,...") and labels nothing.  Pass the
    original text (not a view with line breaks replaced).
    """
    left = text[max(0, start - 32) : start]
    cut = max(left.rfind("\n"), left.rfind("\r"))
    if cut >= 0:
        if left[cut + 1 :].strip(" \t>") == "" and _wrapped_prose(text, start - len(left) + cut):
            left = left[:cut] + " "  # the label ends the wrapped line above (its "> " quote marker dropped)
        else:
            left = left[cut + 1 :]
    match = _IDENTIFIER_LABEL.search(left)
    if match is None:
        return False
    # A bare "#" is an identifier marker ("#4155550132") unless it follows a
    # phone word ("Phone # 415-555-0132").
    return not (match.group(0).startswith("#") and _PHONE_WORD_BEFORE_HASH.search(left[: match.start()]))


def continues_iban_groups(view: str, start: int) -> bool:
    """True when the span continues a space-grouped IBAN-shaped value ("NL12 VUSO 2734 ...").

    Digit groups after "CC00 XXXX " are the rest of an account number (often a
    mistyped IBAN), not a separate phone or card number.
    """
    match = _IBAN_GROUPS_BEFORE.search(view[max(0, start - 48) : start])
    if match is None:
        return False
    expected = IBAN_LENGTHS.get(match.group(1).upper())
    have = sum(1 for ch in match.group(0) if ch.isalnum())
    # A complete IBAN followed by another number (e.g. the next CSV row) is not a continuation.
    return expected is None or have < expected


def _phrase_present(phrases: Iterable[str], words: set[str], around: str) -> bool:
    return bool(_phrase_hits(phrases, words, around, first=True))


def _phrase_hits(phrases: Iterable[str], words: set[str], around: str, *, first: bool = False) -> tuple[str, ...]:
    hits: list[str] = []
    for phrase in phrases:
        phrase = phrase.lower()
        if " " in phrase or not phrase.isalnum():
            found = phrase in around
        else:
            found = phrase in words
        if found:
            hits.append(phrase)
            if first:
                break
    return tuple(hits)


def context_hits(
    text: str, start: int, end: int, phrases: Iterable[str], window: int = 40, *,
    left: int | None = None, right: int | None = None,
) -> tuple[str, ...]:
    """The ``phrases`` found within the window around the span (what an explanation reports)."""
    around = left_context(text, start, window if left is None else left) + " " + right_context(
        text, end, window if right is None else right)
    words = {match.group(0) for match in _WORD.finditer(around)}
    return _phrase_hits(phrases, words, around)


def adjust_score(
    score: float,
    text: str,
    start: int,
    end: int,
    raise_words: Iterable[str] = (),
    lower_words: Iterable[str] = (),
    *,
    window: int = 40,
    boost: float = 0.35,
    penalty: float = 0.35,
) -> float:
    """Raise/lower ``score`` when context words appear near the span.

    Single words match whole words; multi-word phrases (or ones with
    punctuation, e.g. ``"ss#"``) match as substrings of the lower-cased window.
    The result is clamped to [0, 1].
    """
    raise_words = tuple(raise_words)
    lower_words = tuple(lower_words)
    if not raise_words and not lower_words:
        return score
    around = left_context(text, start, window) + " " + right_context(text, end, window)
    words = {match.group(0) for match in _WORD.finditer(around)}
    if raise_words and _phrase_present(raise_words, words, around):
        score += boost
    if lower_words and _phrase_present(lower_words, words, around):
        score -= penalty
    return min(1.0, max(0.0, score))
