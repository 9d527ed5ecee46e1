"""IBAN_CODE: International Bank Account Numbers (ISO 13616).

Why a length table: the check digits (mod 97) already reject typos, but the
per-country length is what tells us where a *grouped* IBAN ends
("DE89 3704 0044 0532 0130 00 and then ..." must not swallow "and").  We
read exactly the country's length worth of characters, allowing single spaces
between them (line breaks count as spaces), then require a word boundary.
Lower-case input is accepted and validated upper-cased.
"""

from __future__ import annotations

import re

from uf_pii.checksums import IBAN_LENGTHS, iban_checksum_valid
from uf_pii.finding import Finding
from uf_pii.recognizer import BaseRecognizer
from uf_pii.textview import has_digit, structured_view

_START = re.compile(r"(?<![0-9A-Za-z])([A-Za-z]{2})([0-9]{2})")


def is_iban(value: str) -> bool:
    """Known country, exact length and valid mod-97 check digits."""
    compact = "".join(ch for ch in value if ch.isalnum()).upper()
    return IBAN_LENGTHS.get(compact[:2]) == len(compact) and iban_checksum_valid(compact)


class IbanRecognizer(BaseRecognizer):
    """Detects IBANs in compact or space-grouped form."""

    name = "iban"
    type_name = "IBAN_CODE"
    SCORE = 1.0
    version = "1.1.0"  # 1.1: wrapped groups inside a quoted reply

    def detect(self, text: str) -> list[Finding]:
        if not has_digit(text, 8) or _START.search(text) is None:  # the view changes no letter or digit
            return []
        view = structured_view(text)
        findings: list[Finding] = []
        for match in _START.finditer(view):
            length = IBAN_LENGTHS.get(match.group(1).upper())
            if length is None:
                continue
            end = self._read_body(view, match.end(), length - 4)
            if end is not None and is_iban(view[match.start() : end]):
                findings.append(self._finding(match.start(), end, self.SCORE))
        return findings

    @staticmethod
    def _read_body(view: str, pos: int, needed: int) -> int | None:
        """Consume ``needed`` alphanumerics (single space/dash separators allowed); return end or None."""
        n = len(view)
        got = 0
        while got < needed and pos < n:
            char = view[pos]
            if char.isascii() and char.isalnum():
                got += 1
                pos += 1
            elif char in " -":
                # One separator, or a wrapped line's break plus its reply quote marker ("\n> " reads
                # as three spaces in the view).
                step = 1
                while step < 4 and pos + step < n and view[pos + step] == " ":
                    step += 1
                if not (pos + step < n and view[pos + step].isascii() and view[pos + step].isalnum()):
                    return None
                pos += step
            else:
                return None
        if got < needed:
            return None
        if pos < n and view[pos].isascii() and view[pos].isalnum():
            return None
        return pos
