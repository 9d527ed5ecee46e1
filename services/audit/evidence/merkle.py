"""Merkle tree hash and inclusion proofs over leaf hashes, as in RFC 6962/9162 (section 2.1):
node = SHA-256(0x01 || left || right), split at the largest power of two below n. The leaves
are already domain-separated (hashing.leaf_hash starts with 0x00)."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly less than n (n >= 2)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]). Iterative (bottom-up, promoting odd nodes), equal to the recursive definition."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        nxt = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def inclusion_path(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]): sibling hashes from the leaf up to the root."""
    n = len(leaves)
    if not 0 <= index < n:
        raise IndexError("leaf index outside the tree")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return inclusion_path(leaves[:k], index) + [root(leaves[k:])]
    return inclusion_path(leaves[k:], index - k) + [root(leaves[:k])]


def root_from_path(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """The root implied by a leaf and its audit path (RFC 9162 2.1.3.2); None if the path has
    the wrong shape for (index, size)."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes], expected_root: bytes) -> bool:
    return root_from_path(leaf, index, size, path) == expected_root


def consistency_proof(leaves: Sequence[bytes], m: int, index: TreeIndex | None = None) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 2.1.4.1: the hashes that show the tree over the first m leaves
    is a prefix of the tree over all n - a signed checkpoint of size n extends one of size m.
    Pass a TreeIndex over the same leaves to share subtree roots between many proofs."""
    n = len(leaves)
    if not 0 < m <= n:
        raise ValueError("consistency proof needs 0 < m <= n")
    idx = index or TreeIndex(leaves)
    return idx.subproof(m, 0, n, True)


class TreeIndex:
    """Subtree roots of one leaf list, memoised by range: proofs for many (m, n) pairs over a
    growing partition reuse the aligned perfect subtrees, so each costs ~log^2 n new hashes."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = leaves
        self._cache: dict[tuple[int, int], bytes] = {}

    def root(self, lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return self.leaves[lo]
        got = self._cache.get((lo, hi))
        if got is None:
            k = _split(hi - lo)
            got = _node(self.root(lo, lo + k), self.root(lo + k, hi))
            self._cache[(lo, hi)] = got
        return got

    def subproof(self, m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if complete else [self.root(lo, hi)]
        k = _split(n)
        if m <= k:
            return self.subproof(m, lo, lo + k, complete) + [self.root(lo + k, hi)]
        return self.subproof(m - k, lo + k, hi, False) + [self.root(lo, lo + k)]


def verify_consistency(m: int, n: int, root_m: bytes, root_n: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 2.1.4.2: does `proof` show that the size-m tree with root_m is a prefix of the
    size-n tree with root_n?"""
    if not 0 < m <= n:
        return False
    if m == n:
        return not proof and root_m == root_n
    path = list(proof)
    if m & (m - 1) == 0:  # m is a power of two: the old root is itself a node of the new tree
        path = [root_m] + path
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
            fr, sr = _node(c, fr), _node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root_m and sr == root_n and sn == 0


class Frontier:
    """The right edge of a growing Merkle tree: the roots of its perfect subtrees, largest first
    (one per set bit of the size). O(log n) state gives the root of everything appended so far,
    so the checkpointer can sign the whole partition's tree without keeping its leaves."""

    def __init__(self) -> None:
        self.size = 0
        self.peaks: list[tuple[int, bytes]] = []  # (subtree size, root)

    def append(self, leaf: bytes) -> None:
        node, size = leaf, 1
        while self.peaks and self.peaks[-1][0] == size:
            left = self.peaks.pop()[1]
            node, size = _node(left, node), size * 2
        self.peaks.append((size, node))
        self.size += 1

    def copy(self) -> Frontier:
        other = Frontier()
        other.size, other.peaks = self.size, list(self.peaks)
        return other

    def root(self) -> bytes:
        if not self.peaks:
            return EMPTY_ROOT
        acc = self.peaks[-1][1]
        for _, h in reversed(self.peaks[:-1]):
            acc = _node(h, acc)
        return acc
