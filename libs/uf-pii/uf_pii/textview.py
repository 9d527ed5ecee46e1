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
from functools import lru_cache

_LINE_BREAKS = "\n\r\v\f\u2028\u2029"
_SPACE_LIKE = "\t\u00a0\u2007\u2009\u202f\u3000"
_TABLE = {ord(ch): " " for ch in _SPACE_LIKE + _LINE_BREAKS}
_LINE_TABLE = {ord(ch): " " for ch in _SPACE_LIKE}


@lru_cache(maxsize=16)
def structured_view(text: str) -> str:
    """Return ``text`` with line breaks and exotic spaces turned into ``" "``.

    ``len(structured_view(t)) == len(t)`` always holds.
    """
    return text.translate(_TABLE)


def line_view(text: str) -> str:
    """Like :func:`structured_view` but keeps line breaks (for line-oriented data such as CSV)."""
    return text.translate(_LINE_TABLE)


_CELL_TABLE = {**_LINE_TABLE, ord("\t"): "\n"}


def cell_view(text: str) -> str:
    """Like :func:`line_view` but a tab ends a cell like a line break does (TSV cells stay apart)."""
    return text.translate(_CELL_TABLE)


def has_line_break(text: str) -> bool:
    """True when ``text`` contains any line-break character."""
    return any(ch in _LINE_BREAKS for ch in text)


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


_CLUSTER = re.compile(r"[0-9](?:[ \-.()/\n\r\t\u00a0]{0,3}[0-9])*")


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


_DROP_SEPARATORS = {ord(ch): None for ch in " -.()/\n\r\t\u00a0"}


def has_digit_run(text: str, minimum: int) -> bool:
    """True when ``text`` holds a run of at least ``minimum`` digits (see :func:`longest_digit_run`)."""
    return has_digit(text, minimum) and longest_digit_run(text) >= minimum
