"""The hashes the audit trail commits to, written independently of the services (the bundle
format document is the contract; tests check both implementations agree byte for byte)."""
from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

_LEAF = b"\x00uf.audit.leaf.v1"
_CONTENT = b"uf.audit.content.v1"
_CKPT_V1 = b"uf.audit.checkpoint.v1\x00"
_CKPT_V2 = b"uf.audit.checkpoint.v2\x00"
_RECORD_SIG = b"uf.record-signature.v1\x00"


def lp(data: bytes | None) -> bytes:
    """Length-prefixed field; None differs from empty."""
    return b"\x00" if data is None else b"\x01" + struct.pack(">I", len(data)) + data


def content_hash(timestamp: int, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes | None]]) -> bytes:
    h = hashlib.sha256(_CONTENT)
    h.update(struct.pack(">q", int(timestamp)))
    h.update(lp(key))
    h.update(lp(value))
    h.update(struct.pack(">I", len(headers)))
    for name, val in headers:
        h.update(lp(name.encode()))
        h.update(lp(val))
    return h.digest()


def leaf_hash(topic: str, partition: int, offset: int, content: bytes) -> bytes:
    return hashlib.sha256(_LEAF + lp(topic.encode()) + struct.pack(">IQ", partition, offset) + content).digest()


def record_signed_bytes(topic: str, key: bytes | None, value: bytes | None) -> bytes:
    return _RECORD_SIG + lp(topic.encode()) + lp(key) + lp(value)


def checkpoint_signed_bytes(c: dict) -> bytes:
    """The bytes the audit key signs for a checkpoint (fields as in the bundle: hashes in hex)."""
    t, k = c["topic"].encode(), c["key_id"].encode()
    tree = [struct.pack(">Q", c["tree_size"]), bytes.fromhex(c["tree_root"])] if c.get("tree_size") else []
    return b"".join([
        _CKPT_V2 if c.get("tree_size") else _CKPT_V1, struct.pack(">I", len(t)), t,
        struct.pack(">IQQQI", c["partition"], c["seq"], c["first_offset"], c["last_offset"], c["record_count"]),
        *(bytes.fromhex(c[n]) for n in ("merkle_root", "chain_head", "prev_chain_head", "prev_checkpoint_hash", "manifest_sha256")),
        struct.pack(">q", c["created_at"]), struct.pack(">I", len(k)), k, *tree,
    ])


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_path(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """RFC 9162 2.1.3.2: the root implied by an inclusion proof (None if malformed)."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def consistent(m: int, n: int, root_m: bytes, root_n: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 2.1.4.2: the size-n tree extends the size-m tree."""
    if not 0 < m <= n:
        return False
    if m == n:
        return not proof and root_m == root_n
    path = ([root_m] if m & (m - 1) == 0 else []) + list(proof)
    if not path:
        return False
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root_m and sr == root_n and sn == 0
