"""Leaf/content hashes, the hash chain and signed checkpoints (self-consistency checks)."""
from __future__ import annotations

import dataclasses

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.evidence import checkpoint as ck
from services.audit.evidence.hashing import chain_next, chain_over, content_hash, genesis, leaf_hash
from services.kit.security.signing import Signer, TrustStore


def signer(service: str = "audit") -> Signer:
    return Signer(service, Ed25519PrivateKey.generate())


def trust_for(*signers: Signer) -> TrustStore:
    t = TrustStore(directory=__import__("pathlib").Path("/nonexistent-uf-keys"))
    for s in signers:
        t.add(s.key_id, s.private.public_key())
    return t


def entries(n: int, start: int = 0):
    return [ck.Entry(i, 1_700_000_000_000 + i, content_hash(1_700_000_000_000 + i, b"k", b"v%d" % i, [("h", b"x")]))
            for i in range(start, start + n)]


def test_content_hash_covers_every_field_and_distinguishes_none_from_empty():
    base = content_hash(1, b"k", b"v", [("a", b"1")])
    assert content_hash(2, b"k", b"v", [("a", b"1")]) != base
    assert content_hash(1, b"K", b"v", [("a", b"1")]) != base
    assert content_hash(1, b"k", b"V", [("a", b"1")]) != base
    assert content_hash(1, b"k", b"v", [("a", b"2")]) != base
    assert content_hash(1, b"k", b"v", []) != base
    assert content_hash(1, None, b"v", []) != content_hash(1, b"", b"v", [])
    # no ambiguity from concatenation
    assert content_hash(1, b"ab", b"c", []) != content_hash(1, b"a", b"bc", [])


def test_leaf_binds_position():
    c = content_hash(1, b"k", b"v", [])
    assert leaf_hash("t", 0, 5, c) != leaf_hash("t", 0, 6, c)
    assert leaf_hash("t", 0, 5, c) != leaf_hash("t", 1, 5, c)
    assert leaf_hash("t", 0, 5, c) != leaf_hash("u", 0, 5, c)


def test_chain_is_order_sensitive_and_incremental():
    g = genesis("t", 0)
    a, b = leaf_hash("t", 0, 0, b"a" * 32), leaf_hash("t", 0, 1, b"b" * 32)
    assert chain_over(g, [a, b]) == chain_next(chain_next(g, a), b)
    assert chain_over(g, [a, b]) != chain_over(g, [b, a])
    assert genesis("t", 0) != genesis("t", 1)


def test_checkpoint_signs_and_self_checks():
    s = signer()
    es = entries(5, start=10)
    cp = ck.build(topic="t", partition=0, seq=0, entries=es, prev_chain_head=genesis("t", 0),
                  prev_checkpoint_hash=ck.ZERO, created_at=1, signer=s)
    assert (cp.first_offset, cp.last_offset, cp.record_count) == (10, 14, 5)
    assert ck.self_check(cp, trust_for(s)) == []
    assert ck.Checkpoint.from_json(cp.to_json()) == cp
    assert cp.entries() == es


def test_checkpoint_tampering_is_detected():
    s = signer()
    cp = ck.build(topic="t", partition=0, seq=0, entries=entries(4), prev_chain_head=genesis("t", 0),
                  prev_checkpoint_hash=ck.ZERO, created_at=1, signer=s)
    trust = trust_for(s)
    assert "checkpoint signature invalid" in ck.self_check(dataclasses.replace(cp, last_offset=99), trust)
    assert "checkpoint signature invalid" in ck.self_check(dataclasses.replace(cp, merkle_root=bytes(32)), trust)
    other = entries(4)
    other[2] = ck.Entry(2, 0, bytes(32))
    assert "manifest does not match its signed digest" in ck.self_check(dataclasses.replace(cp, manifest=ck.pack_manifest(other)), trust)
    assert ck.self_check(cp, trust_for()) == ["checkpoint signed by an unknown key"]
    intruder = signer("orchestrator")
    forged = ck.build(topic="t", partition=0, seq=0, entries=entries(4), prev_chain_head=genesis("t", 0),
                      prev_checkpoint_hash=ck.ZERO, created_at=1, signer=intruder)
    assert ck.self_check(forged, trust_for(s, intruder)) == ["checkpoint signed by a key that may not sign checkpoints"]


def test_consecutive_checkpoints_link():
    s = signer()
    first = ck.build(topic="t", partition=0, seq=0, entries=entries(3), prev_chain_head=genesis("t", 0),
                     prev_checkpoint_hash=ck.ZERO, created_at=1, signer=s)
    second = ck.build(topic="t", partition=0, seq=1, entries=entries(3, start=3), prev_chain_head=first.chain_head,
                      prev_checkpoint_hash=first.hash, created_at=2, signer=s)
    whole = chain_over(genesis("t", 0), [leaf_hash("t", 0, e.offset, e.content) for e in entries(6)])
    assert second.chain_head == whole
    assert second.prev_checkpoint_hash == first.hash
