"""Data classification of a payload from its findings.

Why a fixed table: downstream systems (storage tiering, retention, export
controls, log routing) need one label per payload, and auditors need to see
exactly how it is derived.  The rule is "the most sensitive type present
wins"; the per-type levels are:

=====================  ==============  =========================================
Finding type           Level           Reason
=====================  ==============  =========================================
CREDIT_CARD            RESTRICTED      PCI-DSS cardholder data
US_SSN                 RESTRICTED      national identifier, identity theft risk
CA_SIN                 RESTRICTED      national identifier, identity theft risk
IBAN_CODE              RESTRICTED      financial account identifier
EMAIL_ADDRESS          CONFIDENTIAL    directly identifies / contacts a person
PHONE_NUMBER           CONFIDENTIAL    directly identifies / contacts a person
PERSON                 CONFIDENTIAL    names a data subject
STREET_ADDRESS         CONFIDENTIAL    locates / contacts a person directly
LOCATION               INTERNAL        quasi-identifier only in combination
IP_ADDRESS             INTERNAL        quasi-identifier only in combination
(custom type)          from YAML       ``classification:`` of the pattern
(any other type)       CONFIDENTIAL    unknown PII is treated as personal data
(no findings)          PUBLIC
=====================  ==============  =========================================

So "LOCATION and IP only" is INTERNAL, any of card/SSN/SIN/IBAN makes the
payload RESTRICTED, and a payload with no findings is PUBLIC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum

from uf_pii.finding import Finding


class DataClass(IntEnum):
    """Ordered sensitivity levels; a larger value is more sensitive."""

    PUBLIC = 0
    INTERNAL = 1
    CONFIDENTIAL = 2
    RESTRICTED = 3

    def __str__(self) -> str:
        return self.name

    @classmethod
    def parse(cls, value: str) -> DataClass:
        """Case-insensitive lookup by name (used for YAML ``classification:``)."""
        try:
            return cls[value.strip().upper()]
        except (KeyError, AttributeError):
            names = ", ".join(m.name for m in cls)
            raise ValueError(f"unknown classification {value!r} (known: {names})") from None


DEFAULT_LEVELS: Mapping[str, DataClass] = {
    "CREDIT_CARD": DataClass.RESTRICTED,
    "US_SSN": DataClass.RESTRICTED,
    "CA_SIN": DataClass.RESTRICTED,
    "IBAN_CODE": DataClass.RESTRICTED,
    "EMAIL_ADDRESS": DataClass.CONFIDENTIAL,
    "PHONE_NUMBER": DataClass.CONFIDENTIAL,
    "PERSON": DataClass.CONFIDENTIAL,
    "STREET_ADDRESS": DataClass.CONFIDENTIAL,
    "LOCATION": DataClass.INTERNAL,
    "IP_ADDRESS": DataClass.INTERNAL,
}


def classify(
    findings: Iterable[Finding],
    levels: Mapping[str, DataClass] | None = None,
    unknown: DataClass = DataClass.CONFIDENTIAL,
) -> DataClass:
    """Most sensitive level among ``findings`` (PUBLIC when there are none).

    ``levels`` overrides/extends :data:`DEFAULT_LEVELS` (e.g. custom types).
    """
    table = dict(DEFAULT_LEVELS)
    if levels:
        table.update(levels)
    result = DataClass.PUBLIC
    for finding in findings:
        level = table.get(finding.type, unknown)
        if level > result:
            result = level
            if result is DataClass.RESTRICTED:
                break
    return result
