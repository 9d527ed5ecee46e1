"""Merkle tree hash and inclusion proofs (RFC 6962/9162 shapes)."""
from __future__ import annotations

import hashlib

import pytest

from services.audit.evidence import merkle


def leaf(i: int) -> bytes:
    return hashlib.sha256(b"\x00" + i.to_bytes(4, "big")).digest()


def reference_root(leaves):
    """RFC 6962 2.1, recursive, straight from the text."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k << 1 < len(leaves):
        k <<= 1
    return hashlib.sha256(b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:])).digest()


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 31, 100])
def test_root_matches_the_rfc_definition(n):
    leaves = [leaf(i) for i in range(n)]
    assert merkle.root(leaves) == reference_root(leaves)


def test_empty_tree_root_is_hash_of_nothing():
    assert merkle.root([]) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 100])
def test_every_leaf_has_a_verifying_inclusion_proof(n):
    leaves = [leaf(i) for i in range(n)]
    r = merkle.root(leaves)
    for i in range(n):
        path = merkle.inclusion_path(leaves, i)
        assert merkle.verify_inclusion(leaves[i], i, n, path, r)


def test_tampered_proofs_fail():
    leaves = [leaf(i) for i in range(13)]
    r = merkle.root(leaves)
    path = merkle.inclusion_path(leaves, 6)
    assert not merkle.verify_inclusion(leaf(99), 6, 13, path, r), "other leaf"
    assert not merkle.verify_inclusion(leaves[6], 7, 13, path, r), "wrong index"
    bad = list(path)
    bad[1] = bytes(32)
    assert not merkle.verify_inclusion(leaves[6], 6, 13, bad, r), "altered sibling"
    assert not merkle.verify_inclusion(leaves[6], 6, 13, path[:-1], r), "truncated path"
    assert not merkle.verify_inclusion(leaves[6], 6, 13, path + [bytes(32)], r), "extended path"
    assert merkle.root_from_path(leaves[6], 13, 13, path) is None


def test_changing_or_reordering_leaves_changes_the_root():
    leaves = [leaf(i) for i in range(10)]
    r = merkle.root(leaves)
    swapped = leaves[:]
    swapped[3], swapped[4] = swapped[4], swapped[3]
    assert merkle.root(swapped) != r
    assert merkle.root(leaves[:9]) != r
