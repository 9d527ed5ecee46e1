"""A checkpoint: the audit service's signed statement "partition P of topic T held exactly these
records, in this order, from first_offset to last_offset".

It carries the Merkle root of the range's leaves (for inclusion proofs), the hash-chain value
before and after the range (so consecutive checkpoints link up), the hash of the previous
checkpoint (so a deleted or altered checkpoint breaks the sequence) and a *manifest*: per
record (offset, timestamp, content hash). The manifest is what lets the verifier say *which*
record was modified, deleted, inserted or moved, not only that a root differs; its SHA-256 is
inside the signed bytes, so a manifest edited in a store does not pass either.
"""
from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from services.audit.evidence import merkle
from services.audit.evidence.hashing import chain_over, leaf_hash
from services.kit.security.signing import Signer, TrustStore, ed25519_verify

_DOMAIN = b"uf.audit.checkpoint.v1\x00"
_DOMAIN_V2 = b"uf.audit.checkpoint.v2\x00"  # v1 + the partition's whole tree (size, root)
_ENTRY = struct.Struct(">Qq32s")  # offset, timestamp, content hash
ZERO = b"\x00" * 32


@dataclass(frozen=True)
class Entry:
    offset: int
    timestamp: int
    content: bytes


def pack_manifest(entries: Sequence[Entry]) -> bytes:
    return b"".join(_ENTRY.pack(e.offset, e.timestamp, e.content) for e in entries)


def unpack_manifest(data: bytes) -> list[Entry]:
    if len(data) % _ENTRY.size:
        raise ValueError("manifest length is not a whole number of entries")
    return [Entry(o, t, c) for o, t, c in _ENTRY.iter_unpack(data)]


@dataclass(frozen=True)
class Checkpoint:
    topic: str
    partition: int
    seq: int
    first_offset: int
    last_offset: int
    record_count: int
    merkle_root: bytes
    chain_head: bytes
    prev_chain_head: bytes
    prev_checkpoint_hash: bytes
    manifest_sha256: bytes
    created_at: int
    key_id: str
    signature: bytes = b""
    manifest: bytes = b""
    # The RFC 6962 tree over every record of the partition up to last_offset (v2): consecutive
    # checkpoints are linked by consistency proofs, as in Certificate Transparency. 0 = v1.
    tree_size: int = 0
    tree_root: bytes = b""

    @property
    def checkpoint_id(self) -> str:
        return f"{self.topic}:{self.partition}:{self.seq}"

    def signed_bytes(self) -> bytes:
        t = self.topic.encode()
        k = self.key_id.encode()
        tree = [struct.pack(">Q", self.tree_size), self.tree_root] if self.tree_size else []
        domain = _DOMAIN_V2 if self.tree_size else _DOMAIN
        return b"".join([
            domain, struct.pack(">I", len(t)), t, struct.pack(">IQQQI", self.partition, self.seq, self.first_offset,
                                                              self.last_offset, self.record_count),
            self.merkle_root, self.chain_head, self.prev_chain_head, self.prev_checkpoint_hash, self.manifest_sha256,
            struct.pack(">q", self.created_at), struct.pack(">I", len(k)), k, *tree,
        ])

    @property
    def hash(self) -> bytes:
        """What the next checkpoint of the partition names as its predecessor."""
        return hashlib.sha256(self.signed_bytes()).digest()

    def entries(self) -> list[Entry]:
        return unpack_manifest(self.manifest)

    # --- serialisation for the out-of-band stores (JSON) and the Kafka event (Avro) ---
    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for name in ("merkle_root", "chain_head", "prev_chain_head", "prev_checkpoint_hash", "manifest_sha256", "signature",
                     "tree_root"):
            d[name] = d[name].hex()
        d["manifest"] = base64.b64encode(self.manifest).decode()
        d["checkpoint_id"] = self.checkpoint_id
        d["checkpoint_hash"] = self.hash.hex()
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Checkpoint:
        return cls(
            topic=str(d["topic"]), partition=int(d["partition"]), seq=int(d["seq"]), first_offset=int(d["first_offset"]),
            last_offset=int(d["last_offset"]), record_count=int(d["record_count"]),
            merkle_root=bytes.fromhex(d["merkle_root"]), chain_head=bytes.fromhex(d["chain_head"]),
            prev_chain_head=bytes.fromhex(d["prev_chain_head"]), prev_checkpoint_hash=bytes.fromhex(d["prev_checkpoint_hash"]),
            manifest_sha256=bytes.fromhex(d["manifest_sha256"]), created_at=int(d["created_at"]), key_id=str(d["key_id"]),
            signature=bytes.fromhex(d.get("signature", "")), manifest=base64.b64decode(d.get("manifest", "")),
            tree_size=int(d.get("tree_size") or 0), tree_root=bytes.fromhex(d.get("tree_root") or ""),
        )

    @classmethod
    def from_event(cls, rec: dict[str, Any]) -> Checkpoint:
        """From the AuditCheckpoint event (the Kafka copy)."""
        fields = {k: v for k, v in rec.items() if k not in ("envelope", "checkpoint_id", "manifest")}
        return cls.from_json({**fields, "manifest": base64.b64encode(rec["manifest"]).decode()})


def build(*, topic: str, partition: int, seq: int, entries: Sequence[Entry], prev_chain_head: bytes,
          prev_checkpoint_hash: bytes, created_at: int, signer: Signer,
          tree: merkle.Frontier | None = None) -> Checkpoint:
    """Checkpoint over `entries` (in log order), signed. With `tree` (the partition's frontier
    before these entries; it is extended in place) the checkpoint also signs the whole tree."""
    if not entries:
        raise ValueError("a checkpoint covers at least one record")
    leaves = [leaf_hash(topic, partition, e.offset, e.content) for e in entries]
    manifest = pack_manifest(entries)
    if tree is not None:
        for leaf in leaves:
            tree.append(leaf)
    unsigned = Checkpoint(
        topic=topic, partition=partition, seq=seq, first_offset=entries[0].offset, last_offset=entries[-1].offset,
        record_count=len(entries), merkle_root=merkle.root(leaves), chain_head=chain_over(prev_chain_head, leaves),
        prev_chain_head=prev_chain_head, prev_checkpoint_hash=prev_checkpoint_hash,
        manifest_sha256=hashlib.sha256(manifest).digest(), created_at=created_at, key_id=signer.key_id, manifest=manifest,
        tree_size=tree.size if tree is not None else 0, tree_root=tree.root() if tree is not None else b"")
    return replace(unsigned, signature=signer.sign(unsigned.signed_bytes()))


def tree_of(cps: Sequence[Checkpoint]) -> merkle.Frontier | None:
    """The partition's frontier after `cps` (every checkpoint from seq 0, in order), rebuilt from
    their manifests; None when the sequence has a gap or a signed tree root does not match."""
    tree = merkle.Frontier()
    for n, cp in enumerate(cps):
        if cp.seq != n:
            return None
        for e in cp.entries():
            tree.append(leaf_hash(cp.topic, cp.partition, e.offset, e.content))
        if cp.tree_size and (cp.tree_size != tree.size or cp.tree_root != tree.root()):
            return None
    return tree


def signature_problem(cp: Checkpoint, trust: TrustStore, allowed_signers: Sequence[str] = ("audit",)) -> str:
    """"" when the checkpoint is signed by a trusted key of an allowed signer, else the problem."""
    pub = trust.get(cp.key_id)
    if pub is None:
        return "checkpoint signed by an unknown key"
    if allowed_signers and cp.key_id.rsplit("-", 1)[0] not in allowed_signers:
        return "checkpoint signed by a key that may not sign checkpoints"
    if not ed25519_verify(trust.raw(cp.key_id, pub), cp.signature, cp.signed_bytes()):
        return "checkpoint signature invalid"
    return ""


def self_check(cp: Checkpoint, trust: TrustStore, allowed_signers: Sequence[str] = ("audit",)) -> list[str]:
    """Problems with a checkpoint on its own: signature, manifest vs root/chain/count/offsets.
    Empty list = consistent and signed by a trusted audit key."""
    problems: list[str] = []
    sig_problem = signature_problem(cp, trust, allowed_signers)
    if sig_problem:
        problems.append(sig_problem)
    if hashlib.sha256(cp.manifest).digest() != cp.manifest_sha256:
        problems.append("manifest does not match its signed digest")
        return problems
    try:
        entries = cp.entries()
    except ValueError:
        problems.append("manifest malformed")
        return problems
    if len(entries) != cp.record_count or not entries:
        problems.append("manifest entry count differs from record_count")
        return problems
    offsets = [e.offset for e in entries]
    if offsets[0] != cp.first_offset or offsets[-1] != cp.last_offset or any(b <= a for a, b in zip(offsets, offsets[1:])):
        problems.append("manifest offsets not strictly increasing within [first_offset, last_offset]")
    leaves = [leaf_hash(cp.topic, cp.partition, e.offset, e.content) for e in entries]
    if merkle.root(leaves) != cp.merkle_root:
        problems.append("Merkle root does not match the manifest")
    if chain_over(cp.prev_chain_head, leaves) != cp.chain_head:
        problems.append("chain head does not match the manifest")
    return problems
