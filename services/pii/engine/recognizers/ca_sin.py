"""CA_SIN: Canadian Social Insurance Numbers (Luhn-checked).

Why: a SIN is nine digits with a Luhn check digit; valid SINs never start
with 0 (unassigned) or 8 (business numbers).  Grouped forms (046 454 286,
046-454-286) are accepted on the checksum; a bare nine-digit run must be
labelled right before it ("SIN", "social insurance number", French "NAS")
because one random nine-digit number in ten passes Luhn.
"""

from __future__ import annotations

import re

from ..checksums import ca_sin_valid
from ..context import has_context, label_before, preceded_by_identifier_label
from ..finding import Finding
from ..recognizer import BaseRecognizer
from ..textview import has_digit, structured_view

_DELIMITED = re.compile(r"(?<![0-9A-Za-z.\-/_])([0-9]{3})([\- ])([0-9]{3})\2([0-9]{3})(?![0-9A-Za-z\-/_]|\.[0-9])")
_BARE = re.compile(r"(?<![0-9A-Za-z.\-/_])[0-9]{9}(?![0-9A-Za-z\-/_]|\.[0-9])")
CONTEXT = (
    "sin", "social insurance", "insurance number", "nas", "assurance sociale",
    "numéro d'assurance sociale", "sin#", "sin no",
)
# A bare nine-digit run must be labelled as a SIN right before it.
LABEL = re.compile(
    r"(?:(?<![a-z])sin|social[\s_-]*insurance(?:[\s_-]*(?:number|no\.?|nr\.?|#))?|(?<![a-z])nas|"
    r"assurance[\s_-]*sociale)"
    r"[\"']?\s*(?:is|was|of|:|=|#|-)?\s*[\"']?\s*[:=]?\s*[\"']?\s*$",
    re.IGNORECASE,
)


class CaSinRecognizer(BaseRecognizer):
    """Detects Canadian SINs; undelimited ones only with context."""

    name = "ca_sin"
    type_name = "CA_SIN"

    DELIMITED_SCORE = 0.85
    BARE_WITH_CONTEXT_SCORE = 0.85
    CONTEXT_BOOST = 0.1

    def detect(self, text: str) -> list[Finding]:
        if not has_digit(text, 9):
            return []
        view = structured_view(text)
        findings: list[Finding] = []
        for match in _DELIMITED.finditer(view):
            if not ca_sin_valid(match.group(0)) or preceded_by_identifier_label(view, match.start()):
                continue
            score = self.DELIMITED_SCORE
            if has_context(view, match.start(), match.end(), CONTEXT):
                score += self.CONTEXT_BOOST
            findings.append(self._finding(match.start(), match.end(), score))
        for match in _BARE.finditer(view):
            if ca_sin_valid(match.group(0)) and label_before(view, match.start(), LABEL):
                findings.append(self._finding(match.start(), match.end(), self.BARE_WITH_CONTEXT_SCORE))
        return findings
