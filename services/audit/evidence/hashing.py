"""Leaf and chain hashes of audited records: what the checkpoints attest and verify recomputes.

A record's *content hash* covers what the producer wrote (timestamp, key, value, headers); its
*leaf hash* binds that content to its place in the log (topic, partition, offset). Keeping the
two apart lets the verifier recognise a record that moved (same content, other offset) instead
of only seeing that a hash changed. Every field is length-prefixed so no two different records
encode to the same bytes; None differs from empty.
"""
from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

HASH_LEN = 32
_LEAF = b"\x00uf.audit.leaf.v1"  # 0x00 / 0x01 prefixes: RFC 6962 leaf / node domain separation
_CONTENT = b"uf.audit.content.v1"
_CHAIN = b"uf.audit.chain.v1"
_GENESIS = b"uf.audit.genesis.v1"


def _lp(data: bytes | None) -> bytes:
    if data is None:
        return b"\x00"
    return b"\x01" + struct.pack(">I", len(data)) + data


def content_hash(timestamp: int, key: bytes | None, value: bytes | None,
                 headers: Sequence[tuple[str, bytes | None]] | None) -> bytes:
    """SHA-256 over the producer-written part of a record (headers in order, signature included)."""
    h = hashlib.sha256(_CONTENT)
    h.update(struct.pack(">q", int(timestamp)))
    h.update(_lp(key))
    h.update(_lp(value))
    hs = list(headers or ())
    h.update(struct.pack(">I", len(hs)))
    for name, val in hs:
        h.update(_lp(name.encode()))
        h.update(_lp(val))
    return h.digest()


def leaf_hash(topic: str, partition: int, offset: int, content: bytes) -> bytes:
    """The Merkle leaf of one record: its content hash at its position in the log."""
    return hashlib.sha256(_LEAF + _lp(topic.encode()) + struct.pack(">IQ", partition, offset) + content).digest()


def genesis(topic: str, partition: int) -> bytes:
    """Chain value before a partition's first record."""
    return hashlib.sha256(_GENESIS + _lp(topic.encode()) + struct.pack(">I", partition)).digest()


def chain_next(previous: bytes, leaf: bytes) -> bytes:
    """Running hash chain: each value commits to every leaf before it, in order."""
    return hashlib.sha256(_CHAIN + previous + leaf).digest()


def chain_over(start: bytes, leaves: Sequence[bytes]) -> bytes:
    head = start
    for leaf in leaves:
        head = chain_next(head, leaf)
    return head
