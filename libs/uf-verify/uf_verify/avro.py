"""Just enough Avro to read the bundle's records: CRC-64-AVRO fingerprints of schemas in
Parsing Canonical Form, and a decoder of single-object-encoded bodies against such a schema."""
from __future__ import annotations

import json
import struct
from typing import Any

_EMPTY = 0xC15D213AA4D7A795
_TABLE = []
for _i in range(256):
    _fp = _i
    for _ in range(8):
        _fp = (_fp >> 1) ^ (_EMPTY & -(_fp & 1))
    _TABLE.append(_fp)


def fingerprint(canonical: bytes) -> bytes:
    """CRC-64-AVRO, little-endian, as in the single-object header."""
    fp = _EMPTY
    for b in canonical:
        fp = (fp >> 8) ^ _TABLE[(fp ^ b) & 0xFF]
    return struct.pack("<Q", fp)


class AvroError(ValueError):
    pass


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise AvroError("truncated")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def long(self) -> int:
        shift = result = 0
        while True:
            b = self.take(1)[0]
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return (result >> 1) ^ -(result & 1)
            shift += 7
            if shift > 63:
                raise AvroError("varint too long")


def decode(schema_json: str, body: bytes) -> Any:
    schema = json.loads(schema_json)
    names: dict[str, Any] = {}
    r = _Reader(body)
    value = _read(schema, r, names)
    if r.pos != len(body):
        raise AvroError("trailing bytes after the record")
    return value


def _read(s: Any, r: _Reader, names: dict[str, Any]) -> Any:
    if isinstance(s, str):
        if s in names:
            return _read(names[s], r, names)
        return _primitive(s, r)
    if isinstance(s, list):
        i = r.long()
        if not 0 <= i < len(s):
            raise AvroError("union branch out of range")
        return _read(s[i], r, names)
    t = s["type"]
    if t == "record":
        names[s["name"]] = s
        return {f["name"]: _read(f["type"], r, names) for f in s["fields"]}
    if t == "enum":
        names[s["name"]] = s
        i = r.long()
        if not 0 <= i < len(s["symbols"]):
            raise AvroError("enum index out of range")
        return s["symbols"][i]
    if t == "fixed":
        names[s["name"]] = s
        return r.take(s["size"])
    if t in ("array", "map"):
        out_l: list[Any] = []
        out_m: dict[str, Any] = {}
        while True:
            n = r.long()
            if n == 0:
                break
            if n < 0:
                r.long()  # block size in bytes
                n = -n
            for _ in range(n):
                if t == "array":
                    out_l.append(_read(s["items"], r, names))
                else:
                    k = r.take(r.long()).decode()
                    out_m[k] = _read(s["values"], r, names)
        return out_l if t == "array" else out_m
    return _primitive(t, r)


def _primitive(t: str, r: _Reader) -> Any:
    if t == "null":
        return None
    if t == "boolean":
        return r.take(1) != b"\x00"
    if t in ("int", "long"):
        return r.long()
    if t == "float":
        return struct.unpack("<f", r.take(4))[0]
    if t == "double":
        return struct.unpack("<d", r.take(8))[0]
    if t == "bytes":
        return r.take(r.long())
    if t == "string":
        return r.take(r.long()).decode()
    raise AvroError(f"unknown type {t}")
