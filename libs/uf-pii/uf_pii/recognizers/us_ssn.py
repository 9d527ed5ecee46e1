"""US_SSN: US Social Security Numbers in SSA-valid ranges.

Why range checks: an SSN has no checksum, so the only structural signal is
the SSA issuance rules (area 001-665/667-899, group 01-99, serial
0001-9999).  Delimited forms (123-45-6789, 123 45 6789, 123.45.6789) are
distinctive enough on their own; a bare nine-digit run is only reported when
SSN context ("SSN", "social security", "ss#") is nearby, because otherwise it
is indistinguishable from an order or account number.
"""

from __future__ import annotations

import re

from uf_pii.checksums import us_ssn_valid
from uf_pii.recognizers._national_id import NationalIdRecognizer

_DELIMITED = re.compile(r"(?<![0-9A-Za-z.\-/_])([0-9]{3})([\- .])([0-9]{2})\2([0-9]{4})(?![0-9A-Za-z\-/_]|\.[0-9])")
_BARE = re.compile(r"(?<![0-9A-Za-z.\-/_])[0-9]{9}(?![0-9A-Za-z\-/_]|\.[0-9])")
CONTEXT = ("ssn", "ssns", "social security", "ss#", "ss #", "ss no", "soc sec", "social sec", "ssn#", "tin")
# A bare nine-digit run must be *labelled* as an SSN right before it:
# "SSN 123456789", "ssn=123456789", '"ssn": "123456789"', "social security number is 123456789".
LABEL = re.compile(
    r"(?:(?<![a-z])ssn|social[\s_-]*security(?:[\s_-]*(?:number|no\.?|nr\.?|#))?|ss#|soc\.?\s*sec\.?(?:\s*no\.?)?)"
    r"[\"']?\s*(?:is|was|of|:|=|#|-)?\s*[\"']?\s*[:=]?\s*[\"']?\s*$",
    re.IGNORECASE,
)


class UsSsnRecognizer(NationalIdRecognizer):
    """Detects US SSNs; undelimited ones only with context."""

    name = "us_ssn"
    type_name = "US_SSN"
    DELIMITED, BARE, LABEL, CONTEXT = _DELIMITED, _BARE, LABEL, CONTEXT
    BARE_WITH_CONTEXT_SCORE = 0.8
    valid = staticmethod(us_ssn_valid)
