"""Checksum and range validators, addressable by name.

Why a name registry: custom enterprise patterns in YAML refer to validators by
string (``validator: luhn``).  Resolving the name at config-load time lets a
typo fail loudly when the service starts instead of silently at scan time.
Every validator takes the *matched text* and normalises it itself (drops
spaces/dashes), so patterns may capture formatted values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

Validator = Callable[[str], bool]

_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")


def digits_only(value: str) -> str:
    """Return only the ASCII digits of ``value`` (separators dropped)."""
    return "".join(ch for ch in value if "0" <= ch <= "9")


def luhn_valid(value: str) -> bool:
    """Luhn (mod 10) check used by payment cards, CA SIN, IMEI.

    Non-digit separators are ignored; an input without digits is invalid.
    """
    digits = digits_only(value)
    if len(digits) < 2:
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _alnum_to_int_string(value: str) -> str:
    """ISO 7064 letter expansion: A=10 ... Z=35, digits unchanged."""
    out = []
    for char in value.upper():
        if char.isdigit():
            out.append(char)
        elif "A" <= char <= "Z":
            out.append(str(ord(char) - 55))
        else:
            raise ValueError(f"invalid character {char!r}")
    return "".join(out)


def mod97_valid(value: str) -> bool:
    """ISO 7064 MOD 97-10 over the alphanumeric characters (e.g. LEI codes).

    The value, with letters expanded to numbers, must be congruent to 1 mod 97.
    Unlike :func:`iban_valid` no characters are rearranged.
    """
    compact = _NON_ALNUM.sub("", value)
    if len(compact) < 3:
        return False
    try:
        return int(_alnum_to_int_string(compact)) % 97 == 1
    except ValueError:
        return False


# SWIFT IBAN registry: country code -> total IBAN length.
IBAN_LENGTHS: Mapping[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}


def iban_checksum_valid(value: str) -> bool:
    """IBAN check digits (ISO 13616): move the first 4 chars to the end, then mod 97 == 1."""
    compact = _NON_ALNUM.sub("", value).upper()
    if len(compact) < 5:
        return False
    try:
        return int(_alnum_to_int_string(compact[4:] + compact[:4])) % 97 == 1
    except ValueError:
        return False


def us_ssn_valid(value: str) -> bool:
    """SSA issuance rules: area not 000/666/900-999, group not 00, serial not 0000."""
    digits = digits_only(value)
    if len(digits) != 9:
        return False
    area, group, serial = int(digits[:3]), int(digits[3:5]), int(digits[5:])
    if area == 0 or area == 666 or area >= 900:
        return False
    return group != 0 and serial != 0


def ca_sin_valid(value: str) -> bool:
    """Canadian SIN: 9 digits, Luhn-valid, first digit not 0 (unassigned) or 8 (business)."""
    digits = digits_only(value)
    return len(digits) == 9 and digits[0] not in "08" and luhn_valid(digits)


_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6), (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4), (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2), (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def verhoeff_valid(value: str) -> bool:
    """Verhoeff dihedral check (used e.g. by Indian Aadhaar numbers)."""
    digits = digits_only(value)
    if len(digits) < 2:
        return False
    check = 0
    for index, char in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[index % 8][ord(char) - 48]]
    return check == 0


VALIDATORS: Mapping[str, Validator] = {
    "luhn": luhn_valid,
    "mod97": mod97_valid,
    "iban": iban_checksum_valid,
    "us_ssn": us_ssn_valid,
    "ca_sin": ca_sin_valid,
    "verhoeff": verhoeff_valid,
}
"""Validators a YAML custom pattern may name.  Add here to expose a new one."""


def get_validator(name: str) -> Validator:
    """Resolve a validator by name; raise ``KeyError`` listing the known names."""
    try:
        return VALIDATORS[name]
    except KeyError:
        known = ", ".join(sorted(VALIDATORS))
        raise KeyError(f"unknown validator {name!r} (known: {known})") from None
