"""Inclusion proofs: "this event is record R of partition P, and R is leaf i of the Merkle tree
whose root the audit service signed in checkpoint C". The proof carries no record content
(only its content hash), so it can be handed to a third party; `check_proof` needs nothing but
the proof and the audit service's public key."""
from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition
from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import NotFoundError

from services.audit.evidence import merkle
from services.audit.evidence.checkpoint import Checkpoint, signature_problem
from services.audit.evidence.hashing import content_hash, leaf_hash
from services.audit.live.checkpoint_store import CheckpointStore
from services.kit.messaging import logreader
from services.kit.security.signing import TrustStore


class ProofError(Exception):
    """No proof can be made (unknown event, not yet checkpointed, record gone). No PII in messages."""


async def locate(es: AsyncOpenSearch, alias: str, event_id: str) -> tuple[str, int, int]:
    try:
        res = await es.search(index=alias, body={"query": {"term": {"event_id": event_id}}}, size=1)
    except NotFoundError:
        raise ProofError("no audit index yet") from None
    hits = res["hits"]["hits"]
    if not hits:
        raise ProofError(f"event {event_id!r} is not in the audit trail")
    src = hits[0]["_source"]
    return src["topic"], int(src["partition"]), int(src["offset"])


async def make_proof(*, bootstrap: str, es: AsyncOpenSearch, alias: str, store: CheckpointStore,
                     event_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
    topic, partition, offset = await locate(es, alias, event_id)
    cp = await store.find(topic, partition, offset)
    if cp is None:
        raise ProofError("the event's record is not covered by a checkpoint yet (retry in a few seconds)")
    tp = TopicPartition(topic, partition)
    consumer = logreader.new_consumer(bootstrap)
    await consumer.start()
    try:
        now: dict[int, bytes] = {}
        async for batch in logreader.read_batches(consumer, [tp], start={tp: cp.first_offset},
                                                  end={tp: cp.last_offset + 1}, timeout_s=timeout_s):
            for m in batch.get(tp, []):
                now[m.offset] = content_hash(m.timestamp, m.key, m.value, m.headers or ())
    finally:
        await consumer.stop()
    manifest = cp.entries()
    offsets = [e.offset for e in manifest]
    if offset not in offsets:
        raise ProofError("the checkpoint covering the offset does not list the record")
    missing = [o for o in offsets if o not in now]
    if missing:
        raise ProofError(f"{len(missing)} record(s) of the checkpointed range are gone from the log (run `ufctl audit verify`)")
    leaves = [leaf_hash(topic, partition, o, now[o]) for o in offsets]
    index = offsets.index(offset)
    attested = manifest[index].content
    signed = {k: v for k, v in cp.to_json().items() if k != "manifest"}
    return {
        "version": 1, "event_id": event_id, "topic": topic, "partition": partition, "offset": offset,
        "content_hash": now[offset].hex(), "leaf": leaves[index].hex(), "leaf_index": index, "tree_size": len(leaves),
        "audit_path": [h.hex() for h in merkle.inclusion_path(leaves, index)],
        "root": merkle.root(leaves).hex(), "checkpoint": signed,
        "record_matches_attested": now[offset] == attested,
    }


def check_proof(proof: dict[str, Any], trust: TrustStore) -> tuple[bool, list[str]]:
    """Verify a proof on its own. Returns (ok, failed checks)."""
    failed: list[str] = []
    try:
        cp = Checkpoint.from_json({**proof["checkpoint"], "manifest": ""})
        leaf = leaf_hash(proof["topic"], int(proof["partition"]), int(proof["offset"]), bytes.fromhex(proof["content_hash"]))
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        index, size = int(proof["leaf_index"]), int(proof["tree_size"])
        claimed_root, claimed_leaf = bytes.fromhex(proof["root"]), bytes.fromhex(proof["leaf"])
    except (KeyError, TypeError, ValueError):
        return False, ["proof is malformed"]
    if leaf != claimed_leaf:
        failed.append("leaf does not match (topic, partition, offset, content hash)")
    if (cp.topic, cp.partition) != (proof["topic"], int(proof["partition"])):
        failed.append("checkpoint is for another partition")
    if not cp.first_offset <= int(proof["offset"]) <= cp.last_offset:
        failed.append("offset outside the checkpoint's range")
    if size != cp.record_count:
        failed.append("tree size differs from the checkpoint's record count")
    implied = merkle.root_from_path(leaf, index, size, path)
    if implied is None or implied != cp.merkle_root:
        failed.append("audit path does not lead to the checkpoint's Merkle root")
    if claimed_root != cp.merkle_root:
        failed.append("stated root differs from the checkpoint's")
    problem = signature_problem(cp, trust)
    if problem:
        failed.append(problem)
    if proof.get("record_matches_attested") is False:
        failed.append("the record in the log differs from what was attested")
    return not failed, failed
