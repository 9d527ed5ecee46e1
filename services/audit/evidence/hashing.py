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

from services.kit.contracts.record_hash import content_hash
from services.kit.contracts.record_hash import lp as _lp

__all__ = ["HASH_LEN", "chain_next", "chain_over", "content_hash", "genesis", "leaf_hash"]

HASH_LEN = 32
_LEAF = b"\x00uf.audit.leaf.v1"  # 0x00 / 0x01 prefixes: RFC 6962 leaf / node domain separation
_CHAIN = b"uf.audit.chain.v1"
_GENESIS = b"uf.audit.genesis.v1"


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
