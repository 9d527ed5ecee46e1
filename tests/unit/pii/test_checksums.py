from __future__ import annotations

import pytest

from uf_pii.checksums import (
    VALIDATORS,
    ca_sin_valid,
    get_validator,
    iban_checksum_valid,
    luhn_valid,
    mod97_valid,
    us_ssn_valid,
    verhoeff_valid,
)


@pytest.mark.parametrize("value", ["4111 1111 1111 1111", "4111-1111-1111-1111", "378282246310005", "79927398713"])
def test_luhn_accepts_valid_numbers(value: str) -> None:
    assert luhn_valid(value)


@pytest.mark.parametrize("value", ["4111 1111 1111 1112", "79927398710", "", "7"])
def test_luhn_rejects_invalid_numbers(value: str) -> None:
    assert not luhn_valid(value)


@pytest.mark.parametrize("value", ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "fr1420041010050500013m02606"])
def test_iban_checksum(value: str) -> None:
    assert iban_checksum_valid(value)


@pytest.mark.parametrize("value", ["DE88 3704 0044 0532 0130 00", "GB82WEST12345698765433", "XX", "DE89 3704 ÄÖ"])
def test_iban_checksum_rejects(value: str) -> None:
    assert not iban_checksum_valid(value)


def test_mod97_iso7064_on_lei() -> None:
    assert mod97_valid("5493001KJTIIGC8Y1R12")  # a real LEI
    assert not mod97_valid("5493001KJTIIGC8Y1R13")


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("123-45-6789", True),
        ("001-01-0001", True),
        ("899-99-9999", True),
        ("000-12-3456", False),
        ("666-12-3456", False),
        ("900-12-3456", False),
        ("999-12-3456", False),
        ("123-00-4567", False),
        ("123-45-0000", False),
        ("12-345-678", False),
    ],
)
def test_us_ssn_ranges(value: str, ok: bool) -> None:
    assert us_ssn_valid(value) is ok


def test_ca_sin_luhn_and_prefix() -> None:
    assert ca_sin_valid("130 692 544")
    assert not ca_sin_valid("130 692 545")  # Luhn
    assert not ca_sin_valid("046 454 286")  # 0xx is never assigned
    assert not ca_sin_valid("12345678")


def test_verhoeff() -> None:
    assert verhoeff_valid("2363")
    assert not verhoeff_valid("2364")


def test_validator_registry_by_name() -> None:
    assert set(VALIDATORS) >= {"luhn", "mod97", "iban", "us_ssn", "ca_sin", "verhoeff"}
    assert get_validator("luhn") is luhn_valid
    with pytest.raises(KeyError, match="unknown validator 'crc32'"):
        get_validator("crc32")
