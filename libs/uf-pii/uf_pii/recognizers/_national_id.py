"""Shared detection for nine-digit national identifiers (US SSN, Canadian SIN).

Why one routine: both are "delimited forms stand on their own, bare nine-digit runs only when
the text says what they are", and differ only in their validity check, patterns, context words
and scores - which subclasses set as class attributes.

A bare nine-digit run is as likely an account, order or reference number as an identifier, so
it is reported only with evidence, strongest first:

1. a label right before it ("SSN 123456789", ``ssn=123456789``);
2. structural context: the CSV/TSV column header or JSON key of the field it sits in
   (``ssn``, ``tax_id``, ``taxpayerId``; see :mod:`uf_pii.structure`);
3. context words within a window around it ("entered 123456789 in the SSN field", "Tax ID on
   file: ...", "You have my SSN. Is it still 123456789?").

Its score carries that evidence, so when the phone recognizer also accepts the same digits as a
national number, the merge keeps the type the context supports (an SSN with SSN words beats a
phone number without phone words, and the phone finding is named as overruled).
"""

from __future__ import annotations

import re
from typing import ClassVar

from uf_pii.context import context_hits, label_before, preceded_by_identifier_label
from uf_pii.finding import Finding
from uf_pii.recognizer import BaseRecognizer
from uf_pii.structure import field_at
from uf_pii.textview import has_digit_run, structured_view


class NationalIdRecognizer(BaseRecognizer):
    DELIMITED: ClassVar[re.Pattern[str]]
    BARE: ClassVar[re.Pattern[str]]
    LABEL: ClassVar[re.Pattern[str]]
    FIELD_LABEL: ClassVar[re.Pattern[str]]
    CONTEXT: ClassVar[tuple[str, ...]]
    VALIDATION: ClassVar[str] = ""
    DELIMITED_SCORE: ClassVar[float] = 0.85
    BARE_WITH_CONTEXT_SCORE: ClassVar[float] = 0.85
    BARE_IN_WINDOW_SCORE: ClassVar[float] = 0.8
    CONTEXT_BOOST: ClassVar[float] = 0.1
    WINDOW_LEFT: ClassVar[int] = 100
    WINDOW_RIGHT: ClassVar[int] = 40
    version = "2.1.0"

    @staticmethod
    def valid(value: str) -> bool:
        raise NotImplementedError

    def detect(self, text: str) -> list[Finding]:
        if not has_digit_run(text, 9):
            return []
        view = structured_view(text)
        findings: list[Finding] = []
        for match in self.DELIMITED.finditer(view):
            if not self.valid(match.group(0)) or preceded_by_identifier_label(view, match.start()):
                continue
            hits = context_hits(view, match.start(), match.end(), self.CONTEXT)
            score = self.DELIMITED_SCORE + (self.CONTEXT_BOOST if hits else 0.0)
            findings.append(self._finding(match.start(), match.end(), score, pattern_name="delimited",
                                          pattern=self.DELIMITED.pattern, original_score=self.DELIMITED_SCORE,
                                          context=hits, validation=self.VALIDATION))
        for match in self.BARE.finditer(view):
            start, end = match.start(), match.end()
            if not self.valid(match.group(0)):
                continue
            if label_before(view, start, self.LABEL):
                findings.append(self._finding(start, end, self.BARE_WITH_CONTEXT_SCORE, pattern_name="bare, labelled",
                                              pattern=self.LABEL.pattern, original_score=0.0,
                                              context=("label",), validation=self.VALIDATION,
                                              why="a label names the value right before it"))
                continue
            field = field_at(text, start, end)
            if field is not None and self.FIELD_LABEL.search(field.label):
                findings.append(self._finding(start, end, self.BARE_WITH_CONTEXT_SCORE, pattern_name="bare, in field",
                                              pattern=self.FIELD_LABEL.pattern, original_score=0.0,
                                              context=(f"field:{field.label}",), validation=self.VALIDATION,
                                              why="its column header / key names it"))
                continue
            if field is not None and field.end - field.start <= end - start + 2:
                continue  # the field holds just this number and its header names something else
            if preceded_by_identifier_label(text, start):
                continue
            hits = context_hits(view, start, end, self.CONTEXT, left=self.WINDOW_LEFT, right=self.WINDOW_RIGHT)
            if hits:
                findings.append(self._finding(start, end, self.BARE_IN_WINDOW_SCORE, pattern_name="bare, context window",
                                              pattern=self.BARE.pattern, original_score=0.0, context=hits,
                                              validation=self.VALIDATION,
                                              why=f"context words within {self.WINDOW_LEFT}/{self.WINDOW_RIGHT} chars"))
        return findings
