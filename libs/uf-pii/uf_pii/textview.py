"""Offset-preserving normalisation of text before pattern matching.

Why: PII is often wrapped across lines or separated by tabs / no-break spaces
("4111 1111\\n1111 1111", "+44 20 7946\\n0958").  Recognizers match against a
*view* in which those characters are replaced one-for-one by a plain space.
Because every replacement is a single code point for a single code point, an
index into the view is the same index into the original text, so findings
never need remapping (and stay right on emoji/CJK).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache

_LINE_BREAKS = "\n\r\v\f\u2028\u2029"
_SPACE_LIKE = "\t\u00a0\u2007\u2009\u202f\u3000"
# Look-alikes that PDFs, word processors and phones put into numbers and addresses: hyphen,
# non-breaking hyphen, figure dash, en dash, minus sign, small and fullwidth hyphen-minus ("201‑555‑0147"
# copied from a PDF); fullwidth and small commercial at ("jane＠example.com").
_DASH_LIKE = "\u2010\u2011\u2012\u2013\u2212\ufe63\uff0d"
_AT_LIKE = "\uff20\ufe6b"
_LOOKALIKES = {**{ord(ch): "-" for ch in _DASH_LIKE}, **{ord(ch): "@" for ch in _AT_LIKE}}
_TABLE = {ord(ch): " " for ch in _SPACE_LIKE + _LINE_BREAKS} | _LOOKALIKES
_LINE_TABLE = {ord(ch): " " for ch in _SPACE_LIKE} | _LOOKALIKES
# Quote markers of a reply at the start of a line ("> ", ">> ", "> > "): a value wrapped inside a
# quoted block continues after them, so they are read as spaces.
_QUOTE_PREFIX = re.compile(r"(?m)(?:^|(?<=\n))[ \t]*(?:>[ \t]?)+")


def _unquoted(text: str) -> str:
    if ">" not in text or (not text.startswith(">") and "\n>" not in text and "\n >" not in text):
        return text
    return _QUOTE_PREFIX.sub(lambda m: " " * (m.end() - m.start()), text)


@lru_cache(maxsize=16)
def structured_view(text: str) -> str:
    """Return ``text`` with line breaks, exotic spaces and reply quote markers turned into ``" "``
    and dash/at look-alikes into ASCII.

    ``len(structured_view(t)) == len(t)`` always holds.
    """
    return _unquoted(text).translate(_TABLE)


def line_view(text: str) -> str:
    """Like :func:`structured_view` but keeps line breaks (for line-oriented data such as CSV)."""
    return _unquoted(text).translate(_LINE_TABLE)


_CELL_TABLE = {**_LINE_TABLE, ord("\t"): "\n"}


def cell_view(text: str) -> str:
    """Like :func:`line_view` but a tab ends a cell like a line break does (TSV cells stay apart)."""
    return _unquoted(text).translate(_CELL_TABLE)


_LINE_BREAK = re.compile(f"[{_LINE_BREAKS}]")


def has_line_break(text: str) -> bool:
    """True when ``text`` contains any line-break character (one C-level search, not a Python
    loop over the characters: asked on every log line)."""
    return _LINE_BREAK.search(text) is not None


_DROP_DIGITS = {ord(ch): None for ch in "0123456789"}


def has_digit(text: str, minimum: int = 1) -> bool:
    """Cheap pre-filter: does ``text`` contain at least ``minimum`` ASCII digits?

    Counted once per text with one C-level ``str.translate`` (no Python loop over characters) and
    cached: every structured recognizer asks this first, on every log line.
    """
    return _digit_count(text) >= minimum


@lru_cache(maxsize=16)
def _digit_count(text: str) -> int:
    return len(text) - len(text.translate(_DROP_DIGITS))


_CLUSTER = re.compile(r"[0-9](?:[ \-.()/\n\r\t\u00a0\u202f\u2010-\u2013\u2212>]{0,3}[0-9])*")


@lru_cache(maxsize=16)
def longest_digit_run(text: str) -> int:
    """Digits in the longest run of digits joined by at most three separator characters.

    Phone numbers, national ids and cards all need such a run (7, 9 and 12 digits); a typical
    log line has none, so one C-level regex pass shared by every recognizer (cached per text)
    lets them all return at once.
    """
    best = 0
    for match in _CLUSTER.finditer(text):
        value = match.group(0)
        if len(value) > best:  # a run has at least as many characters as digits
            best = max(best, len(value.translate(_DROP_SEPARATORS)))
    return best


_DROP_SEPARATORS = {ord(ch): None for ch in " -.()/\n\r\t\u00a0\u202f\u2010\u2011\u2012\u2013\u2212>"}


def has_digit_run(text: str, minimum: int) -> bool:
    """True when ``text`` holds a run of at least ``minimum`` digits (see :func:`longest_digit_run`)."""
    return has_digit(text, minimum) and longest_digit_run(text) >= minimum


# A line break inside a quoted reply, with the quote markers and spaces of the next line: in the
# offset-preserving views it becomes a run of spaces ("591 01\n> 6463" reads "591 01   6463"),
# which no grouped-number pattern accepts as one separator.
_QUOTED_BREAK = re.compile(r"[ \t]*\n[ \t]*(?:>[ \t]?)+[ \t]*(?=\S)")


class JoinedQuote:
    """A quoted reply with each line's quote markers removed, and the map back to the original.

    Why a second, shorter text (the only non-offset-preserving view): a value hard-wrapped inside a
    quoted reply ("S.S.N.: 591 01\\n> 6463", "paid with 3792\\n> 270488 05875") reads, once the
    markers are gone, exactly as the same value wrapped in unquoted text, which every recognizer
    already handles.  The engine scans this text too and maps the findings back.
    """

    __slots__ = ("text", "_compact", "_original")

    def __init__(self, text: str, compact: list[int], original: list[int]) -> None:
        self.text = text
        self._compact = compact
        self._original = original

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a ``[start, end)`` span of :attr:`text` back to the original string."""
        i = bisect_right(self._compact, start) - 1
        j = bisect_right(self._compact, end - 1) - 1
        return self._original[i] + start - self._compact[i], self._original[j] + end - self._compact[j]


def joined_quote(text: str) -> JoinedQuote | None:
    """:class:`JoinedQuote` of ``text``, or ``None`` when no line after the first is quoted."""
    if "\n>" not in text and "\n >" not in text:
        return None
    parts: list[str] = []
    compact = [0]
    original = [0]
    pos = 0  # position in the original
    length = 0  # length of the joined text so far
    for match in _QUOTED_BREAK.finditer(text):
        parts.append(text[pos : match.start()])
        length += match.start() - pos
        parts.append("\n")
        length += 1
        pos = match.end()
        compact.append(length)
        original.append(pos)
    if pos == 0:
        return None
    parts.append(text[pos:])
    return JoinedQuote("".join(parts), compact, original)
