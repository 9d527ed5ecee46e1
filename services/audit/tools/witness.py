"""A checkpoint witness (`ufctl audit witness`): a second signer, run by someone other than the
operator with its own key, so the operator alone cannot rewrite history.

It reads the audit checkpoints from their Kafka copy in order and cosigns one only after it has
checked it: signed by a trusted audit key, manifest consistent, the next seq of its partition,
linked to the previous checkpoint it cosigned, and - for whole-tree (v2) checkpoints - the signed
tree root recomputed from every manifest it has seen (a consistency check no weaker than a
proof). It keeps its own state (per partition: last seq and hash, the tree frontier) in a file,
so a rewritten history that forks from what it saw is refused and reported, never cosigned.

Cosignatures go to `uf.audit.witness`; `ufctl audit export` puts those of the bundled checkpoints
into the bundle and `uf_verify` checks them with the witness's public key."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.audit.evidence import merkle
from services.audit.evidence.checkpoint import ZERO, Checkpoint, self_check
from services.audit.evidence.hashing import leaf_hash
from services.kit.contracts import codec, topics
from services.kit.contracts.events import Origin, make_event, stable_id
from services.kit.messaging import logreader
from services.kit.messaging.bus import start_producer
from services.kit.security.signing import Signer, TrustStore

COSIGN_DOMAIN = b"uf.witness.cosign.v1\x00"


def cosign_bytes(checkpoint_hash: bytes) -> bytes:
    return COSIGN_DOMAIN + checkpoint_hash


class WitnessError(Exception):
    """The witness cannot run (Kafka unreachable)."""


@dataclass
class Seen:
    seq: int
    hash: str
    size: int
    peaks: list[list[Any]]  # [[subtree size, root hex], ...]

    def frontier(self) -> merkle.Frontier:
        f = merkle.Frontier()
        f.size, f.peaks = self.size, [(int(n), bytes.fromhex(h)) for n, h in self.peaks]
        return f


@dataclass
class WitnessState:
    offset: int = 0  # next offset of uf.audit.checkpoints (one partition) to read
    partitions: dict[str, Seen] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> WitnessState:
        if not path.exists():
            return cls()
        raw = json.loads(path.read_text())
        return cls(raw["offset"], {k: Seen(**v) for k, v in raw["partitions"].items()})

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"offset": self.offset, "partitions": {k: v.__dict__ for k, v in self.partitions.items()}}))
        os.replace(tmp, path)


def judge(cp: Checkpoint, seen: Seen | None, trust: TrustStore) -> tuple[str, merkle.Frontier | None]:
    """("" and the new frontier) when the checkpoint extends what was seen; else the problem.
    "skip" for a checkpoint already cosigned (republished copies)."""
    expected = seen.seq + 1 if seen else 0
    if seen and cp.seq <= seen.seq:
        if cp.seq == seen.seq and cp.hash.hex() != seen.hash:
            return f"fork: seq {cp.seq} differs from the one cosigned", None
        return "skip", None
    if cp.seq != expected:
        return f"gap: expected seq {expected}, got {cp.seq}", None
    problems = self_check(cp, trust)
    if problems:
        return "; ".join(problems), None
    if cp.prev_checkpoint_hash != (bytes.fromhex(seen.hash) if seen else ZERO):
        return "does not link to the checkpoint cosigned before", None
    tree = seen.frontier() if seen else merkle.Frontier()
    for e in cp.entries():
        tree.append(leaf_hash(cp.topic, cp.partition, e.offset, e.content))
    if cp.tree_size and (cp.tree_size != tree.size or cp.tree_root != tree.root()):
        return "whole-tree root does not extend what was cosigned (history rewritten)", None
    return "", tree


def cosignature_event(cp: Checkpoint, signer: Signer, origin: Origin) -> dict[str, Any]:
    stream = f"{cp.topic}:{cp.partition}"
    return make_event(
        "CheckpointCosigned", origin=origin, workflow_id=stream, session_id="", correlation_id=stream,
        event_id=stable_id("witness", signer.key_id, cp.checkpoint_id, cp.hash.hex()), checkpoint_id=cp.checkpoint_id,
        checkpoint_hash=cp.hash.hex(), tree_size=cp.tree_size, tree_root=cp.tree_root.hex(), witness_key_id=signer.key_id,
        cosignature=signer.sign(cosign_bytes(cp.hash)).hex())


async def witness_once(*, bootstrap: str, state_path: Path, signer: Signer, trust: TrustStore, origin: Origin,
                       timeout_s: float = 300.0) -> dict[str, Any]:
    """Verify and cosign every checkpoint published since the last run. Returns counts and problems."""
    state = WitnessState.load(state_path)
    consumer = logreader.new_consumer(bootstrap)
    try:
        await consumer.start()
        producer = await start_producer(bootstrap)
    except Exception as exc:
        await consumer.stop()
        raise WitnessError(f"cannot reach Kafka at {bootstrap} ({exc.__class__.__name__})") from None
    cosigned, skipped, problems = 0, 0, []
    try:
        tps = await logreader.partitions_of(consumer, [topics.AUDIT_CHECKPOINTS])
        _, ends = await logreader.bounds(consumer, tps)
        start = {tp: state.offset for tp in tps}
        async for batch in logreader.read_batches(consumer, tps, end=ends, start=start, timeout_s=timeout_s):
            for msgs in batch.values():
                for m in msgs:
                    state.offset = m.offset + 1
                    try:
                        cp = Checkpoint.from_event(codec.decode(m.value).record)
                    except (codec.CodecError, KeyError, TypeError, ValueError):
                        problems.append({"offset": m.offset, "problem": "not a readable checkpoint"})
                        continue
                    key = f"{cp.topic}:{cp.partition}"
                    verdict, tree = judge(cp, state.partitions.get(key), trust)
                    if verdict == "skip":
                        skipped += 1
                        continue
                    if verdict or tree is None:
                        problems.append({"checkpoint": cp.checkpoint_id, "problem": verdict})
                        continue
                    event = cosignature_event(cp, signer, origin)
                    value, rkey = codec.encode(event), key.encode()
                    await producer.send_and_wait(topics.AUDIT_WITNESS, value, key=rkey,
                                                 headers=signer.headers(topics.AUDIT_WITNESS, rkey, value))
                    state.partitions[key] = Seen(cp.seq, cp.hash.hex(), tree.size, [[n, h.hex()] for n, h in tree.peaks])
                    cosigned += 1
    finally:
        state.save(state_path)
        await producer.stop()
        await consumer.stop()
    return {"cosigned": cosigned, "skipped": skipped, "problems": problems, "witness_key": signer.key_id,
            "partitions": len(state.partitions)}


async def cosignatures(bootstrap: str, wanted: dict[str, str], timeout_s: float = 300.0) -> list[dict[str, Any]]:
    """Cosignatures of the checkpoints `wanted` (checkpoint id -> checkpoint hash hex), for a bundle."""
    consumer = logreader.new_consumer(bootstrap)
    await consumer.start()
    out: dict[tuple[str, str], dict[str, Any]] = {}
    try:
        tps = await logreader.partitions_of(consumer, [topics.AUDIT_WITNESS])
        _, ends = await logreader.bounds(consumer, tps)
        async for batch in logreader.read_batches(consumer, tps, end=ends, timeout_s=timeout_s):
            for msgs in batch.values():
                for m in msgs:
                    try:
                        rec = codec.decode(m.value).record
                    except codec.CodecError:
                        continue
                    if wanted.get(rec.get("checkpoint_id", "")) == rec.get("checkpoint_hash"):
                        topic, partition, seq = rec["checkpoint_id"].rsplit(":", 2)
                        out[(rec["checkpoint_id"], rec["witness_key_id"])] = {
                            "topic": topic, "partition": int(partition), "seq": int(seq),
                            "key_id": rec["witness_key_id"], "cosignature": rec["cosignature"]}
    finally:
        await consumer.stop()
    return [out[k] for k in sorted(out)]
