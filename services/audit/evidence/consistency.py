"""Consistency between checkpoints, as in Certificate Transparency: every v2 checkpoint signs the
RFC 6962 tree over *all* records of its partition so far (size, root), and a consistency proof
shows that each signed tree extends the one signed before it. Whoever holds two signed roots (an
auditor's bundle, a witness) can check with O(log n) hashes that history was only appended to -
no record before the older checkpoint was changed, dropped or reordered since."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.audit.evidence import merkle
from services.audit.evidence.checkpoint import Checkpoint
from services.audit.evidence.hashing import leaf_hash


@dataclass(frozen=True)
class ConsistencyProof:
    from_seq: int
    to_seq: int
    from_size: int
    to_size: int
    hashes: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {"from_seq": self.from_seq, "to_seq": self.to_seq, "from_size": self.from_size, "to_size": self.to_size,
                "proof": [h.hex() for h in self.hashes]}


def partition_leaves(cps: Sequence[Checkpoint]) -> list[bytes] | None:
    """Every leaf attested by a contiguous sequence from seq 0 (None on a gap)."""
    leaves: list[bytes] = []
    for n, cp in enumerate(cps):
        if cp.seq != n:
            return None
        leaves += [leaf_hash(cp.topic, cp.partition, e.offset, e.content) for e in cp.entries()]
    return leaves


def check_trees(cps: Sequence[Checkpoint]) -> tuple[list[dict[str, Any]], list[ConsistencyProof]]:
    """(problems, proofs between consecutive v2 checkpoints). The signed whole-tree root of each
    checkpoint is recomputed from the manifests before it, and each pair's consistency proof is
    generated and checked. Sequence gaps are reported by the sequence check, not here."""
    leaves = partition_leaves(cps)
    if leaves is None:
        return [], []
    index = merkle.TreeIndex(leaves)
    problems: list[dict[str, Any]] = []
    proofs: list[ConsistencyProof] = []
    size = 0
    prev: Checkpoint | None = None
    for cp in cps:
        size += cp.record_count
        if not cp.tree_size:
            continue
        if cp.tree_size != size or index.root(0, size) != cp.tree_root:
            problems.append({"seq": cp.seq, "problem": "whole-tree root does not match the records attested up to it"})
            prev = None
            continue
        if prev is not None:
            hashes = index.subproof(prev.tree_size, 0, cp.tree_size, True)
            if not merkle.verify_consistency(prev.tree_size, cp.tree_size, prev.tree_root, cp.tree_root, hashes):
                problems.append({"seq": cp.seq, "problem": "does not extend the previous checkpoint (consistency proof fails)"})
            proofs.append(ConsistencyProof(prev.seq, cp.seq, prev.tree_size, cp.tree_size, tuple(hashes)))
        prev = cp
    return problems, proofs
