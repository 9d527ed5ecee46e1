"""US_SSN: US Social Security Numbers in SSA-valid ranges.

Why range checks: an SSN has no checksum, so the only structural signal is
the SSA issuance rules (area 001-665/667-899, group 01-99, serial
0001-9999).  Delimited forms (123-45-6789, 123 45 6789, 123.45.6789) are
distinctive enough on their own; a bare nine-digit run needs evidence - a label
right before it, the column header / JSON key of its field, or SSN words
within a window (see :mod:`._national_id`).  Individual taxpayer numbers
(ITIN, 9xx) fail the SSA ranges, so "tax id" context only ever yields SSNs.
"""

from __future__ import annotations

import re

from uf_pii.checksums import us_ssn_valid
from uf_pii.recognizers._national_id import NationalIdRecognizer

_DELIMITED = re.compile(r"(?<![0-9A-Za-z.\-/_])([0-9]{3})([\- .])([0-9]{2})\2([0-9]{4})(?![0-9A-Za-z\-/_]|\.[0-9])")
_BARE = re.compile(r"(?<![0-9A-Za-z.\-/_])[0-9]{9}(?![0-9A-Za-z\-/_]|\.[0-9])")
CONTEXT = ("ssn", "ssns", "social security", "ss#", "ss #", "ss no", "soc sec", "social sec", "ssn#", "tin",
           "tax id", "taxpayer", "tax identification", "tax-id",
           # the same words in the languages of our customers' mail (German, French, Spanish)
           "sozialversicherungsnummer", "sozialversicherung", "sécurité sociale", "securite sociale", "seguro social")
# A bare nine-digit run labelled as an SSN right before it:
# "SSN 123456789", "ssn=123456789", '"ssn": "123456789"', "social security number is 123456789".
LABEL = re.compile(
    r"(?:(?<![a-z])ssn|social[\s_-]*security(?:[\s_-]*(?:number|no\.?|nr\.?|#))?|ss#|soc\.?\s*sec\.?(?:\s*no\.?)?|"
    r"tax[\s_-]*id(?:entification)?(?:[\s_-]*(?:number|no\.?))?(?:\s+on\s+file)?|(?<![a-z])tin|"
    r"sozialversicherungs(?:nummer|nr\.?)|s[ée]curit[ée] sociale(?: am[ée]ricain(?:e)?)?|seguro social)"
    # then a verb or punctuation, or the dotted leader of a printed form ("Social Security No. ..... ")
    r"[\"']?[\s.…_]*(?:is|was|of|lautet|ist|est|es|:|=|#|-)?\s*[\"']?\s*[:=]?\s*[\"']?\s*$",
    re.IGNORECASE,
)
# Normalised field labels (see uf_pii.structure.normalize_label) that name an SSN.
FIELD_LABEL = re.compile(r"(?:^|\s)(?:ssn|social sec(?:urity)?(?: number| no)?|tax id(?:entification)?(?: number)?|taxpayer(?: id)?|tin)(?:\s|$)")


class UsSsnRecognizer(NationalIdRecognizer):
    """Detects US SSNs; undelimited ones only with evidence."""

    name = "us_ssn"
    type_name = "US_SSN"
    DELIMITED, BARE, LABEL, FIELD_LABEL, CONTEXT = _DELIMITED, _BARE, LABEL, FIELD_LABEL, CONTEXT
    VALIDATION = "SSA area/group/serial ranges"
    BARE_WITH_CONTEXT_SCORE = 0.85
    valid = staticmethod(us_ssn_valid)
