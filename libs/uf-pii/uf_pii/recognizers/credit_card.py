"""CREDIT_CARD: payment card numbers (PAN) with Luhn and issuer checks.

Why both checks: Luhn alone accepts one random digit string in ten, so a
candidate must also start with a known issuer prefix (IIN range) *and* have a
length that issuer uses.  Candidates are maximal runs of digit groups joined
by single spaces/dashes (line breaks count as spaces, so wrapped numbers are
found).  If a whole run fails, only group-aligned *prefixes* are retried
(a card followed by "2025" or a CVV), plus prefixes starting right after a
line break inside the run (CSV rows); arbitrary sub-windows of long
tracking numbers are never tried, which keeps 22-digit USPS numbers clean.
Digits continuing an IBAN-shaped group sequence are never a card, and grouped
numbers must use a printed card layout (4-4-4-4, 4-6-5, ...).
"""

from __future__ import annotations

import re

from uf_pii.checksums import luhn_valid
from uf_pii.context import continues_iban_groups, preceded_by_identifier_label
from uf_pii.finding import Finding
from uf_pii.recognizer import BaseRecognizer
from uf_pii.textview import has_digit_run, has_line_break, structured_view

# (issuer, inclusive IIN ranges, allowed lengths)
ISSUERS: tuple[tuple[str, tuple[tuple[int, int], ...], frozenset[int]], ...] = (
    ("visa", ((4, 4),), frozenset({13, 16, 19})),
    ("mastercard", ((51, 55), (2221, 2720)), frozenset({16})),
    ("amex", ((34, 34), (37, 37)), frozenset({15})),
    ("discover", ((6011, 6011), (644, 649), (65, 65), (622126, 622925)), frozenset(range(16, 20))),
    ("jcb", ((3528, 3589),), frozenset(range(16, 20))),
    ("jcb", ((1800, 1800), (2131, 2131)), frozenset({15})),
    ("diners", ((300, 305), (3095, 3095), (36, 36), (38, 39)), frozenset(range(14, 20))),
    # Maestro: current IINs plus the historical 56-58 and 6390 allocations still in circulation.
    ("maestro", ((5018, 5018), (5020, 5020), (5038, 5038), (56, 58), (5893, 5893), (6304, 6304), (6390, 6390),
                 (6759, 6759), (6761, 6763)), frozenset(range(12, 20))),
    ("unionpay", ((62, 62),), frozenset(range(16, 20))),
    ("mir", ((2200, 2204),), frozenset(range(16, 20))),
)

_RUN = re.compile(r"(?<![0-9A-Za-z.\-_/])[0-9]+(?:[ \-][0-9]+)*")
_GROUP = re.compile(r"[0-9]+")
_BAD_AFTER = re.compile(r"[0-9A-Za-z_]|\.[0-9]")  # glued to a word, or a decimal fraction


def issuer_for(digits: str) -> str | None:
    """Return the issuer whose IIN range and length match ``digits``, else None."""
    for issuer, ranges, lengths in ISSUERS:
        if len(digits) not in lengths:
            continue
        for low, high in ranges:
            width = len(str(low))
            if low <= int(digits[:width]) <= high:
                return issuer
    return None


def plausible_grouping(sizes: list[int]) -> bool:
    """Printed card layouts: 4-4-4-4(-3), 4-6-5 (Amex), 4-6-4 (Diners), 4-4-4-1 ...

    Compact numbers (one group) are always plausible; "302-6642648-4819118"
    (an order-number layout) is not.
    """
    if len(sizes) == 1:
        return True
    return sizes[0] == 4 and all(size in (4, 6) for size in sizes[1:-1]) and 1 <= sizes[-1] <= 6


def is_card_number(value: str) -> bool:
    """Luhn-valid and issued by a known scheme with a matching length."""
    digits = "".join(ch for ch in value if "0" <= ch <= "9")
    return 12 <= len(digits) <= 19 and luhn_valid(digits) and issuer_for(digits) is not None


class CreditCardRecognizer(BaseRecognizer):
    """Detects payment card numbers, spaced, dashed or compact."""

    name = "credit_card"
    type_name = "CREDIT_CARD"
    SCORE = 1.0

    def detect(self, text: str) -> list[Finding]:
        if not has_digit_run(text, 12):
            return []
        view = structured_view(text)
        findings: list[Finding] = []
        for run in _RUN.finditer(view):
            run_start, run_end = run.start(), run.end()
            if run_end - run_start < 12:
                continue
            groups = [(g.start() + run_start, g.end() + run_start) for g in _GROUP.finditer(run.group(0))]
            # A card can start at the run start or right after a line break inside
            # the run (CSV rows: "...,1030\n4111111111111111,...").
            starts = [0] + [
                i for i in range(1, len(groups)) if has_line_break(text[groups[i - 1][1] : groups[i][0]])
            ]
            next_free = 0
            for first in starts:
                if first < next_free:
                    continue
                g_start = groups[first][0]
                if preceded_by_identifier_label(text, g_start) or continues_iban_groups(view, g_start):
                    continue
                last = self._longest_valid_prefix(view, groups, first)
                if last is None:
                    continue
                end = groups[last][1]
                if last == len(groups) - 1 and _BAD_AFTER.match(view, end):
                    continue
                findings.append(self._finding(g_start, end, self.SCORE))
                next_free = last + 1
        return findings

    @staticmethod
    def _longest_valid_prefix(view: str, groups: list[tuple[int, int]], first: int) -> int | None:
        """Index of the last group of the longest group-aligned card number starting at ``first``."""
        digits = ""
        sizes: list[int] = []
        candidates: list[tuple[int, str, list[int]]] = []
        for index in range(first, len(groups)):
            g_start, g_end = groups[index]
            digits += view[g_start:g_end]
            sizes.append(g_end - g_start)
            if len(digits) > 19:
                break
            candidates.append((index, digits, list(sizes)))
        for index, candidate, layout in reversed(candidates):
            if len(candidate) >= 12 and plausible_grouping(layout) and is_card_number(candidate):
                return index
        return None
