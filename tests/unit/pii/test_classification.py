from __future__ import annotations

import pytest

from uf_pii import DataClass, Finding, classify


def _f(type_name: str) -> Finding:
    return Finding(type_name, 0, 1, 0.9, "t")


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        ([], DataClass.PUBLIC),
        (["LOCATION"], DataClass.INTERNAL),
        (["IP_ADDRESS", "LOCATION"], DataClass.INTERNAL),
        (["EMAIL_ADDRESS"], DataClass.CONFIDENTIAL),
        (["PHONE_NUMBER", "IP_ADDRESS"], DataClass.CONFIDENTIAL),
        (["PERSON", "LOCATION"], DataClass.CONFIDENTIAL),
        (["CREDIT_CARD"], DataClass.RESTRICTED),
        (["US_SSN", "PERSON"], DataClass.RESTRICTED),
        (["CA_SIN"], DataClass.RESTRICTED),
        (["IBAN_CODE", "IP_ADDRESS"], DataClass.RESTRICTED),
        (["SOMETHING_NEW"], DataClass.CONFIDENTIAL),
    ],
)
def test_rule_table(types: list[str], expected: DataClass) -> None:
    assert classify([_f(t) for t in types]) is expected


def test_levels_override_and_names() -> None:
    assert classify([_f("EMPLOYEE_ID")], {"EMPLOYEE_ID": DataClass.INTERNAL}) is DataClass.INTERNAL
    assert str(DataClass.RESTRICTED) == "RESTRICTED" and DataClass.RESTRICTED.name == "RESTRICTED"
    assert DataClass.parse("confidential") is DataClass.CONFIDENTIAL
    with pytest.raises(ValueError):
        DataClass.parse("TOP_SECRET")
