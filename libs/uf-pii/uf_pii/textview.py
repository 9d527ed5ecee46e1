"""Offset-preserving normalisation of text before pattern matching.

Why: PII is often wrapped across lines or separated by tabs / no-break spaces
("4111 1111\\n1111 1111", "+44 20 7946\\n0958").  Recognizers match against a
*view* in which those characters are replaced one-for-one by a plain space.
Because every replacement is a single code point for a single code point, an
index into the view is the same index into the original text, so findings
never need remapping (and stay right on emoji/CJK).
"""

from __future__ import annotations

_LINE_BREAKS = "\n\r\v\f\u2028\u2029"
_SPACE_LIKE = "\t\u00a0\u2007\u2009\u202f\u3000"
_TABLE = {ord(ch): " " for ch in _SPACE_LIKE + _LINE_BREAKS}
_LINE_TABLE = {ord(ch): " " for ch in _SPACE_LIKE}


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


def has_digit(text: str, minimum: int = 1) -> bool:
    """Cheap pre-filter: does ``text`` contain at least ``minimum`` ASCII digits?"""
    if minimum <= 1:
        return any("0" <= ch <= "9" for ch in text)
    count = 0
    for ch in text:
        if "0" <= ch <= "9":
            count += 1
            if count >= minimum:
                return True
    return False
