"""Shared detection for nine-digit national identifiers (US SSN, Canadian SIN).

Why one routine: both are "delimited forms stand on their own, bare nine-digit runs only when
labelled right before them", and differ only in their validity check, patterns, context words
and scores - which subclasses set as class attributes.
"""

from __future__ import annotations

import re
from typing import ClassVar

from uf_pii.context import has_context, label_before, preceded_by_identifier_label
from uf_pii.finding import Finding
from uf_pii.recognizer import BaseRecognizer
from uf_pii.textview import has_digit, structured_view


class NationalIdRecognizer(BaseRecognizer):
    DELIMITED: ClassVar[re.Pattern[str]]
    BARE: ClassVar[re.Pattern[str]]
    LABEL: ClassVar[re.Pattern[str]]
    CONTEXT: ClassVar[tuple[str, ...]]
    DELIMITED_SCORE: ClassVar[float] = 0.85
    BARE_WITH_CONTEXT_SCORE: ClassVar[float] = 0.85
    CONTEXT_BOOST: ClassVar[float] = 0.1

    @staticmethod
    def valid(value: str) -> bool:
        raise NotImplementedError

    def detect(self, text: str) -> list[Finding]:
        if not has_digit(text, 9):
            return []
        view = structured_view(text)
        findings: list[Finding] = []
        for match in self.DELIMITED.finditer(view):
            if not self.valid(match.group(0)) or preceded_by_identifier_label(view, match.start()):
                continue
            score = self.DELIMITED_SCORE
            if has_context(view, match.start(), match.end(), self.CONTEXT):
                score += self.CONTEXT_BOOST
            findings.append(self._finding(match.start(), match.end(), score))
        for match in self.BARE.finditer(view):
            if self.valid(match.group(0)) and label_before(view, match.start(), self.LABEL):
                findings.append(self._finding(match.start(), match.end(), self.BARE_WITH_CONTEXT_SCORE))
        return findings

