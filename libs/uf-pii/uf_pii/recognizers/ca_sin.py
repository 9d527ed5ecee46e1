"""CA_SIN: Canadian Social Insurance Numbers (Luhn-checked).

Why: a SIN is nine digits with a Luhn check digit; valid SINs never start
with 0 (unassigned) or 8 (business numbers).  Grouped forms (046 454 286,
046-454-286) are accepted on the checksum; a bare nine-digit run must be
labelled right before it ("SIN", "social insurance number", French "NAS")
because one random nine-digit number in ten passes Luhn.
"""

from __future__ import annotations

import re

from uf_pii.checksums import ca_sin_valid
from uf_pii.recognizers._national_id import NationalIdRecognizer

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
FIELD_LABEL = re.compile(r"(?:^|\s)(?:sin|social insurance(?: number| no)?|nas)(?:\s|$)")


class CaSinRecognizer(NationalIdRecognizer):
    """Detects Canadian SINs; undelimited ones only with context."""

    name = "ca_sin"
    type_name = "CA_SIN"
    DELIMITED, BARE, LABEL, FIELD_LABEL, CONTEXT = _DELIMITED, _BARE, LABEL, FIELD_LABEL, CONTEXT
    VALIDATION = "Luhn"
    BARE_WITH_CONTEXT_SCORE = 0.85
    valid = staticmethod(ca_sin_valid)
