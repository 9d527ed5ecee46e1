"""A record's *content hash*: SHA-256 over what its producer wrote (timestamp, key, value, headers
in order, signature included), every field length-prefixed so no two different records encode to
the same bytes (None differs from empty).

It is what the audit checkpoints attest per record (services/audit/evidence/hashing.py builds the
leaf and chain hashes on it) and what a review attestation names as the content reviewed, so the
orchestrator (which checks attestations) and the audit trail compute it with one function."""
from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

_CONTENT = b"uf.audit.content.v1"


def lp(data: bytes | None) -> bytes:
    if data is None:
        return b"\x00"
    return b"\x01" + struct.pack(">I", len(data)) + data


def content_hash(timestamp: int, key: bytes | None, value: bytes | None,
                 headers: Sequence[tuple[str, bytes | None]] | None) -> bytes:
    """SHA-256 over the producer-written part of a record (headers in order, signature included)."""
    h = hashlib.sha256(_CONTENT)
    h.update(struct.pack(">q", int(timestamp)))
    h.update(lp(key))
    h.update(lp(value))
    hs = list(headers or ())
    h.update(struct.pack(">I", len(hs)))
    for name, val in hs:
        h.update(lp(name.encode()))
        h.update(lp(val))
    return h.digest()
