"""Avro single-object encoding (spec: `C3 01` + 8-byte little-endian CRC-64-AVRO fingerprint + body).

Plain Avro, so a Java or Go producer writes it with its stock Avro library
(`BinaryMessageEncoder` in Java) and no code from this project.
Errors never carry field *values*: those may be PII.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError, validate

from services.kit.contracts.catalog import Catalog, CatalogError, SchemaVersion, default_catalog

MAGIC = b"\xc3\x01"
HEADER_LEN = 10


class CodecError(Exception):
    """Base: the bytes or the record cannot be (de)serialised. `reason` is a stable code."""

    reason = "codec-error"


class NotSingleObjectEncoded(CodecError):
    reason = "bad-magic"


class UnknownFingerprint(CodecError):
    reason = "unknown-fingerprint"


class UndecodableBody(CodecError):
    reason = "undecodable-body"


class InvalidRecord(CodecError):
    reason = "schema-invalid"


@dataclass(frozen=True)
class Decoded:
    event_type: str
    writer_version: int
    record: dict[str, Any]

    @property
    def envelope(self) -> dict[str, Any]:
        envelope: dict[str, Any] = self.record["envelope"]
        return envelope


def _field_paths(exc: ValidationError) -> str:
    names = sorted({str(getattr(e, "field", "") or "?") for e in getattr(exc, "errors", [])})
    return ", ".join(names) or "?"


def encode(record: dict[str, Any], catalog: Catalog | None = None) -> bytes:
    """Encode with the latest schema of `record["envelope"]["event_type"]`."""
    catalog = catalog or default_catalog()
    try:
        event_type = record["envelope"]["event_type"]
        sv: SchemaVersion = catalog.latest(event_type)
    except (KeyError, TypeError, CatalogError) as exc:
        raise InvalidRecord(f"record has no known envelope.event_type: {exc.__class__.__name__}") from None
    # Not "write, and validate only on failure": the writer silently coerces ("yes" -> true,
    # 1.5 -> 1); validation is strict and its errors name fields, never values.
    # The yes/no validation first: fastavro's verdict is the same either way, but with
    # raise_errors=True it tries a union's branches by raising, and each ValidationError
    # JSON-formats the value it refused (indent=2) - on every nullable field of every valid
    # record. That was 10 % of the orchestrator's profile samples (docs/benchmarks.md, seventh pass). Only a
    # record that fails is validated again, to name its fields.
    if not validate(record, sv.parsed, raise_errors=False):
        try:
            validate(record, sv.parsed, raise_errors=True)
        except ValidationError as exc:
            raise InvalidRecord(f"{sv.key}: invalid fields: {_field_paths(exc)}") from None
        raise InvalidRecord(f"{sv.key}: invalid fields: ?")  # fastavro disagreed with itself: still refused
    buf = io.BytesIO()
    buf.write(MAGIC)
    buf.write(sv.fingerprint)
    schemaless_writer(buf, sv.parsed, record)
    return buf.getvalue()


def decode(data: bytes | None, catalog: Catalog | None = None) -> Decoded:
    """Decode any known version, resolved to the latest version of its type."""
    catalog = catalog or default_catalog()
    if not data or len(data) < HEADER_LEN or data[:2] != MAGIC:
        raise NotSingleObjectEncoded("not Avro single-object encoded (missing C3 01 header)")
    writer = catalog.by_fingerprint.get(bytes(data[2:HEADER_LEN]))
    if writer is None:
        raise UnknownFingerprint(f"unknown schema fingerprint {bytes(data[2:HEADER_LEN]).hex()}")
    reader = catalog.latest(writer.event_type)
    body = io.BytesIO(data[HEADER_LEN:])
    try:
        if reader is writer:
            record = schemaless_reader(body, writer.parsed)
        else:
            record = schemaless_reader(body, writer.parsed, reader.parsed)
    except Exception as exc:  # fastavro raises many types on corrupt input
        raise UndecodableBody(f"{writer.key}: body does not decode ({exc.__class__.__name__})") from None
    if body.tell() != len(data) - HEADER_LEN:
        raise UndecodableBody(f"{writer.key}: trailing bytes after the record")
    if not isinstance(record, dict) or record.get("envelope", {}).get("event_type") != writer.event_type:
        raise UndecodableBody(f"{writer.key}: envelope.event_type does not match the schema")
    return Decoded(writer.event_type, writer.version, record)
